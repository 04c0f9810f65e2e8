//! Max and average pooling over square windows with stride and padding.
//!
//! Shapes: x `[n, c, h_in, w_in]`, out `[n, c, h_out, w_out]`. Max-pool keeps the index of each
//! window's maximum for backward (ties go to the first). Padded cells never win a max and are not
//! counted in an average (Keras's `same` behaviour).

use super::{GradWrite, Padding, window_axis};
use crate::cpu::simd::{VecF32, active_backend, dispatch};
use crate::error::{Error, Result};
use crate::par;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeom {
    pub c: usize,
    pub h_in: usize,
    pub w_in: usize,
    pub size: usize,
    pub stride: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub h_out: usize,
    pub w_out: usize,
}

impl PoolGeom {
    pub fn new(
        input: [usize; 3],
        size: usize,
        stride: usize,
        padding: Padding,
    ) -> Result<Self, String> {
        let [c, h_in, w_in] = input;
        if stride == 0 {
            return Err("stride must be at least 1".into());
        }
        let err = || format!("pool window {size}×{size} does not fit the {h_in}×{w_in} input");
        let (h_out, pad_top) = window_axis(h_in, size, stride, padding).ok_or_else(err)?;
        let (w_out, pad_left) = window_axis(w_in, size, stride, padding).ok_or_else(err)?;
        Ok(Self {
            c,
            h_in,
            w_in,
            size,
            stride,
            pad_top,
            pad_left,
            h_out,
            w_out,
        })
    }
    pub fn in_len(&self) -> usize {
        self.c * self.h_in * self.w_in
    }
    pub fn out_len(&self) -> usize {
        self.c * self.h_out * self.w_out
    }
    /// Input rows (or columns) covered by output row `o`: `[lo, hi)`, clipped to the input.
    fn span(&self, o: usize, pad: usize, len: usize) -> (usize, usize) {
        let start = (o * self.stride) as isize - pad as isize;
        let lo = start.max(0) as usize;
        let hi = ((start + self.size as isize).max(0) as usize).min(len);
        (lo, hi.max(lo))
    }
    /// The common 2×2, stride 2 pool whose windows lie inside the input (unpadded on every
    /// side: `same` padding of an odd side pads after, not before), which has fast paths.
    fn is_2x2(&self) -> bool {
        self.size == 2
            && self.stride == 2
            && self.pad_top == 0
            && self.pad_left == 0
            && self.h_in >= 2 * self.h_out
            && self.w_in >= 2 * self.w_out
    }
    fn check(&self, op: &'static str, x: usize, out: usize, n: usize) -> Result<()> {
        super::check_planes(op, x, out, n, self.in_len(), self.out_len())
    }

    /// [`PoolGeom::check`] plus one winner index per output element.
    pub(crate) fn check_max(
        &self,
        op: &'static str,
        x: usize,
        out: usize,
        argmax: usize,
        n: usize,
    ) -> Result<()> {
        self.check(op, x, out, n)?;
        if argmax != out {
            return Err(Error::ShapeMismatch {
                op,
                expected: format!("argmax of {out}"),
                got: argmax.to_string(),
            });
        }
        Ok(())
    }
}

/// out = max over each window; `argmax` (same length as out) gets the winning input index within
/// its image plane.
pub fn max_pool_forward(
    out: &mut [f32],
    argmax: &mut [u32],
    x: &[f32],
    g: &PoolGeom,
    n: usize,
) -> Result<()> {
    g.check_max("max_pool_forward", x.len(), out.len(), argmax.len(), n)?;
    let (hw_in, hw_out) = (g.h_in * g.w_in, g.h_out * g.w_out);
    par::for_each_chunk_pair_mut(out, hw_out, argmax, hw_out, |p, o, am| {
        max_pool_plane(o, am, &x[p * hw_in..(p + 1) * hw_in], g);
    });
    Ok(())
}

