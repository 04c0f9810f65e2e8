//! Winograd F(2×2, 3×3) for 3×3, stride-1 convolutions that keep the input's size (padding 1 on
//! every side): the forward pass, the input gradient (itself such a convolution, of the output
//! gradient with the weights flipped and transposed) and the weight gradient (the adjoint of
//! the forward's products).
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

/// Whether a convolution runs through Winograd F(2×2, 3×3) here.
pub fn applies(g: &Conv2dGeom) -> bool {
    g.kh == 3
        && g.kw == 3
        && g.stride == 1
        && g.groups == 1
        && g.pad_top == 1
        && g.pad_left == 1
        && g.h_out == g.h_in
        && g.w_out == g.w_in
        && g.c_in >= MIN_CHANNELS
        && g.c_out >= MIN_CHANNELS
}

/// Tile rows and tile columns of an `h × w` plane.
fn tiles(h: usize, w: usize) -> (usize, usize) {
    (h.div_ceil(2), w.div_ceil(2))
}

/// Where tile rows `ty0..ty1` of one `h × w` plane sit in a transformed buffer: tile `j` of
/// the block (row by row) has its element `e` at `e·stride + at + j`.
#[derive(Clone, Copy)]
struct Place {
    at: usize,
    stride: usize,
    h: usize,
    w: usize,
    ty0: usize,
    ty1: usize,
}

/// Images one product takes (their tiles side by side): [`TILES_PER_PRODUCT`] tiles or more,
/// as long as they stay within [`MAX_FLOATS`]; 1 where one image's tiles are enough or too
/// many (then [`rows_per_product`] blocks them). Fixed by the shape alone, so results do not
/// depend on threads.
pub fn images_per_product(g: &Conv2dGeom) -> usize {
    let (th, tw) = tiles(g.h_in, g.w_in);
    let t = (th * tw).max(1);
    TILES_PER_PRODUCT
        .div_ceil(t)
        .min(MAX_FLOATS / (16 * g.c_in.max(g.c_out) * t))
        .max(1)
}

/// Tile rows of one image per product: all of them where products take whole images, else
/// blocks of [`TILES_PER_PRODUCT`] tiles or more (whole tile rows), within [`MAX_FLOATS`]
/// (at least one tile row).
pub fn rows_per_product(g: &Conv2dGeom) -> usize {
    let (th, tw) = tiles(g.h_in, g.w_in);
    let row = 16 * g.c_in.max(g.c_out) * tw.max(1);
    if th * tw < TILES_PER_PRODUCT && th * row <= MAX_FLOATS {
        return th.max(1);
    }
    TILES_PER_PRODUCT
        .div_ceil(tw.max(1))
        .min(MAX_FLOATS / row)
        .clamp(1, th.max(1))
}

/// Floats of the buffers Winograd's passes over `g` hold: each thread's (one product's
/// transformed input and output, a weight gradient's transformed sums) and the calling
/// thread's (the transformed weights). `None` where Winograd does not apply.
pub fn scratch_floats(g: &Conv2dGeom) -> Option<(usize, usize)> {
    if !applies(g) {
        return None;
    }
    let t = products(g, images_per_product(g))
        .map(|p| p.t)
        .max()
        .unwrap_or(0);
    let weights = 16 * g.c_in * g.c_out;
    Some((16 * (g.c_in + g.c_out) * t + weights, weights))
}

/// The products over `k` images, in order: whole images side by
/// side ([`images_per_product`] at a time) or one image's blocks of tile rows
/// ([`rows_per_product`]).
fn products(g: &Conv2dGeom, k: usize) -> impl Iterator<Item = Product> {
    let (h, w) = (g.h_in, g.w_in);
    let (th, tw) = tiles(h, w);
    let rows = rows_per_product(g);
    let blocks = th.div_ceil(rows);
    let step = if blocks == 1 {
        images_per_product(g)
    } else {
        1
    };
    (0..k).step_by(step).flat_map(move |i| {
        (0..blocks).map(move |b| {
            let (images, ty) = (i..(i + step).min(k), b * rows..((b + 1) * rows).min(th));
            let per_image = ty.len() * tw;
            Product {
                t: images.len() * per_image,
                images,
                ty,
                per_image,
                h,
                w,
            }
        })
    })
}

