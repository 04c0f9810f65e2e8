// avg_pool_backward: dx += dout spread evenly over each window's cells.
// Rust: gpu::ops::avg_pool_backward; CPU reference: ops::pool::avg_pool_backward.
// A gather over the windows covering each input cell (common/plane_io.wgsl): src is dout,
// dst is dx.

const GATHER = true;

fn cell(c: vec3<u32>) -> f32 {
    let ys = pool_covering(c.y, P.pad_top, P.h_out);
    let xs = pool_covering(c.z, P.pad_left, P.w_out);
    let base = c.x * P.h_out * P.w_out;
    var s = 0.0;
    for (var oy = ys.x; oy < ys.y; oy++) {
        let yy = pool_span(oy, P.pad_top, P.h_in);
        for (var ox = xs.x; ox < xs.y; ox++) {
            let xx = pool_span(ox, P.pad_left, P.w_in);
            let count = max((yy.y - yy.x) * (xx.y - xx.x), 1u);
            s += src[base + oy * P.w_out + ox] / f32(count);
        }
    }
    return s;
}
