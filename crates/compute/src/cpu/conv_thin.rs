//! Direct kernels for thin convolutions: one group, stride 1, at most [`MAX_TAPS`] weights per
//! filter (a first layer on one to four channels: the lecture's conv1 is 1 × 3 × 3 = 9).
//!
//! Lowered to a matrix multiply, such a layer has an inner dimension of 9: the product cannot
//! keep a vector unit busy, and im2col writes nine copies of the image to feed it. Here each
//! image is copied once into a zero-bordered plane (`padded`), and the kernels read every tap
//! straight from it:
//!
//! - forward: for a row segment of one vector, 8 filters at once, each tap one load and 8
//!   fused multiply-adds into 8 accumulators (bias and ReLU applied before the store);
//! - weight gradient: 2 filters × 9 taps = 18 accumulators over the whole image, each segment
//!   2 loads of the output gradient, 9 of the input and 18 multiply-adds, the lanes emptied
//!   into f64 totals every ~1,024 products.
//!
//! Blocks that run past the last filter or tap compute a repeat of the last one and throw it
//! away, so every block has the same shape. Generic over the ISA token ([`VecF32`]), like the
//! element-wise kernels; the tests check them against the scalar reference convolution.
//! [`backward_weight_routed`] (a first layer's weight gradient from its max pool's windows) is
//! plain scalar code, checked against the three passes it replaces.

#![deny(unsafe_code)] // only the `dispatch!` expansion may use `unsafe`

use super::simd::{VecF32, active_backend, dispatch};
use crate::ops::conv2d::Conv2dGeom;

/// The most weights per filter these kernels take.
pub const MAX_TAPS: usize = 64;
/// Zeros after each padded row, so that a full vector load at the row's last segment stays in
/// the plane (16 lanes is the widest vector).
const SLACK: usize = 16;
/// Filters per forward block.
const CO_F: usize = 8;
/// Filters and taps per weight-gradient block.
const CO_W: usize = 2;
const TAPS_W: usize = 9;

/// Whether [`forward`] and [`backward_weight`] take this convolution.
pub fn applies(g: &Conv2dGeom) -> bool {
    g.groups == 1 && g.stride == 1 && g.c_in * g.kh * g.kw <= MAX_TAPS && g.c_in <= 4
}

/// Whether [`backward_weight`] takes this convolution's weight gradient: where [`applies`],
/// except on wasm, where im2col and the matrix multiply (the transposed product, 9 × c_out)
/// were faster in Chromium: conv1's at batch 64 in 11 ms against 14–16, cnn-gap's training
/// +4% (`bash scripts/bench-browser.sh --relaxed`). With 4 lanes, a multiply and an add per
/// product and 16 registers, the kernel's 18 accumulators (or 9, tried) ran at 9 GFLOP/s.
pub fn takes_weight_grad(g: &Conv2dGeom) -> bool {
    applies(g) && !cfg!(target_arch = "wasm32")
}

/// Floats of the padded copy of one image ([`pad_image`]).
pub fn padded_len(g: &Conv2dGeom) -> usize {
    let (hp, wp) = padded_dims(g);
    g.c_in * hp * wp
}

/// Rows and row stride of a padded plane: output rows + kernel − 1, output columns + kernel − 1
/// + slack.
fn padded_dims(g: &Conv2dGeom) -> (usize, usize) {
    (g.h_out + g.kh - 1, g.w_out + g.kw - 1 + SLACK)
}

/// Copies image `x` (`[c_in, h_in, w_in]`) into `xp` with its border: `xp[c][r][q]` is
/// `x[c][r − pad_top][q − pad_left]` where that is inside the image, else 0.
pub fn pad_image(xp: &mut [f32], x: &[f32], g: &Conv2dGeom) {
    let (hp, wp) = padded_dims(g);
    assert_eq!(xp.len(), g.c_in * hp * wp);
    assert_eq!(x.len(), g.in_len());
    xp.fill(0.0);
    for c in 0..g.c_in {
        for r in 0..hp {
            let Some(iy) = r.checked_sub(g.pad_top).filter(|&iy| iy < g.h_in) else {
                continue;
            };
            let src = &x[(c * g.h_in + iy) * g.w_in..][..g.w_in];
            let dst = &mut xp[(c * hp + r) * wp..][..wp];
            // Columns q = ix + pad_left for ix in the image, cut to the plane's used width.
            let used = g.w_out + g.kw - 1;
            let lo = g.pad_left.min(used);
            let hi = (g.pad_left + g.w_in).min(used);
            if lo < hi {
                dst[lo..hi].copy_from_slice(&src[..hi - lo]);
            }
        }
    }
}