/// One product: its images, their tile rows `ty`, and its tiles `t` (`per_image` of each
/// image) of `h × w` planes.
struct Product {
    images: Range<usize>,
    ty: Range<usize>,
    per_image: usize,
    t: usize,
    h: usize,
    w: usize,
}

impl Product {
    /// Where image `i`'s plane `c` goes in a buffer of `stride` floats per element.
    fn place(&self, i: usize, c: usize, stride: usize) -> Place {
        Place {
            at: c * self.t + (i - self.images.start) * self.per_image,
            stride,
            h: self.h,
            w: self.w,
            ty0: self.ty.start,
            ty1: self.ty.end,
        }
    }

    /// `Bᵀ d B` of the product's tiles of every plane of the images `xs` (`[_, c, h, w]`)
    /// into `v` (`[16, c, t]`).
    fn transform_inputs(&self, v: &mut [f32], xs: &[f32], c: usize) {
        let hw = self.h * self.w;
        for i in self.images.clone() {
            for (ci, plane) in xs[i * c * hw..(i + 1) * c * hw]
                .chunks_exact(hw)
                .enumerate()
            {
                transform_input(v, self.place(i, ci, c * self.t), plane);
            }
        }
    }
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

/// The convolution of the images `xs` (`[k, cin, h, w]`, `k` = as many as `out` holds; `h × w`
/// is `g`'s plane) with the transformed weights `u` (from [`with_weights`]): `out` (`[k, cout,
/// h, w]`) is written or added to, as `write` says. `(cin, cout)` are the pass's own: the
/// layer's `(c_in, c_out)` forward, `(c_out, c_in)` for the input gradient.
pub fn conv(
    out: &mut [f32],
    xs: &[f32],
    u: &[f32],
    cin: usize,
    cout: usize,
    g: &Conv2dGeom,
    write: GradWrite,
) {
    let (h, w) = (g.h_in, g.w_in);
    let hw = h * w;
    let k = out.len() / (cout * hw);
    debug_assert!(out.len() == k * cout * hw && xs.len() >= k * cin * hw);
    for p in products(g, k) {
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
                for i in p.images.clone() {
                    let oi = &mut out[i * cout * hw..(i + 1) * cout * hw];
                    for (co, plane) in oi.chunks_exact_mut(hw).enumerate() {
                        transform_output(plane, m, p.place(i, co, cout * t), write);
                    }
                }
            });
        });
    }
}

