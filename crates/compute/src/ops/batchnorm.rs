//! Batch normalisation over `[n, c, h, w]` per channel (a dense output is `[n, c, 1, 1]`), with
//! PyTorch's conventions: biased batch variance to normalise, unbiased variance into the running
//! estimate, `running = (1 − momentum)·running + momentum·batch`.
//!
//! Training normalises with the batch's statistics and keeps (mean, 1/σ) per channel for backward;
//! evaluation uses the running statistics.

use crate::cpu::elementwise;
use crate::cpu::simd::{VecF32, active_backend, dispatch};
use crate::error::{Error, Result};
use crate::ops::GradWrite;
use crate::par::{self, ChannelPlanes};

thread_local! {
    /// Backward's per-channel sums, reused from call to call.
    static SUMS: std::cell::RefCell<Vec<(f32, f32)>> = const { std::cell::RefCell::new(Vec::new()) };
    /// The evaluation forward's per-channel scale and shift, likewise.
    static COEF: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
    /// The training forward's per-channel statistics and unbiased variance, likewise.
    static BATCH: std::cell::RefCell<Vec<(ChannelStats, f64)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// One channel's batch statistics, kept by the training forward for backward.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ChannelStats {
    pub mean: f32,
    pub inv_std: f32,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormGeom {
    pub c: usize,
    /// h·w
    pub plane: usize,
    pub eps: f32,
    pub momentum: f32,
}

impl BatchNormGeom {
    fn check(&self, op: &'static str, x: usize, n: usize, params: &[usize]) -> Result<()> {
        if x != n * self.c * self.plane || params.iter().any(|&p| p != self.c) {
            return Err(Error::ShapeMismatch {
                op,
                expected: format!(
                    "x of {} floats, per-channel params of {}",
                    n * self.c * self.plane,
                    self.c
                ),
                got: format!("x {x}, params {params:?}"),
            });
        }
        Ok(())
    }

    /// Calls `f` with channel `ch`'s planes of every image.
    fn planes<'a>(&self, x: &'a [f32], ch: usize) -> impl Iterator<Item = &'a [f32]> + 'a {
        let (c, p) = (self.c, self.plane);
        x.chunks_exact(c * p)
            .map(move |img| &img[ch * p..(ch + 1) * p])
    }
}

/// Training forward: y = γ·(x − μ_B)/σ_B + β; updates the running statistics; fills `stats`.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_forward_train(
    y: &mut [f32],
    stats: &mut [ChannelStats],
    running_mean: &mut [f32],
    running_var: &mut [f32],
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    g: &BatchNormGeom,
    n: usize,
) -> Result<()> {
    g.check(
        "batchnorm_forward_train",
        x.len(),
        n,
        &[
            stats.len(),
            running_mean.len(),
            running_var.len(),
            gamma.len(),
            beta.len(),
        ],
    )?;
    if y.len() != x.len() {
        return Err(Error::ShapeMismatch {
            op: "batchnorm_forward_train",
            expected: x.len().to_string(),
            got: y.len().to_string(),
        });
    }
    // Channel by channel on every core: each task reads its channel's planes of every image
    // for the mean, again for the variance, and a third time to write the output, the second
    // and third time from cache (a channel's planes of a batch are 400 KB for ResNet's 56×56
    // layers at batch 32), instead of the output in a pass over the whole batch of its own.
    let m = (n * g.plane) as f64;
    par::with_scratch(&BATCH, g.c, |batch| {
        par::for_each_channel_mut(y, g.c, g.plane, batch, |ch, b, mut ys| {
            let (ys, gb) = (&mut ys, (gamma[ch], beta[ch]));
            *b = dispatch!(active_backend() => forward_channel(
                ys: &mut ChannelPlanes, x: &[f32], g: &BatchNormGeom, ch: usize, m: f64,
                gb: (f32, f32)
            ) -> (ChannelStats, f64));
        });
        for (ch, &(st, unbiased)) in batch.iter().enumerate() {
            stats[ch] = st;
            let (rm, rv) = (&mut running_mean[ch], &mut running_var[ch]);
            *rm = (1.0 - g.momentum) * *rm + g.momentum * st.mean;
            *rv = (1.0 - g.momentum) * *rv + g.momentum * unbiased as f32;
        }
    });
    Ok(())
}

