//! Real image data for the full-size networks: an image folder in torchvision's `ImageFolder`
//! convention (one subfolder per class, sorted by name; PNG and JPEG files) or CIFAR-10's binary
//! batches (`data_batch_*.bin`, `test_batch.bin`), turned into `[3, h, w]` f32 batches by a
//! [`Transform`] (resize the shorter side, centre or random crop, horizontal flip, per-channel
//! normalisation).
//!
//! [`Prefetch`] decodes the batches of an epoch ahead of the training step on every core (a
//! bounded queue of batches, each decoded in parallel), so the step never waits on the decoder
//! while the queue is full. A file that does not decode is one clear error naming it, or, with
//! `skip_bad`, left out of its batch and counted.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, sync_channel};

use rayon::prelude::*;

use crate::data::Label;
use crate::error::{Error, Result};
use crate::rng::Rng;

/// The most classes a training step's labels can name ([`crate::data::Label`]).
pub const MAX_CLASSES: usize = crate::data::Label::MAX as usize + 1;

/// How a decoded image becomes the network's input.
#[derive(Clone, Debug, PartialEq)]
pub struct Transform {
    /// Output `[h, w]` (the model's input size).
    pub size: [usize; 2],
    /// Resize so the shorter side is this many pixels first (bilinear), keeping the aspect;
    /// `None`: crop from the image as it is.
    pub resize: Option<usize>,
    /// Random crop position (training) instead of the centre.
    pub random_crop: bool,
    /// Mirror left-right with probability ½ (training).
    pub flip: bool,
    /// Per-channel mean and standard deviation of pixels in [0, 1].
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Transform {
    /// Evaluation: resize the shorter side to the input size and take the centre.
    pub fn eval(size: [usize; 2], mean: [f32; 3], std: [f32; 3]) -> Self {
        Self {
            size,
            resize: Some(size[0].max(size[1])),
            random_crop: false,
            flip: false,
            mean,
            std,
        }
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidTrainSpec(m));
        if self.size.contains(&0) || self.size.iter().any(|&s| s > 4096) {
            return bad(format!("image size {:?} must be 1 to 4096", self.size));
        }
        if self.resize.is_some_and(|r| r == 0 || r > 8192) {
            return bad("--resize must be 1 to 8192".into());
        }
        if self.std.iter().any(|s| !s.is_finite() || *s <= 0.0)
            || self.mean.iter().any(|m| !m.is_finite())
        {
            return bad("normalisation needs finite means and positive standard deviations".into());
        }
        Ok(())
    }

    /// Writes `img` (RGB bytes, `[h, w, 3]`) into `out` (`[3, size]`, normalised).
    pub fn apply(&self, img: &Rgb, rng: &mut Rng, out: &mut [f32]) -> Result<()> {
        let resized;
        let src = match self.resize {
            Some(side) => {
                // The shorter side to `side`, the longer one in proportion (rounded).
                let scale =
                    |long: usize, short: usize| ((long * side * 2 + short) / (2 * short)).max(side);
                let (h, w) = if img.h <= img.w {
                    (side, scale(img.w, img.h))
                } else {
                    (scale(img.h, img.w), side)
                };
                resized = img.resize(h, w);
                &resized
            }
            None => img,
        };
        let [oh, ow] = self.size;
        if src.h < oh || src.w < ow {
            return Err(Error::InvalidTrainSpec(format!(
                "a {}×{} image is smaller than the {oh}×{ow} crop: add --resize",
                src.h, src.w
            )));
        }
        let (y0, x0) = if self.random_crop {
            (
                (rng.next_u64() % (src.h - oh + 1) as u64) as usize,
                (rng.next_u64() % (src.w - ow + 1) as u64) as usize,
            )
        } else {
            ((src.h - oh) / 2, (src.w - ow) / 2)
        };
        let flip = self.flip && rng.next_u64() & 1 == 1;
        let plane = oh * ow;
        for c in 0..3 {
            let (m, s) = (self.mean[c], self.std[c]);
            for y in 0..oh {
                for x in 0..ow {
                    let sx = if flip { x0 + ow - 1 - x } else { x0 + x };
                    let v = src.px[((y0 + y) * src.w + sx) * 3 + c] as f32 / 255.0;
                    out[c * plane + y * ow + x] = (v - m) / s;
                }
            }
        }
        Ok(())
    }
}

/// A decoded image: `h × w` RGB bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Rgb {
    pub h: usize,
    pub w: usize,
    pub px: Vec<u8>,
}

