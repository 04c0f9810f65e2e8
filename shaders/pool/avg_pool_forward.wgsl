// avg_pool_forward: out = mean over each window's cells inside the input.
// Rust: gpu::ops::avg_pool_forward; CPU reference: ops::pool::avg_pool_forward.
// One thread per output cell (common/plane_io.wgsl): src is x, dst is out.

const GATHER = false;

fn cell(o: vec3<u32>) -> f32 {
    let ys = pool_span(o.y, P.pad_top, P.h_in);
    let xs = pool_span(o.z, P.pad_left, P.w_in);
    let base = o.x * P.h_in * P.w_in;
    var s = 0.0;
    for (var iy = ys.x; iy < ys.y; iy++) {
        for (var ix = xs.x; ix < xs.y; ix++) {
            s += src[base + iy * P.w_in + ix];
        }
    }
    return s / f32(max((ys.y - ys.x) * (xs.y - xs.x), 1u));
}
