// relu_forward: y = max(x, 0). Overwrites y.
// Rust: gpu::ops::relu_forward; CPU reference: ops::relu::relu_forward.
// One thread per element (common/elementwise.wgsl).

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> P: LenParams;

fn element(i: u32) {
    y[i] = select(0.0, x[i], x[i] > 0.0);
}
