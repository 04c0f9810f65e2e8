//! Placing 28×28 digits on a larger zero canvas, one batch at a time.
//!
//! A digit lands at an offset `(dx, dy)` (column, row of its top-left pixel) in a square canvas of
//! side `canvas ≥ 28`; valid offsets are `0..=canvas - 28` on each axis. Pixels become `f32` in
//! `[0, 1]` (`byte / 255`) and everything outside the digit is 0.
//!
//! [`CanvasPlacement`] chooses the offset of each dataset image for evaluation (centred, a fixed
//! offset, or a pseudo-random offset tied to the image index); [`RandomShift`] is the train-time
//! augmentation; [`fill_batch`] writes a batch into a buffer the caller reuses.

use std::fmt;
use std::str::FromStr;

use crate::data::{Dataset, Label};
use crate::rng::{Rng, hash2};

/// Why a placement, an offset or a batch on a canvas is invalid.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum CanvasError {
    /// The canvas cannot hold a 28×28 digit.
    #[error("canvas side {canvas} is smaller than the 28-pixel digit")]
    CanvasTooSmall { canvas: usize },
    /// The offset would put part of the digit outside the canvas.
    #[error(
        "offset ({dx}, {dy}) does not fit a 28×28 digit in a {canvas}×{canvas} canvas: \
         each offset must be at most {max}"
    )]
    OffsetOutOfRange {
        dx: usize,
        dy: usize,
        canvas: usize,
        max: usize,
    },
    /// A batch refers to an image the dataset does not have.
    #[error("image index {index} is out of range for a data set of {len} images")]
    IndexOutOfRange { index: usize, len: usize },
    /// A batch has a different number of indices and offsets.
    #[error("batch has {indices} image indices but {offsets} offsets")]
    LengthMismatch { indices: usize, offsets: usize },
    /// A placement string does not follow the syntax.
    #[error(
        "cannot parse canvas placement `{input}`: {reason} \
         (expected `centered`, `shifted`, `shifted:SEED` or `at:DX,DY`)"
    )]
    Parse { input: String, reason: String },
}

/// The largest offset on each axis for a canvas of side `canvas`: `canvas - 28`.
///
/// Errors with [`CanvasError::CanvasTooSmall`] when `canvas < 28`.
pub fn max_offset(canvas: usize) -> Result<usize, CanvasError> {
    canvas
        .checked_sub(Dataset::SIDE)
        .ok_or(CanvasError::CanvasTooSmall { canvas })
}

/// Where each digit of a dataset goes on the canvas.
///
/// Text form (see [`FromStr`] and [`fmt::Display`]): `centered`, `shifted` (seed 0),
/// `shifted:SEED`, `at:DX,DY`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CanvasPlacement {
    /// Offset `((canvas - 28) / 2, (canvas - 28) / 2)`: (18, 18) on a 64 canvas, (0, 0) on 28.
    Centered,
    /// Offset of image `i` uniform in `0..=canvas - 28` on each axis, derived from
    /// `hash2(seed, i)`: the same for a given seed, index and canvas whatever the batching.
    Shifted { seed: u64 },
    /// The same offset for every image.
    At { dx: usize, dy: usize },
}

impl CanvasPlacement {
    /// The offset `(dx, dy)` of the image with dataset index `index` on a canvas of side `canvas`.
    ///
    /// Errors when `canvas < 28` and, for [`CanvasPlacement::At`], when `dx` or `dy` exceeds
    /// `canvas - 28`.
    pub fn offset(&self, canvas: usize, index: usize) -> Result<(usize, usize), CanvasError> {
        let max = max_offset(canvas)?;
        match *self {
            CanvasPlacement::Centered => Ok((max / 2, max / 2)),
            CanvasPlacement::Shifted { seed } => {
                let bits = hash2(seed, index as u64);
                let range = max as u128 + 1;
                // Multiply-shift maps 32 random bits onto 0..range without a modulo.
                let scale = |b: u64| ((b as u128 * range) >> 32) as usize;
                Ok((scale(bits & 0xFFFF_FFFF), scale(bits >> 32)))
            }
            CanvasPlacement::At { dx, dy } => {
                if dx > max || dy > max {
                    Err(CanvasError::OffsetOutOfRange {
                        dx,
                        dy,
                        canvas,
                        max,
                    })
                } else {
                    Ok((dx, dy))
                }
            }
        }
    }
}

