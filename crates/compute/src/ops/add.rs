//! Residual add: y = a + b. Backward hands dy to both inputs.

use super::GradWrite;
use crate::cpu::elementwise;
use crate::error::{Error, Result};
use crate::par;

pub fn add_forward(y: &mut [f32], a: &[f32], b: &[f32]) -> Result<()> {
    if y.len() != a.len() || y.len() != b.len() {
        return Err(Error::ShapeMismatch {
            op: "add_forward",
            expected: format!("{} floats in y, a and b", y.len()),
            got: format!("a {}, b {}", a.len(), b.len()),
        });
    }
    par::for_each_span_mut(y, |at, y| {
        let r = at..at + y.len();
        y.copy_from_slice(&a[r.clone()]);
        elementwise::add_assign(y, &b[r]);
    });
    Ok(())
}

/// dx += dy: what one addend receives (the graph walker calls it once per input).
pub fn add_backward_addend(dx: &mut [f32], dy: &[f32], write: GradWrite) -> Result<()> {
    super::same_len("add_backward", dy.len(), dx.len())?;
    par::for_each_span_mut(dx, |at, dx| {
        write.store(dx, &dy[at..at + dx.len()]);
    });
    Ok(())
}

/// da += dy and db += dy.
pub fn add_backward(da: &mut [f32], db: &mut [f32], dy: &[f32]) -> Result<()> {
    add_backward_addend(da, dy, GradWrite::Add)?;
    add_backward_addend(db, dy, GradWrite::Add)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{check_gradient, random, weighted_sum};
    use crate::rng::Rng;

    #[test]
    fn add_backward_matches_finite_difference() {
        let mut rng = Rng::new(3);
        let (a, b, r) = (
            random(50, &mut rng),
            random(50, &mut rng),
            random(50, &mut rng),
        );
        let (mut da, mut db) = (vec![0.0; 50], vec![0.0; 50]);
        add_backward(&mut da, &mut db, &r).unwrap();
        let loss = |a: &[f32], b: &[f32]| {
            let mut y = vec![0.0; 50];
            add_forward(&mut y, a, b).unwrap();
            weighted_sum(&y, &r)
        };
        check_gradient("add da", &a, &da, |p| loss(p, &b), 50);
        check_gradient("add db", &b, &db, |p| loss(&a, p), 50);
    }
}