/// One channel of [`batchnorm_forward_train`] over `m` values (images × plane): its statistics,
/// the unbiased variance, and its planes of `y` (`ys`) with `gb = (γ, β)`. Generic over the instruction set only so that
/// `dispatch!` compiles it for the widest one: the f64 sums in plain Rust vectorise to 2 lanes
/// on the x86_64 baseline and to 8 under AVX-512, with the same bits (no reassociation, no
/// fused multiply-add).
#[inline(always)]
fn forward_channel<S: VecF32>(
    _: S,
    ys: &mut ChannelPlanes,
    x: &[f32],
    g: &BatchNormGeom,
    ch: usize,
    m: f64,
    (gamma, beta): (f32, f32),
) -> (ChannelStats, f64) {
    let mean = channel_sum(g.planes(x, ch), |v| v as f64) / m;
    let ss = channel_sum(g.planes(x, ch), |v| (v as f64 - mean).powi(2));
    let var = ss / m;
    let inv_std = 1.0 / (var + g.eps as f64).sqrt();
    let st = ChannelStats {
        mean: mean as f32,
        inv_std: inv_std as f32,
    };
    let scale = gamma * st.inv_std;
    let shift = beta - gamma * st.inv_std * st.mean;
    for (i, xp) in g.planes(x, ch).enumerate() {
        ys.plane(i)
            .iter_mut()
            .zip(xp)
            .for_each(|(a, b)| *a = b * scale + shift);
    }
    (st, if m > 1.0 { ss / (m - 1.0) } else { var })
}

/// Σ f(v) over a channel's planes in f64: each plane in 8 lanes (which the compiler keeps in
/// vector registers) added in lane order, then the planes in image order, so the sum does not
/// depend on the thread count.
#[inline(always)]
fn channel_sum<'a>(planes: impl Iterator<Item = &'a [f32]>, f: impl Fn(f32) -> f64) -> f64 {
    let mut total = 0.0;
    for p in planes {
        let mut acc = [0.0f64; 8];
        let mut it = p.chunks_exact(8);
        for c in &mut it {
            for k in 0..8 {
                acc[k] += f(c[k]);
            }
        }
        let mut s: f64 = acc.iter().sum();
        for &v in it.remainder() {
            s += f(v);
        }
        total += s;
    }
    total
}

/// Evaluation forward with the running statistics.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_forward_eval(
    y: &mut [f32],
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    running_mean: &[f32],
    running_var: &[f32],
    g: &BatchNormGeom,
    n: usize,
) -> Result<()> {
    g.check(
        "batchnorm_forward_eval",
        x.len(),
        n,
        &[
            gamma.len(),
            beta.len(),
            running_mean.len(),
            running_var.len(),
        ],
    )?;
    apply(y, x, g, |ch| {
        let scale = gamma[ch] / (running_var[ch] + g.eps).sqrt();
        (scale, beta[ch] - scale * running_mean[ch])
    });
    Ok(())
}

/// y = x·scale(ch) + shift(ch).
fn apply(y: &mut [f32], x: &[f32], g: &BatchNormGeom, coef: impl Fn(usize) -> (f32, f32)) {
    // The channels' coefficients once, into this thread's reused buffer; then image by image on
    // every core with the SIMD kernel (a multiply, then an add: the same bits as plain code).
    let len = g.c * g.plane;
    par::with_scratch(&COEF, 2 * g.c, |buf| {
        let (scale, shift) = buf.split_at_mut(g.c);
        for (ch, (a, b)) in scale.iter_mut().zip(shift.iter_mut()).enumerate() {
            (*a, *b) = coef(ch);
        }
        let (scale, shift) = (&*scale, &*shift);
        par::for_each_chunk_mut(y, len, |i, yi| {
            let xi = &x[i * len..(i + 1) * len];
            elementwise::affine_channels(yi, xi, scale, shift, g.plane);
        });
    });
}

