//! The GPU training loop against the CPU's: same seed, same batches, same losses. Natively and
//! in the browser (see [`super::testing`]).

use std::sync::Arc;

use super::kernels::Gemm;
use super::model::check_limits;
use super::testing::{digits, gpu_test};
use super::{GpuContext, GpuInfer, GpuRun, GpuTrainer};
use crate::backend::now;
use crate::data::CanvasPlacement;
use crate::experiment::{Run, RunEvent};
use crate::model::{Model, preset_for};
use crate::optim::OptimizerSpec;
use crate::rng::Rng;
use crate::train::{CpuInfer, ShardScratch, TrainSpec, Trainer, evaluate};

/// A seeded 200-step cnn-gap run on the GPU tracks the CPU run (batch 16 on the 64×64 canvas,
/// dropout on, Adam 1e-3), checked two ways:
/// - restarts: at the CPU run's weights after 0, 20, …, 180 steps, a fresh CPU trainer and a
///   fresh GPU trainer (those weights, a fresh optimizer, the same seed and so the same dropout
///   masks as each other: those of a run's steps 1 to 3, not of the steps they stand in for)
///   take the run's next 3 batches: losses within 1e-4 at each (measured on lavapipe: at most
///   2.4e-7, one ulp of the loss). A fresh Adam's first steps move each weight by about its
///   learning rate, harder than the run's own steps there, which the free run covers;
/// - free-running: losses within 1e-3 at each of the first 20 steps, and every 20-step mean
///   within 5e-2 over all 200 while both learn.
///
/// Why not 1e-3 at every step of the free run, as the issue asked: the two runs differ only in
/// float rounding (summation orders, fused multiply-adds, Winograd), and training amplifies any
/// difference once the loss starts to fall: one ulp becomes a discrete change once a max-pool
/// window's two nearly equal values swap (the gradient goes to another pixel), with SGD as with
/// Adam. Measured (2026-12-01): on lavapipe the per-step difference was 0 to step 41, first
/// over 1e-3 at step 95; in Chromium (SwiftShader against wasm) at step 122. With Winograd on
/// the CPU's `valid` layers too (2026-12-07) it is 1e-4 from step 26 and over 1e-3 from step 57
/// on lavapipe, though each pass agrees with the exact sum better than before. So the per-step
/// check runs where the rounding has not yet compounded, every 20 steps, from the same weights.
/// The 20-step means stay close (worst 0.018 on lavapipe, 0.007 in Chromium; 2.30 → 1.52).
async fn cnn_gap_tracks_cpu_losses_for_200_steps(ctx: &Arc<GpuContext>) {
    let data = digits(320);
    let spec = TrainSpec {
        batch: 16,
        seed: 9,
        ..TrainSpec::default()
    };
    let model = preset_for("cnn-gap", 64).unwrap();
    let mut cpu = Trainer::new(model.clone(), spec.clone()).unwrap();
    let mut gpu = GpuTrainer::new(ctx.clone(), model, spec.clone())
        .await
        .unwrap();
    assert_eq!(gpu.model.params, cpu.model.params, "same initial weights");
    let mut order: Vec<usize> = (0..data.len()).collect();
    let mut rng = Rng::new(1);
    let (mut cpu_losses, mut gpu_losses) = (Vec::new(), Vec::new());
    let (mut batches, mut restarts) = (Vec::new(), Vec::new());
    for step in 0..200 {
        if step % 20 == 0 {
            rng.shuffle(&mut order);
            restarts.push((step, cpu.model.clone()));
        }
        let batch = order[(step % 20) * 16..(step % 20 + 1) * 16].to_vec();
        cpu_losses.push(cpu.train_step(&data, &batch).unwrap().loss);
        gpu.train_step(&data, &batch).unwrap();
        if (step + 1) % 20 == 0 {
            gpu_losses.extend(gpu.read_metrics().await.unwrap().iter().map(|s| s.loss));
        }
        batches.push(batch);
    }
    assert_eq!(gpu_losses.len(), 200);
    for (step, model) in restarts {
        let mut c = Trainer::with_model(model.clone(), spec.clone()).unwrap();
        let mut g = GpuTrainer::with_model(ctx.clone(), model, spec.clone())
            .await
            .unwrap();
        let mut cl = Vec::new();
        for batch in &batches[step..step + 3] {
            cl.push(c.train_step(&data, batch).unwrap().loss);
            g.train_step(&data, batch).unwrap();
        }
        let gl: Vec<f32> = g
            .read_metrics()
            .await
            .unwrap()
            .iter()
            .map(|s| s.loss)
            .collect();
        assert_eq!(gl.len(), 3);
        for (k, (c, g)) in cl.iter().zip(&gl).enumerate() {
            assert!(
                (c - g).abs() <= 1e-4,
                "from the weights after step {step}, step {}: cpu loss {c} gpu loss {g}",
                k + 1
            );
        }
    }
    for (step, (c, g)) in cpu_losses.iter().zip(&gpu_losses).take(20).enumerate() {
        assert!(
            (c - g).abs() <= 1e-3,
            "step {}: cpu loss {c} gpu loss {g}",
            step + 1
        );
    }
    let means =
        |l: &[f32]| -> Vec<f32> { l.chunks(20).map(|b| b.iter().sum::<f32>() / 20.0).collect() };
    let (c, g) = (means(&cpu_losses), means(&gpu_losses));
    for (block, (c, g)) in c.iter().zip(&g).enumerate() {
        assert!(
            (c - g).abs() <= 5e-2,
            "steps {}..={}: mean cpu loss {c} gpu loss {g}",
            20 * block + 1,
            20 * block + 20
        );
    }
    assert!(
        c[9] < c[0] - 0.5 && g[9] < g[0] - 0.5,
        "both runs learn: {c:?} {g:?}"
    );
}
gpu_test!(
    gpu_training_tracks_cpu_losses_for_200_steps_of_cnn_gap,
    cnn_gap_tracks_cpu_losses_for_200_steps
);

