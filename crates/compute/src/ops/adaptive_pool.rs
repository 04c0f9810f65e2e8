//! Adaptive average pooling (PyTorch's `AdaptiveAvgPool2d`): a fixed `h_out × w_out` output from
//! any input size. Output row `o` averages input rows `[⌊o·h_in/h_out⌋, ⌈(o+1)·h_in/h_out⌉)`, and
//! columns alike, so bins may overlap (7 → 6) or repeat one cell (1 → 6). AlexNet and VGG put it
//! before their classifier so that inputs other than 224×224 still give 6×6 / 7×7 maps.

use crate::error::Result;
use crate::par;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdaptivePoolGeom {
    pub c: usize,
    pub h_in: usize,
    pub w_in: usize,
    pub h_out: usize,
    pub w_out: usize,
}

/// Input cells `[lo, hi)` of output cell `o` along an axis of `len_in` cells pooled to `len_out`.
pub fn bin(o: usize, len_in: usize, len_out: usize) -> (usize, usize) {
    ((o * len_in) / len_out, ((o + 1) * len_in).div_ceil(len_out))
}

/// Output cells `[lo, hi)` whose bins hold input cell `i` (the inverse of [`bin`]).
pub fn covering(i: usize, len_in: usize, len_out: usize) -> (usize, usize) {
    (
        (i * len_out) / len_in,
        ((i + 1) * len_out).div_ceil(len_in).min(len_out),
    )
}

