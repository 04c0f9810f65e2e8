//! Benchmark, not a test (it asserts nothing): training and inference images/s and GFLOP/s at
//! batch 64, in whatever runs the wasm: headless Chromium with `scripts/bench-browser.sh`, or
//! node (CPU only). The figures are printed to the console (`--nocapture`).
//!
//! - wasm simd128, one thread: cnn-gap and cnn-flatten, then each convolution pass of cnn-gap
//!   timed alone.
//! - WebGPU (`gpu` feature; in headless Chromium that is SwiftShader, a CPU emulation of a GPU):
//!   cnn-gap, then each convolution pass of cnn-gap timed alone, which says where a step goes.
#![cfg(target_arch = "wasm32")]

use convplay_compute::data::Dataset;
use convplay_compute::model::{Mode, Workspace, preset_for};
use convplay_compute::train::{TrainSpec, Trainer};
use wasm_bindgen_test::wasm_bindgen_test;

const BATCH: usize = 64;

fn now() -> f64 {
    js_sys::Date::now() / 1000.0
}

fn log(s: &str) {
    web_sys::console::log_1(&s.into());
}

/// `n` deterministic images, labels cycling 0..10.
fn synthetic(n: usize) -> Dataset {
    let mut images = vec![0u8; n * Dataset::PIXELS];
    for (i, p) in images.iter_mut().enumerate() {
        *p = (i * 31 % 251) as u8;
    }
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    Dataset::new(images, labels).expect("well-formed synthetic data")
}

fn macs(name: &str) -> f64 {
    let spec = preset_for(name, 64).expect("preset");
    spec.summary().expect("summary").total_macs as f64
}

fn simd_bench(name: &str) {
    let data = synthetic(BATCH);
    let spec = preset_for(name, 64).expect("preset");
    let macs = macs(name);
    let mut t = Trainer::new(spec, TrainSpec::default()).expect("trainer");
    let idx: Vec<usize> = (0..BATCH).collect();
    t.train_step(&data, &idx).expect("warm-up step");
    let steps = 8;
    let t0 = now();
    for _ in 0..steps {
        t.train_step(&data, &idx).expect("step");
    }
    let train = (steps * BATCH) as f64 / (now() - t0);
    // Inference: forward only, evaluation mode.
    let x = vec![0.5f32; BATCH * 64 * 64];
    let mut ws = Workspace::new();
    t.model
        .forward(&mut ws, &x, BATCH, Mode::Eval)
        .expect("forward");
    let t0 = now();
    for _ in 0..steps {
        t.model
            .forward(&mut ws, &x, BATCH, Mode::Eval)
            .expect("forward");
    }
    let infer = (steps * BATCH) as f64 / (now() - t0);
    log(&format!(
        "{name}: train {train:.1} img/s ({:.2} GFLOP/s), infer {infer:.1} img/s ({:.2} GFLOP/s), batch {BATCH}, wasm {}, 1 thread",
        train * 6.0 * macs / 1e9,
        infer * 2.0 * macs / 1e9,
        convplay_compute::cpu::simd::active_isa()
    ));
}

#[wasm_bindgen_test]
fn cnn_gap_and_cnn_flatten_speed() {
    simd_bench("cnn-gap");
    simd_bench("cnn-flatten");
}

/// Each convolution of `graph`: its layer, geometry, and whether it is the first (a training step
/// skips its input gradient).
fn convolutions(
    graph: &convplay_compute::model::graph::Graph,
) -> Vec<(&str, &convplay_compute::ops::conv2d::Conv2dGeom, bool)> {
    use convplay_compute::model::graph::NodeOp;
    let mut seen = false;
    graph
        .nodes
        .iter()
        .filter_map(|node| match &node.op {
            NodeOp::Conv2d { geom, .. } => {
                let first = !seen;
                seen = true;
                Some((node.layer.as_str(), geom, first))
            }
            _ => None,
        })
        .collect()
}

/// Seconds of the fastest of 5 runs of `f`, after one untimed run (V8 compiles wasm with a
/// baseline compiler first and tiers hot functions up in the background).
fn best_of_5(mut f: impl FnMut()) -> f64 {
    f();
    (0..5)
        .map(|_| {
            let t0 = now();
            f();
            now() - t0
        })
        .fold(f64::MAX, f64::min)
}

