//! ReLU, on the SIMD element-wise kernels. y = max(x, 0); dx += dy where y > 0. And ReLU6
//! (MobileNet v2): y = min(max(x, 0), 6); dx += dy where 0 < y < 6.

use super::GradWrite;
use super::same_len as check;
use crate::cpu::elementwise;
use crate::error::Result;
use crate::par;

pub fn relu_forward(y: &mut [f32], x: &[f32]) -> Result<()> {
    check("relu_forward", y.len(), x.len())?;
    par::for_each_span_mut(y, |at, y| {
        elementwise::relu_forward(y, &x[at..at + y.len()])
    });
    Ok(())
}

/// dy = 0 where y ≤ 0, in place: the backward of a ReLU fused into the layer that made y.
pub fn relu_mask(dy: &mut [f32], y: &[f32]) -> Result<()> {
    check("relu_mask", dy.len(), y.len())?;
    par::for_each_span_mut(dy, |at, dy| mask_in_place(dy, &y[at..at + dy.len()]));
    Ok(())
}

/// [`relu_mask`] on this thread: for a caller already splitting the work
/// ([`crate::ops::conv2d::conv2d_backward_weight_relu`]).
pub(crate) fn mask_in_place(dy: &mut [f32], y: &[f32]) {
    for (d, y) in dy.iter_mut().zip(y) {
        *d = if *y > 0.0 { *d } else { 0.0 };
    }
}

/// Uses the forward output `y` (not `x`) to decide where gradient flows, as frameworks do.
pub fn relu_backward(dx: &mut [f32], dy: &[f32], y: &[f32], write: GradWrite) -> Result<()> {
    check("relu_backward", dx.len(), dy.len())?;
    check("relu_backward", dx.len(), y.len())?;
    par::for_each_span_mut(dx, |at, dx| {
        let r = at..at + dx.len();
        write.prepare(dx);
        elementwise::relu_backward(dx, &dy[r.clone()], &y[r]);
    });
    Ok(())
}

/// y = min(max(x, 0), 6), PyTorch's `ReLU6` (NaN stays NaN, as there).
pub fn relu6_forward(y: &mut [f32], x: &[f32]) -> Result<()> {
    check("relu6_forward", y.len(), x.len())?;
    for (y, &x) in y.iter_mut().zip(x) {
        *y = if x.is_nan() { x } else { x.clamp(0.0, 6.0) };
    }
    Ok(())
}

/// dx += dy where 0 < y < 6: the flat parts of ReLU6 pass no gradient (as PyTorch's hardtanh
/// backward, which also passes none at exactly 0 and 6).
pub fn relu6_backward(dx: &mut [f32], dy: &[f32], y: &[f32]) -> Result<()> {
    check("relu6_backward", dx.len(), dy.len())?;
    check("relu6_backward", dx.len(), y.len())?;
    for ((dx, &dy), &y) in dx.iter_mut().zip(dy).zip(y) {
        if y > 0.0 && y < 6.0 {
            *dx += dy;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{check_gradient, random, weighted_sum};
    use crate::rng::Rng;

    #[test]
    fn relu_backward_matches_finite_difference() {
        let mut rng = Rng::new(8);
        // Keep inputs away from the kink at 0 so the central difference is exact.
        let x: Vec<f32> = random(300, &mut rng)
            .into_iter()
            .map(|v| if v.abs() < 0.05 { v + 0.1 } else { v })
            .collect();
        let r = random(300, &mut rng);
        let mut y = vec![0.0; 300];
        relu_forward(&mut y, &x).unwrap();
        let mut dx = vec![0.0; 300];
        relu_backward(&mut dx, &r, &y, GradWrite::Add).unwrap();
        check_gradient(
            "relu dx",
            &x,
            &dx,
            |x| {
                let mut y = vec![0.0; 300];
                relu_forward(&mut y, x).unwrap();
                weighted_sum(&y, &r)
            },
            300,
        );
    }

    #[test]
    fn relu6_backward_matches_finite_difference() {
        let mut rng = Rng::new(9);
        // Inputs spread over both kinks (0 and 6), kept away from them.
        let x: Vec<f32> = random(400, &mut rng)
            .into_iter()
            .map(|v| {
                let v = v * 8.0 + 3.0;
                if v.abs() < 0.05 || (v - 6.0).abs() < 0.05 {
                    v + 0.1
                } else {
                    v
                }
            })
            .collect();
        assert!(x.iter().any(|&v| v > 6.0) && x.iter().any(|&v| v < 0.0));
        let r = random(400, &mut rng);
        let mut y = vec![0.0; 400];
        relu6_forward(&mut y, &x).unwrap();
        assert!(y.iter().all(|&v| (0.0..=6.0).contains(&v)));
        let mut dx = vec![0.0; 400];
        relu6_backward(&mut dx, &r, &y).unwrap();
        check_gradient(
            "relu6 dx",
            &x,
            &dx,
            |x| {
                let mut y = vec![0.0; 400];
                relu6_forward(&mut y, x).unwrap();
                weighted_sum(&y, &r)
            },
            400,
        );
        assert!(relu6_backward(&mut dx, &r, &y[..3]).is_err());
    }

    #[test]
    fn relu_mask_keeps_the_gradient_only_where_the_output_is_positive() {
        let y = [1.0, 0.0, -2.0, 3.0, f32::NAN];
        let mut dy = [5.0, 6.0, 7.0, 8.0, 9.0];
        relu_mask(&mut dy, &y).unwrap();
        assert_eq!(dy, [5.0, 0.0, 0.0, 8.0, 0.0]);
        assert!(relu_mask(&mut dy, &y[..4]).is_err());
    }
}
