//! 2-D convolution (cross-correlation, as every framework computes it) with stride, padding and
//! groups (`groups == c_in == c_out` is depthwise).
//!
//! Shapes: x `[n, c_in, h_in, w_in]`, w `[c_out, c_in / groups, kh, kw]` (PyTorch's layout),
//! b `[c_out]`, out `[n, c_out, h_out, w_out]`.
//!
//! The fast path lowers each image and group to one matrix multiply: `im2col` gathers the input
//! patches into `col [c_in_g·kh·kw, h_out·w_out]`, then `out_g = w_g · col`. Backward input is
//! `col2im(w_gᵀ · dout_g)`; backward weight is `dw_g += dout_g · colᵀ`. A large layer's `col` is
//! built and used a block of output rows at a time, to stay in cache. Images run in parallel;
//! weight gradients are summed per fixed chunk of images, then chunks in order, so the result does
//! not depend on the thread count. A 3×3 stride-1 convolution with one group, 16 channels or
//! more in and out and the same padding above and left (`same` or `valid`) runs all three passes
//! through Winograd F(2×2, 3×3) instead ([`crate::cpu::winograd`]).

use std::cell::RefCell;
use std::ops::Range;

use super::pool::{self, PoolGeom, PoolRoute};
use super::{GradWrite, Padding, relu, window_axis};
use crate::cpu::gemm::{Mat, sgemm};
use crate::cpu::profile::{self, Family};
use crate::cpu::winograd::{self, Pass};
use crate::cpu::{conv_thin, elementwise};
use crate::error::{Error, Result};
use crate::par;

/// Everything about one convolution but the batch size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dGeom {
    pub c_in: usize,
    pub h_in: usize,
    pub w_in: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub h_out: usize,
    pub w_out: usize,
    pub groups: usize,
}

/// Images whose weight gradients are summed together before chunks are combined in order.
const WEIGHT_GRAD_CHUNK: usize = 4;

impl Conv2dGeom {
    /// Validates a square-kernel convolution and infers its output size.
    pub fn new(
        input: [usize; 3],
        c_out: usize,
        kernel: usize,
        stride: usize,
        padding: Padding,
        groups: usize,
    ) -> Result<Self, String> {
        let [c_in, h_in, w_in] = input;
        if groups == 0 || !c_in.is_multiple_of(groups) || !c_out.is_multiple_of(groups) {
            return Err(format!(
                "groups = {groups} must divide both input channels ({c_in}) and filters ({c_out})"
            ));
        }
        if c_out == 0 {
            return Err("filters must be at least 1".into());
        }
        if c_in == 0 {
            return Err("the input must have at least 1 channel".into());
        }
        if stride == 0 {
            return Err("stride must be at least 1".into());
        }
        let (h_out, pad_top) = window_axis(h_in, kernel, stride, padding).ok_or_else(|| {
            format!("kernel {kernel}×{kernel} does not fit the {h_in}×{w_in} input")
        })?;
        let (w_out, pad_left) = window_axis(w_in, kernel, stride, padding).ok_or_else(|| {
            format!("kernel {kernel}×{kernel} does not fit the {h_in}×{w_in} input")
        })?;
        Ok(Self {
            c_in,
            h_in,
            w_in,
            c_out,
            kh: kernel,
            kw: kernel,
            stride,
            pad_top,
            pad_left,
            h_out,
            w_out,
            groups,
        })
    }
    pub fn in_len(&self) -> usize {
        self.c_in * self.h_in * self.w_in
    }
    pub fn out_len(&self) -> usize {
        self.c_out * self.h_out * self.w_out
    }
    pub fn c_in_g(&self) -> usize {
        self.c_in / self.groups
    }
    pub fn c_out_g(&self) -> usize {
        self.c_out / self.groups
    }
    pub fn weight_len(&self) -> usize {
        self.c_out * self.c_in_g() * self.kh * self.kw
    }
    /// Multiply-adds of the forward pass for one image.
    pub fn macs(&self) -> u64 {
        (self.out_len() * self.c_in_g() * self.kh * self.kw) as u64
    }
    fn col_rows(&self) -> usize {
        self.c_in_g() * self.kh * self.kw
    }
    fn col_cols(&self) -> usize {
        self.h_out * self.w_out
    }
    /// 1×1, stride 1, no padding: the image itself is the column matrix.
    fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == 1 && self.pad_top == 0 && self.pad_left == 0
    }
    fn check(&self, op: &'static str, what: &str, len: usize, expected: usize) -> Result<()> {
        if len != expected {
            return Err(Error::ShapeMismatch {
                op,
                expected: format!("{what} of {expected} floats"),
                got: len.to_string(),
            });
        }
        Ok(())
    }
}

/// Floats of one block of the column matrix (or of one output row's columns, if more). A large
/// layer's column matrix is built and multiplied a block of output rows at a time, so that im2col's writes are still in cache when
/// the product reads them: ResNet-18's first 3×3 layers (64 channels at 56×56) have 7 MB of
/// columns per image, more than this machine's 2 MiB L2. The lecture models' layers fit in one
/// block.
const COL_BLOCK: usize = 1 << 18;

/// The output rows of each block of the column matrix ([`COL_BLOCK`]).
fn col_blocks(g: &Conv2dGeom) -> impl Iterator<Item = Range<usize>> {
    let per_row = (g.col_rows() * g.w_out).max(1);
    let rows = (COL_BLOCK / per_row).clamp(1, g.h_out.max(1));
    (0..g.h_out)
        .step_by(rows)
        .map(move |y| y..(y + rows).min(g.h_out))
}

/// Runs `f(oys, js, col)` for each block of output rows `oys` ([`col_blocks`]): `js` are the
/// block's columns of the column matrix, `col` this thread's column buffer sized for them.
fn each_col_block(g: &Conv2dGeom, mut f: impl FnMut(Range<usize>, Range<usize>, &mut [f32])) {
    for oys in col_blocks(g) {
        let js = oys.start * g.w_out..oys.end * g.w_out;
        with_col(g.col_rows() * js.len(), |col| f(oys, js, col));
    }
}

/// A layer with fewer output positions per image than this multiplies the column matrices of
/// several images side by side, [`BATCH_COLS`] columns or more in one product. Image by image,
/// a 7×7 layer's product has 49 columns and the matrix multiply packs the whole weight matrix
/// (2.4 M floats at 512 channels) for each 49 of them: one thread, `gemm` crate, the input
/// gradient's product of ResNet-18's layer4 ran at 59 GFLOP/s with 49 columns and 120 with 392,
/// the forward's at 122 and 157; layer3's (14×14) at 122 / 143 and 145 / 152 (those 3×3 layers
/// now run Winograd's products, which batch images by their own rule; the 1×1 and stride-2
/// ones still come here).
const BATCH_BELOW: usize = 256;
/// Columns a product over several images aims at ([`BATCH_BELOW`]).
const BATCH_COLS: usize = 384;
/// Most floats of a column matrix over several images (8 MiB).
const BATCH_COL_MAX: usize = 1 << 21;

/// Images whose column matrices one product multiplies side by side ([`BATCH_BELOW`]): 1 where
/// images go one by one (enough positions of their own, groups, a 1×1 or thin convolution).
fn images_per_product(g: &Conv2dGeom) -> usize {
    let (rows, cols) = (g.col_rows(), g.col_cols());
    if g.groups != 1 || g.is_pointwise() || conv_thin::applies(g) || cols >= BATCH_BELOW {
        return 1;
    }
    BATCH_COLS
        .div_ceil(cols.max(1))
        .min(BATCH_COL_MAX / (rows * cols).max(1))
        .max(1)
}

/// `col [rows, k·cols]`: the column matrices of the `k` images `xs` side by side.
fn im2col_images(col: &mut [f32], xs: &[f32], g: &Conv2dGeom, k: usize) {
    let (cols, ld) = (g.col_cols(), k * g.col_cols());
    for (i, xi) in xs.chunks_exact(g.in_len()).take(k).enumerate() {
        im2col(&mut col[i * cols..], xi, g, 0, 0..g.h_out, ld);
    }
}

/// `wide [c, k·cols]` from `k` images' planes `[k, c, cols]`: their columns side by side.
fn to_side_by_side(wide: &mut [f32], planes: &[f32], c: usize, cols: usize, k: usize) {
    let _l = profile::leaf(Family::Im2col);
    for (i, img) in planes.chunks_exact(c * cols).take(k).enumerate() {
        for (ch, plane) in img.chunks_exact(cols).enumerate() {
            wide[ch * k * cols + i * cols..][..cols].copy_from_slice(plane);
        }
    }
}

