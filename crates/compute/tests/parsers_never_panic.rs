//! Untrusted bytes end in a typed error or a value, never a panic: IDX files, safetensors weights
//! (header, shapes, dtypes, offsets, the spec in the metadata) and layer-spec JSON, as random
//! bytes and as real files damaged at random. (Share links have their own properties in
//! `experiment/tests.rs`.) The short form of issue 18's fuzzing: a few hundred cases per parser
//! in the default test run.
#![cfg(not(target_arch = "wasm32"))]

use convplay_compute::data::{parse_idx_images, parse_idx_labels};
use convplay_compute::model::{Model, ModelSpec, preset_for};
use convplay_compute::weights;
use proptest::prelude::*;

/// A real weights file: lenet5 on a 28×28 canvas (its spec rides in the metadata).
fn weights_file() -> Vec<u8> {
    let model = Model::new(preset_for("lenet5", 28).unwrap(), 7).unwrap();
    weights::save(&model).unwrap()
}

/// A real IDX images file of `n` 28×28 images.
fn idx_images(n: u32) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 3];
    for d in [n, 28, 28] {
        b.extend(d.to_be_bytes());
    }
    b.extend((0..n as usize * 784).map(|i| (i % 251) as u8));
    b
}

/// `bytes` with `edits` (position, value) applied and then cut to `keep` bytes.
fn damage(mut bytes: Vec<u8>, edits: &[(usize, u8)], keep: usize) -> Vec<u8> {
    for &(at, v) in edits {
        if !bytes.is_empty() {
            let i = at % bytes.len();
            bytes[i] = v;
        }
    }
    bytes.truncate(keep);
    bytes
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8)>> {
    prop::collection::vec((any::<usize>(), any::<u8>()), 0..8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn idx_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let _ = parse_idx_images(&bytes);
        let _ = parse_idx_labels(&bytes);
    }

    #[test]
    fn idx_damaged_files(n in 0u32..4, edits in edits(), keep in 0usize..4000) {
        let bytes = damage(idx_images(n), &edits, keep);
        let _ = parse_idx_images(&bytes);
        let _ = parse_idx_labels(&bytes);
    }

    #[test]
    fn safetensors_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let _ = weights::read_spec(&bytes);
        let _ = weights::load(&bytes);
    }

    #[test]
    fn safetensors_damaged_files(edits in edits(), keep in 0usize..300_000, header_only in any::<bool>()) {
        let file = weights_file();
        // Damage the header (the first 8 + header-length bytes) or anywhere.
        let header_end = 8 + u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
        let edits: Vec<(usize, u8)> = if header_only {
            edits.iter().map(|&(at, v)| (at % header_end, v)).collect()
        } else {
            edits
        };
        let bytes = damage(file, &edits, keep);
        let _ = weights::read_spec(&bytes);
        if let Ok(model) = weights::load(&bytes) {
            prop_assert_eq!(model.params.len(), model.graph.param_len);
        }
        let mut other = Model::new(preset_for("cnn-gap", 28).unwrap(), 1).unwrap();
        let before = other.params.clone();
        if weights::load_into(&mut other, &bytes).is_err() {
            prop_assert_eq!(&other.params, &before, "a refused file changes nothing");
        }
    }

    #[test]
    fn layer_spec_json_damaged(edits in edits(), keep in 0usize..4000, preset in 0usize..4) {
        let name = ["cnn-gap", "cnn-flatten", "resnet-mini", "inception-mini"][preset];
        let json = serde_json::to_vec(&preset_for(name, 28).unwrap()).unwrap();
        let bytes = damage(json, &edits, keep);
        if let Ok(spec) = serde_json::from_slice::<ModelSpec>(&bytes) {
            let _ = spec.summary();
            let _ = Model::new(spec, 0);
        }
    }

    #[test]
    fn layer_spec_json_with_extreme_numbers(
        preset in 0usize..4,
        picks in prop::collection::vec((any::<usize>(), 0u32..20), 1..4),
    ) {
        let name = ["cnn-gap", "cnn-flatten", "resnet-mini", "inception-mini"][preset];
        let mut json = serde_json::to_value(preset_for(name, 28).unwrap()).unwrap();
        let mut numbers = Vec::new();
        collect_numbers(&mut json, &mut numbers);
        for &(at, power) in &picks {
            // A count, size or stride of 0, 1, …, 10^19 (past u64 saturates serde's parse).
            let v = 10u64.saturating_pow(power).saturating_sub(u64::from(power == 0));
            let target = numbers[at % numbers.len()].clone();
            set_number(&mut json, &target, v);
        }
        if let Ok(spec) = serde_json::from_value::<ModelSpec>(json) {
            let _ = spec.summary();
            let _ = Model::new(spec, 0);
        }
    }
}

/// The JSON pointers of every integer in `v`.
fn collect_numbers(v: &mut serde_json::Value, out: &mut Vec<String>) {
    fn walk(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Number(n) if n.is_u64() => out.push(at),
            serde_json::Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    walk(x, format!("{at}/{i}"), out);
                }
            }
            serde_json::Value::Object(o) => {
                for (k, x) in o {
                    walk(x, format!("{at}/{k}"), out);
                }
            }
            _ => {}
        }
    }
    walk(v, String::new(), out);
}

fn set_number(v: &mut serde_json::Value, pointer: &str, n: u64) {
    if let Some(x) = v.pointer_mut(pointer) {
        *x = serde_json::Value::from(n);
    }
}
