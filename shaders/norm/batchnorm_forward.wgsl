// batchnorm_forward: y = x·scale + shift per channel, with scale = γ/σ and shift = β − scale·μ
// from the batch's statistics (training, after batchnorm_stats) or the running ones (evaluation).
// Rust: gpu::ops::batchnorm_forward_train / batchnorm_forward_eval; CPU reference:
// ops::batchnorm::batchnorm_forward_train / batchnorm_forward_eval.
// One thread per element; dispatch ceil(n·c·plane / 256) workgroups (2-D above 65535).

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read> running: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<uniform> P: BatchNormParams;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= P.n * P.c * P.plane) {
        return;
    }
    let ch = (i / P.plane) % P.c;
    let gamma = params[P.gamma_off + ch];
    let beta = params[P.beta_off + ch];
    var scale: f32;
    var shift: f32;
    if (P.train != 0u) {
        let inv_std = stats[2u * ch + 1u];
        scale = gamma * inv_std;
        shift = beta - gamma * inv_std * stats[2u * ch];
    } else {
        scale = gamma / sqrt(running[P.var_off + ch] + P.eps);
        shift = beta - scale * running[P.mean_off + ch];
    }
    y[i] = x[i] * scale + shift;
}
