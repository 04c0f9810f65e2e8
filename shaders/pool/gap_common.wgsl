// The uniform of the global-average-pooling kernels; mirrored by `GapParams` in
// crates/compute/src/gpu/kernels.rs. Planes of `plane` elements; `count` is how many planes (the
// forwards) or how many elements of dx (the backward).

struct GapParams {
    count: u32,
    plane: u32,
}
