//! Winograd F(2×2, 3×3) for 3×3, stride-1 convolutions, `same` (padding 1), `valid` (none) or
//! padded by 2: the forward pass and the input gradient (itself such a convolution, of the
//! output gradient with the weights flipped and transposed, padded by 2 − the padding), and the
//! weight gradient (the adjoint of the forward's products), whose exact zeros are kept
//! ([`super::taps`]).
//!
//! Each 2×2 block of outputs (a tile) comes from a 4×4 patch of input `d` as `Aᵀ [(G g Gᵀ) ⊙
//! (Bᵀ d B)] A`, so a tile takes 16 multiplies per pair of channels where the direct
//! convolution takes 36. Over channels the element-wise products are 16 matrix multiplies, one
//! per element `e` of the 4×4 transforms: `M_e [c_out, tiles] = U_e [c_out, c_in] · V_e [c_in,
//! tiles]`, with `U = G g Gᵀ` (the weights, transformed once per call) and `V = Bᵀ d B` (the
//! input, transformed image by image). The transforms add and subtract only (and halve, in
//! `G`), so the result differs from the direct sum by rounding, not by an approximation: the
//! tests hold it to the im2col path's tolerance against the plain direct convolution.
//!
//! Layouts: `u [rows, 16, cols]` (the multiply of element `e` reads rows `r·16 + e`), `v [16,
//! c_in, tiles]`, `m [16, c_out, tiles]`, a weight gradient's `du [16, c_out, c_in]`. A product
//! takes the tiles of several whole images side by side where an image has few ([`images_per_product`]),
//! else a block of tile rows of one image ([`rows_per_product`]), so that its buffers stay
//! within [`MAX_FLOATS`] and near the cache.

use std::cell::RefCell;
use std::ops::Range;

use super::gemm::{Mat, sgemm};
use super::profile::{self, Family};
use super::simd::{VecF32, active_backend, dispatch};
use super::taps;
use crate::ops::GradWrite;
use crate::ops::conv2d::Conv2dGeom;
use crate::par;

/// Fewest input and output channels for which the transforms pay: with few channels the
/// multiplies saved are few and the transforms' passes over memory cost more than they save.
pub const MIN_CHANNELS: usize = 16;

/// Tiles one product aims at (the multiplies' columns): enough that packing `U_e` is repaid.
const TILES_PER_PRODUCT: usize = 256;
/// Most floats of one product's transformed input or output (8 MiB), unless a single tile row
/// of one image is more.
const MAX_FLOATS: usize = 1 << 21;

/// Whether a convolution's forward and input gradient run through Winograd F(2×2, 3×3) here:
/// 3×3, stride 1, one group, the same padding above and to the left (0 for `valid`, 1 for
/// `same`, at most 2; whatever the output size leaves below and to the right), and
/// [`MIN_CHANNELS`] in and out.
pub fn applies(g: &Conv2dGeom) -> bool {
    g.kh == 3
        && g.kw == 3
        && g.stride == 1
        && g.groups == 1
        && g.pad_top == g.pad_left
        && g.pad_top <= 2
        && g.c_in >= MIN_CHANNELS
        && g.c_out >= MIN_CHANNELS
}

/// Tile rows and tile columns of an `h × w` plane.
fn tiles(h: usize, w: usize) -> (usize, usize) {
    (h.div_ceil(2), w.div_ceil(2))
}

/// The planes one pass reads (`hi × wi`) and makes (`ho × wo`, in 2×2 tiles): tile `(ty, tx)`
/// reads the 4×4 patch from row `2ty − off` and column `2tx − off` of its input, zero outside.
#[derive(Clone, Copy)]
struct Planes {
    hi: usize,
    wi: usize,
    ho: usize,
    wo: usize,
    off: usize,
}

