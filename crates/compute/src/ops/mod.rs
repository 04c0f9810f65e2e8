//! The primitives of training, one file per op: forward, backward, and their tests.
//!
//! Conventions (from llm.c): outputs first, gradients prefixed `d`; backward functions
//! accumulate into their gradient outputs (callers zero them); tensors are NCHW f32 slices and
//! `n` is the batch size. Each op has a plain `reference` implementation and, where it is hot, a
//! fast one tested against it.

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

/// How a window op pads its input, as Keras names it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    /// No padding: the window only visits positions fully inside the input.
    #[default]
    Valid,
    /// Output size `ceil(in / stride)`, zeros (or ignored cells, for pooling) split around the
    /// input with the odd one at the bottom / right, as TensorFlow does.
    Same,
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
    }
}
