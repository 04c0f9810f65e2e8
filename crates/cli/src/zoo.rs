//! `convplay zoo`: every preset of the lectures' architecture walk trained on the same data
//! budget, one table: parameters, multiply-adds, training speed, centred and shifted accuracy.
//! The lectures' comparison slide, measured.

use std::time::Instant;

use convplay_compute::model::ZOO;
use convplay_compute::train::TrainSpec;
use serde_json::json;

use crate::backend::Backend;
use crate::common::{
    CliResult, apply_variant, data_dir, err, load, model_spec, print_json, set_threads,
};
use crate::train::{fit_and_test, metrics_json};
use crate::{DataArgs, VariantArgs};

/// The settings of one `convplay zoo` run; `None` takes the mode's default.
pub struct ZooArgs {
    pub quick: bool,
    pub models: Option<String>,
    pub canvas: Option<usize>,
    pub limit: Option<usize>,
    pub test_limit: Option<usize>,
    pub epochs: Option<usize>,
    pub seed: u64,
    pub shift_seed: u64,
}

struct Row {
    name: String,
    params: usize,
    macs: u64,
    images: usize,
    train_seconds: f64,
    centered: convplay_compute::train::Evaluation,
    shifted: convplay_compute::train::Evaluation,
}

pub fn zoo(z: &ZooArgs, d: &DataArgs, variant: VariantArgs) -> CliResult<()> {
    set_threads(d.threads)?;
    let started = Instant::now();
    // --quick: a 40×40 canvas (digits still move ±6 px when shifted), 12k images, 1 epoch:
    // every preset in under 10 minutes on 2 cores. Otherwise the lecture's 64×64, all of MNIST.
    let (canvas, limit, test_limit, epochs) = if z.quick {
        (40, Some(12_000), Some(1_000), 1)
    } else {
        (64, None, Some(5_000), 2)
    };
    let canvas = z.canvas.unwrap_or(canvas);
    let (limit, test_limit) = (z.limit.or(limit), z.test_limit.or(test_limit));
    let epochs = z.epochs.unwrap_or(epochs);
    let names: Vec<String> = match &z.models {
        Some(list) => list.split(',').map(|s| s.trim().to_string()).collect(),
        None => ZOO.iter().map(|s| s.to_string()).collect(),
    };
    // Every model is built (and checked) before any trains: a typo fails in a second.
    let specs = names
        .iter()
        .map(|n| Ok(apply_variant(model_spec(n, canvas)?, variant)))
        .collect::<CliResult<Vec<_>>>()?;
    let dir = data_dir(d.data_dir.as_deref())?;
    let train_set = load(&dir, d.dataset, true, None)?;
    let test_set = load(&dir, d.dataset, false, test_limit)?;
    let backend = Backend::choose(d.backend)?;
    let spec = TrainSpec {
        epochs,
        limit,
        seed: z.seed,
        canvas,
        ..TrainSpec::default()
    };
    let images = limit.unwrap_or(train_set.len()).min(train_set.len()) * epochs;
    let mut rows = Vec::new();
    for model in specs {
        let summary = model.summary().map_err(err)?;
        let name = model.name.clone();
        let (_, [centered, shifted], train_seconds) = fit_and_test(
            &backend,
            model,
            spec.clone(),
            &train_set,
            &test_set,
            z.shift_seed,
            d.json,
        )?;
        if !d.json {
            eprintln!(
                "{name}: centred {:.2}%, shifted {:.2}% after {train_seconds:.0} s",
                100.0 * centered.metrics.accuracy,
                100.0 * shifted.metrics.accuracy
            );
        }
        rows.push(Row {
            name,
            params: summary.total_params,
            macs: summary.total_macs,
            images,
            train_seconds,
            centered,
            shifted,
        });
    }
    let seconds = started.elapsed().as_secs_f64();
    if d.json {
        let models: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                json!({
                    "model": r.name,
                    "params": r.params,
                    "macs": r.macs,
                    "images_trained": r.images,
                    "train_seconds": r.train_seconds,
                    "train_images_per_second": r.images as f64 / r.train_seconds,
                    "centered": metrics_json(&r.centered.metrics),
                    "shifted": metrics_json(&r.shifted.metrics),
                })
            })
            .collect();
        print_json(&json!({
            "dataset": d.dataset.to_string(),
            "canvas": canvas,
            "train_images": limit,
            "test_images": test_set.len(),
            "epochs": epochs,
            "seed": z.seed,
            "shift_seed": z.shift_seed,
            "backend": backend.name(),
            "models": models,
            "wall_seconds": seconds,
        }));
        return Ok(());
    }
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(5).max(12);
    println!(
        "{} on a {canvas}×{canvas} canvas: {} training images × {epochs} epoch(s), {} test images, {}",
        d.dataset,
        images / epochs.max(1),
        test_set.len(),
        backend.name()
    );
    println!(
        "{:<width$} {:>9} {:>10} {:>9} {:>9} {:>9}",
        "model", "params", "MACs", "train/s", "centred", "shifted"
    );
    for r in &rows {
        println!(
            "{:<width$} {:>9} {:>9.1}M {:>9.0} {:>8.2}% {:>8.2}%",
            r.name,
            r.params,
            r.macs as f64 / 1e6,
            r.images as f64 / r.train_seconds,
            100.0 * r.centered.metrics.accuracy,
            100.0 * r.shifted.metrics.accuracy
        );
    }
    println!("wall time {seconds:.0} s");
    Ok(())
}
