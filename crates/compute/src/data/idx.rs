//! The IDX file format of the MNIST distribution: a big-endian header (magic number, then one
//! `u32` per dimension) followed by the `u8` payload.
//!
//! Image files have magic 0x00000803 and dimensions `n, rows, cols`; label files have magic
//! 0x00000801 and dimension `n`. The third byte of the magic (0x08) is the `u8` element type and
//! the fourth the number of dimensions. The parsers accept exactly the announced payload: a short
//! file and extra bytes after the payload are both errors.

/// Magic number of an IDX file of `u8` images (`n × rows × cols`).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of `u8` labels (`n`).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// Magic of a `u8` IDX file with no dimension; the low byte adds the dimension count.
const U8_MAGIC_BASE: u32 = 0x0000_0800;

/// Why bytes could not be read as IDX digits or labels.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum IdxError {
    /// The file ends inside its header.
    #[error("IDX header incomplete: it needs {needed} bytes but the file has only {got}")]
    TooShort { needed: usize, got: usize },
    /// The magic number is not the one of the expected kind of file.
    #[error(
        "not an IDX file of the expected kind: magic number {got:#010x}, expected {expected:#010x}"
    )]
    BadMagic { expected: u32, got: u32 },
    /// The header, or the images, have a shape this reader does not accept.
    #[error("wrong IDX dimensions: expected {expected}, got {got}")]
    WrongDimensions { expected: String, got: String },
    /// The file is shorter than its header announces.
    #[error(
        "IDX data truncated: the header announces {expected_bytes} bytes in all, the file has {got_bytes}"
    )]
    Truncated {
        expected_bytes: usize,
        got_bytes: usize,
    },
    /// The file is longer than its header announces.
    #[error(
        "IDX file has trailing bytes: the header announces {expected_bytes} bytes in all, the file has {got_bytes}"
    )]
    TrailingBytes {
        expected_bytes: usize,
        got_bytes: usize,
    },
    /// The image and label files hold different numbers of items.
    #[error("image and label files disagree: {images} images but {labels} labels")]
    CountMismatch { images: usize, labels: usize },
    /// A label is not a digit 0–9.
    #[error("label {label} of item {index} is out of range (labels are digits 0 to 9)")]
    LabelOutOfRange { index: usize, label: u8 },
    /// The files hold no item.
    #[error("the data set is empty: the files hold no image")]
    Empty,
}

/// The content of an IDX image file: `count` images of `rows × cols` bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Rows per image.
    pub rows: usize,
    /// Columns per image.
    pub cols: usize,
    /// `count × rows × cols` bytes, image after image, each row-major.
    pub pixels: Vec<u8>,
}

/// Parses an IDX image file (magic 0x00000803; `n`, `rows`, `cols` as big-endian `u32`; then
/// `n × rows × cols` bytes). Any image size is accepted here; [`crate::data::Dataset`] requires
/// 28×28.
pub fn parse_idx_images(bytes: &[u8]) -> Result<IdxImages, IdxError> {
    let (dims, payload) = read_idx(bytes, IMAGES_MAGIC, "3-D header [n, rows, cols]")?;
    Ok(IdxImages {
        count: dims[0],
        rows: dims[1],
        cols: dims[2],
        pixels: payload.to_vec(),
    })
}

/// Parses an IDX label file (magic 0x00000801; `n` as big-endian `u32`; then `n` bytes) into its
/// labels. Label values are not checked here; [`crate::data::Dataset`] requires 0–9.
pub fn parse_idx_labels(bytes: &[u8]) -> Result<Vec<u8>, IdxError> {
    let (_, payload) = read_idx(bytes, LABELS_MAGIC, "1-D header [n]")?;
    Ok(payload.to_vec())
}

/// Serialises a `u8` IDX file: `magic`, one big-endian `u32` per entry of `dims`, then `payload`.
///
/// Dimensions above `u32::MAX` cannot be represented and are written truncated; no in-memory
/// dataset comes near that size.
pub(crate) fn write_idx(magic: u32, dims: &[usize], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 4 * dims.len() + payload.len());
    out.extend_from_slice(&magic.to_be_bytes());
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(payload);
    out
}

