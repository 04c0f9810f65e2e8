// The entry of the kernels over stacks of planes that read one tensor and write one (avg pooling,
// pad and blur, forward and backward), appended after the kernel's file with planes.wgsl before
// and elementwise.wgsl after it. The kernel's family declares `alias Params` to a struct with
// planes, h_in, w_in, h_out and w_out; the kernel provides
//   const GATHER: bool             false: a forward, one thread per output cell, overwriting dst;
//                                  true: a backward that gathers for each input cell the output
//                                  gradients it fed (so no two threads write one cell, and no
//                                  atomics), one thread per input cell, adding to dst
//   fn cell(c: vec3<u32>) -> f32   the value of (plane, row, column) c, read from src

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> P: Params;

// The cells one thread each: dst's.
fn dst_shape() -> vec2<u32> {
    return select(vec2<u32>(P.h_out, P.w_out), vec2<u32>(P.h_in, P.w_in), GATHER);
}

fn elements() -> u32 {
    let hw = dst_shape();
    return P.planes * hw.x * hw.y;
}

fn element(i: u32) {
    let hw = dst_shape();
    let v = cell(plane_cell(i, hw.x, hw.y));
    if (GATHER) {
        dst[i] += v;
    } else {
        dst[i] = v;
    }
}
