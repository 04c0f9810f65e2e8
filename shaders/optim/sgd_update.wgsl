// sgd_update: one SGD step (momentum, L2 weight decay, Nesterov) over the flat parameter buffer,
// with PyTorch's semantics. Rust: gpu::ops::sgd_update; CPU reference: cpu::elementwise::scalar::sgd_update.
// One thread per parameter; dispatch ceil(len / 256) workgroups (2-D above 65535).

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

@group(0) @binding(0) var<storage, read> grads: array<f32>;
@group(0) @binding(1) var<storage, read_write> params: array<f32>;
@group(0) @binding(2) var<storage, read_write> velocity: array<f32>;
@group(0) @binding(3) var<uniform> P: SgdParams;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= P.len) {
        return;
    }
    let p = params[i];
    var g = grads[i];
    if (P.weight_decay != 0.0) {
        g += P.weight_decay * p;
    }
    var step = g;
    if (P.momentum != 0.0) {
        let v = P.momentum * velocity[i] + g;
        velocity[i] = v;
        step = select(v, g + P.momentum * v, P.nesterov != 0u);
    }
    params[i] = p - P.lr * step;
}
