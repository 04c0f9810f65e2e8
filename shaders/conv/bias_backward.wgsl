// bias_backward: db[c] += Σ_{i, p} dy[i, c, p], the bias gradient of conv2d (plane = h·w) and
// dense (plane = 1).
// Rust: gpu::ops::bias_backward; CPU reference: the db part of conv2d_backward_weight and
// dense_backward_weight.
// One workgroup of 256 per channel (common/channel_reduce.wgsl).

struct BiasParams {
    n: u32,
    c: u32,
    plane: u32,
    b_off: u32,
}

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read_write> grads: array<f32>;
@group(0) @binding(2) var<uniform> P: BiasParams;

alias Sum = f32;

fn term(at: u32, k: vec2<f32>) -> f32 {
    return dy[at];
}

fn reduce_channel(ch: u32, li: u32) {
    let sum = channel_sum(ch, li, vec2<f32>(0.0));
    if (li == 0u) {
        grads[P.b_off + ch] = grads[P.b_off + ch] + sum;
    }
}
