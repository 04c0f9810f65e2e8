use super::*;
use convplay_compute::model::preset_for;
use convplay_compute::optim::OptimizerSpec;

/// 40 synthetic 28×28 "digits": class k is a bright bar at row 2k + 4.
fn toy() -> Dataset {
    let mut images = vec![0u8; 40 * 784];
    let mut labels = vec![0u8; 40];
    for i in 0..40 {
        let k = i % 10;
        labels[i] = k as u8;
        for c in 4..24 {
            images[i * 784 + (2 * k + 4) * 28 + c] = 220;
        }
    }
    Dataset::new(images, labels).unwrap()
}

fn experiment() -> Experiment {
    let mut exp = Experiment {
        models: vec![
            preset_for("cnn-flatten", 28).unwrap(),
            preset_for("cnn-gap", 28).unwrap(),
        ],
        ..Experiment::default()
    };
    exp.train.canvas = 28;
    exp.train.epochs = 2;
    exp.train.batch = 16;
    exp.train.limit = Some(40);
    exp.train.optimizer = OptimizerSpec::adam(3e-3);
    exp.data.test_limit = Some(20);
    exp
}

fn engine() -> Engine {
    let mut engine = Engine::default();
    engine.set_data(Data {
        kind: DatasetKind::Mnist,
        train: toy(),
        test: toy(),
    });
    engine
}

fn clock() -> f64 {
    0.0
}

/// Runs the engine's work until it has none; returns every message.
fn drain(engine: &mut Engine) -> Vec<FromWorker> {
    let mut out = Vec::new();
    for _ in 0..10_000 {
        if !engine.busy() {
            return out;
        }
        out.extend(engine.work(&clock));
    }
    panic!("the engine never finished");
}

