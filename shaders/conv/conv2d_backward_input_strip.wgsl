// conv2d_backward_input at stride 1 for software adapters (Gemm::Registers): dx += convᵀ(dout, w),
// computed as the correlation of dout with the flipped, transposed kernel. The body is
// conv_strip_common.wgsl; the bindings are conv2d_backward_input.wgsl's.
// Rust: gpu::ops::conv2d_backward_input; CPU reference:
// ops::conv2d::reference::conv2d_backward_input.

const BACKWARD_INPUT: bool = true;

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> wb: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<uniform> P: ConvParams;
