//! Channel concatenation (Inception, DenseNet): inputs `[n, c_k, h, w]` → y `[n, Σ c_k, h, w]`.
//! Backward splits dy back into the inputs' gradients.

use crate::error::{Error, Result};

/// `parts[k]` holds `n · per_image[k]` floats; y holds `n · Σ per_image`.
pub fn concat_forward(y: &mut [f32], parts: &[&[f32]], n: usize) -> Result<()> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    if y.len() != total || n == 0 || parts.iter().any(|p| p.len() % n != 0) {
        return Err(Error::ShapeMismatch {
            op: "concat_forward",
            expected: format!("y of {total} floats, parts divisible by batch {n}"),
            got: y.len().to_string(),
        });
    }
    let row = total / n;
    for (i, out) in y.chunks_exact_mut(row).enumerate() {
        let mut at = 0;
        for p in parts {
            let len = p.len() / n;
            out[at..at + len].copy_from_slice(&p[i * len..(i + 1) * len]);
            at += len;
        }
    }
    Ok(())
}

/// dparts[k] += the slice of dy that part k produced.
pub fn concat_backward(dparts: &mut [&mut [f32]], dy: &[f32], n: usize) -> Result<()> {
    let total: usize = dparts.iter().map(|p| p.len()).sum();
    if dy.len() != total || n == 0 || dparts.iter().any(|p| p.len() % n != 0) {
        return Err(Error::ShapeMismatch {
            op: "concat_backward",
            expected: format!("dy of {total} floats"),
            got: dy.len().to_string(),
        });
    }
    let row = total / n;
    for (i, d) in dy.chunks_exact(row).enumerate() {
        let mut at = 0;
        for p in dparts.iter_mut() {
            let len = p.len() / n;
            p[i * len..(i + 1) * len]
                .iter_mut()
                .zip(&d[at..at + len])
                .for_each(|(a, b)| *a += b);
            at += len;
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
    fn concat_interleaves_per_image() {
        let mut y = vec![0.0; 6];
        concat_forward(&mut y, &[&[1.0, 2.0], &[3.0, 4.0, 5.0, 6.0]], 2).unwrap();
        assert_eq!(y, vec![1.0, 3.0, 4.0, 2.0, 5.0, 6.0]);
    }

    #[test]
    fn concat_backward_matches_finite_difference() {
        let mut rng = Rng::new(4);
        let n = 3;
        let (a, b) = (random(n * 8, &mut rng), random(n * 12, &mut rng));
        let r = random(n * 20, &mut rng);
        let (mut da, mut db) = (vec![0.0; a.len()], vec![0.0; b.len()]);
        concat_backward(&mut [&mut da, &mut db], &r, n).unwrap();
        let loss = |a: &[f32], b: &[f32]| {
            let mut y = vec![0.0; n * 20];
            concat_forward(&mut y, &[a, b], n).unwrap();
            weighted_sum(&y, &r)
        };
        check_gradient("concat da", &a, &da, |p| loss(p, &b), 30);
        check_gradient("concat db", &b, &db, |p| loss(&a, p), 30);
    }
}