/// [`max_pool_forward`] of one plane: `o` and `am` take `h_out·w_out` elements, `plane`
/// `h_in·w_in`; each winner's index is within its plane.
pub(crate) fn max_pool_plane(o: &mut [f32], am: &mut [u32], plane: &[f32], g: &PoolGeom) {
    if g.is_2x2() {
        max_pool_2x2(o, am, plane, g);
        return;
    }
    if g.size == 3 && g.stride == 2 {
        dispatch!(active_backend() => max_pool_3x3s2_body(o: &mut [f32], am: &mut [u32], plane: &[f32], g: &PoolGeom) -> ());
        return;
    }
    for oy in 0..g.h_out {
        for ox in 0..g.w_out {
            let i = oy * g.w_out + ox;
            (o[i], am[i]) = window_max(plane, g, oy, ox);
        }
    }
}

/// The maximum of window `(oy, ox)` of `plane` and its index: the first cell, in row-major
/// order, greater than every cell before it and than −∞ (a NaN never wins); the window's first
/// cell if none is.
#[inline(always)]
fn window_max(plane: &[f32], g: &PoolGeom, oy: usize, ox: usize) -> (f32, u32) {
    let (y0, y1) = g.span(oy, g.pad_top, g.h_in);
    let (x0, x1) = g.span(ox, g.pad_left, g.w_in);
    let mut best = f32::NEG_INFINITY;
    let mut at = (y0 * g.w_in + x0) as u32;
    for iy in y0..y1 {
        for ix in x0..x1 {
            let v = plane[iy * g.w_in + ix];
            if v > best {
                best = v;
                at = (iy * g.w_in + ix) as u32;
            }
        }
    }
    (plane[at as usize], at)
}

/// `x`, or −∞ for a NaN: the key a max pool compares, under which a NaN never wins.
#[inline(always)]
fn nan_as_neg_inf(x: f32) -> f32 {
    if x > f32::NEG_INFINITY {
        x
    } else {
        f32::NEG_INFINITY
    }
}

/// The outputs `[lo, hi)` along an axis of `len` inputs (padded by `pad` before) whose windows
/// lie wholly inside the input.
fn inner(g: &PoolGeom, outs: usize, pad: usize, len: usize) -> (usize, usize) {
    if len + pad < g.size {
        return (0, 0);
    }
    let hi = ((len + pad - g.size) / g.stride + 1).min(outs);
    (pad.div_ceil(g.stride).min(hi), hi)
}

/// [`max_pool_plane`] of a 3×3, stride 2 pool (ResNet's first), any padding: the windows
/// wholly inside the input in [`Blocks`], the border's through
/// [`window_max`]. The same cells compared in the same order, so the same results.
#[inline(always)]
fn max_pool_3x3s2_body<S: VecF32>(
    _: S,
    o: &mut [f32],
    am: &mut [u32],
    plane: &[f32],
    g: &PoolGeom,
) {
    let (w, wo) = (g.w_in, g.w_out);
    let (ylo, yhi) = inner(g, g.h_out, g.pad_top, g.h_in);
    let (xlo, xhi) = inner(g, wo, g.pad_left, w);
    for oy in 0..g.h_out {
        let (orow, arow) = (&mut o[oy * wo..][..wo], &mut am[oy * wo..][..wo]);
        let (a, b) = if (ylo..yhi).contains(&oy) && xlo < xhi {
            (xlo, xhi)
        } else {
            (wo, wo)
        };
        for ox in (0..a).chain(b..wo) {
            (orow[ox], arow[ox]) = window_max(plane, g, oy, ox);
        }
        if a == b {
            continue;
        }
        let y0 = 2 * oy - g.pad_top;
        let rows = [0, 1, 2].map(|dy| &plane[(y0 + dy) * w..][..w]);
        let blocks = Blocks::new(a, b);
        let n = blocks.n;
        for at in blocks {
            let x0 = 2 * at - g.pad_left;
            let out = (&mut orow[at..], &mut arow[at..]);
            match n {
                16 => windows_3x3s2::<16>(rows, out, x0, y0, w),
                8 => windows_3x3s2::<8>(rows, out, x0, y0, w),
                _ => windows_3x3s2::<1>(rows, out, x0, y0, w),
            }
        }
    }
}