/// The adjoint copy of [`to_side_by_side`]: `k` images' planes from `wide`.
fn from_side_by_side(planes: &mut [f32], wide: &[f32], c: usize, cols: usize, k: usize) {
    let _l = profile::leaf(Family::Im2col);
    for (i, img) in planes.chunks_exact_mut(c * cols).take(k).enumerate() {
        for (ch, plane) in img.chunks_exact_mut(cols).enumerate() {
            plane.copy_from_slice(&wide[ch * k * cols + i * cols..][..cols]);
        }
    }
}

thread_local! {
    static COL: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// Several images' outputs or output gradients side by side ([`images_per_product`]).
    static WIDE: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// The weight gradient's per-chunk partial sums ([`conv2d_backward_weight`]).
    static PARTS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// The pooled windows a thin convolution's ReLU passed ([`conv2d_backward_weight_routed`]).
    static PASSED: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's reusable column buffer of `len` floats.
fn with_col<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    par::with_scratch(&COL, len, f)
}

/// Gathers the patches of channels `[c0, c0 + c_in_g)` of one image, for output rows `oys`, into
/// `col`. x: `[c_in, h_in, w_in]`, col: `[c_in_g·kh·kw, oys.len()·w_out]` with row stride `ld`
/// (`oys.len()·w_out`, or more where several images' columns sit side by side).
fn im2col(col: &mut [f32], x: &[f32], g: &Conv2dGeom, c0: usize, oys: Range<usize>, ld: usize) {
    let _l = profile::leaf(Family::Im2col);
    let (hw_in, hw_out) = (g.h_in * g.w_in, oys.len() * g.w_out);
    for ci in 0..g.c_in_g() {
        let plane = &x[(c0 + ci) * hw_in..(c0 + ci + 1) * hw_in];
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let row = &mut col[((ci * g.kh + ky) * g.kw + kx) * ld..][..hw_out];
                // The valid output columns for this kx: ix = ox·s + kx − pad_left in [0, w_in).
                let ox_lo = g
                    .pad_left
                    .saturating_sub(kx)
                    .div_ceil(g.stride)
                    .min(g.w_out);
                let ox_hi = ((g.w_in + g.pad_left).saturating_sub(kx))
                    .div_ceil(g.stride)
                    .clamp(ox_lo, g.w_out);
                for (at, oy) in oys.clone().enumerate() {
                    let dst = &mut row[at * g.w_out..(at + 1) * g.w_out];
                    let iy = (oy * g.stride + ky) as isize - g.pad_top as isize;
                    if iy < 0 || iy >= g.h_in as isize {
                        zero_short(dst);
                        continue;
                    }
                    let src = &plane[iy as usize * g.w_in..(iy as usize + 1) * g.w_in];
                    if ox_lo > 0 {
                        zero_short(&mut dst[..ox_lo]);
                    }
                    if ox_hi < g.w_out {
                        zero_short(&mut dst[ox_hi..]);
                    }
                    if ox_lo == ox_hi {
                        continue;
                    }
                    let ix0 = ox_lo * g.stride + kx - g.pad_left;
                    if g.stride == 1 {
                        copy_short(&mut dst[ox_lo..ox_hi], &src[ix0..ix0 + (ox_hi - ox_lo)]);
                    } else {
                        let taps = src[ix0..].iter().step_by(g.stride);
                        dst[ox_lo..ox_hi]
                            .iter_mut()
                            .zip(taps)
                            .for_each(|(d, v)| *d = *v);
                    }
                }
            }
        }
    }
}

/// `dst = src` for the short rows of im2col (a few dozen floats) by fixed-size moves the
/// compiler inlines: up to three blocks of 32, then one of 16, 8, 4, 2 and 1 as the rest needs.
/// A `copy_from_slice` of a slice, or any loop of moves (the compiler turns it into one), calls
/// `memcpy` per row: that call was 6% of a cnn-gap training step, and a loop over blocks of 16
/// still made it 3% of ResNet-18's (rows of 56). Rows of 128 floats or more, where the call is
/// worth it, go through `copy_from_slice`.
#[inline(always)]
fn copy_short(dst: &mut [f32], src: &[f32]) {
    let n = dst.len().min(src.len());
    let (mut dst, mut src) = (&mut dst[..n], &src[..n]);
    if n >= 128 {
        dst.copy_from_slice(src);
        return;
    }
    // Written out, not a loop: a loop of moves is what the compiler turns into `memcpy`.
    if dst.len() >= 32 {
        (dst, src) = copy_block::<32>(dst, src);
    }
    if dst.len() >= 32 {
        (dst, src) = copy_block::<32>(dst, src);
    }
    if dst.len() >= 32 {
        (dst, src) = copy_block::<32>(dst, src);
    }
    if dst.len() >= 16 {
        (dst, src) = copy_block::<16>(dst, src);
    }
    if dst.len() >= 8 {
        (dst, src) = copy_block::<8>(dst, src);
    }
    if dst.len() >= 4 {
        (dst, src) = copy_block::<4>(dst, src);
    }
    if dst.len() >= 2 {
        (dst, src) = copy_block::<2>(dst, src);
    }
    if let (Some(d), Some(s)) = (dst.first_mut(), src.first()) {
        *d = *s;
    }
}

/// Copies the first `N` floats of `src` over `dst` (both at least `N` long) and returns the
/// rests.
#[inline(always)]
fn copy_block<'a, 'b, const N: usize>(
    dst: &'a mut [f32],
    src: &'b [f32],
) -> (&'a mut [f32], &'b [f32]) {
    let (d, dst) = dst.split_at_mut(N);
    let (s, src) = src.split_at(N);
    if let (Ok(d), Ok(s)) = (<&mut [f32; N]>::try_from(d), <&[f32; N]>::try_from(s)) {
        *d = *s;
    }
    (dst, src)
}

/// `dst = 0` for im2col's short runs of padding (a row's first or last few columns, a padded
/// row) without a `memset` call per run, as [`copy_short`] copies.
#[inline(always)]
fn zero_short(dst: &mut [f32]) {
    const ZEROS: [f32; 127] = [0.0; 127];
    let n = dst.len();
    if n >= 128 {
        dst.fill(0.0);
    } else {
        copy_short(dst, &ZEROS[..n]);
    }
}

/// Scatters `col` (output rows `oys`, row stride `ld`) back onto channels `[c0, c0 + c_in_g)`
/// of one image, accumulating: the adjoint of [`im2col`].
fn col2im(dx: &mut [f32], col: &[f32], g: &Conv2dGeom, c0: usize, oys: Range<usize>, ld: usize) {
    let _l = profile::leaf(Family::Im2col);
    let (hw_in, hw_out) = (g.h_in * g.w_in, oys.len() * g.w_out);
    for ci in 0..g.c_in_g() {
        let plane = &mut dx[(c0 + ci) * hw_in..(c0 + ci + 1) * hw_in];
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let row = &col[((ci * g.kh + ky) * g.kw + kx) * ld..][..hw_out];
                let ox_lo = g
                    .pad_left
                    .saturating_sub(kx)
                    .div_ceil(g.stride)
                    .min(g.w_out);
                let ox_hi = ((g.w_in + g.pad_left).saturating_sub(kx))
                    .div_ceil(g.stride)
                    .clamp(ox_lo, g.w_out);
                for (at, oy) in oys.clone().enumerate() {
                    let iy = (oy * g.stride + ky) as isize - g.pad_top as isize;
                    if iy < 0 || iy >= g.h_in as isize || ox_lo == ox_hi {
                        continue;
                    }
                    let src = &row[at * g.w_out..(at + 1) * g.w_out];
                    let dst = &mut plane[iy as usize * g.w_in..(iy as usize + 1) * g.w_in];
                    let ix0 = ox_lo * g.stride + kx - g.pad_left;
                    if g.stride == 1 {
                        let d = &mut dst[ix0..ix0 + (ox_hi - ox_lo)];
                        d.iter_mut()
                            .zip(&src[ox_lo..ox_hi])
                            .for_each(|(a, b)| *a += b);
                    } else {
                        let taps = dst[ix0..].iter_mut().step_by(g.stride);
                        taps.zip(&src[ox_lo..ox_hi]).for_each(|(d, v)| *d += v);
                    }
                }
            }
        }
    }
}

