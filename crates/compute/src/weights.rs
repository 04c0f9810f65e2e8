//! Weights files: `.safetensors` in PyTorch's layout and names (`conv1.weight` `[out, in/groups,
//! kh, kw]`, `classifier.weight` `[out, in]`, `<layer>.bias`, batch-norm `weight`, `bias`,
//! `running_mean`, `running_var`, and PyTorch's `num_batches_tracked`, an I64 scalar convplay
//! writes as 0 and ignores on reading: PyTorch uses it only for a batch norm without momentum),
//! with the `ModelSpec` JSON in the file's metadata under
//! `convplay.spec`, so a file alone rebuilds its model. The browser and the CLI read each other's
//! files.

use std::collections::HashMap;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::error::{Error, Result};
use crate::model::{Graph, Model, ModelSpec, compile};

/// Metadata key holding the model spec JSON.
pub const SPEC_KEY: &str = "convplay.spec";

fn le_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// PyTorch's batch-norm step counter beside each batch norm's running statistics: the names
/// `<bn>.num_batches_tracked` of `graph`'s batch norms.
fn batch_counters(graph: &Graph) -> Vec<String> {
    graph
        .buffers
        .iter()
        .filter_map(|b| b.name.strip_suffix(".running_mean"))
        .map(|bn| format!("{bn}.num_batches_tracked"))
        .collect()
}

/// Serialises every parameter and buffer of `model`.
pub fn save(model: &Model) -> Result<Vec<u8>> {
    let infos = model
        .graph
        .params
        .iter()
        .map(|p| (p, &model.params))
        .chain(model.graph.buffers.iter().map(|b| (b, &model.buffers)));
    let owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = infos
        .map(|(info, buf)| {
            (
                info.name.clone(),
                Dtype::F32,
                info.shape.clone(),
                le_bytes(&buf[info.range()]),
            )
        })
        .chain(
            batch_counters(&model.graph)
                .into_iter()
                .map(|name| (name, Dtype::I64, vec![], 0i64.to_le_bytes().to_vec())),
        )
        .collect();
    // safetensors indexes tensors by name, and panics writing two of one name.
    let mut names = std::collections::HashSet::new();
    if let Some((name, ..)) = owned.iter().find(|(name, ..)| !names.insert(name)) {
        return Err(Error::Weights(format!("two tensors are named {name}")));
    }
    let views = owned
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            TensorView::new(*dtype, shape.clone(), bytes)
                .map(|v| (name.clone(), v))
                .map_err(|e| Error::Weights(e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut meta = HashMap::new();
    meta.insert(SPEC_KEY.to_string(), model.spec.to_json());
    meta.insert("format".to_string(), "pt".to_string());
    let bytes =
        safetensors::serialize(views, Some(meta)).map_err(|e| Error::Weights(e.to_string()))?;
    Ok(canonical_header(bytes))
}

/// The same file with its JSON header's keys in sorted order. `safetensors` writes the metadata
/// from a `HashMap`, whose order changes from one call to the next; sorted, one model is always
/// the same bytes (a saved file can be compared, hashed, cached). Same keys and values, so the
/// compact JSON has the same length and every data offset stays put.
fn canonical_header(mut bytes: Vec<u8>) -> Vec<u8> {
    let Some(len) = bytes
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(|b| u64::from_le_bytes(b) as usize)
    else {
        return bytes;
    };
    let Some(header) = bytes.get(8..8 + len) else {
        return bytes;
    };
    // Sorted explicitly: serde_json keeps insertion order if any crate in the build turns on its
    // `preserve_order` feature.
    let sorted = std::str::from_utf8(header)
        .ok()
        .and_then(|h| serde_json::from_str::<serde_json::Value>(h.trim_end()).ok())
        .and_then(|mut v| {
            v.sort_all_objects();
            serde_json::to_string(&v).ok()
        });
    if let Some(sorted) = sorted.filter(|s| s.len() <= len) {
        let slot = &mut bytes[8..8 + len];
        slot.fill(b' ');
        slot[..sorted.len()].copy_from_slice(sorted.as_bytes());
    }
    bytes
}

/// One f32 tensor `name` of `shape` as a safetensors file (an input batch, logits: data that goes
/// with a weights file to another framework).
pub fn save_tensor(name: &str, shape: &[usize], data: &[f32]) -> Result<Vec<u8>> {
    let bytes = le_bytes(data);
    let view = TensorView::new(Dtype::F32, shape.to_vec(), &bytes)
        .map_err(|e| Error::Weights(e.to_string()))?;
    safetensors::serialize([(name.to_string(), view)], None)
        .map_err(|e| Error::Weights(e.to_string()))
}

/// The model spec stored in a weights file.
pub fn read_spec(bytes: &[u8]) -> Result<ModelSpec> {
    let (_, meta) = SafeTensors::read_metadata(bytes)
        .map_err(|e| Error::Weights(format!("not a safetensors file: {e}")))?;
    let json = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get(SPEC_KEY))
        .ok_or_else(|| {
            Error::Weights(format!(
                "no {SPEC_KEY} in the file's metadata: it was not written by convplay"
            ))
        })?;
    ModelSpec::from_json(json)
}

/// Checks that `st` holds exactly the tensors of `graph` (model `model`), each with its shape
/// and dtype F32; extra tensors are an error too, but for PyTorch's `num_batches_tracked` beside
/// a batch norm (one integer, present or not). Allocates nothing the size of the weights, so a
/// file is judged before any model is built for it.
fn check_tensors(graph: &Graph, model: &str, st: &SafeTensors) -> Result<()> {
    for info in graph.params.iter().chain(&graph.buffers) {
        let t = st.tensor(&info.name).map_err(|_| {
            Error::WeightsMismatch(format!("tensor {} is missing (model {model})", info.name))
        })?;
        if t.dtype() != Dtype::F32 {
            return Err(Error::WeightsMismatch(format!(
                "tensor {} is {:?}, expected F32",
                info.name,
                t.dtype()
            )));
        }
        if t.shape() != info.shape.as_slice() {
            return Err(Error::WeightsMismatch(format!(
                "tensor {} has shape {:?}, the model needs {:?}",
                info.name,
                t.shape(),
                info.shape
            )));
        }
    }
    let counters = batch_counters(graph);
    for name in &counters {
        if let Ok(t) = st.tensor(name)
            && (!matches!(t.dtype(), Dtype::I64 | Dtype::I32 | Dtype::F32)
                || t.shape().iter().product::<usize>() != 1)
        {
            return Err(Error::WeightsMismatch(format!(
                "tensor {name} is {:?} {:?}, expected one integer",
                t.dtype(),
                t.shape()
            )));
        }
    }
    let present = counters.iter().filter(|n| st.tensor(n).is_ok()).count();
    if st.len() != graph.params.len() + graph.buffers.len() + present {
        let known: std::collections::HashSet<&str> = graph
            .params
            .iter()
            .chain(&graph.buffers)
            .map(|p| p.name.as_str())
            .chain(counters.iter().map(String::as_str))
            .collect();
        let extra: Vec<String> = st
            .names()
            .into_iter()
            .filter(|n| !known.contains(n))
            .map(|n| n.to_string())
            .collect();
        return Err(Error::WeightsMismatch(format!(
            "the file has tensors the model lacks: {}",
            extra.join(", ")
        )));
    }
    Ok(())
}

/// Copies the tensors of a file [`check_tensors`] accepted for `model`'s graph into `model`.
fn copy_tensors(model: &mut Model, st: &SafeTensors) {
    for (infos, dst) in [
        (&model.graph.params, &mut model.params),
        (&model.graph.buffers, &mut model.buffers),
    ] {
        for info in infos {
            let t = st
                .tensor(&info.name)
                .expect("checked: every tensor is present");
            for (d, chunk) in dst[info.range()].iter_mut().zip(t.data().chunks_exact(4)) {
                *d = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            }
        }
    }
}

fn deserialize(bytes: &[u8]) -> Result<SafeTensors<'_>> {
    SafeTensors::deserialize(bytes)
        .map_err(|e| Error::Weights(format!("not a safetensors file: {e}")))
}

