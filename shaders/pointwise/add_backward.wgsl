// add_backward: dx += dy, once for each addend (also the backward of flatten's copy).
// Rust: gpu::ops::add_backward; CPU reference: ops::add::add_backward.
// One thread per element (common/elementwise.wgsl).

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<uniform> P: LenParams;

fn element(i: u32) {
    dx[i] = dx[i] + dy[i];
}