/// Two placements on the 64×64 canvas, in batches of 32 with a partial last batch, through the
/// one evaluator on both backends; the GPU's queue holds 40 images, so its logits come back in
/// two reads. LeNet-5 rather than cnn-flatten: the claim is about the evaluator, and SwiftShader
/// in the browser takes about a second an image for cnn-flatten.
async fn evaluation_matches_cpu(ctx: &Arc<GpuContext>) {
    let data = digits(70);
    let mut model = Model::new(preset_for("lenet5", 64).unwrap(), 3).unwrap();
    for placement in [
        CanvasPlacement::Centered,
        CanvasPlacement::At { dx: 3, dy: 30 },
    ] {
        let mut scratch = ShardScratch::default();
        let mut cpu = CpuInfer {
            model: &mut model,
            scratch: &mut scratch,
        };
        let c = now(evaluate(&mut cpu, &data, placement, 32))
            .unwrap()
            .unwrap();
        let mut gpu = GpuInfer::with_queue(ctx.clone(), &model, 32, 40).unwrap();
        let g = evaluate(&mut gpu, &data, placement, 32).await.unwrap();
        assert_eq!(g.confusion, c.confusion, "{placement:?}");
        assert!((g.loss - c.loss).abs() < 1e-4, "{} vs {}", g.loss, c.loss);
    }
}
gpu_test!(
    gpu_evaluation_matches_cpu_evaluation,
    evaluation_matches_cpu
);

