//! `bench`: training and inference throughput on synthetic batches, and achieved GFLOP/s of each
//! convolution primitive at the model's shapes.

use std::time::Instant;

use convplay_compute::data::{Dataset, Label};
use convplay_compute::model::graph::NodeOp;
use convplay_compute::model::{Mode, Model, Workspace};
use convplay_compute::ops::GradWrite;
use convplay_compute::ops::conv2d::{
    conv2d_backward_input, conv2d_backward_weight, conv2d_forward,
};
use convplay_compute::rng::Rng;
use convplay_compute::train::{TrainSpec, Trainer};
use serde_json::json;

use crate::backend::{Backend, BackendArg};
use crate::common::{
    CliResult, Shape, err, model_spec, print_json, set_threads, shaped_model_spec,
};
use convplay_compute::model::FULL_SIZE;

/// Median seconds of `reps` runs of `f`.
pub(crate) fn time(reps: usize, mut f: impl FnMut() -> CliResult<()>) -> CliResult<f64> {
    let mut t = Vec::with_capacity(reps);
    for _ in 0..reps {
        let s = Instant::now();
        f()?;
        t.push(s.elapsed().as_secs_f64());
    }
    t.sort_by(f64::total_cmp);
    Ok(t[t.len() / 2])
}

/// Shares of a CPU training step's wall time by op family, over `steps` more steps run with
/// the profiler on (after the timed ones, so the timing does not touch the figures above);
/// "other" is what no family covers (the walker's glue, idle threads between passes).
pub(crate) fn step_shares(
    steps: usize,
    mut step: impl FnMut(usize) -> CliResult<()>,
) -> CliResult<Vec<(&'static str, f64)>> {
    use convplay_compute::cpu::profile::{self, Family};
    profile::enable(true);
    let start = Instant::now();
    let ran = (0..steps.max(1)).try_for_each(&mut step);
    let wall = start.elapsed().as_secs_f64();
    let p = profile::read();
    profile::enable(false);
    ran?;
    let mut shares: Vec<(&'static str, f64)> = Family::ALL
        .iter()
        .map(|&f| (f.name(), p.get(f) / wall))
        .collect();
    shares.push(("other", (1.0 - p.total() / wall).max(0.0)));
    Ok(shares)
}

/// The shares as one line of percentages.
pub(crate) fn print_shares(shares: &[(&'static str, f64)]) {
    let parts: Vec<String> = shares
        .iter()
        .map(|(name, s)| format!("{name} {:.1}%", 100.0 * s))
        .collect();
    println!("step time: {}", parts.join(", "));
}

/// The shares as a JSON object.
pub(crate) fn shares_json(shares: &[(&'static str, f64)]) -> serde_json::Value {
    shares
        .iter()
        .map(|(name, s)| (name.to_string(), json!(s)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Four batches of `batch` random digit-like images (noise strokes, labels cycling 0..9): the
/// data and each batch's indices. A benchmark warms up on three and then cycles through them.
pub(crate) fn synthetic_batches(batch: usize) -> CliResult<(Dataset, Vec<Vec<usize>>)> {
    let n = batch * 4;
    let mut rng = Rng::new(1);
    let images = (0..n * 784)
        .map(|_| {
            if rng.next_f32() < 0.2 {
                (rng.next_u64() & 255) as u8
            } else {
                0
            }
        })
        .collect();
    let data = Dataset::new(images, (0..n).map(|i| (i % 10) as u8).collect()).map_err(err)?;
    let batches = (0..4)
        .map(|b| (b * batch..(b + 1) * batch).collect())
        .collect();
    Ok((data, batches))
}

#[allow(clippy::too_many_arguments)] // one per flag of `bench`
pub fn run(
    model: &str,
    batch: usize,
    canvas: usize,
    shape: Shape,
    steps: usize,
    threads: usize,
    json_out: bool,
    backend: BackendArg,
) -> CliResult<()> {
    set_threads(threads)?;
    if shape.input.is_some() || FULL_SIZE.contains(&model) {
        let backend = Backend::choose(backend)?;
        return run_images(model, batch, canvas, shape, steps, json_out, &backend);
    }
    let spec = model_spec(model, canvas)?;
    // Bad settings are reported before any GPU is probed.
    TrainSpec {
        batch,
        canvas,
        ..TrainSpec::default()
    }
    .validate()
    .map_err(err)?;
    if let Backend::Gpu(ctx) = Backend::choose(backend)? {
        return crate::bench_gpu::run(ctx, spec, batch, canvas, steps, json_out);
    }
    let summary = spec.summary().map_err(err)?;
    let mut t = Trainer::new(
        spec,
        TrainSpec {
            batch,
            canvas,
            ..TrainSpec::default()
        },
    )
    .map_err(err)?;
    let (data, batches) = synthetic_batches(batch)?;
    for b in batches.iter().take(3) {
        t.train_step(&data, b).map_err(err)?;
    }
    let start = Instant::now();
    for s in 0..steps.max(1) {
        t.train_step(&data, &batches[s % 4]).map_err(err)?;
    }
    let train_ips = (steps.max(1) * batch) as f64 / start.elapsed().as_secs_f64();
    let shares = step_shares(steps, |s| {
        t.train_step(&data, &batches[s % 4])
            .map(|_| ())
            .map_err(err)
    })?;

    let mut model = t.model.clone();
    let mut ws = Workspace::new();
    let x: Vec<f32> = {
        let mut rng = Rng::new(2);
        (0..batch * model.input_len())
            .map(|_| rng.next_f32())
            .collect()
    };
    model.forward(&mut ws, &x, batch, Mode::Eval).map_err(err)?;
    let infer_s = time(steps.max(3), || {
        model.forward(&mut ws, &x, batch, Mode::Eval).map_err(err)
    })?;
    let infer_ips = batch as f64 / infer_s;

    let macs = summary.total_macs as f64;
    let train_gflops = train_ips * 6.0 * macs / 1e9;
    let layers = conv_layers(&model, batch)?;
    let threads_used = rayon::current_num_threads();
    if json_out {
        print_json(&json!({
            "model": summary.name, "backend": Backend::Cpu.name(), "batch": batch, "threads": threads_used, "steps": steps,
            "train_images_per_sec": train_ips, "infer_images_per_sec": infer_ips,
            "train_gflops": train_gflops, "infer_gflops": infer_ips * 2.0 * macs / 1e9,
            "mflop_per_train_image": 6.0 * macs / 1e6, "conv_layers": layers,
            "step_shares": shares_json(&shares),
            "isa": convplay_compute::cpu::simd::active_isa(),
        }));
    } else {
        println!(
            "{} batch {batch}, {threads_used} thread(s), {}",
            summary.name,
            convplay_compute::cpu::simd::active_isa()
        );
        println!(
            "train {train_ips:.1} img/s ({train_gflops:.1} GFLOP/s at {:.0} MFLOP/image)",
            6.0 * macs / 1e6
        );
        print_shares(&shares);
        println!("infer {infer_ips:.1} img/s");
        print_conv_layers(&layers);
    }
    Ok(())
}

/// `bench` on image input (a full-size preset, or any model with `--input`): random `[batch,
/// c, h, w]` batches through [`Trainer::train_on`], then the evaluation forward. Conv layers are
/// not timed one by one here (at 224×224 that alone takes minutes).
fn run_images(
    model: &str,
    batch: usize,
    canvas: usize,
    shape: Shape,
    steps: usize,
    json_out: bool,
    backend: &Backend,
) -> CliResult<()> {
    if batch == 0 {
        return Err("--batch must be at least 1".into());
    }
    let spec = shaped_model_spec(model, canvas, shape)?;
    let summary = spec.summary().map_err(err)?;
    let m = Model::new(spec, 0).map_err(err)?;
    let classes = m.classes();
    let mut rng = Rng::new(2);
    let x: Vec<f32> = (0..batch * m.input_len())
        .map(|_| rng.uniform(-1.0, 1.0))
        .collect();
    let labels: Vec<Label> = (0..batch).map(|i| (i % classes) as Label).collect();
    let spec = TrainSpec {
        batch,
        ..TrainSpec::default()
    };
    if let Backend::Gpu(ctx) = backend {
        return bench_gpu_images(ctx, m, spec, &x, &labels, steps, &summary, json_out);
    }
    let mut t = Trainer::for_images(m, spec).map_err(err)?;
    for _ in 0..2 {
        t.train_on(&x, &labels).map_err(err)?;
    }
    let start = Instant::now();
    for _ in 0..steps.max(1) {
        t.train_on(&x, &labels).map_err(err)?;
    }
    let train_ips = (steps.max(1) * batch) as f64 / start.elapsed().as_secs_f64();
    let shares = step_shares(steps.clamp(1, 3), |_| {
        t.train_on(&x, &labels).map(|_| ()).map_err(err)
    })?;
    let mut model = t.model.clone();
    let mut ws = Workspace::new();
    model.forward(&mut ws, &x, batch, Mode::Eval).map_err(err)?;
    let infer_s = time(steps.clamp(3, 10), || {
        model.forward(&mut ws, &x, batch, Mode::Eval).map_err(err)
    })?;
    let infer_ips = batch as f64 / infer_s;
    let macs = summary.total_macs as f64;
    let train_gflops = train_ips * 6.0 * macs / 1e9;
    let threads_used = rayon::current_num_threads();
    let [c, h, w] = summary.input;
    if json_out {
        print_json(&json!({
            "model": summary.name, "backend": Backend::Cpu.name(), "input": [c, h, w], "batch": batch,
            "threads": threads_used, "steps": steps,
            "train_images_per_sec": train_ips, "infer_images_per_sec": infer_ips,
            "train_gflops": train_gflops, "infer_gflops": infer_ips * 2.0 * macs / 1e9,
            "mflop_per_train_image": 6.0 * macs / 1e6, "step_shares": shares_json(&shares),
            "isa": convplay_compute::cpu::simd::active_isa(),
        }));
    } else {
        println!(
            "{} {c}×{h}×{w} batch {batch}, {threads_used} thread(s), {}",
            summary.name,
            convplay_compute::cpu::simd::active_isa()
        );
        println!(
            "train {train_ips:.2} img/s ({train_gflops:.1} GFLOP/s at {:.0} MFLOP/image)",
            6.0 * macs / 1e6
        );
        print_shares(&shares);
        println!("infer {infer_ips:.2} img/s");
    }
    Ok(())
}

/// `run_images` on the GPU: steps submitted back to back, their losses read once at the end
/// (so the time is the device's); inference is not timed here.
#[allow(clippy::too_many_arguments)]
fn bench_gpu_images(
    ctx: &std::sync::Arc<convplay_compute::gpu::GpuContext>,
    m: Model,
    spec: TrainSpec,
    x: &[f32],
    labels: &[Label],
    steps: usize,
    summary: &convplay_compute::model::Summary,
    json_out: bool,
) -> CliResult<()> {
    use convplay_compute::gpu::{GpuTrainer, block_on};
    let batch = labels.len();
    let mut t = block_on(GpuTrainer::for_images(ctx.clone(), m, spec)).map_err(err)?;
    for _ in 0..2 {
        t.train_on(x, labels).map_err(err)?;
    }
    block_on(t.read_metrics()).map_err(err)?;
    let start = Instant::now();
    let steps = steps.clamp(1, 64);
    for _ in 0..steps {
        t.train_on(x, labels).map_err(err)?;
    }
    block_on(t.read_metrics()).map_err(err)?;
    let train_ips = (steps * batch) as f64 / start.elapsed().as_secs_f64();
    let macs = summary.total_macs as f64;
    let [c, h, w] = summary.input;
    if json_out {
        print_json(&json!({
            "model": summary.name, "backend": format!("gpu ({})", ctx.adapter), "input": [c, h, w],
            "batch": batch, "steps": steps, "train_images_per_sec": train_ips,
            "train_gflops": train_ips * 6.0 * macs / 1e9,
        }));
    } else {
        println!(
            "{} {c}×{h}×{w} batch {batch}, gpu ({})",
            summary.name, ctx.adapter
        );
        println!(
            "train {train_ips:.2} img/s ({:.1} GFLOP/s at {:.0} MFLOP/image)",
            train_ips * 6.0 * macs / 1e9,
            6.0 * macs / 1e6
        );
    }
    Ok(())
}

/// One line per convolution layer of `conv_layers`' JSON: GFLOP/s of each pass. Shared with
/// `bench --backend gpu`, whose software-adapter figures are below 1 (hence two decimals).
pub(crate) fn print_conv_layers(layers: &[serde_json::Value]) {
    let mark = |l: &serde_json::Value, key: &str| if l[key] == true { "*" } else { " " };
    for l in layers {
        println!(
            "  {:<8} forward {:>6.2}{} backward_input {:>6.2}{} backward_weight {:>6.2}{} GFLOP/s",
            l["name"].as_str().unwrap_or(""),
            l["forward_gflops"].as_f64().unwrap_or(0.0),
            mark(l, "forward_winograd"),
            l["backward_input_gflops"].as_f64().unwrap_or(0.0),
            mark(l, "backward_input_winograd"),
            l["backward_weight_gflops"].as_f64().unwrap_or(0.0),
            mark(l, "backward_weight_winograd")
        );
    }
    let any = |l: &serde_json::Value| {
        ["forward", "backward_input", "backward_weight"]
            .iter()
            .any(|pass| l[format!("{pass}_winograd")] == true)
    };
    if layers.iter().any(any) {
        println!(
            "  * Winograd F(2×2, 3×3): GFLOP/s counts the direct convolution's multiply-adds (it does 16 of every 36)"
        );
    }
}

/// Each conv primitive timed alone at the model's shapes and this batch.
fn conv_layers(model: &Model, n: usize) -> CliResult<Vec<serde_json::Value>> {
    let mut rng = Rng::new(3);
    let mut out = Vec::new();
    for node in &model.graph.nodes {
        let NodeOp::Conv2d { geom: g, .. } = &node.op else {
            continue;
        };
        let x: Vec<f32> = (0..n * g.in_len())
            .map(|_| rng.uniform(-1.0, 1.0))
            .collect();
        let w: Vec<f32> = (0..g.weight_len())
            .map(|_| rng.uniform(-1.0, 1.0))
            .collect();
        let dout: Vec<f32> = (0..n * g.out_len())
            .map(|_| rng.uniform(-1.0, 1.0))
            .collect();
        let (mut y, mut dx, mut dw, mut db) = (
            vec![0.0; n * g.out_len()],
            vec![0.0; n * g.in_len()],
            vec![0.0; g.weight_len()],
            vec![0.0; g.c_out],
        );
        let flop = 2.0 * g.macs() as f64 * n as f64 / 1e9;
        let fwd = time(5, || {
            conv2d_forward(&mut y, &x, &w, None, g, n).map_err(err)
        })?;
        // As a training step runs it: the first (here the only) contribution to dx writes over it.
        let bin = time(5, || {
            conv2d_backward_input(&mut dx, &dout, &w, g, n, GradWrite::Overwrite).map_err(err)
        })?;
        let bw = time(5, || {
            conv2d_backward_weight(&mut dw, Some(&mut db), &dout, &x, g, n).map_err(err)
        })?;
        out.push(json!({
            "name": node.layer, "macs_per_image": g.macs(),
            "forward_gflops": flop / fwd, "backward_input_gflops": flop / bin, "backward_weight_gflops": flop / bw,
        }));
    }
    Ok(out)
}