impl Rgb {
    /// Bilinear resize (pixel centres aligned, as PIL's and torchvision's antialias-free path).
    pub fn resize(&self, h: usize, w: usize) -> Rgb {
        if (h, w) == (self.h, self.w) {
            return self.clone();
        }
        let mut px = vec![0u8; h * w * 3];
        let axis = |o: usize, out: usize, len: usize| {
            let f = ((o as f32 + 0.5) * len as f32 / out as f32 - 0.5).max(0.0);
            let i = (f as usize).min(len - 1);
            (i, (i + 1).min(len - 1), f - i as f32)
        };
        for y in 0..h {
            let (y0, y1, fy) = axis(y, h, self.h);
            for x in 0..w {
                let (x0, x1, fx) = axis(x, w, self.w);
                for c in 0..3 {
                    let p = |yy: usize, xx: usize| self.px[(yy * self.w + xx) * 3 + c] as f32;
                    let top = p(y0, x0) * (1.0 - fx) + p(y0, x1) * fx;
                    let bottom = p(y1, x0) * (1.0 - fx) + p(y1, x1) * fx;
                    px[(y * w + x) * 3 + c] = (top * (1.0 - fy) + bottom * fy).round() as u8;
                }
            }
        }
        Rgb { h, w, px }
    }
}

/// Decodes a PNG or JPEG file's bytes (by their signature) to RGB.
pub fn decode(bytes: &[u8]) -> std::result::Result<Rgb, String> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        decode_png(bytes)
    } else if bytes.starts_with(&[0xFF, 0xD8]) {
        decode_jpeg(bytes)
    } else {
        Err("not a PNG or JPEG file".into())
    }
}

fn decode_png(bytes: &[u8]) -> std::result::Result<Rgb, String> {
    let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec.read_info().map_err(|e| e.to_string())?;
    let (w, h) = (reader.info().width as usize, reader.info().height as usize);
    if w == 0 || h == 0 || w * h > 64 << 20 {
        return Err(format!("{w}×{h} pixels is not a size convplay decodes"));
    }
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| "image too large".to_string())?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf).map_err(|e| e.to_string())?;
    let buf = &buf[..info.buffer_size()];
    let px = match info.color_type {
        png::ColorType::Rgb => buf.to_vec(),
        png::ColorType::Rgba => buf
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect(),
        png::ColorType::Grayscale => buf.iter().flat_map(|&g| [g, g, g]).collect(),
        png::ColorType::GrayscaleAlpha => buf
            .chunks_exact(2)
            .flat_map(|p| [p[0], p[0], p[0]])
            .collect(),
        png::ColorType::Indexed => return Err("indexed PNG was not expanded".into()),
    };
    if px.len() != w * h * 3 {
        return Err("PNG data does not match its size".into());
    }
    Ok(Rgb { h, w, px })
}

fn decode_jpeg(bytes: &[u8]) -> std::result::Result<Rgb, String> {
    use zune_jpeg::JpegDecoder;
    use zune_jpeg::zune_core::bytestream::ZCursor;
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let options = DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::RGB)
        .set_max_width(16_384)
        .set_max_height(16_384);
    let mut dec = JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    let px = dec.decode().map_err(|e| e.to_string())?;
    let (w, h) = dec
        .dimensions()
        .ok_or_else(|| "no JPEG dimensions".to_string())?;
    if px.len() != w * h * 3 {
        return Err("JPEG data does not match its size".into());
    }
    Ok(Rgb { h, w, px })
}

/// Where a set's images come from.
#[derive(Clone, Debug)]
enum Source {
    /// Files, decoded when a batch needs them.
    Files(Vec<PathBuf>),
    /// CIFAR-10: `n × 3072` bytes, each image `[3, 32, 32]` planes.
    Cifar(Vec<u8>),
}

/// A labelled image set.
#[derive(Clone, Debug)]
pub struct ImageSet {
    pub classes: Vec<String>,
    pub labels: Vec<Label>,
    source: Source,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Data(format!("{}: {e}", path.display()))
}

const EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "jpe"];