async fn sgd_and_lenet_avg_pool_train_as_on_cpu(ctx: &Arc<GpuContext>) {
    let data = digits(64);
    let spec = TrainSpec {
        batch: 8,
        canvas: 28,
        optimizer: OptimizerSpec::Sgd {
            lr: 0.05,
            momentum: 0.9,
            weight_decay: 1e-4,
            nesterov: true,
        },
        ..TrainSpec::default()
    };
    let model = preset_for("lenet5", 28).unwrap();
    let mut cpu = Trainer::new(model.clone(), spec.clone()).unwrap();
    let mut gpu = GpuTrainer::new(ctx.clone(), model, spec).await.unwrap();
    let cpu_p = cpu.train_epoch(&data, |_| true).unwrap();
    let gpu_p = gpu.train_epoch(&data, |_| true).await.unwrap();
    assert_eq!(cpu_p.steps, gpu_p.steps);
    assert!(
        (cpu_p.loss - gpu_p.loss).abs() < 1e-3,
        "{cpu_p:?} vs {gpu_p:?}"
    );
}
gpu_test!(
    sgd_and_lenet_avg_pool_train_on_gpu_as_on_cpu,
    sgd_and_lenet_avg_pool_train_as_on_cpu
);

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[test]
fn a_batch_too_large_for_the_device_is_a_clear_error() {
    let graph = crate::model::compile(&preset_for("cnn-gap", 64).unwrap()).unwrap();
    let limits = wgpu::Limits {
        max_storage_buffer_binding_size: 16 << 20,
        ..wgpu::Limits::default()
    };
    let bytes = check_limits(
        &graph,
        16,
        &OptimizerSpec::adam(1e-3),
        &limits,
        Gemm::Registers,
    )
    .unwrap();
    assert!(bytes > 4 * 101_578 * 4, "{bytes}");
    let err = check_limits(
        &graph,
        64,
        &OptimizerSpec::adam(1e-3),
        &limits,
        Gemm::Registers,
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("batch 64") && msg.contains("at most"), "{msg}");
    // A model whose parameters alone are over the limit: no batch helps, and the message says so
    // (it used to suggest a smaller batch).
    let vgg =
        crate::model::compile(&crate::model::full_size("vgg16", [3, 32, 32], 10).unwrap()).unwrap();
    let limits = wgpu::Limits {
        max_storage_buffer_binding_size: 128 << 20,
        ..wgpu::Limits::default()
    };
    let msg = check_limits(
        &vgg,
        1,
        &OptimizerSpec::adam(1e-3),
        &limits,
        Gemm::Registers,
    )
    .unwrap_err()
    .to_string();
    assert!(
        msg.contains("whatever the batch")
            && msg.contains("--backend cpu")
            && !msg.contains("at most"),
        "{msg}"
    );
}

async fn batch_norm_residual_and_concat_train_as_on_cpu(ctx: &Arc<GpuContext>) {
    let spec = crate::model::ModelSpec::from_json(
        r#"{"name":"bn","input":[1,28,28],"layers":[
            {"type":"conv2d","name":"c","filters":6,"kernel":3,"padding":"same"},
            {"type":"batch_norm","name":"bn"},
            {"type":"relu","name":"r"},
            {"type":"max_pool","name":"p","size":2},
            {"type":"residual","name":"res","body":[
                {"type":"conv2d","name":"rc","filters":6,"kernel":3,"padding":"same","activation":"relu"}]},
            {"type":"branches","name":"br","branches":[
                [{"type":"conv2d","name":"b1","filters":3,"kernel":1}],
                [{"type":"conv2d","name":"b2","filters":5,"kernel":3,"padding":"same","groups":1},
                 {"type":"avg_pool","name":"bp","size":3,"stride":1,"padding":"same"}]]},
            {"type":"flatten","name":"f"},
            {"type":"dropout","name":"d","rate":0.3},
            {"type":"dense","name":"out","units":10}]}"#,
    )
    .unwrap();
    let data = digits(48);
    let train = TrainSpec {
        canvas: 28,
        batch: 12,
        ..TrainSpec::default()
    };
    let mut cpu = Trainer::new(spec.clone(), train.clone()).unwrap();
    let mut gpu = GpuTrainer::new(ctx.clone(), spec, train).await.unwrap();
    for step in 0..8 {
        let batch: Vec<usize> = (0..12).map(|i| (step * 12 + i) % 48).collect();
        let c = cpu.train_step(&data, &batch).unwrap();
        gpu.train_step(&data, &batch).unwrap();
        let g = gpu.read_metrics().await.unwrap()[0];
        assert!(
            (c.loss - g.loss).abs() < 1e-4,
            "step {step}: {} vs {}",
            c.loss,
            g.loss
        );
    }
}
gpu_test!(
    batch_norm_residual_and_concat_models_train_on_gpu_as_on_cpu,
    batch_norm_residual_and_concat_train_as_on_cpu
);

