// adam_update: one Adam step (L2 weight decay, no amsgrad) over the flat parameter buffer, with
// PyTorch's semantics; the bias corrections bc1 = 1 − β1^t, bc2 = 1 − β2^t come from the host
// (cpu::elementwise::adam_bias_corrections) each step.
// Rust: gpu::ops::optimizer_update; CPU reference: cpu::elementwise::scalar::adam_update.
// One thread per parameter (common/elementwise.wgsl); grads and params: optim_common.wgsl.

struct AdamParams {
    len: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    bc1: f32,
    bc2: f32,
    weight_decay: f32,
}

@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<uniform> P: AdamParams;

fn element(i: u32) {
    let p = params[i];
    let g = decayed_grad(i, p);
    let mi = P.beta1 * m[i] + (1.0 - P.beta1) * g;
    let vi = P.beta2 * v[i] + (1.0 - P.beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    let m_hat = mi / P.bc1;
    let v_hat = vi / P.bc2;
    params[i] = p - P.lr * m_hat / (sqrt(v_hat) + P.eps);
}
