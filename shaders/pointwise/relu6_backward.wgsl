// relu6_backward: dx += dy where 0 < y < 6.
// Rust: gpu::ops::relu6_backward; CPU reference: ops::relu::relu6_backward.
// One thread per element (common/elementwise.wgsl).

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> P: LenParams;

fn element(i: u32) {
    if (y[i] > 0.0 && y[i] < 6.0) {
        dx[i] = dx[i] + dy[i];
    }
}
