//! Data-parallel training across Web Workers: what the training worker (the coordinator) and its
//! gradient workers say to each other, and what a gradient worker computes.
//!
//! The coordinator owns the run, the optimizer and the weights. For each training step it sends
//! every gradient worker the model's current weights and one shard of the batch (the shard's
//! images themselves: gradient workers hold no dataset); each answers with its shard's gradient
//! sum, and the coordinator adds the shards up in shard order and steps the optimizer
//! (`convplay_compute::train`). A message is a JS array: the header, encoded like every other
//! message, then typed arrays (weights, images, gradients) whose buffers are transferred, not
//! copied.

use convplay_compute::data::Dataset;
use convplay_compute::model::{Model, ModelSpec};
use convplay_compute::train::{Shard, ShardScratch, ShardStats, shard_gradients};
use js_sys::{Array, Float32Array, Uint8Array};
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};

use crate::protocol;
use crate::worker::error::WorkerError;

/// The name gradient workers are started with; the worker bin reads it to know its role.
pub const HELPER_NAME: &str = "convplay-gradients";

/// What the coordinator asks of a gradient worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ToHelper {
    /// The run's models, by index; replaces earlier ones.
    Setup(Vec<ModelSpec>),
    /// The gradients of one shard of model `model`'s step, with these weights; the shard's
    /// images are `0..n` of the images the message carries, with these labels.
    Shard {
        id: u64,
        model: usize,
        shard: Shard,
        labels: Vec<u8>,
    },
}

/// What a gradient worker answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum FromHelper {
    /// Listening; sent once, before anything else.
    Ready,
    /// Job `id` is done: its figures; its gradients travel beside.
    Done { id: u64, stats: ShardStats },
    /// Something failed (a job, a panic): the coordinator stops using gradient workers.
    Failed(String),
}

/// `ToHelper::Shard` with the weights and the images, the buffers to transfer.
pub fn encode_job(
    id: u64,
    model: usize,
    shard: Shard,
    images: &Dataset,
    params: &[f32],
) -> Result<(Array, Array), String> {
    let header = ToHelper::Shard {
        id,
        model,
        shard,
        labels: images.labels().to_vec(),
    };
    let pixels = images.pixels();
    let weights = Float32Array::new_with_length(params.len() as u32);
    weights.copy_from(params);
    let bytes = Uint8Array::new_with_length(pixels.len() as u32);
    bytes.copy_from(pixels);
    let message = Array::of3(&protocol::encode(&header)?, &weights, &bytes);
    let transfer = Array::of2(&weights.buffer(), &bytes.buffer());
    Ok((message, transfer))
}

/// A message of the coordinator to a gradient worker: the header and what travels beside it.
pub struct Incoming {
    pub header: ToHelper,
    weights: Option<Float32Array>,
    images: Option<Uint8Array>,
}

pub fn decode_to_helper(data: JsValue) -> Result<Incoming, String> {
    let parts: Array = data
        .dyn_into()
        .map_err(|_| "a gradient worker got a message that is not an array".to_string())?;
    Ok(Incoming {
        header: protocol::decode(parts.get(0))?,
        weights: parts.get(1).dyn_into().ok(),
        images: parts.get(2).dyn_into().ok(),
    })
}

/// `FromHelper::Done` with the gradients, the buffer to transfer.
pub fn encode_done(id: u64, stats: ShardStats, grads: &[f32]) -> Result<(Array, Array), String> {
    let g = Float32Array::new_with_length(grads.len() as u32);
    g.copy_from(grads);
    let message = Array::of2(&protocol::encode(&FromHelper::Done { id, stats })?, &g);
    Ok((message, Array::of1(&g.buffer())))
}

/// `Setup`, which carries nothing beside.
pub fn encode_plain_to_helper(message: &ToHelper) -> Result<Array, String> {
    Ok(Array::of1(&protocol::encode(message)?))
}

/// `Ready` or `Failed`, which carry nothing beside.
pub fn encode_plain(message: &FromHelper) -> Result<Array, String> {
    Ok(Array::of1(&protocol::encode(message)?))
}

/// A gradient worker's answer: the header, and for `Done` the gradients.
pub fn decode_from_helper(data: JsValue) -> Result<(FromHelper, Option<Vec<f32>>), String> {
    let parts: Array = data
        .dyn_into()
        .map_err(|_| "a gradient worker sent a message that is not an array".to_string())?;
    let header: FromHelper = protocol::decode(parts.get(0))?;
    let grads = parts
        .get(1)
        .dyn_into::<Float32Array>()
        .ok()
        .map(|g| g.to_vec());
    Ok((header, grads))
}