/// An experiment run on the GPU ([`GpuRun`], the page's WebGPU path) reports what the CPU
/// [`Run`] reports for the same experiment: each model's events in the same order, losses
/// within 1e-3, the same evaluations (confusion matrices within one image), and `Finished`
/// last. Bursts of 3 steps cross the epoch's end, and two models take turns (in bursts, so the
/// two models' events interleave differently).
async fn experiment_runs_on_gpu_as_on_cpu(ctx: &Arc<GpuContext>) {
    let mut exp = crate::experiment::tests::small();
    exp.models[0] = preset_for("lenet5", 28).unwrap();
    let (train, test) = (digits(40), digits(50));
    let mut cpu = Run::new(&exp, &train).unwrap();
    cpu.log_every = 2;
    let mut cpu_events = Vec::new();
    while !cpu.is_done() {
        cpu_events.extend(cpu.step(&train, &test).unwrap());
    }
    let mut gpu = GpuRun::on_gpu(ctx.clone(), &exp, &train).await.unwrap();
    gpu.log_every = 2;
    assert!(gpu.gpu_bytes() > 0);
    let mut gpu_events = Vec::new();
    let mut units = 0;
    while !gpu.is_done() {
        gpu_events.extend(gpu.step(&train, &test, 3).await.unwrap());
        units += 1;
        assert!(units < 100, "the run does not end");
    }
    assert_eq!(gpu_events.len(), cpu_events.len(), "{gpu_events:#?}");
    assert_eq!(gpu_events.last(), Some(&RunEvent::Finished));
    assert_eq!(cpu_events.last(), Some(&RunEvent::Finished));
    let of = |events: &[RunEvent], m: usize| -> Vec<RunEvent> {
        events
            .iter()
            .filter(|e| match e {
                RunEvent::Step { model, .. }
                | RunEvent::Evaluated { model, .. }
                | RunEvent::ModelFinished { model } => *model == m,
                RunEvent::Finished => false,
            })
            .cloned()
            .collect()
    };
    let pairs: Vec<(RunEvent, RunEvent)> = (0..2)
        .flat_map(|m| of(&gpu_events, m).into_iter().zip(of(&cpu_events, m)))
        .collect();
    assert_eq!(pairs.len(), cpu_events.len() - 1);
    for (g, c) in &pairs {
        match (g, c) {
            (
                RunEvent::Step {
                    model: gm,
                    epoch: ge,
                    step: gs,
                    images: gi,
                    loss: gl,
                    ..
                },
                RunEvent::Step {
                    model: cm,
                    epoch: ce,
                    step: cs,
                    images: ci,
                    loss: cl,
                    ..
                },
            ) => {
                assert_eq!((gm, ge, gs, gi), (cm, ce, cs, ci));
                assert!((gl - cl).abs() <= 1e-3, "{g:?} vs {c:?}");
            }
            (
                RunEvent::Evaluated {
                    model: gm,
                    epoch: ge,
                    centered: gc,
                    shifted: gsh,
                },
                RunEvent::Evaluated {
                    model: cm,
                    epoch: ce,
                    centered: cc,
                    shifted: csh,
                },
            ) => {
                assert_eq!((gm, ge), (cm, ce));
                for (g, c) in [(gc, cc), (gsh, csh)] {
                    assert_eq!(g.placement, c.placement);
                    let k = c.confusion.classes();
                    let differ: u64 = (0..k * k)
                        .map(|j| {
                            g.confusion
                                .count(j / k, j % k)
                                .abs_diff(c.confusion.count(j / k, j % k))
                        })
                        .sum();
                    assert_eq!(g.confusion.total(), c.confusion.total());
                    assert!(differ <= 2, "{g:?} vs {c:?}");
                    assert!((g.loss - c.loss).abs() <= 1e-3, "{g:?} vs {c:?}");
                }
            }
            _ => assert_eq!(g, c),
        }
    }
    // The weights read back after the last unit are the trained ones.
    for (g, c) in gpu.models().iter().zip(cpu.models()) {
        let worst = g
            .params
            .iter()
            .zip(&c.params)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-2, "{}: weights differ by {worst}", g.spec.name);
    }
}
gpu_test!(
    an_experiment_runs_on_gpu_as_on_cpu,
    experiment_runs_on_gpu_as_on_cpu
);

