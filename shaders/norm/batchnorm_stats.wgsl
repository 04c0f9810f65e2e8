// batchnorm_stats: the training forward's per-channel batch mean and 1/σ (biased variance) into
// stats [c, 2], and the running statistics updated with the unbiased variance (PyTorch's rule).
// Rust: gpu::ops::batchnorm_forward_train (first pass); CPU reference: ops::batchnorm::batchnorm_forward_train.
// One workgroup of 256 per channel (common/channel_reduce.wgsl), two passes over the channel:
// the mean (the sum of the deviations from 0), then the squared deviations from the mean.

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> stats: array<f32>;
@group(0) @binding(2) var<storage, read_write> running: array<f32>;
@group(0) @binding(3) var<uniform> P: BatchNormParams;

alias Sum = vec2<f32>;

// The deviation of element `at` from k.x, and its square.
fn term(at: u32, k: vec2<f32>) -> vec2<f32> {
    let d = x[at] - k.x;
    return vec2<f32>(d, d * d);
}

fn reduce_channel(ch: u32, li: u32) {
    let m = f32(P.n * P.plane);
    let mean = channel_sum(ch, li, vec2<f32>(0.0)).x / m;
    workgroupBarrier();
    let ss = channel_sum(ch, li, vec2<f32>(mean, 0.0)).y;
    if (li == 0u) {
        let var_b = ss / m;
        stats[2u * ch] = mean;
        stats[2u * ch + 1u] = 1.0 / sqrt(var_b + P.eps);
        let unbiased = select(var_b, ss / (m - 1.0), P.n * P.plane > 1u);
        running[P.mean_off + ch] = (1.0 - P.momentum) * running[P.mean_off + ch] + P.momentum * mean;
        running[P.var_off + ch] = (1.0 - P.momentum) * running[P.var_off + ch] + P.momentum * unbiased;
    }
}
