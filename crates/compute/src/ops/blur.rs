//! Blur-and-subsample, the core of BlurPool (Zhang 2019, "Making Convolutional Networks
//! Shift-Invariant Again"): every channel is low-pass filtered with a fixed normalised binomial
//! kernel (size 3 is `[1 2 1]/4` per axis), evaluated only at every `stride`-th position, so
//! downsampling no longer aliases. The padding Zhang uses (reflect) is a separate [`super::pad`]
//! node in the graph; this op is the `valid` part.
//!
//! Shapes: x `[n, c, h_in, w_in]`, out `[n, c, h_out, w_out]` with
//! `h_out = (h_in − size) / stride + 1`.
//!
//! The kernel is separable, so the fast path filters rows first (a weighted sum of whole input
//! rows: `axpy`, SIMD) into `tmp [h_out, w_in]`, then columns with the stride (scalar, strided).
//! Backward runs the same two passes transposed. [`reference`] is the direct 2-D sum.

use crate::cpu::elementwise::Kernels;
use crate::error::Result;
use crate::par;

/// Largest supported filter: binomial coefficients of row 6 (`[1 6 15 20 15 6 1]`).
pub const MAX_BLUR_SIZE: usize = 7;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlurGeom {
    pub c: usize,
    pub h_in: usize,
    pub w_in: usize,
    pub size: usize,
    pub stride: usize,
    pub h_out: usize,
    pub w_out: usize,
}

/// The normalised 1-D binomial filter of `size` taps (sums to 1).
pub fn binomial(size: usize) -> Vec<f32> {
    let mut row = vec![1.0f64];
    for _ in 1..size {
        let mut next = vec![1.0; row.len() + 1];
        for k in 1..row.len() {
            next[k] = row[k - 1] + row[k];
        }
        row = next;
    }
    let total: f64 = row.iter().sum();
    row.iter().map(|v| (v / total) as f32).collect()
}

impl BlurGeom {
    pub fn new(input: [usize; 3], size: usize, stride: usize) -> Result<Self, String> {
        let [c, h_in, w_in] = input;
        if !(1..=MAX_BLUR_SIZE).contains(&size) {
            return Err(format!(
                "blur filter size {size} must be between 1 and {MAX_BLUR_SIZE}"
            ));
        }
        if stride == 0 || stride > 64 {
            return Err(format!("stride {stride} must be between 1 and 64"));
        }
        if size > h_in || size > w_in {
            return Err(format!(
                "blur filter {size}×{size} does not fit the {h_in}×{w_in} input"
            ));
        }
        Ok(Self {
            c,
            h_in,
            w_in,
            size,
            stride,
            h_out: (h_in - size) / stride + 1,
            w_out: (w_in - size) / stride + 1,
        })
    }
    pub fn in_len(&self) -> usize {
        self.c * self.h_in * self.w_in
    }
    pub fn out_len(&self) -> usize {
        self.c * self.h_out * self.w_out
    }
    /// Multiply-adds of the separable forward pass for one image.
    pub fn macs(&self) -> u64 {
        (self.c * self.size * (self.h_out * self.w_in + self.h_out * self.w_out)) as u64
    }
    fn check(&self, op: &'static str, x: usize, out: usize, n: usize) -> Result<()> {
        super::check_planes(op, x, out, n, self.in_len(), self.out_len())
    }
}

/// out = blur(x) sampled every `stride` cells, with the active SIMD kernels. Overwrites `out`.
pub fn blur_forward(out: &mut [f32], x: &[f32], g: &BlurGeom, n: usize) -> Result<()> {
    blur_forward_with(Kernels::active(), out, x, g, n)
}

/// dx += the adjoint of [`blur_forward`] applied to `dout`.
pub fn blur_backward(dx: &mut [f32], dout: &[f32], g: &BlurGeom, n: usize) -> Result<()> {
    blur_backward_with(Kernels::active(), dx, dout, g, n)
}

