// Shared by blur_forward and blur_backward (BlurPool, Zhang 2019): a fixed normalised binomial
// filter of `size` taps per axis, evaluated every `stride` cells, `valid` (the reflect border is
// a separate pad node). Mirrors `BlurParams` in crates/compute/src/gpu/kernels.rs; f holds the
// 1-D taps.

struct BlurParams {
    planes: u32,
    h_in: u32,
    w_in: u32,
    h_out: u32,
    w_out: u32,
    size: u32,
    stride: u32,
    _pad: u32,
    f: array<vec4<f32>, 2>,
}

// The uniform of common/plane_io.wgsl.
alias Params = BlurParams;

fn blur_tap(k: u32) -> f32 {
    return P.f[k / 4u][k % 4u];
}