/// dx += ∂L/∂x (or dx =, by `write`), dγ += Σ dy·x̂, dβ += Σ dy, for a training-mode forward
/// with batch `stats`.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_backward(
    dx: &mut [f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
    dy: &[f32],
    x: &[f32],
    gamma: &[f32],
    stats: &[ChannelStats],
    g: &BatchNormGeom,
    n: usize,
    write: GradWrite,
) -> Result<()> {
    g.check(
        "batchnorm_backward",
        x.len(),
        n,
        &[dgamma.len(), dbeta.len(), gamma.len(), stats.len()],
    )?;
    if dx.len() != x.len() || dy.len() != x.len() {
        return Err(Error::ShapeMismatch {
            op: "batchnorm_backward",
            expected: x.len().to_string(),
            got: format!("dx {}, dy {}", dx.len(), dy.len()),
        });
    }
    // Channel by channel on every core: (Σ dy, Σ dy·x̂) into this thread's reused buffer, then
    // the channel's dx while its dy and x are in cache.
    let m = (n * g.plane) as f32;
    let sums_and_dx = |buf: &mut [(f32, f32)], dx: &mut [f32]| {
        par::for_each_channel_mut(dx, g.c, g.plane, buf, |ch, s, mut dxs| {
            let (dxs, st, gamma) = (&mut dxs, stats[ch], gamma[ch]);
            *s = dispatch!(active_backend() => backward_channel(
                dxs: &mut ChannelPlanes, dy: &[f32], x: &[f32], g: &BatchNormGeom, ch: usize,
                m: f32, st: ChannelStats, gamma: f32, write: GradWrite
            ) -> (f32, f32));
        });
    };
    par::with_scratch(&SUMS, g.c, |buf| {
        sums_and_dx(buf, dx);
        for (ch, &(sum_dy, sum_dy_xhat)) in buf.iter().enumerate() {
            dbeta[ch] += sum_dy;
            dgamma[ch] += sum_dy_xhat;
        }
    });
    Ok(())
}

