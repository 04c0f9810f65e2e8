// avg_pool_forward: out = mean over each window's cells inside the input.
// Rust: gpu::ops::avg_pool_forward; CPU reference: ops::pool::avg_pool_forward.
// One thread per output element; dispatch ceil(planes·h_out·w_out / 256) workgroups (2-D above 65535).

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> P: PoolParams;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    let hw_out = P.h_out * P.w_out;
    if (i >= P.planes * hw_out) {
        return;
    }
    let q = i / hw_out;
    let ys = pool_span((i % hw_out) / P.w_out, P.pad_top, P.h_in);
    let xs = pool_span(i % P.w_out, P.pad_left, P.w_in);
    let base = q * P.h_in * P.w_in;
    var s = 0.0;
    for (var iy = ys.x; iy < ys.y; iy++) {
        for (var ix = xs.x; ix < xs.y; ix++) {
            s += x[base + iy * P.w_in + ix];
        }
    }
    let count = max((ys.y - ys.x) * (xs.y - xs.x), 1u);
    out[i] = s / f32(count);
}
