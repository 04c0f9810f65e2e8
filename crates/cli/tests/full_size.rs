//! The full-size side of the binary: torchvision's parameter counts in `summary`, training
//! memory, `export --torch`, and `train --data` on an image folder and on CIFAR-10 files that the
//! test writes (synthetic classes a network can learn), with bad files named or skipped.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn convplay(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_convplay"))
        .args(args)
        .output()
        .expect("the convplay binary runs")
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("convplay-full-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON on stdout")
}

fn clear_error(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    assert!(lines[0].contains(needle), "{stderr}");
}

#[test]
fn summary_gives_torchvisions_counts_and_the_training_memory() {
    for (name, params) in [
        ("alexnet", 61_100_840u64),
        ("vgg11", 132_863_336),
        ("vgg16", 138_357_544),
        ("resnet18", 11_689_512),
        ("resnet50", 25_557_032),
        ("mobilenet_v2", 3_504_872),
        ("densenet121", 7_978_856),
    ] {
        let s = json(&convplay(&["summary", name, "--json"]));
        assert_eq!(s["trainable_params"], params, "{name}");
        assert_eq!(s["input"], serde_json::json!([3, 224, 224]), "{name}");
    }
    let s = json(&convplay(&[
        "summary",
        "resnet18",
        "--input",
        "3x64x64",
        "--classes",
        "10",
        "--batch",
        "8",
        "--json",
    ]));
    assert_eq!(s["trainable_params"], 11_689_512 - 990 * 513);
    let m = &s["training_memory"];
    assert_eq!(m["batch"], 8);
    let cpu = m["cpu"]["bytes"].as_u64().unwrap();
    // At least parameters, gradients and Adam's two moments.
    assert!(cpu > 4 * 4 * 11_183_642, "{cpu}");
    assert!(m["gpu"]["largest_buffer"].as_u64().unwrap() > 0);
    // The text form names each part.
    let out = convplay(&["summary", "mobilenet_v2", "--batch", "4"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Training memory at batch 4"), "{text}");
    assert!(text.contains("optimizer state"), "{text}");
    // clap's own message for a malformed flag (several lines, with usage), not a panic.
    let out = convplay(&["summary", "resnet18", "--input", "3x224"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("CxHxW") && !stderr.contains("panicked"));
    // Impossible shapes are one line.
    clear_error(
        &convplay(&["summary", "alexnet", "--input", "3x32x32"]),
        "features.",
    );
    clear_error(
        &convplay(&["summary", "resnet18", "--batch", "0"]),
        "--batch",
    );
}

#[test]
fn export_writes_a_torch_module_for_a_preset_and_a_weights_file() {
    let dir = tmp("export");
    let py = dir.join("resnet18.py");
    let out = convplay(&["export", "--torch", "resnet18", py.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let src = std::fs::read_to_string(&py).unwrap();
    assert!(src.contains("class Net(nn.Module)"));
    assert!(
        src.contains(r#"_put(self, "layer4.1.bn2", nn.BatchNorm2d(512"#),
        "{src}"
    );
    // From a weights file: its own model.
    let f = dir.join("f");
    let out = convplay(&[
        "forward",
        "mobilenet_v2",
        "--input",
        "3x32x32",
        "--classes",
        "4",
        "--out-dir",
        f.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let w = f.join("weights.safetensors");
    let py = dir.join("m.py");
    let out = convplay(&[
        "export",
        "--torch",
        w.to_str().unwrap(),
        py.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let src = std::fs::read_to_string(&py).unwrap();
    assert!(src.contains("nn.Linear(1280, 4, bias=True)"), "{src}");
    assert!(f.join("input.safetensors").is_file() && f.join("logits.safetensors").is_file());
    clear_error(
        &convplay(&["export", "resnet18", py.to_str().unwrap()]),
        "--torch",
    );
}

/// Writes `image` (RGB, `side × side`) as a PNG.
fn write_png(path: &Path, side: u32, pixel: impl Fn(u32, u32) -> [u8; 3]) {
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, side, side);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().unwrap();
        let data: Vec<u8> = (0..side)
            .flat_map(|y| (0..side).flat_map(|x| pixel(x, y)).collect::<Vec<_>>())
            .collect();
        w.write_image_data(&data).unwrap();
    }
    std::fs::write(path, bytes).unwrap();
}

/// Three classes a network can tell apart: horizontal stripes, vertical stripes, a checkerboard,
/// each at a random phase, period and colour, with noise.
fn synthetic_folder(dir: &Path, per_class: usize) {
    let mut state = 7u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as u32
    };
    for (c, class) in ["checks", "horizontal", "vertical"].iter().enumerate() {
        std::fs::create_dir_all(dir.join(class)).unwrap();
        for i in 0..per_class {
            let period = 4 + next() % 5;
            let phase = next() % period;
            let colour = [next() % 156 + 100, next() % 156 + 100, next() % 156 + 100];
            let noise: Vec<u32> = (0..40 * 40).map(|_| next() % 60).collect();
            write_png(&dir.join(class).join(format!("{i:03}.png")), 40, |x, y| {
                let on = match c {
                    0 => ((x + phase) / period + (y + phase) / period) % 2 == 0,
                    1 => ((y + phase) / period) % 2 == 0,
                    _ => ((x + phase) / period) % 2 == 0,
                };
                let n = noise[(y * 40 + x) as usize];
                colour.map(|v| if on { (v - n.min(v)) as u8 } else { n as u8 })
            });
        }
    }
}

#[test]
fn resnet18_learns_an_image_folder_and_bad_files_are_named_or_skipped() {
    let dir = tmp("folder");
    synthetic_folder(&dir, 100);
    let w = dir.join("resnet18.safetensors");
    let out = convplay(&[
        "train",
        "--model",
        "resnet18",
        "--data",
        dir.to_str().unwrap(),
        "--input",
        "3x64x64",
        "--epochs",
        "1",
        "--batch",
        "8",
        "--flip",
        "--random-crop",
        "--resize",
        "72",
        "--val-fraction",
        "0.2",
        "--json",
        "--out",
        w.to_str().unwrap(),
    ]);
    let r = json(&out);
    assert_eq!(
        r["classes"],
        serde_json::json!(["checks", "horizontal", "vertical"])
    );
    assert_eq!(r["train_images"], 240);
    assert_eq!(r["validation_images"], 60);
    let acc = r["validation_accuracy"].as_f64().unwrap();
    // Batch 8: 30 steps bring batch norm's running statistics (momentum 0.1) 96% of the way;
    // with batch 16 (15 steps, 79%) training reached 82% and validation, in evaluation mode,
    // only 42%.
    // Chance is 33%.
    assert!(acc > 0.6, "validation accuracy {acc}");
    // The weights are torchvision's resnet18 with 3 classes.
    let s = json(&convplay(&["summary", w.to_str().unwrap(), "--json"]));
    assert_eq!(s["trainable_params"], 11_689_512 - 997 * 513);

    // A corrupt file: one line naming it; with --skip-bad, counted and skipped.
    let bad = dir.join("vertical").join("zz-corrupt.png");
    std::fs::write(&bad, b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let args = [
        "train",
        "--model",
        "resnet18",
        "--data",
        dir.to_str().unwrap(),
        "--input",
        "3x32x32",
        "--epochs",
        "1",
        "--batch",
        "32",
        "--val-fraction",
        "0",
    ];
    clear_error(&convplay(&args), "zz-corrupt.png");
    let mut skip = args.to_vec();
    skip.extend(["--skip-bad", "--json"]);
    let r = json(&convplay(&skip));
    let skipped = r["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(skipped[0].as_str().unwrap().contains("zz-corrupt.png"));
    clear_error(
        &convplay(&[
            "train",
            "--model",
            "resnet18",
            "--data",
            dir.join("checks").to_str().unwrap(),
            "--input",
            "3x32x32",
        ]),
        "subfolder per class",
    );
}

#[test]
fn cifar10_batches_train_and_a_truncated_one_is_named() {
    let dir = tmp("cifar");
    // Two colour classes in CIFAR-10's record format: label, then the R, G and B planes.
    let record = |label: u8, k: u32| {
        let mut r = vec![label];
        let (a, b) = if label == 0 { (220u8, 30u8) } else { (30, 220) };
        for plane in [a, b, 120] {
            r.extend((0..1024u32).map(|p| plane.wrapping_add(((p * 7 + k) % 23) as u8)));
        }
        r
    };
    let batch = |n: u32| -> Vec<u8> { (0..n).flat_map(|k| record((k % 2) as u8, k)).collect() };
    std::fs::write(dir.join("data_batch_1.bin"), batch(96)).unwrap();
    std::fs::write(dir.join("test_batch.bin"), batch(32)).unwrap();
    let spec = dir.join("small.json");
    std::fs::write(
        &spec,
        r#"{"name":"small","input":[3,32,32],"layers":[
            {"type":"conv2d","name":"c1","filters":8,"kernel":3,"stride":2,"padding":1,"activation":"relu"},
            {"type":"global_avg_pool","name":"gap"},
            {"type":"dense","name":"fc","units":10}]}"#,
    )
    .unwrap();
    let r = json(&convplay(&[
        "train",
        "--model",
        spec.to_str().unwrap(),
        "--data",
        dir.to_str().unwrap(),
        "--input",
        "3x32x32",
        "--epochs",
        "3",
        "--batch",
        "16",
        "--lr",
        "0.01",
        "--json",
    ]));
    assert_eq!(r["train_images"], 96);
    assert_eq!(r["validation_images"], 32);
    assert!(r["validation_accuracy"].as_f64().unwrap() > 0.9, "{r}");
    assert!(r["backend"].as_str().unwrap().starts_with("cpu"), "{r}");
    // The same on the GPU (lavapipe here): the same data path, steps on the device.
    let args = [
        "train",
        "--model",
        spec.to_str().unwrap(),
        "--data",
        dir.to_str().unwrap(),
        "--input",
        "3x32x32",
        "--epochs",
        "3",
        "--batch",
        "16",
        "--lr",
        "0.01",
        "--json",
        "--backend",
        "gpu",
    ];
    let g = json(&convplay(&args));
    assert!(g["backend"].as_str().unwrap().starts_with("gpu"), "{g}");
    assert!(g["validation_accuracy"].as_f64().unwrap() > 0.9, "{g}");
    // Same seed, same data order and crops: the GPU's training loss is the CPU's, to rounding.
    let (lc, lg) = (
        r["train_loss"].as_f64().unwrap(),
        g["train_loss"].as_f64().unwrap(),
    );
    assert!((lc - lg).abs() <= 1e-3 * lc.max(1.0), "cpu {lc} gpu {lg}");
    std::fs::write(dir.join("data_batch_2.bin"), &batch(2)[..3000]).unwrap();
    clear_error(
        &convplay(&[
            "train",
            "--model",
            spec.to_str().unwrap(),
            "--data",
            dir.to_str().unwrap(),
            "--input",
            "3x32x32",
        ]),
        "data_batch_2.bin",
    );
}
