//! Exact zeros in a Winograd weight gradient: the weights of a 3×3 stride-1 convolution none of
//! whose products `dout · x` in a batch is non-zero.
//!
//! A direct or im2col weight gradient sums the products `dout[co, p] · x[ci, p + tap]`; where
//! every one of them is zero (ReLU'd, max-pooled and zero-padded planes are full of zeros) the
//! sum is exactly 0, and Adam leaves the weight where it is. Winograd's weight gradient
//! ([`super::winograd::weight_grad`]) sums transformed products that mix the nine taps, so
//! such a weight comes out as rounding noise of either sign (up to about 3e-9 in a probe at
//! gradients of 1e-2) that depends on the summation order, and Adam's first steps scale any
//! non-zero gradient up to about its learning rate: cnn-gap trained in 1 and in 2 shards ended
//! 4e-3 apart after 5 steps, against 1e-6 with the zeros restored.
//!
//! Only the weights whose Winograd gradient is tiny beside the layer's largest ([`TINY`]) can be
//! such noise; for those alone the products are checked, exactly: the bits of the non-zero
//! floats of the two planes, the input's shifted by the tap, ANDed. The planes' bits are made
//! (a vector of floats at a time, [`VecF32::nonzero_bits`]) when a pair first needs them, so a
//! dense layer costs a pass over its gradient and nothing else. In `convplay bench`'s cnn-gap
//! steps about 800 weights of conv3 a chunk of 8 images are checked, most of them zeros, and the
//! checks take about 2% of the step.

use std::cell::RefCell;

use super::elementwise;
use super::simd::{VecF32, active_backend, dispatch};
use crate::ops::conv2d::Conv2dGeom;
use crate::par;

/// A weight whose Winograd gradient is this small beside the layer's largest (in one call) may
/// be rounding noise around an exact zero and is checked. The noise measured up to 1e-8 of the
/// largest on cnn-gap and 2e-7 on resnet-mini (`convplay bench`'s steps), so the margin is 50 or
/// more; a weight above it keeps its noise (as it would without this module), never loses a
/// true value.
pub const TINY: f32 = 1e-5;

