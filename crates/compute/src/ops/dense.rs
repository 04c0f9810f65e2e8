//! Fully connected layer. x `[n, in]`, w `[out, in]` (PyTorch's layout), b `[out]`, y `[n, out]`.
//! Forward `y = x·wᵀ + b`; backward `dx += dy·w`, `dw += dyᵀ·x`, `db += Σ_n dy`, each one matrix
//! multiply on the `gemm` kernels.

use super::GradWrite;
use crate::cpu::gemm::{Mat, sgemm};
use crate::error::{Error, Result};
use crate::par;

/// Sizes of one dense layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DenseGeom {
    pub inputs: usize,
    pub outputs: usize,
}

impl DenseGeom {
    fn check(&self, op: &'static str, lens: &[(&str, usize, usize)]) -> Result<()> {
        for &(what, got, expected) in lens {
            if got != expected {
                return Err(Error::ShapeMismatch {
                    op,
                    expected: format!("{what} of {expected} floats"),
                    got: got.to_string(),
                });
            }
        }
        Ok(())
    }
}

/// y = x·wᵀ + b. Overwrites `y`.
pub fn dense_forward(
    y: &mut [f32],
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    g: &DenseGeom,
    n: usize,
) -> Result<()> {
    let (i, o) = (g.inputs, g.outputs);
    g.check(
        "dense_forward",
        &[
            ("y", y.len(), n * o),
            ("x", x.len(), n * i),
            ("w", w.len(), o * i),
        ],
    )?;
    if let Some(b) = b {
        g.check("dense_forward", &[("b", b.len(), o)])?;
    }
    // Blocks of images on every core; each output is the same dot product in the same order
    // whatever the blocks.
    par::for_each_chunk_mut(y, BLOCK * o, |c, yc| {
        let rows = yc.len() / o;
        if let Some(b) = b {
            for row in yc.chunks_exact_mut(o) {
                row.copy_from_slice(b);
            }
        }
        let xc = &x[c * BLOCK * i..(c * BLOCK + rows) * i];
        sgemm(
            Mat::rm(xc, rows, i),
            Mat::rm(w, o, i).t(),
            yc,
            o,
            b.is_some(),
        );
    });
    Ok(())
}

/// Images (forward, backward input) or outputs (weight gradient) per parallel work item.
const BLOCK: usize = 8;

/// dx += dy·w.
pub fn dense_backward_input(
    dx: &mut [f32],
    dy: &[f32],
    w: &[f32],
    g: &DenseGeom,
    n: usize,
    write: GradWrite,
) -> Result<()> {
    let (i, o) = (g.inputs, g.outputs);
    g.check(
        "dense_backward_input",
        &[
            ("dx", dx.len(), n * i),
            ("dy", dy.len(), n * o),
            ("w", w.len(), o * i),
        ],
    )?;
    par::for_each_chunk_mut(dx, BLOCK * i, |c, dxc| {
        let rows = dxc.len() / i;
        let dyc = &dy[c * BLOCK * o..(c * BLOCK + rows) * o];
        let add = write == GradWrite::Add;
        sgemm(Mat::rm(dyc, rows, o), Mat::rm(w, o, i), dxc, i, add);
    });
    Ok(())
}

/// dw += dyᵀ·x, db += Σ_n dy.
pub fn dense_backward_weight(
    dw: &mut [f32],
    db: Option<&mut [f32]>,
    dy: &[f32],
    x: &[f32],
    g: &DenseGeom,
    n: usize,
) -> Result<()> {
    let (i, o) = (g.inputs, g.outputs);
    g.check(
        "dense_backward_weight",
        &[
            ("dw", dw.len(), o * i),
            ("dy", dy.len(), n * o),
            ("x", x.len(), n * i),
        ],
    )?;
    // Blocks of weight rows (outputs) on every core, each summed over the whole batch in order.
    par::for_each_chunk_mut(dw, BLOCK * i, |c, dwc| {
        let (first, rows) = (c * BLOCK, dwc.len() / i);
        // Rows first..first + rows of dyᵀ: element (r, s) is dy[s·o + first + r].
        let dyt = Mat {
            data: &dy[first..],
            rows,
            cols: n,
            rs: 1,
            cs: o,
        };
        sgemm(dyt, Mat::rm(x, n, i), dwc, i, true);
    });
    if let Some(db) = db {
        g.check("dense_backward_weight", &[("db", db.len(), o)])?;
        for row in dy.chunks_exact(o) {
            db.iter_mut().zip(row).for_each(|(d, v)| *d += v);
        }
    }
    Ok(())
}

/// Plain loops, the reference for the gemm path.
pub mod reference {
    use super::DenseGeom;

