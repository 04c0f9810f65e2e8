//! `convplay run --link`: trains exactly the experiment a playground share link describes, with
//! the same step-wise driver the browser's worker uses, so the curves agree: `Run` on the CPU,
//! `GpuRun` (the page's WebGPU path) with `--backend gpu`, or with `auto` on a hardware GPU.

use std::path::Path;
use std::time::Instant;

use convplay_compute::data::Dataset;
use convplay_compute::experiment::{Experiment, Run, RunEvent};
use convplay_compute::gpu::{GpuRun, block_on};
use convplay_compute::model::Model;
use convplay_compute::train::{Evaluation, Steps};
use convplay_compute::weights;
use serde_json::json;

use crate::backend::{Backend, BackendArg};
use crate::common::{CliResult, bar, data_dir, err, load, print_json, set_threads};
use crate::train::{metrics_json, print_table};

/// Where the data is, threads, output format: the link decides everything else.
pub struct RunArgs<'a> {
    pub data_dir: Option<&'a Path>,
    pub threads: usize,
    pub json: bool,
    pub out_dir: Option<&'a Path>,
    pub backend: BackendArg,
}

/// Training steps a GPU run submits before it reads metrics back.
const GPU_BURST: usize = 16;

/// Runs `run` to its end, `burst` training steps per unit of work, handing every event to
/// `on_event`; returns the trained models. The same driver on either backend.
fn drive<T: Steps>(
    mut run: Run<T>,
    burst: usize,
    train: &Dataset,
    test: &Dataset,
    on_event: &mut impl FnMut(RunEvent),
) -> CliResult<Vec<Model>> {
    while !run.is_done() {
        for ev in block_on(run.work(train, test, burst)).map_err(err)? {
            on_event(ev);
        }
    }
    Ok(run.models().into_iter().cloned().collect())
}

pub fn run(link: &str, d: &RunArgs) -> CliResult<()> {
    set_threads(d.threads)?;
    let exp = Experiment::from_link(link).map_err(|e| format!("bad link: {e}"))?;
    let backend = Backend::choose(d.backend)?;
    let dir = data_dir(d.data_dir)?;
    let train_set = load(&dir, exp.data.dataset, true, None)?;
    let test_set = load(&dir, exp.data.dataset, false, None)?;
    let names: Vec<String> = exp.models.iter().map(|m| m.name.clone()).collect();
    let t = &exp.train;
    let images = t.limit.map_or(train_set.len(), |l| l.min(train_set.len()));
    let test_images = exp
        .data
        .test_limit
        .map_or(test_set.len(), |l| l.min(test_set.len()));
    if !d.json {
        eprintln!(
            "{} on {} on {} ({images} training images × {} epochs, batch {}, {:?}, seed {}, {c}×{c} canvas, train shift ±{}; {test_images} test images, shift seed {})",
            names.join(" vs "),
            exp.data.dataset,
            backend.name(),
            t.epochs,
            t.batch,
            t.optimizer,
            t.seed,
            t.train_shift,
            exp.data.shift_seed,
            c = t.canvas,
        );
    }
    let started = Instant::now();
    let steps_per_epoch = images.div_ceil(t.batch);
    let total = (steps_per_epoch * t.epochs * names.len()) as u64;
    let pb = bar(total, "training", d.json);
    let mut curves = Vec::new();
    let mut results: Vec<Vec<Evaluation>> = vec![Vec::new(); names.len()];
    let mut done_steps = vec![0u64; names.len()];
    let mut on_event = |ev: RunEvent| {
        match &ev {
            RunEvent::Step {
                model,
                epoch,
                step,
                loss,
                accuracy,
                ..
            } => {
                done_steps[*model] = ((*epoch - 1) * steps_per_epoch + step) as u64;
                pb.set_position(done_steps.iter().sum());
                pb.set_message(format!(
                    "{} epoch {epoch} loss {loss:.4} acc {:.2}%",
                    names[*model],
                    100.0 * accuracy
                ));
            }
            RunEvent::Evaluated {
                model,
                epoch,
                centered,
                shifted,
            } => {
                if !d.json {
                    pb.suspend(|| {
                        eprintln!(
                            "{}: epoch {epoch}/{}: test accuracy centred {:.2}%, shifted {:.2}%",
                            names[*model],
                            t.epochs,
                            100.0 * centered.metrics.accuracy,
                            100.0 * shifted.metrics.accuracy
                        )
                    });
                }
                results[*model] = vec![centered.clone(), shifted.clone()];
            }
            RunEvent::ModelFinished { .. } | RunEvent::Finished => {}
        }
        curves.push(ev);
    };
    let models = match &backend {
        Backend::Cpu => {
            let run = Run::new(&exp, &train_set).map_err(err)?;
            drive(run, 1, &train_set, &test_set, &mut on_event)?
        }
        Backend::Gpu(ctx) => {
            let run = block_on(GpuRun::on_gpu(ctx.clone(), &exp, &train_set)).map_err(err)?;
            drive(run, GPU_BURST, &train_set, &test_set, &mut on_event)?
        }
    };
    pb.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    if let Some(dir) = d.out_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        for (i, model) in models.iter().enumerate() {
            let path = dir.join(format!("{}-{}.safetensors", i + 1, model.spec.name));
            std::fs::write(&path, weights::save(model).map_err(err)?)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
    }
    if d.json {
        let models: Vec<serde_json::Value> = names
            .iter()
            .zip(&results)
            .map(|(name, e)| {
                json!({"name": name, "centered": metrics_json(&e[0].metrics), "shifted": metrics_json(&e[1].metrics)})
            })
            .collect();
        print_json(&json!({
            "experiment": exp, "fragment": exp.to_fragment(), "backend": backend.name(), "models": models,
            "events": curves, "seconds": seconds,
        }));
    } else {
        let rows: Vec<(&str, &[Evaluation])> = names
            .iter()
            .zip(&results)
            .map(|(n, e)| (n.as_str(), e.as_slice()))
            .collect();
        print_table(&rows);
        println!("wall time {seconds:.0} s");
        if let Some(dir) = d.out_dir {
            println!("weights written to {}", dir.display());
        }
    }
    Ok(())
}
