// conv2d_forward at stride 1 for software adapters (Gemm::Registers): out = conv(x, w) + b,
// optionally followed by ReLU. Overwrites out. The body is conv_strip_common.wgsl; the bindings
// are conv2d_forward.wgsl's.
// Rust: gpu::ops::conv2d_forward; CPU reference: ops::conv2d::reference::conv2d_forward.

const BACKWARD_INPUT: bool = false;

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> wb: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<uniform> P: ConvParams;
