//! The bodies of the fuzz targets, one per parser of untrusted bytes in convplay-compute. Each
//! takes the fuzzer's bytes, runs them through the parser and checks what must hold of the
//! result; it panics only when convplay does something wrong (the parser panics, or a refused
//! weights file changed a model, or a link that reads does not read back the same).
//!
//! `fuzz_targets/<name>.rs` hands each body to libFuzzer; `crates/compute/tests/fuzz_corpus.rs`
//! includes this file with `#[path]` and feeds every file of the seed corpus (and the regression
//! inputs kept there) through the same bodies on stable, in the default test run. So this file
//! uses only crates convplay-compute itself depends on.
//!
//! Each body returns whether the parser accepted the input: the seeds (real files) must be
//! accepted, or the corpus has gone stale.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use convplay_compute::data::{Dataset, parse_idx_images, parse_idx_labels};
use convplay_compute::model::{Model, ModelSpec, compile, preset_for};
use convplay_compute::{Experiment, weights};

/// A fuzz target: its name (the directory of its corpus) and its body.
pub type Target = (&'static str, fn(&[u8]) -> bool);

/// Every target, in the order `scripts/fuzz.sh` runs them.
pub const TARGETS: [Target; 5] = [
    ("idx", idx),
    ("weights", weights),
    ("layer_spec", layer_spec),
    ("share_link", share_link),
    ("share_link_json", share_link_json),
];

/// Largest model the layer-spec target builds with [`Model::new`] (parameters). `compile` allows
/// 256M parameters (2 GiB of parameters and gradients), past any fuzzing memory limit; every
/// spec is compiled, only models up to this size are also allocated.
pub const MAX_BUILT_PARAMS: usize = 1 << 22;

/// Largest model the layer-spec target also saves as a weights file and loads back (every preset
/// on 28×28 but alexnet-mini and vgg-mini is below).
pub const MAX_SAVED_PARAMS: usize = 1 << 17;

/// IDX files: the input as an images file and as a labels file, and as an images file followed
/// by a labels file (split where the images header says its payload ends) for
/// [`Dataset::from_idx`]. Accepted: an images file, a labels file or a whole data set reads.
pub fn idx(data: &[u8]) -> bool {
    let images = parse_idx_images(data);
    if let Ok(images) = &images {
        let len = images.count.checked_mul(images.rows);
        let len = len.and_then(|n| n.checked_mul(images.cols));
        assert_eq!(len, Some(images.pixels.len()), "payload matches the header");
    }
    let labels = parse_idx_labels(data);
    if let Ok(labels) = &labels {
        assert_eq!(labels.len() + 8, data.len(), "payload matches the header");
    }
    let file = images.is_ok() || labels.is_ok();
    let split = images_file_len(data).min(data.len());
    let (images, labels) = data.split_at(split);
    match Dataset::from_idx(images, labels) {
        Ok(set) => {
            assert!(!set.is_empty());
            assert_eq!(
                set.to_idx_images(),
                images,
                "a data set writes back its file"
            );
            assert_eq!(
                set.to_idx_labels(),
                labels,
                "a data set writes back its file"
            );
            assert!(set.labels().iter().all(|&l| l < 10));
            true
        }
        Err(_) => file,
    }
}

/// Length of the images file at the start of `data`, by its header (saturating).
fn images_file_len(data: &[u8]) -> usize {
    let dim = |k: usize| {
        data.get(4 + 4 * k..8 + 4 * k)
            .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    (0..3)
        .fold(1usize, |p, k| p.saturating_mul(dim(k)))
        .saturating_add(16)
}

/// Real models the weights target loads every input into: the seed corpus holds their files.
fn models() -> &'static [Model] {
    static MODELS: OnceLock<Vec<Model>> = OnceLock::new();
    MODELS.get_or_init(|| {
        vec![
            Model::new(preset_for("densenet-mini", 28).unwrap(), 1).unwrap(),
            Model::new(tiny_spec(), 1).unwrap(),
        ]
    })
}

/// The smallest useful convplay model: a 2-filter convolution, global average pooling and a
/// 2-class dense layer on 6×6 input (the tiny seed of the weights corpus).
pub fn tiny_spec() -> ModelSpec {
    ModelSpec::from_json(
        r#"{"name":"tiny","input":[1,6,6],"layers":[
            {"type":"conv2d","name":"conv1","filters":2,"kernel":3,"activation":"relu"},
            {"type":"batch_norm","name":"bn1"},
            {"type":"global_avg_pool","name":"gap"},
            {"type":"dense","name":"classifier","units":2}]}"#,
    )
    .unwrap()
}

