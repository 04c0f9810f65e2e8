// The tree sum over a workgroup's threads in workgroup memory, shared by the reductions that run
// a workgroup per result (common/channel_reduce.wgsl, pool/gap_forward.wgsl). The kernel
// declares
//   const WG_THREADS: u32   its workgroup size, a power of two
//   alias Sum               what each thread sums: f32, or a vector of f32 for several sums at once

var<workgroup> partial: array<Sum, WG_THREADS>;

// Σ over the workgroup of each thread's v, in a fixed tree order; every thread gets the sum.
// partial is in use until a workgroupBarrier() after the call: a second call needs one first.
fn workgroup_sum(li: u32, v: Sum) -> Sum {
    partial[li] = v;
    workgroupBarrier();
    for (var half = WG_THREADS / 2u; half > 0u; half >>= 1u) {
        if (li < half) {
            partial[li] += partial[li + half];
        }
        workgroupBarrier();
    }
    return partial[0];
}