fn image() -> Image {
    Image {
        side: 28,
        pixels: toy().image(3).iter().map(|&b| b as f32 / 255.0).collect(),
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[test]
fn a_run_reports_steps_evaluations_and_finishes() {
    let mut engine = engine();
    engine.start(&experiment()).unwrap();
    assert!(engine.busy());
    let messages = drain(&mut engine);
    let steps = messages
        .iter()
        .filter(|m| matches!(m, FromWorker::Step(_)))
        .count();
    let evals: Vec<(usize, usize)> = messages
        .iter()
        .filter_map(|m| match m {
            FromWorker::Evaluated { model, epoch, .. } => Some((*model, *epoch)),
            _ => None,
        })
        .collect();
    assert!(steps >= 2, "{steps} step reports");
    for model in 0..2 {
        for epoch in 1..=2 {
            assert!(evals.contains(&(model, epoch)), "{evals:?}");
        }
    }
    assert_eq!(messages.last(), Some(&FromWorker::Run(RunState::Finished)));
    assert_eq!(engine.state(), Some(RunState::Finished));
    let FromWorker::Prediction(p) = engine.predict(&image()) else {
        panic!("no prediction")
    };
    assert_eq!(p.len(), 2);
    assert!(p.iter().all(|m| m.len() == 10));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[test]
fn pause_resume_and_stop_change_the_state_only_when_they_can() {
    let mut engine = engine();
    assert_eq!(engine.control(RunState::Paused), None, "no run to pause");
    engine.start(&experiment()).unwrap();
    engine.work(&clock);
    assert_eq!(
        engine.control(RunState::Paused),
        Some(FromWorker::Run(RunState::Paused))
    );
    assert!(!engine.busy());
    assert!(
        engine.work(&clock).is_empty(),
        "a paused run does not train"
    );
    assert_eq!(engine.control(RunState::Paused), None);
    assert_eq!(
        engine.control(RunState::Training),
        Some(FromWorker::Run(RunState::Training))
    );
    assert_eq!(
        engine.control(RunState::Stopped),
        Some(FromWorker::Run(RunState::Stopped))
    );
    assert!(!engine.busy());
    assert_eq!(
        engine.control(RunState::Training),
        None,
        "a stopped run stays stopped"
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[test]
fn start_needs_the_experiments_dataset() {
    let mut exp = experiment();
    exp.data.dataset = DatasetKind::FashionMnist;
    let err = engine().start(&exp).unwrap_err();
    assert_eq!(err, WorkerError::DataNotLoaded(DatasetKind::FashionMnist));
    assert!(err.to_string().contains("fashion-mnist"), "{err}");
    assert!(Engine::default().start(&experiment()).is_err());
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[test]
fn prepared_models_predict_before_training_and_trained_ones_are_kept() {
    let mut engine = engine();
    assert_eq!(engine.predict(&image()), FromWorker::Prediction(vec![]));
    engine.prepare(&experiment()).unwrap();
    let FromWorker::Prediction(p) = engine.predict(&image()) else {
        panic!()
    };
    assert_eq!(p.len(), 2);
    engine.start(&experiment()).unwrap();
    drain(&mut engine);
    let trained = engine.export(1).unwrap();
    let mut one_model = experiment();
    one_model.models.truncate(1);
    engine.prepare(&one_model).unwrap();
    assert_eq!(
        engine.export(1).unwrap(),
        trained,
        "prepare keeps trained models"
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[test]
fn shift_maps_cover_every_cell_of_every_model() {
    let mut engine = engine();
    let mut exp = experiment();
    exp.train.canvas = 40;
    exp.models = exp
        .models
        .iter()
        .map(|m| preset_for(&m.name, 40).unwrap())
        .collect();
    engine.prepare(&exp).unwrap();
    let first = engine.start_shift_maps(6, 10).unwrap();
    let FromWorker::ShiftMaps { done: 0, total, .. } = first else {
        panic!("{first:?}")
    };
    // Offsets 0, 6, 12 per axis: 9 cells per model.
    assert_eq!(total, 18);
    let messages = drain(&mut engine);
    let Some(FromWorker::ShiftMaps { done, maps, .. }) = messages.last() else {
        panic!("{messages:?}")
    };
    assert_eq!(*done, 18);
    assert_eq!(maps.len(), 2);
    assert_eq!(maps[0].offsets, [0, 6, 12]);
    assert!(
        maps.iter()
            .all(|m| m.accuracy.iter().all(|a| (0.0..=1.0).contains(a)))
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[test]
fn exported_weights_import_back_and_bad_files_are_errors() {
    let mut engine = engine();
    engine.prepare(&experiment()).unwrap();
    let FromWorker::Weights { index: 1, bytes } = engine.export(1).unwrap() else {
        panic!()
    };
    let before = engine.predict(&image());
    let imported = engine.import(0, &bytes).unwrap();
    let [FromWorker::Imported { index: 0, spec }] = imported.as_slice() else {
        panic!("{imported:?}")
    };
    assert_eq!(spec.name, "cnn-gap");
    let FromWorker::Prediction(after) = engine.predict(&image()) else {
        panic!()
    };
    let FromWorker::Prediction(before) = before else {
        panic!()
    };
    assert_eq!(after[0], before[1], "model 0 is now model 1's weights");
    let bad = engine.import(0, b"not a weights file").unwrap_err();
    assert!(bad.to_string().contains("safetensors"), "{bad}");
    assert_eq!(engine.import(5, &bytes), Err(WorkerError::NoModel(5)));
    let missing = engine.export(7).unwrap_err();
    assert_eq!(missing.to_string(), "there is no model 8");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[test]
fn random_digits_come_from_the_test_set() {
    let mut engine = engine();
    let FromWorker::Digit { image, label } = engine.random_digit(5).unwrap() else {
        panic!()
    };
    assert_eq!(image.side, 28);
    assert!(label < 10);
    assert!(Engine::default().random_digit(5).is_err());
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[test]
fn the_gpu_cannot_be_chosen_before_the_worker_found_one() {
    let mut engine = engine();
    assert_eq!(engine.device(), Device::Cpu);
    let err = engine.set_device(Device::Gpu).unwrap_err();
    assert_eq!(err, WorkerError::NoWebGpu);
    assert!(err.to_string().contains("WebGPU"), "{err}");
    assert_eq!(engine.device(), Device::Cpu);
    assert_eq!(
        engine.set_device(Device::Cpu),
        Ok(FromWorker::Device(Device::Cpu))
    );
}

/// A GPU run whose unit is out, as `Engine::begin` leaves it (no device needed).
fn engine_awaiting_a_gpu_unit() -> Engine {
    let mut engine = engine();
    engine.prepare(&experiment()).unwrap();
    engine.trained = true;
    engine.runs = 3;
    engine.device = Device::Gpu;
    engine.state = Some(RunState::Training);
    engine.run = Some(RunSlot::GpuBusy);
    engine
}

fn gpu_done(run: u64, result: Result<Vec<RunEvent>, Error>) -> GpuDone {
    GpuDone {
        run,
        started: 0.0,
        images_before: 0,
        gpu: None,
        result,
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[test]
fn a_lost_gpu_stops_the_run_and_sends_the_next_one_to_the_cpu() {
    let mut engine = engine_awaiting_a_gpu_unit();
    let before = engine.predict(&image());
    // A unit of a run replaced meanwhile changes nothing.
    let late = gpu_done(2, Err(Error::Gpu("device lost".into())));
    assert_eq!(engine.finish_gpu(late, &clock), []);
    assert!(matches!(engine.run, Some(RunSlot::GpuBusy)));
    assert_eq!(engine.device(), Device::Gpu);

    let lost = gpu_done(3, Err(Error::Gpu("device lost".into())));
    assert_eq!(
        engine.finish_gpu(lost, &clock),
        [
            FromWorker::Error("training stopped: device lost".into()),
            FromWorker::Run(RunState::Stopped),
            FromWorker::Gpu(GpuStatus::Unavailable("device lost".into())),
            FromWorker::Device(Device::Cpu),
        ]
    );
    assert!(engine.run.is_none());
    assert_eq!(engine.state(), Some(RunState::Stopped));
    assert_eq!(engine.device(), Device::Cpu);
    assert_eq!(
        engine.predict(&image()),
        before,
        "the last weights are kept"
    );
    assert!(
        engine.set_device(Device::Gpu).is_err(),
        "the device is gone"
    );
    engine.start(&experiment()).unwrap();
    assert!(matches!(engine.run, Some(RunSlot::Cpu(_))));
    assert!(matches!(engine.begin(&clock, 2), Work::Step(s) if s.shards.len() == 2));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[test]
fn another_gpu_failure_stops_the_run_but_keeps_the_device() {
    let mut engine = engine_awaiting_a_gpu_unit();
    let failed = gpu_done(
        3,
        Err(Error::Diverged {
            step: 4,
            loss: f32::NAN,
        }),
    );
    let out = engine.finish_gpu(failed, &clock);
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[1], FromWorker::Run(RunState::Stopped));
    assert!(engine.run.is_none());
    assert_eq!(engine.device(), Device::Gpu);
    // While a unit is out nothing more is handed out.
    let mut engine = engine_awaiting_a_gpu_unit();
    assert!(matches!(engine.begin(&clock, 1), Work::Done(m) if m.is_empty()));
    assert!(matches!(engine.run, Some(RunSlot::GpuBusy)));
}

/// Every message of a GPU run, driven as the worker drives it.
#[cfg(target_arch = "wasm32")]
async fn drain_gpu(engine: &mut Engine) -> Vec<FromWorker> {
    let mut out = Vec::new();
    for _ in 0..1_000 {
        if !engine.busy() {
            return out;
        }
        match engine.begin(&clock, 1) {
            Work::Done(m) => out.extend(m),
            Work::Step(_) => panic!("a GPU run hands out no CPU steps"),
            Work::Gpu(job) => {
                let done = job.run().await;
                out.extend(engine.finish_gpu(done, &clock));
            }
        }
    }
    panic!("the GPU run never finished");
}

/// The page's WebGPU path (SwiftShader in headless Chromium): the run reports what the CPU
/// run reports, and the models predict from the weights read back while it trains.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen_test::wasm_bindgen_test]
async fn a_run_on_webgpu_reports_as_the_cpu_run_and_predicts_while_it_trains() {
    let ctx = GpuContext::new()
        .await
        .unwrap_or_else(|e| panic!("this test needs WebGPU and found none: {e}"));
    #[allow(clippy::arc_with_non_send_sync)]
    let ctx = Arc::new(ctx);
    // Small models: SwiftShader trains cnn-gap at a few images a second.
    let mut exp = experiment();
    exp.models = vec![
        preset_for("lenet5", 28).unwrap(),
        convplay_compute::ModelSpec::from_json(
            r#"{"name":"tiny-gap","input":[1,28,28],"layers":[
                {"type":"conv2d","name":"c1","filters":8,"kernel":3,"padding":"same","activation":"relu"},
                {"type":"max_pool","name":"p1","size":2},
                {"type":"conv2d","name":"c2","filters":16,"kernel":3,"padding":"same","activation":"relu"},
                {"type":"global_avg_pool","name":"gap"},
                {"type":"dense","name":"out","units":10}]}"#,
        )
        .unwrap(),
    ];
    exp.train.limit = Some(32);
    let mut cpu = engine();
    cpu.start(&exp).unwrap();
    let cpu_messages = drain(&mut cpu);

    let mut gpu = engine();
    let found = gpu.set_gpu(ctx.clone());
    assert!(
        matches!(found[0], FromWorker::Gpu(GpuStatus::Ready { .. })),
        "{found:?}"
    );
    gpu.set_device(Device::Gpu).unwrap();
    gpu.start(&exp).unwrap();
    assert!(matches!(gpu.predict(&image()), FromWorker::Prediction(p) if p.len() == 2));
    let Work::Gpu(job) = gpu.begin(&clock, 1) else {
        panic!("a GPU run's first unit is GPU work");
    };
    // While a unit is out, the page is still answered.
    assert!(matches!(gpu.predict(&image()), FromWorker::Prediction(p) if p.len() == 2));
    assert!(gpu.busy());
    let done = job.run().await;
    let mut gpu_messages = gpu.finish_gpu(done, &clock);
    gpu_messages.extend(drain_gpu(&mut gpu).await);

    let steps = |m: &[FromWorker]| -> Vec<StepReport> {
        m.iter()
            .filter_map(|m| match m {
                FromWorker::Step(r) => Some(*r),
                _ => None,
            })
            .collect()
    };
    // Each model's reports in order (a GPU unit is a burst of one model's steps, so the two
    // models' reports interleave differently).
    let by_model = |mut r: Vec<StepReport>| {
        r.sort_by_key(|r| (r.model, r.epoch, r.step));
        r
    };
    let (c, g) = (
        by_model(steps(&cpu_messages)),
        by_model(steps(&gpu_messages)),
    );
    assert_eq!(c.len(), g.len(), "{gpu_messages:?}");
    for (c, g) in c.iter().zip(&g) {
        assert_eq!((c.model, c.epoch, c.step), (g.model, g.epoch, g.step));
        assert!((c.loss - g.loss).abs() <= 1e-3, "{c:?} vs {g:?}");
    }
    let evals = |m: &[FromWorker]| {
        m.iter()
            .filter(|m| matches!(m, FromWorker::Evaluated { .. }))
            .count()
    };
    assert_eq!(evals(&gpu_messages), 4, "two epochs of two models");
    assert_eq!(gpu.state(), Some(RunState::Finished));
    assert!(gpu_messages.contains(&FromWorker::Run(RunState::Finished)));
    // The trained weights came back: predictions and export use them.
    let FromWorker::Weights { bytes, .. } = gpu.export(1).unwrap() else {
        panic!("export answers with weights");
    };
    let FromWorker::Weights {
        bytes: cpu_bytes, ..
    } = cpu.export(1).unwrap()
    else {
        panic!("export answers with weights");
    };
    let (g, c) = (
        weights::load(&bytes).unwrap(),
        weights::load(&cpu_bytes).unwrap(),
    );
    let worst = g
        .params
        .iter()
        .zip(&c.params)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-2, "GPU and CPU weights differ by {worst}");
}

/// A weights upload while a CPU run trains, with a step's shards out (as when gradient workers
/// compute them): a file that is not a model is an error and the run trains on to the end; a
/// model replaces model 0, stops the run (the page hears `Run(Stopped)`), the step that comes
/// back late is dropped, and model 1 keeps the weights it trained to.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[test]
fn a_weights_upload_while_training_stops_the_run_and_loses_no_model() {
    let mut engine = engine();
    let exp = experiment();
    engine.prepare(&exp).unwrap();
    let FromWorker::Weights { bytes, .. } = engine.export(1).unwrap() else {
        panic!()
    };
    engine.start(&exp).unwrap();
    engine.work(&clock);
    let step = next_step(&mut engine);

    let bad = engine
        .import(0, b"\x10\0\0\0\0\0\0\0{\"a\":1}")
        .unwrap_err();
    assert!(!bad.to_string().is_empty());
    assert_eq!(
        engine.state(),
        Some(RunState::Training),
        "a bad file changes nothing"
    );
    let grads: Vec<_> = step
        .shards
        .iter()
        .map(|s| engine.shard_gradients(&step, s).unwrap())
        .collect();
    let landed = engine.finish(step, grads, &clock);
    assert!(
        !landed.iter().any(|m| matches!(m, FromWorker::Error(_))),
        "the step lands: {landed:?}"
    );
    assert_eq!(engine.state(), Some(RunState::Training));

    let late = next_step(&mut engine);
    let trained = engine.export(1).unwrap();
    let answer = engine.import(0, &bytes).unwrap();
    assert!(
        matches!(
            answer.as_slice(),
            [
                FromWorker::Imported { index: 0, .. },
                FromWorker::Run(RunState::Stopped)
            ]
        ),
        "{answer:?}"
    );
    assert!(!engine.busy());
    assert!(!engine.is_current(&late));
    assert!(
        engine.finish(late, Vec::new(), &clock).is_empty(),
        "the late step is dropped"
    );
    assert_eq!(
        engine.export(1).unwrap(),
        trained,
        "model 1 keeps its trained weights"
    );
    let FromWorker::Weights { bytes: now0, .. } = engine.export(0).unwrap() else {
        panic!()
    };
    assert_eq!(now0, bytes, "model 0 is the upload");
}

/// The run's next training step, split for two workers (evaluations on the way are done).
fn next_step(engine: &mut Engine) -> PendingStep {
    for _ in 0..100 {
        match engine.begin(&clock, 2) {
            Work::Step(step) => return step,
            Work::Done(_) => {}
            Work::Gpu(_) => panic!("a CPU run"),
        }
    }
    panic!("no training step")
}

/// The same upload while a GPU unit is out: the unit that comes back is dropped, the models
/// are the weights last read back, with model 0 replaced.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[test]
fn a_weights_upload_while_a_gpu_unit_is_out_drops_the_unit() {
    let mut engine = engine_awaiting_a_gpu_unit();
    let FromWorker::Weights { bytes, .. } = engine.export(1).unwrap() else {
        panic!()
    };
    let kept = engine.export(1).unwrap();
    let answer = engine.import(0, &bytes).unwrap();
    assert_eq!(answer.len(), 2, "{answer:?}");
    assert!(
        engine
            .finish_gpu(gpu_done(3, Ok(Vec::new())), &clock)
            .is_empty()
    );
    assert_eq!(engine.export(1).unwrap(), kept);
    assert_eq!(engine.state(), Some(RunState::Stopped));
}

/// What the worker says it holds: the wasm memory it measured, and no GPU buffers without a
/// device.
#[test]
fn memory_reports_the_wasm_bytes_and_no_gpu_without_a_device() {
    let engine = engine();
    assert_eq!(
        engine.memory(42 << 20),
        WorkerMemory {
            wasm_bytes: 42 << 20,
            gpu_buffers: 0,
            gpu_bytes: 0
        }
    );
}
