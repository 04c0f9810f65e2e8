//! ReLU, on the SIMD element-wise kernels. y = max(x, 0); dx += dy where y > 0.

use super::same_len as check;
use crate::cpu::elementwise;
use crate::error::Result;

pub fn relu_forward(y: &mut [f32], x: &[f32]) -> Result<()> {
    check("relu_forward", y.len(), x.len())?;
    elementwise::relu_forward(y, x);
    Ok(())
}

/// dy = 0 where y ≤ 0, in place: the backward of a ReLU fused into the layer that made y.
pub fn relu_mask(dy: &mut [f32], y: &[f32]) -> Result<()> {
    check("relu_mask", dy.len(), y.len())?;
    for (d, y) in dy.iter_mut().zip(y) {
        *d = if *y > 0.0 { *d } else { 0.0 };
    }
    Ok(())
}

/// Uses the forward output `y` (not `x`) to decide where gradient flows, as frameworks do.
pub fn relu_backward(dx: &mut [f32], dy: &[f32], y: &[f32]) -> Result<()> {
    check("relu_backward", dx.len(), dy.len())?;
    check("relu_backward", dx.len(), y.len())?;
    elementwise::relu_backward(dx, dy, y);
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
        relu_backward(&mut dx, &r, &y).unwrap();
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
    fn relu_mask_keeps_the_gradient_only_where_the_output_is_positive() {
        let y = [1.0, 0.0, -2.0, 3.0, f32::NAN];
        let mut dy = [5.0, 6.0, 7.0, 8.0, 9.0];
        relu_mask(&mut dy, &y).unwrap();
        assert_eq!(dy, [5.0, 0.0, 0.0, 8.0, 0.0]);
        assert!(relu_mask(&mut dy, &y[..4]).is_err());
    }
}
