//! `summary`, `train`, `eval` and `shift-experiment`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use convplay_compute::data::{CanvasPlacement, Dataset};
use convplay_compute::gpu::kernels::Gemm;
use convplay_compute::memory;
use convplay_compute::metrics::ClassificationMetrics;
use convplay_compute::model::{Model, ModelSpec};
use convplay_compute::optim::OptimizerSpec;
use convplay_compute::train::{Evaluation, TrainSpec};
use convplay_compute::weights;
use serde_json::json;

use crate::backend::{AnyTrainer, Backend, evaluate};
use crate::common::{
    CliResult, Shape, apply_variant, bar, data_dir, err, load, model_spec, print_json, set_threads,
    shaped_model_spec,
};
use crate::{DataArgs, OptimizerArg, TrainArgs, VariantArgs};

pub fn summary(
    model: &str,
    canvas: usize,
    shape: Shape,
    batch: Option<usize>,
    json: bool,
    variant: VariantArgs,
) -> CliResult<()> {
    let spec = apply_variant(shaped_model_spec(model, canvas, shape)?, variant);
    let s = spec.summary().map_err(err)?;
    let memory = match batch {
        Some(0) => return Err("--batch must be at least 1".into()),
        Some(n) => Some(training_memory(&spec, n)?),
        None => None,
    };
    if json {
        let mut v = serde_json::to_value(&s).map_err(err)?;
        if let Some(m) = memory {
            v["training_memory"] = m.to_json();
        }
        print_json(&v);
    } else {
        println!("{s}");
        if let Some(m) = memory {
            print!("{}", m.table());
        }
    }
    Ok(())
}

/// The training memory of a model at one batch size, per backend.
struct TrainingMemory {
    batch: usize,
    threads: usize,
    cpu: Vec<memory::Part>,
    gpu: Vec<memory::Part>,
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// WebGPU's default per-binding storage limit, which a browser grants unless asked for more.
const WEBGPU_DEFAULT_BINDING: u64 = 128 << 20;

fn training_memory(spec: &ModelSpec, batch: usize) -> CliResult<TrainingMemory> {
    let graph = convplay_compute::model::compile(spec).map_err(err)?;
    let adam = OptimizerSpec::adam(1e-3);
    let threads = rayon::current_num_threads();
    Ok(TrainingMemory {
        batch,
        threads,
        cpu: memory::cpu(&graph, batch, &adam, threads),
        gpu: memory::gpu(&graph, batch, &adam, Gemm::Tiled).map_err(err)?,
    })
}

impl TrainingMemory {
    fn table(&self) -> String {
        let mut out = format!(
            "\nTraining memory at batch {} with Adam (f32):\n",
            self.batch
        );
        let cpu = memory::total(&self.cpu);
        out += &format!("  CPU ({} threads): {}\n", self.threads, mib(cpu));
        for p in &self.cpu {
            out += &format!("    {:<52} {:>12}\n", p.what, mib(p.bytes));
        }
        let gpu = memory::total(&self.gpu);
        let largest = self.gpu.first().map(|p| p.bytes).unwrap_or(0);
        out += &format!(
            "  GPU (wgpu): {} in {} buffers, the largest {} ({})\n",
            mib(gpu),
            self.gpu.len(),
            mib(largest),
            self.gpu.first().map(|p| p.what.as_str()).unwrap_or("-")
        );
        for p in self.gpu.iter().take(6) {
            out += &format!("    {:<52} {:>12}\n", p.what, mib(p.bytes));
        }
        if largest > WEBGPU_DEFAULT_BINDING {
            out += &format!(
                "  The largest buffer is over WebGPU's default {} per binding: a browser refuses it; a desktop adapter may allow it (`convplay train --backend gpu` checks before any work).\n",
                mib(WEBGPU_DEFAULT_BINDING)
            );
        }
        out
    }

