// gap_forward: out[i, c] = mean of x[i, c, :, :]. Overwrites out.
// Rust: gpu::ops::gap_forward; CPU reference: ops::gap::gap_forward.
// One workgroup of 64 per plane: strided partial sums, then a tree in workgroup memory
// (common/workgroup_sum.wgsl).
// Dispatch: planes = n·c workgroups (2-D above 65535).

const WG_THREADS: u32 = 64u;
alias Sum = f32;

@compute @workgroup_size(WG_THREADS)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let q = wg.x + wg.y * nwg.x;
    var s = 0.0;
    if (q < P.count) {
        for (var p = li; p < P.plane; p += WG_THREADS) {
            s += x[q * P.plane + p];
        }
    }
    let sum = workgroup_sum(li, s);
    if (li == 0u && q < P.count) {
        out[q] = sum * (1.0 / f32(P.plane));
    }
}