/// Offset of each tap `(c, ky, kx)` (PyTorch's weight order) in a padded image.
fn tap_offsets(g: &Conv2dGeom) -> ([usize; MAX_TAPS], usize) {
    let (hp, wp) = padded_dims(g);
    let mut off = [0; MAX_TAPS];
    let mut t = 0;
    for c in 0..g.c_in {
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                off[t] = (c * hp + ky) * wp + kx;
                t += 1;
            }
        }
    }
    (off, t)
}

/// One image's forward: `out = conv(x, w) + b`, then ReLU if asked. `xp` is the image padded by
/// [`pad_image`]; `out` is `[c_out, h_out, w_out]`, overwritten.
pub fn forward(
    out: &mut [f32],
    xp: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    g: &Conv2dGeom,
    relu: bool,
) {
    assert!(applies(g));
    assert_eq!(out.len(), g.out_len());
    assert_eq!(xp.len(), padded_len(g));
    assert_eq!(w.len(), g.weight_len());
    if let Some(b) = b {
        assert_eq!(b.len(), g.c_out);
    }
    dispatch!(active_backend() => forward_body(out: &mut [f32], xp: &[f32], w: &[f32], b: Option<&[f32]>, g: &Conv2dGeom, relu: bool) -> ())
}

#[inline(always)]
fn forward_body<S: VecF32>(
    s: S,
    out: &mut [f32],
    xp: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    g: &Conv2dGeom,
    relu: bool,
) {
    let (_, wp) = padded_dims(g);
    let (off, taps) = tap_offsets(g);
    let plane = g.h_out * g.w_out;
    for co0 in (0..g.c_out).step_by(CO_F) {
        // The block's weights tap by tap; filters past the last repeat it, and their results
        // are not stored.
        let co = |j: usize| (co0 + j).min(g.c_out - 1);
        let mut wt = [[0.0f32; CO_F]; MAX_TAPS];
        for (t, row) in wt.iter_mut().enumerate().take(taps) {
            for (j, v) in row.iter_mut().enumerate() {
                *v = w[co(j) * taps + t];
            }
        }
        let bias: [S::V; CO_F] = std::array::from_fn(|j| s.splat(b.map_or(0.0, |b| b[co(j)])));
        let filters = CO_F.min(g.c_out - co0);
        for oy in 0..g.h_out {
            for x0 in (0..g.w_out).step_by(S::STEP) {
                let xs = &xp[oy * wp + x0..];
                let mut acc = bias;
                for (&o, wt) in off[..taps].iter().zip(&wt[..taps]) {
                    let v = s.load(&xs[o..]);
                    for j in 0..CO_F {
                        acc[j] = s.fma(s.splat(wt[j]), v, acc[j]);
                    }
                }
                for (j, &a) in acc.iter().enumerate().take(filters) {
                    let r = if relu { s.select_gt_zero(a, a) } else { a };
                    let (at, end) = ((co0 + j) * plane + oy * g.w_out + x0, (co0 + j + 1) * plane);
                    // A whole vector where it stays in the plane: lanes past the row land on
                    // the next rows, which are computed (and overwritten) later.
                    if at + S::STEP <= end {
                        s.store(&mut out[at..], r);
                    } else {
                        s.store_chunk(&mut out[at..end], r);
                    }
                }
            }
        }
    }
}

/// One image's weight gradient: `dw (+)= Σ_positions dout · x` per filter and tap, overwriting
/// `dw` unless `accumulate`. `xp` is the image padded by [`pad_image`]; `dout` is `[c_out,
/// h_out, w_out]`.
pub fn backward_weight(dw: &mut [f32], dout: &[f32], xp: &[f32], g: &Conv2dGeom, accumulate: bool) {
    assert!(applies(g));
    assert_eq!(dout.len(), g.out_len());
    assert_eq!(xp.len(), padded_len(g));
    assert_eq!(dw.len(), g.weight_len());
    dispatch!(active_backend() => backward_weight_body(dw: &mut [f32], dout: &[f32], xp: &[f32], g: &Conv2dGeom, accumulate: bool) -> ())
}