/// Where a wasm SIMD training step of cnn-gap goes: each convolution pass alone at batch 64.
#[wasm_bindgen_test]
fn cnn_gap_simd_conv_passes() {
    use convplay_compute::ops::GradWrite;
    use convplay_compute::ops::conv2d::{
        conv2d_backward_input, conv2d_backward_weight, conv2d_forward,
    };
    let graph = convplay_compute::model::compile(&preset_for("cnn-gap", 64).expect("preset"))
        .expect("graph");
    let n = BATCH;
    let mut conv_s = 0.0;
    for (layer, g, first) in convolutions(&graph) {
        let x = vec![0.25f32; n * g.in_len()];
        let w = vec![0.5f32; g.weight_len()];
        let dout = vec![0.75f32; n * g.out_len()];
        let (mut y, mut dx, mut dw, mut db) = (
            vec![0.0; n * g.out_len()],
            vec![0.0; n * g.in_len()],
            vec![0.0; g.weight_len()],
            vec![0.0; g.c_out],
        );
        let f = best_of_5(|| conv2d_forward(&mut y, &x, &w, None, g, n).expect("forward"));
        let bi = best_of_5(|| {
            conv2d_backward_input(&mut dx, &dout, &w, g, n, GradWrite::Overwrite)
                .expect("bwd input")
        });
        let bw = best_of_5(|| {
            conv2d_backward_weight(&mut dw, Some(&mut db), &dout, &x, g, n).expect("bwd weight")
        });
        conv_s += f + bw + if first { 0.0 } else { bi };
        let gflop = 2.0 * g.macs() as f64 * n as f64 / 1e9;
        log(&format!(
            "  {:<8} forward {:6.1} ms ({:5.2} GFLOP/s)  backward_input {:6.1} ms ({:5.2}){}  backward_weight {:6.1} ms ({:5.2})",
            layer,
            f * 1e3,
            gflop / f,
            bi * 1e3,
            gflop / bi,
            if first { " (not in a step)" } else { "" },
            bw * 1e3,
            gflop / bw
        ));
    }
    log(&format!(
        "  the convolution passes of a cnn-gap step take {:.1} ms on wasm {}",
        conv_s * 1e3,
        convplay_compute::cpu::simd::active_isa()
    ));
}

#[cfg(feature = "gpu")]
mod webgpu {
    use std::sync::Arc;

    use convplay_compute::data::CanvasPlacement;
    use convplay_compute::gpu::ops::{self, Dispatch};
    use convplay_compute::gpu::{GpuBuffer, GpuContext, GpuInfer, GpuTrainer};
    use convplay_compute::model::graph::Graph;
    use convplay_compute::model::preset_for;
    use convplay_compute::train::{TrainSpec, evaluate};
    use wasm_bindgen_test::wasm_bindgen_test;

    use super::{BATCH, log, macs, now, synthetic};

    #[wasm_bindgen_test]
    async fn cnn_gap_webgpu_speed() {
        // One thread in the browser: the context is shared by reference counting, never sent.
        #[allow(clippy::arc_with_non_send_sync)]
        let ctx = Arc::new(GpuContext::new().await.expect("a WebGPU adapter"));
        let macs = macs("cnn-gap");
        let spec = preset_for("cnn-gap", 64).expect("preset");
        let graph = convplay_compute::model::compile(&spec).expect("graph");
        let mut t = GpuTrainer::new(ctx.clone(), spec, TrainSpec::default())
            .await
            .expect("trainer");
        let data = synthetic(2 * BATCH);
        let batches = [(0..BATCH).collect::<Vec<_>>(), (BATCH..2 * BATCH).collect()];
        // Warm-up: pipelines compile lazily on first use.
        t.train_step(&data, &batches[0]).expect("warm-up step");
        t.read_metrics().await.expect("metrics");
        let steps = 3;
        let t0 = now();
        for s in 0..steps {
            t.train_step(&data, &batches[s % 2]).expect("step");
        }
        // Reading the metrics back waits for every submitted step.
        t.read_metrics().await.expect("metrics");
        let step_s = (now() - t0) / steps as f64;
        let train = BATCH as f64 / step_s;

        let model = t.read_model().await.expect("weights").clone();
        let mut ev = GpuInfer::new(ctx.clone(), &model, BATCH).expect("evaluator");
        evaluate(&mut ev, &data, CanvasPlacement::Centered, BATCH)
            .await
            .expect("warm-up evaluation");
        let t0 = now();
        evaluate(&mut ev, &data, CanvasPlacement::Centered, BATCH)
            .await
            .expect("evaluation");
        let infer = data.len() as f64 / (now() - t0);
        log(&format!(
            "cnn-gap: train {train:.2} img/s ({:.2} GFLOP/s, {step_s:.1} s a step), infer {infer:.2} img/s ({:.2} GFLOP/s), batch {BATCH}, WebGPU on {}",
            train * 6.0 * macs / 1e9,
            infer * 2.0 * macs / 1e9,
            ctx.adapter
        ));

        // Where a step goes: each convolution pass alone, submitted and waited for, with the
        // GEMM body this adapter got; then the other body at a smaller batch, for comparison.
        let gemm = ctx.gemm();
        log(&format!(
            "  adapter software: {}, GEMM body: {gemm:?}",
            ctx.software
        ));
        let conv_s = time_conv_passes(&ctx, &graph, BATCH, false).await;
        log(&format!(
            "  the convolution passes a step runs take {conv_s:.1} s of a {step_s:.1} s training step ({:.0}%)",
            100.0 * conv_s / step_s
        ));
        let other = gemm.other();
        log(&format!("  for comparison, the {other:?} body at batch 8:"));
        time_conv_passes(&ctx.with_gemm(other), &graph, 8, true).await;
    }

