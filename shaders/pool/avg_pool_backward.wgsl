// avg_pool_backward: dx += dout spread evenly over each window's cells.
// Rust: gpu::ops::avg_pool_backward; CPU reference: ops::pool::avg_pool_backward.
// A gather over the windows covering each input cell. One thread per input element
// (common/elementwise.wgsl).

@group(0) @binding(0) var<storage, read> dout: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<uniform> P: PoolParams;

fn elements() -> u32 {
    return P.planes * P.h_in * P.w_in;
}

fn element(i: u32) {
    let c = plane_cell(i, P.h_in, P.w_in);
    let ys = pool_covering(c.y, P.pad_top, P.h_out);
    let xs = pool_covering(c.z, P.pad_left, P.w_out);
    let base = c.x * P.h_out * P.w_out;
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