/// `N` windows of a 3×3, stride 2 pool, wholly inside the input, whose first starts at column
/// `x0` of row `y0` (`rows` are rows `y0..y0 + 3`, `w` wide), as [`window_max`] finds them.
#[inline(always)]
fn windows_3x3s2<const N: usize>(
    rows: [&[f32]; 3],
    (orow, arow): (&mut [f32], &mut [u32]),
    x0: usize,
    y0: usize,
    w: usize,
) {
    let r = rows.map(|r| &r[x0..][..2 * N + 1]);
    let (orow, arow) = (&mut orow[..N], &mut arow[..N]);
    for k in 0..N {
        let first = (y0 * w + x0 + 2 * k) as u32;
        let (mut best, mut at) = (f32::NEG_INFINITY, first);
        for (dy, row) in r.iter().enumerate() {
            for dx in 0..3 {
                let v = row[2 * k + dx];
                if v > best {
                    best = v;
                    at = first + (dy * w + dx) as u32;
                }
            }
        }
        // What `window_max` reads back at `at`: the winner, or the first cell if none won.
        orow[k] = if at == first { r[0][2 * k] } else { best };
        arow[k] = at;
    }
}

/// The common 2×2, stride 2, unpadded case of [`max_pool_forward`] on one plane, with the same
/// results as [`window_max`] (ties, NaN and −∞ included).
fn max_pool_2x2(o: &mut [f32], am: &mut [u32], plane: &[f32], g: &PoolGeom) {
    dispatch!(active_backend() => max_pool_2x2_body(o: &mut [f32], am: &mut [u32], plane: &[f32], g: &PoolGeom) -> ())
}

/// [`max_pool_2x2`]'s loops, generic over the instruction set only so that `dispatch!` compiles
/// them for the widest one. A row goes in [`Blocks`] of 16, 8 or 1 windows, whose fixed-length
/// loops vectorise (the stride-2 loads become permutes).
#[inline(always)]
fn max_pool_2x2_body<S: VecF32>(_: S, o: &mut [f32], am: &mut [u32], plane: &[f32], g: &PoolGeom) {
    let (w, wo) = (g.w_in, g.w_out);
    for oy in 0..g.h_out {
        let rows = [
            &plane[2 * oy * w..][..2 * wo],
            &plane[(2 * oy + 1) * w..][..2 * wo],
        ];
        let orow = &mut o[oy * wo..][..wo];
        let arow = &mut am[oy * wo..][..wo];
        let first = (2 * oy * w) as u32;
        let blocks = Blocks::new(0, wo);
        let n = blocks.n;
        for at in blocks {
            match n {
                16 => windows_2x2::<16>(rows, orow, arow, at, first, w as u32),
                8 => windows_2x2::<8>(rows, orow, arow, at, first, w as u32),
                _ => windows_2x2::<1>(rows, orow, arow, at, first, w as u32),
            }
        }
    }
}

/// The first windows of the blocks over a run of windows `[at, end)`, each block `n` windows:
/// 16 (runs of at least 16), 8 (8 to 15) or 1. Every block is whole; the last one ends at `end`
/// and overlaps the one before if the run is not a multiple of `n` (its windows are computed
/// twice, with the same result), so no window is left to a scalar tail. An iterator, not a
/// closure, so that it compiles inside the `dispatch!`ed bodies with their instruction set.
struct Blocks {
    at: usize,
    end: usize,
    n: usize,
}

impl Blocks {
    fn new(at: usize, end: usize) -> Self {
        let n = match end - at {
            16.. => 16,
            8.. => 8,
            _ => 1,
        };
        Blocks { at, end, n }
    }
}

