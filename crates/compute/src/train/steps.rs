//! [`Steps`]: what a run needs of one model's trainer on any backend, and the one epoch loop
//! over it. The CPU's [`super::Trainer`] computes each step as it is submitted; the GPU's
//! trainer records and submits it, and its figures come back when they are awaited.

use super::eval::Infer;
use super::{EpochTally, Progress, StepStats, TrainSpec};
use crate::data::Dataset;
use crate::error::Result;
use crate::model::Model;

/// One model's training on some backend, a step at a time.
#[allow(async_fn_in_trait)]
pub trait Steps {
    /// The model's evaluation-mode forward on this backend, with the current weights.
    type Infer<'a>: Infer
    where
        Self: 'a;

    fn spec(&self) -> &TrainSpec;
    /// Epochs finished.
    fn epoch(&self) -> usize;
    /// Counts a finished epoch.
    fn end_epoch(&mut self);
    /// The next epoch's training images, shuffled by the run's shuffle stream (the same order on
    /// every backend for the same seed).
    fn epoch_order(&mut self, data: &Dataset) -> Vec<usize>;
    /// Starts one optimizer step on the images `indices` of `data`.
    fn submit(&mut self, data: &Dataset, indices: &[usize]) -> Result<()>;
    /// Each step submitted since the last call, in order, once finished.
    async fn finished(&mut self) -> Result<Vec<StepStats>>;
    /// Brings [`Steps::model`] up to date with the weights being trained.
    async fn sync_model(&mut self) -> Result<()>;
    /// The model as last synchronised (on the CPU, always current).
    fn model(&self) -> &Model;
    /// The model's evaluation-mode forward, in batches of up to `batch` images.
    fn infer(&mut self, batch: usize) -> Result<Self::Infer<'_>>;
    /// How many steps [`train_epoch`] submits before it awaits their figures.
    fn sync_every(&self) -> usize;
    /// Frees what [`Steps::infer`] keeps for the next call (the GPU's evaluation buffers), once
    /// a model will evaluate no more; a later call builds it again. Nothing to free by default.
    fn release_infer(&mut self) {}
}

/// One pass over the (limited, shuffled) training set: `on_step` sees progress after every step
/// (delivered every [`Steps::sync_every`] steps, when their figures are in) and may stop the
/// epoch by returning `false`.
pub async fn train_epoch<T: Steps>(
    t: &mut T,
    data: &Dataset,
    mut on_step: impl FnMut(&Progress) -> bool,
) -> Result<Progress> {
    let sync_every = t.sync_every();
    let order = t.epoch_order(data);
    let batch = t.spec().batch;
    let steps = order.len().div_ceil(batch);
    let mut tally = EpochTally::default();
    let mut progress = Progress {
        epoch: t.epoch() + 1,
        epochs: t.spec().epochs,
        step: 0,
        steps,
        images: 0,
        loss: 0.0,
        accuracy: 0.0,
        batch_loss: 0.0,
    };
    let mut pending = 0;
    'epoch: for (s, indices) in order.chunks(batch).enumerate() {
        t.submit(data, indices)?;
        pending += 1;
        if pending < sync_every.max(1) && s + 1 < steps {
            continue;
        }
        pending = 0;
        for st in t.finished().await? {
            tally.add(&st);
            progress = Progress {
                step: progress.step + 1,
                images: tally.images,
                loss: tally.loss(),
                accuracy: tally.accuracy(),
                batch_loss: st.loss,
                ..progress
            };
            if !on_step(&progress) {
                break 'epoch;
            }
        }
    }
    t.end_epoch();
    Ok(progress)
}
