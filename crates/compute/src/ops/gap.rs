//! Global average pooling: the mean of each channel plane. x `[n, c, h, w]` → out `[n, c]`.
//! It throws away *where* a feature fired, which is why a GAP head survives shifted digits.

use super::GradWrite;
use crate::cpu::elementwise;
use crate::error::{Error, Result};

fn check(op: &'static str, x: usize, out: usize, plane: usize) -> Result<()> {
    if plane == 0 || x != out * plane {
        return Err(Error::ShapeMismatch {
            op,
            expected: format!("x = out × {plane}"),
            got: format!("x {x}, out {out}"),
        });
    }
    Ok(())
}

/// out[n, c] = mean of x[n, c, :, :]; `plane` = h·w.
pub fn gap_forward(out: &mut [f32], x: &[f32], plane: usize) -> Result<()> {
    check("gap_forward", x.len(), out.len(), plane)?;
    let inv = 1.0 / plane as f32;
    for (o, p) in out.iter_mut().zip(x.chunks_exact(plane)) {
        *o = elementwise::sum(p) * inv;
    }
    Ok(())
}

/// dx[n, c, :, :] += dout[n, c] / plane (or =, by `write`).
pub fn gap_backward(dx: &mut [f32], dout: &[f32], plane: usize, write: GradWrite) -> Result<()> {
    check("gap_backward", dx.len(), dout.len(), plane)?;
    let inv = 1.0 / plane as f32;
    for (d, p) in dout.iter().zip(dx.chunks_exact_mut(plane)) {
        let share = d * inv;
        match write {
            GradWrite::Add => p.iter_mut().for_each(|v| *v += share),
            GradWrite::Overwrite => p.fill(share),
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
    fn gap_backward_matches_finite_difference() {
        let mut rng = Rng::new(4);
        let (nc, plane) = (6, 35);
        let x = random(nc * plane, &mut rng);
        let r = random(nc, &mut rng);
        let mut dx = vec![0.0; x.len()];
        gap_backward(&mut dx, &r, plane, GradWrite::Add).unwrap();
        check_gradient(
            "gap dx",
            &x,
            &dx,
            |x| {
                let mut out = vec![0.0; nc];
                gap_forward(&mut out, x, plane).unwrap();
                weighted_sum(&out, &r)
            },
            100,
        );
    }

    #[test]
    fn gap_is_the_plane_mean() {
        let mut out = vec![0.0; 2];
        gap_forward(&mut out, &[1.0, 2.0, 3.0, 4.0, 10.0, 10.0, 10.0, 10.0], 4).unwrap();
        assert_eq!(out, vec![2.5, 10.0]);
        assert!(gap_forward(&mut out, &[1.0; 7], 4).is_err());
    }
}
