// The dense-layer sizes shared by dense_forward and both backwards; mirrored by `DenseParams`
// in crates/compute/src/gpu/kernels.rs.
struct DenseParams {
    n: u32,
    inputs: u32,
    outputs: u32,
    // Element offsets of the weight [outputs, inputs] and bias [outputs] in their buffer.
    w_off: u32,
    b_off: u32,
    has_bias: u32,
    relu: u32,
    _pad: u32,
}
