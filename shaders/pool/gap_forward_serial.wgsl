// gap_forward for software adapters (Gemm::Registers): out[q] = mean of plane q of x, one thread
// per plane summing it in order, with no workgroup memory and no barrier. A software adapter runs
// barriers slowly: gap_forward.wgsl's tree (one workgroup per plane) took 0.18 s of a 4.0 s
// cnn-gap training step on SwiftShader. Bindings: gap_forward_common.wgsl. Only for planes of
// at most 16,384: lavapipe silently ends an invocation's loops after 65,535 iterations in all
// (measured: a 100,000-long sum of ones came back as 65,529).
// Rust: gpu::ops::gap_forward; CPU reference: ops::gap::gap_forward.
// Dispatch: ceil(planes / 64) workgroups of 64 (2-D above 65535).

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let q = gid.x + gid.y * nwg.x * 64u;
    if (q >= P.planes) {
        return;
    }
    let base = q * P.plane;
    var s = 0.0;
    for (var p = 0u; p < P.plane; p++) {
        s += x[base + p];
    }
    out[q] = s * (1.0 / f32(P.plane));
}
