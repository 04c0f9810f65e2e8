// batchnorm_backward: dx += γ/(σ·m) · (m·dy − Σ dy − x̂·Σ dy·x̂), m = n·plane.
// Rust: gpu::ops::batchnorm_backward (second pass); CPU reference: ops::batchnorm::batchnorm_backward.
// One thread per element (common/elementwise.wgsl).

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read> stats: array<f32>;
@group(0) @binding(4) var<storage, read> sums: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<uniform> P: BatchNormParams;

fn elements() -> u32 {
    return P.n * P.c * P.plane;
}

fn element(i: u32) {
    let ch = (i / P.plane) % P.c;
    let mean = stats[2u * ch];
    let inv_std = stats[2u * ch + 1u];
    let m = f32(P.n * P.plane);
    let k = params[P.gamma_off + ch] * inv_std / m;
    let xhat = (x[i] - mean) * inv_std;
    dx[i] = dx[i] + k * (m * dy[i] - sums[2u * ch] - xhat * sums[2u * ch + 1u]);
}