impl AdaptivePoolGeom {
    pub fn new(input: [usize; 3], h_out: usize, w_out: usize) -> Result<Self, String> {
        let [c, h_in, w_in] = input;
        if h_out == 0 || w_out == 0 || h_out > 4096 || w_out > 4096 {
            return Err(format!(
                "output size {h_out}×{w_out} must be between 1×1 and 4096×4096"
            ));
        }
        Ok(Self {
            c,
            h_in,
            w_in,
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
    /// Input cells summed for one image: every output cell's bin.
    pub fn adds(&self) -> u64 {
        let rows: usize = (0..self.h_out)
            .map(|o| {
                let (a, b) = bin(o, self.h_in, self.h_out);
                b - a
            })
            .sum();
        let cols: usize = (0..self.w_out)
            .map(|o| {
                let (a, b) = bin(o, self.w_in, self.w_out);
                b - a
            })
            .sum();
        (self.c * rows * cols) as u64
    }
    fn check(&self, op: &'static str, x: usize, out: usize, n: usize) -> Result<()> {
        super::check_planes(op, x, out, n, self.in_len(), self.out_len())
    }
}

/// out = the mean of each output cell's bin.
pub fn adaptive_avg_pool_forward(
    out: &mut [f32],
    x: &[f32],
    g: &AdaptivePoolGeom,
    n: usize,
) -> Result<()> {
    g.check("adaptive_avg_pool_forward", x.len(), out.len(), n)?;
    let (hw_in, hw_out) = (g.h_in * g.w_in, g.h_out * g.w_out);
    par::for_each_chunk_mut(out, hw_out, |p, o| {
        let plane = &x[p * hw_in..(p + 1) * hw_in];
        for oy in 0..g.h_out {
            let (y0, y1) = bin(oy, g.h_in, g.h_out);
            for ox in 0..g.w_out {
                let (x0, x1) = bin(ox, g.w_in, g.w_out);
                let mut s = 0.0;
                for iy in y0..y1 {
                    s += plane[iy * g.w_in + x0..iy * g.w_in + x1]
                        .iter()
                        .sum::<f32>();
                }
                o[oy * g.w_out + ox] = s / ((y1 - y0) * (x1 - x0)) as f32;
            }
        }
    });
    Ok(())
}

/// dx += each output cell's gradient spread evenly over its bin (one thread per input plane; a
/// cell in two bins gets both shares).
pub fn adaptive_avg_pool_backward(
    dx: &mut [f32],
    dout: &[f32],
    g: &AdaptivePoolGeom,
    n: usize,
) -> Result<()> {
    g.check("adaptive_avg_pool_backward", dx.len(), dout.len(), n)?;
    let (hw_in, hw_out) = (g.h_in * g.w_in, g.h_out * g.w_out);
    par::for_each_chunk_mut(dx, hw_in, |p, d| {
        let dp = &dout[p * hw_out..(p + 1) * hw_out];
        for oy in 0..g.h_out {
            let (y0, y1) = bin(oy, g.h_in, g.h_out);
            for ox in 0..g.w_out {
                let (x0, x1) = bin(ox, g.w_in, g.w_out);
                let share = dp[oy * g.w_out + ox] / ((y1 - y0) * (x1 - x0)) as f32;
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

    fn cases() -> Vec<(AdaptivePoolGeom, usize)> {
        [
            ([2, 7, 7], 6, 6),   // overlapping bins (AlexNet at 224: 6×6 stays; at 227: 7 → 6)
            ([3, 13, 10], 7, 7), // uneven
            ([2, 1, 1], 6, 6),   // one cell repeated (AlexNet's 1×1 map at small input)
            ([1, 5, 3], 2, 4),   // grows one axis, shrinks the other
            ([2, 4, 4], 4, 4),   // identity
            ([2, 9, 6], 3, 3),   // even bins: plain 3×3 / 2×2 average pooling
        ]
        .into_iter()
        .map(|(input, h, w)| (AdaptivePoolGeom::new(input, h, w).unwrap(), 2))
        .collect()
    }

    #[test]
    fn bins_follow_pytorch() {
        // torch.nn.functional.adaptive_avg_pool2d's start/end indices.
        let bins: Vec<_> = (0..6).map(|o| bin(o, 7, 6)).collect();
        assert_eq!(bins, [(0, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7)]);
        let bins: Vec<_> = (0..6).map(|o| bin(o, 1, 6)).collect();
        assert_eq!(bins, [(0, 1); 6]);
        let bins: Vec<_> = (0..3).map(|o| bin(o, 10, 3)).collect();
        assert_eq!(bins, [(0, 4), (3, 7), (6, 10)]);
        // covering is bin's inverse.
        for (len_in, len_out) in [(7, 6), (1, 6), (10, 3), (13, 7), (5, 5), (3, 8)] {
            for i in 0..len_in {
                let (lo, hi) = covering(i, len_in, len_out);
                let want: Vec<usize> = (0..len_out)
                    .filter(|&o| {
                        let (a, b) = bin(o, len_in, len_out);
                        (a..b).contains(&i)
                    })
                    .collect();
                assert_eq!(
                    (lo..hi).collect::<Vec<_>>(),
                    want,
                    "{i} of {len_in}→{len_out}"
                );
            }
        }
    }

    #[test]
    fn forward_averages_each_bin() {
        // 1 → 6: every output is the one input.
        let g = AdaptivePoolGeom::new([1, 1, 1], 6, 6).unwrap();
        let mut out = vec![0.0; 36];
        adaptive_avg_pool_forward(&mut out, &[2.5], &g, 1).unwrap();
        assert!(out.iter().all(|&v| v == 2.5));
        // 3×3 → 2×2: bins [0, 2) and [1, 3) on each axis.
        let g = AdaptivePoolGeom::new([1, 3, 3], 2, 2).unwrap();
        let x: Vec<f32> = (0..9).map(|v| v as f32).collect();
        let mut out = vec![0.0; 4];
        adaptive_avg_pool_forward(&mut out, &x, &g, 1).unwrap();
        assert_eq!(out, [2.0, 3.0, 5.0, 6.0]);
        // Identity size gives the input back.
        let g = AdaptivePoolGeom::new([2, 4, 4], 4, 4).unwrap();
        let x = random(32, &mut Rng::new(1));
        let mut out = vec![0.0; 32];
        adaptive_avg_pool_forward(&mut out, &x, &g, 1).unwrap();
        assert_eq!(out, x);
        assert!(adaptive_avg_pool_forward(&mut out[..31], &x, &g, 1).is_err());
        assert!(AdaptivePoolGeom::new([1, 3, 3], 0, 2).is_err());
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn backward_matches_finite_difference() {
        let mut rng = Rng::new(5);
        for (g, n) in cases() {
            let x = random(n * g.in_len(), &mut rng);
            let r = random(n * g.out_len(), &mut rng);
            let loss = |x: &[f32]| {
                let mut out = vec![0.0; n * g.out_len()];
                adaptive_avg_pool_forward(&mut out, x, &g, n).unwrap();
                weighted_sum(&out, &r)
            };
            let mut dx = vec![0.0; x.len()];
            adaptive_avg_pool_backward(&mut dx, &r, &g, n).unwrap();
            check_gradient("adaptive_avg_pool dx", &x, &dx, loss, 200);
        }
    }
}
