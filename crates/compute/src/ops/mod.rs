//! The primitives of training, one file per op: forward, backward, and their tests.
//!
//! Conventions (from llm.c): outputs first, gradients prefixed `d`; backward functions
//! accumulate into their gradient outputs (callers zero them), and the ones that write a value's
//! gradient (`dx`) can instead write over it ([`GradWrite`]); tensors are NCHW f32 slices and
//! `n` is the batch size. Each op has a plain `reference` implementation and, where it is hot, a
//! fast one tested against it.

pub mod adaptive_pool;
pub mod add;
pub mod batchnorm;
pub mod blur;
pub mod concat;
pub mod conv2d;
pub mod dense;
pub mod dropout;
pub mod gap;
pub mod pad;
pub mod pool;
pub mod relu;
pub mod softmax_ce;
#[cfg(test)]
pub(crate) mod testing;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// `Ok` when two lengths `op` needs equal are equal, else the error that names them.
pub(crate) fn same_len(op: &'static str, a: usize, b: usize) -> Result<()> {
    if a != b {
        return Err(Error::ShapeMismatch {
            op,
            expected: a.to_string(),
            got: b.to_string(),
        });
    }
    Ok(())
}

/// How a backward pass writes the gradient of its input: added into what the buffer holds, or
/// over it. A value's first gradient contribution in a step writes over a buffer left as the
/// last step left it, which saves zeroing every gradient buffer up front (a pass over 61 MB per
/// cnn-gap step at batch 64): each pass zeroes its own chunk just before adding into it, while
/// that chunk is in cache, or stores directly. The values are those of adding into zeros; a
/// pass that stores directly keeps a −0.0 that `0.0 + −0.0` would make +0.0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GradWrite {
    Add,
    Overwrite,
}

impl GradWrite {
    /// `d += src` or `d = src` (same lengths).
    pub(crate) fn store(self, d: &mut [f32], src: &[f32]) {
        match self {
            GradWrite::Add => crate::cpu::elementwise::add_assign(d, src),
            GradWrite::Overwrite => d.copy_from_slice(src),
        }
    }

    /// Zeroes `d` for [`GradWrite::Overwrite`]: the start of a pass that then adds into `d`.
    pub(crate) fn prepare(self, d: &mut [f32]) {
        if self == GradWrite::Overwrite {
            d.fill(0.0);
        }
    }
}

/// How a window op pads its input: as Keras names it (`"valid"`, `"same"`), or as PyTorch gives
/// it, a number of cells on every side (`2` in JSON).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    /// No padding: the window only visits positions fully inside the input.
    #[default]
    Valid,
    /// Output size `ceil(in / stride)`, zeros (or ignored cells, for pooling) split around the
    /// input with the odd one at the bottom / right, as TensorFlow does.
    Same,
    /// `p` cells on every side (PyTorch's `padding=p`): output size
    /// `(in + 2p − kernel) / stride + 1`. Zeros for a convolution; for pooling, cells that no
    /// window counts (max pooling never picks them; average pooling divides by the cells inside
    /// the input, i.e. PyTorch's `count_include_pad=False`).
    #[serde(untagged)]
    Explicit(usize),
}

/// `Ok` when `x` holds `n` images of `in_len` floats and `out` `n` of `out_len`, else the error
/// that names both: the shape check of the plane-to-plane ops (pooling, blur).
pub(crate) fn check_planes(
    op: &'static str,
    x: usize,
    out: usize,
    n: usize,
    in_len: usize,
    out_len: usize,
) -> Result<()> {
    if x != n * in_len || out != n * out_len {
        return Err(Error::ShapeMismatch {
            op,
            expected: format!("x {} and out {}", n * in_len, n * out_len),
            got: format!("x {x} and out {out}"),
        });
    }
    Ok(())
}

