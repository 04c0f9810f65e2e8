// avg_pool_backward: dx += dout spread evenly over each window's cells.
// Rust: gpu::ops::avg_pool_backward; CPU reference: ops::pool::avg_pool_backward.
// A gather over the windows covering each input cell. One thread per input element; dispatch
// ceil(planes·h_in·w_in / 256) workgroups (2-D above 65535).

@group(0) @binding(0) var<storage, read> dout: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<uniform> P: PoolParams;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    let hw_in = P.h_in * P.w_in;
    if (i >= P.planes * hw_in) {
        return;
    }
    let q = i / hw_in;
    let iy = (i % hw_in) / P.w_in;
    let ix = i % P.w_in;
    let ys = pool_covering(iy, P.pad_top, P.h_out);
    let xs = pool_covering(ix, P.pad_left, P.w_out);
    let base = q * P.h_out * P.w_out;
    var s = 0.0;
    for (var oy = ys.x; oy < ys.y; oy++) {
        let yy = pool_span(oy, P.pad_top, P.h_in);
        for (var ox = xs.x; ox < xs.y; ox++) {
            let xx = pool_span(ox, P.pad_left, P.w_in);
            let count = max((yy.y - yy.x) * (xx.y - xx.x), 1u);
            s += dout[base + oy * P.w_out + ox] / f32(count);
        }
    }
    dx[i] = dx[i] + s;
}