#[inline(always)]
fn backward_weight_body<S: VecF32>(
    s: S,
    dw: &mut [f32],
    dout: &[f32],
    xp: &[f32],
    g: &Conv2dGeom,
    accumulate: bool,
) {
    let (_, wp) = padded_dims(g);
    let (off, taps) = tap_offsets(g);
    let plane = g.h_out * g.w_out;
    // Segments that are whole vectors, then the last partial one (its output gradient loaded
    // zero-padded, so the input lanes past the row add nothing).
    let full = g.w_out / S::STEP * S::STEP;
    let block = (1024 * S::STEP / g.w_out).max(1);
    for co0 in (0..g.c_out).step_by(CO_W) {
        let co = |j: usize| (co0 + j).min(g.c_out - 1);
        let (d0, d1) = (
            &dout[co(0) * plane..][..plane],
            &dout[co(1) * plane..][..plane],
        );
        for t0 in (0..taps).step_by(TAPS_W) {
            let tap: [usize; TAPS_W] = std::array::from_fn(|k| off[(t0 + k).min(taps - 1)]);
            let mut acc = [s.zero(); 2 * TAPS_W];
            let mut total = [0.0f64; 2 * TAPS_W];
            for oy in 0..g.h_out {
                // The lanes are emptied into f64 totals every `block` rows, so no lane sums
                // more than about 1,024 products (a 2,050 × 2,050 image in 4 lanes would be a
                // million each, and f32 would lose the 4th digit).
                if oy % block == 0 && oy > 0 {
                    for (t, a) in total.iter_mut().zip(acc.iter_mut()) {
                        *t += s.reduce_sum(*a) as f64;
                        *a = s.zero();
                    }
                }
                let (r0, r1) = (
                    &d0[oy * g.w_out..][..g.w_out],
                    &d1[oy * g.w_out..][..g.w_out],
                );
                let xr = &xp[oy * wp..];
                let mut x0 = 0;
                while x0 < g.w_out {
                    let (a, b) = if x0 < full {
                        (s.load(&r0[x0..]), s.load(&r1[x0..]))
                    } else {
                        (s.load_partial(&r0[x0..]), s.load_partial(&r1[x0..]))
                    };
                    let xs = &xr[x0..];
                    for k in 0..TAPS_W {
                        let v = s.load(&xs[tap[k]..]);
                        acc[k] = s.fma(a, v, acc[k]);
                        acc[TAPS_W + k] = s.fma(b, v, acc[TAPS_W + k]);
                    }
                    x0 += S::STEP;
                }
            }
            for j in 0..CO_W.min(g.c_out - co0) {
                for k in 0..TAPS_W.min(taps - t0) {
                    let d = &mut dw[(co0 + j) * taps + t0 + k];
                    let a = j * TAPS_W + k;
                    let v = (total[a] + s.reduce_sum(acc[a]) as f64) as f32;
                    *d = if accumulate { *d + v } else { v };
                }
            }
        }
    }
}

