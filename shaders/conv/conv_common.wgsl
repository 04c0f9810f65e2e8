// The convolution geometry shared by conv2d_forward, conv2d_backward_input and
// conv2d_backward_weight; mirrored by `ConvParams` in crates/compute/src/gpu/kernels.rs.
struct ConvParams {
    n: u32,
    c_in: u32,
    h_in: u32,
    w_in: u32,
    c_out: u32,
    h_out: u32,
    w_out: u32,
    kh: u32,
    kw: u32,
    stride: u32,
    pad_top: u32,
    pad_left: u32,
    groups: u32,
    // Element offsets of the weight and bias inside the parameter buffer.
    w_off: u32,
    b_off: u32,
    // 1 when the bias is used (forward, backward weight).
    has_bias: u32,
    // 1 to fuse a ReLU into the forward's output.
    relu: u32,
    // conv2d_backward_weight: the reduction over (image, pixel) is split into this many chunks.
    splits: u32,
    split_len: u32,
    _pad: u32,
}

// The input pixel that kernel cell k = (ci, ky, kx) of output pixel p = (oy, ox) reads, in image
// i and group g, or -1 when it falls in the padding.
fn im2col_index(i: u32, g: u32, k: u32, p: u32) -> i32 {
    let cig = P.c_in / P.groups;
    let kk = P.kh * P.kw;
    let ci = k / kk;
    let r = k % kk;
    let ky = r / P.kw;
    let kx = r % P.kw;
    let oy = p / P.w_out;
    let ox = p % P.w_out;
    let iy = i32(oy * P.stride + ky) - i32(P.pad_top);
    let ix = i32(ox * P.stride + kx) - i32(P.pad_left);
    if (iy < 0 || ix < 0 || iy >= i32(P.h_in) || ix >= i32(P.w_in)) {
        return -1;
    }
    return i32(((i * P.c_in + g * cig + ci) * P.h_in + u32(iy)) * P.w_in + u32(ix));
}
