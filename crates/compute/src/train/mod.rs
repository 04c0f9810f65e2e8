//! The training loop: batches → forward → loss → backward → step, with progress events, and
//! evaluation (metrics, confusion matrix, accuracy-by-shift map).
//!
//! - [`spec`]: [`TrainSpec`], how to train;
//! - [`steps`]: [`Steps`], one model's training on any backend, and the one epoch loop;
//! - [`trainer`]: [`Trainer`], the CPU's: one model's optimizer steps;
//! - [`shards`]: a step split into shards for threads and workers, and one shard's gradients;
//! - [`eval`]: test-set evaluation and the accuracy-by-shift map.
//!
//! Every random choice comes from streams derived from `TrainSpec::seed`, so a seed reproduces a
//! run bit for bit, whatever the thread count.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::{Model, ModelSpec};
use crate::rng::{Rng, hash2};

pub mod eval;
pub mod shards;
pub mod spec;
pub mod steps;
#[cfg(test)]
mod tests;
#[cfg(all(test, target_arch = "wasm32"))]
mod tests_alloc;
pub mod trainer;

pub use eval::{CpuInfer, Evaluation, Evaluator, Infer, Placed, evaluate, shift_map};
pub use shards::{Shard, ShardGradients, ShardScratch, ShardStats, shard_gradients};
pub use spec::{MAX_SHARDS, TrainSpec};
pub use steps::{Steps, train_epoch};
pub use trainer::Trainer;

fn all_finite(v: &[f32]) -> bool {
    v.iter().all(|x| x.is_finite())
}

/// Purposes of the seed's independent random streams.
#[derive(Clone, Copy)]
pub(crate) enum Stream {
    Init = 1,
    Shuffle = 2,
    Dropout = 3,
    Augment = 4,
}

pub(crate) fn stream(seed: u64, s: Stream) -> u64 {
    hash2(seed, s as u64)
}

/// An epoch's training images, the first `images` shuffled by a run's shuffle stream: the same
/// order on either backend for the same seed.
pub(crate) fn epoch_order(images: usize, shuffle: &mut Rng) -> Vec<usize> {
    let mut order: Vec<usize> = (0..images).collect();
    shuffle.shuffle(&mut order);
    order
}

/// The freshly initialised model a run with `spec` starts from, on either backend.
pub fn initial_model(model_spec: ModelSpec, spec: &TrainSpec) -> Result<Model> {
    Model::new(model_spec, stream(spec.seed, Stream::Init))
}

/// Running figures of the epoch so far, sent after every step.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub epoch: usize,
    pub epochs: usize,
    pub step: usize,
    pub steps: usize,
    pub images: usize,
    /// Mean training loss over the epoch so far.
    pub loss: f32,
    /// Training accuracy over the epoch so far (dropout on).
    pub accuracy: f32,
    /// Loss of the last batch.
    pub batch_loss: f32,
}

/// One batch's result.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepStats {
    pub loss: f32,
    pub correct: usize,
    pub images: usize,
}

/// Running training figures of an epoch: mean loss and accuracy over the steps so far.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EpochTally {
    loss_sum: f64,
    correct: usize,
    pub images: usize,
}

impl EpochTally {
    pub fn add(&mut self, st: &StepStats) {
        self.loss_sum += st.loss as f64 * st.images as f64;
        self.correct += st.correct;
        self.images += st.images;
    }

    /// Mean loss per image so far.
    pub fn loss(&self) -> f32 {
        (self.loss_sum / self.images as f64) as f32
    }

    /// Fraction of images classified correctly so far.
    pub fn accuracy(&self) -> f32 {
        self.correct as f32 / self.images as f32
    }
}

/// A run's random streams after initialisation, the same on every backend for the same seed:
/// each epoch's order, the train-time shifts, and the generator dropout keys are drawn from.
#[derive(Clone, Debug)]
pub(crate) struct Streams {
    shuffle: Rng,
    augment: Rng,
    pub(crate) dropout: Rng,
}

impl Streams {
    pub(crate) fn new(seed: u64) -> Self {
        Streams {
            shuffle: Rng::new(stream(seed, Stream::Shuffle)),
            augment: Rng::new(stream(seed, Stream::Augment)),
            dropout: Rng::new(stream(seed, Stream::Dropout)),
        }
    }

    /// The next epoch's training images of `data`, shuffled.
    pub(crate) fn epoch_order(
        &mut self,
        spec: &TrainSpec,
        data: &crate::data::Dataset,
    ) -> Vec<usize> {
        epoch_order(spec.images_per_epoch(data), &mut self.shuffle)
    }

    /// Where a step places each of its digits: centred, or moved by up to `spec.train_shift`.
    pub(crate) fn offsets(
        &mut self,
        spec: &TrainSpec,
        indices: &[usize],
    ) -> Result<Vec<(usize, usize)>> {
        let mut out = Vec::with_capacity(indices.len());
        self.offsets_into(spec, indices, &mut out)?;
        Ok(out)
    }

    /// [`Streams::offsets`] into `out` (cleared first, its memory reused).
    pub(crate) fn offsets_into(
        &mut self,
        spec: &TrainSpec,
        indices: &[usize],
        out: &mut Vec<(usize, usize)>,
    ) -> Result<()> {
        use crate::data::{CanvasPlacement, RandomShift};
        out.clear();
        for &index in indices {
            out.push(if spec.train_shift > 0 {
                RandomShift {
                    max: spec.train_shift,
                }
                .offset(spec.canvas, &mut self.augment)?
            } else {
                CanvasPlacement::Centered.offset(spec.canvas, index)?
            });
        }
        Ok(())
    }
}
