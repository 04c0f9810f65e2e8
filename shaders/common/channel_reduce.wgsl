// The entry of the per-channel reductions (bias_backward, batchnorm_stats,
// batchnorm_backward_reduce), with common/workgroup_sum.wgsl: one workgroup of 256 per channel
// ch of an [n, c, plane] tensor (P holds n, c and plane), each thread summing the terms of the
// elements r ≡ li (mod 256) of the channel, r over (image, pixel), and then the workgroup
// summing the threads' sums. Dispatch: (c, 1, 1). The kernel declares `alias Sum` (see
// workgroup_sum.wgsl) and provides
//   fn term(at: u32, k: vec2<f32>) -> Sum   what element `at` adds, given the channel's
//                                           constants k
//   fn reduce_channel(ch: u32, li: u32)     the work of thread li of channel ch's workgroup

const WG_THREADS: u32 = 256u;

@compute @workgroup_size(WG_THREADS)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    reduce_channel(wg.x, li);
}

// Where element r = (image, pixel) of channel ch is.
fn channel_at(r: u32, ch: u32) -> u32 {
    return ((r / P.plane) * P.c + ch) * P.plane + r % P.plane;
}

// Σ over channel ch of term(·, k); every thread gets the sum (workgroup_sum).
fn channel_sum(ch: u32, li: u32, k: vec2<f32>) -> Sum {
    let total = P.n * P.plane;
    var s = Sum();
    for (var r = li; r < total; r += WG_THREADS) {
        s += term(channel_at(r, ch), k);
    }
    return workgroup_sum(li, s);
}
