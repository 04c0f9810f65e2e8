// softmax_ce_backward: dlogits = scale · (probs − one_hot(labels)) / n. Overwrites dlogits.
// scale is 1 for the model's head and an auxiliary head's loss weight for that head.
// Rust: gpu::ops::softmax_ce_backward; CPU reference: ops::softmax_ce::softmax_ce_backward.
// One thread per element (common/elementwise.wgsl); P: softmax_ce_common.wgsl.

@group(0) @binding(0) var<storage, read> probs: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(3) var<uniform> P: SoftmaxParams;

fn elements() -> u32 {
    return P.n * P.classes;
}

fn element(i: u32) {
    let inv = 1.0 / f32(max(P.n, 1u));
    let hot = select(0.0, 1.0, labels[i / P.classes] == i % P.classes);
    dlogits[i] = (probs[i] - hot) * inv * P.scale;
}