impl Planes {
    /// The forward's (and the weight gradient's, its adjoint) or the input gradient's: that
    /// one is a convolution of `dout` with the flipped weights, padded by `2 − pad`.
    fn of(g: &Conv2dGeom, pass: Pass) -> Self {
        match pass {
            Pass::Forward => Self {
                hi: g.h_in,
                wi: g.w_in,
                ho: g.h_out,
                wo: g.w_out,
                off: g.pad_top,
            },
            Pass::InputGrad => Self {
                hi: g.h_out,
                wi: g.w_out,
                ho: g.h_in,
                wo: g.w_in,
                off: 2 - g.pad_top,
            },
        }
    }

    fn tiles(&self) -> (usize, usize) {
        tiles(self.ho, self.wo)
    }
}

/// Images one product of the forward and the weight gradient takes (their tiles side by
/// side): [`TILES_PER_PRODUCT`] tiles or more, as long as they stay within [`MAX_FLOATS`]; 1
/// where one image's tiles are enough or too many (then [`rows_per_product`] blocks them).
/// Fixed by the shape alone, so results do not depend on threads.
pub fn images_per_product(g: &Conv2dGeom) -> usize {
    per_product(g, Pass::Forward).0
}

/// Tile rows of one image per product of the forward and the weight gradient: all of them
/// where products take whole images, else blocks of [`TILES_PER_PRODUCT`] tiles or more
/// (whole tile rows), within [`MAX_FLOATS`] (at least one tile row).
pub fn rows_per_product(g: &Conv2dGeom) -> usize {
    per_product(g, Pass::Forward).1
}

/// Images and tile rows per product of `pass` ([`images_per_product`], [`rows_per_product`]).
fn per_product(g: &Conv2dGeom, pass: Pass) -> (usize, usize) {
    let (th, tw) = Planes::of(g, pass).tiles();
    let (t, c) = ((th * tw).max(1), g.c_in.max(g.c_out));
    let images = TILES_PER_PRODUCT
        .div_ceil(t)
        .min(MAX_FLOATS / (16 * c * t))
        .max(1);
    let row = 16 * c * tw.max(1);
    if th * tw < TILES_PER_PRODUCT && th * row <= MAX_FLOATS {
        return (images, th.max(1));
    }
    let rows = TILES_PER_PRODUCT
        .div_ceil(tw.max(1))
        .min(MAX_FLOATS / row)
        .clamp(1, th.max(1));
    (images, rows)
}

/// Floats of the buffers Winograd's passes over `g` hold: each thread's (one product's
/// transformed input and output and the transforms' own scratch, a weight gradient's
/// transformed and plain sums and [`taps`]' bits) and the calling thread's (the transformed
/// weights). `None` where Winograd does not apply.
pub fn scratch_floats(g: &Conv2dGeom) -> Option<(usize, usize)> {
    if !applies(g) {
        return None;
    }
    let all = || {
        [Pass::Forward, Pass::InputGrad]
            .into_iter()
            .flat_map(|pass| products(g, pass, per_product(g, pass).0))
    };
    let t = all().map(|p| p.t).max().unwrap_or(0);
    let pad = all().map(|p| p.scratch_floats()).max().unwrap_or(0);
    let weights = 16 * g.c_in * g.c_out;
    // The weight gradient's sums back from the transformed domain, and the bits its zeros are
    // checked with (u64, two floats each) for a chunk of images.
    let kernels = 9 * g.c_in * g.c_out;
    let bits = 2 * taps::scratch_words(g, crate::ops::conv2d::weight_grad_chunk(g));
    Some((
        16 * (g.c_in + g.c_out) * t + pad + weights + kernels + bits,
        weights,
    ))
}

/// The products of `pass` over `k` images, in order: whole images side by side
/// ([`per_product`]'s images at a time) or one image's blocks of tile rows.
fn products(g: &Conv2dGeom, pass: Pass, k: usize) -> impl Iterator<Item = Product> {
    let s = Planes::of(g, pass);
    let (th, tw) = s.tiles();
    let (images, rows) = per_product(g, pass);
    let blocks = th.div_ceil(rows);
    let step = if blocks == 1 { images } else { 1 };
    (0..k).step_by(step).flat_map(move |i| {
        (0..blocks).map(move |b| {
            let (images, ty) = (i..(i + step).min(k), b * rows..((b + 1) * rows).min(th));
            let per_image = ty.len() * tw;
            Product {
                t: images.len() * per_image,
                images,
                ty,
                per_image,
                s,
            }
        })
    })
}

