// max_pool_backward: dx += dout routed to each window's maximum.
// Rust: gpu::ops::max_pool_backward; CPU reference: ops::pool::max_pool_backward.
// A gather, so no two threads add to one cell: each input cell sums the gradients of the windows
// covering it whose argmax is that cell, in output order.
// One thread per input element (common/elementwise.wgsl).

fn elements() -> u32 {
    return P.planes * P.h_in * P.w_in;
}

fn element(i: u32) {
    let c = plane_cell(i, P.h_in, P.w_in);
    let cell = c.y * P.w_in + c.z;
    let ys = pool_covering(c.y, P.pad_top, P.h_out);
    let xs = pool_covering(c.z, P.pad_left, P.w_out);
    let base = c.x * P.h_out * P.w_out;
    var s = 0.0;
    var any = false;
    for (var oy = ys.x; oy < ys.y; oy++) {
        for (var ox = xs.x; ox < xs.y; ox++) {
            let o = base + oy * P.w_out + ox;
            if (argmax[o] == cell) {
                s += dout[o];
                any = true;
            }
        }
    }
    if (any) {
        dx[i] = dx[i] + s;
    }
}
