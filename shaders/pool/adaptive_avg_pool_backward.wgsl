// adaptive_avg_pool_backward: dx += each output cell's gradient spread evenly over its bin.
// Rust: gpu::ops::AdaptivePoolGeom as Planar; CPU reference:
// ops::adaptive_pool::adaptive_avg_pool_backward.
// A gather over the bins holding each input cell (common/plane_io.wgsl): src is dout, dst is dx.

const GATHER = true;

fn cell(c: vec3<u32>) -> f32 {
    let ys = adaptive_covering(c.y, P.h_in, P.h_out);
    let xs = adaptive_covering(c.z, P.w_in, P.w_out);
    let base = c.x * P.h_out * P.w_out;
    var s = 0.0;
    for (var oy = ys.x; oy < ys.y; oy++) {
        let yy = adaptive_bin(oy, P.h_in, P.h_out);
        for (var ox = xs.x; ox < xs.y; ox++) {
            let xx = adaptive_bin(ox, P.w_in, P.w_out);
            s += src[base + oy * P.w_out + ox] / f32((yy.y - yy.x) * (xx.y - xx.x));
        }
    }
    return s;
}