impl Iterator for Blocks {
    type Item = usize;
    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        if self.at >= self.end {
            return None;
        }
        let start = self.at.min(self.end - self.n);
        self.at = start + self.n;
        Some(start)
    }
}

/// `N` windows of a 2×2 pool from window `ox` of the row pair `rows`: maxima into `orow`,
/// each winner's index in the plane into `arow` (`first` is the top row's first index, `w` the
/// input's width). As [`window_max`] finds them: a pairwise tree of strict `>` over the cells
/// with NaN read as −∞ picks the first maximum in row-major order, and a window where nothing
/// beats −∞ gives its first cell (value and index), whatever that holds.
#[inline(always)]
fn windows_2x2<const N: usize>(
    rows: [&[f32]; 2],
    orow: &mut [f32],
    arow: &mut [u32],
    ox: usize,
    first: u32,
    w: u32,
) {
    let (r0, r1) = (&rows[0][2 * ox..][..2 * N], &rows[1][2 * ox..][..2 * N]);
    let (orow, arow) = (&mut orow[ox..][..N], &mut arow[ox..][..N]);
    for k in 0..N {
        let (a, b, c, d) = (r0[2 * k], r0[2 * k + 1], r1[2 * k], r1[2 * k + 1]);
        let [ka, kb, kc, kd] = [a, b, c, d].map(nan_as_neg_inf);
        let (t, ti) = if kb > ka { (kb, 1) } else { (ka, 0) };
        let (u, ui) = if kd > kc { (kd, w + 1) } else { (kc, w) };
        let (m, i) = if u > t { (u, ui) } else { (t, ti) };
        // The winner is the first cell, or a later one whose value is `m` (not NaN, > −∞).
        orow[k] = if i == 0 { a } else { m };
        arow[k] = first + 2 * (ox + k) as u32 + i;
    }
}

/// dx += dout routed to each window's maximum (or dx =, by `write`).
pub fn max_pool_backward(
    dx: &mut [f32],
    dout: &[f32],
    argmax: &[u32],
    g: &PoolGeom,
    n: usize,
    write: GradWrite,
) -> Result<()> {
    g.check_max("max_pool_backward", dx.len(), dout.len(), argmax.len(), n)?;
    let (hw_in, hw_out) = (g.h_in * g.w_in, g.h_out * g.w_out);
    par::for_each_chunk_mut(dx, hw_in, |p, d| {
        let (dp, ap) = (
            &dout[p * hw_out..(p + 1) * hw_out],
            &argmax[p * hw_out..(p + 1) * hw_out],
        );
        write.prepare(d);
        for (g, &a) in dp.iter().zip(ap) {
            d[a as usize] += g;
        }
    });
    Ok(())
}

/// What a max pool's backward reads, for a caller that routes it through the ReLU before the
/// pool as it goes ([`crate::ops::conv2d::conv2d_backward_weight_pooled_relu`]).
#[derive(Clone, Copy)]
pub struct PoolRoute<'a> {
    /// The gradient of the pool's output.
    pub dy: &'a [f32],
    /// The pool's output: each window's winning value, the ReLU's output there.
    pub pooled: &'a [f32],
    pub argmax: &'a [u32],
    pub g: &'a PoolGeom,
}