/// out = conv(x, w) + b. Overwrites `out`.
pub fn conv2d_forward(
    out: &mut [f32],
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    g: &Conv2dGeom,
    n: usize,
) -> Result<()> {
    conv2d_forward_act(out, x, w, b, g, n, false)
}

/// out = conv(x, w) + b, then ReLU if `relu`: bias and ReLU applied to each image's output as
/// soon as it is computed, while it is in cache. Overwrites `out`.
pub fn conv2d_forward_act(
    out: &mut [f32],
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    g: &Conv2dGeom,
    n: usize,
    relu: bool,
) -> Result<()> {
    check_forward(out.len(), x.len(), w.len(), b, g, n)?;
    let nb = images_per_task(g);
    with_forward_weights(w, g, |w| {
        par::for_each_chunk_mut(out, nb * g.out_len(), |c, o| {
            forward_images(o, &x[c * nb * g.in_len()..], w, b, g, relu);
        })
    });
    Ok(())
}

/// A convolution's weights as its forward pass reads them.
#[derive(Clone, Copy)]
enum Weights<'a> {
    /// `[c_out, c_in_g, kh, kw]`, as given: im2col, the thin kernels.
    Plain(&'a [f32]),
    /// Transformed for Winograd F(2×2, 3×3) ([`winograd::with_weights`]).
    Winograd(&'a [f32]),
}

/// Runs `f` with `w` as the forward pass of `g` reads it: transformed once per call where
/// Winograd applies ([`winograd::applies`]), else as given.
fn with_forward_weights<R>(w: &[f32], g: &Conv2dGeom, f: impl FnOnce(Weights) -> R) -> R {
    if winograd::applies(g) {
        winograd::with_weights(w, g, Pass::Forward, |u| f(Weights::Winograd(u)))
    } else {
        f(Weights::Plain(w))
    }
}

/// Images of one task of the forward pass and of the input gradient, and the unit a weight
/// gradient's chunk is a multiple of: one forward Winograd product's
/// ([`winograd::images_per_product`]; an input gradient's own products may take fewer, where
/// its planes are larger) or one im2col product's ([`images_per_product`]).
fn images_per_task(g: &Conv2dGeom) -> usize {
    if winograd::applies(g) {
        winograd::images_per_product(g)
    } else {
        images_per_product(g)
    }
}

/// [`conv2d_forward_act`] of the images of `o` (as many as it holds, from `xs`): Winograd's
/// products with transformed weights, else one product over their column matrices side by side
/// where [`images_per_product`] says so, else image by image.
fn forward_images(
    o: &mut [f32],
    xs: &[f32],
    w: Weights,
    b: Option<&[f32]>,
    g: &Conv2dGeom,
    relu: bool,
) {
    let w = match w {
        Weights::Winograd(u) => {
            winograd::conv(o, xs, u, g, Pass::Forward, GradWrite::Overwrite);
            for oi in o.chunks_exact_mut(g.out_len()) {
                finish_image(oi, b, g, relu);
            }
            return;
        }
        Weights::Plain(w) => w,
    };
    let k = o.len() / g.out_len();
    if images_per_product(g) == 1 {
        for (oi, xi) in o
            .chunks_exact_mut(g.out_len())
            .zip(xs.chunks_exact(g.in_len()))
        {
            forward_image(oi, xi, w, b, g, relu);
        }
        return;
    }
    let (rows, cols) = (g.col_rows(), g.col_cols());
    let ld = k * cols;
    with_col(rows * ld, |col| {
        im2col_images(col, xs, g, k);
        par::with_scratch(&WIDE, g.c_out * ld, |wide| {
            sgemm(
                Mat::rm(w, g.c_out, rows),
                Mat::rm(col, rows, ld),
                wide,
                ld,
                false,
            );
            from_side_by_side(o, wide, g.c_out, cols, k);
        });
    });
    for oi in o.chunks_exact_mut(g.out_len()) {
        finish_image(oi, b, g, relu);
    }
}

/// [`conv2d_forward_act`]'s checks.
fn check_forward(
    out: usize,
    x: usize,
    w: usize,
    b: Option<&[f32]>,
    g: &Conv2dGeom,
    n: usize,
) -> Result<()> {
    const OP: &str = "conv2d_forward";
    g.check(OP, "out", out, n * g.out_len())?;
    g.check(OP, "x", x, n * g.in_len())?;
    g.check(OP, "w", w, g.weight_len())?;
    if let Some(b) = b {
        g.check(OP, "b", b.len(), g.c_out)?;
    }
    Ok(())
}

/// [`conv2d_forward_act`] of one image `xi` into `o`.
fn forward_image(
    o: &mut [f32],
    xi: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    g: &Conv2dGeom,
    relu: bool,
) {
    let (rows, cols, cog) = (g.col_rows(), g.col_cols(), g.c_out_g());
    if conv_thin::applies(g) {
        with_padded(xi, g, |xp| conv_thin::forward(o, xp, w, b, g, relu));
        return;
    }
    for grp in 0..g.groups {
        let wg = Mat::rm(&w[grp * cog * rows..(grp + 1) * cog * rows], cog, rows);
        let og = &mut o[grp * cog * cols..(grp + 1) * cog * cols];
        if g.is_pointwise() {
            let xg = &xi[grp * rows * cols..(grp + 1) * rows * cols];
            sgemm(wg, Mat::rm(xg, rows, cols), og, cols, false);
        } else {
            each_col_block(g, |oys, js, col| {
                im2col(col, xi, g, grp * g.c_in_g(), oys, js.len());
                let c = Mat::rm(col, rows, js.len());
                sgemm(wg, c, &mut og[js.start..], cols, false);
            });
        }
    }
    finish_image(o, b, g, relu);
}

/// One image's output: the bias added, then the ReLU if `relu`.
fn finish_image(o: &mut [f32], b: Option<&[f32]>, g: &Conv2dGeom, relu: bool) {
    let _l = profile::leaf(Family::Elementwise);
    if let Some(b) = b {
        elementwise::bias_add_channels(o, b, g.col_cols());
    }
    if relu {
        elementwise::relu_forward_inplace(o);
    }
}

/// `Ok` when `pg` pools this convolution's output, else the error that names both shapes.
fn check_pool_of(op: &'static str, g: &Conv2dGeom, pg: &PoolGeom) -> Result<()> {
    if [pg.c, pg.h_in, pg.w_in] != [g.c_out, g.h_out, g.w_out] {
        return Err(Error::ShapeMismatch {
            op,
            expected: format!("a pool of {}×{}×{}", g.c_out, g.h_out, g.w_out),
            got: format!("a pool of {}×{}×{}", pg.c, pg.h_in, pg.w_in),
        });
    }
    Ok(())
}

/// [`conv2d_forward_act`] followed by [`pool::max_pool_forward`] of its output, a product's
/// images at a time (one image, or several where [`images_per_task`] puts them side by
/// side): their planes are pooled as soon as they are computed, while they are in cache,
/// instead of in a pass of their own over the whole batch's output read back from memory. `out`
/// still gets the convolution's output (the ReLU's backward reads it); `pooled` and `argmax` get
/// what the pool gives. Same bits as the two calls.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_forward_max_pool(
    out: &mut [f32],
    pooled: &mut [f32],
    argmax: &mut [u32],
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    g: &Conv2dGeom,
    n: usize,
    relu: bool,
    pg: &PoolGeom,
) -> Result<()> {
    check_forward(out.len(), x.len(), w.len(), b, g, n)?;
    check_pool_of("conv2d_forward_max_pool", g, pg)?;
    pg.check_max("max_pool_forward", out.len(), pooled.len(), argmax.len(), n)?;
    let (hw_in, hw_out) = (pg.h_in * pg.w_in, pg.h_out * pg.w_out);
    let nb = images_per_task(g);
    with_forward_weights(w, g, |w| {
        par::for_each_chunk3_mut(
            out,
            nb * g.out_len(),
            pooled,
            nb * pg.out_len(),
            argmax,
            nb * pg.out_len(),
            |c, o, po, am| {
                forward_images(o, &x[c * nb * g.in_len()..], w, b, g, relu);
                let _l = profile::leaf(Family::Pooling);
                let planes = o
                    .chunks_exact(hw_in)
                    .zip(po.chunks_exact_mut(hw_out).zip(am.chunks_exact_mut(hw_out)));
                for (plane, (po, am)) in planes {
                    pool::max_pool_plane(po, am, plane, pg);
                }
            },
        )
    });
    Ok(())
}

