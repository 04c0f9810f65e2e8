// batchnorm_stats: the training forward's per-channel batch mean and 1/σ (biased variance) into
// stats [c, 2], and the running statistics updated with the unbiased variance (PyTorch's rule).
// Rust: gpu::ops::batchnorm_forward_train (first pass); CPU reference: ops::batchnorm::batchnorm_forward_train.
// One workgroup of 256 per channel (common/channel_reduce.wgsl), two passes: the mean, then the
// squared deviations.
// Dispatch: (c, 1, 1).

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> stats: array<f32>;
@group(0) @binding(2) var<storage, read_write> running: array<f32>;
@group(0) @binding(3) var<uniform> P: BatchNormParams;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let ch = wg.x;
    let total = P.n * P.plane;
    var s = 0.0;
    for (var r = li; r < total; r += 256u) {
        s += x[channel_at(r, ch, P.c, P.plane)];
    }
    let m = f32(total);
    let mean = workgroup_sum(li, s) / m;
    var q = 0.0;
    for (var r = li; r < total; r += 256u) {
        let d = x[channel_at(r, ch, P.c, P.plane)] - mean;
        q += d * d;
    }
    let ss = workgroup_sum(li, q);
    if (li == 0u) {
        let var_b = ss / m;
        stats[2u * ch] = mean;
        stats[2u * ch + 1u] = 1.0 / sqrt(var_b + P.eps);
        let unbiased = select(var_b, ss / (m - 1.0), total > 1u);
        running[P.mean_off + ch] = (1.0 - P.momentum) * running[P.mean_off + ch] + P.momentum * mean;
        running[P.var_off + ch] = (1.0 - P.momentum) * running[P.var_off + ch] + P.momentum * unbiased;
    }
}
