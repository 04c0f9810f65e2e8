//! The `convplay` binary end to end: real MNIST training, weights round trip, and bad input
//! reported as one clear line with a non-zero exit, never a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn convplay(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_convplay"))
        .args(args)
        .env("CONVPLAY_DATA", data_dir())
        .output()
        .expect("the convplay binary runs")
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/data")
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("convplay-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Asserts a clean failure: non-zero exit, one `convplay: error:` line mentioning `needle`.
fn assert_clear_error(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "expected failure, got success: {stderr}"
    );
    assert!(
        !stderr.contains("internal error") && !stderr.contains("panicked"),
        "{stderr}"
    );
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    assert!(
        lines[0].starts_with("convplay: error:") && lines[0].contains(needle),
        "{stderr}"
    );
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON on stdout")
}

#[test]
fn seeded_training_on_real_mnist_subset_reaches_95_percent() {
    assert!(
        data_dir().join("mnist/train-images-idx3-ubyte").is_file(),
        "MNIST is missing under web/data: run bash scripts/setup.sh"
    );
    let weights = tmp("lenet5.safetensors");
    let out = convplay(&[
        "train",
        "--model",
        "lenet5",
        "--canvas",
        "28",
        "--limit",
        "30000",
        "--epochs",
        "2",
        "--test-limit",
        "2000",
        "--seed",
        "1",
        "--json",
        "--out",
        weights.to_str().unwrap(),
    ]);
    let v = json(&out);
    let acc = v["test"]["accuracy"].as_f64().unwrap();
    assert!(acc >= 0.95, "test accuracy {acc}");

    // The saved weights evaluate to the same accuracy, from the file alone.
    let eval = json(&convplay(&[
        "eval",
        "--weights",
        weights.to_str().unwrap(),
        "--limit",
        "2000",
        "--json",
    ]));
    assert_eq!(eval["metrics"]["accuracy"].as_f64().unwrap(), acc);
    // A digit moved to the corner of a 28 canvas has nowhere to go: at:0,0 is the only offset.
    let at = json(&convplay(&[
        "eval",
        "--weights",
        weights.to_str().unwrap(),
        "--limit",
        "500",
        "--placement",
        "at:0,0",
        "--json",
    ]));
    assert!(at["metrics"]["accuracy"].as_f64().unwrap() >= 0.9);
}

#[test]
fn summary_json_has_the_lecture_parameter_counts() {
    let flat = json(&convplay(&["summary", "cnn-flatten", "--json"]));
    assert_eq!(flat["total_params"], 388_298);
    let gap = json(&convplay(&["summary", "cnn-gap", "--json"]));
    assert_eq!(gap["total_params"], 101_578);
}

#[test]
fn zoo_trains_every_listed_model_on_one_budget_and_tabulates_it() {
    let v = json(&convplay(&[
        "zoo",
        "--models",
        "lenet5,mobilenet-mini",
        "--canvas",
        "36",
        "--limit",
        "600",
        "--test-limit",
        "200",
        "--epochs",
        "2",
        "--backend",
        "cpu",
        "--json",
    ]));
    assert_eq!(v["canvas"], 36);
    assert_eq!(v["test_images"], 200);
    let models = v["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    for (m, name) in models.iter().zip(["lenet5", "mobilenet-mini"]) {
        assert_eq!(m["model"], name);
        assert_eq!(m["images_trained"], 1200);
        let summary = json(&convplay(&["summary", name, "--canvas", "36", "--json"]));
        assert_eq!(m["params"], summary["total_params"], "{name}");
        assert_eq!(m["macs"], summary["total_macs"], "{name}");
        assert!(m["train_images_per_second"].as_f64().unwrap() > 0.0);
        for set in ["centered", "shifted"] {
            let a = m[set]["accuracy"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&a), "{name} {set}: {a}");
        }
    }
    // Two epochs of 600 images are enough for LeNet-5 to beat chance on centred digits.
    assert!(
        models[0]["centered"]["accuracy"].as_f64().unwrap() > 0.3,
        "{v}"
    );
    assert_clear_error(&convplay(&["zoo", "--models", "lenet5,nope"]), "nope");
}

#[test]
fn bench_reports_throughput_as_json() {
    let v = json(&convplay(&[
        "bench", "--model", "cnn-gap", "--batch", "8", "--canvas", "28", "--steps", "2", "--json",
    ]));
    for key in [
        "train_images_per_sec",
        "infer_images_per_sec",
        "train_gflops",
    ] {
        assert!(v[key].as_f64().unwrap() > 0.0, "{key}: {v}");
    }
}

