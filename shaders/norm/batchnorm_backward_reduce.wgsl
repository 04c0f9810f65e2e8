// batchnorm_backward_reduce: per channel Σ dy and Σ dy·x̂ into sums [c, 2], and dβ += Σ dy,
// dγ += Σ dy·x̂ in the gradient buffer.
// Rust: gpu::ops::batchnorm_backward (first pass); CPU reference: ops::batchnorm::batchnorm_backward.
// One workgroup of 256 per channel (common/channel_reduce.wgsl), both sums in one pass.

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read_write> sums: array<f32>;
@group(0) @binding(4) var<storage, read_write> grads: array<f32>;
@group(0) @binding(5) var<uniform> P: BatchNormParams;

alias Sum = vec2<f32>;

// dy and dy·x̂ of element `at`, k = (mean, 1/σ).
fn term(at: u32, k: vec2<f32>) -> vec2<f32> {
    return vec2<f32>(dy[at], dy[at] * (x[at] - k.x) * k.y);
}

fn reduce_channel(ch: u32, li: u32) {
    let s = channel_sum(ch, li, vec2<f32>(stats[2u * ch], stats[2u * ch + 1u]));
    if (li == 0u) {
        sums[2u * ch] = s.x;
        sums[2u * ch + 1u] = s.y;
        grads[P.beta_off + ch] = grads[P.beta_off + ch] + s.x;
        grads[P.gamma_off + ch] = grads[P.gamma_off + ch] + s.y;
    }
}
