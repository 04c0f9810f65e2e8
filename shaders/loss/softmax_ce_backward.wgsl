// softmax_ce_backward: dlogits = scale · (probs − one_hot(labels)) / n. Overwrites dlogits.
// scale is 1 for the model's head and an auxiliary head's loss weight for that head.
// Rust: gpu::ops::softmax_ce_backward; CPU reference: ops::softmax_ce::softmax_ce_backward.
// One thread per element; dispatch ceil(n·classes / 256) workgroups.

struct SoftmaxParams {
    n: u32,
    classes: u32,
    slot: u32,
    scale: f32,
}

@group(0) @binding(0) var<storage, read> probs: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(3) var<uniform> P: SoftmaxParams;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= P.n * P.classes) {
        return;
    }
    let inv = 1.0 / f32(max(P.n, 1u));
    let hot = select(0.0, 1.0, labels[i / P.classes] == i % P.classes);
    dlogits[i] = (probs[i] - hot) * inv * P.scale;
}