thread_local! {
    static BITS: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// The 64-bit words of [`restore_zeros`]' buffer for `k` images of `g`.
pub fn scratch_words(g: &Conv2dGeom, k: usize) -> usize {
    Planes::new(g, k).len()
}

/// Words of a bit row of `bits` bits.
fn words(bits: usize) -> usize {
    bits.div_ceil(64)
}

/// Sets to exactly 0 each weight gradient of `dk` (`[c_out, c_in, 9]`, from Winograd's sums
/// over the images of `ds` (output gradients `[k, c_out, h_out, w_out]`) and `xs` (their
/// inputs, at least `k`)) that is [`TINY`] and has no non-zero product `dout[co, oy, ox] ·
/// x[ci, oy + ky − pad_top, ox + kx − pad_left]`: what the direct sum gives it.
pub fn restore_zeros(dk: &mut [f32], ds: &[f32], xs: &[f32], g: &Conv2dGeom) {
    let tiny = TINY * elementwise::max_abs(dk);
    // An infinite gradient (a diverging step) is left as the transforms made it: restoring
    // zeros beside it could hide a NaN the direct sum would give (`inf · 0`).
    if !tiny.is_finite() || tiny <= 0.0 || g.h_out == 0 || g.w_out == 0 {
        return;
    }
    let planes = Planes::new(g, ds.len() / g.out_len().max(1));
    par::with_scratch(&BITS, planes.len(), |bits| {
        bits[planes.flags()].fill(0);
        for (pair, kernel) in dk.chunks_exact_mut(9).enumerate() {
            let open = kernel.iter().enumerate().fold(0u16, |open, (tap, v)| {
                open | u16::from(*v != 0.0 && v.abs() <= tiny) << tap
            });
            if open == 0 {
                continue;
            }
            let (co, ci) = (pair / g.c_in, pair % g.c_in);
            let reached = planes.reached(bits, co, ci, open, ds, xs, g);
            for (tap, v) in kernel.iter_mut().enumerate() {
                if open & !reached & (1 << tap) != 0 {
                    *v = 0.0;
                }
            }
        }
    });
}

/// The bits of one call's planes, in its buffer: a plane's non-zero floats, image by image, as
/// one long bit string with rows `w_out + 2` bits apart, so that a tap `(ky, kx)` is a shift of
/// the whole input plane by `ky·(w_out + 2) + kx` bits. Each output-gradient plane (`[k, dn]`
/// words), then each input plane as the outputs read it (2 more rows and columns, zero
/// outside the plane; `[k, xn]` words, room for the shift), then a flag per plane (bits made or
/// not).
struct Planes {
    k: usize,
    cout: usize,
    cin: usize,
    /// Bits from one row to the next.
    stride: usize,
    dn: usize,
    xn: usize,
}

impl Planes {
    fn new(g: &Conv2dGeom, k: usize) -> Self {
        let stride = g.w_out + 2;
        let dn = words(g.h_out * stride);
        Planes {
            k,
            cout: g.c_out,
            cin: g.c_in,
            stride,
            dn,
            // The longest shift, 2 rows and 2 bits, and a word for the bits shifted in.
            xn: dn + (2 * stride + 2) / 64 + 2,
        }
    }
    fn x_start(&self) -> usize {
        self.cout * self.k * self.dn
    }
    fn flags(&self) -> std::ops::Range<usize> {
        let start = self.x_start() + self.cin * self.k * self.xn;
        start..start + self.cout + self.cin
    }
    fn len(&self) -> usize {
        self.flags().end
    }

    /// The taps of `open` that have a non-zero product for the pair `(co, ci)`, making the two
    /// planes' bits first where they are not yet made.
    #[allow(clippy::too_many_arguments)]
    fn reached(
        &self,
        bits: &mut [u64],
        co: usize,
        ci: usize,
        open: u16,
        ds: &[f32],
        xs: &[f32],
        g: &Conv2dGeom,
    ) -> u16 {
        let (k, dn, xn) = (self.k, self.dn, self.xn);
        let flags = self.flags().start;
        let d_at = co * k * dn;
        if bits[flags + co] == 0 {
            let out = &mut bits[d_at..d_at + k * dn];
            let src = &ds[co * g.h_out * g.w_out..];
            let p = PlaneShape {
                words: dn,
                step: g.out_len(),
                width: g.w_out,
                rows: g.h_out,
                cols: g.w_out,
                at: (0, 0),
                stride: self.stride,
            };
            dispatch!(active_backend() => plane_bits(out: &mut [u64], src: &[f32], p: PlaneShape) -> ());
            bits[flags + co] = 1;
        }
        let x_at = self.x_start() + ci * k * xn;
        if bits[flags + self.cout + ci] == 0 {
            let out = &mut bits[x_at..x_at + k * xn];
            let src = &xs[ci * g.h_in * g.w_in..];
            // The rows and columns the outputs read: up to 2 past the last output's.
            let p = PlaneShape {
                words: xn,
                step: g.in_len(),
                width: g.w_in,
                rows: g.h_in.min(g.h_out + 2 - g.pad_top),
                cols: g.w_in.min(self.stride - g.pad_left),
                at: (g.pad_top, g.pad_left),
                stride: self.stride,
            };
            dispatch!(active_backend() => plane_bits(out: &mut [u64], src: &[f32], p: PlaneShape) -> ());
            bits[flags + self.cout + ci] = 1;
        }
        let mut reached = 0u16;
        for n in 0..k {
            let d = &bits[d_at + n * dn..d_at + (n + 1) * dn];
            let x = &bits[x_at + n * xn..x_at + (n + 1) * xn];
            for tap in 0..9 {
                if open & !reached & (1 << tap) != 0
                    && meets(d, x, (tap / 3) * self.stride + tap % 3)
                {
                    reached |= 1 << tap;
                }
            }
            if open & !reached == 0 {
                break;
            }
        }
        reached
    }
}

/// The bits of the `out.len() / p.words` planes of `src` ([`PlaneShape`]): in a plane's words,
/// bit `(at.0 + y)·stride + at.1 + x` set where its float `(y, x)` is not 0 (`y < rows`, `x <
/// cols`), the other bits clear.
#[inline(always)]
fn plane_bits<S: VecF32>(isa: S, out: &mut [u64], src: &[f32], p: PlaneShape) {
    for (n, plane_out) in out.chunks_exact_mut(p.words).enumerate() {
        plane_out.fill(0);
        let plane = &src[n * p.step..];
        for y in 0..p.rows {
            let row = &plane[y * p.width..y * p.width + p.cols];
            let mut b = (p.at.0 + y) * p.stride + p.at.1;
            for chunk in row.chunks(S::STEP) {
                // Lanes past the chunk load as 0: their bits are clear.
                let m = u64::from(isa.nonzero_bits(isa.load_chunk(chunk)));
                let (w, r) = (b / 64, b % 64);
                plane_out[w] |= m << r;
                if r + S::STEP > 64 && w + 1 < plane_out.len() {
                    plane_out[w + 1] |= m >> (64 - r);
                }
                b += chunk.len();
            }
        }
    }
}

/// Where [`plane_bits`] reads floats and puts their bits.
#[derive(Clone, Copy)]
struct PlaneShape {
    /// Words of one plane's bits.
    words: usize,
    /// Floats from one image's plane to the next.
    step: usize,
    /// Floats from one row to the next.
    width: usize,
    rows: usize,
    cols: usize,
    /// The bit row and column of float `(0, 0)`.
    at: (usize, usize),
    /// Bits from one row to the next.
    stride: usize,
}

/// Whether plane `d` (an output gradient's bits) meets plane `x` (an input's) shifted down by
/// `shift` bits: `d[b] & x[b + shift]` for some bit `b`.
fn meets(d: &[u64], x: &[u64], shift: usize) -> bool {
    let (q, r) = (shift / 64, shift % 64);
    d.iter().enumerate().any(|(i, &dw)| {
        let lo = x[i + q] >> r;
        let hi = if r == 0 { 0 } else { x[i + q + 1] << (64 - r) };
        dw & (lo | hi) != 0
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::Padding;
    use crate::ops::conv2d::Conv2dGeom;
    use crate::rng::Rng;

    /// The taps (bits of `[c_out, c_in]`) with a non-zero product, from the reference
    /// convolution's own multiply-adds.
    fn reference(ds: &[f32], xs: &[f32], g: &Conv2dGeom, k: usize) -> Vec<u16> {
        let mut seen = vec![0u16; g.c_out * g.c_in];
        crate::ops::conv2d::reference::each_mac(g, k, |o, xi, wi| {
            if ds[o] != 0.0 && xs[xi] != 0.0 {
                seen[wi / 9] |= 1 << (wi % 9);
            }
        });
        seen
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn tiny_gradients_without_a_product_and_only_those_become_zero() {
        let mut rng = Rng::new(5);
        // Sides across a word (62 + 2 bits, 70 + 2), valid and same, sparse and dense.
        for (c, h, w, pad, k, density) in [
            (3, 6, 6, 0, 2, 0.2f32),
            (4, 7, 9, 1, 3, 0.1),
            (2, 64, 64, 0, 1, 0.02),
            (2, 5, 72, 1, 2, 0.05),
            (3, 31, 31, 0, 2, 0.6),
            (2, 4, 4, 1, 1, 0.0),
            (3, 5, 9, 2, 2, 0.3),
        ] {
            let g = Conv2dGeom::new([c, h, w], c + 1, 3, 1, Padding::Explicit(pad), 1).unwrap();
            let mut sparse = |len: usize| -> Vec<f32> {
                (0..len)
                    .map(|_| {
                        if rng.next_f32() < density {
                            rng.uniform(-1.0, 1.0)
                        } else {
                            0.0
                        }
                    })
                    .collect()
            };
            let ds = sparse(k * g.out_len());
            let xs = sparse(k * g.in_len());
            let reached = reference(&ds, &xs, &g, k);
            // Every weight tiny but the last, whose size sets the scale; some exactly 0.
            let len = g.weight_len();
            let dk: Vec<f32> = (0..len)
                .map(|i| match i % 5 {
                    _ if i == len - 1 => 1.0,
                    0 => 0.0,
                    1 => -1e-5,
                    2 => 3e-9,
                    _ => 2e-4,
                })
                .collect();
            let mut got = dk.clone();
            restore_zeros(&mut got, &ds, &xs, &g);
            for (i, (&was, &now)) in dk.iter().zip(&got).enumerate() {
                let hit = reached[i / 9] & (1 << (i % 9)) != 0;
                let want = if hit || was.abs() > TINY { was } else { 0.0 };
                assert_eq!(now, want, "{c} {h}x{w} pad {pad}: weight {i}");
            }
        }
    }

    /// [`plane_bits`] on every instruction set this build and CPU have (the vector widths
    /// carry bits across words differently): bits at a row stride and offset, across words.
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn plane_bits_on_every_isa() {
        use crate::cpu::simd::{Backend, Isa};
        let mut rng = Rng::new(9);
        let (rows, cols, width, images) = (7, 45, 47, 2);
        let src: Vec<f32> = (0..images * rows * width)
            .map(|_| if rng.next_f32() < 0.4 { 1.0 } else { 0.0 })
            .collect();
        // Bit rows 2..9, 50 bits apart: 450 bits, 8 words.
        let p = PlaneShape {
            words: 8,
            step: rows * width,
            width,
            rows,
            cols,
            at: (2, 3),
            stride: 50,
        };
        let mut want = vec![0u64; images * p.words];
        for n in 0..images {
            for y in 0..rows {
                for x in 0..cols {
                    if src[n * p.step + y * width + x] != 0.0 {
                        let b = (p.at.0 + y) * p.stride + p.at.1 + x;
                        want[n * p.words + b / 64] |= 1 << (b % 64);
                    }
                }
            }
        }
        for isa in Isa::supported() {
            let b = Backend::new(isa).unwrap();
            let mut out = vec![u64::MAX; images * p.words];
            let (o, s) = (&mut out[..], &src[..]);
            dispatch!(b => plane_bits(o: &mut [u64], s: &[f32], p: PlaneShape) -> ());
            assert_eq!(out, want, "{}", isa.name());
        }
    }
}
