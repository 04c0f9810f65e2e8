//! A training step split into shards (threads natively, Web Workers in the page): what each
//! shard is, and the forward and backward of one shard.

use serde::{Deserialize, Serialize};

use super::*;
use crate::cpu::profile::{self, Family};
use crate::data::{Dataset, Label, fill_batch};
use crate::error::{Error, Result};
use crate::model::{Mode, Model, Workspace};
use crate::ops::softmax_ce::{softmax_ce_backward, softmax_ce_forward};
use crate::rng::Rng;

/// One shard of a data-parallel training step: some images of the batch, where each is
/// placed, and the dropout generator as the step began, so that the shards together draw the
/// masks the whole batch would have drawn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shard {
    /// The trainer's step this shard belongs to (1-based).
    pub step: u64,
    /// Its place among the step's shards; their gradients are summed in this order.
    pub index: usize,
    /// Position of its first image in the batch, and the batch's size.
    pub first: usize,
    pub batch: usize,
    /// Dataset indices of its images, and their canvas offsets `(dx, dy)`.
    pub images: Vec<usize>,
    pub offsets: Vec<(usize, usize)>,
    pub dropout: Rng,
}

impl Shard {
    /// An empty plan, to be filled and reused (it allocates nothing).
    pub(crate) fn reusable() -> Shard {
        Shard {
            step: 0,
            index: 0,
            first: 0,
            batch: 0,
            images: Vec::new(),
            offsets: Vec::new(),
            dropout: Rng::new(0),
        }
    }

    /// This shard's images copied out of `data` into a small dataset of their own, and the
    /// shard re-indexed to it: what a worker that does not hold `data` needs.
    pub fn gather(&self, data: &Dataset) -> Result<(Shard, Dataset)> {
        if let Some(&i) = self.images.iter().find(|&&i| i >= data.len()) {
            return Err(Error::InvalidTrainSpec(format!(
                "shard image {i} is not in a dataset of {} images",
                data.len()
            )));
        }
        let mut pixels = Vec::with_capacity(self.images.len() * Dataset::PIXELS);
        for &i in &self.images {
            pixels.extend_from_slice(data.image(i));
        }
        let labels = self.images.iter().map(|&i| data.label(i)).collect();
        let own = Dataset::new(pixels, labels)
            .map_err(|e| Error::InvalidTrainSpec(format!("shard images: {e}")))?;
        let shard = Shard {
            images: (0..self.images.len()).collect(),
            ..self.clone()
        };
        Ok((shard, own))
    }
}

/// A shard's loss and accuracy figures.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardStats {
    pub index: usize,
    /// Sum of its images' losses.
    pub loss_sum: f64,
    pub correct: usize,
    pub images: usize,
}

/// What one shard contributes to its step: `grads` is `Σ ∂Lᵢ/∂θ / batch` over its images, so
/// the shards' gradients add up to the batch's mean gradient.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardGradients {
    pub stats: ShardStats,
    pub grads: Vec<f32>,
}

/// Buffers a model's forward and backward reuse from step to step: for shard gradients, and for
/// evaluation on the CPU ([`super::eval::CpuInfer`]).
#[derive(Default)]
pub struct ShardScratch {
    pub(crate) ws: Workspace,
    pub(crate) x: Vec<f32>,
    pub(crate) y: Vec<Label>,
    pub(crate) probs: Vec<f32>,
    pub(crate) dlogits: Vec<f32>,
    /// Logits computed for an evaluation and not yet taken.
    pub(crate) pending: Vec<f32>,
}