/// Checks the header of `bytes` against `magic` and the total length against the header, and
/// returns the dimensions and the payload. `shape` describes the expected header for messages.
fn read_idx<'a>(
    bytes: &'a [u8],
    magic: u32,
    shape: &str,
) -> Result<(Vec<usize>, &'a [u8]), IdxError> {
    let ndim = (magic & 0xFF) as usize;
    let got_magic = read_u32(bytes, 0).ok_or(IdxError::TooShort {
        needed: header_len(ndim),
        got: bytes.len(),
    })?;
    if got_magic != magic {
        if got_magic & !0xFF == U8_MAGIC_BASE {
            let got_ndim = (got_magic & 0xFF) as usize;
            let dims = read_dims(bytes, got_ndim)?;
            return Err(IdxError::WrongDimensions {
                expected: shape.to_string(),
                got: format!("{got_ndim}-D header {dims:?}"),
            });
        }
        return Err(IdxError::BadMagic {
            expected: magic,
            got: got_magic,
        });
    }
    let dims = read_dims(bytes, ndim)?;
    let header = header_len(ndim);
    // Saturating: a header announcing more than usize::MAX bytes is simply truncated.
    let payload_len = dims.iter().fold(1usize, |p, &d| p.saturating_mul(d));
    let expected_bytes = header.saturating_add(payload_len);
    if bytes.len() < expected_bytes {
        return Err(IdxError::Truncated {
            expected_bytes,
            got_bytes: bytes.len(),
        });
    }
    if bytes.len() > expected_bytes {
        return Err(IdxError::TrailingBytes {
            expected_bytes,
            got_bytes: bytes.len(),
        });
    }
    Ok((dims, &bytes[header..]))
}

/// Length in bytes of a header with `ndim` dimensions.
fn header_len(ndim: usize) -> usize {
    4 + 4 * ndim
}

/// Reads the `ndim` dimensions after the magic number.
fn read_dims(bytes: &[u8], ndim: usize) -> Result<Vec<usize>, IdxError> {
    (0..ndim)
        .map(|k| {
            read_u32(bytes, 4 + 4 * k)
                .map(|d| d as usize)
                .ok_or(IdxError::TooShort {
                    needed: header_len(ndim),
                    got: bytes.len(),
                })
        })
        .collect()
}