impl PoolRoute<'_> {
    /// Checks the lengths for `n` images.
    pub(crate) fn check(&self, op: &'static str, n: usize) -> Result<()> {
        let g = self.g;
        g.check_max(op, n * g.in_len(), self.dy.len(), self.argmax.len(), n)?;
        super::same_len(op, self.dy.len(), self.pooled.len())
    }

    /// Writes over `d`, whole planes of the pool's input from plane `first` on, the gradient of
    /// the ReLU's input: [`max_pool_backward`], then 0 wherever the ReLU's output is ≤ 0. A
    /// window's winner holds the window's value, so the pooled value decides for it, and a cell
    /// no window picked gets 0 either way. The same bits as the two passes.
    pub(crate) fn write_relu_input_grad(&self, d: &mut [f32], first: usize) {
        let (hw_in, hw_out) = (self.g.h_in * self.g.w_in, self.g.h_out * self.g.w_out);
        for (j, plane) in d.chunks_exact_mut(hw_in).enumerate() {
            let r = (first + j) * hw_out..(first + j + 1) * hw_out;
            plane.fill(0.0);
            let windows = self.dy[r.clone()].iter().zip(&self.argmax[r.clone()]);
            for ((g, &a), &v) in windows.zip(&self.pooled[r]) {
                // `g` where `v > 0`, else +0 (adding it changes nothing), without a branch: half
                // of a ReLU's outputs are positive at random, and the mispredicted branch cost
                // about 3% of a cnn-gap step on one thread.
                let keep = 0u32.wrapping_sub(u32::from(v > 0.0));
                plane[a as usize] += f32::from_bits(g.to_bits() & keep);
            }
        }
    }
}

/// out = mean over each window's cells inside the input.
pub fn avg_pool_forward(out: &mut [f32], x: &[f32], g: &PoolGeom, n: usize) -> Result<()> {
    g.check("avg_pool_forward", x.len(), out.len(), n)?;
    let (hw_in, hw_out) = (g.h_in * g.w_in, g.h_out * g.w_out);
    par::for_each_chunk_mut(out, hw_out, |p, o| {
        let plane = &x[p * hw_in..(p + 1) * hw_in];
        for oy in 0..g.h_out {
            let (y0, y1) = g.span(oy, g.pad_top, g.h_in);
            for ox in 0..g.w_out {
                let (x0, x1) = g.span(ox, g.pad_left, g.w_in);
                let mut s = 0.0;
                for iy in y0..y1 {
                    s += plane[iy * g.w_in + x0..iy * g.w_in + x1]
                        .iter()
                        .sum::<f32>();
                }
                let count = ((y1 - y0) * (x1 - x0)).max(1);
                o[oy * g.w_out + ox] = s / count as f32;
            }
        }
    });
    Ok(())
}

