// What the per-channel reductions share (bias_backward, batchnorm_stats,
// batchnorm_backward_reduce): one workgroup of 256 per channel ch of an [n, c, plane] tensor,
// each thread summing the elements r ≡ li (mod 256) of the channel, r over (image, pixel), and
// then the workgroup summing the threads' sums.

var<workgroup> partial: array<f32, 256>;

// Where element r = (image, pixel) of channel ch is.
fn channel_at(r: u32, ch: u32, c: u32, plane: u32) -> u32 {
    return ((r / plane) * c + ch) * plane + r % plane;
}

// Σ over the workgroup of each thread's v, in a fixed tree order; every thread gets the sum.
fn workgroup_sum(li: u32, v: f32) -> f32 {
    partial[li] = v;
    workgroupBarrier();
    for (var half = 128u; half > 0u; half >>= 1u) {
        if (li < half) {
            partial[li] += partial[li + half];
        }
        workgroupBarrier();
    }
    let s = partial[0];
    workgroupBarrier();
    return s;
}
