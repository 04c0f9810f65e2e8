// add_forward: y = a + b. Overwrites y.
// Rust: gpu::ops::add_forward; CPU reference: ops::add::add_forward.
// One thread per element (common/elementwise.wgsl).

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> P: LenParams;

fn element(i: u32) {
    y[i] = a[i] + b[i];
}
