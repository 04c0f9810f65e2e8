// batchnorm_forward: y = x·scale + shift per channel, with scale = γ/σ and shift = β − scale·μ
// from the batch's statistics (training, after batchnorm_stats) or the running ones (evaluation).
// Rust: gpu::ops::batchnorm_forward_train / batchnorm_forward_eval; CPU reference:
// ops::batchnorm::batchnorm_forward_train / batchnorm_forward_eval.
// One thread per element (common/elementwise.wgsl).

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read> running: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<uniform> P: BatchNormParams;

fn elements() -> u32 {
    return P.n * P.c * P.plane;
}

fn element(i: u32) {
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
