// max_pool_backward where windows do not overlap (stride ≥ size): dx += dout routed to each
// window's maximum, one thread per window adding its gradient to its argmax cell. No two windows
// share a cell, so no two threads add to one. A quarter of the threads of the gather
// (max_pool_backward.wgsl) at 2×2 stride 2, each reading one window instead of scanning the
// windows that cover its cell. Bindings: max_pool_backward_common.wgsl.
// Rust: gpu::ops::max_pool_backward; CPU reference: ops::pool::max_pool_backward.
// One thread per output element (common/elementwise.wgsl).

fn elements() -> u32 {
    return P.planes * P.h_out * P.w_out;
}

fn element(o: u32) {
    let at = (o / (P.h_out * P.w_out)) * P.h_in * P.w_in + argmax[o];
    dx[at] = dx[at] + dout[o];
}
