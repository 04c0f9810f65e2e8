//! Benchmark, not a test (it asserts nothing): training and inference images/s and GFLOP/s at
//! batch 64, in whatever runs the wasm: headless Chromium with `scripts/bench-browser.sh`, or
//! node (CPU only). The figures are printed to the console (`--nocapture`).
//!
//! - wasm simd128, one thread: cnn-gap and cnn-flatten.
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
        "{name}: train {train:.1} img/s ({:.2} GFLOP/s), infer {infer:.1} img/s ({:.2} GFLOP/s), batch {BATCH}, wasm simd128, 1 thread",
        train * 6.0 * macs / 1e9,
        infer * 2.0 * macs / 1e9
    ));
}

#[wasm_bindgen_test]
fn cnn_gap_and_cnn_flatten_speed() {
    simd_bench("cnn-gap");
    simd_bench("cnn-flatten");
}

#[cfg(feature = "gpu")]
mod webgpu {
    use std::sync::Arc;

    use convplay_compute::data::CanvasPlacement;
    use convplay_compute::gpu::ops::{self, Dispatch};
    use convplay_compute::gpu::{GpuBuffer, GpuContext, GpuEvaluator, GpuTrainer};
    use convplay_compute::model::graph::NodeOp;
    use convplay_compute::model::preset_for;
    use convplay_compute::train::TrainSpec;
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
        let mut ev = GpuEvaluator::new(ctx.clone(), &model, BATCH).expect("evaluator");
        ev.evaluate(&data, CanvasPlacement::Centered)
            .await
            .expect("warm-up evaluation");
        let t0 = now();
        ev.evaluate(&data, CanvasPlacement::Centered)
            .await
            .expect("evaluation");
        let infer = data.len() as f64 / (now() - t0);
        log(&format!(
            "cnn-gap: train {train:.2} img/s ({:.2} GFLOP/s, {step_s:.1} s a step), infer {infer:.2} img/s ({:.2} GFLOP/s), batch {BATCH}, WebGPU on {}",
            train * 6.0 * macs / 1e9,
            infer * 2.0 * macs / 1e9,
            ctx.adapter
        ));

        // Where a step goes: each convolution pass alone, submitted and waited for.
        let mut conv_s = 0.0;
        for node in &graph.nodes {
            let NodeOp::Conv2d { geom: g, .. } = &node.op else {
                continue;
            };
            let len = |n: usize| vec![0.25f32; n];
            let x = GpuBuffer::from_f32(&ctx, "x", &len(BATCH * g.in_len()));
            let w = GpuBuffer::from_f32(&ctx, "w", &len(g.weight_len()));
            let dout = GpuBuffer::from_f32(&ctx, "dout", &len(BATCH * g.out_len()));
            let y = GpuBuffer::zeros(&ctx, "y", BATCH * g.out_len());
            let dx = GpuBuffer::zeros(&ctx, "dx", BATCH * g.in_len());
            let dw = GpuBuffer::zeros(&ctx, "dw", g.weight_len());
            let part = GpuBuffer::zeros(&ctx, "part", ops::conv2d_weight_scratch(g, BATCH));
            let fwd = [ops::conv2d_forward(&ctx, &y, &x, &w, 0, None, g, BATCH, false).unwrap()];
            let bin = [ops::conv2d_backward_input(&ctx, &dx, &dout, &w, 0, g, BATCH).unwrap()];
            let bw = ops::conv2d_backward_weight(&ctx, &dw, &part, &dout, &x, 0, g, BATCH).unwrap();
            let f = time_gpu(&ctx, &fwd, &y).await;
            let bi = time_gpu(&ctx, &bin, &dx).await;
            let bwt = time_gpu(&ctx, &bw, &dw).await;
            conv_s += f + bi + bwt;
            let gflop = 2.0 * g.macs() as f64 * BATCH as f64 / 1e9;
            log(&format!(
                "  {:<8} forward {f:6.2} s ({:5.2} GFLOP/s)  backward_input {bi:6.2} s ({:5.2})  backward_weight {bwt:6.2} s ({:5.2})",
                node.layer,
                gflop / f,
                gflop / bi,
                gflop / bwt
            ));
        }
        log(&format!(
            "  the convolution passes take {conv_s:.1} s of a {step_s:.1} s training step ({:.0}%)",
            100.0 * conv_s / step_s
        ));
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
