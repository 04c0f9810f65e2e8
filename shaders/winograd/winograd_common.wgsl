// Winograd F(2×2, 3×3) for the 3×3 stride-1 convolutions on software adapters: the forward
// (x → out) and the backward of the input (dout → dx, the same correlation with the weights
// flipped and transposed, as in conv_strip_common.wgsl). A 2×2 block of the destination is
// Aᵀ [Σ_c (G g Gᵀ) ⊙ (Bᵀ d B)] A over the source channels c, with d the 4×4 source patch
// under it and g a 3×3 kernel: 16 multiply-adds per (source, destination) channel pair and
// block instead of 36. The passes, one file each:
//   conv2d_winograd_weights.wgsl  U[ξ, m, c] = (G g[m, c] Gᵀ)[ξ]            ξ = 4·row + column
//   conv2d_winograd_input.wgsl    V[ξ, c, t] = (Bᵀ d[c, t] B)[ξ]            t: a 2×2 block
//   conv2d_winograd_gemm.wgsl     M[ξ, m, t] = Σ_c U[ξ, m, c] · V[ξ, c, t]  16 matrix products
//   conv2d_winograd_output.wgsl   dst[m, block t] = Aᵀ M[·, m, t] A (+ bias, ReLU; or +=)
// The weight gradient runs it backwards (forward geometry, x's blocks V as above):
//   conv2d_winograd_dout.wgsl           E[ξ, m, t] = (A dY[m, t] Aᵀ)[ξ]     (in M's place)
//   conv2d_winograd_weight_gemm.wgsl    Q[ξ, m, c] (+)= Σ_t E[ξ, m, t] · V[ξ, c, t]  (in U's)
//   conv2d_winograd_weight_output.wgsl  dw[m, c] += Gᵀ Q[·, m, c] G
// The transforms into planes ξ write them through xi_write.wgsl (the two over blocks with the
// entry block_pass.wgsl), the passes out of them read them through xi_read.wgsl.
// Rust: gpu::ops::conv2d_forward_winograd, conv2d_backward_input_winograd and
// conv2d_backward_weight_winograd; CPU reference: ops::conv2d::reference::conv2d_forward,
// conv2d_backward_input and conv2d_backward_weight.
// The blocks of a chunk of images are numbered image-major, padded to `tp`, a multiple of 8
// (the padding blocks have V = 0). Mirrored by `WinogradParams` in
// crates/compute/src/gpu/kernels.rs.
struct WinogradParams {
    // Source: channels, height, width; destination: channels, height, width.
    cs: u32,
    hs: u32,
    ws: u32,
    cd: u32,
    hd: u32,
    wd: u32,
    // Rows and columns of padding before the source.
    pad_y: u32,
    pad_x: u32,
    // 2×2 blocks per destination row, and per image.
    tiles_x: u32,
    tiles: u32,
    // This chunk: its first image, how many images, its padded count of blocks.
    img0: u32,
    nimg: u32,
    tp: u32,
    // Weight (m, c, ky, kx) is at w_base + m·s_m + c·s_c + ky·s_y + kx·s_x.
    w_base: u32,
    s_m: i32,
    s_c: i32,
    s_y: i32,
    s_x: i32,
    // The forward's bias (at b_off when has_bias) and fused ReLU; `accumulate` adds onto dst.
    b_off: u32,
    has_bias: u32,
    relu: u32,
    accumulate: u32,
    _pad0: u32,
    _pad1: u32,
}

// Block t of the chunk (t < nimg · tiles): its image, and the row and column of its top-left
// destination pixel.
fn block_origin(t: u32) -> vec3<u32> {
    let r = t % P.tiles;
    return vec3<u32>(P.img0 + t / P.tiles, 2u * (r / P.tiles_x), 2u * (r % P.tiles_x));
}