/// One image's weight and bias gradients of a thin convolution whose ReLU'd output is max-pooled,
/// straight from the pool's backward: `dw (+)= Σ_windows g · x(winner + tap)` and `db (+)= Σ g`
/// over the windows whose pooled value is > 0 (the ReLU passed it), `g` the window's output
/// gradient. The same sum as [`backward_weight`] of the output gradient the pool and ReLU
/// would write (zero but at the winners), without writing or reading that gradient: a first
/// layer's is the largest of the network (cnn-gap's conv1: 32 × 62 × 62 floats an image) and
/// only one float in four can be non-zero. Per image and filter, the windows that passed are
/// listed first (no branch per window: half pass, at random), then their taps summed in f64.
/// `dy`, `pooled`, `argmax`: the image's planes of the pool (`[c_out, windows]`); `xp` the
/// image padded by [`pad_image`]; `passed` scratch of `windows + h_out·w_out`.
#[allow(clippy::too_many_arguments)]
pub fn backward_weight_routed(
    dw: &mut [f32],
    db: Option<&mut [f32]>,
    dy: &[f32],
    pooled: &[f32],
    argmax: &[u32],
    xp: &[f32],
    g: &Conv2dGeom,
    accumulate: bool,
    passed: &mut [u32],
) {
    assert!(applies(g));
    assert_eq!(xp.len(), padded_len(g));
    assert_eq!(dw.len(), g.weight_len());
    let windows = dy.len() / g.c_out.max(1);
    assert_eq!(dy.len(), g.c_out * windows);
    assert_eq!(pooled.len(), dy.len());
    assert_eq!(argmax.len(), dy.len());
    assert!(passed.len() >= windows + g.h_out * g.w_out);
    let (_, wp) = padded_dims(g);
    let (off, taps) = tap_offsets(g);
    let mut db = db;
    // The padded offset of each output cell (a winner), looked up: a division per window by the
    // output's width cost more than the window's nine multiply-adds.
    let (cells, base_of) = passed.split_at_mut(windows);
    let base_of = &mut base_of[..g.h_out * g.w_out];
    for (oy, row) in base_of.chunks_exact_mut(g.w_out.max(1)).enumerate() {
        for (ox, b) in row.iter_mut().enumerate() {
            *b = (oy * wp + ox) as u32;
        }
    }
    let passed = cells;
    for co in 0..g.c_out {
        let r = co * windows..(co + 1) * windows;
        // The windows the ReLU passed, in order.
        let mut m = 0;
        for (i, &v) in pooled[r.clone()].iter().enumerate() {
            passed[m] = i as u32;
            m += usize::from(v > 0.0);
        }
        let (dyc, amc) = (&dy[r.clone()], &argmax[r]);
        let list = &passed[..m];
        let sums = (dyc, amc, &*base_of, xp);
        // Sums of a kernel's taps (the table's offsets past them are 0: those sums are
        // thrown away) in as few registers as will hold them: 9 (3×3 on one channel), 27
        // (on three), else all 64.
        let (acc, bias) = match taps {
            ..=9 => widen(window_sums::<9>(list, sums, &off)),
            10..=27 => widen(window_sums::<27>(list, sums, &off)),
            _ => window_sums::<MAX_TAPS>(list, sums, &off),
        };
        for (d, &v) in dw[co * taps..(co + 1) * taps].iter_mut().zip(&acc[..taps]) {
            *d = if accumulate { *d + v as f32 } else { v as f32 };
        }
        if let Some(db) = db.as_deref_mut() {
            db[co] = if accumulate {
                db[co] + bias as f32
            } else {
                bias as f32
            };
        }
    }
}

/// [`window_sums`] of fewer than [`MAX_TAPS`] taps in a table of them.
fn widen<const N: usize>((a, bias): ([f64; N], f64)) -> ([f64; MAX_TAPS], f64) {
    let mut acc = [0.0f64; MAX_TAPS];
    acc[..N].copy_from_slice(&a);
    (acc, bias)
}

