// dropout_backward: dx += dy · mask.
// Rust: gpu::ops::dropout_backward; CPU reference: ops::dropout::dropout_backward.
// One thread per element (common/elementwise.wgsl).

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> mask: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> P: LenParams;

fn element(i: u32) {
    dx[i] = dx[i] + dy[i] * mask[i];
}
