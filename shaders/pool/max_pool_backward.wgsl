// max_pool_backward: dx += dout routed to each window's maximum.
// Rust: gpu::ops::max_pool_backward; CPU reference: ops::pool::max_pool_backward.
// A gather, so no two threads add to one cell: each input cell sums the gradients of the windows
// covering it whose argmax is that cell, in output order.
// One thread per input element; dispatch ceil(planes·h_in·w_in / 256) workgroups (2-D above 65535).

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    let hw_in = P.h_in * P.w_in;
    if (i >= P.planes * hw_in) {
        return;
    }
    let q = i / hw_in;
    let cell = i % hw_in;
    let iy = cell / P.w_in;
    let ix = cell % P.w_in;
    let ys = pool_covering(iy, P.pad_top, P.h_out);
    let xs = pool_covering(ix, P.pad_left, P.w_out);
    let base = q * P.h_out * P.w_out;
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
