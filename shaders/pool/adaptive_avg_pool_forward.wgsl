// adaptive_avg_pool_forward: out = the mean of each output cell's bin.
// Rust: gpu::ops::AdaptivePoolGeom as Planar; CPU reference:
// ops::adaptive_pool::adaptive_avg_pool_forward.
// One thread per output cell (common/plane_io.wgsl): src is x, dst is out.

const GATHER = false;

fn cell(o: vec3<u32>) -> f32 {
    let ys = adaptive_bin(o.y, P.h_in, P.h_out);
    let xs = adaptive_bin(o.z, P.w_in, P.w_out);
    let base = o.x * P.h_in * P.w_in;
    var s = 0.0;
    for (var iy = ys.x; iy < ys.y; iy++) {
        for (var ix = xs.x; ix < xs.y; ix++) {
            s += src[base + iy * P.w_in + ix];
        }
    }
    return s / f32((ys.y - ys.x) * (xs.y - xs.x));
}