impl fmt::Display for CanvasPlacement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CanvasPlacement::Centered => write!(f, "centered"),
            CanvasPlacement::Shifted { seed } => write!(f, "shifted:{seed}"),
            CanvasPlacement::At { dx, dy } => write!(f, "at:{dx},{dy}"),
        }
    }
}

impl FromStr for CanvasPlacement {
    type Err = CanvasError;

    /// Parses `centered`, `shifted`, `shifted:SEED` or `at:DX,DY` (keywords case-insensitive,
    /// surrounding spaces ignored). Offsets are checked against a canvas only by
    /// [`CanvasPlacement::offset`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = |reason: String| CanvasError::Parse {
            input: s.to_string(),
            reason,
        };
        let text = s.trim();
        let (keyword, argument) = match text.split_once(':') {
            Some((k, a)) => (k.trim(), Some(a.trim())),
            None => (text, None),
        };
        match (keyword.to_ascii_lowercase().as_str(), argument) {
            ("centered", None) => Ok(CanvasPlacement::Centered),
            ("centered", Some(_)) => Err(fail("`centered` takes no argument".to_string())),
            ("shifted", None) => Ok(CanvasPlacement::Shifted { seed: 0 }),
            ("shifted", Some(seed)) => seed
                .parse()
                .map(|seed| CanvasPlacement::Shifted { seed })
                .map_err(|_| fail(format!("seed `{seed}` is not an unsigned 64-bit integer"))),
            ("at", None) => Err(fail("`at` needs an offset, as in `at:18,18`".to_string())),
            ("at", Some(pair)) => {
                let (dx, dy) = pair
                    .split_once(',')
                    .ok_or_else(|| fail(format!("offset `{pair}` is not of the form DX,DY")))?;
                let number = |v: &str| {
                    v.trim().parse::<usize>().map_err(|_| {
                        fail(format!(
                            "offset `{}` is not a non-negative integer",
                            v.trim()
                        ))
                    })
                };
                Ok(CanvasPlacement::At {
                    dx: number(dx)?,
                    dy: number(dy)?,
                })
            }
            ("", _) => Err(fail("the placement is empty".to_string())),
            (other, _) => Err(fail(format!("unknown placement `{other}`"))),
        }
    }
}

/// The offsets of the images `indices` under `placement` on a canvas of side `canvas`, in order.
///
/// Errors as [`CanvasPlacement::offset`].
pub fn offsets_for(
    placement: &CanvasPlacement,
    canvas: usize,
    indices: &[usize],
) -> Result<Vec<(usize, usize)>, CanvasError> {
    indices
        .iter()
        .map(|&index| placement.offset(canvas, index))
        .collect()
}

/// Train-time augmentation: the centred offset moved by a uniform integer in `-max..=max` on each
/// axis, then clamped to `0..=canvas - 28`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RandomShift {
    /// Largest shift from the centre, in pixels, on each axis.
    pub max: usize,
}

impl RandomShift {
    /// One offset `(dx, dy)`; draws exactly two values from `rng` (dx first), whatever `max`.
    ///
    /// Errors with [`CanvasError::CanvasTooSmall`] when `canvas < 28`.
    pub fn offset(&self, canvas: usize, rng: &mut Rng) -> Result<(usize, usize), CanvasError> {
        let limit = max_offset(canvas)?;
        let centre = limit / 2;
        let span = (self.max as u64).saturating_mul(2).saturating_add(1);
        let mut draw = || {
            let shifted = centre as i128 + rng.below(span) as i128 - self.max as i128;
            shifted.clamp(0, limit as i128) as usize
        };
        let dx = draw();
        let dy = draw();
        Ok((dx, dy))
    }

