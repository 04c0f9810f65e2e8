// The uniform of the element-wise kernels that need only their length; mirrored (padded to 16
// bytes) by `LenParams` in crates/compute/src/gpu/kernels.rs. Each kernel binds it as P.

struct LenParams {
    len: u32,
}

fn elements() -> u32 {
    return P.len;
}