/// One channel of [`batchnorm_backward`] over `m` values (images × plane): (Σ dy, Σ dy·x̂),
/// and its planes of dx (`dxs`).
/// Generic over the instruction set for the reason [`forward_channel`] gives.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_channel<S: VecF32>(
    _: S,
    dxs: &mut ChannelPlanes,
    dy: &[f32],
    x: &[f32],
    g: &BatchNormGeom,
    ch: usize,
    m: f32,
    st: ChannelStats,
    gamma: f32,
    write: GradWrite,
) -> (f32, f32) {
    let mut total = (0.0f64, 0.0f64);
    for (dp, xp) in g.planes(dy, ch).zip(g.planes(x, ch)) {
        let (mut a, mut b) = ([0.0f64; 8], [0.0f64; 8]);
        let (mut dc, mut xc) = (dp.chunks_exact(8), xp.chunks_exact(8));
        for (d, v) in (&mut dc).zip(&mut xc) {
            for k in 0..8 {
                a[k] += d[k] as f64;
                b[k] += (d[k] * (v[k] - st.mean) * st.inv_std) as f64;
            }
        }
        let (mut sa, mut sb): (f64, f64) = (a.iter().sum(), b.iter().sum());
        for (d, v) in dc.remainder().iter().zip(xc.remainder()) {
            sa += *d as f64;
            sb += (*d * (v - st.mean) * st.inv_std) as f64;
        }
        total.0 += sa;
        total.1 += sb;
    }
    let (sum_dy, sum_dy_xhat) = (total.0 as f32, total.1 as f32);
    let k = gamma * st.inv_std / m;
    for (i, (dp, xp)) in g.planes(dy, ch).zip(g.planes(x, ch)).enumerate() {
        for ((d, gy), v) in dxs.plane(i).iter_mut().zip(dp).zip(xp) {
            let xhat = (v - st.mean) * st.inv_std;
            let v = k * (m * gy - sum_dy - xhat * sum_dy_xhat);
            *d = if write == GradWrite::Add { *d + v } else { v };
        }
    }
    (sum_dy, sum_dy_xhat)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{check_gradient, random, weighted_sum};
    use crate::rng::Rng;

    fn forward(
        x: &[f32],
        gamma: &[f32],
        beta: &[f32],
        g: &BatchNormGeom,
        n: usize,
    ) -> (Vec<f32>, Vec<ChannelStats>) {
        let mut y = vec![0.0; x.len()];
        let mut stats = vec![ChannelStats::default(); g.c];
        let (mut rm, mut rv) = (vec![0.0; g.c], vec![1.0; g.c]);
        batchnorm_forward_train(&mut y, &mut stats, &mut rm, &mut rv, x, gamma, beta, g, n)
            .unwrap();
        (y, stats)
    }

    #[test]
    fn batchnorm_train_output_is_normalised_per_channel() {
        let mut rng = Rng::new(10);
        let g = BatchNormGeom {
            c: 3,
            plane: 10,
            eps: 1e-5,
            momentum: 0.1,
        };
        let x: Vec<f32> = random(4 * 30, &mut rng)
            .iter()
            .map(|v| 3.0 * v + 2.0)
            .collect();
        let (y, _) = forward(&x, &[1.0; 3], &[0.0; 3], &g, 4);
        for ch in 0..3 {
            let vals: Vec<f32> = g.planes(&y, ch).flatten().copied().collect();
            let mean = vals.iter().sum::<f32>() / vals.len() as f32;
            let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / vals.len() as f32;
            assert!(
                mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-3,
                "{mean} {var}"
            );
        }
    }

    #[test]
    fn batchnorm_running_statistics_follow_pytorch() {
        let g = BatchNormGeom {
            c: 1,
            plane: 2,
            eps: 1e-5,
            momentum: 0.1,
        };
        let x = [1.0, 3.0, 5.0, 7.0]; // mean 4, unbiased var 20/3
        let (mut y, mut stats, mut rm, mut rv) = (
            vec![0.0; 4],
            vec![ChannelStats::default()],
            vec![0.0],
            vec![1.0],
        );
        batchnorm_forward_train(
            &mut y,
            &mut stats,
            &mut rm,
            &mut rv,
            &x,
            &[1.0],
            &[0.0],
            &g,
            2,
        )
        .unwrap();
        assert!((rm[0] - 0.4).abs() < 1e-6);
        assert!((rv[0] - (0.9 + 0.1 * 20.0 / 3.0)).abs() < 1e-5);
        let mut ye = vec![0.0; 4];
        batchnorm_forward_eval(&mut ye, &x, &[2.0], &[1.0], &[4.0], &[4.0], &g, 2).unwrap();
        assert!((ye[0] - (2.0 * (1.0 - 4.0) / (4.0f32 + 1e-5).sqrt() + 1.0)).abs() < 1e-5);
    }

    #[test]
    fn batchnorm_backward_matches_finite_difference() {
        let mut rng = Rng::new(11);
        for &(c, plane, n) in &[(3, 6, 4), (5, 1, 7), (2, 9, 1)] {
            let g = BatchNormGeom {
                c,
                plane,
                eps: 1e-5,
                momentum: 0.1,
            };
            let x = random(n * c * plane, &mut rng);
            let gamma: Vec<f32> = random(c, &mut rng).iter().map(|v| v + 1.5).collect();
            let beta = random(c, &mut rng);
            let r = random(x.len(), &mut rng);
            let (_, stats) = forward(&x, &gamma, &beta, &g, n);
            let (mut dx, mut dg, mut db) = (vec![0.0; x.len()], vec![0.0; c], vec![0.0; c]);
            batchnorm_backward(
                &mut dx,
                &mut dg,
                &mut db,
                &r,
                &x,
                &gamma,
                &stats,
                &g,
                n,
                GradWrite::Add,
            )
            .unwrap();
            let loss =
                |x: &[f32], gm: &[f32], bt: &[f32]| weighted_sum(&forward(x, gm, bt, &g, n).0, &r);
            if n * plane > 1 {
                check_gradient("batchnorm dx", &x, &dx, |p| loss(p, &gamma, &beta), 60);
            }
            check_gradient("batchnorm dgamma", &gamma, &dg, |p| loss(&x, p, &beta), 10);
            check_gradient("batchnorm dbeta", &beta, &db, |p| loss(&x, &gamma, p), 10);
        }
    }
}
