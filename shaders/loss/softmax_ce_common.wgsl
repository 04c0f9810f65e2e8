// The uniform of softmax_ce_forward and softmax_ce_backward; mirrored by `SoftmaxParams` in
// crates/compute/src/gpu/kernels.rs.

struct SoftmaxParams {
    // Rows (the batch) and classes of the logits.
    n: u32,
    classes: u32,
    // The forward's row of metrics.
    slot: u32,
    // The backward's loss weight.
    scale: f32,
}