/// [`blur_forward`] on the kernels `k` (tests pin each instruction set).
pub fn blur_forward_with(
    k: Kernels,
    out: &mut [f32],
    x: &[f32],
    g: &BlurGeom,
    n: usize,
) -> Result<()> {
    g.check("blur_forward", x.len(), out.len(), n)?;
    let f = binomial(g.size);
    let (hw_in, hw_out) = (g.h_in * g.w_in, g.h_out * g.w_out);
    par::for_each_chunk_mut(out, hw_out, |p, o| {
        let plane = &x[p * hw_in..(p + 1) * hw_in];
        // Rows: tmp[oy] = Σ_k f[k] · x[oy·s + k], whole rows at a time.
        let mut tmp = vec![0.0f32; g.h_out * g.w_in];
        for (oy, t) in tmp.chunks_exact_mut(g.w_in).enumerate() {
            for (ky, &fk) in f.iter().enumerate() {
                let iy = oy * g.stride + ky;
                k.axpy(t, fk, &plane[iy * g.w_in..(iy + 1) * g.w_in]);
            }
        }
        // Columns, strided.
        for (t, orow) in tmp.chunks_exact(g.w_in).zip(o.chunks_exact_mut(g.w_out)) {
            for (ox, v) in orow.iter_mut().enumerate() {
                let win = &t[ox * g.stride..ox * g.stride + g.size];
                *v = win.iter().zip(&f).fold(0.0, |s, (a, b)| s + a * b);
            }
        }
    });
    Ok(())
}

/// [`blur_backward`] on the kernels `k`.
pub fn blur_backward_with(
    k: Kernels,
    dx: &mut [f32],
    dout: &[f32],
    g: &BlurGeom,
    n: usize,
) -> Result<()> {
    g.check("blur_backward", dx.len(), dout.len(), n)?;
    let f = binomial(g.size);
    let (hw_in, hw_out) = (g.h_in * g.w_in, g.h_out * g.w_out);
    par::for_each_chunk_mut(dx, hw_in, |p, d| {
        let dp = &dout[p * hw_out..(p + 1) * hw_out];
        // Columns transposed: dtmp[oy, ox·s + k] += f[k] · dout[oy, ox].
        let mut tmp = vec![0.0f32; g.h_out * g.w_in];
        for (t, drow) in tmp.chunks_exact_mut(g.w_in).zip(dp.chunks_exact(g.w_out)) {
            for (ox, &dv) in drow.iter().enumerate() {
                for (tv, &fk) in t[ox * g.stride..ox * g.stride + g.size].iter_mut().zip(&f) {
                    *tv += fk * dv;
                }
            }
        }
        // Rows transposed: dx[oy·s + k] += f[k] · dtmp[oy], whole rows at a time.
        for (oy, t) in tmp.chunks_exact(g.w_in).enumerate() {
            for (ky, &fk) in f.iter().enumerate() {
                let iy = oy * g.stride + ky;
                k.axpy(&mut d[iy * g.w_in..(iy + 1) * g.w_in], fk, t);
            }
        }
    });
    Ok(())
}

/// The direct 2-D filter the separable fast path is tested against.
pub mod reference {
    use super::{BlurGeom, binomial};

    pub fn blur_forward(out: &mut [f32], x: &[f32], g: &BlurGeom, n: usize) {
        let f = binomial(g.size);
        for p in 0..n * g.c {
            for oy in 0..g.h_out {
                for ox in 0..g.w_out {
                    let mut s = 0.0f64;
                    for ky in 0..g.size {
                        for kx in 0..g.size {
                            let iy = oy * g.stride + ky;
                            let ix = ox * g.stride + kx;
                            s += (f[ky] * f[kx]) as f64 * x[(p * g.h_in + iy) * g.w_in + ix] as f64;
                        }
                    }
                    out[(p * g.h_out + oy) * g.w_out + ox] = s as f32;
                }
            }
        }
    }

