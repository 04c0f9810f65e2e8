// max_pool_backward where windows do not overlap (stride ≥ size): dx += dout routed to each
// window's maximum, one thread per window adding its gradient to its argmax cell. No two windows
// share a cell, so no two threads add to one. A quarter of the threads of the gather
// (max_pool_backward.wgsl) at 2×2 stride 2: on SwiftShader the gather took 0.24 s of a 4.0 s
// cnn-gap training step at the first pooling. Bindings: max_pool_backward_common.wgsl.
// Rust: gpu::ops::max_pool_backward; CPU reference: ops::pool::max_pool_backward.
// Dispatch: ceil(planes·h_out·w_out / 256) workgroups (2-D above 65535).

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = gid.x + gid.y * nwg.x * 256u;
    let hw_out = P.h_out * P.w_out;
    if (o >= P.planes * hw_out) {
        return;
    }
    let at = (o / hw_out) * P.h_in * P.w_in + argmax[o];
    dx[at] = dx[at] + dout[o];
}