    fn to_json(&self) -> serde_json::Value {
        let parts = |ps: &[memory::Part]| -> Vec<serde_json::Value> {
            ps.iter()
                .map(|p| json!({"what": p.what, "bytes": p.bytes}))
                .collect()
        };
        json!({
            "batch": self.batch,
            "optimizer": "adam",
            "cpu": {"threads": self.threads, "bytes": memory::total(&self.cpu), "parts": parts(&self.cpu)},
            "gpu": {
                "bytes": memory::total(&self.gpu),
                "largest_buffer": self.gpu.first().map(|p| p.bytes).unwrap_or(0),
                "parts": parts(&self.gpu),
            },
        })
    }
}

/// `export --torch`: the model of `source` (a preset, a spec file or a weights file) as PyTorch
/// source in `out`.
pub fn export_torch(source: &str, out: &Path, canvas: usize, shape: Shape) -> CliResult<()> {
    let spec = if source.ends_with(".safetensors") {
        let bytes = std::fs::read(source).map_err(|e| format!("cannot read {source}: {e}"))?;
        weights::read_spec(&bytes).map_err(|e| format!("{source}: {e}"))?
    } else {
        shaped_model_spec(source, canvas, shape)?
    };
    let src = convplay_compute::export::torch_module(&spec).map_err(err)?;
    std::fs::write(out, src).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    let s = spec.summary().map_err(err)?;
    eprintln!(
        "wrote {} ({}: {} parameters, input {}×{}×{})",
        out.display(),
        s.name,
        s.trainable_params,
        s.input[0],
        s.input[1],
        s.input[2]
    );
    Ok(())
}

/// `forward`: seeded weights (running statistics drawn too, so evaluation-mode batch norm is
/// not the identity), a seeded input batch, and the evaluation forward's logits, as three
/// safetensors files.
pub fn forward(
    model: &str,
    dir: &Path,
    canvas: usize,
    shape: Shape,
    batch: usize,
    seed: u64,
) -> CliResult<()> {
    use convplay_compute::model::{Mode, Workspace};
    use convplay_compute::rng::Rng;
    if batch == 0 {
        return Err("--batch must be at least 1".into());
    }
    let spec = shaped_model_spec(model, canvas, shape)?;
    let mut m = Model::new(spec, seed).map_err(err)?;
    let mut rng = Rng::new(seed ^ 0x5eed);
    for b in &m.graph.buffers {
        let var = b.name.ends_with(".running_var");
        for v in &mut m.buffers[b.range()] {
            *v = if var {
                rng.uniform(0.5, 1.5)
            } else {
                rng.uniform(-0.2, 0.2)
            };
        }
    }
    let x: Vec<f32> = (0..batch * m.input_len())
        .map(|_| rng.uniform(-1.0, 1.0))
        .collect();
    let mut ws = Workspace::new();
    m.forward(&mut ws, &x, batch, Mode::Eval).map_err(err)?;
    let logits = ws.logits().to_vec();
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let write = |name: &str, bytes: Vec<u8>| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    write("weights.safetensors", weights::save(&m).map_err(err)?)?;
    let [c, h, w] = m.spec.input;
    write(
        "input.safetensors",
        weights::save_tensor("input", &[batch, c, h, w], &x).map_err(err)?,
    )?;
    let classes = m.graph.classes;
    write(
        "logits.safetensors",
        weights::save_tensor("logits", &[batch, classes], &logits).map_err(err)?,
    )?;
    eprintln!(
        "wrote weights, input [{batch}, {c}, {h}, {w}] and logits [{batch}, {classes}] to {}",
        dir.display()
    );
    Ok(())
}

/// The optimizer `--optimizer`, `--lr`, `--momentum` and `--weight-decay` describe.
pub(crate) fn optimizer_spec(a: &TrainArgs) -> OptimizerSpec {
    match a.optimizer {
        OptimizerArg::Adam => OptimizerSpec::Adam {
            lr: a.lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: a.weight_decay,
        },
        OptimizerArg::Sgd => OptimizerSpec::Sgd {
            lr: a.lr,
            momentum: a.momentum,
            weight_decay: a.weight_decay,
            nesterov: false,
        },
    }
}

fn train_spec(a: &TrainArgs) -> TrainSpec {
    let optimizer = optimizer_spec(a);
    TrainSpec {
        epochs: a.epochs,
        batch: a.batch,
        optimizer,
        seed: a.seed,
        limit: a.limit,
        canvas: a.canvas,
        train_shift: a.train_shift,
        shards: 1,
    }
}

/// Trains `spec` for all its epochs with a progress bar; returns the trainer and seconds spent.
pub fn fit(
    backend: &Backend,
    model: ModelSpec,
    spec: TrainSpec,
    data: &Dataset,
    quiet: bool,
) -> CliResult<(AnyTrainer, f64)> {
    let name = model.name.clone();
    let mut t = AnyTrainer::new(backend, model, spec)?;
    let steps = t.spec().steps_per_epoch(data) as u64;
    let epochs = t.spec().epochs;
    let started = Instant::now();
    if !quiet {
        eprintln!("{name}: training on {}", backend.name());
    }
    for epoch in 1..=epochs {
        let pb = bar(steps, &format!("{name} {epoch}/{epochs}"), quiet);
        let epoch_start = Instant::now();
        let p = t.train_epoch(data, |p| {
            pb.set_position(p.step as u64);
            let ips = p.images as f64 / epoch_start.elapsed().as_secs_f64().max(1e-9);
            pb.set_message(format!(
                "loss {:.4} acc {:.2}% {:.0} img/s",
                p.loss,
                100.0 * p.accuracy,
                ips
            ));
            true
        })?;
        pb.finish_and_clear();
        if !quiet {
            eprintln!(
                "{name}: epoch {epoch}/{} loss {:.4} train acc {:.2}% ({:.0} img/s)",
                epochs,
                p.loss,
                100.0 * p.accuracy,
                p.images as f64 / epoch_start.elapsed().as_secs_f64()
            );
        }
    }
    Ok((t, started.elapsed().as_secs_f64()))
}

pub fn train(
    model: &str,
    a: &TrainArgs,
    d: &DataArgs,
    im: &crate::ImageArgs,
    variant: VariantArgs,
    out: Option<&Path>,
) -> CliResult<()> {
    set_threads(d.threads)?;
    if let Some(dir) = &im.data {
        let backend = Backend::choose(d.backend)?;
        return crate::images::train(model, a, im, dir, d.json, &backend, out);
    }
    let spec = apply_variant(model_spec(model, a.canvas)?, variant);
    let dir = data_dir(d.data_dir.as_deref())?;
    let train_set = load(&dir, d.dataset, true, None)?;
    let test_set = load(&dir, d.dataset, false, a.test_limit)?;
    let backend = Backend::choose(d.backend)?;
    let (t, seconds) = fit(&backend, spec, train_spec(a), &train_set, d.json)?;
    let mut model = t.model().clone();
    let e = evaluate(
        &backend,
        &mut model,
        &test_set,
        CanvasPlacement::Centered,
        256,
    )?;
    if let Some(out) = out {
        std::fs::write(out, weights::save(&model).map_err(err)?)
            .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    }
    if d.json {
        print_json(&json!({
            "model": model.spec.name, "dataset": d.dataset.to_string(), "epochs": a.epochs,
            "backend": backend.name(),
            "seconds": seconds, "test": metrics_json(&e.metrics), "loss": e.loss,
            "weights": out.map(|p| p.display().to_string()),
        }));
    } else {
        println!(
            "{}: test accuracy {:.2}% (loss {:.4}) after {} epoch(s), {:.0} s",
            model.spec.name,
            100.0 * e.metrics.accuracy,
            e.loss,
            a.epochs,
            seconds
        );
        if let Some(out) = out {
            println!("weights written to {}", out.display());
        }
    }
    Ok(())
}

fn load_weights(path: &Path) -> CliResult<Model> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    weights::load(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn eval(
    path: &Path,
    placement: CanvasPlacement,
    limit: Option<usize>,
    d: &DataArgs,
) -> CliResult<()> {
    set_threads(d.threads)?;
    let mut model = load_weights(path)?;
    let test = load(&data_dir(d.data_dir.as_deref())?, d.dataset, false, limit)?;
    let backend = Backend::choose(d.backend)?;
    let e = evaluate(&backend, &mut model, &test, placement, 256)?;
    if d.json {
        print_json(
            &json!({"model": model.spec.name, "placement": placement.to_string(), "loss": e.loss, "metrics": metrics_json(&e.metrics), "confusion": e.confusion}),
        );
    } else {
        let m = e.metrics;
        println!(
            "{} on {placement} ({} images): accuracy {:.2}%  precision {:.2}%  recall {:.2}%  F1 {:.2}%",
            model.spec.name,
            test.len(),
            100.0 * m.accuracy,
            100.0 * m.precision,
            100.0 * m.recall,
            100.0 * m.f1
        );
    }
    Ok(())
}

/// The lecture's table: accuracy, precision, recall and F1 of each model on each test set.
pub fn print_table(rows: &[(&str, &[Evaluation])]) {
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(5).max(12);
    println!(
        "{:<width$} {:<9} {:>9} {:>10} {:>8} {:>8}",
        "model", "test set", "accuracy", "precision", "recall", "F1"
    );
    for (name, evals) in rows {
        for e in evals.iter() {
            let label = match e.placement {
                CanvasPlacement::Centered => "centred".to_string(),
                CanvasPlacement::Shifted { .. } => "shifted".to_string(),
                p => p.to_string(),
            };
            let m = e.metrics;
            println!(
                "{:<width$} {:<9} {:>8.2}% {:>9.2}% {:>7.2}% {:>7.2}%",
                name,
                label,
                100.0 * m.accuracy,
                100.0 * m.precision,
                100.0 * m.recall,
                100.0 * m.f1
            );
        }
    }
}

pub fn metrics_json(m: &ClassificationMetrics) -> serde_json::Value {
    json!({"accuracy": m.accuracy, "precision": m.precision, "recall": m.recall, "f1": m.f1})
}

/// The settings of `convplay shift-experiment`.
pub struct ShiftExperiment {
    pub quick: bool,
    pub epochs: Option<usize>,
    pub seed: u64,
    pub shift_seed: u64,
    pub limit: Option<usize>,
    pub test_limit: Option<usize>,
    pub canvas: usize,
    pub out_dir: Option<PathBuf>,
}

/// The flatten-vs-GAP measurement of one model: trained with `spec`, then tested on the centred
/// and on the shifted (offsets seeded by `shift_seed`) test sets. The trained model, the two
/// evaluations in that order, and the training seconds.
pub fn fit_and_test(
    backend: &Backend,
    model: ModelSpec,
    spec: TrainSpec,
    train_set: &Dataset,
    test_set: &Dataset,
    shift_seed: u64,
    quiet: bool,
) -> CliResult<(Model, [Evaluation; 2], f64)> {
    let (t, seconds) = fit(backend, model, spec, train_set, quiet)?;
    let mut trained = t.model().clone();
    let centered = evaluate(
        backend,
        &mut trained,
        test_set,
        CanvasPlacement::Centered,
        256,
    )?;
    let shifted = evaluate(
        backend,
        &mut trained,
        test_set,
        CanvasPlacement::Shifted { seed: shift_seed },
        256,
    )?;
    Ok((trained, [centered, shifted], seconds))
}

pub fn shift_experiment(x: &ShiftExperiment, d: &DataArgs, variant: VariantArgs) -> CliResult<()> {
    set_threads(d.threads)?;
    let (seed, shift_seed, out_dir) = (x.seed, x.shift_seed, x.out_dir.as_deref());
    let started = Instant::now();
    let dir = data_dir(d.data_dir.as_deref())?;
    let (limit, test_limit, default_epochs) = if x.quick {
        (Some(8000), Some(2000), 2)
    } else {
        (None, None, 8)
    };
    let (limit, test_limit) = (x.limit.or(limit), x.test_limit.or(test_limit));
    let epochs = x.epochs;
    let spec = TrainSpec {
        epochs: epochs.unwrap_or(default_epochs),
        limit,
        seed,
        canvas: x.canvas,
        ..TrainSpec::default()
    };
    let train_set = load(&dir, d.dataset, true, None)?;
    let test_set = load(&dir, d.dataset, false, test_limit)?;
    let backend = Backend::choose(d.backend)?;
    let mut results: Vec<(String, [Evaluation; 2], f64)> = Vec::new();
    for base in ["cnn-flatten", "cnn-gap"] {
        let model = apply_variant(model_spec(base, x.canvas)?, variant);
        let name = model.name.clone();
        let (trained, evals, seconds) = fit_and_test(
            &backend,
            model,
            spec.clone(),
            &train_set,
            &test_set,
            shift_seed,
            d.json,
        )?;
        if let Some(dir) = out_dir {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            let path = dir.join(format!("{name}.safetensors"));
            std::fs::write(&path, weights::save(&trained).map_err(err)?)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        results.push((name.to_string(), evals, seconds));
    }
    let seconds = started.elapsed().as_secs_f64();
    if d.json {
        let models: serde_json::Map<String, serde_json::Value> = results
            .iter()
            .map(|(name, e, train_seconds)| {
                (name.clone(), json!({"centered": metrics_json(&e[0].metrics), "shifted": metrics_json(&e[1].metrics), "train_seconds": train_seconds}))
            })
            .collect();
        print_json(&json!({
            "models": models, "seconds": seconds, "epochs": spec.epochs, "train_images": spec.limit.unwrap_or(train_set.len()).min(train_set.len()),
            "test_images": test_set.len(), "seed": seed, "shift_seed": shift_seed, "optimizer": spec.optimizer, "batch": spec.batch,
            "backend": backend.name(),
        }));
    } else {
        println!(
            "Flatten vs GAP on {} ({} training images × {} epochs, Adam 1e-3, batch 64; {} test images; {}×{} canvas, shifted = uniform offsets 0..={}, seed {shift_seed})",
            d.dataset,
            spec.limit.unwrap_or(train_set.len()).min(train_set.len()),
            spec.epochs,
            test_set.len(),
            x.canvas,
            x.canvas,
            x.canvas.saturating_sub(Dataset::SIDE)
        );
        let rows: Vec<(&str, &[Evaluation])> = results
            .iter()
            .map(|(name, evals, _)| (name.as_str(), evals.as_slice()))
            .collect();
        print_table(&rows);
        println!("lecture:     flatten 99.36% centred / 11.03% shifted; GAP 99.34% / 99.06%");
        println!("wall time {seconds:.0} s");
    }
    Ok(())
}
