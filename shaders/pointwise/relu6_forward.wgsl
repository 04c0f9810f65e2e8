// relu6_forward: y = min(max(x, 0), 6). Overwrites y.
// Rust: gpu::ops::relu6_forward; CPU reference: ops::relu::relu6_forward.
// One thread per element (common/elementwise.wgsl).

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> P: LenParams;

fn element(i: u32) {
    let v = x[i];
    // NaN stays NaN (select, not clamp, whose NaN result WGSL leaves open).
    y[i] = select(select(v, 0.0, v < 0.0), 6.0, v > 6.0);
}