/// One product: its images, their tile rows `ty`, and its tiles `t` (`per_image` of each
/// image) of the planes `s`.
struct Product {
    images: Range<usize>,
    ty: Range<usize>,
    per_image: usize,
    t: usize,
    s: Planes,
}

/// Which pass the transformed weights serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// `out = conv(x, w)`: `U` is `[c_out, 16, c_in]`.
    Forward,
    /// `dx = conv(dout, flip(wᵀ))`: `U` is `[c_in, 16, c_out]`.
    InputGrad,
}

thread_local! {
    static U: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static V: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static M: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static PAD: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// A weight gradient in the transformed domain, `[16, c_out, c_in]`.
    static DU: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// A weight gradient back from the transformed domain, `[c_out, c_in, 3, 3]`.
    static DK: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with the weights `w` (`[c_out, c_in, 3, 3]`) transformed for `pass`, in this
/// thread's reused buffer; the transform is split over every core.
pub fn with_weights<R>(w: &[f32], g: &Conv2dGeom, pass: Pass, f: impl FnOnce(&[f32]) -> R) -> R {
    let (rows, cols) = match pass {
        Pass::Forward => (g.c_out, g.c_in),
        Pass::InputGrad => (g.c_in, g.c_out),
    };
    par::with_scratch(&U, rows * 16 * cols, |u| {
        {
            let _l = profile::leaf(Family::Im2col);
            par::for_each_chunk_mut(u, 16 * cols, |r, ur| {
                for c in 0..cols {
                    let k: [f32; 9] = match pass {
                        Pass::Forward => w[(r * cols + c) * 9..][..9].try_into().unwrap(),
                        Pass::InputGrad => {
                            let mut k: [f32; 9] = w[(c * rows + r) * 9..][..9].try_into().unwrap();
                            k.reverse(); // both axes flipped
                            k
                        }
                    };
                    for (e, v) in transform_kernel(&k).into_iter().enumerate() {
                        ur[e * cols + c] = v;
                    }
                }
            });
        }
        f(u)
    })
}

/// `G g Gᵀ` of one 3×3 kernel (row-major), with `G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]`.
fn transform_kernel(k: &[f32; 9]) -> [f32; 16] {
    // Rows of G·g.
    let mut gg = [[0.0f32; 3]; 4];
    for c in 0..3 {
        let (a, b, d) = (k[c], k[3 + c], k[6 + c]);
        gg[0][c] = a;
        gg[1][c] = 0.5 * (a + b + d);
        gg[2][c] = 0.5 * (a - b + d);
        gg[3][c] = d;
    }
    let mut u = [0.0f32; 16];
    for (i, r) in gg.iter().enumerate() {
        u[4 * i] = r[0];
        u[4 * i + 1] = 0.5 * (r[0] + r[1] + r[2]);
        u[4 * i + 2] = 0.5 * (r[0] - r[1] + r[2]);
        u[4 * i + 3] = r[2];
    }
    u
}

/// The convolution of `pass` (its planes: [`Planes::of`]) of the images `xs` (`[k, cin, hi,
/// wi]`, `k` = as many as `out` holds) with the weights `u` transformed for it (from
/// [`with_weights`]): `out` (`[k, cout, ho, wo]`) is written or added to, as `write` says.
/// `(cin, cout)` are the pass's own: the layer's `(c_in, c_out)` forward, `(c_out, c_in)` for
/// the input gradient.
pub fn conv(out: &mut [f32], xs: &[f32], u: &[f32], g: &Conv2dGeom, pass: Pass, write: GradWrite) {
    let (cin, cout) = match pass {
        Pass::Forward => (g.c_in, g.c_out),
        Pass::InputGrad => (g.c_out, g.c_in),
    };
    let s = Planes::of(g, pass);
    let hwo = s.ho * s.wo;
    let k = out.len() / (cout * hwo);
    debug_assert!(out.len() == k * cout * hwo && xs.len() >= k * cin * s.hi * s.wi);
    for p in products(g, pass, k) {
        let t = p.t;
        par::with_scratch(&V, 16 * cin * t, |v| {
            {
                let _l = profile::leaf(Family::Im2col);
                p.transform_inputs(v, xs, cin);
            }
            par::with_scratch(&M, 16 * cout * t, |m| {
                for e in 0..16 {
                    let ue = Mat {
                        data: &u[e * cin..],
                        rows: cout,
                        cols: cin,
                        rs: 16 * cin,
                        cs: 1,
                    };
                    let ve = Mat::rm(&v[e * cin * t..(e + 1) * cin * t], cin, t);
                    sgemm(ue, ve, &mut m[e * cout * t..(e + 1) * cout * t], t, false);
                }
                let _l = profile::leaf(Family::Im2col);
                p.transform_outputs(out, m, cout, write);
            });
        });
    }
}

/// The weight gradient over the images of `ds` (output gradients `[k, c_out, h_out, w_out]`,
/// `k` = as many as it holds) and `xs` (their inputs): `pw (+)= Σ dout ⋆ x` (`[c_out, c_in, 3,
/// 3]`), as `acc` says. The adjoint of the forward [`conv`]: `dU_e [c_out, c_in] = Σ_tiles (A
/// dY Aᵀ)_e · (Bᵀ d B)_eᵀ`, summed over the products ([`products`]) in order, then `Gᵀ dU G`
/// per kernel.
pub fn weight_grad(pw: &mut [f32], ds: &[f32], xs: &[f32], g: &Conv2dGeom, acc: bool) {
    let (cin, cout) = (g.c_in, g.c_out);
    let hwo = g.h_out * g.w_out;
    let k = ds.len() / (cout * hwo);
    if k == 0 {
        if !acc {
            pw.fill(0.0);
        }
        return;
    }
    par::with_scratch(&DU, 16 * cout * cin, |du| {
        for (n, p) in products(g, Pass::Forward, k).enumerate() {
            let t = p.t;
            par::with_scratch(&V, 16 * cin * t, |v| {
                par::with_scratch(&M, 16 * cout * t, |m| {
                    {
                        let _l = profile::leaf(Family::Im2col);
                        p.transform_inputs(v, xs, cin);
                        p.transform_output_grads(m, ds, cout);
                    }
                    for e in 0..16 {
                        let me = Mat::rm(&m[e * cout * t..(e + 1) * cout * t], cout, t);
                        let ve = Mat::rm(&v[e * cin * t..(e + 1) * cin * t], cin, t);
                        let due = &mut du[e * cout * cin..(e + 1) * cout * cin];
                        sgemm(me, ve.t(), due, cin, n > 0);
                    }
                });
            });
        }
        let _l = profile::leaf(Family::Im2col);
        par::with_scratch(&DK, cout * cin * 9, |dk| {
            for (pair, kernel) in dk.chunks_exact_mut(9).enumerate() {
                let (co, ci) = (pair / cin, pair % cin);
                let d: [f32; 16] = std::array::from_fn(|e| du[(e * cout + co) * cin + ci]);
                kernel.copy_from_slice(&transform_kernel_grad(&d));
            }
            taps::restore_zeros(dk, ds, xs, g);
            if acc {
                for (o, v) in pw.iter_mut().zip(dk.iter()) {
                    *o += v;
                }
            } else {
                pw.copy_from_slice(dk);
            }
        });
    });
}

/// `Gᵀ d G` of one 4×4 `d` (row-major): the adjoint of [`transform_kernel`].
fn transform_kernel_grad(d: &[f32; 16]) -> [f32; 9] {
    // Rows of Gᵀ·d, with Gᵀ = [1 ½ ½ 0; 0 ½ −½ 0; 0 ½ ½ 1].
    let mut y = [[0.0f32; 4]; 3];
    for j in 0..4 {
        let (a, b, c, e) = (d[j], d[4 + j], d[8 + j], d[12 + j]);
        y[0][j] = a + 0.5 * (b + c);
        y[1][j] = 0.5 * (b - c);
        y[2][j] = 0.5 * (b + c) + e;
    }
    let mut k = [0.0f32; 9];
    for (a, r) in y.iter().enumerate() {
        k[3 * a] = r[0] + 0.5 * (r[1] + r[2]);
        k[3 * a + 1] = 0.5 * (r[1] - r[2]);
        k[3 * a + 2] = 0.5 * (r[1] + r[2]) + r[3];
    }
    k
}

/// `−x`, as `−0 − x` so that a zero's sign flips too (as the scalar negation).
#[inline(always)]
fn neg<S: VecF32>(isa: S, x: S::V) -> S::V {
    isa.sub(isa.splat(-0.0), x)
}

/// Width of a staged input row ([`inputs_body`]): the tile columns rounded up to 16 (the
/// widest `STEP`), twice, and the 2 more a tile reads, so that every load is a whole vector.
fn staged_width(tw: usize) -> usize {
    2 * tw.next_multiple_of(16) + 2
}

impl Product {
    /// Floats of [`Product::transform_inputs`]' scratch: the block's staged rows and the
    /// columns taken apart ([`inputs_body`]).
    fn input_scratch(&self) -> usize {
        let (rows, tw) = (self.ty.len(), self.s.tiles().1);
        (2 * rows + 2) * staged_width(tw) + 8 * (rows + 1) * tw
    }

    /// Floats of the largest scratch of the product's transforms (the outputs' four rows of
    /// sums, `4·t`, or the inputs').
    fn scratch_floats(&self) -> usize {
        self.input_scratch().max(4 * self.t)
    }

    /// `Bᵀ d B` of the product's tiles of every plane of the images `xs` (`[_, c, hi, wi]`)
    /// into `v` (`[16, c, t]`).
    fn transform_inputs(&self, v: &mut [f32], xs: &[f32], c: usize) {
        let p = self;
        par::with_scratch(
            &PAD,
            self.input_scratch(),
            |buf| dispatch!(active_backend() => inputs_body(v: &mut [f32], xs: &[f32], c: usize, p: &Product, buf: &mut [f32]) -> ()),
        )
    }

    /// `Aᵀ m A` of the product's tiles of every plane of `m` (`[16, c, t]`) into the images of
    /// `out` (`[_, c, ho, wo]`), written or added as `write` says; the outputs past an odd side
    /// are dropped.
    fn transform_outputs(&self, out: &mut [f32], m: &[f32], c: usize, write: GradWrite) {
        let (p, add) = (self, write == GradWrite::Add);
        par::with_scratch(
            &PAD,
            4 * self.t,
            |ys| dispatch!(active_backend() => outputs_body(out: &mut [f32], m: &[f32], c: usize, p: &Product, add: bool, ys: &mut [f32]) -> ()),
        )
    }

    /// `A dy Aᵀ` of the product's tiles of every plane of the output gradients `ds` (`[_, c,
    /// ho, wo]`, zero past an odd side) into `m` (`[16, c, t]`): the adjoint of
    /// [`Product::transform_outputs`].
    fn transform_output_grads(&self, m: &mut [f32], ds: &[f32], c: usize) {
        let p = self;
        par::with_scratch(
            &PAD,
            4 * self.t,
            |xs| dispatch!(active_backend() => output_grads_body(m: &mut [f32], ds: &[f32], c: usize, p: &Product, xs: &mut [f32]) -> ()),
        )
    }
}

/// [`Product::transform_inputs`]' loops, generic over the instruction set so that `dispatch!`
/// compiles them for the widest one. Each plane's block of input rows is staged in `buf` with
/// its border of zeros (staged row `r` is input row `2·ty0 + r − off`, staged column `x` input
/// column `x − off`). A tile's four columns are the even and odd floats from its first column
/// and from two further on: those of every staged row go to `cols` (`[2, 4, rows + 1, tw]`:
/// even staged rows, then odd ones, each its four columns), so that for all tiles of the
/// block at once, `S::STEP` at a time, a tile's four rows are the even and odd staged rows at
/// its tile row and the next.
#[inline(always)]
fn inputs_body<S: VecF32>(
    isa: S,
    v: &mut [f32],
    xs: &[f32],
    c: usize,
    p: &Product,
    buf: &mut [f32],
) {
    let s = p.s;
    let (h, w, off, tw) = (s.hi, s.wi, s.off, s.tiles().1);
    let (ty0, rows) = (p.ty.start, p.ty.len());
    let (sw, ph) = (staged_width(tw), 2 * rows + 2);
    let stride = c * p.t;
    let (staged, cols) = buf.split_at_mut(ph * sw);
    // Borders stay zero: only in-plane rows and columns are written below.
    staged.fill(0.0);
    let wc = w.min(sw - off);
    let q = (rows + 1) * tw;
    let nt = rows * tw;
    for i in p.images.clone() {
        for ci in 0..c {
            let plane = &xs[(i * c + ci) * h * w..][..h * w];
            for lr in 0..ph {
                if let Some(y) = (2 * ty0 + lr).checked_sub(off).filter(|&y| y < h) {
                    copy_row(
                        isa,
                        &mut staged[lr * sw + off..][..wc],
                        &plane[y * w..][..wc],
                    );
                }
            }
            for lr in 0..ph {
                let at = (lr % 2) * 4 * q + (lr / 2) * tw;
                for ch in (0..tw).step_by(S::STEP) {
                    let n = S::STEP.min(tw - ch);
                    let cs = tile_columns(isa, &staged[lr * sw + 2 * ch..]);
                    for (j, x) in cs.into_iter().enumerate() {
                        isa.store_chunk(&mut cols[at + j * q + ch..][..n], x);
                    }
                }
            }
            let vc = &mut v[ci * p.t + (i - p.images.start) * p.per_image..];
            // Row k of Bᵀ d from rows r0..r4 (r0 − r2, r1 + r2, r2 − r1, r1 − r3), column by
            // column; then · B along it: columns x0 − x2, x1 + x2, x2 − x1, x1 − x3.
            for k in 0..4 {
                for x in (0..nt).step_by(S::STEP) {
                    let n = S::STEP.min(nt - x);
                    let mut bt = [isa.zero(); 4];
                    for (j, b) in bt.iter_mut().enumerate() {
                        let even = &cols[j * q + x..];
                        let odd = &cols[4 * q + j * q + x..];
                        *b = match k {
                            0 => isa
                                .sub(isa.load_chunk(&even[..n]), isa.load_chunk(&even[tw..][..n])),
                            1 => {
                                isa.add(isa.load_chunk(&odd[..n]), isa.load_chunk(&even[tw..][..n]))
                            }
                            2 => {
                                isa.sub(isa.load_chunk(&even[tw..][..n]), isa.load_chunk(&odd[..n]))
                            }
                            _ => {
                                isa.sub(isa.load_chunk(&odd[..n]), isa.load_chunk(&odd[tw..][..n]))
                            }
                        };
                    }
                    let outs = [
                        isa.sub(bt[0], bt[2]),
                        isa.add(bt[1], bt[2]),
                        isa.sub(bt[2], bt[1]),
                        isa.sub(bt[1], bt[3]),
                    ];
                    for (j, o) in outs.into_iter().enumerate() {
                        isa.store_chunk(&mut vc[(4 * k + j) * stride + x..][..n], o);
                    }
                }
            }
        }
    }
}

/// `dst = src` a vector at a time (a row of a few dozen floats: `copy_from_slice` would call
/// `memcpy`, which cost more than the copy).
#[inline(always)]
fn copy_row<S: VecF32>(isa: S, dst: &mut [f32], src: &[f32]) {
    for (d, s) in dst.chunks_mut(S::STEP).zip(src.chunks(S::STEP)) {
        isa.store_chunk(d, isa.load_chunk(s));
    }
}

/// The four columns of `S::STEP` tiles whose first columns are `x[0], x[2], …`: the even and
/// odd floats of `x` and of `x[2..]`. (A function, not a closure in the bodies: a closure
/// would not get the target features `dispatch!` compiles them with.)
#[inline(always)]
fn tile_columns<S: VecF32>(isa: S, x: &[f32]) -> [S::V; 4] {
    let (e0, o0) = isa.deinterleave(isa.load(x), isa.load(&x[S::STEP..]));
    let (e1, o1) = isa.deinterleave(isa.load(&x[2..]), isa.load(&x[2 + S::STEP..]));
    [e0, o0, e1, o1]
}

/// [`Product::transform_outputs`]' loops (as [`inputs_body`]): `Aᵀ m A` with `Aᵀ = [1 1 1 0;
/// 0 1 −1 −1]`. A plane's tiles are consecutive in `m`, so the sums run over all of them at
/// once, `S::STEP` tiles at a time, into the four outputs of each tile (`ys`, `[4, t]`); then
/// each tile row's two output rows are put back in order by interleaving the tiles' columns.
#[inline(always)]
fn outputs_body<S: VecF32>(
    isa: S,
    out: &mut [f32],
    m: &[f32],
    c: usize,
    p: &Product,
    add: bool,
    ys: &mut [f32],
) {
    let s = p.s;
    let (h, w, tw, t) = (s.ho, s.wo, s.tiles().1, p.t);
    let hw = h * w;
    let stride = c * t;
    for co in 0..c {
        let mc = &m[co * t..];
        for x in (0..t).step_by(S::STEP) {
            let n = S::STEP.min(t - x);
            // Aᵀ m: two rows of four, then · A: two columns of each.
            let mut sd = [[isa.zero(); 2]; 4];
            for (j, sd) in sd.iter_mut().enumerate() {
                let a = isa.load_chunk(&mc[j * stride + x..][..n]);
                let b = isa.load_chunk(&mc[(4 + j) * stride + x..][..n]);
                let c = isa.load_chunk(&mc[(8 + j) * stride + x..][..n]);
                let d = isa.load_chunk(&mc[(12 + j) * stride + x..][..n]);
                *sd = [isa.add(isa.add(a, b), c), isa.sub(isa.sub(b, c), d)];
            }
            for k in 0..2 {
                let y0 = isa.add(isa.add(sd[0][k], sd[1][k]), sd[2][k]);
                let y1 = isa.sub(isa.sub(sd[1][k], sd[2][k]), sd[3][k]);
                isa.store_chunk(&mut ys[2 * k * t + x..][..n], y0);
                isa.store_chunk(&mut ys[(2 * k + 1) * t + x..][..n], y1);
            }
        }
        for i in p.images.clone() {
            let plane = &mut out[(i * c + co) * hw..][..hw];
            for ty in p.ty.clone() {
                let tile = (i - p.images.start) * p.per_image + (ty - p.ty.start) * tw;
                for k in 0..2 {
                    let oy = 2 * ty + k;
                    if oy >= h {
                        continue;
                    }
                    let row = &mut plane[oy * w..][..w];
                    for ch in (0..tw).step_by(S::STEP) {
                        let n = S::STEP.min(tw - ch);
                        let y0 = isa.load_chunk(&ys[2 * k * t + tile + ch..][..n]);
                        let y1 = isa.load_chunk(&ys[(2 * k + 1) * t + tile + ch..][..n]);
                        let (lo, hi) = isa.interleave(y0, y1);
                        let seg = &mut row[2 * ch..][..(w - 2 * ch).min(2 * S::STEP)];
                        let (first, second) = seg.split_at_mut(seg.len().min(S::STEP));
                        put(isa, first, lo, add);
                        put(isa, second, hi, add);
                    }
                }
            }
        }
    }
}

/// `d = x` or `d += x` (`add`) on the first `d.len()` (at most `S::STEP`) lanes.
#[inline(always)]
fn put<S: VecF32>(isa: S, d: &mut [f32], x: S::V, add: bool) {
    if d.is_empty() {
        return;
    }
    let x = if add {
        isa.add(isa.load_chunk(d), x)
    } else {
        x
    };
    isa.store_chunk(d, x);
}

/// Row `y` of a `w`-wide plane from column `x0`, `2·S::STEP` floats (zero past the row), its
/// even and odd floats apart.
#[inline(always)]
fn row_pairs<S: VecF32>(isa: S, plane: &[f32], w: usize, y: usize, x0: usize) -> (S::V, S::V) {
    let r = &plane[y * w + x0..(y + 1) * w];
    let a = isa.load_chunk(&r[..r.len().min(S::STEP)]);
    let b = if r.len() > S::STEP {
        isa.load_chunk(&r[S::STEP..r.len().min(2 * S::STEP)])
    } else {
        isa.zero()
    };
    isa.deinterleave(a, b)
}

/// [`Product::transform_output_grads`]' loops (as [`inputs_body`]): `A dy Aᵀ` with `A = [1 0;
/// 1 1; 1 −1; 0 −1]`. Each tile's 2×2 outputs are first taken apart, row by row of tiles, as
/// the even and odd floats of its two rows (`xs`, `[4, t]`); a plane's tiles are consecutive in
/// `m`, so the sums then run over all of them at once, `S::STEP` tiles at a time.
#[inline(always)]
fn output_grads_body<S: VecF32>(
    isa: S,
    m: &mut [f32],
    ds: &[f32],
    c: usize,
    p: &Product,
    xs: &mut [f32],
) {
    let s = p.s;
    let (h, w, tw, t) = (s.ho, s.wo, s.tiles().1, p.t);
    let hw = h * w;
    let stride = c * t;
    for co in 0..c {
        for i in p.images.clone() {
            let plane = &ds[(i * c + co) * hw..][..hw];
            for ty in p.ty.clone() {
                let tile = (i - p.images.start) * p.per_image + (ty - p.ty.start) * tw;
                for ch in (0..tw).step_by(S::STEP) {
                    let n = S::STEP.min(tw - ch);
                    let y = 2 * ty;
                    let (e0, o0) = row_pairs(isa, plane, w, y, 2 * ch);
                    let (e1, o1) = match y + 1 < h {
                        true => row_pairs(isa, plane, w, y + 1, 2 * ch),
                        false => (isa.zero(), isa.zero()),
                    };
                    for (r, x) in [e0, o0, e1, o1].into_iter().enumerate() {
                        isa.store_chunk(&mut xs[r * t + tile + ch..][..n], x);
                    }
                }
            }
        }
        let mc = &mut m[co * t..];
        // A dy: rows dy0, dy0 + dy1, dy0 − dy1, −dy1; then · Aᵀ along each row.
        for k in 0..4 {
            for x in (0..t).step_by(S::STEP) {
                let n = S::STEP.min(t - x);
                let e0 = isa.load_chunk(&xs[x..][..n]);
                let o0 = isa.load_chunk(&xs[t + x..][..n]);
                let e1 = isa.load_chunk(&xs[2 * t + x..][..n]);
                let o1 = isa.load_chunk(&xs[3 * t + x..][..n]);
                let (xe, xo) = match k {
                    0 => (e0, o0),
                    1 => (isa.add(e0, e1), isa.add(o0, o1)),
                    2 => (isa.sub(e0, e1), isa.sub(o0, o1)),
                    _ => (neg(isa, e1), neg(isa, o1)),
                };
                let outs = [xe, isa.add(xe, xo), isa.sub(xe, xo), neg(isa, xo)];
                for (j, o) in outs.into_iter().enumerate() {
                    isa.store_chunk(&mut mc[(4 * k + j) * stride + x..][..n], o);
                }
            }
        }
    }
}
