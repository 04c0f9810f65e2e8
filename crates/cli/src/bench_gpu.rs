//! `bench --backend gpu`: training and inference images/s on the GPU, the bytes the run holds
//! on the device, and achieved GFLOP/s of each convolution pass at the model's shapes.

use std::sync::Arc;
use std::time::Instant;

use convplay_compute::data::CanvasPlacement;
use convplay_compute::gpu::ops::{self, Dispatch};
use convplay_compute::gpu::{self, GpuBuffer, GpuContext, GpuInfer, GpuTrainer};
use convplay_compute::model::ModelSpec;
use convplay_compute::model::graph::NodeOp;
use convplay_compute::rng::Rng;
use convplay_compute::train::{TrainSpec, evaluate};
use serde_json::json;

use crate::bench::{print_conv_layers, synthetic_batches, time};
use crate::common::{CliResult, err, print_json};

pub fn run(
    ctx: Arc<GpuContext>,
    spec: ModelSpec,
    batch: usize,
    canvas: usize,
    steps: usize,
    json_out: bool,
) -> CliResult<()> {
    let summary = spec.summary().map_err(err)?;
    let train_spec = TrainSpec {
        batch,
        canvas,
        ..TrainSpec::default()
    };
    let mut t = gpu::block_on(GpuTrainer::new(ctx.clone(), spec, train_spec)).map_err(err)?;
    let (data, batches) = synthetic_batches(batch)?;
    for b in batches.iter().take(3) {
        t.train_step(&data, b).map_err(err)?;
    }
    gpu::block_on(t.read_metrics()).map_err(err)?;
    let start = Instant::now();
    for s in 0..steps.max(1) {
        t.train_step(&data, &batches[s % 4]).map_err(err)?;
    }
    // Reading the metrics waits for every submitted step.
    gpu::block_on(t.read_metrics()).map_err(err)?;
    let train_ips = (steps.max(1) * batch) as f64 / start.elapsed().as_secs_f64();

    let model = gpu::block_on(t.read_model()).map_err(err)?.clone();
    let mut ev = GpuInfer::new(ctx.clone(), &model, batch).map_err(err)?;
    gpu::block_on(evaluate(&mut ev, &data, CanvasPlacement::Centered, batch)).map_err(err)?;
    let start = Instant::now();
    let reps = steps.max(3).div_ceil(4);
    for _ in 0..reps {
        gpu::block_on(evaluate(&mut ev, &data, CanvasPlacement::Centered, batch)).map_err(err)?;
    }
    let infer_ips = (reps * data.len()) as f64 / start.elapsed().as_secs_f64();

    let macs = summary.total_macs as f64;
    let train_gflops = train_ips * 6.0 * macs / 1e9;
    let layers = conv_layers(&ctx, &model.graph, batch)?;
    // The other GEMM body on the same device, so the figures show why this adapter got its own.
    let gemm = ctx.gemm();
    let other = gemm.other();
    let other_layers = conv_layers(&ctx.with_gemm(other), &model.graph, batch)?;
    if json_out {
        print_json(&json!({
            "model": summary.name, "backend": format!("gpu ({})", ctx.adapter), "batch": batch, "steps": steps,
            "train_images_per_sec": train_ips, "infer_images_per_sec": infer_ips,
            "train_gflops": train_gflops, "infer_gflops": infer_ips * 2.0 * macs / 1e9,
            "mflop_per_train_image": 6.0 * macs / 1e6, "conv_layers": layers,
            "gpu_bytes": t.gpu_bytes(), "software_adapter": ctx.software,
            "gemm": format!("{gemm:?}"),
            "other_gemm": { "gemm": format!("{other:?}"), "conv_layers": other_layers },
        }));
    } else {
        println!("{} batch {batch}, gpu ({})", summary.name, ctx.adapter);
        println!(
            "train {train_ips:.1} img/s ({train_gflops:.1} GFLOP/s at {:.0} MFLOP/image), {:.1} MB on the device",
            6.0 * macs / 1e6,
            t.gpu_bytes() as f64 / 1e6
        );
        println!("infer {infer_ips:.1} img/s");
        for (body, layers) in [(gemm, layers), (other, other_layers)] {
            println!(
                "{body:?} GEMM body{}:",
                if body == gemm {
                    " (this adapter's)"
                } else {
                    ""
                }
            );
            print_conv_layers(&layers);
        }
    }
    Ok(())
}

/// Median seconds of `dispatches`, each run submitted and waited for.
fn time_gpu(ctx: &GpuContext, dispatches: &[Dispatch], probe: &GpuBuffer) -> CliResult<f64> {
    let refs: Vec<&Dispatch> = dispatches.iter().collect();
    time(5, || {
        ctx.submit(&refs).map_err(err)?;
        // A one-element readback waits for the submission.
        gpu::block_on(probe.read_f32_range(ctx, 0..1)).map_err(err)?;
        Ok(())
    })
}

/// Each conv pass timed alone on the GPU at the model's shapes and this batch.
fn conv_layers(
    ctx: &GpuContext,
    graph: &convplay_compute::model::Graph,
    n: usize,
) -> CliResult<Vec<serde_json::Value>> {
    let mut rng = Rng::new(3);
    let mut out = Vec::new();
    for node in &graph.nodes {
        let NodeOp::Conv2d { geom: g, .. } = &node.op else {
            continue;
        };
        let mut random =
            |len: usize| -> Vec<f32> { (0..len).map(|_| rng.uniform(-1.0, 1.0)).collect() };
        let x = GpuBuffer::from_f32(ctx, "x", &random(n * g.in_len()));
        let w = GpuBuffer::from_f32(ctx, "w", &random(g.weight_len()));
        let dout = GpuBuffer::from_f32(ctx, "dout", &random(n * g.out_len()));
        let y = GpuBuffer::zeros(ctx, "y", n * g.out_len());
        let dx = GpuBuffer::zeros(ctx, "dx", n * g.in_len());
        let dw = GpuBuffer::zeros(ctx, "dw", g.weight_len());
        let part = GpuBuffer::zeros(ctx, "part", ops::conv2d_weight_scratch(g, n));
        let flop = 2.0 * g.macs() as f64 * n as f64 / 1e9;
        // The passes a training step runs (Winograd where it applies).
        let wino = ops::WinogradScratch::new(ctx, ops::winograd_scratch(g, n));
        let fwd =
            ops::conv2d_forward_auto(ctx, &y, &x, &w, &wino, 0, None, g, n, false).map_err(err)?;
        let bin =
            ops::conv2d_backward_input_auto(ctx, &dx, &dout, &w, &wino, 0, g, n).map_err(err)?;
        let bw = ops::conv2d_backward_weight_auto(ctx, &dw, &part, &wino, &dout, &x, 0, g, n)
            .map_err(err)?;
        out.push(json!({
            "name": node.layer, "macs_per_image": g.macs(),
            "forward_winograd": ops::winograd(ctx, g, false),
            "backward_input_winograd": ops::winograd(ctx, g, true),
            "backward_weight_winograd": ops::winograd_weight(ctx, g),
            "forward_gflops": flop / time_gpu(ctx, &fwd, &y)?,
            "backward_input_gflops": flop / time_gpu(ctx, &bin, &dx)?,
            "backward_weight_gflops": flop / time_gpu(ctx, &bw, &dw)?,
        }));
    }
    Ok(out)
}
