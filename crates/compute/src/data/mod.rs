//! Handwritten-digit data: the in-memory [`Dataset`] of 28×28 `u8` images with labels 0–9,
//! the IDX file parser and writer ([`idx`]), and batch filling onto a larger canvas ([`canvas`]).
//!
//! The dataset keeps the raw bytes only (784 per image); pixels become `f32` one batch at a
//! time, in a buffer the caller reuses, so a 64×64 canvas never costs a padded copy of the set.

pub mod canvas;
pub mod files;
pub mod idx;
#[cfg(feature = "images")]
pub mod images;

pub use canvas::{
    CanvasError, CanvasPlacement, RandomShift, check_batch, fill_batch, max_offset, offsets_for,
};
pub use files::{DatasetKind, load_split};
pub use idx::{IdxError, IdxImages, parse_idx_images, parse_idx_labels};

/// Number of digit classes; labels are `0..CLASSES`.
pub const CLASSES: usize = 10;

/// A class index as a training step reads it: up to 65,536 classes (an image folder of
/// ImageNet's 1,000, and more). The digits' files store theirs as bytes ([`Dataset::label`]).
pub type Label = u16;

/// A set of 28×28 grey-scale digit images (`u8`, 0 = background) with their labels (0–9).
///
/// Images are stored contiguously, `len × 28 × 28` bytes, row-major within each image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dataset {
    images: Vec<u8>,
    labels: Vec<u8>,
    len: usize,
}

impl Dataset {
    /// Side of an image in pixels.
    pub const SIDE: usize = 28;
    /// Pixels in one image (`SIDE × SIDE` = 784).
    pub const PIXELS: usize = Self::SIDE * Self::SIDE;

    /// Builds a dataset from the bytes of an IDX image file (`n × 28 × 28`, magic 0x00000803)
    /// and an IDX label file (`n`, magic 0x00000801).
    ///
    /// Errors on any malformed file, on images that are not 28×28, on differing counts, on a
    /// label above 9 and on an empty set.
    pub fn from_idx(images_bytes: &[u8], labels_bytes: &[u8]) -> Result<Dataset, IdxError> {
        let images = parse_idx_images(images_bytes)?;
        let labels = parse_idx_labels(labels_bytes)?;
        if images.rows != Self::SIDE || images.cols != Self::SIDE {
            return Err(IdxError::WrongDimensions {
                expected: format!("{0}×{0} images", Self::SIDE),
                got: format!("{}×{} images", images.rows, images.cols),
            });
        }
        Dataset::new(images.pixels, labels)
    }

    /// Builds a dataset from `images` (`n × 28 × 28` bytes, row-major) and `labels` (`n` bytes).
    ///
    /// Errors with [`IdxError::Empty`] when both are empty, [`IdxError::WrongDimensions`] when
    /// the image bytes are not a whole number of 784-byte images, [`IdxError::CountMismatch`] when
    /// the counts differ and [`IdxError::LabelOutOfRange`] for a label above 9.
    pub fn new(images: Vec<u8>, labels: Vec<u8>) -> Result<Dataset, IdxError> {
        if images.is_empty() && labels.is_empty() {
            return Err(IdxError::Empty);
        }
        if !images.len().is_multiple_of(Self::PIXELS) {
            return Err(IdxError::WrongDimensions {
                expected: format!("a multiple of {} bytes (n×28×28)", Self::PIXELS),
                got: format!("{} bytes", images.len()),
            });
        }
        let len = images.len() / Self::PIXELS;
        if len != labels.len() {
            return Err(IdxError::CountMismatch {
                images: len,
                labels: labels.len(),
            });
        }
        if let Some((index, &label)) = labels
            .iter()
            .enumerate()
            .find(|&(_, &label)| usize::from(label) >= CLASSES)
        {
            return Err(IdxError::LabelOutOfRange { index, label });
        }
        Ok(Dataset {
            images,
            labels,
            len,
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the dataset holds no image (only possible through [`Dataset::subset`]`(0)`).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The 784 bytes (28 rows × 28 columns, row-major) of image `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * Self::PIXELS..(i + 1) * Self::PIXELS]
    }

    /// The label (0–9) of image `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn label(&self, i: usize) -> u8 {
        self.labels[i]
    }

    /// All images' bytes, one image after the other.
    pub fn pixels(&self) -> &[u8] {
        &self.images
    }

    /// All labels, one per image.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// A copy of the first `n` images and labels, or of all of them when `n >= self.len()`.
    pub fn subset(&self, n: usize) -> Dataset {
        let len = n.min(self.len);
        Dataset {
            images: self.images[..len * Self::PIXELS].to_vec(),
            labels: self.labels[..len].to_vec(),
            len,
        }
    }

    /// The images as an IDX file: magic 0x00000803, then `n`, 28, 28 (big-endian `u32`), then
    /// the `n × 784` pixel bytes.
    pub fn to_idx_images(&self) -> Vec<u8> {
        idx::write_idx(
            idx::IMAGES_MAGIC,
            &[self.len, Self::SIDE, Self::SIDE],
            &self.images,
        )
    }

    /// The labels as an IDX file: magic 0x00000801, then `n` (big-endian `u32`), then `n` bytes.
    pub fn to_idx_labels(&self) -> Vec<u8> {
        idx::write_idx(idx::LABELS_MAGIC, &[self.len], &self.labels)
    }
}

/// `n` synthetic 28×28 "digits" for tests: class k is a bright bar at row 2k+4.
#[cfg(test)]
pub(crate) fn toy_dataset(n: usize) -> Dataset {
    let mut images = vec![0u8; n * Dataset::PIXELS];
    let mut labels = vec![0u8; n];
    for i in 0..n {
        let k = i % CLASSES;
        labels[i] = k as u8;
        for c in 4..24 {
            images[i * Dataset::PIXELS + (2 * k + 4) * Dataset::SIDE + c] = 200 + (i % 7) as u8;
        }
    }
    Dataset::new(images, labels).expect("toy data is well formed")
}