    /// Times each convolution pass of `graph` alone at batch `n` and prints it; returns the
    /// seconds of the passes a training step runs (no input gradient for the first layer).
    /// `warm`: run each pass once untimed first (a new context's pipelines compile on first use).
    async fn time_conv_passes(ctx: &GpuContext, graph: &Graph, n: usize, warm: bool) -> f64 {
        let mut conv_s = 0.0;
        for (layer, g, first) in super::convolutions(graph) {
            let len = |k: usize| vec![0.25f32; k];
            let x = GpuBuffer::from_f32(ctx, "x", &len(n * g.in_len()));
            let w = GpuBuffer::from_f32(ctx, "w", &len(g.weight_len()));
            let dout = GpuBuffer::from_f32(ctx, "dout", &len(n * g.out_len()));
            let y = GpuBuffer::zeros(ctx, "y", n * g.out_len());
            let dx = GpuBuffer::zeros(ctx, "dx", n * g.in_len());
            let dw = GpuBuffer::zeros(ctx, "dw", g.weight_len());
            let part = GpuBuffer::zeros(ctx, "part", ops::conv2d_weight_scratch(g, n));
            // The passes a training step runs (Winograd where it applies).
            let wino = ops::WinogradScratch::new(ctx, ops::winograd_scratch(g, n));
            let fwd =
                ops::conv2d_forward_auto(ctx, &y, &x, &w, &wino, 0, None, g, n, false).unwrap();
            let bin = ops::conv2d_backward_input_auto(ctx, &dx, &dout, &w, &wino, 0, g, n).unwrap();
            let bw = ops::conv2d_backward_weight_auto(ctx, &dw, &part, &wino, &dout, &x, 0, g, n)
                .unwrap();
            if warm {
                time_gpu(ctx, &fwd, &y).await;
                time_gpu(ctx, &bin, &dx).await;
                time_gpu(ctx, &bw, &dw).await;
            }
            let f = time_gpu(ctx, &fwd, &y).await;
            let bi = time_gpu(ctx, &bin, &dx).await;
            let bwt = time_gpu(ctx, &bw, &dw).await;
            conv_s += f + bwt + if first { 0.0 } else { bi };
            let gflop = 2.0 * g.macs() as f64 * n as f64 / 1e9;
            let mark = |winograd: bool| if winograd { " Winograd" } else { "" };
            log(&format!(
                "  {:<8} forward {f:7.3} s ({:5.2} GFLOP/s){}  backward_input {bi:7.3} s ({:5.2}){}{}  backward_weight {bwt:7.3} s ({:5.2}){}",
                layer,
                gflop / f,
                mark(ops::winograd(ctx, g, false)),
                gflop / bi,
                mark(ops::winograd(ctx, g, true)),
                if first { " (not in a step)" } else { "" },
                gflop / bwt,
                mark(ops::winograd_weight(ctx, g)),
            ));
        }
        conv_s
    }

    /// Seconds `dispatches` take, submitted alone and waited for (a one-element readback).
    async fn time_gpu(ctx: &GpuContext, dispatches: &[Dispatch], probe: &GpuBuffer) -> f64 {
        let refs: Vec<&Dispatch> = dispatches.iter().collect();
        let t0 = now();
        ctx.submit(&refs).expect("submit");
        probe.read_f32_range(ctx, 0..1).await.expect("readback");
        now() - t0
    }
}
