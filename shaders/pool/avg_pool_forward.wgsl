// avg_pool_forward: out = mean over each window's cells inside the input.
// Rust: gpu::ops::avg_pool_forward; CPU reference: ops::pool::avg_pool_forward.
// One thread per output element (common/elementwise.wgsl).

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> P: PoolParams;

fn elements() -> u32 {
    return P.planes * P.h_out * P.w_out;
}

fn element(i: u32) {
    let o = plane_cell(i, P.h_out, P.w_out);
    let ys = pool_span(o.y, P.pad_top, P.h_in);
    let xs = pool_span(o.z, P.pad_left, P.w_in);
    let base = o.x * P.h_in * P.w_in;
    var s = 0.0;
    for (var iy = ys.x; iy < ys.y; iy++) {
        for (var ix = xs.x; ix < xs.y; ix++) {
            s += x[base + iy * P.w_in + ix];
        }
    }
    let count = max((ys.y - ys.x) * (xs.y - xs.x), 1u);
    out[i] = s / f32(count);
}
