// The batch-norm geometry shared by its four passes; mirrored by `BatchNormParams` in
// crates/compute/src/gpu/kernels.rs. Per-channel vectors are element offsets into the parameter
// buffer (gamma, beta), the statistics buffer (running mean and variance) and the gradient buffer.
struct BatchNormParams {
    n: u32,
    c: u32,
    plane: u32,
    gamma_off: u32,
    beta_off: u32,
    mean_off: u32,
    var_off: u32,
    // 1: normalise with the batch's statistics (training); 0: with the running ones.
    train: u32,
    eps: f32,
    momentum: f32,
    _pad0: u32,
    _pad1: u32,
}