/// A safetensors weights file: its spec (metadata), the model it rebuilds, and loading it into
/// existing models, which must change nothing when the file is refused. Accepted: the file
/// rebuilds its model.
pub fn weights(data: &[u8]) -> bool {
    let spec = weights::read_spec(data);
    let loaded = weights::load(data);
    if let Ok(model) = &loaded {
        assert_eq!(Ok(&model.spec), spec.as_ref().map_err(|_| ()));
        assert_eq!(model.params.len(), model.graph.param_len);
        assert_eq!(model.buffers.len(), model.graph.buffer_len);
    }
    for model in models() {
        let mut into = model.clone();
        match weights::load_into(&mut into, data) {
            Ok(()) => {
                assert_eq!(into.params.len(), model.params.len());
                assert_eq!(into.buffers.len(), model.buffers.len());
            }
            Err(_) => {
                assert!(into.params == model.params, "a refused file changed params");
                assert!(
                    into.buffers == model.buffers,
                    "a refused file changed buffers"
                );
            }
        }
    }
    loaded.is_ok()
}

/// Layer-spec JSON: parse, compile, summary, and build the model when it is small enough, and save
/// and load it when smaller still; a spec that compiles writes and reads back the same.
/// Accepted: the spec compiles.
pub fn layer_spec(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let Ok(spec) = ModelSpec::from_json(text) else {
        return false;
    };
    let summary = spec.summary();
    let Ok(graph) = compile(&spec) else {
        assert!(summary.is_err(), "summary and compile agree");
        return false;
    };
    let summary = summary.expect("summary and compile agree");
    assert_eq!(summary.trainable_params, graph.param_len);
    assert_eq!(
        ModelSpec::from_json(&spec.to_json()).as_ref(),
        Ok(&spec),
        "a spec writes and reads back the same"
    );
    if graph.param_len + graph.buffer_len <= MAX_BUILT_PARAMS {
        let model = Model::new(spec, 0).expect("a spec that compiles builds");
        assert_eq!(model.params.len(), graph.param_len);
        if graph.param_len + graph.buffer_len <= MAX_SAVED_PARAMS {
            let file = weights::save(&model).expect("a model that builds saves");
            let back = weights::load(&file).expect("a saved model loads");
            assert!(back.spec == model.spec, "a saved model loads the same spec");
            assert!(
                back.params == model.params,
                "a saved model loads the same weights"
            );
        }
    }
    true
}

/// A share link as text (full URL, fragment or bare parameter). Accepted: it reads.
pub fn share_link(data: &[u8]) -> bool {
    read_link(&String::from_utf8_lossy(data))
}

/// The experiment JSON inside a share link: the input is deflated and base64url-encoded as
/// [`Experiment::to_fragment`] does, then read, so the fuzzer works on the JSON the link
/// carries rather than on compressed bytes. Accepted: it reads.
pub fn share_link_json(data: &[u8]) -> bool {
    let packed = miniz_oxide::deflate::compress_to_vec(data, 1);
    read_link(&format!("e=1.{}", URL_SAFE_NO_PAD.encode(packed)))
}

/// Reads `link`; a link that reads is a valid experiment whose own link reads back the same.
fn read_link(link: &str) -> bool {
    let Ok(exp) = Experiment::from_link(link) else {
        return false;
    };
    assert!(exp.validate().is_ok(), "a link that reads is valid");
    let again = Experiment::from_link(&exp.to_fragment());
    assert_eq!(again.as_ref(), Ok(&exp), "a link reads back the same");
    true
}