/// Copies the tensors of `bytes` into `model`. Every tensor the model has must be present with
/// its exact shape and dtype F32; extra tensors are an error too. Nothing is changed on error.
pub fn load_into(model: &mut Model, bytes: &[u8]) -> Result<()> {
    let st = deserialize(bytes)?;
    check_tensors(&model.graph, &model.spec.name, &st)?;
    copy_tensors(model, &st);
    Ok(())
}

/// Rebuilds the model a weights file describes, with its weights. The file's tensors are checked
/// against the compiled spec before the model is built, so the model's memory is never more
/// than the file's tensors hold (a small file whose spec announces a huge model is refused, not
/// allocated).
pub fn load(bytes: &[u8]) -> Result<Model> {
    let spec = read_spec(bytes)?;
    let graph = compile(&spec)?;
    let st = deserialize(bytes)?;
    check_tensors(&graph, &spec.name, &st)?;
    let mut model = Model::new(spec, 0)?;
    copy_tensors(&mut model, &st);
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LayerSpec, preset_for};

    #[test]
    fn safetensors_round_trip_restores_spec_and_every_weight() {
        let mut spec = preset_for("cnn-gap", 28).unwrap();
        spec.layers.insert(
            1,
            LayerSpec::BatchNorm {
                name: "bn1".into(),
                eps: 1e-5,
                momentum: 0.1,
            },
        );
        let mut model = Model::new(spec, 3).unwrap();
        model
            .buffers
            .iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = i as f32 * 0.5);
        let bytes = save(&model).unwrap();
        let back = load(&bytes).unwrap();
        assert_eq!(back.spec, model.spec);
        assert_eq!(back.params, model.params);
        assert_eq!(back.buffers, model.buffers);
        let st = SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(st.tensor("conv1.weight").unwrap().shape(), &[32, 1, 3, 3]);
        assert_eq!(st.tensor("classifier.weight").unwrap().shape(), &[64, 128]);
        assert_eq!(st.tensor("bn1.running_var").unwrap().shape(), &[32]);
        // PyTorch's batch-norm counter, so torch's load_state_dict(strict=True) finds every key.
        let counter = st.tensor("bn1.num_batches_tracked").unwrap();
        assert_eq!((counter.dtype(), counter.shape()), (Dtype::I64, &[][..]));
        assert_eq!(
            st.len(),
            model.graph.params.len() + model.graph.buffers.len() + 1
        );

        // A file without the counter (older convplay files) loads the same; one whose counter
        // is not one integer is refused; any other extra tensor too.
        let tensors = |skip: &str, extra: Option<(&str, Dtype, Vec<usize>, Vec<u8>)>| {
            let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = st
                .names()
                .into_iter()
                .filter(|n| *n != skip)
                .map(|n| {
                    let t = st.tensor(n).unwrap();
                    (
                        n.to_string(),
                        t.dtype(),
                        t.shape().to_vec(),
                        t.data().to_vec(),
                    )
                })
                .collect();
            if let Some((n, d, s, b)) = extra {
                owned.push((n.to_string(), d, s, b));
            }
            let views = owned
                .iter()
                .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()));
            let meta = HashMap::from([(SPEC_KEY.to_string(), model.spec.to_json())]);
            safetensors::serialize(views, Some(meta)).unwrap()
        };
        let old = tensors("bn1.num_batches_tracked", None);
        assert_eq!(load(&old).unwrap().buffers, model.buffers);
        let bad = tensors(
            "bn1.num_batches_tracked",
            Some(("bn1.num_batches_tracked", Dtype::I64, vec![2], vec![0; 16])),
        );
        let err = load(&bad).unwrap_err().to_string();
        assert!(err.contains("num_batches_tracked"), "{err}");
        let stray = tensors(
            "",
            Some(("conv1.num_batches_tracked", Dtype::I64, vec![], vec![0; 8])),
        );
        let err = load(&stray).unwrap_err().to_string();
        assert!(err.contains("conv1.num_batches_tracked"), "{err}");
    }

    #[test]
    fn one_model_always_saves_to_the_same_bytes() {
        let model = Model::new(preset_for("cnn-gap", 28).unwrap(), 3).unwrap();
        let first = save(&model).unwrap();
        // The metadata map's order is random per call: eight saves disagree with 1 − 2⁻⁷ odds.
        for _ in 0..8 {
            assert!(
                save(&model).unwrap() == first,
                "same model, different bytes"
            );
        }
        assert_eq!(load(&first).unwrap().params, model.params);
    }

    #[test]
    fn weights_for_another_model_are_a_clear_error_and_change_nothing() {
        let gap = Model::new(preset_for("cnn-gap", 64).unwrap(), 1).unwrap();
        let mut flat = Model::new(preset_for("cnn-flatten", 64).unwrap(), 2).unwrap();
        let before = flat.params.clone();
        let err = load_into(&mut flat, &save(&gap).unwrap()).unwrap_err();
        assert!(matches!(err, Error::WeightsMismatch(_)), "{err}");
        assert!(err.to_string().contains("classifier.weight"), "{err}");
        assert_eq!(flat.params, before);
    }

    #[test]
    fn a_model_with_two_tensors_of_one_name_is_an_error_not_a_panic() {
        // compile now refuses the spec that did it (a layer named like a residual's projection);
        // save still refuses such a model rather than let safetensors panic.
        let mut model = Model::new(preset_for("cnn-gap", 28).unwrap(), 1).unwrap();
        let first = model.graph.params[0].name.clone();
        model.graph.params[2].name = first.clone();
        let err = save(&model).unwrap_err();
        assert!(matches!(err, Error::Weights(_)), "{err}");
        assert!(err.to_string().contains(&first), "{err}");
    }

    #[test]
    fn garbage_and_foreign_files_are_rejected() {
        assert!(matches!(
            load(b"not a weights file"),
            Err(Error::Weights(_))
        ));
        let foreign = safetensors::serialize(
            vec![(
                "w".to_string(),
                TensorView::new(Dtype::F32, vec![1], &[0u8; 4]).unwrap(),
            )],
            None,
        )
        .unwrap();
        let err = load(&foreign).unwrap_err();
        assert!(err.to_string().contains(SPEC_KEY), "{err}");
    }
}
