// relu_mask: dy = 0 where y <= 0, in place: the backward of a ReLU fused into conv2d or dense.
// Rust: gpu::ops::relu_mask; CPU reference: relu_mask of cpu::backend::CpuBackend.
// One thread per element (common/elementwise.wgsl).

@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read_write> dy: array<f32>;
@group(0) @binding(2) var<uniform> P: LenParams;

fn element(i: u32) {
    if (!(y[i] > 0.0)) {
        dy[i] = 0.0;
    }
}