    /// `count` offsets drawn one after the other from `rng`, one per batch item in order.
    ///
    /// Errors with [`CanvasError::CanvasTooSmall`] when `canvas < 28`.
    pub fn offsets(
        &self,
        canvas: usize,
        count: usize,
        rng: &mut Rng,
    ) -> Result<Vec<(usize, usize)>, CanvasError> {
        (0..count).map(|_| self.offset(canvas, rng)).collect()
    }
}

/// `PIXEL_TO_F32[b] = b / 255`.
static PIXEL_TO_F32: [f32; 256] = {
    let mut table = [0.0f32; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = b as f32 / 255.0;
        b += 1;
    }
    table
};

/// Whether images `indices` of `dataset` can be placed at `offsets` on a `canvas`: as many
/// offsets as images, every index in the dataset, every digit inside the canvas.
pub fn check_batch(
    dataset: &Dataset,
    indices: &[usize],
    offsets: &[(usize, usize)],
    canvas: usize,
) -> Result<(), CanvasError> {
    let max = max_offset(canvas)?;
    if indices.len() != offsets.len() {
        return Err(CanvasError::LengthMismatch {
            indices: indices.len(),
            offsets: offsets.len(),
        });
    }
    if let Some(&index) = indices.iter().find(|&&i| i >= dataset.len()) {
        return Err(CanvasError::IndexOutOfRange {
            index,
            len: dataset.len(),
        });
    }
    match offsets.iter().find(|&&(dx, dy)| dx > max || dy > max) {
        Some(&(dx, dy)) => Err(CanvasError::OffsetOutOfRange {
            dx,
            dy,
            canvas,
            max,
        }),
        None => Ok(()),
    }
}

