//! The primitives of training, one file per op: forward, backward, and their tests.
//!
//! Conventions (from llm.c): outputs first, gradients prefixed `d`; backward functions
//! accumulate into their gradient outputs (callers zero them); tensors are NCHW f32 slices and
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
