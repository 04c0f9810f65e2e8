// batchnorm_backward_reduce: per channel Σ dy and Σ dy·x̂ into sums [c, 2], and dβ += Σ dy,
// dγ += Σ dy·x̂ in the gradient buffer.
// Rust: gpu::ops::batchnorm_backward (first pass); CPU reference: ops::batchnorm::batchnorm_backward.
// One workgroup of 256 per channel (common/channel_reduce.wgsl). Dispatch: (c, 1, 1).

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read_write> sums: array<f32>;
@group(0) @binding(4) var<storage, read_write> grads: array<f32>;
@group(0) @binding(5) var<uniform> P: BatchNormParams;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let ch = wg.x;
    let mean = stats[2u * ch];
    let inv_std = stats[2u * ch + 1u];
    let total = P.n * P.plane;
    var s = 0.0;
    var sx = 0.0;
    for (var r = li; r < total; r += 256u) {
        let at = channel_at(r, ch, P.c, P.plane);
        s += dy[at];
        sx += dy[at] * (x[at] - mean) * inv_std;
    }
    let sum_dy = workgroup_sum(li, s);
    let sum_dy_xhat = workgroup_sum(li, sx);
    if (li == 0u) {
        sums[2u * ch] = sum_dy;
        sums[2u * ch + 1u] = sum_dy_xhat;
        grads[P.beta_off + ch] = grads[P.beta_off + ch] + sum_dy;
        grads[P.gamma_off + ch] = grads[P.gamma_off + ch] + sum_dy_xhat;
    }
}
