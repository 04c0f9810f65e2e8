//! Benchmark, not a test (it asserts nothing): cnn-gap / cnn-flatten training and inference
//! images/s and GFLOP/s at batch 64 on the wasm simd128 CPU path, one thread, in whatever runs
//! the wasm: headless Chromium with `scripts/bench-browser.sh`, or node. The figures are printed
//! to the console (`--nocapture`).
#![cfg(target_arch = "wasm32")]

use convplay_compute::data::Dataset;
use convplay_compute::model::{Mode, Workspace, preset_for};
use convplay_compute::train::{TrainSpec, Trainer};
use wasm_bindgen_test::wasm_bindgen_test;

fn now() -> f64 {
    js_sys::Date::now() / 1000.0
}

fn log(s: &str) {
    web_sys::console::log_1(&s.into());
}

fn bench(name: &str) {
    let batch = 64;
    let mut images = vec![0u8; batch * Dataset::PIXELS];
    for (i, p) in images.iter_mut().enumerate() {
        *p = (i * 31 % 251) as u8;
    }
    let labels: Vec<u8> = (0..batch).map(|i| (i % 10) as u8).collect();
    let data = Dataset::new(images, labels).expect("well-formed synthetic data");
    let spec = preset_for(name, 64).expect("preset");
    let macs = spec.summary().expect("summary").total_macs as f64;
    let mut t = Trainer::new(spec, TrainSpec::default()).expect("trainer");
    let idx: Vec<usize> = (0..batch).collect();
    t.train_step(&data, &idx).expect("warm-up step");
    let steps = 8;
    let t0 = now();
    for _ in 0..steps {
        t.train_step(&data, &idx).expect("step");
    }
    let train = (steps * batch) as f64 / (now() - t0);
    // Inference: forward only, evaluation mode.
    let x = vec![0.5f32; batch * 64 * 64];
    let mut ws = Workspace::new();
    t.model
        .forward(&mut ws, &x, batch, Mode::Eval)
        .expect("forward");
    let t0 = now();
    for _ in 0..steps {
        t.model
            .forward(&mut ws, &x, batch, Mode::Eval)
            .expect("forward");
    }
    let infer = (steps * batch) as f64 / (now() - t0);
    log(&format!(
        "{name}: train {train:.1} img/s ({:.2} GFLOP/s), infer {infer:.1} img/s ({:.2} GFLOP/s), batch {batch}, wasm simd128, 1 thread",
        train * 6.0 * macs / 1e9,
        infer * 2.0 * macs / 1e9
    ));
}

#[wasm_bindgen_test]
fn cnn_gap_and_cnn_flatten_speed() {
    bench("cnn-gap");
    bench("cnn-flatten");
}