    pub fn dense_forward(
        y: &mut [f32],
        x: &[f32],
        w: &[f32],
        b: Option<&[f32]>,
        g: &DenseGeom,
        n: usize,
    ) {
        for s in 0..n {
            for o in 0..g.outputs {
                let mut acc = b.map_or(0.0, |b| b[o]);
                for i in 0..g.inputs {
                    acc += x[s * g.inputs + i] * w[o * g.inputs + i];
                }
                y[s * g.outputs + o] = acc;
            }
        }
    }

    pub fn dense_backward_input(dx: &mut [f32], dy: &[f32], w: &[f32], g: &DenseGeom, n: usize) {
        for s in 0..n {
            for i in 0..g.inputs {
                for o in 0..g.outputs {
                    dx[s * g.inputs + i] += dy[s * g.outputs + o] * w[o * g.inputs + i];
                }
            }
        }
    }

    pub fn dense_backward_weight(
        dw: &mut [f32],
        db: Option<&mut [f32]>,
        dy: &[f32],
        x: &[f32],
        g: &DenseGeom,
        n: usize,
    ) {
        for s in 0..n {
            for o in 0..g.outputs {
                for i in 0..g.inputs {
                    dw[o * g.inputs + i] += dy[s * g.outputs + o] * x[s * g.inputs + i];
                }
            }
        }
        if let Some(db) = db {
            for s in 0..n {
                for o in 0..g.outputs {
                    db[o] += dy[s * g.outputs + o];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{check_gradient, random, weighted_sum};
    use crate::rng::Rng;

    const CASES: [(usize, usize, usize); 6] = [
        (1, 1, 1),
        (1, 7, 3),
        (3, 5, 2),
        (7, 7, 7),
        (5, 123, 17),
        (64, 4608, 64),
    ];

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn dense_fast_path_matches_reference() {
        let mut rng = Rng::new(6);
        for &(n, i, o) in &CASES {
            let g = DenseGeom {
                inputs: i,
                outputs: o,
            };
            let (x, w, b, dy) = (
                random(n * i, &mut rng),
                random(o * i, &mut rng),
                random(o, &mut rng),
                random(n * o, &mut rng),
            );
            let close = |a: &[f32], r: &[f32], k: usize, what: &str| {
                for (p, q) in a.iter().zip(r) {
                    assert!(
                        (p - q).abs() <= 1e-4 * q.abs().max(1.0) * (k as f32).sqrt(),
                        "{n}x{i}x{o} {what}: {p} vs {q}"
                    );
                }
            };
            let (mut fy, mut ry) = (vec![0.0; n * o], vec![0.0; n * o]);
            dense_forward(&mut fy, &x, &w, Some(&b), &g, n).unwrap();
            reference::dense_forward(&mut ry, &x, &w, Some(&b), &g, n);
            close(&fy, &ry, i, "forward");
            let (mut fdx, mut rdx) = (vec![0.5; n * i], vec![0.5; n * i]);
            dense_backward_input(&mut fdx, &dy, &w, &g, n, GradWrite::Add).unwrap();
            reference::dense_backward_input(&mut rdx, &dy, &w, &g, n);
            close(&fdx, &rdx, o, "backward_input");
            let (mut fdw, mut rdw, mut fdb, mut rdb) = (
                vec![0.5; o * i],
                vec![0.5; o * i],
                vec![0.5; o],
                vec![0.5; o],
            );
            dense_backward_weight(&mut fdw, Some(&mut fdb), &dy, &x, &g, n).unwrap();
            reference::dense_backward_weight(&mut rdw, Some(&mut rdb), &dy, &x, &g, n);
            close(&fdw, &rdw, n, "backward_weight");
            close(&fdb, &rdb, n, "backward_bias");
        }
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn dense_backward_matches_finite_difference() {
        let mut rng = Rng::new(7);
        for &(n, i, o) in &CASES[..5] {
            let g = DenseGeom {
                inputs: i,
                outputs: o,
            };
            let (x, w, b, r) = (
                random(n * i, &mut rng),
                random(o * i, &mut rng),
                random(o, &mut rng),
                random(n * o, &mut rng),
            );
            let loss = |x: &[f32], w: &[f32], b: &[f32]| {
                let mut y = vec![0.0; n * o];
                dense_forward(&mut y, x, w, Some(b), &g, n).unwrap();
                weighted_sum(&y, &r)
            };
            let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; w.len()], vec![0.0; o]);
            dense_backward_input(&mut dx, &r, &w, &g, n, GradWrite::Add).unwrap();
            dense_backward_weight(&mut dw, Some(&mut db), &r, &x, &g, n).unwrap();
            check_gradient("dense dx", &x, &dx, |p| loss(p, &w, &b), 50);
            check_gradient("dense dw", &w, &dw, |p| loss(&x, p, &b), 50);
            check_gradient("dense db", &b, &db, |p| loss(&x, &w, p), 50);
        }
    }
}
