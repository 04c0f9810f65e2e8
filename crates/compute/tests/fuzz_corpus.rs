//! The short form of issue 18's fuzzing, in the default test run on stable: every file of every
//! seed corpus in `tests/fuzz/corpus/<target>/` (real files, and the inputs the fuzzer once
//! crashed on, kept as `regression-*`) goes through the same target bodies libFuzzer runs
//! (`tests/fuzz/src/lib.rs`, included here). A body that panics fails the test; a seed (a real
//! file) the parser refuses fails it too, as the corpus has gone stale.
//!
//! `write_seed_corpus` (ignored) is how the seeds were made: `cargo test -p convplay-compute
//! --test fuzz_corpus -- --ignored write_seed_corpus` (needs web/data from
//! `bash scripts/fetch-data.sh`).
#![cfg(not(target_arch = "wasm32"))]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

#[path = "../../../tests/fuzz/src/lib.rs"]
mod fuzz;

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fuzz/corpus")
}

/// Runs `body` on every file of `dir`; returns how many files it ran and what went wrong.
fn run_corpus(dir: &Path, body: fn(&[u8]) -> bool) -> (usize, Vec<String>) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut failures = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(path).unwrap();
        match catch_unwind(AssertUnwindSafe(|| body(&bytes))) {
            Err(_) => failures.push(format!("{}: the target panicked", path.display())),
            Ok(false) if !name.starts_with("regression-") => failures.push(format!(
                "{}: a seed (a real file) is refused: the corpus is stale",
                path.display()
            )),
            Ok(_) => {}
        }
    }
    (files.len(), failures)
}

#[test]
fn every_corpus_file_goes_through_its_fuzz_target() {
    let mut failures = Vec::new();
    for (name, body) in fuzz::TARGETS {
        let (n, f) = run_corpus(&corpus_root().join(name), body);
        assert!(n > 0, "target {name} has no seed corpus");
        failures.extend(f);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_target_that_panics_fails_the_corpus_run() {
    fn panics(_: &[u8]) -> bool {
        panic!("a bug")
    }
    fn refuses(_: &[u8]) -> bool {
        false
    }
    let dir = corpus_root().join("idx");
    let (n, failures) = run_corpus(&dir, panics);
    assert_eq!(failures.len(), n, "{failures:?}");
    let (_, failures) = run_corpus(&dir, refuses);
    assert!(!failures.is_empty(), "refused seeds are failures");
}

/// Writes the seed corpus from real files: MNIST and Fashion-MNIST test images, weights of real
/// models, the presets' layer specs, and share links of real experiments.
#[test]
#[ignore = "writes tests/fuzz/corpus; run by hand after a format change"]
fn write_seed_corpus() {
    use convplay_compute::data::{DatasetKind, load_split};
    use convplay_compute::experiment::DataSpec;
    use convplay_compute::model::{Model, PRESETS, preset_for, transform};
    use convplay_compute::optim::OptimizerSpec;
    use convplay_compute::{Experiment, weights};

    let root = corpus_root();
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };

    // IDX: the first test images and labels, alone and as images file + labels file.
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/data");
    for (kind, n) in [(DatasetKind::Mnist, 6), (DatasetKind::FashionMnist, 2)] {
        let set = load_split(&data, kind, false).unwrap().subset(n);
        let (images, labels) = (set.to_idx_images(), set.to_idx_labels());
        write(
            "idx",
            &format!("{kind}-{n}-images-labels"),
            &[&images[..], &labels].concat(),
        );
        if kind == DatasetKind::Mnist {
            write("idx", &format!("{kind}-{n}-images"), &images);
            write("idx", &format!("{kind}-{n}-labels"), &labels);
        }
    }

    // Weights (no .safetensors suffix: the repository ignores those): a real preset with batch
    // norm (many tensors, buffers too) and the tiny model.
    let densenet = Model::new(preset_for("densenet-mini", 28).unwrap(), 1).unwrap();
    write(
        "weights",
        "densenet-mini-28",
        &weights::save(&densenet).unwrap(),
    );
    let tiny = Model::new(fuzz::tiny_spec(), 1).unwrap();
    write("weights", "tiny", &weights::save(&tiny).unwrap());

    // Layer specs: every preset at 28×28, and two variants using the transforms.
    for name in PRESETS {
        let spec = preset_for(name, 28).unwrap();
        write("layer_spec", name, spec.to_json().as_bytes());
    }
    let gap = preset_for("cnn-gap", 28).unwrap();
    let blurred = transform::antialias(&gap);
    write(
        "layer_spec",
        "cnn-gap-antialiased",
        blurred.to_json().as_bytes(),
    );
    let reflect = transform::with_padding(&gap, convplay_compute::ops::pad::PadMode::Reflect);
    write(
        "layer_spec",
        "cnn-gap-reflect",
        reflect.to_json().as_bytes(),
    );

    // Share links: the default, a small run on 28×28, an edited model (travels as its spec),
    // Fashion-MNIST with SGD, as a full URL, a fragment and the bare parameter.
    let default = Experiment::default();
    let mut small = Experiment {
        models: vec![
            preset_for("cnn-flatten", 28).unwrap(),
            preset_for("resnet-mini", 28).unwrap(),
        ],
        data: DataSpec {
            test_limit: Some(30),
            shift_seed: 5,
            ..DataSpec::default()
        },
        ..Experiment::default()
    };
    small.train.canvas = 28;
    small.train.limit = Some(36);
    small.train.batch = 8;
    let mut edited = small.clone();
    edited.models[0] = transform::antialias(&edited.models[0]);
    edited.models[0].name = "cnn-flatten-blur".into();
    let mut fashion = small.clone();
    fashion.data.dataset = DatasetKind::FashionMnist;
    fashion.train.optimizer = OptimizerSpec::sgd(0.05);
    fashion.train.train_shift = 3;
    for (name, exp) in [
        ("default", &default),
        ("small", &small),
        ("edited", &edited),
        ("fashion-sgd", &fashion),
    ] {
        exp.validate().unwrap();
        let fragment = exp.to_fragment();
        let link = match name {
            "default" => format!("https://convplay.example/#{fragment}"),
            "small" => format!("#{fragment}"),
            _ => fragment.clone(),
        };
        write("share_link", name, link.as_bytes());
        // The JSON the link carries (what the share_link_json target packs itself).
        let packed = {
            use base64::Engine;
            let payload = fragment.split_once('.').unwrap().1;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap()
        };
        let json = miniz_oxide::inflate::decompress_to_vec(&packed).unwrap();
        write("share_link_json", name, &json);
    }
}