/// One image's weight gradient by matrix multiplies: `pw (+)= dout · colᵀ` per group.
fn weight_grad_gemm(pw: &mut [f32], di: &[f32], xi: &[f32], g: &Conv2dGeom, accumulate: bool) {
    let (rows, cols, cog) = (g.col_rows(), g.col_cols(), g.c_out_g());
    for grp in 0..g.groups {
        let dg = Mat::rm(&di[grp * cog * cols..(grp + 1) * cog * cols], cog, cols);
        let pwg = &mut pw[grp * cog * rows..(grp + 1) * cog * rows];
        if g.is_pointwise() {
            let xg = &xi[grp * rows * cols..(grp + 1) * rows * cols];
            sgemm(dg, Mat::rm(xg, rows, cols).t(), pwg, rows, accumulate);
        } else {
            each_col_block(g, |oys, js, col| {
                let acc = accumulate || js.start > 0;
                im2col(col, xi, g, grp * g.c_in_g(), oys, js.len());
                let c = Mat::rm(col, rows, js.len());
                sgemm(dg.columns(js), c.t(), pwg, rows, acc);
            });
        }
    }
}

/// Runs a thin kernel `f` on image `xi` copied into this thread's zero-bordered plane (the thin
/// kernels' im2col).
fn with_padded(xi: &[f32], g: &Conv2dGeom, f: impl FnOnce(&[f32])) {
    with_col(conv_thin::padded_len(g), |xp| {
        {
            let _l = profile::leaf(Family::Im2col);
            conv_thin::pad_image(xp, xi, g);
        }
        let _l = profile::leaf(Family::Gemm);
        f(xp)
    })
}

/// dx += conv_transpose(dout, w).
pub fn conv2d_backward_input(
    dx: &mut [f32],
    dout: &[f32],
    w: &[f32],
    g: &Conv2dGeom,
    n: usize,
    write: GradWrite,
) -> Result<()> {
    const OP: &str = "conv2d_backward_input";
    g.check(OP, "dx", dx.len(), n * g.in_len())?;
    g.check(OP, "dout", dout.len(), n * g.out_len())?;
    g.check(OP, "w", w.len(), g.weight_len())?;
    if winograd::applies(g) {
        let nb = images_per_task(g);
        winograd::with_weights(w, g, Pass::InputGrad, |u| {
            par::for_each_chunk_mut(dx, nb * g.in_len(), |c, dxs| {
                let ds = &dout[c * nb * g.out_len()..];
                winograd::conv(dxs, ds, u, g, Pass::InputGrad, write);
            })
        });
        return Ok(());
    }
    let nb = images_per_product(g);
    par::for_each_chunk_mut(dx, nb * g.in_len(), |c, dxs| {
        input_grad_images(dxs, &dout[c * nb * g.out_len()..], w, g, write);
    });
    Ok(())
}

/// One image's input gradient `dxi` from its output gradient `di`.
fn input_grad_image(dxi: &mut [f32], di: &[f32], w: &[f32], g: &Conv2dGeom, write: GradWrite) {
    let (rows, cols, cog) = (g.col_rows(), g.col_cols(), g.c_out_g());
    if !g.is_pointwise() {
        write.prepare(dxi);
    }
    for grp in 0..g.groups {
        let wg = Mat::rm(&w[grp * cog * rows..(grp + 1) * cog * rows], cog, rows);
        let dg = Mat::rm(&di[grp * cog * cols..(grp + 1) * cog * cols], cog, cols);
        if g.is_pointwise() {
            let dxg = &mut dxi[grp * rows * cols..(grp + 1) * rows * cols];
            sgemm(wg.t(), dg, dxg, cols, write == GradWrite::Add);
        } else {
            each_col_block(g, |oys, js, col| {
                sgemm(wg.t(), dg.columns(js.clone()), col, js.len(), false);
                col2im(dxi, col, g, grp * g.c_in_g(), oys, js.len());
            });
        }
    }
}

/// The input gradients of the images of `dxs` (as many as it holds, from `ds`): one product
/// over their output gradients side by side where [`images_per_product`] says so, else image by
/// image.
fn input_grad_images(dxs: &mut [f32], ds: &[f32], w: &[f32], g: &Conv2dGeom, write: GradWrite) {
    if images_per_product(g) == 1 {
        for (dxi, di) in dxs
            .chunks_exact_mut(g.in_len())
            .zip(ds.chunks_exact(g.out_len()))
        {
            input_grad_image(dxi, di, w, g, write);
        }
        return;
    }
    let (rows, cols) = (g.col_rows(), g.col_cols());
    let k = dxs.len() / g.in_len();
    let ld = k * cols;
    par::with_scratch(&WIDE, g.c_out * ld, |wide| {
        to_side_by_side(wide, ds, g.c_out, cols, k);
        with_col(rows * ld, |col| {
            let wm = Mat::rm(w, g.c_out, rows);
            sgemm(wm.t(), Mat::rm(wide, g.c_out, ld), col, ld, false);
            for (i, dxi) in dxs.chunks_exact_mut(g.in_len()).enumerate() {
                write.prepare(dxi);
                col2im(dxi, &col[i * cols..], g, 0, 0..g.h_out, ld);
            }
        });
    });
}

/// `pw (+)= dout · colᵀ` over the images of `ds` (a weight gradient's chunk: as many as it
/// holds; their inputs from `xs`): Winograd's products where [`winograd::applies`], else
/// [`images_per_product`] images at a time through [`weight_grad_run`], in order.
fn weight_grad_images(pw: &mut [f32], ds: &[f32], xs: &[f32], g: &Conv2dGeom, acc: bool) {
    if winograd::applies(g) {
        winograd::weight_grad(pw, ds, xs, g, acc);
        return;
    }
    let nb = images_per_product(g);
    for (s, run) in ds.chunks(nb * g.out_len()).enumerate() {
        weight_grad_run(pw, run, &xs[s * nb * g.in_len()..], g, acc || s > 0);
    }
}

/// [`weight_grad_images`] of one run of images: one product over them side by side where
/// [`images_per_product`] says so, else image by image (the thin kernel or the matrix multiply).
fn weight_grad_run(pw: &mut [f32], ds: &[f32], xs: &[f32], g: &Conv2dGeom, acc: bool) {
    let k = ds.len() / g.out_len();
    if images_per_product(g) == 1 {
        for (j, (di, xi)) in ds
            .chunks_exact(g.out_len())
            .zip(xs.chunks_exact(g.in_len()))
            .enumerate()
        {
            let accumulate = acc || j > 0;
            if conv_thin::takes_weight_grad(g) {
                with_padded(xi, g, |xp| {
                    conv_thin::backward_weight(pw, di, xp, g, accumulate)
                });
            } else {
                weight_grad_gemm(pw, di, xi, g, accumulate);
            }
        }
        return;
    }
    let (rows, cols) = (g.col_rows(), g.col_cols());
    let ld = k * cols;
    with_col(rows * ld, |col| {
        im2col_images(col, xs, g, k);
        par::with_scratch(&WIDE, g.c_out * ld, |wide| {
            to_side_by_side(wide, ds, g.c_out, cols, k);
            let c = Mat::rm(col, rows, ld);
            sgemm(Mat::rm(wide, g.c_out, ld), c.t(), pw, rows, acc);
        });
    });
}

/// Images per partial sum of a weight gradient: [`WEIGHT_GRAD_CHUNK`], rounded up to a
/// multiple of the images of one product ([`images_per_task`]).
pub(crate) fn weight_grad_chunk(g: &Conv2dGeom) -> usize {
    let nb = images_per_task(g);
    nb * WEIGHT_GRAD_CHUNK.div_ceil(nb)
}

/// dw += Σ_images dout · colᵀ, db += Σ dout over images and positions.
pub fn conv2d_backward_weight(
    dw: &mut [f32],
    db: Option<&mut [f32]>,
    dout: &[f32],
    x: &[f32],
    g: &Conv2dGeom,
    n: usize,
) -> Result<()> {
    backward_weight(dw, db, Dout::Plain(dout), x, g, n)
}

