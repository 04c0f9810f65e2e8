// gap_forward: out[i, c] = mean of x[i, c, :, :]. Overwrites out.
// Rust: gpu::ops::gap_forward; CPU reference: ops::gap::gap_forward.
// One workgroup of 64 per plane: strided partial sums, then a tree in workgroup memory.
// Dispatch: planes = n·c workgroups (2-D above 65535).

var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let q = wg.x + wg.y * nwg.x;
    var s = 0.0;
    if (q < P.count) {
        for (var p = li; p < P.plane; p += 64u) {
            s += x[q * P.plane + p];
        }
    }
    partial[li] = s;
    workgroupBarrier();
    for (var half = 32u; half > 0u; half >>= 1u) {
        if (li < half) {
            partial[li] += partial[li + half];
        }
        workgroupBarrier();
    }
    if (li == 0u && q < P.count) {
        out[q] = partial[0] * (1.0 / f32(P.plane));
    }
}