/// Output size and leading pad of a window op along one axis, or `None` if the window does not fit.
pub fn window_axis(
    input: usize,
    kernel: usize,
    stride: usize,
    padding: Padding,
) -> Option<(usize, usize)> {
    if kernel == 0 || stride == 0 || input == 0 {
        return None;
    }
    match padding {
        Padding::Valid => {
            if kernel > input {
                None
            } else {
                Some(((input - kernel) / stride + 1, 0))
            }
        }
        Padding::Same => {
            let out = input.div_ceil(stride);
            let total = ((out - 1) * stride + kernel).saturating_sub(input);
            Some((out, total / 2))
        }
        Padding::Explicit(pad) => {
            // A border as wide as the window would give windows of padding only.
            if pad >= kernel {
                return None;
            }
            let padded = pad.checked_mul(2).and_then(|p| input.checked_add(p))?;
            if kernel > padded {
                None
            } else {
                Some(((padded - kernel) / stride + 1, pad))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_axis_matches_keras_sizes() {
        assert_eq!(window_axis(64, 3, 1, Padding::Valid), Some((62, 0)));
        assert_eq!(window_axis(62, 2, 2, Padding::Valid), Some((31, 0)));
        assert_eq!(window_axis(29, 2, 2, Padding::Valid), Some((14, 0)));
        assert_eq!(window_axis(32, 3, 1, Padding::Same), Some((32, 1)));
        assert_eq!(window_axis(7, 3, 2, Padding::Same), Some((4, 1)));
        assert_eq!(window_axis(8, 3, 2, Padding::Same), Some((4, 0)));
        assert_eq!(window_axis(2, 3, 1, Padding::Valid), None);
        assert_eq!(window_axis(5, 0, 1, Padding::Valid), None);
        // PyTorch's sizes: AlexNet's conv1, ResNet's conv1 and max pool.
        assert_eq!(window_axis(224, 11, 4, Padding::Explicit(2)), Some((55, 2)));
        assert_eq!(window_axis(224, 7, 2, Padding::Explicit(3)), Some((112, 3)));
        assert_eq!(window_axis(112, 3, 2, Padding::Explicit(1)), Some((56, 1)));
        assert_eq!(window_axis(1, 3, 1, Padding::Explicit(1)), Some((1, 1)));
        assert_eq!(window_axis(4, 3, 1, Padding::Explicit(3)), None);
        assert_eq!(
            window_axis(4, 3, 1, Padding::Explicit(usize::MAX / 2)),
            None
        );
    }

    /// Every pass that can write over a gradient gives, over a buffer of garbage (NaN and huge
    /// values, as a stale buffer might hold), what it gives added into zeros.
    #[test]
    fn writing_over_a_gradient_equals_adding_into_zeros() {
        use crate::ops::batchnorm::{self, BatchNormGeom, ChannelStats};
        use crate::ops::conv2d::{self, Conv2dGeom};
        use crate::ops::dense::{self, DenseGeom};
        use crate::ops::pool::{self, PoolGeom};
        use crate::ops::testing::random;
        use crate::rng::Rng;

        fn check(name: &str, len: usize, pass: impl Fn(&mut [f32], GradWrite)) {
            let mut added = vec![0.0; len];
            pass(&mut added, GradWrite::Add);
            let mut over: Vec<f32> = (0..len)
                .map(|i| if i % 3 == 0 { f32::NAN } else { -1e30 })
                .collect();
            pass(&mut over, GradWrite::Overwrite);
            for (i, (a, o)) in added.iter().zip(&over).enumerate() {
                assert!(a == o, "{name}: element {i} is {o} written over, {a} added");
            }
        }
        let mut rng = Rng::new(3);
        let n = 3;
        for (size, stride, padding) in [(2, 2, Padding::Valid), (3, 2, Padding::Same)] {
            let g = PoolGeom::new([4, 9, 10], size, stride, padding).unwrap();
            let x = random(n * g.in_len(), &mut rng);
            let dy = random(n * g.out_len(), &mut rng);
            let (mut y, mut am) = (vec![0.0; dy.len()], vec![0; dy.len()]);
            pool::max_pool_forward(&mut y, &mut am, &x, &g, n).unwrap();
            check("max pool", x.len(), |d, w| {
                pool::max_pool_backward(d, &dy, &am, &g, n, w).unwrap()
            });
            check("average pool", x.len(), |d, w| {
                pool::avg_pool_backward(d, &dy, &g, n, w).unwrap()
            });
        }
        let dy = random(n * 5, &mut rng);
        check("global average pool", n * 5 * 12, |d, w| {
            gap::gap_backward(d, &dy, 12, w).unwrap()
        });
        for (kernel, padding, groups) in [(3, Padding::Explicit(1), 2), (1, Padding::Valid, 1)] {
            let g = Conv2dGeom::new([4, 7, 6], 6, kernel, 1, padding, groups).unwrap();
            let (wt, dy) = (
                random(g.weight_len(), &mut rng),
                random(n * g.out_len(), &mut rng),
            );
            check("convolution", n * g.in_len(), |d, w| {
                conv2d::conv2d_backward_input(d, &dy, &wt, &g, n, w).unwrap()
            });
        }
        let g = DenseGeom {
            inputs: 21,
            outputs: 5,
        };
        let n = 11;
        let (wt, dy) = (random(21 * 5, &mut rng), random(n * 5, &mut rng));
        check("dense", n * 21, |d, w| {
            dense::dense_backward_input(d, &dy, &wt, &g, n, w).unwrap()
        });
        let (dy, y) = (random(40_000, &mut rng), random(40_000, &mut rng));
        check("relu", dy.len(), |d, w| {
            relu::relu_backward(d, &dy, &y, w).unwrap()
        });
        check("add", dy.len(), |d, w| {
            add::add_backward_addend(d, &dy, w).unwrap()
        });
        let g = BatchNormGeom {
            c: 3,
            plane: 10,
            eps: 1e-5,
            momentum: 0.1,
        };
        let (x, dy) = (random(n * 30, &mut rng), random(n * 30, &mut rng));
        let stats: Vec<ChannelStats> = (0..3)
            .map(|c| ChannelStats {
                mean: 0.1 * c as f32,
                inv_std: 1.0 + c as f32,
            })
            .collect();
        check("batch norm", x.len(), |d, w| {
            let (mut dg, mut db) = ([0.0; 3], [0.0; 3]);
            let gamma = [0.5, 1.0, 2.0];
            batchnorm::batchnorm_backward(d, &mut dg, &mut db, &dy, &x, &gamma, &stats, &g, n, w)
                .unwrap()
        });
    }

    #[test]
    fn explicit_padding_is_a_number_in_json() {
        let p: Padding = serde_json::from_str("2").unwrap();
        assert_eq!(p, Padding::Explicit(2));
        assert_eq!(serde_json::to_string(&Padding::Explicit(3)).unwrap(), "3");
        assert_eq!(serde_json::to_string(&Padding::Same).unwrap(), "\"same\"");
        assert!(serde_json::from_str::<Padding>("-1").is_err());
        assert!(serde_json::from_str::<Padding>("\"wide\"").is_err());
    }
}