#[test]
fn missing_and_corrupt_files_are_one_line_errors() {
    assert_clear_error(
        &convplay(&["eval", "--weights", "/nonexistent/w.safetensors"]),
        "/nonexistent/w.safetensors",
    );
    let garbage = tmp("garbage.safetensors");
    std::fs::write(&garbage, b"definitely not safetensors").unwrap();
    assert_clear_error(
        &convplay(&["eval", "--weights", garbage.to_str().unwrap()]),
        "safetensors",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_convplay"))
        .args(["train", "--limit", "10", "--data-dir", "/nonexistent-data"])
        .output()
        .unwrap();
    assert_clear_error(&out, "fetch-data.sh");
    let corrupt = tmp("corrupt-data");
    std::fs::create_dir_all(corrupt.join("mnist")).unwrap();
    for f in [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ] {
        std::fs::write(corrupt.join("mnist").join(f), [0u8, 0, 8, 3, 0, 0, 0, 9]).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_convplay"))
        .args([
            "train",
            "--limit",
            "10",
            "--data-dir",
            corrupt.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_clear_error(&out, "train-images-idx3-ubyte");
}

#[test]
fn invalid_specs_and_foreign_weights_are_one_line_errors() {
    let spec = tmp("bad.json");
    std::fs::write(
        &spec,
        r#"{"name":"bad","input":[1,28,28],"layers":[{"type":"conv2d","name":"c","filters":4,"kernel":40},{"type":"flatten","name":"f"},{"type":"dense","name":"o","units":10}]}"#,
    )
    .unwrap();
    assert_clear_error(
        &convplay(&["summary", spec.to_str().unwrap()]),
        "does not fit",
    );
    std::fs::write(&spec, "{not json").unwrap();
    assert_clear_error(&convplay(&["summary", spec.to_str().unwrap()]), "JSON");
    assert_clear_error(&convplay(&["summary", "resnet-9000"]), "unknown preset");
    assert_clear_error(
        &convplay(&["bench", "--batch", "0", "--steps", "1"]),
        "batch",
    );
}

#[test]
fn run_link_trains_the_shared_experiment_and_its_weights_evaluate_the_same() {
    use convplay_compute::experiment::{DataSpec, Experiment};
    use convplay_compute::model::preset_for;
    use convplay_compute::train::TrainSpec;
    let exp = Experiment {
        models: vec![
            preset_for("cnn-flatten", 28).unwrap(),
            preset_for("cnn-gap", 28).unwrap(),
        ],
        data: DataSpec {
            test_limit: Some(200),
            ..DataSpec::default()
        },
        train: TrainSpec {
            epochs: 1,
            batch: 32,
            limit: Some(1500),
            canvas: 28,
            seed: 3,
            ..TrainSpec::default()
        },
    };
    let link = format!("http://127.0.0.1:8080/#{}", exp.to_fragment());
    let out_dir = tmp("run-link");
    let v = json(&convplay(&[
        "run",
        "--link",
        &link,
        "--json",
        "--out-dir",
        out_dir.to_str().unwrap(),
    ]));
    assert_eq!(v["fragment"], exp.to_fragment());
    let models = v["models"].as_array().unwrap();
    assert_eq!(models[0]["name"], "cnn-flatten");
    assert_eq!(models[1]["name"], "cnn-gap");
    let flat_acc = models[0]["centered"]["accuracy"].as_f64().unwrap();
    assert!(
        flat_acc > 0.3,
        "cnn-flatten centred accuracy {flat_acc} (chance is 0.1)"
    );
    let events = v["events"].as_array().unwrap();
    assert!(events.iter().any(|e| e.get("Step").is_some()));
    assert_eq!(events.last().unwrap(), "Finished");
    // The saved weights are ordinary weights files: `eval` reproduces the run's figure.
    let w = out_dir.join("1-cnn-flatten.safetensors");
    let eval = json(&convplay(&[
        "eval",
        "--weights",
        w.to_str().unwrap(),
        "--limit",
        "200",
        "--json",
    ]));
    assert_eq!(eval["metrics"]["accuracy"].as_f64().unwrap(), flat_acc);
    assert_clear_error(&convplay(&["run", "--link", "#e=2.AAAA"]), "version 2");
    assert_clear_error(&convplay(&["run", "--link", "hello"]), "bad link");
}