/// A run holds the same device buffers after it has finished as while it trained: the
/// evaluation buffers built after each epoch (a second model at the evaluation batch size) are
/// given back when the model is done, not kept until the run is dropped (a page keeps a finished
/// run for its weights). On its own device, so that no other test's buffers are counted.
async fn a_finished_run_holds_no_evaluation_buffers(_shared: &Arc<GpuContext>) {
    #[allow(clippy::arc_with_non_send_sync)]
    let ctx = Arc::new(GpuContext::new().await.expect("a second device"));
    let exp = crate::experiment::tests::small();
    let (train, test) = (digits(40), digits(50));
    let mut run = GpuRun::on_gpu(ctx.clone(), &exp, &train).await.unwrap();
    let training = ctx.held();
    let mut evaluating = training;
    let mut units = 0;
    while !run.is_done() {
        let events = run.step(&train, &test, 2).await.unwrap();
        if events
            .iter()
            .any(|e| matches!(e, RunEvent::Evaluated { .. }))
            && !run.is_done()
        {
            evaluating = evaluating.max(ctx.held());
        }
        units += 1;
        assert!(units < 100, "the run does not end");
    }
    assert!(
        evaluating.1 > training.1,
        "an evaluation builds its own buffers: {evaluating:?} against {training:?}"
    );
    assert_eq!(
        ctx.held(),
        training,
        "a finished run holds what it trained with, no more"
    );
}
gpu_test!(
    a_finished_run_gives_back_its_evaluation_buffers,
    a_finished_run_holds_no_evaluation_buffers
);

/// A device lost in the middle of a run (wgpu's `Device::destroy`, what a driver reset or a
/// browser reclaiming the GPU does) ends the run with [`crate::error::Error::Gpu`], never a
/// panic; the weights last read back stay the model's, so the page can still save them; and
/// every storage buffer is released with the run. On its own device: destroying the shared one
/// would fail every other test.
async fn a_lost_device_ends_the_run_and_keeps_the_last_weights(_shared: &Arc<GpuContext>) {
    // One thread in the browser: the context is shared by reference counting, never sent.
    #[allow(clippy::arc_with_non_send_sync)]
    let ctx = Arc::new(GpuContext::new().await.expect("a second device"));
    assert_eq!(ctx.held(), (0, 0), "a new device holds nothing");
    let exp = crate::experiment::tests::small();
    let (train, test) = (digits(40), digits(50));
    let mut run = GpuRun::on_gpu(ctx.clone(), &exp, &train).await.unwrap();
    let (buffers, bytes) = ctx.held();
    assert!(
        buffers > 0 && bytes >= run.gpu_bytes(),
        "{buffers} buffers, {bytes} B"
    );
    run.step(&train, &test, 2).await.unwrap();
    let good: Vec<Vec<f32>> = run.models().iter().map(|m| m.params.clone()).collect();
    let fresh = GpuRun::on_gpu(ctx.clone(), &exp, &train).await.unwrap();
    assert_ne!(
        good[0],
        fresh.models()[0].params,
        "the first unit trained (and read back) model 0"
    );
    drop(fresh);
    assert_eq!(
        ctx.held(),
        (buffers, bytes),
        "a dropped run releases its buffers"
    );

    ctx.device.destroy();
    let mut failed = None;
    for _ in 0..4 {
        if let Err(e) = run.step(&train, &test, 2).await {
            failed = Some(e);
            break;
        }
    }
    match failed {
        Some(crate::error::Error::Gpu(what)) => assert!(!what.is_empty()),
        other => panic!("a lost device must end the run with a GPU error: {other:?}"),
    }
    let kept: Vec<Vec<f32>> = run.models().iter().map(|m| m.params.clone()).collect();
    assert_eq!(kept, good, "the weights last read back are kept");
    assert!(crate::weights::save(run.models()[0]).is_ok());
    drop(run);
    assert_eq!(ctx.held(), (0, 0), "the run's buffers are all released");
}
gpu_test!(
    a_lost_device_ends_a_run_with_an_error_and_keeps_the_last_weights,
    a_lost_device_ends_the_run_and_keeps_the_last_weights
);