/// A gradient worker's models: copies of the coordinator's, given its weights before each shard.
#[derive(Default)]
pub struct Helper {
    models: Vec<Model>,
    scratch: ShardScratch,
}

impl Helper {
    pub fn setup(&mut self, specs: &[ModelSpec]) -> Result<(), WorkerError> {
        self.models = specs
            .iter()
            .map(|spec| Model::new(spec.clone(), 0))
            .collect::<Result<_, _>>()?;
        Ok(())
    }

    /// Computes `shard` of model `model` with the weights `load` writes; returns its figures and
    /// gradients.
    pub fn compute(
        &mut self,
        model: usize,
        load: impl FnOnce(&mut [f32]) -> Result<(), WorkerError>,
        shard: &Shard,
        images: &Dataset,
    ) -> Result<(ShardStats, &[f32]), WorkerError> {
        let m = self
            .models
            .get_mut(model)
            .ok_or(WorkerError::NoModel(model))?;
        load(&mut m.params)?;
        let stats = shard_gradients(m, &mut self.scratch, images, shard)?;
        Ok((stats, &m.grads))
    }

    /// Answers one message: `Done` with the gradients to transfer, or why it failed (in words:
    /// this is where the gradient worker's `Failed` message is made).
    pub fn answer(&mut self, incoming: Incoming) -> Result<Option<(Array, Array)>, String> {
        match incoming.header {
            ToHelper::Setup(specs) => self.setup(&specs).map(|()| None).map_err(|e| e.to_string()),
            ToHelper::Shard {
                id,
                model,
                shard,
                labels,
            } => {
                let weights = incoming.weights.ok_or("a shard came without weights")?;
                let pixels = incoming
                    .images
                    .ok_or("a shard came without images")?
                    .to_vec();
                let images = Dataset::new(pixels, labels).map_err(|e| e.to_string())?;
                let load = |params: &mut [f32]| {
                    if weights.length() as usize != params.len() {
                        return Err(WorkerError::WeightCount {
                            model,
                            expected: params.len(),
                            sent: weights.length() as usize,
                        });
                    }
                    weights.copy_to(params);
                    Ok(())
                };
                let (stats, grads) = self
                    .compute(model, load, &shard, &images)
                    .map_err(|e| e.to_string())?;
                encode_done(id, stats, grads).map(Some)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::Experiment;
    use crate::worker::engine::{Data, Engine, Work};
    use convplay_compute::data::DatasetKind;
    use convplay_compute::model::preset_for;

    /// `n` synthetic digits: class k is a bright bar at row 2k + 4.
    fn toy_dataset(n: usize) -> Dataset {
        let mut images = vec![0u8; n * Dataset::PIXELS];
        let labels = (0..n).map(|i| (i % 10) as u8).collect();
        for i in 0..n {
            let row = 2 * (i % 10) + 4;
            images[i * Dataset::PIXELS + row * 28..][4..24].fill(200 + (i % 7) as u8);
        }
        Dataset::new(images, labels).unwrap()
    }

    fn engine() -> (Engine, Experiment) {
        let mut engine = Engine::default();
        engine.set_data(Data {
            kind: DatasetKind::Mnist,
            train: toy_dataset(40),
            test: toy_dataset(20),
        });
        let mut exp = Experiment {
            models: vec![preset_for("cnn-gap", 28).unwrap()],
            ..Experiment::default()
        };
        exp.train.canvas = 28;
        exp.train.batch = 10;
        exp.train.train_shift = 2;
        exp.data.test_limit = Some(10);
        engine.start(&exp).unwrap();
        (engine, exp)
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn a_gradient_worker_computes_what_the_coordinator_would() {
        let (mut engine, exp) = engine();
        let Work::Step(step) = engine.begin(&|| 0.0, 3) else {
            panic!("the first unit of a run is a training step")
        };
        assert_eq!(step.shards.len(), 3);
        let mut helper = Helper::default();
        helper.setup(&exp.models).unwrap();
        let params = engine.params(step.model).unwrap().to_vec();
        for shard in &step.shards {
            let (own, images) = engine.gather(shard).unwrap();
            let load = |p: &mut [f32]| {
                p.copy_from_slice(&params);
                Ok(())
            };
            let (stats, grads) = helper.compute(step.model, load, &own, &images).unwrap();
            let (stats, grads) = (stats, grads.to_vec());
            let here = engine.shard_gradients(&step, shard).unwrap();
            assert_eq!(stats, here.stats);
            assert_eq!(grads, here.grads, "shard {}", shard.index);
        }
        assert!(
            helper
                .compute(5, |_| Ok(()), &step.shards[0], &toy_dataset(4))
                .is_err()
        );
    }
}