/// Writes the images `indices` of `dataset` at `offsets` into `out`, a batch of shape
/// `[indices.len(), 1, canvas, canvas]` (NCHW), and their labels into `labels_out`.
///
/// Both buffers are cleared and refilled, keeping their allocation: call it with the same
/// vectors batch after batch. Everything outside the digits is 0; digit pixels are `byte / 255`.
/// Nothing is written when an argument is invalid.
///
/// Errors when `canvas < 28`, when `offsets` and `indices` differ in length, when an index is
/// not below `dataset.len()` or an offset exceeds `canvas - 28`.
pub fn fill_batch(
    dataset: &Dataset,
    indices: &[usize],
    offsets: &[(usize, usize)],
    canvas: usize,
    out: &mut Vec<f32>,
    labels_out: &mut Vec<Label>,
) -> Result<(), CanvasError> {
    check_batch(dataset, indices, offsets, canvas)?;
    let area = canvas * canvas;
    out.clear();
    out.resize(indices.len() * area, 0.0);
    labels_out.clear();
    labels_out.extend(indices.iter().map(|&i| Label::from(dataset.label(i))));

    let side = Dataset::SIDE;
    for ((plane, &index), &(dx, dy)) in out.chunks_exact_mut(area).zip(indices).zip(offsets) {
        for (row, src) in dataset.image(index).chunks_exact(side).enumerate() {
            let start = (dy + row) * canvas + dx;
            for (dst, &byte) in plane[start..start + side].iter_mut().zip(src) {
                *dst = PIXEL_TO_F32[usize::from(byte)];
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` images whose pixel `(r, c)` of image `i` is `(1 + i + r * 28 + c) % 256`, labels `i % 10`.
    fn dataset(n: usize) -> Dataset {
        let images = (0..n)
            .flat_map(|i| (0..Dataset::PIXELS).map(move |p| ((1 + i + p) % 256) as u8))
            .collect();
        let labels = (0..n).map(|i| (i % 10) as u8).collect();
        Dataset::new(images, labels).unwrap()
    }

    /// Checks that plane `k` of `batch` holds image `index` at `(dx, dy)` and zeros elsewhere.
    fn assert_placed(
        batch: &[f32],
        k: usize,
        canvas: usize,
        set: &Dataset,
        index: usize,
        (dx, dy): (usize, usize),
    ) {
        let plane = &batch[k * canvas * canvas..(k + 1) * canvas * canvas];
        let image = set.image(index);
        for y in 0..canvas {
            for x in 0..canvas {
                let inside = (dx..dx + 28).contains(&x) && (dy..dy + 28).contains(&y);
                let expected = if inside {
                    image[(y - dy) * 28 + (x - dx)] as f32 / 255.0
                } else {
                    0.0
                };
                assert_eq!(plane[y * canvas + x], expected, "item {k} at ({x}, {y})");
            }
        }
    }

    #[test]
    fn centered_puts_the_digit_at_18_18_on_64_and_zeros_elsewhere() {
        let set = dataset(3);
        let placement = CanvasPlacement::Centered;
        assert_eq!(placement.offset(64, 2), Ok((18, 18)));
        let indices = [2, 0];
        let offsets = offsets_for(&placement, 64, &indices).unwrap();
        let (mut out, mut labels) = (Vec::new(), Vec::new());
        fill_batch(&set, &indices, &offsets, 64, &mut out, &mut labels).unwrap();
        assert_eq!(out.len(), 2 * 64 * 64);
        assert_eq!(labels, [2, 0]);
        assert_placed(&out, 0, 64, &set, 2, (18, 18));
        assert_placed(&out, 1, 64, &set, 0, (18, 18));
        // Top-left digit pixel of image 2 is byte 3.
        assert_eq!(out[18 * 64 + 18], 3.0 / 255.0);
        assert_eq!(out[18 * 64 + 17], 0.0);
    }

    #[test]
    fn canvas_28_means_offset_0_and_an_exact_copy_over_255() {
        let set = dataset(2);
        for placement in [
            CanvasPlacement::Centered,
            CanvasPlacement::Shifted { seed: 9 },
            CanvasPlacement::At { dx: 0, dy: 0 },
        ] {
            assert_eq!(offsets_for(&placement, 28, &[0, 1]), Ok(vec![(0, 0); 2]));
        }
        let (mut out, mut labels) = (Vec::new(), Vec::new());
        fill_batch(&set, &[1], &[(0, 0)], 28, &mut out, &mut labels).unwrap();
        let expected: Vec<f32> = set.image(1).iter().map(|&b| b as f32 / 255.0).collect();
        assert_eq!(out, expected);
        assert_eq!(labels, [1]);
    }

    #[test]
    fn pixel_table_maps_255_to_one_and_0_to_zero() {
        assert_eq!(PIXEL_TO_F32[0], 0.0);
        assert_eq!(PIXEL_TO_F32[255], 1.0);
        assert!(
            PIXEL_TO_F32
                .iter()
                .enumerate()
                .all(|(b, &v)| v == b as f32 / 255.0)
        );
    }

    #[test]
    fn shifted_is_reproducible_for_the_same_seed() {
        let indices: Vec<usize> = (0..500).collect();
        let a = offsets_for(&CanvasPlacement::Shifted { seed: 42 }, 64, &indices).unwrap();
        let b = offsets_for(&CanvasPlacement::Shifted { seed: 42 }, 64, &indices).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn shifted_differs_across_seeds() {
        let indices: Vec<usize> = (0..500).collect();
        let a = offsets_for(&CanvasPlacement::Shifted { seed: 1 }, 64, &indices).unwrap();
        let b = offsets_for(&CanvasPlacement::Shifted { seed: 2 }, 64, &indices).unwrap();
        let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
        // Two independent uniform offsets on a 37×37 grid agree with probability 1/1369.
        assert!(same < 10, "{same} of 500 offsets agree");
    }

    #[test]
    fn shifted_covers_0_to_36_roughly_uniformly_on_both_axes() {
        let indices: Vec<usize> = (0..10_000).collect();
        let offsets = offsets_for(&CanvasPlacement::Shifted { seed: 7 }, 64, &indices).unwrap();
        let mut dx_hist = [0u32; 37];
        let mut dy_hist = [0u32; 37];
        for &(dx, dy) in &offsets {
            dx_hist[dx] += 1; // panics (fails) if an offset exceeds 36
            dy_hist[dy] += 1;
        }
        // Expected 10,000 / 37 ≈ 270 per bin, standard deviation ≈ 16.
        for hist in [dx_hist, dy_hist] {
            assert!(hist.iter().all(|&c| (190..=350).contains(&c)), "{hist:?}");
        }
        let diagonal = offsets.iter().filter(|(dx, dy)| dx == dy).count();
        assert!(diagonal < 600, "dx and dy look correlated: {diagonal}");
    }

    #[test]
    fn shifted_offset_is_independent_of_batch_composition() {
        let placement = CanvasPlacement::Shifted { seed: 3 };
        let alone = offsets_for(&placement, 64, &[1234]).unwrap();
        let among = offsets_for(&placement, 64, &[5, 1234, 9, 0]).unwrap();
        assert_eq!(alone[0], among[1]);
        assert_eq!(placement.offset(64, 1234), Ok(alone[0]));
    }

    #[test]
    fn at_places_exactly_at_the_given_offset() {
        let set = dataset(2);
        let placement = CanvasPlacement::At { dx: 36, dy: 5 };
        let offsets = offsets_for(&placement, 64, &[1, 0]).unwrap();
        assert_eq!(offsets, [(36, 5), (36, 5)]);
        let (mut out, mut labels) = (Vec::new(), Vec::new());
        fill_batch(&set, &[1, 0], &offsets, 64, &mut out, &mut labels).unwrap();
        assert_placed(&out, 0, 64, &set, 1, (36, 5));
        assert_placed(&out, 1, 64, &set, 0, (36, 5));
    }

    #[test]
    fn at_beyond_canvas_minus_28_is_out_of_range() {
        assert_eq!(
            CanvasPlacement::At { dx: 37, dy: 0 }.offset(64, 0),
            Err(CanvasError::OffsetOutOfRange {
                dx: 37,
                dy: 0,
                canvas: 64,
                max: 36
            })
        );
        assert!(CanvasPlacement::At { dx: 0, dy: 1 }.offset(28, 0).is_err());
    }

    #[test]
    fn canvas_smaller_than_28_is_rejected() {
        assert_eq!(
            CanvasPlacement::Centered.offset(27, 0),
            Err(CanvasError::CanvasTooSmall { canvas: 27 })
        );
        assert!(RandomShift { max: 2 }.offset(0, &mut Rng::new(1)).is_err());
        let (mut out, mut labels) = (Vec::new(), Vec::new());
        let result = fill_batch(&dataset(1), &[0], &[(0, 0)], 20, &mut out, &mut labels);
        assert_eq!(result, Err(CanvasError::CanvasTooSmall { canvas: 20 }));
    }

    #[test]
    fn placements_round_trip_through_display_and_parse() {
        for placement in [
            CanvasPlacement::Centered,
            CanvasPlacement::Shifted { seed: 0 },
            CanvasPlacement::Shifted { seed: u64::MAX },
            CanvasPlacement::At { dx: 18, dy: 3 },
        ] {
            let text = placement.to_string();
            assert_eq!(text.parse::<CanvasPlacement>(), Ok(placement), "{text}");
        }
        assert_eq!(CanvasPlacement::At { dx: 1, dy: 2 }.to_string(), "at:1,2");
        assert_eq!(
            CanvasPlacement::Shifted { seed: 5 }.to_string(),
            "shifted:5"
        );
        assert_eq!("shifted".parse(), Ok(CanvasPlacement::Shifted { seed: 0 }));
        assert_eq!(" Centered ".parse(), Ok(CanvasPlacement::Centered));
        assert_eq!(
            "at: 4 , 7".parse(),
            Ok(CanvasPlacement::At { dx: 4, dy: 7 })
        );
    }

    #[test]
    fn malformed_placements_are_parse_errors_naming_the_problem() {
        for (input, fragment) in [
            ("", "empty"),
            ("middle", "unknown placement `middle`"),
            ("centered:1", "takes no argument"),
            ("shifted:-1", "seed `-1`"),
            ("shifted:abc", "seed `abc`"),
            ("at", "needs an offset"),
            ("at:3", "DX,DY"),
            ("at:3,x", "offset `x`"),
            ("at:-2,1", "offset `-2`"),
        ] {
            let err = input.parse::<CanvasPlacement>().unwrap_err();
            assert!(matches!(err, CanvasError::Parse { .. }), "{input}: {err:?}");
            let message = err.to_string();
            assert!(message.contains(fragment), "{input}: {message}");
            assert!(message.contains("at:DX,DY"), "{input}: {message}");
        }
    }

    #[test]
    fn random_shift_stays_in_range() {
        let mut rng = Rng::new(11);
        let shift = RandomShift { max: 30 };
        let offsets = shift.offsets(64, 5_000, &mut rng).unwrap();
        assert!(offsets.iter().all(|&(dx, dy)| dx <= 36 && dy <= 36));
        // max 30 around 18 reaches both clamped edges.
        assert!(offsets.iter().any(|&(dx, _)| dx == 0));
        assert!(offsets.iter().any(|&(_, dy)| dy == 36));
        let small = RandomShift { max: 2 }.offsets(64, 1_000, &mut rng).unwrap();
        assert!(
            small
                .iter()
                .all(|&(dx, dy)| (16..=20).contains(&dx) && (16..=20).contains(&dy))
        );
        assert!(small.iter().any(|&(dx, _)| dx == 16) && small.iter().any(|&(dx, _)| dx == 20));
    }

    #[test]
    fn random_shift_with_max_0_is_centered() {
        let mut rng = Rng::new(5);
        for canvas in [28, 64, 65] {
            let centred = CanvasPlacement::Centered.offset(canvas, 0).unwrap();
            let offsets = RandomShift { max: 0 }
                .offsets(canvas, 50, &mut rng)
                .unwrap();
            assert!(offsets.iter().all(|&o| o == centred));
        }
    }

    #[test]
    fn random_shift_is_reproducible_from_the_rng_seed() {
        let shift = RandomShift { max: 4 };
        let a = shift.offsets(64, 100, &mut Rng::new(8)).unwrap();
        let b = shift.offsets(64, 100, &mut Rng::new(8)).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn fill_batch_reuses_the_buffer_and_clears_the_previous_batch() {
        let set = dataset(4);
        let (mut out, mut labels) = (Vec::new(), Vec::new());
        fill_batch(
            &set,
            &[0, 1],
            &[(0, 0), (36, 36)],
            64,
            &mut out,
            &mut labels,
        )
        .unwrap();
        let (ptr, capacity) = (out.as_ptr(), out.capacity());
        fill_batch(
            &set,
            &[3, 2],
            &[(36, 36), (0, 0)],
            64,
            &mut out,
            &mut labels,
        )
        .unwrap();
        assert_eq!(out.as_ptr(), ptr);
        assert_eq!(out.capacity(), capacity);
        assert_eq!(labels, [3, 2]);
        assert_placed(&out, 0, 64, &set, 3, (36, 36));
        assert_placed(&out, 1, 64, &set, 2, (0, 0));
    }

    #[test]
    fn fill_batch_rejects_bad_batches_without_writing() {
        let set = dataset(2);
        let mut out = vec![7.0; 3];
        let mut labels = vec![9];
        assert_eq!(
            fill_batch(&set, &[0, 2], &[(0, 0); 2], 64, &mut out, &mut labels),
            Err(CanvasError::IndexOutOfRange { index: 2, len: 2 })
        );
        assert_eq!(
            fill_batch(&set, &[0, 1], &[(0, 0)], 64, &mut out, &mut labels),
            Err(CanvasError::LengthMismatch {
                indices: 2,
                offsets: 1
            })
        );
        assert!(matches!(
            fill_batch(&set, &[0], &[(0, 37)], 64, &mut out, &mut labels),
            Err(CanvasError::OffsetOutOfRange { dy: 37, .. })
        ));
        assert_eq!((out, labels), (vec![7.0; 3], vec![9]));
    }
}