impl ImageSet {
    /// An image folder: every subfolder of `dir` is a class (sorted by name, as torchvision's
    /// `ImageFolder`), holding its PNG and JPEG files (other files are ignored).
    pub fn folder(dir: &Path) -> Result<Self> {
        let mut classes: Vec<String> = std::fs::read_dir(dir)
            .map_err(|e| io_err(dir, e))?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect();
        classes.sort();
        if classes.len() < 2 {
            return Err(Error::Data(format!(
                "{}: an image folder needs a subfolder per class, at least two (found {})",
                dir.display(),
                classes.len()
            )));
        }
        if classes.len() > MAX_CLASSES {
            return Err(Error::Data(format!(
                "{}: {} classes; convplay trains at most {MAX_CLASSES}",
                dir.display(),
                classes.len()
            )));
        }
        let (mut paths, mut labels) = (Vec::new(), Vec::new());
        for (label, class) in classes.iter().enumerate() {
            let sub = dir.join(class);
            let mut files: Vec<PathBuf> = std::fs::read_dir(&sub)
                .map_err(|e| io_err(&sub, e))?
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.is_file()
                        && p.extension()
                            .and_then(|x| x.to_str())
                            .is_some_and(|x| EXTENSIONS.contains(&x.to_ascii_lowercase().as_str()))
                })
                .collect();
            files.sort();
            labels.extend(std::iter::repeat_n(label as Label, files.len()));
            paths.extend(files);
        }
        if paths.is_empty() {
            return Err(Error::Data(format!(
                "{}: no PNG or JPEG files in its class folders",
                dir.display()
            )));
        }
        Ok(Self {
            classes,
            labels,
            source: Source::Files(paths),
        })
    }

    /// CIFAR-10's binary format: records of one label byte (0–9) and 3,072 pixel bytes (the
    /// red, green and blue 32×32 planes). `files` are read in order.
    pub fn cifar10(files: &[PathBuf]) -> Result<Self> {
        const RECORD: usize = 1 + 3072;
        let (mut pixels, mut labels) = (Vec::new(), Vec::new());
        for f in files {
            let bytes = std::fs::read(f).map_err(|e| io_err(f, e))?;
            if bytes.is_empty() || bytes.len() % RECORD != 0 {
                return Err(io_err(
                    f,
                    format!(
                        "{} bytes is not a whole number of CIFAR-10 records ({RECORD} bytes each)",
                        bytes.len()
                    ),
                ));
            }
            for (i, r) in bytes.chunks_exact(RECORD).enumerate() {
                if r[0] > 9 {
                    return Err(io_err(f, format!("record {i} has label {} (0–9)", r[0])));
                }
                labels.push(Label::from(r[0]));
                pixels.extend_from_slice(&r[1..]);
            }
        }
        if labels.is_empty() {
            return Err(Error::Data("no CIFAR-10 files".into()));
        }
        let classes = [
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck",
        ];
        Ok(Self {
            classes: classes.map(String::from).to_vec(),
            labels,
            source: Source::Cifar(pixels),
        })
    }

    /// A CIFAR-10 directory's training (`data_batch_*.bin`) or test (`test_batch.bin`) files.
    pub fn cifar10_dir(dir: &Path, train: bool) -> Result<Self> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| io_err(dir, e))?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if train {
                    name.starts_with("data_batch_") && name.ends_with(".bin")
                } else {
                    name == "test_batch.bin"
                }
            })
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Error::Data(format!(
                "{}: no {} in it",
                dir.display(),
                if train {
                    "data_batch_*.bin"
                } else {
                    "test_batch.bin"
                }
            )));
        }
        Self::cifar10(&files)
    }

    /// Whether `dir` holds CIFAR-10 binary batches.
    pub fn is_cifar10_dir(dir: &Path) -> bool {
        dir.join("data_batch_1.bin").is_file() || dir.join("test_batch.bin").is_file()
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The images `indices` (in order) as a new set.
    pub fn subset(&self, indices: &[usize]) -> Self {
        let source = match &self.source {
            Source::Files(p) => Source::Files(indices.iter().map(|&i| p[i].clone()).collect()),
            Source::Cifar(px) => Source::Cifar(
                indices
                    .iter()
                    .flat_map(|&i| px[i * 3072..(i + 1) * 3072].iter().copied())
                    .collect(),
            ),
        };
        Self {
            classes: self.classes.clone(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            source,
        }
    }

    /// Image `i`, decoded; the error names the file.
    pub fn image(&self, i: usize) -> Result<Rgb> {
        match &self.source {
            Source::Files(paths) => {
                let p = &paths[i];
                let bytes = std::fs::read(p).map_err(|e| io_err(p, e))?;
                decode(&bytes).map_err(|e| io_err(p, e))
            }
            Source::Cifar(px) => {
                let r = &px[i * 3072..(i + 1) * 3072];
                let px = (0..1024)
                    .flat_map(|k| [r[k], r[1024 + k], r[2048 + k]])
                    .collect();
                Ok(Rgb { h: 32, w: 32, px })
            }
        }
    }

    /// A name for image `i` in messages.
    pub fn name(&self, i: usize) -> String {
        match &self.source {
            Source::Files(p) => p[i].display().to_string(),
            Source::Cifar(_) => format!("CIFAR-10 record {i}"),
        }
    }
}

/// One decoded batch: `[n, 3, h, w]` inputs, their labels, and the images left out as bad.
#[derive(Debug, Default)]
pub struct Batch {
    pub x: Vec<f32>,
    pub labels: Vec<Label>,
    pub skipped: Vec<String>,
}

/// Decodes `indices` of `set` in parallel. Each image draws its crop and flip from its own
/// stream (`seed` and its position), so a batch is the same whatever the thread count.
pub fn decode_batch(
    set: &ImageSet,
    indices: &[usize],
    t: &Transform,
    seed: u64,
    skip_bad: bool,
) -> Result<Batch> {
    let len = 3 * t.size[0] * t.size[1];
    let decoded: Vec<std::result::Result<Vec<f32>, (String, Error)>> = indices
        .par_iter()
        .enumerate()
        .map(|(k, &i)| {
            let mut rng = Rng::new(seed ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut out = vec![0.0; len];
            set.image(i)
                .and_then(|img| t.apply(&img, &mut rng, &mut out))
                .map(|_| out)
                .map_err(|e| (set.name(i), e))
        })
        .collect();
    let mut b = Batch {
        x: Vec::with_capacity(indices.len() * len),
        ..Batch::default()
    };
    for (r, &i) in decoded.into_iter().zip(indices) {
        match r {
            Ok(v) => {
                b.x.extend_from_slice(&v);
                b.labels.push(set.labels[i]);
            }
            Err((name, e)) if skip_bad => b.skipped.push(format!("{name} ({e})")),
            Err((_, e)) => return Err(e),
        }
    }
    Ok(b)
}

/// The batches of one epoch, decoded `ahead` batches in advance on a thread of their own (and
/// each in parallel): the queue is bounded, so memory stays at `ahead` batches.
pub struct Prefetch {
    rx: Receiver<Result<Batch>>,
}

impl Prefetch {
    pub fn new(
        set: ImageSet,
        batches: Vec<Vec<usize>>,
        t: Transform,
        seed: u64,
        skip_bad: bool,
        ahead: usize,
    ) -> Self {
        let (tx, rx) = sync_channel(ahead.max(1));
        std::thread::spawn(move || {
            for (b, indices) in batches.iter().enumerate() {
                let r = decode_batch(&set, indices, &t, seed.wrapping_add(b as u64), skip_bad);
                let stop = r.is_err();
                if tx.send(r).is_err() || stop {
                    return;
                }
            }
        });
        Self { rx }
    }
}

impl Iterator for Prefetch {
    type Item = Result<Batch>;
    fn next(&mut self) -> Option<Result<Batch>> {
        self.rx.recv().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_bytes(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, w, h);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut wr = enc.write_header().unwrap();
            let f = &f;
            let data: Vec<u8> = (0..h)
                .flat_map(|y| (0..w).flat_map(move |x| f(x, y)))
                .collect();
            wr.write_image_data(&data).unwrap();
        }
        out
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("convplay-images-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_folder_reads_classes_in_name_order_and_decodes_png() {
        let d = tmp("folder");
        for (class, colour) in [("b_red", [255, 0, 0]), ("a_blue", [0, 0, 255])] {
            std::fs::create_dir_all(d.join(class)).unwrap();
            for i in 0..3 {
                let p = d.join(class).join(format!("{i}.png"));
                std::fs::write(p, png_bytes(6, 4, |_, _| colour)).unwrap();
            }
            std::fs::write(d.join(class).join("notes.txt"), "not an image").unwrap();
        }
        let set = ImageSet::folder(&d).unwrap();
        assert_eq!(set.classes, ["a_blue", "b_red"]);
        assert_eq!(set.labels, [0, 0, 0, 1, 1, 1]);
        let img = set.image(4).unwrap();
        assert_eq!((img.h, img.w), (4, 6));
        assert_eq!(&img.px[..3], &[255, 0, 0]);
        // Normalised: red plane (1 − 0.5) / 0.25 = 2, the others (0 − 0.5) / 0.25 = −2.
        let t = Transform::eval([4, 4], [0.5; 3], [0.25; 3]);
        let b = decode_batch(&set, &[0, 5], &t, 1, false).unwrap();
        assert_eq!(b.labels, [0, 1]);
        assert_eq!(b.x.len(), 2 * 3 * 16);
        assert!(b.x[48..64].iter().all(|&v| v == 2.0));
        assert!(b.x[64..96].iter().all(|&v| v == -2.0));
    }

    #[test]
    fn a_corrupt_file_is_named_or_skipped_and_counted() {
        let d = tmp("corrupt");
        for class in ["x", "y"] {
            std::fs::create_dir_all(d.join(class)).unwrap();
            std::fs::write(
                d.join(class).join("good.png"),
                png_bytes(4, 4, |_, _| [9, 9, 9]),
            )
            .unwrap();
        }
        let mut truncated = png_bytes(4, 4, |x, y| [x as u8, y as u8, 0]);
        truncated.truncate(truncated.len() / 2);
        std::fs::write(d.join("y").join("bad.png"), truncated).unwrap();
        let set = ImageSet::folder(&d).unwrap();
        let t = Transform::eval([4, 4], [0.0; 3], [1.0; 3]);
        let all: Vec<usize> = (0..set.len()).collect();
        let err = decode_batch(&set, &all, &t, 0, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad.png"), "{err}");
        let b = decode_batch(&set, &all, &t, 0, true).unwrap();
        assert_eq!(b.labels.len(), 2);
        assert_eq!(b.skipped.len(), 1);
        assert!(b.skipped[0].contains("bad.png"));
        assert!(ImageSet::folder(&d.join("x")).is_err());
        assert!(decode(b"GIF89a").is_err());
    }

    /// More classes than a byte can name (ImageNet has 1,000): labels keep their value, and a
    /// model of 300 classes learns one past 255.
    #[test]
    fn a_folder_of_300_classes_keeps_every_label_and_trains() {
        use crate::model::{Model, ModelSpec};
        use crate::train::{TrainSpec, Trainer};

        let d = tmp("classes300");
        let png = png_bytes(2, 2, |x, y| [(x * 90) as u8, (y * 90) as u8, 30]);
        for c in 0..300 {
            let sub = d.join(format!("c{c:03}"));
            std::fs::create_dir_all(&sub).unwrap();
            std::fs::write(sub.join("a.png"), &png).unwrap();
        }
        let set = ImageSet::folder(&d).unwrap();
        assert_eq!(set.classes.len(), 300);
        assert_eq!(set.labels, (0..300).collect::<Vec<Label>>());

        let spec = ModelSpec::from_json(
            r#"{"name":"wide","input":[3,2,2],"layers":[{"type":"flatten","name":"f"},{"type":"dense","name":"out","units":300}]}"#,
        )
        .unwrap();
        let train = TrainSpec {
            batch: 2,
            optimizer: crate::optim::OptimizerSpec::Sgd {
                lr: 0.5,
                momentum: 0.0,
                weight_decay: 0.0,
                nesterov: false,
            },
            ..TrainSpec::default()
        };
        let mut t = Trainer::for_images(Model::new(spec, 1).unwrap(), train).unwrap();
        let x = vec![0.5; 2 * 12];
        let labels = [299, 299];
        let first = t.train_on(&x, &labels).unwrap().loss;
        let mut last = first;
        for _ in 0..30 {
            last = t.train_on(&x, &labels).unwrap().loss;
        }
        assert!(
            first > 4.0 && last < first / 2.0,
            "class 299 of 300 is learnt: loss {first} -> {last}"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn cifar10_records_become_rgb_images_and_bad_files_are_refused() {
        let d = tmp("cifar");
        let mut bytes = Vec::new();
        for label in [3u8, 7] {
            bytes.push(label);
            bytes.extend(std::iter::repeat_n(200u8, 1024)); // red
            bytes.extend(std::iter::repeat_n(100u8, 1024)); // green
            bytes.extend(std::iter::repeat_n(label, 1024)); // blue
        }
        std::fs::write(d.join("data_batch_1.bin"), &bytes).unwrap();
        assert!(ImageSet::is_cifar10_dir(&d));
        let set = ImageSet::cifar10_dir(&d, true).unwrap();
        assert_eq!(set.labels, [3, 7]);
        assert_eq!(set.classes[3], "cat");
        let img = set.image(1).unwrap();
        assert_eq!((img.h, img.w, &img.px[..3]), (32, 32, &[200u8, 100, 7][..]));
        std::fs::write(d.join("data_batch_2.bin"), &bytes[..100]).unwrap();
        let err = ImageSet::cifar10_dir(&d, true).unwrap_err().to_string();
        assert!(err.contains("data_batch_2.bin"), "{err}");
        bytes[0] = 12;
        std::fs::write(d.join("data_batch_2.bin"), &bytes).unwrap();
        let err = ImageSet::cifar10_dir(&d, true).unwrap_err().to_string();
        assert!(err.contains("label 12"), "{err}");
        assert!(ImageSet::cifar10_dir(&d, false).is_err());
    }

    #[test]
    fn crops_flips_and_resizes_land_where_expected() {
        // 4 wide × 2 high, pixel value = x·10 + y in every channel.
        let img = Rgb {
            h: 2,
            w: 4,
            px: (0..2)
                .flat_map(|y| (0..4).flat_map(move |x| [x * 10 + y; 3]))
                .collect(),
        };
        let mut out = vec![0.0; 3 * 2 * 2];
        let centre = Transform {
            size: [2, 2],
            resize: None,
            random_crop: false,
            flip: false,
            mean: [0.0; 3],
            std: [1.0 / 255.0; 3],
        };
        centre.apply(&img, &mut Rng::new(1), &mut out).unwrap();
        assert_eq!(&out[..4], &[10.0, 20.0, 11.0, 21.0]);
        let flip = Transform {
            flip: true,
            ..centre.clone()
        };
        let mut rng = Rng::new(0);
        let mut flipped = 0;
        for _ in 0..20 {
            flip.apply(&img, &mut rng, &mut out).unwrap();
            match out[..4] {
                [10.0, 20.0, 11.0, 21.0] => {}
                [20.0, 10.0, 21.0, 11.0] => flipped += 1,
                ref other => panic!("{other:?}"),
            }
        }
        assert!((3..=17).contains(&flipped), "{flipped} of 20 flipped");
        // Resize the shorter side 2 → 4: 8 wide; same-size resize is the identity.
        let big = Transform {
            resize: Some(4),
            size: [4, 4],
            ..centre.clone()
        };
        let mut out = vec![0.0; 3 * 16];
        big.apply(&img, &mut Rng::new(1), &mut out).unwrap();
        assert_eq!(img.resize(2, 4), img);
        let r = img.resize(4, 8);
        assert_eq!((r.h, r.w), (4, 8));
        // A crop larger than the image is a clear error.
        let err = Transform {
            size: [3, 3],
            ..centre
        }
        .apply(&img, &mut Rng::new(1), &mut out);
        assert!(err.unwrap_err().to_string().contains("--resize"));
    }

    #[test]
    fn prefetch_delivers_every_batch_in_order_and_stops_at_an_error() {
        let d = tmp("prefetch");
        for class in ["p", "q"] {
            std::fs::create_dir_all(d.join(class)).unwrap();
            for i in 0..5 {
                let v = if class == "p" { 10 } else { 250 };
                std::fs::write(
                    d.join(class).join(format!("{i}.png")),
                    png_bytes(3, 3, |_, _| [v, v, v]),
                )
                .unwrap();
            }
        }
        let set = ImageSet::folder(&d).unwrap();
        let t = Transform::eval([3, 3], [0.0; 3], [1.0; 3]);
        let batches: Vec<Vec<usize>> = vec![vec![0, 9], vec![5, 1, 2], vec![3]];
        let got: Vec<Batch> = Prefetch::new(set.clone(), batches, t.clone(), 4, false, 1)
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(
            got.iter().map(|b| b.labels.clone()).collect::<Vec<_>>(),
            [vec![0, 1], vec![1, 0, 0], vec![0]]
        );
        std::fs::write(d.join("q").join("3.png"), b"\x89PNG\r\n\x1a\nbroken").unwrap();
        let mut p = Prefetch::new(set, vec![vec![0], vec![8], vec![1]], t, 4, false, 2);
        assert!(p.next().unwrap().is_ok());
        assert!(p.next().unwrap().unwrap_err().to_string().contains("3.png"));
        assert!(p.next().is_none());
    }
}
