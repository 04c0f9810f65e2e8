//! Inverted dropout: in training each value is kept with probability 1 − rate and scaled by
//! 1 / (1 − rate); in evaluation it is the identity. The mask (0 or the scale) is kept for
//! backward. Each mask takes one 64-bit key from the run's seeded generator and hashes
//! (key, index) with [`rng::dropout_uniform`], the same counter-based function the GPU's
//! `dropout_forward.wgsl` uses, so both backends drop the same units.

use crate::cpu::elementwise;
use crate::error::{Error, Result};
use crate::par;
use crate::rng::{self, Rng};

/// Fills `mask` for one training step: each entry is 0 with probability `rate`, else 1/(1−rate).
pub fn dropout_mask(mask: &mut [f32], rate: f32, rng: &mut Rng) {
    dropout_mask_from(mask, rate, rng, 0);
}

/// [`dropout_mask`] for entries `start..start + mask.len()` of a batch's mask: a shard of a
/// batch draws the very entries the whole batch would have drawn for its images.
pub fn dropout_mask_from(mask: &mut [f32], rate: f32, rng: &mut Rng, start: usize) {
    let keep = 1.0 - rate;
    let scale = if keep > 0.0 { 1.0 / keep } else { 0.0 };
    let key = rng.next_u64();
    for (i, m) in mask.iter_mut().enumerate() {
        *m = if rng::dropout_uniform(key, (start + i) as u32) < rate {
            0.0
        } else {
            scale
        };
    }
}

/// y = x ⊙ mask.
pub fn dropout_forward(y: &mut [f32], x: &[f32], mask: &[f32]) -> Result<()> {
    if y.len() != x.len() || y.len() != mask.len() {
        return Err(Error::ShapeMismatch {
            op: "dropout_forward",
            expected: format!("{} floats in y, x and mask", y.len()),
            got: format!("x {}, mask {}", x.len(), mask.len()),
        });
    }
    par::for_each_span_mut(y, |at, y| {
        let r = at..at + y.len();
        y.copy_from_slice(&x[r.clone()]);
        elementwise::mul_assign(y, &mask[r]);
    });
    Ok(())
}

/// dx += dy ⊙ mask.
pub fn dropout_backward(dx: &mut [f32], dy: &[f32], mask: &[f32]) -> Result<()> {
    if dx.len() != dy.len() || dx.len() != mask.len() {
        return Err(Error::ShapeMismatch {
            op: "dropout_backward",
            expected: format!("{} floats in dx, dy and mask", dx.len()),
            got: format!("dy {}, mask {}", dy.len(), mask.len()),
        });
    }
    par::for_each_span_mut(dx, |at, dx| {
        let r = at..at + dx.len();
        for ((d, g), m) in dx.iter_mut().zip(&dy[r.clone()]).zip(&mask[r]) {
            *d += g * m;
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{check_gradient, random, weighted_sum};

    #[test]
    fn dropout_keeps_expected_fraction_and_mean() {
        let mut mask = vec![0.0; 100_000];
        dropout_mask(&mut mask, 0.5, &mut Rng::new(1));
        let kept = mask.iter().filter(|m| **m > 0.0).count() as f64 / mask.len() as f64;
        let mean = mask.iter().map(|m| *m as f64).sum::<f64>() / mask.len() as f64;
        assert!((kept - 0.5).abs() < 0.01, "{kept}");
        assert!((mean - 1.0).abs() < 0.02, "{mean}");
        dropout_mask(&mut mask, 0.0, &mut Rng::new(1));
        assert!(mask.iter().all(|m| *m == 1.0));
    }

    #[test]
    fn dropout_backward_matches_finite_difference() {
        let mut rng = Rng::new(2);
        let x = random(200, &mut rng);
        let r = random(200, &mut rng);
        let mut mask = vec![0.0; 200];
        dropout_mask(&mut mask, 0.3, &mut rng);
        let mut dx = vec![0.0; 200];
        dropout_backward(&mut dx, &r, &mask).unwrap();
        check_gradient(
            "dropout dx",
            &x,
            &dx,
            |x| {
                let mut y = vec![0.0; 200];
                dropout_forward(&mut y, x, &mask).unwrap();
                weighted_sum(&y, &r)
            },
            200,
        );
    }
}