/// [`conv2d_backward_weight`] of a convolution with a fused ReLU whose output is `y`: `dout`
/// is first set to 0 where `y ≤ 0` (the ReLU's backward, left in `dout` for the input's
/// gradient), a chunk of images at a time just before their product reads them, instead of in a
/// pass over the whole batch of its own.
pub fn conv2d_backward_weight_relu(
    dw: &mut [f32],
    db: Option<&mut [f32]>,
    dout: &mut [f32],
    y: &[f32],
    x: &[f32],
    g: &Conv2dGeom,
    n: usize,
) -> Result<()> {
    g.check("conv2d_backward_weight", "y", y.len(), n * g.out_len())?;
    backward_weight(dw, db, Dout::Prepared(dout, Prepare::Mask(y)), x, g, n)
}

/// [`conv2d_backward_weight_relu`] of a convolution whose ReLU'd output is max-pooled: `dout`
/// is first written, a chunk of images at a time just before the product reads them, as the pool's
/// backward routes `route.dy` through the ReLU ([`PoolRoute::write_relu_input_grad`]), instead
/// of in two passes of their own over the whole batch (the pool's backward, the mask). `dout`
/// is left holding that gradient, for the input's gradient; what it held before is not read.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward_weight_pooled_relu(
    dw: &mut [f32],
    db: Option<&mut [f32]>,
    dout: &mut [f32],
    route: PoolRoute,
    x: &[f32],
    g: &Conv2dGeom,
    n: usize,
) -> Result<()> {
    const OP: &str = "conv2d_backward_weight";
    let pg = route.g;
    check_pool_of(OP, g, pg)?;
    route.check(OP, n)?;
    backward_weight(dw, db, Dout::Prepared(dout, Prepare::Pool(route)), x, g, n)
}

/// [`conv2d_backward_weight_pooled_relu`] of a thin convolution ([`conv_thin::applies`]:
/// a first layer) for a caller that will not read the output gradient (the layer's input is the
/// image: no input gradient follows): the weight and bias gradients are summed straight from
/// the pool's backward through the ReLU ([`conv_thin::backward_weight_routed`]), over the
/// windows the ReLU passed, and the output gradient is never written. cnn-gap's conv1 would
/// write and read back 32 × 62 × 62 floats an image, of which at most one in four is not zero.
/// Any other convolution is an error.
pub fn conv2d_backward_weight_routed(
    dw: &mut [f32],
    db: Option<&mut [f32]>,
    route: PoolRoute,
    x: &[f32],
    g: &Conv2dGeom,
    n: usize,
) -> Result<()> {
    const OP: &str = "conv2d_backward_weight";
    if !conv_thin::applies(g) {
        return Err(Error::ShapeMismatch {
            op: OP,
            expected: "a thin convolution (at most 4 input channels, stride 1, one group)".into(),
            got: format!("{g:?}"),
        });
    }
    check_pool_of(OP, g, route.g)?;
    route.check(OP, n)?;
    backward_weight(dw, db, Dout::Routed(route), x, g, n)
}

