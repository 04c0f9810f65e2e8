//! `train --data DIR`: a model trained on real images, an image folder (ImageFolder convention)
//! or CIFAR-10 binary batches, decoded on every core ahead of the step, on the CPU or the GPU.

use std::path::Path;
use std::time::Instant;

use convplay_compute::data::Label;
use convplay_compute::data::images::{ImageSet, Prefetch, Transform, decode_batch};
use convplay_compute::gpu::{self, GpuTrainer};
use convplay_compute::model::{Mode, Model, Workspace};
use convplay_compute::rng::Rng;
use convplay_compute::train::{StepStats, TrainSpec, Trainer};
use convplay_compute::weights;
use serde_json::json;

use crate::backend::Backend;
use crate::common::{CliResult, Shape, bar, err, print_json, shaped_model_spec};
use crate::{ImageArgs, TrainArgs};

/// Steps the GPU runs ahead before their losses are read back.
const GPU_SYNC: usize = 8;

/// A model training on ready image batches, on either backend.
enum ImageTrainer {
    Cpu(Box<Trainer>),
    Gpu(Box<GpuTrainer>, usize),
}

impl ImageTrainer {
    fn new(backend: &Backend, model: Model, spec: TrainSpec) -> CliResult<Self> {
        Ok(match backend {
            Backend::Cpu => {
                ImageTrainer::Cpu(Box::new(Trainer::for_images(model, spec).map_err(err)?))
            }
            Backend::Gpu(ctx) => ImageTrainer::Gpu(
                Box::new(
                    gpu::block_on(GpuTrainer::for_images(ctx.clone(), model, spec)).map_err(err)?,
                ),
                0,
            ),
        })
    }

    /// Trains on one batch; returns the figures of the steps now known (the GPU's come back
    /// every few steps, and the rest at [`Self::flush`]).
    fn step(&mut self, x: &[f32], labels: &[Label]) -> CliResult<Vec<StepStats>> {
        match self {
            ImageTrainer::Cpu(t) => Ok(vec![t.train_on(x, labels).map_err(err)?]),
            ImageTrainer::Gpu(t, pending) => {
                t.train_on(x, labels).map_err(err)?;
                *pending += 1;
                if *pending >= GPU_SYNC {
                    self.flush()
                } else {
                    Ok(vec![])
                }
            }
        }
    }

    fn flush(&mut self) -> CliResult<Vec<StepStats>> {
        match self {
            ImageTrainer::Cpu(_) => Ok(vec![]),
            ImageTrainer::Gpu(t, pending) => {
                *pending = 0;
                gpu::block_on(t.read_metrics()).map_err(err)
            }
        }
    }

    /// The model with its current weights (read back from the GPU).
    fn model(&mut self) -> CliResult<Model> {
        match self {
            ImageTrainer::Cpu(t) => Ok(t.model.clone()),
            ImageTrainer::Gpu(t, _) => Ok(gpu::block_on(t.read_model()).map_err(err)?.clone()),
        }
    }
}

/// `--mean` / `--std`: three comma-separated numbers.
fn parse3(what: &str, s: &str) -> CliResult<[f32; 3]> {
    let v: Vec<f32> = s
        .split(',')
        .map(|t| t.trim().parse::<f32>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("--{what} {s:?} is not three numbers r,g,b"))?;
    <[f32; 3]>::try_from(v).map_err(|_| format!("--{what} {s:?} is not three numbers r,g,b"))
}

/// The training and validation sets of `dir`: `dir/train` and `dir/val` (or `test`) when it has
/// them; CIFAR-10's training and test batches; else the folder, with every `1/fraction`-th image
/// (after a seeded shuffle) held out.
fn split(dir: &Path, fraction: f32, seed: u64) -> CliResult<(ImageSet, ImageSet, String)> {
    if ImageSet::is_cifar10_dir(dir) {
        let train = ImageSet::cifar10_dir(dir, true).map_err(err)?;
        let test = ImageSet::cifar10_dir(dir, false).map_err(err)?;
        return Ok((train, test, "CIFAR-10 test_batch.bin".into()));
    }
    for val in ["val", "test"] {
        if dir.join("train").is_dir() && dir.join(val).is_dir() {
            let train = ImageSet::folder(&dir.join("train")).map_err(err)?;
            let test = ImageSet::folder(&dir.join(val)).map_err(err)?;
            if train.classes != test.classes {
                return Err(format!(
                    "{}: train/ and {val}/ have different class folders",
                    dir.display()
                ));
            }
            return Ok((train, test, format!("{val}/")));
        }
    }
    if !(0.0..1.0).contains(&fraction) {
        return Err("--val-fraction must be in [0, 1)".into());
    }
    let all = ImageSet::folder(dir).map_err(err)?;
    let mut order: Vec<usize> = (0..all.len()).collect();
    Rng::new(seed ^ 0xda7a).shuffle(&mut order);
    let held = ((all.len() as f32 * fraction).round() as usize).min(all.len() - 1);
    let (val, train) = order.split_at(held);
    let (mut train, mut val) = (train.to_vec(), val.to_vec());
    train.sort();
    val.sort();
    Ok((
        all.subset(&train),
        all.subset(&val),
        format!("{held} held-out images ({:.0}%)", 100.0 * fraction),
    ))
}

