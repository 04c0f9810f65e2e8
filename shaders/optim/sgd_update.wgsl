// sgd_update: one SGD step (momentum, L2 weight decay, Nesterov) over the flat parameter buffer,
// with PyTorch's semantics.
// Rust: gpu::ops::optimizer_update; CPU reference: cpu::elementwise::scalar::sgd_update.
// One thread per parameter (common/elementwise.wgsl); grads and params: optim_common.wgsl.

struct SgdParams {
    len: u32,
    lr: f32,
    momentum: f32,
    weight_decay: f32,
    nesterov: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(2) var<storage, read_write> velocity: array<f32>;
@group(0) @binding(3) var<uniform> P: SgdParams;

fn element(i: u32) {
    let p = params[i];
    let g = decayed_grad(i, p);
    var step = g;
    if (P.momentum != 0.0) {
        let v = P.momentum * velocity[i] + g;
        velocity[i] = v;
        step = select(v, g + P.momentum * v, P.nesterov != 0u);
    }
    params[i] = p - P.lr * step;
}