/// [`backward_weight_routed`]'s sums over the windows `list` of one filter: `Σ g · x(winner +
/// tap)` for the first `N` taps of `off` (the rest of a shorter table are offset 0 and unused),
/// and `Σ g`, in f64. `N` a constant so that nine sums stay in registers.
#[inline(always)]
fn window_sums<const N: usize>(
    list: &[u32],
    (dy, argmax, base_of, xp): (&[f32], &[u32], &[u32], &[f32]),
    off: &[usize; MAX_TAPS],
) -> ([f64; N], f64) {
    let mut acc = [0.0f64; N];
    let mut bias = 0.0f64;
    let off: &[usize; N] = off[..N].try_into().expect("N <= MAX_TAPS");
    for &i in list {
        let (gv, a) = (f64::from(dy[i as usize]), argmax[i as usize] as usize);
        let patch = &xp[base_of[a] as usize..];
        for (acc, &o) in acc.iter_mut().zip(off) {
            *acc += gv * f64::from(patch[o]);
        }
        bias += gv;
    }
    (acc, bias)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::Padding;
    use crate::ops::conv2d::reference;
    use crate::rng::Rng;

    fn random(n: usize, rng: &mut Rng) -> Vec<f32> {
        (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect()
    }

    /// Every shape the kernels take that has an edge: widths around the vector lengths, filters
    /// and taps not multiples of the blocks, borders, several channels.
    fn shapes() -> Vec<Conv2dGeom> {
        let mut out = Vec::new();
        for (c_in, side, c_out, k, padding) in [
            (1, 64, 32, 3, Padding::Valid),
            (1, 28, 6, 5, Padding::Same),
            (1, 9, 3, 3, Padding::Explicit(1)),
            (3, 20, 11, 3, Padding::Same),
            (2, 17, 9, 5, Padding::Explicit(2)),
            (4, 6, 1, 4, Padding::Valid),
            (1, 5, 5, 1, Padding::Valid),
            (1, 40, 16, 7, Padding::Explicit(3)),
            (3, 35, 2, 2, Padding::Valid),
        ] {
            let g = Conv2dGeom::new([c_in, side, side + 3], c_out, k, 1, padding, 1).unwrap();
            assert!(applies(&g), "{g:?}");
            out.push(g);
        }
        out
    }

    fn close(fast: &[f32], slow: &[f32], what: &str) {
        for (i, (a, b)) in fast.iter().zip(slow).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * b.abs().max(1.0),
                "{what}: element {i}: {a} vs {b}"
            );
        }
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn forward_matches_the_reference_convolution() {
        let mut rng = Rng::new(41);
        for g in shapes() {
            let x = random(g.in_len(), &mut rng);
            let w = random(g.weight_len(), &mut rng);
            let b = random(g.c_out, &mut rng);
            let mut xp = vec![f32::NAN; padded_len(&g)];
            pad_image(&mut xp, &x, &g);
            for (bias, relu) in [(Some(&b[..]), false), (Some(&b[..]), true), (None, false)] {
                let mut fast = vec![f32::NAN; g.out_len()];
                forward(&mut fast, &xp, &w, bias, &g, relu);
                let mut slow = vec![0.0; g.out_len()];
                reference::conv2d_forward(&mut slow, &x, &w, bias, &g, 1);
                if relu {
                    slow.iter_mut().for_each(|v| *v = v.max(0.0));
                }
                let case = format!("{g:?} bias={} relu={relu}", bias.is_some());
                close(&fast, &slow, &case);
            }
        }
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn weight_gradient_matches_the_reference_and_accumulates() {
        let mut rng = Rng::new(42);
        for g in shapes() {
            let x = random(g.in_len(), &mut rng);
            let dout = random(g.out_len(), &mut rng);
            let mut xp = vec![0.0; padded_len(&g)];
            pad_image(&mut xp, &x, &g);
            let start = random(g.weight_len(), &mut rng);
            let mut slow = start.clone();
            let mut db = vec![0.0; g.c_out];
            reference::conv2d_backward_weight(&mut slow, Some(&mut db), &dout, &x, &g, 1);
            let mut fast = start.clone();
            backward_weight(&mut fast, &dout, &xp, &g, true);
            close(&fast, &slow, &format!("{g:?} accumulating"));
            let mut fresh = vec![f32::NAN; g.weight_len()];
            backward_weight(&mut fresh, &dout, &xp, &g, false);
            let only: Vec<f32> = slow.iter().zip(&start).map(|(s, a)| s - a).collect();
            close(&fresh, &only, &format!("{g:?} overwriting"));
        }
    }

    /// Over a 4.2M-pixel image the sums stay within 1e-5 of an f64 reference (as f32 lanes of a
    /// million products each on simd128 they were 2e-4 off the GPU's).
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn weight_gradient_over_a_large_image_keeps_its_precision() {
        let mut rng = Rng::new(43);
        let g = Conv2dGeom::new([1, 2050, 2050], 2, 3, 1, Padding::Valid, 1).unwrap();
        let x = random(g.in_len(), &mut rng);
        let dout = random(g.out_len(), &mut rng);
        let mut xp = vec![0.0; padded_len(&g)];
        pad_image(&mut xp, &x, &g);
        let mut fast = vec![0.0; g.weight_len()];
        backward_weight(&mut fast, &dout, &xp, &g, false);
        for co in 0..g.c_out {
            for ky in 0..3 {
                for kx in 0..3 {
                    let mut exact = 0.0f64;
                    for oy in 0..g.h_out {
                        for ox in 0..g.w_out {
                            exact += dout[(co * g.h_out + oy) * g.w_out + ox] as f64
                                * x[(oy + ky) * g.w_in + ox + kx] as f64;
                        }
                    }
                    let got = fast[co * 9 + ky * 3 + kx] as f64;
                    assert!(
                        (got - exact).abs() <= 1e-5 * exact.abs().max(100.0),
                        "filter {co} tap {ky},{kx}: {got} vs {exact}"
                    );
                }
            }
        }
    }

    #[test]
    fn thick_strided_or_grouped_convolutions_are_not_taken() {
        let g = |c_in, stride, groups| {
            Conv2dGeom::new([c_in, 16, 16], 8, 3, stride, Padding::Same, groups).unwrap()
        };
        assert!(applies(&g(1, 1, 1)));
        assert!(!applies(&g(8, 1, 1)));
        assert!(!applies(&g(1, 2, 1)));
        assert!(!applies(&g(4, 1, 4)));
    }
}