    pub fn blur_backward(dx: &mut [f32], dout: &[f32], g: &BlurGeom, n: usize) {
        let f = binomial(g.size);
        for p in 0..n * g.c {
            for oy in 0..g.h_out {
                for ox in 0..g.w_out {
                    let d = dout[(p * g.h_out + oy) * g.w_out + ox];
                    for ky in 0..g.size {
                        for kx in 0..g.size {
                            let iy = oy * g.stride + ky;
                            let ix = ox * g.stride + kx;
                            dx[(p * g.h_in + iy) * g.w_in + ix] += f[ky] * f[kx] * d;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::simd::Isa;
    use crate::ops::testing::{check_gradient, random, weighted_sum};
    use crate::rng::Rng;

    /// (input, size, stride, batch): tails of every SIMD width (w_in 1..=19 and 67), odd strides.
    fn cases() -> Vec<([usize; 3], usize, usize, usize)> {
        let mut v = vec![
            ([2, 9, 9], 3, 2, 2),
            ([3, 10, 7], 4, 2, 1),
            ([1, 8, 8], 5, 1, 2),
            ([2, 7, 11], 2, 3, 1),
            ([1, 5, 5], 1, 2, 1),
            ([4, 13, 67], 7, 2, 1),
        ];
        for w in 1..=19 {
            v.push(([1, 4, w], w.min(3), 2, 1));
        }
        v
    }

    #[test]
    fn binomial_filters_are_pascal_rows_that_sum_to_one() {
        assert_eq!(binomial(1), vec![1.0]);
        assert_eq!(binomial(3), vec![0.25, 0.5, 0.25]);
        assert_eq!(binomial(4), vec![0.125, 0.375, 0.375, 0.125]);
        let f = binomial(7);
        assert_eq!(f.len(), 7);
        assert!((f.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((f[3] - 20.0 / 64.0).abs() < 1e-7);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn blur_simd_matches_scalar_bitwise_and_the_direct_reference() {
        let mut rng = Rng::new(17);
        let scalar = Kernels::new(Isa::Scalar).unwrap();
        let kernels: Vec<Kernels> = Isa::ALL.iter().filter_map(|&i| Kernels::new(i)).collect();
        assert!(kernels.len() >= 2 || cfg!(not(target_arch = "x86_64")));
        for (input, size, stride, n) in cases() {
            let g = BlurGeom::new(input, size, stride).unwrap();
            let x = random(n * g.in_len(), &mut rng);
            let dout = random(n * g.out_len(), &mut rng);
            let mut want = vec![0.0; n * g.out_len()];
            blur_forward_with(scalar, &mut want, &x, &g, n).unwrap();
            let mut want_dx = vec![0.5; n * g.in_len()];
            blur_backward_with(scalar, &mut want_dx, &dout, &g, n).unwrap();
            for k in &kernels {
                let mut got = vec![f32::NAN; n * g.out_len()];
                blur_forward_with(*k, &mut got, &x, &g, n).unwrap();
                let mut got_dx = vec![0.5; n * g.in_len()];
                blur_backward_with(*k, &mut got_dx, &dout, &g, n).unwrap();
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "{:?} forward {input:?}", k.isa());
                assert_eq!(
                    bits(&got_dx),
                    bits(&want_dx),
                    "{:?} backward {input:?}",
                    k.isa()
                );
            }
            let mut direct = vec![0.0; n * g.out_len()];
            reference::blur_forward(&mut direct, &x, &g, n);
            let mut direct_dx = vec![0.5; n * g.in_len()];
            reference::blur_backward(&mut direct_dx, &dout, &g, n);
            for (a, r) in want
                .iter()
                .zip(&direct)
                .chain(want_dx.iter().zip(&direct_dx))
            {
                assert!(
                    (a - r).abs() <= 1e-5,
                    "{input:?} {size} {stride}: {a} vs {r}"
                );
            }
        }
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn blur_backward_matches_finite_difference() {
        let mut rng = Rng::new(19);
        for (input, size, stride, n) in cases().into_iter().take(6) {
            let g = BlurGeom::new(input, size, stride).unwrap();
            let x = random(n * g.in_len(), &mut rng);
            let r = random(n * g.out_len(), &mut rng);
            let mut dx = vec![0.0; x.len()];
            blur_backward(&mut dx, &r, &g, n).unwrap();
            let loss = |x: &[f32]| {
                let mut out = vec![0.0; n * g.out_len()];
                blur_forward(&mut out, x, &g, n).unwrap();
                weighted_sum(&out, &r)
            };
            check_gradient("blur dx", &x, &dx, loss, 80);
        }
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn blur_keeps_constants_and_removes_the_highest_frequency() {
        let g = BlurGeom::new([1, 6, 6], 3, 1).unwrap();
        let mut out = vec![0.0; g.out_len()];
        blur_forward(&mut out, &[2.5; 36], &g, 1).unwrap();
        assert!(out.iter().all(|v| (v - 2.5).abs() < 1e-6), "{out:?}");
        // A checkerboard (the Nyquist frequency) aliases under plain subsampling; [1 2 1]
        // filtering removes it completely.
        let board: Vec<f32> = (0..36)
            .map(|i| if (i / 6 + i % 6) % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        blur_forward(&mut out, &board, &g, 1).unwrap();
        assert!(out.iter().all(|v| v.abs() < 1e-6), "{out:?}");
    }

    #[test]
    fn blur_rejects_bad_geometry() {
        assert!(BlurGeom::new([1, 4, 4], 0, 2).is_err());
        assert!(BlurGeom::new([1, 4, 4], 8, 2).is_err());
        assert!(BlurGeom::new([1, 2, 4], 3, 2).is_err());
        assert!(BlurGeom::new([1, 4, 4], 3, 0).is_err());
        let g = BlurGeom::new([1, 4, 4], 3, 2).unwrap();
        assert!(blur_forward(&mut [0.0; 3], &[0.0; 16], &g, 1).is_err());
    }
}