/// dx += dout spread evenly over each window's cells (or dx =, by `write`).
pub fn avg_pool_backward(
    dx: &mut [f32],
    dout: &[f32],
    g: &PoolGeom,
    n: usize,
    write: GradWrite,
) -> Result<()> {
    g.check("avg_pool_backward", dx.len(), dout.len(), n)?;
    let (hw_in, hw_out) = (g.h_in * g.w_in, g.h_out * g.w_out);
    par::for_each_chunk_mut(dx, hw_in, |p, d| {
        write.prepare(d);
        let dp = &dout[p * hw_out..(p + 1) * hw_out];
        for oy in 0..g.h_out {
            let (y0, y1) = g.span(oy, g.pad_top, g.h_in);
            for ox in 0..g.w_out {
                let (x0, x1) = g.span(ox, g.pad_left, g.w_in);
                let count = ((y1 - y0) * (x1 - x0)).max(1);
                let share = dp[oy * g.w_out + ox] / count as f32;
                for iy in y0..y1 {
                    d[iy * g.w_in + x0..iy * g.w_in + x1]
                        .iter_mut()
                        .for_each(|v| *v += share);
                }
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{check_gradient, random, weighted_sum};
    use crate::rng::Rng;

    fn cases() -> Vec<(PoolGeom, usize)> {
        vec![
            (PoolGeom::new([2, 6, 6], 2, 2, Padding::Valid).unwrap(), 2),
            (PoolGeom::new([3, 7, 5], 2, 2, Padding::Valid).unwrap(), 1),
            (PoolGeom::new([2, 5, 5], 3, 1, Padding::Same).unwrap(), 2),
            (PoolGeom::new([1, 7, 7], 3, 2, Padding::Same).unwrap(), 3),
            (PoolGeom::new([4, 4, 4], 4, 4, Padding::Valid).unwrap(), 1),
            // PyTorch's padding: ResNet's stem pool (3×3 / 2, padding 1).
            (
                PoolGeom::new([2, 8, 7], 3, 2, Padding::Explicit(1)).unwrap(),
                2,
            ),
        ]
    }

    #[test]
    fn max_pool_picks_window_maximum() {
        let g = PoolGeom::new([1, 4, 4], 2, 2, Padding::Valid).unwrap();
        let x: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let (mut out, mut am) = (vec![0.0; 4], vec![0; 4]);
        max_pool_forward(&mut out, &mut am, &x, &g, 1).unwrap();
        assert_eq!(out, vec![5.0, 7.0, 13.0, 15.0]);
        assert_eq!(am, vec![5, 7, 13, 15]);
    }

    /// [`max_pool_forward`] of `n` images `x` gives what [`window_max`] gives window by window,
    /// bit for bit, maxima and indices.
    fn assert_pools_as_window_max(x: &[f32], g: &PoolGeom, n: usize, case: &str) {
        let (mut out, mut am) = (vec![0.0; n * g.out_len()], vec![0; n * g.out_len()]);
        max_pool_forward(&mut out, &mut am, x, g, n).unwrap();
        let (hw_in, hw_out) = (g.h_in * g.w_in, g.h_out * g.w_out);
        for p in 0..n * g.c {
            let plane = &x[p * hw_in..(p + 1) * hw_in];
            for oy in 0..g.h_out {
                for ox in 0..g.w_out {
                    let o = p * hw_out + oy * g.w_out + ox;
                    let (v, at) = window_max(plane, g, oy, ox);
                    assert_eq!(
                        (out[o].to_bits(), am[o]),
                        (v.to_bits(), at),
                        "{case} plane {p} at {oy},{ox}"
                    );
                }
            }
        }
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn max_pool_2x2_fast_path_matches_each_window_with_ties_nan_and_odd_sizes() {
        let mut rng = Rng::new(21);
        // Rows of 1 to 35 windows: blocks of 16 and of 8, whole and overlapping the last.
        let sizes = [
            (2, 2),
            (7, 5),
            (62, 62),
            (29, 29),
            (3, 8),
            (4, 32),
            (5, 33),
            (2, 16),
            (3, 70),
        ];
        // Mode 0: coarse values (ties); 1: with NaN and −∞ as well; 2: only NaN and −∞.
        for (&(h, w), mode) in sizes.iter().flat_map(|s| [(s, 0), (s, 1), (s, 2)]) {
            let g = PoolGeom::new([3, h, w], 2, 2, Padding::Valid).unwrap();
            assert!(g.is_2x2());
            let x: Vec<f32> = (0..2 * g.in_len())
                .map(|_| match (mode, rng.below(6)) {
                    (0, v) => (v % 4) as f32 - 1.0,
                    (_, 0) => f32::NAN,
                    (_, 1) => f32::NEG_INFINITY,
                    (1, v) => v as f32 - 3.0,
                    (_, v) => [f32::NAN, f32::NEG_INFINITY][v as usize % 2],
                })
                .collect();
            assert_pools_as_window_max(&x, &g, 2, &format!("{h}x{w} mode {mode}"));
        }
    }

    /// The 3×3, stride 2 path against [`window_max`] window by window, on planes of coarse
    /// values (ties) with NaNs and −∞ (which never win), `same`, `valid` and explicit padding
    /// of 1 and 2, sides of 1 to 112 (inner runs of 0 to 55 windows: blocks of 16 and 8, whole
    /// and overlapping).
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn max_pool_3x3_stride_2_matches_each_window() {
        let mut rng = Rng::new(5);
        for &(h, w) in &[
            (3, 3),
            (4, 5),
            (9, 17),
            (33, 33),
            (20, 40),
            (112, 112),
            (7, 81),
            (1, 1),
            (2, 5),
            (1, 40),
            (5, 2),
        ] {
            let paddings = [
                (Padding::Same, 0),
                (Padding::Valid, 0),
                (Padding::Explicit(1), 0),
                (Padding::Explicit(2), 0),
                // Mode 1 draws only NaN and −∞: windows where nothing wins.
                (Padding::Same, 1),
            ];
            for (padding, mode) in paddings {
                let Ok(g) = PoolGeom::new([2, h, w], 3, 2, padding) else {
                    continue;
                };
                let x: Vec<f32> = (0..2 * g.in_len())
                    .map(|_| match rng.below(12) % (12 - 10 * mode) {
                        0 => f32::NAN,
                        1 => f32::NEG_INFINITY,
                        v => (v % 4) as f32 - 1.0,
                    })
                    .collect();
                assert_pools_as_window_max(&x, &g, 2, &format!("{h}x{w} {padding:?}"));
            }
        }
    }

    #[test]
    fn avg_pool_same_excludes_padding() {
        let g = PoolGeom::new([1, 3, 3], 3, 1, Padding::Same).unwrap();
        let x = vec![1.0; 9];
        let mut out = vec![0.0; 9];
        avg_pool_forward(&mut out, &x, &g, 1).unwrap();
        assert!(out.iter().all(|v| (v - 1.0).abs() < 1e-6), "{out:?}");
    }

    #[test]
    fn max_pool_backward_matches_finite_difference() {
        let mut rng = Rng::new(2);
        for (g, n) in cases() {
            let x = random(n * g.in_len(), &mut rng);
            let r = random(n * g.out_len(), &mut rng);
            let loss = |x: &[f32]| {
                let (mut out, mut am) = (vec![0.0; n * g.out_len()], vec![0; n * g.out_len()]);
                max_pool_forward(&mut out, &mut am, x, &g, n).unwrap();
                weighted_sum(&out, &r)
            };
            let (mut out, mut am) = (vec![0.0; n * g.out_len()], vec![0; n * g.out_len()]);
            max_pool_forward(&mut out, &mut am, &x, &g, n).unwrap();
            let mut dx = vec![0.0; x.len()];
            max_pool_backward(&mut dx, &r, &am, &g, n, GradWrite::Add).unwrap();
            // Random inputs are at least ~1e-3 apart almost surely; a smaller step keeps the
            // maximum from switching, so use the exact derivative check on the route instead.
            let mut fd_ok = 0;
            for i in 0..x.len() {
                let mut p = x.clone();
                p[i] += 1e-3;
                let up = loss(&p);
                p[i] -= 2e-3;
                let down = loss(&p);
                let fd = (up - down) / 2e-3;
                if (fd - dx[i] as f64).abs() <= 2e-2 * (1f64).max(fd.abs()) {
                    fd_ok += 1;
                }
            }
            assert!(fd_ok as f64 >= 0.97 * x.len() as f64, "{fd_ok}/{}", x.len());
        }
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn avg_pool_backward_matches_finite_difference() {
        let mut rng = Rng::new(3);
        for (g, n) in cases() {
            let x = random(n * g.in_len(), &mut rng);
            let r = random(n * g.out_len(), &mut rng);
            let loss = |x: &[f32]| {
                let mut out = vec![0.0; n * g.out_len()];
                avg_pool_forward(&mut out, x, &g, n).unwrap();
                weighted_sum(&out, &r)
            };
            let mut dx = vec![0.0; x.len()];
            avg_pool_backward(&mut dx, &r, &g, n, GradWrite::Add).unwrap();
            check_gradient("avg_pool dx", &x, &dx, loss, 200);
        }
    }

    #[test]
    fn pool_rejects_window_larger_than_input() {
        assert!(PoolGeom::new([1, 2, 2], 3, 1, Padding::Valid).is_err());
        assert!(PoolGeom::new([1, 2, 2], 2, 0, Padding::Valid).is_err());
    }
}