/// The big-endian `u32` at `at`, if the bytes reach that far.
fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let word = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([word[0], word[1], word[2], word[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;

    /// An IDX image file of `n` images of `rows × cols` with pixel `k` equal to `k mod 251`.
    fn images_file(n: usize, rows: usize, cols: usize) -> Vec<u8> {
        let pixels: Vec<u8> = (0..n * rows * cols).map(|k| (k % 251) as u8).collect();
        write_idx(IMAGES_MAGIC, &[n, rows, cols], &pixels)
    }

    fn labels_file(labels: &[u8]) -> Vec<u8> {
        write_idx(LABELS_MAGIC, &[labels.len()], labels)
    }

    #[test]
    fn writer_then_parser_round_trips_a_dataset() {
        let n = 5;
        let images: Vec<u8> = (0..n * Dataset::PIXELS)
            .map(|k| (k * 7 % 256) as u8)
            .collect();
        let labels = vec![3, 0, 9, 9, 1];
        let set = Dataset::new(images.clone(), labels.clone()).unwrap();
        let image_bytes = set.to_idx_images();
        let label_bytes = set.to_idx_labels();
        assert_eq!(
            image_bytes[..16],
            [0, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 28, 0, 0, 0, 28]
        );
        assert_eq!(label_bytes[..8], [0, 0, 8, 1, 0, 0, 0, 5]);
        let parsed = parse_idx_images(&image_bytes).unwrap();
        assert_eq!((parsed.count, parsed.rows, parsed.cols), (5, 28, 28));
        assert_eq!(parsed.pixels, images);
        assert_eq!(parse_idx_labels(&label_bytes).unwrap(), labels);
        let back = Dataset::from_idx(&image_bytes, &label_bytes).unwrap();
        assert_eq!(back, set);
        assert_eq!(back.image(2), &images[2 * 784..3 * 784]);
        assert_eq!(back.label(2), 9);
    }

    #[test]
    fn parser_accepts_images_of_any_size() {
        let parsed = parse_idx_images(&images_file(2, 3, 4)).unwrap();
        assert_eq!((parsed.count, parsed.rows, parsed.cols), (2, 3, 4));
        assert_eq!(parsed.pixels.len(), 24);
    }

    #[test]
    fn header_shorter_than_announced_is_too_short() {
        assert_eq!(
            parse_idx_images(&[0, 0, 8]),
            Err(IdxError::TooShort { needed: 16, got: 3 })
        );
        let file = images_file(1, 28, 28);
        assert_eq!(
            parse_idx_images(&file[..10]),
            Err(IdxError::TooShort {
                needed: 16,
                got: 10
            })
        );
        assert_eq!(
            parse_idx_labels(&[0, 0, 8, 1, 0]),
            Err(IdxError::TooShort { needed: 8, got: 5 })
        );
    }

    #[test]
    fn wrong_magic_is_bad_magic() {
        let mut file = images_file(1, 28, 28);
        file[2] = 0x0D; // float element type
        assert_eq!(
            parse_idx_images(&file),
            Err(IdxError::BadMagic {
                expected: 0x803,
                got: 0xD03
            })
        );
        let err = parse_idx_labels(b"PK\x03\x04\0\0\0\0").unwrap_err();
        assert!(matches!(
            err,
            IdxError::BadMagic {
                expected: 0x801,
                ..
            }
        ));
        assert!(err.to_string().contains("0x504b0304"), "{err}");
    }

    #[test]
    fn labels_header_with_two_dimensions_is_wrong_dimensions() {
        let file = write_idx(0x802, &[3, 1], &[1, 2, 3]);
        assert_eq!(
            parse_idx_labels(&file),
            Err(IdxError::WrongDimensions {
                expected: "1-D header [n]".to_string(),
                got: "2-D header [3, 1]".to_string(),
            })
        );
    }

    #[test]
    fn images_file_given_as_labels_is_wrong_dimensions() {
        let err = parse_idx_labels(&images_file(1, 28, 28)).unwrap_err();
        assert!(matches!(err, IdxError::WrongDimensions { .. }), "{err}");
    }

    #[test]
    fn images_of_27_by_28_are_wrong_dimensions_for_a_dataset() {
        assert_eq!(
            Dataset::from_idx(&images_file(2, 27, 28), &labels_file(&[1, 2])),
            Err(IdxError::WrongDimensions {
                expected: "28×28 images".to_string(),
                got: "27×28 images".to_string(),
            })
        );
    }

    #[test]
    fn image_bytes_not_a_multiple_of_784_are_wrong_dimensions() {
        let err = Dataset::new(vec![0; 785], vec![1]).unwrap_err();
        assert!(matches!(err, IdxError::WrongDimensions { .. }), "{err}");
    }

    #[test]
    fn missing_payload_bytes_are_truncated() {
        let file = images_file(2, 28, 28);
        assert_eq!(
            parse_idx_images(&file[..file.len() - 1]),
            Err(IdxError::Truncated {
                expected_bytes: 16 + 2 * 784,
                got_bytes: 16 + 2 * 784 - 1
            })
        );
        let labels = labels_file(&[1, 2, 3]);
        assert_eq!(
            parse_idx_labels(&labels[..9]),
            Err(IdxError::Truncated {
                expected_bytes: 11,
                got_bytes: 9
            })
        );
    }

    #[test]
    fn huge_announced_size_is_truncated_not_an_overflow() {
        let file = write_idx(IMAGES_MAGIC, &[u32::MAX as usize; 3], &[]);
        assert!(matches!(
            parse_idx_images(&file),
            Err(IdxError::Truncated { got_bytes: 16, .. })
        ));
    }

    #[test]
    fn extra_bytes_after_the_payload_are_trailing_bytes() {
        let mut file = labels_file(&[1, 2, 3]);
        file.push(0);
        assert_eq!(
            parse_idx_labels(&file),
            Err(IdxError::TrailingBytes {
                expected_bytes: 11,
                got_bytes: 12
            })
        );
        let mut file = images_file(1, 28, 28);
        file.extend_from_slice(&[0; 8]);
        assert!(matches!(
            parse_idx_images(&file),
            Err(IdxError::TrailingBytes { .. })
        ));
    }

    #[test]
    fn label_count_differing_from_image_count_is_count_mismatch() {
        assert_eq!(
            Dataset::from_idx(&images_file(3, 28, 28), &labels_file(&[1, 2])),
            Err(IdxError::CountMismatch {
                images: 3,
                labels: 2
            })
        );
    }

    #[test]
    fn label_10_is_out_of_range() {
        assert_eq!(
            Dataset::from_idx(&images_file(3, 28, 28), &labels_file(&[9, 0, 10])),
            Err(IdxError::LabelOutOfRange {
                index: 2,
                label: 10
            })
        );
    }

    #[test]
    fn files_with_no_item_are_empty() {
        assert_eq!(
            Dataset::from_idx(&images_file(0, 28, 28), &labels_file(&[])),
            Err(IdxError::Empty)
        );
        assert_eq!(parse_idx_labels(&labels_file(&[])), Ok(vec![]));
    }

    #[test]
    fn subset_takes_the_first_n_or_everything() {
        let images: Vec<u8> = (0..4 * Dataset::PIXELS).map(|k| (k % 256) as u8).collect();
        let set = Dataset::new(images, vec![4, 5, 6, 7]).unwrap();
        let two = set.subset(2);
        assert_eq!(two.len(), 2);
        assert_eq!(two.labels(), &[4, 5]);
        assert_eq!(two.image(1), set.image(1));
        assert_eq!(set.subset(10), set);
        assert!(set.subset(0).is_empty());
    }
}