/// Forward and backward of one shard: leaves `Σ ∂Lᵢ/∂θ / batch` over its images in
/// `model.grads` and changes no weight. Batch norm normalises with the shard's own statistics;
/// its running statistics follow shard 0 only (as DDP keeps rank 0's), so however the shards
/// are spread over workers, the model that computed shard 0 holds them.
pub fn shard_gradients(
    model: &mut Model,
    scratch: &mut ShardScratch,
    data: &Dataset,
    shard: &Shard,
) -> Result<ShardStats> {
    let n = shard.images.len();
    if n == 0 || shard.first + n > shard.batch || shard.offsets.len() != n {
        return Err(Error::ShapeMismatch {
            op: "shard_gradients",
            expected: format!("1 to {} images, each with an offset", shard.batch),
            got: format!(
                "{n} images from {} with {} offsets",
                shard.first,
                shard.offsets.len()
            ),
        });
    }
    let canvas = model.graph.input[1];
    let placing = profile::call(Family::LossData);
    fill_batch(
        data,
        &shard.images,
        &shard.offsets,
        canvas,
        &mut scratch.x,
        &mut scratch.y,
    )?;
    drop(placing);
    batch_gradients(model, scratch, shard)
}

/// [`shard_gradients`] of the batch already in `scratch.x` and `scratch.y` (`shard.images`
/// gives only its size): digits placed on the canvas, or any image data.
pub(crate) fn batch_gradients(
    model: &mut Model,
    scratch: &mut ShardScratch,
    shard: &Shard,
) -> Result<ShardStats> {
    let n = shard.images.len();
    let ShardScratch {
        ws,
        x,
        y,
        probs,
        dlogits,
        ..
    } = scratch;
    let running = (shard.index > 0).then(|| model.buffers.clone());
    let mut dropout = shard.dropout.clone();
    let mode = Mode::TrainShard {
        rng: &mut dropout,
        first: shard.first,
    };
    model.forward(ws, x, n, mode)?;
    if let Some(running) = running {
        model.buffers = running;
    }
    let loss = profile::call(Family::LossData);
    let classes = model.classes();
    probs.resize(n * classes, 0.0);
    dlogits.resize(n * classes, 0.0);
    let out = softmax_ce_forward(probs, ws.logits(), y, classes)?;
    if !out.loss.is_finite() {
        return Err(Error::Diverged {
            step: shard.step,
            loss: out.loss,
        });
    }
    // dL/dlogits of the batch's mean loss: the shard's mean scaled by its share of the batch.
    softmax_ce_backward(dlogits, probs, y, classes)?;
    let share = n as f32 / shard.batch as f32;
    if n != shard.batch {
        dlogits.iter_mut().for_each(|d| *d *= share);
    }
    let aux = aux_gradients(model, ws, y, shard.step, share)?;
    drop(loss);
    let zeroing = profile::call(Family::Optimizer);
    model.grads.clear();
    model.grads.resize(model.param_count(), 0.0);
    drop(zeroing);
    if aux.is_empty() {
        model.backward(ws, dlogits)?;
    } else {
        let mut seeds = vec![(model.graph.output, dlogits.as_slice())];
        seeds.extend(aux.iter().map(|(v, d)| (*v, d.as_slice())));
        model.backward_seeded(ws, &seeds)?;
    }
    let _checking = profile::call(Family::Optimizer);
    if !all_finite(&model.grads) {
        return Err(Error::Diverged {
            step: shard.step,
            loss: out.loss,
        });
    }
    Ok(ShardStats {
        index: shard.index,
        loss_sum: out.loss as f64 * n as f64,
        correct: out.correct,
        images: n,
    })
}

/// For each auxiliary classifier of the last forward: its value and
/// `weight · share · dCE/dlogits`. The reported loss stays the main head's.
fn aux_gradients(
    model: &Model,
    ws: &Workspace,
    labels: &[Label],
    step: u64,
    share: f32,
) -> Result<Vec<(usize, Vec<f32>)>> {
    let classes = model.classes();
    let mut out = Vec::new();
    for a in &model.graph.aux {
        let logits = ws.value(a.value);
        let mut probs = vec![0.0; logits.len()];
        let ce = softmax_ce_forward(&mut probs, logits, labels, classes)?;
        if !ce.loss.is_finite() {
            return Err(Error::Diverged {
                step,
                loss: ce.loss,
            });
        }
        let mut d = vec![0.0; logits.len()];
        softmax_ce_backward(&mut d, &probs, labels, classes)?;
        let scale = if share == 1.0 {
            a.weight
        } else {
            a.weight * share
        };
        d.iter_mut().for_each(|g| *g *= scale);
        out.push((a.value, d));
    }
    Ok(out)
}
