//! Softmax cross-entropy over logits `[n, classes]` with integer labels: the mean loss over the
//! batch, the count of correct argmax predictions, and dlogits = (softmax − one_hot) / n.

use crate::data::Label;
use crate::error::{Error, Result};

/// Mean loss and number of correct predictions of one batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossOutput {
    pub loss: f32,
    pub correct: usize,
}

/// Writes class probabilities into `probs` (same shape as logits) and returns loss and correct count.
pub fn softmax_ce_forward(
    probs: &mut [f32],
    logits: &[f32],
    labels: &[Label],
    classes: usize,
) -> Result<LossOutput> {
    let n = labels.len();
    if classes == 0 || logits.len() != n * classes || probs.len() != logits.len() {
        return Err(Error::ShapeMismatch {
            op: "softmax_ce_forward",
            expected: format!("logits and probs of {n} × {classes}"),
            got: format!("logits {}, probs {}", logits.len(), probs.len()),
        });
    }
    if let Some(&bad) = labels.iter().find(|&&l| l as usize >= classes) {
        return Err(Error::ShapeMismatch {
            op: "softmax_ce_forward",
            expected: format!("labels below {classes}"),
            got: bad.to_string(),
        });
    }
    let mut loss = 0.0f64;
    let mut correct = 0;
    for ((p, z), &label) in probs
        .chunks_exact_mut(classes)
        .zip(logits.chunks_exact(classes))
        .zip(labels)
    {
        let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0f32;
        for (pi, zi) in p.iter_mut().zip(z) {
            *pi = (zi - max).exp();
            sum += *pi;
        }
        p.iter_mut().for_each(|v| *v /= sum);
        loss += (sum.ln() - (z[label as usize] - max)) as f64;
        if crate::metrics::argmax(z) == label as usize {
            correct += 1;
        }
    }
    Ok(LossOutput {
        loss: (loss / n.max(1) as f64) as f32,
        correct,
    })
}

/// dlogits = (probs − one_hot(labels)) / n. Overwrites `dlogits`.
pub fn softmax_ce_backward(
    dlogits: &mut [f32],
    probs: &[f32],
    labels: &[Label],
    classes: usize,
) -> Result<()> {
    let n = labels.len();
    if dlogits.len() != n * classes || probs.len() != dlogits.len() {
        return Err(Error::ShapeMismatch {
            op: "softmax_ce_backward",
            expected: format!("{n} × {classes}"),
            got: format!("dlogits {}, probs {}", dlogits.len(), probs.len()),
        });
    }
    let inv = 1.0 / n.max(1) as f32;
    for ((d, p), &label) in dlogits
        .chunks_exact_mut(classes)
        .zip(probs.chunks_exact(classes))
        .zip(labels)
    {
        for (k, (dk, pk)) in d.iter_mut().zip(p).enumerate() {
            *dk = (pk - if k == label as usize { 1.0 } else { 0.0 }) * inv;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{check_gradient, random};
    use crate::rng::Rng;

    #[test]
    fn softmax_ce_of_uniform_logits_is_ln_classes() {
        let mut p = vec![0.0; 20];
        let out = softmax_ce_forward(&mut p, &[0.0; 20], &[3, 7], 10).unwrap();
        assert!((out.loss - 10f32.ln()).abs() < 1e-6);
        assert!(softmax_ce_forward(&mut p, &[0.0; 20], &[3, 10], 10).is_err());
    }

    #[test]
    fn softmax_ce_is_stable_for_huge_logits() {
        let mut p = vec![0.0; 3];
        let out = softmax_ce_forward(&mut p, &[1000.0, 0.0, -1000.0], &[0], 3).unwrap();
        assert!(out.loss.is_finite() && out.loss < 1e-6 && out.correct == 1);
    }

    #[test]
    fn softmax_ce_backward_matches_finite_difference() {
        let mut rng = Rng::new(12);
        let (n, k) = (5, 10);
        let z: Vec<f32> = random(n * k, &mut rng).iter().map(|v| 3.0 * v).collect();
        let labels = [0u16, 3, 9, 9, 4];
        let mut p = vec![0.0; n * k];
        softmax_ce_forward(&mut p, &z, &labels, k).unwrap();
        let mut dz = vec![0.0; n * k];
        softmax_ce_backward(&mut dz, &p, &labels, k).unwrap();
        check_gradient(
            "softmax_ce dlogits",
            &z,
            &dz,
            |z| {
                let mut p = vec![0.0; n * k];
                softmax_ce_forward(&mut p, z, &labels, k).unwrap().loss as f64
            },
            50,
        );
    }
}