/// The output gradient a weight gradient reads: as it is, or prepared in place a chunk of
/// images at a time just before the product reads it.
enum Dout<'a> {
    Plain(&'a [f32]),
    Prepared(&'a mut [f32], Prepare<'a>),
    /// Never written: a thin convolution's weight gradient summed from the pool's backward
    /// through the ReLU ([`conv_thin::backward_weight_routed`]).
    Routed(PoolRoute<'a>),
}

/// How a [`Dout::Prepared`] output gradient is prepared.
enum Prepare<'a> {
    /// Masked by a ReLU's output `y`: 0 where `y ≤ 0`.
    Mask(&'a [f32]),
    /// Written from a max pool's backward through the ReLU.
    Pool(PoolRoute<'a>),
}

fn backward_weight(
    dw: &mut [f32],
    db: Option<&mut [f32]>,
    mut dout: Dout,
    x: &[f32],
    g: &Conv2dGeom,
    n: usize,
) -> Result<()> {
    const OP: &str = "conv2d_backward_weight";
    let dout_len = match &dout {
        Dout::Plain(d) => d.len(),
        Dout::Prepared(d, _) => d.len(),
        Dout::Routed(_) => n * g.out_len(),
    };
    g.check(OP, "dw", dw.len(), g.weight_len())?;
    g.check(OP, "dout", dout_len, n * g.out_len())?;
    g.check(OP, "x", x.len(), n * g.in_len())?;
    if let Some(db) = &db {
        g.check(OP, "db", db.len(), g.c_out)?;
    }
    let cols = g.col_cols();
    let part_len = g.weight_len() + g.c_out;
    let per_chunk = weight_grad_chunk(g);
    let chunks = n.div_ceil(per_chunk);
    let chunk_out = per_chunk * g.out_len();
    // Chunk c's partial sums from its images' output gradients `dc`.
    let chunk = |c: usize, part: &mut [f32], dc: &[f32]| {
        let (pw, pb) = part.split_at_mut(g.weight_len());
        pb.fill(0.0);
        weight_grad_images(pw, dc, &x[c * per_chunk * g.in_len()..], g, false);
        let _l = profile::leaf(Family::Elementwise);
        for di in dc.chunks_exact(g.out_len()) {
            for (bc, plane) in pb.iter_mut().zip(di.chunks_exact(cols)) {
                *bc += elementwise::sum(plane);
            }
        }
    };
    // Each chunk's partial sums live in this thread's reused buffer: a fresh one per call was
    // tens of megabytes for a wide layer (ResNet-18's layer4 at batch 32: 75 MB), mapped,
    // zeroed by the kernel page by page and unmapped again every step. The first image of a
    // chunk overwrites its partial sums, so the buffer needs no clearing.
    let mut fill = |parts: &mut [f32]| match &mut dout {
        Dout::Plain(d) => par::for_each_chunk_mut(parts, part_len, |c, part| {
            let end = (chunk_out * (c + 1)).min(d.len());
            chunk(c, part, &d[chunk_out * c..end]);
        }),
        Dout::Prepared(d, prepare) => {
            let prepare = &*prepare;
            par::for_each_chunk_pair_mut(parts, part_len, d, chunk_out, |c, part, dc| {
                match prepare {
                    Prepare::Mask(y) => {
                        let _l = profile::leaf(Family::Elementwise);
                        relu::mask_in_place(dc, &y[chunk_out * c..chunk_out * c + dc.len()]);
                    }
                    Prepare::Pool(route) => {
                        let _l = profile::leaf(Family::Pooling);
                        route.write_relu_input_grad(dc, c * per_chunk * g.c_out);
                    }
                }
                chunk(c, part, dc);
            })
        }
        Dout::Routed(route) => par::for_each_chunk_mut(parts, part_len, |c, part| {
            let (pw, pb) = part.split_at_mut(g.weight_len());
            let (pool, windows) = (route.g.out_len(), route.g.h_out * route.g.w_out);
            let images = c * per_chunk..((c + 1) * per_chunk).min(n);
            for (j, i) in images.enumerate() {
                let r = i * pool..(i + 1) * pool;
                let xi = &x[i * g.in_len()..(i + 1) * g.in_len()];
                with_padded(xi, g, |xp| {
                    par::with_scratch(&PASSED, windows + g.h_out * g.w_out, |passed| {
                        let (dy, pooled, argmax) = (
                            &route.dy[r.clone()],
                            &route.pooled[r.clone()],
                            &route.argmax[r],
                        );
                        conv_thin::backward_weight_routed(
                            pw,
                            Some(&mut *pb),
                            dy,
                            pooled,
                            argmax,
                            xp,
                            g,
                            j > 0,
                            passed,
                        )
                    })
                });
            }
        }),
    };
    let mut db = db;
    // The chunks' partial sums added in chunk order, a span of the weights per task on every
    // core (ResNet-18's layer4 adds 4 × 2.4 M of them per layer at batch 32).
    let mut reduce = |parts: &[f32]| {
        let _l = profile::leaf(Family::Elementwise);
        par::for_each_span_mut(dw, |start, piece| {
            for part in parts.chunks_exact(part_len) {
                elementwise::add_assign(piece, &part[start..start + piece.len()]);
            }
        });
        if let Some(db) = db.as_deref_mut() {
            for part in parts.chunks_exact(part_len) {
                elementwise::add_assign(db, &part[g.weight_len()..]);
            }
        }
    };
    par::with_scratch(&PARTS, chunks * part_len, |parts| {
        fill(parts);
        reduce(parts);
    });
    Ok(())
}

/// The plain direct convolution every fast path is tested against.
pub mod reference {
    use super::Conv2dGeom;

    /// Input index of output position `o` and kernel offset `k` along one axis, if inside.
    fn src(o: usize, k: usize, stride: usize, pad: usize, len: usize) -> Option<usize> {
        let i = (o * stride + k) as isize - pad as isize;
        (0..len as isize).contains(&i).then_some(i as usize)
    }

    /// Calls `f(out_index, x_index, w_index)` for every multiply-add of the convolution.
    pub(crate) fn each_mac(g: &Conv2dGeom, n: usize, mut f: impl FnMut(usize, usize, usize)) {
        let (cig, cog) = (g.c_in_g(), g.c_out_g());
        for b in 0..n {
            for co in 0..g.c_out {
                let grp = co / cog;
                for oy in 0..g.h_out {
                    for ox in 0..g.w_out {
                        let o = ((b * g.c_out + co) * g.h_out + oy) * g.w_out + ox;
                        for ci in 0..cig {
                            let c = grp * cig + ci;
                            for ky in 0..g.kh {
                                let Some(iy) = src(oy, ky, g.stride, g.pad_top, g.h_in) else {
                                    continue;
                                };
                                for kx in 0..g.kw {
                                    let Some(ix) = src(ox, kx, g.stride, g.pad_left, g.w_in) else {
                                        continue;
                                    };
                                    let xi = ((b * g.c_in + c) * g.h_in + iy) * g.w_in + ix;
                                    let wi = ((co * cig + ci) * g.kh + ky) * g.kw + kx;
                                    f(o, xi, wi);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    pub fn conv2d_forward(
        out: &mut [f32],
        x: &[f32],
        w: &[f32],
        b: Option<&[f32]>,
        g: &Conv2dGeom,
        n: usize,
    ) {
        let hw = g.h_out * g.w_out;
        for (o, v) in out.iter_mut().enumerate() {
            *v = b.map_or(0.0, |b| b[(o / hw) % g.c_out]);
        }
        each_mac(g, n, |o, xi, wi| out[o] += x[xi] * w[wi]);
    }

    pub fn conv2d_backward_input(
        dx: &mut [f32],
        dout: &[f32],
        w: &[f32],
        g: &Conv2dGeom,
        n: usize,
    ) {
        each_mac(g, n, |o, xi, wi| dx[xi] += dout[o] * w[wi]);
    }

    pub fn conv2d_backward_weight(
        dw: &mut [f32],
        db: Option<&mut [f32]>,
        dout: &[f32],
        x: &[f32],
        g: &Conv2dGeom,
        n: usize,
    ) {
        each_mac(g, n, |o, xi, wi| dw[wi] += dout[o] * x[xi]);
        if let Some(db) = db {
            let hw = g.h_out * g.w_out;
            for (o, d) in dout.iter().enumerate() {
                db[(o / hw) % g.c_out] += d;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{check_gradient, random, weighted_sum};
    use crate::rng::Rng;

    /// (input c,h,w; c_out; kernel; stride; padding; groups; batch)
    type Case = ([usize; 3], usize, usize, usize, Padding, usize, usize);

    fn cases() -> Vec<Case> {
        vec![
            ([1, 5, 5], 2, 3, 1, Padding::Valid, 1, 1),
            ([3, 7, 7], 7, 3, 1, Padding::Same, 1, 2),
            ([3, 7, 6], 4, 3, 2, Padding::Same, 1, 2),
            ([4, 9, 9], 6, 3, 2, Padding::Valid, 2, 3),
            ([4, 6, 6], 4, 3, 1, Padding::Same, 4, 2),
            ([5, 4, 4], 3, 1, 1, Padding::Valid, 1, 5),
            ([2, 8, 8], 4, 5, 1, Padding::Same, 2, 1),
            ([6, 5, 7], 6, 1, 2, Padding::Valid, 3, 2),
            ([1, 1, 1], 1, 1, 1, Padding::Valid, 1, 1),
            ([2, 1, 1], 2, 5, 1, Padding::Same, 1, 1),
            ([1, 2, 3], 2, 5, 2, Padding::Same, 1, 2),
            // PyTorch's padding: 11×11 / 4 with 2 (AlexNet), 7×7 / 2 with 3 (ResNet), and a
            // depthwise 3×3 / 2 with 1 (MobileNet v2).
            ([2, 15, 13], 3, 11, 4, Padding::Explicit(2), 1, 1),
            ([3, 9, 8], 4, 7, 2, Padding::Explicit(3), 1, 2),
            ([4, 7, 6], 4, 3, 2, Padding::Explicit(1), 4, 2),
        ]
    }

    fn geom(c: &Case) -> Conv2dGeom {
        Conv2dGeom::new(c.0, c.1, c.2, c.3, c.4, c.5).unwrap()
    }

    /// A case's geometry and batch, with random images, weights and biases.
    fn inputs(c: &Case, rng: &mut Rng) -> (Conv2dGeom, usize, Vec<f32>, Vec<f32>, Vec<f32>) {
        let (g, n) = (geom(c), c.6);
        let x = random(n * g.in_len(), rng);
        let w = random(g.weight_len(), rng);
        let b = random(g.c_out, rng);
        (g, n, x, w, b)
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn conv2d_fast_path_matches_reference_on_awkward_shapes() {
        let mut rng = Rng::new(5);
        let mut all = cases();
        all.push(([32, 31, 31], 64, 3, 1, Padding::Valid, 1, 3));
        all.push(([8, 13, 11], 8, 3, 2, Padding::Same, 8, 2));
        // Column matrices of several blocks (COL_BLOCK): 3 and 2 of them, the last one short.
        all.push(([8, 100, 90], 5, 3, 1, Padding::Same, 1, 2));
        all.push(([16, 130, 70], 8, 5, 2, Padding::Explicit(2), 2, 1));
        assert_eq!(col_blocks(&geom(&all[all.len() - 2])).count(), 3);
        assert_eq!(col_blocks(&geom(&all[all.len() - 1])).count(), 2);
        // Several images per product (images_per_product), the last product short: 16 + 3
        // images (and one weight-gradient chunk of 16), one product of 7 images at stride 2,
        // 8 + 3 images (weight-gradient chunks of 8), 2 + 2 | 2 + 2 | 1 (two products per
        // weight-gradient chunk of 4).
        let several: [Case; 4] = [
            ([6, 5, 5], 7, 3, 1, Padding::Same, 1, 19),
            ([10, 9, 9], 5, 3, 2, Padding::Same, 1, 7),
            ([8, 7, 7], 9, 3, 1, Padding::Explicit(1), 1, 11),
            ([5, 14, 14], 6, 3, 1, Padding::Same, 1, 9),
        ];
        let per_product: Vec<_> = several
            .iter()
            .map(|c| images_per_product(&geom(c)))
            .collect();
        assert_eq!(per_product, [16, 16, 8, 2]);
        assert_eq!(weight_grad_chunk(&geom(&several[0])), 16);
        assert_eq!(weight_grad_chunk(&geom(&several[3])), 4);
        assert_eq!(
            images_per_product(&geom(&all[all.len() - 4])),
            1,
            "enough positions"
        );
        assert_eq!(images_per_product(&geom(&cases()[3])), 1, "groups");
        all.extend(several);
        // Winograd F(2×2, 3×3): odd sides (the last tiles' outputs cut), a 1×1 plane (one tile,
        // all padding), 6 + 3 images per product, one image per product; `valid` (no padding:
        // the input gradient's tiles, padded by 2, are not the forward's) with odd and even sides, a 1×1 output and blocks of 15 + 4 tile rows;
        // padding 2 (the input gradient unpadded). Beside the rule, im2col: stride 2, groups,
        // too few channels.
        let winograd: [Case; 8] = [
            ([16, 7, 5], 16, 3, 1, Padding::Same, 1, 3),
            ([17, 1, 1], 20, 3, 1, Padding::Explicit(1), 1, 2),
            ([24, 14, 14], 16, 3, 1, Padding::Same, 1, 9),
            ([16, 34, 33], 20, 3, 1, Padding::Same, 1, 2),
            ([16, 9, 8], 18, 3, 1, Padding::Valid, 1, 25),
            ([20, 3, 3], 16, 3, 1, Padding::Valid, 1, 2),
            ([16, 40, 37], 16, 3, 1, Padding::Valid, 1, 2),
            ([16, 6, 7], 17, 3, 1, Padding::Explicit(2), 1, 3),
        ];
        let per_product: Vec<_> = winograd
            .iter()
            .map(|c| winograd::applies(&geom(c)).then(|| winograd::images_per_product(&geom(c))))
            .collect();
        assert_eq!(
            per_product,
            [22, 256, 6, 1, 22, 256, 1, 13].map(Some),
            "a forward product's"
        );
        let rows: Vec<_> = winograd
            .iter()
            .map(|c| winograd::rows_per_product(&geom(c)))
            .collect();
        assert_eq!(
            rows,
            [4, 1, 7, 16, 4, 1, 15, 4],
            "the fourth in blocks of 16 and 1 tile rows, the seventh of 15 and 4"
        );
        let beside: [Case; 3] = [
            ([16, 8, 8], 16, 3, 2, Padding::Same, 1, 2),
            ([16, 8, 8], 16, 3, 1, Padding::Same, 2, 2),
            ([8, 8, 8], 16, 3, 1, Padding::Same, 1, 2),
        ];
        assert!(beside.iter().all(|c| !winograd::applies(&geom(c))));
        all.extend(winograd);
        all.extend(beside);
        for c in &all {
            let (g, n, x, w, b) = inputs(c, &mut rng);
            let dout = random(n * g.out_len(), &mut rng);
            let tol = |r: f32| 1e-4 * r.abs().max(1.0) * ((g.c_in_g() * g.kh * g.kw) as f32).sqrt();

            let mut fast = vec![0.0; n * g.out_len()];
            let mut slow = fast.clone();
            conv2d_forward(&mut fast, &x, &w, Some(&b), &g, n).unwrap();
            reference::conv2d_forward(&mut slow, &x, &w, Some(&b), &g, n);
            for (a, r) in fast.iter().zip(&slow) {
                assert!((a - r).abs() <= tol(*r), "{c:?} forward {a} vs {r}");
            }

            let mut fast = vec![0.5; n * g.in_len()];
            let mut slow = fast.clone();
            conv2d_backward_input(&mut fast, &dout, &w, &g, n, GradWrite::Add).unwrap();
            reference::conv2d_backward_input(&mut slow, &dout, &w, &g, n);
            for (a, r) in fast.iter().zip(&slow) {
                assert!((a - r).abs() <= tol(*r), "{c:?} backward_input {a} vs {r}");
            }
            // Overwriting: every cell written (NaN before), as the reference adds into zeros.
            let mut fast = vec![f32::NAN; n * g.in_len()];
            let mut slow = vec![0.0; n * g.in_len()];
            conv2d_backward_input(&mut fast, &dout, &w, &g, n, GradWrite::Overwrite).unwrap();
            reference::conv2d_backward_input(&mut slow, &dout, &w, &g, n);
            for (a, r) in fast.iter().zip(&slow) {
                assert!(
                    (a - r).abs() <= tol(*r),
                    "{c:?} backward_input over {a} vs {r}"
                );
            }

            let (mut fw, mut fb) = (vec![0.25; g.weight_len()], vec![0.25; g.c_out]);
            let (mut sw, mut sb) = (fw.clone(), fb.clone());
            conv2d_backward_weight(&mut fw, Some(&mut fb), &dout, &x, &g, n).unwrap();
            reference::conv2d_backward_weight(&mut sw, Some(&mut sb), &dout, &x, &g, n);
            let tol_w = |r: f32| 1e-4 * r.abs().max(1.0) * ((n * g.h_out * g.w_out) as f32).sqrt();
            for (a, r) in fw.iter().zip(&sw).chain(fb.iter().zip(&sb)) {
                assert!(
                    (a - r).abs() <= tol_w(*r),
                    "{c:?} backward_weight {a} vs {r}"
                );
            }

            // With a fused ReLU's mask: the same bits as masking first, and the mask left in
            // dout. `y` is the forward's output, so about half of it is ≤ 0.
            let y = random(n * g.out_len(), &mut rng);
            let masked: Vec<f32> = dout
                .iter()
                .zip(&y)
                .map(|(d, y)| if *y > 0.0 { *d } else { 0.0 })
                .collect();
            let (mut mw, mut mb) = (vec![0.25; g.weight_len()], vec![0.25; g.c_out]);
            let (mut pw, mut pb) = (mw.clone(), mb.clone());
            let mut d = dout.clone();
            conv2d_backward_weight_relu(&mut mw, Some(&mut mb), &mut d, &y, &x, &g, n).unwrap();
            conv2d_backward_weight(&mut pw, Some(&mut pb), &masked, &x, &g, n).unwrap();
            assert_eq!((mw, mb, d), (pw, pb, masked), "{c:?} backward_weight_relu");
        }
    }

    /// Sparse planes (ReLU'd and max-pooled ones are) leave weights none of whose products is
    /// non-zero: Winograd's weight gradient must give them the direct sum's exact 0, not its
    /// rounding noise, and leave every other weight as close to the reference as before.
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn winograd_weight_gradient_is_exactly_zero_where_every_product_is() {
        let mut rng = Rng::new(11);
        let mut zeros = 0;
        for (input, pad, n) in [([16, 6, 6], 0, 2), ([16, 9, 8], 1, 3), ([16, 14, 14], 0, 4)] {
            let g = Conv2dGeom::new(input, 16, 3, 1, Padding::Explicit(pad), 1).unwrap();
            assert!(winograd::applies(&g));
            let mut sparse = |len: usize, density: f32| -> Vec<f32> {
                (0..len)
                    .map(|_| match rng.next_f32() < density {
                        true => rng.uniform(0.0, 1.0),
                        false => 0.0,
                    })
                    .collect()
            };
            let x = sparse(n * g.in_len(), 0.3);
            let dout = sparse(n * g.out_len(), 0.1);
            let mut fast = vec![0.0; g.weight_len()];
            let mut slow = fast.clone();
            conv2d_backward_weight(&mut fast, None, &dout, &x, &g, n).unwrap();
            reference::conv2d_backward_weight(&mut slow, None, &dout, &x, &g, n);
            for (a, r) in fast.iter().zip(&slow) {
                if *r == 0.0 {
                    zeros += 1;
                    assert_eq!(
                        *a, 0.0,
                        "{input:?} pad {pad}: an exact zero came out as {a}"
                    );
                } else {
                    assert!((a - r).abs() <= 1e-5 * r.abs().max(1.0), "{a} vs {r}");
                }
            }
        }
        assert!(
            zeros > 500,
            "only {zeros} exact zeros: the case tests nothing"
        );
    }

    #[test]
    fn short_copies_and_zeros_cover_every_length() {
        // Every block combination below 128, and the slice copy from 128 on.
        for n in 0..=200 {
            let src: Vec<f32> = (0..n).map(|v| v as f32 + 1.0).collect();
            let mut dst = vec![0.0; n + 3];
            copy_short(&mut dst[..n], &src);
            assert_eq!(&dst[..n], &src[..], "{n} floats");
            assert_eq!(&dst[n..], &[0.0; 3], "{n} floats: nothing past the end");
            let mut dst = vec![-1.0; n + 3];
            zero_short(&mut dst[..n]);
            assert!(dst[..n].iter().all(|&v| v == 0.0), "{n} zeros");
            assert_eq!(&dst[n..], &[-1.0; 3], "{n} zeros: nothing past the end");
        }
    }

    /// The convolution with its max pool image by image gives the same bits as the two passes,
    /// on the thin kernels' shapes as on the matrix multiply's, and refuses a pool of another
    /// shape.
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn conv2d_with_its_max_pool_equals_the_two_passes() {
        let mut rng = Rng::new(12);
        let mut all = cases();
        all.push(([1, 20, 19], 8, 3, 1, Padding::Valid, 1, 3));
        all.push(([16, 15, 15], 24, 3, 1, Padding::Valid, 1, 2));
        // 11 + 2 images per product.
        all.push(([6, 6, 6], 8, 3, 1, Padding::Same, 1, 13));
        // Winograd: 4 + 3 images per product; blocks of 16 and 2 tile rows of one image.
        all.push(([16, 15, 15], 16, 3, 1, Padding::Same, 1, 7));
        all.push(([16, 36, 34], 16, 3, 1, Padding::Same, 1, 2));
        for c in &all {
            let (g, n, x, w, b) = inputs(c, &mut rng);
            let pools = [(2, 2, Padding::Valid), (3, 2, Padding::Same)];
            for (pg, relu) in pools
                .iter()
                .zip([true, false])
                .filter_map(|(&(k, s, p), relu)| {
                    let pg = PoolGeom::new([g.c_out, g.h_out, g.w_out], k, s, p).ok()?;
                    Some((pg, relu))
                })
            {
                let mut y = vec![0.0; n * g.out_len()];
                let (mut p, mut am) = (vec![0.0; n * pg.out_len()], vec![0; n * pg.out_len()]);
                conv2d_forward_act(&mut y, &x, &w, Some(&b), &g, n, relu).unwrap();
                pool::max_pool_forward(&mut p, &mut am, &y, &pg, n).unwrap();
                let mut fy = vec![f32::NAN; y.len()];
                let (mut fp, mut fam) = (vec![f32::NAN; p.len()], vec![u32::MAX; am.len()]);
                conv2d_forward_max_pool(
                    &mut fy,
                    &mut fp,
                    &mut fam,
                    &x,
                    &w,
                    Some(&b),
                    &g,
                    n,
                    relu,
                    &pg,
                )
                .unwrap();
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&fy), bits(&y), "{c:?} {pg:?}: the convolution");
                assert_eq!(bits(&fp), bits(&p), "{c:?} {pg:?}: the pool");
                assert_eq!(fam, am, "{c:?} {pg:?}: the winners");
            }
        }
        let g = geom(&([2, 8, 8], 4, 3, 1, Padding::Same, 1, 1));
        let pg = PoolGeom::new([4, 7, 8], 2, 2, Padding::Valid).unwrap();
        let (x, w) = (vec![0.0; g.in_len()], vec![0.0; g.weight_len()]);
        let (mut y, mut p, mut am) = (
            vec![0.0; g.out_len()],
            vec![0.0; pg.out_len()],
            vec![0; pg.out_len()],
        );
        let err = conv2d_forward_max_pool(&mut y, &mut p, &mut am, &x, &w, None, &g, 1, true, &pg);
        assert!(err.is_err(), "a pool of another shape is refused");
    }

    /// The weight gradient that writes its output gradient from the max pool's backward through
    /// the ReLU gives the same bits as the pool's backward, the mask and the weight gradient,
    /// for pools with and without overlapping windows, and leaves the same output gradient.
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn weight_gradient_through_the_pool_equals_the_three_passes() {
        let mut rng = Rng::new(14);
        let mut thin = 0;
        let shapes: [Case; 7] = [
            // Winograd: weight-gradient chunks of 4 images (4 + 4 + 1), and blocks of tile rows.
            ([16, 15, 15], 16, 3, 1, Padding::Same, 1, 9),
            ([16, 36, 34], 16, 3, 1, Padding::Same, 1, 2),
            ([1, 20, 19], 8, 3, 1, Padding::Valid, 1, 6),
            ([16, 15, 15], 24, 3, 1, Padding::Valid, 1, 5),
            // Weight-gradient chunks of 11 images (images_per_product), the last one of 2.
            ([6, 6, 6], 8, 3, 1, Padding::Same, 1, 13),
            ([4, 9, 9], 6, 3, 1, Padding::Same, 2, 3),
            ([3, 7, 7], 7, 3, 1, Padding::Same, 1, 1),
        ];
        for c in &shapes {
            let (g, n, x, w, b) = inputs(c, &mut rng);
            let mut y = vec![0.0; n * g.out_len()];
            conv2d_forward_act(&mut y, &x, &w, Some(&b), &g, n, true).unwrap();
            for (k, s, p) in [(2, 2, Padding::Valid), (3, 2, Padding::Same)] {
                let pg = PoolGeom::new([g.c_out, g.h_out, g.w_out], k, s, p).unwrap();
                let (mut pooled, mut am) = (vec![0.0; n * pg.out_len()], vec![0; n * pg.out_len()]);
                pool::max_pool_forward(&mut pooled, &mut am, &y, &pg, n).unwrap();
                let pdy = random(pooled.len(), &mut rng);

                let mut dy = vec![0.0; y.len()];
                pool::max_pool_backward(&mut dy, &pdy, &am, &pg, n, GradWrite::Add).unwrap();
                relu::relu_mask(&mut dy, &y).unwrap();
                let (mut dw, mut db) = (vec![0.5; g.weight_len()], vec![0.5; g.c_out]);
                conv2d_backward_weight(&mut dw, Some(&mut db), &dy, &x, &g, n).unwrap();

                let mut fdy = vec![f32::NAN; y.len()];
                let (mut fdw, mut fdb) = (vec![0.5; g.weight_len()], vec![0.5; g.c_out]);
                let route = PoolRoute {
                    dy: &pdy,
                    pooled: &pooled,
                    argmax: &am,
                    g: &pg,
                };
                conv2d_backward_weight_pooled_relu(
                    &mut fdw,
                    Some(&mut fdb),
                    &mut fdy,
                    route,
                    &x,
                    &g,
                    n,
                )
                .unwrap();
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&fdy), bits(&dy), "{c:?} {pg:?}: the output gradient");
                assert_eq!(bits(&fdw), bits(&dw), "{c:?} {pg:?}: the weight gradient");
                assert_eq!(bits(&fdb), bits(&db), "{c:?} {pg:?}: the bias gradient");

                // A thin layer's sums straight from the pool, the output gradient unwritten.
                let (mut rdw, mut rdb) = (vec![0.5; g.weight_len()], vec![0.5; g.c_out]);
                let routed =
                    conv2d_backward_weight_routed(&mut rdw, Some(&mut rdb), route, &x, &g, n);
                if !conv_thin::applies(&g) {
                    assert!(routed.is_err(), "{c:?}: only thin layers are routed");
                    continue;
                }
                routed.unwrap();
                thin += 1;
                for (a, r) in rdw.iter().zip(&dw).chain(rdb.iter().zip(&db)) {
                    let tol = 1e-5 * r.abs().max(1.0);
                    assert!((a - r).abs() <= tol, "{c:?} {pg:?}: routed {a} vs {r}");
                }
            }
        }
        assert!(thin >= 4, "thin layers routed: {thin}");
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn conv2d_backward_matches_finite_difference() {
        let mut rng = Rng::new(9);
        for c in &cases() {
            let (g, n, x, w, b) = inputs(c, &mut rng);
            let r = random(n * g.out_len(), &mut rng);
            let loss = |x: &[f32], w: &[f32], b: &[f32]| {
                let mut out = vec![0.0; n * g.out_len()];
                conv2d_forward(&mut out, x, w, Some(b), &g, n).unwrap();
                weighted_sum(&out, &r)
            };
            let mut dx = vec![0.0; x.len()];
            let (mut dw, mut db) = (vec![0.0; w.len()], vec![0.0; b.len()]);
            conv2d_backward_input(&mut dx, &r, &w, &g, n, GradWrite::Add).unwrap();
            conv2d_backward_weight(&mut dw, Some(&mut db), &r, &x, &g, n).unwrap();
            check_gradient("conv2d dx", &x, &dx, |p| loss(p, &w, &b), 40);
            check_gradient("conv2d dw", &w, &dw, |p| loss(&x, p, &b), 40);
            check_gradient("conv2d db", &b, &db, |p| loss(&x, &w, p), 40);
        }
    }

    #[test]
    fn conv2d_rejects_impossible_geometry_and_wrong_lengths() {
        assert!(Conv2dGeom::new([3, 8, 8], 4, 3, 1, Padding::Valid, 2).is_err());
        assert!(Conv2dGeom::new([1, 2, 2], 4, 3, 1, Padding::Valid, 1).is_err());
        assert!(Conv2dGeom::new([1, 8, 8], 4, 3, 0, Padding::Valid, 1).is_err());
        let g = Conv2dGeom::new([1, 4, 4], 2, 3, 1, Padding::Valid, 1).unwrap();
        let mut out = vec![0.0; 7];
        let err = conv2d_forward(&mut out, &[0.0; 16], &[0.0; 18], None, &g, 1).unwrap_err();
        assert!(matches!(
            err,
            Error::ShapeMismatch {
                op: "conv2d_forward",
                ..
            }
        ));
    }
}
