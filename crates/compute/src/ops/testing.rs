//! Test helpers: random tensors and the finite-difference gradient check every op's backward meets.

use crate::rng::Rng;

pub fn random(n: usize, rng: &mut Rng) -> Vec<f32> {
    (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect()
}

/// Σ r_i · y_i in f64: a scalar loss whose gradient with respect to `y` is `r`.
pub fn weighted_sum(y: &[f32], r: &[f32]) -> f64 {
    y.iter().zip(r).map(|(a, b)| *a as f64 * *b as f64).sum()
}

/// Checks `analytic` (dL/dx) against central differences of `loss(x)` at up to `samples`
/// positions spread over `x`. Tolerance: |fd − an| ≤ tol · max(1, |fd|, |an|).
pub fn check_gradient(
    what: &str,
    x: &[f32],
    analytic: &[f32],
    loss: impl FnMut(&[f32]) -> f64,
    samples: usize,
) {
    check_gradient_with(what, x, analytic, loss, samples, 1e-2, 2e-2)
}

/// [`check_gradient`] with a chosen step `eps` and relative tolerance `tol`.
pub fn check_gradient_with(
    what: &str,
    x: &[f32],
    analytic: &[f32],
    mut loss: impl FnMut(&[f32]) -> f64,
    samples: usize,
    eps: f32,
    tol: f64,
) {
    assert_eq!(x.len(), analytic.len(), "{what}: gradient length");
    let step = (x.len() / samples.max(1)).max(1);
    let mut probe = x.to_vec();
    let mut checked = 0;
    for i in (0..x.len()).step_by(step) {
        let orig = probe[i];
        probe[i] = orig + eps;
        let up = loss(&probe);
        probe[i] = orig - eps;
        let down = loss(&probe);
        probe[i] = orig;
        let fd = (up - down) / (2.0 * eps as f64);
        let an = analytic[i] as f64;
        let scale = 1f64.max(fd.abs()).max(an.abs());
        assert!(
            (fd - an).abs() <= tol * scale,
            "{what}[{i}]: finite difference {fd:.6} vs analytic {an:.6}"
        );
        checked += 1;
    }
    assert!(checked > 0 || x.is_empty(), "{what}: nothing checked");
}