/// Trains `model` on the images of `dir` (threads already set).
pub fn train(
    model: &str,
    a: &TrainArgs,
    im: &ImageArgs,
    dir: &Path,
    json_out: bool,
    backend: &Backend,
    out: Option<&Path>,
) -> CliResult<()> {
    let (train_set, val_set, val_name) = split(dir, im.val_fraction, a.seed)?;
    let classes = im.classes.unwrap_or(train_set.classes.len());
    if classes < train_set.classes.len() {
        return Err(format!(
            "--classes {classes} is fewer than the data's {} classes",
            train_set.classes.len()
        ));
    }
    let input = im.input.unwrap_or([3, 224, 224]);
    if input[0] != 3 {
        return Err(format!(
            "image data is RGB: --input must be 3xHxW, not {}x…",
            input[0]
        ));
    }
    let spec = shaped_model_spec(
        model,
        a.canvas,
        Shape {
            input: Some(input),
            classes: Some(classes),
        },
    )?;
    let mean = parse3("mean", &im.mean)?;
    let std = parse3("std", &im.std)?;
    let size = [input[1], input[2]];
    let train_t = Transform {
        size,
        resize: im.resize.or(Some(size[0].max(size[1]))),
        random_crop: im.random_crop,
        flip: im.flip,
        mean,
        std,
    };
    train_t.validate().map_err(err)?;
    let mut eval_t = Transform::eval(size, mean, std);
    eval_t.resize = train_t.resize;
    let spec_train = TrainSpec {
        epochs: a.epochs,
        batch: a.batch,
        optimizer: crate::train::optimizer_spec(a),
        seed: a.seed,
        ..TrainSpec::default()
    };
    let model0 = Model::new(spec, a.seed).map_err(err)?;
    let mut t = ImageTrainer::new(backend, model0, spec_train)?;
    let started = Instant::now();
    let mut skipped = Vec::new();
    let mut order: Vec<usize> = (0..train_set.len()).collect();
    let mut shuffle = Rng::new(a.seed ^ 0x5348_5546);
    let mut last = (0.0f32, 0usize, 0usize);
    for epoch in 0..a.epochs {
        shuffle.shuffle(&mut order);
        let batches: Vec<Vec<usize>> = order.chunks(a.batch).map(<[usize]>::to_vec).collect();
        let pb = bar(
            batches.len() as u64,
            &format!("epoch {}", epoch + 1),
            json_out,
        );
        let seed = a.seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64);
        let (mut loss_sum, mut correct, mut images) = (0.0f64, 0, 0);
        let prefetch = Prefetch::new(
            train_set.clone(),
            batches,
            train_t.clone(),
            seed,
            im.skip_bad,
            4,
        );
        let mut tally = |done: Vec<StepStats>| {
            for st in done {
                loss_sum += st.loss as f64 * st.images as f64;
                correct += st.correct;
                images += st.images;
                pb.set_message(format!(
                    "loss {:.4} acc {:.1}%",
                    st.loss,
                    100.0 * st.correct as f32 / st.images.max(1) as f32
                ));
            }
        };
        for b in prefetch {
            let b = b.map_err(err)?;
            skipped.extend(b.skipped);
            pb.inc(1);
            if !b.labels.is_empty() {
                tally(t.step(&b.x, &b.labels)?);
            }
        }
        tally(t.flush()?);
        pb.finish_and_clear();
        last = ((loss_sum / images.max(1) as f64) as f32, correct, images);
        if !json_out {
            eprintln!(
                "epoch {}: train loss {:.4}, accuracy {:.2}% ({} images)",
                epoch + 1,
                last.0,
                100.0 * last.1 as f32 / last.2.max(1) as f32,
                last.2
            );
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    // Validation, in evaluation mode (running batch-norm statistics, no dropout).
    // Evaluated on the CPU with the trained weights (read back from the GPU).
    let mut model = t.model()?;
    let mut ws = Workspace::new();
    let (mut right, mut seen) = (0usize, 0usize);
    let all: Vec<usize> = (0..val_set.len()).collect();
    for chunk in all.chunks(a.batch.max(1)) {
        let b = decode_batch(&val_set, chunk, &eval_t, 0, im.skip_bad).map_err(err)?;
        skipped.extend(b.skipped);
        if b.labels.is_empty() {
            continue;
        }
        model
            .forward(&mut ws, &b.x, b.labels.len(), Mode::Eval)
            .map_err(err)?;
        let k = model.classes();
        for (logits, &label) in ws.logits().chunks_exact(k).zip(&b.labels) {
            right += usize::from(convplay_compute::metrics::argmax(logits) == label as usize);
            seen += 1;
        }
    }
    let accuracy = right as f64 / seen.max(1) as f64;
    if let Some(out) = out {
        std::fs::write(out, weights::save(&model).map_err(err)?)
            .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    }
    if json_out {
        print_json(&json!({
            "model": model.spec.name, "backend": backend.name(), "data": dir.display().to_string(), "classes": train_set.classes,
            "train_images": train_set.len(), "validation": val_name, "validation_images": seen,
            "epochs": a.epochs, "seconds": seconds, "train_loss": last.0,
            "train_accuracy": last.1 as f64 / last.2.max(1) as f64,
            "validation_accuracy": accuracy, "skipped": skipped,
            "weights": out.map(|p| p.display().to_string()),
        }));
    } else {
        for s in &skipped {
            eprintln!("skipped {s}");
        }
        println!(
            "{} on {}: validation accuracy {:.2}% on {seen} images ({val_name}; {} classes, chance {:.1}%) after {} epoch(s) on {} images, {:.0} s{}",
            model.spec.name,
            backend.name(),
            100.0 * accuracy,
            train_set.classes.len(),
            100.0 / train_set.classes.len() as f64,
            a.epochs,
            train_set.len(),
            seconds,
            if skipped.is_empty() {
                String::new()
            } else {
                format!("; {} bad files skipped", skipped.len())
            }
        );
    }
    Ok(())
}