/// The weight gradient over the images of `ds` (output gradients `[k, c_out, h, w]`, `k` = as
/// many as it holds) and `xs` (their inputs): `pw (+)= Σ dout ⋆ x` (`[c_out, c_in, 3, 3]`), as
/// `acc` says. The adjoint of [`conv`]: `dU_e [c_out, c_in] = Σ_tiles (A dY Aᵀ)_e · (Bᵀ d B)_eᵀ`,
/// summed over the products ([`products`]) in order, then `Gᵀ dU G` per kernel.
pub fn weight_grad(pw: &mut [f32], ds: &[f32], xs: &[f32], g: &Conv2dGeom, acc: bool) {
    let (cin, cout, h, w) = (g.c_in, g.c_out, g.h_in, g.w_in);
    let hw = h * w;
    let k = ds.len() / (cout * hw);
    if k == 0 {
        if !acc {
            pw.fill(0.0);
        }
        return;
    }
    par::with_scratch(&DU, 16 * cout * cin, |du| {
        for (n, p) in products(g, k).enumerate() {
            let t = p.t;
            par::with_scratch(&V, 16 * cin * t, |v| {
                par::with_scratch(&M, 16 * cout * t, |m| {
                    {
                        let _l = profile::leaf(Family::Im2col);
                        p.transform_inputs(v, xs, cin);
                        for i in p.images.clone() {
                            let di = &ds[i * cout * hw..(i + 1) * cout * hw];
                            for (co, plane) in di.chunks_exact(hw).enumerate() {
                                transform_output_grad(m, p.place(i, co, cout * t), plane);
                            }
                        }
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
        for (co, pwo) in pw.chunks_exact_mut(cin * 9).enumerate() {
            for (ci, kernel) in pwo.chunks_exact_mut(9).enumerate() {
                let d: [f32; 16] = std::array::from_fn(|e| du[(e * cout + co) * cin + ci]);
                let dk = transform_kernel_grad(&d);
                if acc {
                    for (o, v) in kernel.iter_mut().zip(dk) {
                        *o += v;
                    }
                } else {
                    kernel.copy_from_slice(&dk);
                }
            }
        }
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

/// `A dy Aᵀ` of the 2×2 tiles in rows `p.ty0..p.ty1` of one `h × w` output-gradient plane `dy`
/// (zero outside it), with
/// `A = [1 0; 1 1; 1 −1; 0 −1]`: the adjoint of [`transform_output`]; tile `j`'s element `e`
/// goes to `m[e·stride + at + j]`.
fn transform_output_grad(m: &mut [f32], p: Place, dy: &[f32]) {
    let tw = tiles(p.h, p.w).1;
    par::with_scratch(
        &PAD,
        10 * tw,
        |buf| dispatch!(active_backend() => output_grad_body(m: &mut [f32], p: Place, dy: &[f32], buf: &mut [f32]) -> ()),
    )
}

/// [`transform_output_grad`]'s loops, compiled for the widest instruction set (as
/// [`input_body`]); `buf` is scratch.
#[inline(always)]
fn output_grad_body<S: VecF32>(_: S, m: &mut [f32], p: Place, dy: &[f32], buf: &mut [f32]) {
    let Place {
        at,
        stride,
        h,
        w,
        ty0,
        ty1,
    } = p;
    let tw = tiles(h, w).1;
    // The tile row's two rows, even and odd columns apart (zero past the plane), then the four
    // rows of A·dy, each its even and odd columns.
    let [e0, o0, e1, o1, xe1, xo1, xe2, xo2, xe3, xo3]: [&mut [f32]; 10] = {
        let mut it = buf.chunks_exact_mut(tw);
        std::array::from_fn(|_| it.next().unwrap())
    };
    for ty in ty0..ty1 {
        for (r, (e, o)) in [(&mut *e0, &mut *o0), (&mut *e1, &mut *o1)]
            .into_iter()
            .enumerate()
        {
            let y = 2 * ty + r;
            if y < h {
                deinterleave(e, o, &dy[y * w..(y + 1) * w]);
            } else {
                e.fill(0.0);
                o.fill(0.0);
            }
        }
        // A dy: rows dy0, dy0 + dy1, dy0 − dy1, −dy1.
        add(xe1, e0, e1);
        add(xo1, o0, o1);
        sub(xe2, e0, e1);
        sub(xo2, o0, o1);
        neg(xe3, e1);
        neg(xo3, o1);
        // (A dy) Aᵀ: columns x0, x0 + x1, x0 − x1, −x1 of each row.
        let base = at + (ty - ty0) * tw;
        for (i, (xe, xo)) in [(&*e0, &*o0), (&*xe1, &*xo1), (&*xe2, &*xo2), (&*xe3, &*xo3)]
            .into_iter()
            .enumerate()
        {
            let row = |j: usize| (4 * i + j) * stride + base;
            m[row(0)..][..tw].copy_from_slice(xe);
            add(&mut m[row(1)..][..tw], xe, xo);
            sub(&mut m[row(2)..][..tw], xe, xo);
            neg(&mut m[row(3)..][..tw], xo);
        }
    }
}

/// `Bᵀ d B` of the tiles in rows `p.ty0..p.ty1` of one `h × w` plane, with `Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0
/// −1]`: tile `j`'s element `e` goes to `v[e·stride + at + j]`. Tile (ty, tx) reads the 4×4
/// patch from input row `2ty − 1` and column `2tx − 1`, zero outside the plane.
fn transform_input(v: &mut [f32], p: Place, plane: &[f32]) {
    let n = tiles(p.h, p.w).1 + 1;
    let rows = 2 * (p.ty1 - p.ty0) + 2;
    par::with_scratch(
        &PAD,
        2 * rows * n + 8 * n,
        |buf| dispatch!(active_backend() => input_body(v: &mut [f32], p: Place, plane: &[f32], buf: &mut [f32]) -> ()),
    )
}

/// [`transform_input`]'s loops, generic over the instruction set only so that `dispatch!`
/// compiles them for the widest one; `buf` is scratch.
#[inline(always)]
fn input_body<S: VecF32>(_: S, v: &mut [f32], p: Place, plane: &[f32], buf: &mut [f32]) {
    let Place {
        at,
        stride,
        h,
        w,
        ty0,
        ty1,
    } = p;
    let tw = tiles(h, w).1;
    // The block's input rows with a border of zeros (padded row r is input row r − 1: 1 above
    // and left, enough below and right for whole tiles; padded rows 2·ty0 to 2·ty1 + 1, of
    // 2·tw + 2 columns), their even and odd columns apart: a tile's four columns are even[tx],
    // odd[tx], even[tx + 1], odd[tx + 1], so every step below is a run of consecutive floats.
    let (ph, n) = (2 * (ty1 - ty0) + 2, tw + 1);
    {
        let (even, rest) = buf.split_at_mut(ph * n);
        let (odd, rows) = rest.split_at_mut(ph * n);
        for lr in 0..ph {
            let e = &mut even[lr * n..(lr + 1) * n];
            let o = &mut odd[lr * n..(lr + 1) * n];
            let Some(y) = (2 * ty0 + lr).checked_sub(1).filter(|&y| y < h) else {
                e.fill(0.0);
                o.fill(0.0);
                continue;
            };
            // Even columns from input column 2x − 1 (0 at x = 0), odd ones from 2x.
            e[0] = 0.0;
            deinterleave(o, &mut e[1..], &plane[y * w..(y + 1) * w]);
        }
        let [t0, t1, t2, t3, t4, t5, t6, t7]: [&mut [f32]; 8] = {
            let mut it = rows.chunks_exact_mut(n);
            std::array::from_fn(|_| it.next().unwrap())
        };
        for ty in 0..ty1 - ty0 {
            // Bᵀ d: the four rows' combinations, even and odd columns.
            for (half, [a, b, c, d]) in
                [(&*even, [&mut *t0, t1, t2, t3]), (&*odd, [t4, t5, t6, t7])]
            {
                let r = |i: usize| &half[(2 * ty + i) * n..(2 * ty + i + 1) * n];
                sub(a, r(0), r(2));
                add(b, r(1), r(2));
                sub(c, r(2), r(1));
                sub(d, r(1), r(3));
            }
            // (Bᵀ d) B: the same combinations along each tile's four columns.
            let base = at + ty * tw;
            for (i, (te, to)) in [(&*t0, &*t4), (&*t1, &*t5), (&*t2, &*t6), (&*t3, &*t7)]
                .into_iter()
                .enumerate()
            {
                let (e0, e1, o0, o1) = (&te[..tw], &te[1..], &to[..tw], &to[1..]);
                let row = |j: usize| (4 * i + j) * stride + base;
                sub(&mut v[row(0)..][..tw], e0, e1);
                add(&mut v[row(1)..][..tw], o0, e1);
                sub(&mut v[row(2)..][..tw], e1, o0);
                sub(&mut v[row(3)..][..tw], o0, o1);
            }
        }
    }
}

/// `first[x] = src[2x]`, `second[x] = src[2x + 1]`, zero past `src`.
#[inline(always)]
fn deinterleave(first: &mut [f32], second: &mut [f32], src: &[f32]) {
    let half = src.len() / 2;
    let pairs = src.chunks_exact(2);
    let last = pairs.remainder().first().copied();
    for ((f, s), p) in first[..half].iter_mut().zip(&mut second[..half]).zip(pairs) {
        *f = p[0];
        *s = p[1];
    }
    first[half..].fill(0.0);
    second[half..].fill(0.0);
    if let Some(l) = last {
        first[half] = l;
    }
}

/// `dst = −a`, element by element.
#[inline(always)]
fn neg(dst: &mut [f32], a: &[f32]) {
    for (d, a) in dst.iter_mut().zip(a) {
        *d = -a;
    }
}

/// `dst = a − b`, element by element (as many as `dst` holds).
#[inline(always)]
fn sub(dst: &mut [f32], a: &[f32], b: &[f32]) {
    for ((d, a), b) in dst.iter_mut().zip(a).zip(b) {
        *d = a - b;
    }
}

/// `dst = a + b`, element by element.
#[inline(always)]
fn add(dst: &mut [f32], a: &[f32], b: &[f32]) {
    for ((d, a), b) in dst.iter_mut().zip(a).zip(b) {
        *d = a + b;
    }
}

/// `dst = (a + b) + c`, element by element.
#[inline(always)]
fn add3(dst: &mut [f32], a: &[f32], b: &[f32], c: &[f32]) {
    for (((d, a), b), c) in dst.iter_mut().zip(a).zip(b).zip(c) {
        *d = a + b + c;
    }
}

/// `dst = (a − b) − c`, element by element.
#[inline(always)]
fn sub3(dst: &mut [f32], a: &[f32], b: &[f32], c: &[f32]) {
    for (((d, a), b), c) in dst.iter_mut().zip(a).zip(b).zip(c) {
        *d = a - b - c;
    }
}

/// `dst[2x] = a[x]`, `dst[2x + 1] = b[x]`.
#[inline(always)]
fn interleave(dst: &mut [f32], a: &[f32], b: &[f32]) {
    for ((d, a), b) in dst.chunks_exact_mut(2).zip(a).zip(b) {
        d[0] = *a;
        d[1] = *b;
    }
}

/// `Aᵀ m A` of the tiles in rows `p.ty0..p.ty1` of one `h × w` output plane, with `Aᵀ = [1 1 1 0; 0 1 −1 −1]`: tile
/// `j`'s element `e` is read from `m[e·stride + at + j]`; its 2×2 outputs are written to
/// `plane` or added to it (`write`), the parts outside the plane (odd sides) dropped.
fn transform_output(plane: &mut [f32], m: &[f32], p: Place, write: GradWrite) {
    let tw = tiles(p.h, p.w).1;
    par::with_scratch(
        &PAD,
        16 * tw,
        |rows| dispatch!(active_backend() => output_body(plane: &mut [f32], m: &[f32], p: Place, write: GradWrite, rows: &mut [f32]) -> ()),
    )
}

/// [`transform_output`]'s loops, compiled for the widest instruction set (as [`input_body`]).
#[inline(always)]
fn output_body<S: VecF32>(
    _: S,
    plane: &mut [f32],
    m: &[f32],
    p: Place,
    write: GradWrite,
    rows: &mut [f32],
) {
    let Place {
        at,
        stride,
        h,
        w,
        ty0,
        ty1,
    } = p;
    let tw = tiles(h, w).1;
    let (y0, rest) = rows.split_at_mut(2 * tw);
    let (y1, rest) = rest.split_at_mut(2 * tw);
    let [s0, s1, s2, s3, d0, d1, d2, d3, a0, a1, b0, b1]: [&mut [f32]; 12] = {
        let mut it = rest.chunks_exact_mut(tw);
        std::array::from_fn(|_| it.next().unwrap())
    };
    for ty in ty0..ty1 {
        let base = at + (ty - ty0) * tw;
        let r = |e: usize| &m[e * stride + base..][..tw];
        // Aᵀ m: two rows of four.
        for (j, (s, d)) in [(&mut *s0, &mut *d0), (s1, d1), (s2, d2), (s3, d3)]
            .into_iter()
            .enumerate()
        {
            add3(s, r(j), r(4 + j), r(8 + j));
            sub3(d, r(4 + j), r(8 + j), r(12 + j));
        }
        // (Aᵀ m) A: two columns of each.
        add3(a0, s0, s1, s2);
        sub3(a1, s1, s2, s3);
        add3(b0, d0, d1, d2);
        sub3(b1, d1, d2, d3);
        interleave(y0, a0, a1);
        interleave(y1, b0, b1);
        for (a, y) in [&*y0, &*y1].into_iter().enumerate() {
            let oy = 2 * ty + a;
            if oy < h {
                write.store(&mut plane[oy * w..(oy + 1) * w], &y[..w]);
            }
        }
    }
}
