// gap_forward for software adapters (Gemm::Registers): out[q] = mean of plane q of x, one thread
// per plane summing it in order, with no workgroup memory and no barrier: a software adapter
// runs barriers slowly (see gemm/matmul_registers.wgsl), and gap_forward.wgsl's tree waits at
// seven. Bindings: gap_forward_common.wgsl. Only for planes of at most 16,384: lavapipe silently
// ends an invocation's loops after 65,535 iterations in all.
// Rust: gpu::ops::gap_forward; CPU reference: ops::gap::gap_forward.
// One thread per plane (common/elementwise_64.wgsl).

fn elements() -> u32 {
    return P.count;
}

fn element(q: u32) {
    let base = q * P.plane;
    var s = 0.0;
    for (var p = 0u; p < P.plane; p++) {
        s += x[base + p];
    }
    out[q] = s * (1.0 / f32(P.plane));
}
