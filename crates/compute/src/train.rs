//! The training loop: batches → forward → loss → backward → step, with progress events, and
//! evaluation (metrics, confusion matrix, accuracy-by-shift map).
//!
//! Every random choice comes from streams derived from `TrainSpec::seed`, so a seed reproduces a
//! run bit for bit, whatever the thread count.

use serde::{Deserialize, Serialize};

use crate::cpu::elementwise;
use crate::data::{CanvasPlacement, Dataset, RandomShift, fill_batch, offsets_for};
use crate::error::{Error, Result};
use crate::metrics::{ClassificationMetrics, ConfusionMatrix, ShiftMap, argmax};
use crate::model::{Mode, Model, ModelSpec, Workspace};
use crate::ops::softmax_ce::{softmax_ce_backward, softmax_ce_forward};
use crate::optim::{Optimizer, OptimizerSpec};
use crate::rng::{Rng, hash2};

fn default_canvas() -> usize {
    64
}

fn one_shard() -> usize {
    1
}

fn is_one_shard(n: &usize) -> bool {
    *n == 1
}

/// How to train: epochs, batch, optimizer, seed, training-set size, canvas and augmentation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    pub epochs: usize,
    pub batch: usize,
    pub optimizer: OptimizerSpec,
    pub seed: u64,
    /// Train on the first `limit` training images only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Side of the square canvas digits are placed on (28 = no padding; the lecture uses 64).
    #[serde(default = "default_canvas")]
    pub canvas: usize,
    /// Train-time augmentation: each digit moved up to this many pixels from the centre.
    #[serde(default)]
    pub train_shift: usize,
    /// Shards a batch of a model with batch norm is split into, each normalised with its own
    /// statistics, as data-parallel workers do (PyTorch DDP's default, no SyncBatchNorm). Models
    /// without batch norm give the same result, within float rounding, however a batch is
    /// split, so this setting does not apply to them.
    #[serde(default = "one_shard", skip_serializing_if = "is_one_shard")]
    pub shards: usize,
}

impl Default for TrainSpec {
    /// The lecture's settings: Adam 1e-3, batch 64, centred 64×64 canvas.
    fn default() -> Self {
        TrainSpec {
            epochs: 1,
            batch: 64,
            optimizer: OptimizerSpec::adam(1e-3),
            seed: 0,
            limit: None,
            canvas: 64,
            train_shift: 0,
            shards: 1,
        }
    }
}

impl TrainSpec {
    pub fn validate(&self) -> Result<()> {
        self.optimizer.validate()?;
        let bad = |m: String| Err(Error::InvalidTrainSpec(m));
        if self.epochs == 0 || self.epochs > 10_000 {
            return bad(format!(
                "epochs = {} must be between 1 and 10000",
                self.epochs
            ));
        }
        if self.batch == 0 || self.batch > 4096 {
            return bad(format!("batch = {} must be between 1 and 4096", self.batch));
        }
        if !(28..=512).contains(&self.canvas) {
            return bad(format!(
                "canvas = {} must be between 28 and 512",
                self.canvas
            ));
        }
        if self.limit == Some(0) {
            return bad("limit must be at least 1 image".into());
        }
        if !(1..=MAX_SHARDS).contains(&self.shards) {
            return bad(format!(
                "shards = {} must be between 1 and {MAX_SHARDS}",
                self.shards
            ));
        }
        Ok(())
    }
}

/// Most shards a training step is split into.
pub const MAX_SHARDS: usize = 64;

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

/// Trains one model.
pub struct Trainer {
    pub model: Model,
    pub optimizer: Optimizer,
    pub spec: TrainSpec,
    pub epoch: usize,
    pub steps: u64,
    scratch: ShardScratch,
    shuffle: Rng,
    dropout: Rng,
    augment: Rng,
}

impl Trainer {
    /// A freshly initialised model for `model_spec`, trained as `spec` says.
    pub fn new(model_spec: ModelSpec, spec: TrainSpec) -> Result<Self> {
        spec.validate()?;
        let model = initial_model(model_spec, &spec)?;
        Self::with_model(model, spec)
    }

    /// Continues training an existing model (e.g. loaded weights) with a fresh optimizer.
    pub fn with_model(model: Model, spec: TrainSpec) -> Result<Self> {
        spec.validate()?;
        let want = [1, spec.canvas, spec.canvas];
        if model.graph.input != want {
            return Err(Error::InvalidTrainSpec(format!(
                "model {} expects input {:?} but the canvas is {}×{} (set the model's input to [1, {c}, {c}])",
                model.spec.name,
                model.graph.input,
                spec.canvas,
                spec.canvas,
                c = spec.canvas
            )));
        }
        if model.classes() != crate::data::CLASSES {
            return Err(Error::InvalidTrainSpec(format!(
                "model {} outputs {} classes; the datasets have {}",
                model.spec.name,
                model.classes(),
                crate::data::CLASSES
            )));
        }
        let optimizer = Optimizer::new(spec.optimizer, model.param_count())?;
        Ok(Self {
            optimizer,
            epoch: 0,
            steps: 0,
            scratch: ShardScratch::default(),
            shuffle: Rng::new(stream(spec.seed, Stream::Shuffle)),
            dropout: Rng::new(stream(spec.seed, Stream::Dropout)),
            augment: Rng::new(stream(spec.seed, Stream::Augment)),
            model,
            spec,
        })
    }

    /// Training images used per epoch.
    pub fn images_per_epoch(&self, data: &Dataset) -> usize {
        self.spec.limit.map_or(data.len(), |l| l.min(data.len()))
    }

    pub fn steps_per_epoch(&self, data: &Dataset) -> usize {
        self.images_per_epoch(data).div_ceil(self.spec.batch)
    }

    /// The next epoch's training images, shuffled by the run's shuffle stream.
    pub fn epoch_order(&mut self, data: &Dataset) -> Vec<usize> {
        epoch_order(self.images_per_epoch(data), &mut self.shuffle)
    }

    /// One optimizer step on the images `indices` of `data`: the step's shards (one, or
    /// `spec.shards` for a model with batch norm) computed here, one after the other.
    /// A step whose loss, gradients or weights are not finite is refused with
    /// [`Error::Diverged`] and leaves the weights as they were.
    pub fn train_step(&mut self, data: &Dataset, indices: &[usize]) -> Result<StepStats> {
        let shards = self.plan_step(indices, self.shards_for(1))?;
        let grads = shards
            .iter()
            .map(|shard| self.shard_gradients(data, shard))
            .collect::<Result<Vec<_>>>()?;
        self.apply_gradients(grads)
    }

    /// How many shards a step is split into when `workers` workers compute it: as many as
    /// there are workers, except for a model with batch norm, whose numbers depend on the
    /// split: it always takes `spec.shards`.
    pub fn shards_for(&self, workers: usize) -> usize {
        if self.model.has_batchnorm() {
            self.spec.shards
        } else {
            workers.clamp(1, MAX_SHARDS)
        }
    }

    /// Splits the step on the images `indices` into at most `shards` contiguous shards of
    /// nearly equal size (no empty one), draws the step's canvas offsets, and advances the
    /// dropout stream past the step. Every shard must then be computed and the results passed
    /// to [`Trainer::apply_gradients`].
    pub fn plan_step(&mut self, indices: &[usize], shards: usize) -> Result<Vec<Shard>> {
        let step = self.steps + 1;
        if !all_finite(&self.model.params) {
            return Err(Error::Diverged {
                step,
                loss: f32::NAN,
            });
        }
        if indices.is_empty() {
            return Err(Error::InvalidTrainSpec(
                "a training step needs images".into(),
            ));
        }
        let canvas = self.spec.canvas;
        let offsets = if self.spec.train_shift > 0 {
            RandomShift {
                max: self.spec.train_shift,
            }
            .offsets(canvas, indices.len(), &mut self.augment)?
        } else {
            offsets_for(&CanvasPlacement::Centered, canvas, indices)?
        };
        let dropout = self.dropout.clone();
        for _ in 0..self.model.dropout_draws() {
            self.dropout.next_u64();
        }
        let batch = indices.len();
        let k = shards.clamp(1, batch);
        Ok((0..k)
            .map(|i| {
                let range = batch * i / k..batch * (i + 1) / k;
                Shard {
                    step,
                    index: i,
                    first: range.start,
                    batch,
                    images: indices[range.clone()].to_vec(),
                    offsets: offsets[range].to_vec(),
                    dropout: dropout.clone(),
                }
            })
            .collect())
    }

    /// The gradients of one shard of the planned step, from this trainer's model.
    pub fn shard_gradients(&mut self, data: &Dataset, shard: &Shard) -> Result<ShardGradients> {
        let stats = shard_gradients(&mut self.model, &mut self.scratch, data, shard)?;
        Ok(ShardGradients {
            stats,
            grads: std::mem::take(&mut self.model.grads),
        })
    }

    /// Ends the planned step: sums the shards' gradients in shard order (every shard of the
    /// plan, each once) into the batch's mean gradient and steps the optimizer.
    pub fn apply_gradients(&mut self, shards: Vec<ShardGradients>) -> Result<StepStats> {
        let step = self.steps + 1;
        let in_order = shards.iter().enumerate().all(|(i, s)| s.stats.index == i);
        let len = self.model.param_count();
        if shards.is_empty() || !in_order || shards.iter().any(|s| s.grads.len() != len) {
            return Err(Error::ShapeMismatch {
                op: "apply_gradients",
                expected: format!("shards 0, 1, … in order, each with {len} gradients"),
                got: format!(
                    "shards {:?} with {:?} gradients",
                    shards.iter().map(|s| s.stats.index).collect::<Vec<_>>(),
                    shards.iter().map(|s| s.grads.len()).collect::<Vec<_>>()
                ),
            });
        }
        let (mut loss_sum, mut correct, mut images) = (0.0f64, 0, 0);
        for (i, shard) in shards.into_iter().enumerate() {
            loss_sum += shard.stats.loss_sum;
            correct += shard.stats.correct;
            images += shard.stats.images;
            if i == 0 {
                self.model.grads = shard.grads;
            } else {
                elementwise::add_assign(&mut self.model.grads, &shard.grads);
            }
        }
        let loss = (loss_sum / images.max(1) as f64) as f32;
        if !loss.is_finite() || !all_finite(&self.model.grads) {
            return Err(Error::Diverged { step, loss });
        }
        self.optimizer
            .step(&mut self.model.params, &self.model.grads)?;
        self.steps += 1;
        Ok(StepStats {
            loss,
            correct,
            images,
        })
    }

    /// One pass over the (limited, shuffled) training set. `on_step` sees progress after every
    /// step and may stop the epoch early by returning `false`.
    pub fn train_epoch(
        &mut self,
        data: &Dataset,
        mut on_step: impl FnMut(&Progress) -> bool,
    ) -> Result<Progress> {
        let order = self.epoch_order(data);
        let total = order.len();
        let steps = total.div_ceil(self.spec.batch);
        let mut tally = EpochTally::default();
        let mut progress = Progress {
            epoch: self.epoch + 1,
            epochs: self.spec.epochs,
            step: 0,
            steps,
            images: 0,
            loss: 0.0,
            accuracy: 0.0,
            batch_loss: 0.0,
        };
        for (s, batch) in order.chunks(self.spec.batch).enumerate() {
            let st = self.train_step(data, batch)?;
            tally.add(&st);
            progress = Progress {
                step: s + 1,
                images: tally.images,
                loss: tally.loss(),
                accuracy: tally.accuracy(),
                batch_loss: st.loss,
                ..progress
            };
            if !on_step(&progress) {
                break;
            }
        }
        self.epoch += 1;
        Ok(progress)
    }
}

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

/// Buffers for computing shard gradients, reused from step to step.
#[derive(Default)]
pub struct ShardScratch {
    ws: Workspace,
    x: Vec<f32>,
    y: Vec<u8>,
    probs: Vec<f32>,
    dlogits: Vec<f32>,
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
    let ShardScratch {
        ws,
        x,
        y,
        probs,
        dlogits,
    } = scratch;
    let canvas = model.graph.input[1];
    fill_batch(data, &shard.images, &shard.offsets, canvas, x, y)?;
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
    model.grads.clear();
    model.grads.resize(model.param_count(), 0.0);
    if aux.is_empty() {
        model.backward(ws, dlogits)?;
    } else {
        let mut seeds = vec![(model.graph.output, dlogits.as_slice())];
        seeds.extend(aux.iter().map(|(v, d)| (*v, d.as_slice())));
        model.backward_seeded(ws, &seeds)?;
    }
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
    labels: &[u8],
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

/// Test-set results of one model on one placement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub placement: CanvasPlacement,
    pub loss: f32,
    pub metrics: ClassificationMetrics,
    pub confusion: ConfusionMatrix,
}

/// Evaluates on every image of `data` placed by `placement` (dropout off, running statistics).
pub fn evaluate(
    model: &mut Model,
    data: &Dataset,
    placement: CanvasPlacement,
    batch: usize,
) -> Result<Evaluation> {
    let mut e = Evaluator::new(model, placement, batch, data.len());
    loop {
        if let Some(done) = e.step(model, data)? {
            return Ok(done);
        }
    }
}

/// A chunked evaluation: [`Evaluator::step`] runs one batch, so a long test never blocks.
pub struct Evaluator {
    placement: CanvasPlacement,
    next: usize,
    len: usize,
    batch: usize,
    loss_sum: f64,
    confusion: ConfusionMatrix,
    ws: Workspace,
    x: Vec<f32>,
    y: Vec<u8>,
    probs: Vec<f32>,
}

impl Evaluator {
    /// Evaluates the first `len` images of the data set it is stepped over.
    pub fn new(model: &Model, placement: CanvasPlacement, batch: usize, len: usize) -> Self {
        Evaluator {
            placement,
            next: 0,
            len,
            batch: batch.max(1),
            loss_sum: 0.0,
            confusion: ConfusionMatrix::new(model.classes()),
            ws: Workspace::new(),
            x: Vec::new(),
            y: Vec::new(),
            probs: Vec::new(),
        }
    }

    /// Evaluates the next batch of `data`; returns the result once every image is done.
    pub fn step(&mut self, model: &mut Model, data: &Dataset) -> Result<Option<Evaluation>> {
        let canvas = model.graph.input[1];
        let classes = model.classes();
        let len = self.len.min(data.len());
        let end = (self.next + self.batch).min(len);
        let chunk: Vec<usize> = (self.next..end).collect();
        if !chunk.is_empty() {
            let offsets = offsets_for(&self.placement, canvas, &chunk)?;
            fill_batch(data, &chunk, &offsets, canvas, &mut self.x, &mut self.y)?;
            model.forward(&mut self.ws, &self.x, chunk.len(), Mode::Eval)?;
            self.probs.resize(chunk.len() * classes, 0.0);
            let out = softmax_ce_forward(&mut self.probs, self.ws.logits(), &self.y, classes)?;
            self.loss_sum += out.loss as f64 * chunk.len() as f64;
            for (row, &label) in self.ws.logits().chunks_exact(classes).zip(&self.y) {
                self.confusion
                    .add(label as usize, argmax(row))
                    .map_err(|e| Error::InvalidTrainSpec(e.to_string()))?;
            }
        }
        self.next = end;
        if self.next < len {
            return Ok(None);
        }
        Ok(Some(Evaluation {
            placement: self.placement,
            loss: (self.loss_sum / len.max(1) as f64) as f32,
            metrics: self.confusion.summary(),
            confusion: std::mem::replace(&mut self.confusion, ConfusionMatrix::new(classes)),
        }))
    }
}

/// Accuracy with every digit at each (dx, dy) of a grid with spacing `step` over the canvas.
pub fn shift_map(
    model: &mut Model,
    data: &Dataset,
    step: usize,
    batch: usize,
    mut on_cell: impl FnMut(usize, usize),
) -> Result<ShiftMap> {
    let canvas = model.graph.input[1];
    let mut map = ShiftMap::new(canvas, step);
    let offsets = map.offsets.clone();
    let cells = offsets.len() * offsets.len();
    for (yi, &dy) in offsets.iter().enumerate() {
        for (xi, &dx) in offsets.iter().enumerate() {
            let e = evaluate(model, data, CanvasPlacement::At { dx, dy }, batch)?;
            map.accuracy[yi * offsets.len() + xi] = e.metrics.accuracy;
            on_cell(yi * offsets.len() + xi + 1, cells);
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::preset_for;

    fn toy_data() -> Dataset {
        crate::data::toy_dataset(40)
    }

    fn spec(seed: u64) -> TrainSpec {
        TrainSpec {
            epochs: 1,
            batch: 8,
            optimizer: OptimizerSpec::adam(1e-3),
            seed,
            limit: None,
            canvas: 28,
            train_shift: 0,
            shards: 1,
        }
    }

    fn run(seed: u64, steps: usize) -> (Vec<f32>, Vec<f32>) {
        let data = toy_data();
        let mut t = Trainer::new(preset_for("cnn-gap", 28).unwrap(), spec(seed)).unwrap();
        let mut losses = Vec::new();
        for s in 0..steps {
            let idx: Vec<usize> = (0..8).map(|i| (s * 8 + i) % 40).collect();
            losses.push(t.train_step(&data, &idx).unwrap().loss);
        }
        (losses, t.model.params)
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn same_seed_gives_identical_losses_and_weights() {
        let (l1, p1) = run(42, 5);
        let (l2, p2) = run(42, 5);
        assert_eq!(l1, l2);
        assert_eq!(p1, p2);
        let (l3, _) = run(43, 5);
        assert_ne!(l1, l3);
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn same_seed_gives_identical_results_on_one_and_two_threads() {
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| run(7, 4));
        let two = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap()
            .install(|| run(7, 4));
        assert_eq!(one.0, two.0);
        assert_eq!(one.1, two.1);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn training_lowers_the_loss_on_a_learnable_toy_set() {
        let data = toy_data();
        let mut t = Trainer::new(
            preset_for("cnn-flatten", 28).unwrap(),
            TrainSpec {
                epochs: 30,
                ..spec(1)
            },
        )
        .unwrap();
        let first = t.train_epoch(&data, |_| true).unwrap();
        for _ in 1..30 {
            t.train_epoch(&data, |_| true).unwrap();
        }
        let e = evaluate(&mut t.model, &data, CanvasPlacement::Centered, 16).unwrap();
        assert!(e.loss < first.loss * 0.5, "{} → {}", first.loss, e.loss);
        assert!(e.metrics.accuracy > 0.9, "{:?}", e.metrics);
    }

    #[test]
    fn mismatched_canvas_and_bad_settings_are_clear_errors() {
        let err = Trainer::new(preset_for("cnn-gap", 64).unwrap(), spec(0))
            .err()
            .unwrap();
        assert!(err.to_string().contains("canvas"), "{err}");
        assert!(
            Trainer::new(
                preset_for("cnn-gap", 28).unwrap(),
                TrainSpec {
                    batch: 0,
                    ..spec(0)
                }
            )
            .is_err()
        );
        assert!(
            Trainer::new(
                preset_for("cnn-gap", 28).unwrap(),
                TrainSpec {
                    optimizer: OptimizerSpec::adam(-1.0),
                    ..spec(0)
                }
            )
            .is_err()
        );
    }

    /// The gradient of one step on `indices` computed as `k` shards and summed, and the loss.
    fn sharded_gradient(t: &mut Trainer, data: &Dataset, indices: &[usize], k: usize) -> Vec<f32> {
        let shards = t.plan_step(indices, k).unwrap();
        assert_eq!(shards.len(), k.min(indices.len()));
        let mut sum = vec![0.0f32; t.model.param_count()];
        for shard in &shards {
            let g = t.shard_gradients(data, shard).unwrap();
            sum.iter_mut().zip(&g.grads).for_each(|(s, g)| *s += g);
        }
        sum
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn k_shards_gradients_sum_to_the_full_batch_gradient() {
        let data = toy_data();
        // cnn-gap has two dropout layers: the shards must draw the whole batch's masks. A
        // train-time shift makes the offsets random too. Batch 13 splits unevenly.
        let spec = TrainSpec {
            train_shift: 3,
            ..spec(5)
        };
        let indices: Vec<usize> = (0..13).map(|i| (i * 7) % 40).collect();
        let full = {
            let mut t = Trainer::new(preset_for("cnn-gap", 28).unwrap(), spec.clone()).unwrap();
            sharded_gradient(&mut t, &data, &indices, 1)
        };
        let scale = full.iter().fold(0.0f32, |m, g| m.max(g.abs()));
        assert!(scale > 1e-4, "the gradient is not trivially zero");
        for k in [2, 3, 5] {
            let mut t = Trainer::new(preset_for("cnn-gap", 28).unwrap(), spec.clone()).unwrap();
            let sharded = sharded_gradient(&mut t, &data, &indices, k);
            let worst = full
                .iter()
                .zip(&sharded)
                .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(worst <= 1e-5 * scale, "k = {k}: off by {worst} of {scale}");
        }
        // Dropout drawn per shard from a fresh stream (not the batch's entries) is far off.
        let mut t = Trainer::new(preset_for("cnn-gap", 28).unwrap(), spec).unwrap();
        let mut shards = t.plan_step(&indices, 2).unwrap();
        shards[1].first = 0;
        let mut wrong = t.shard_gradients(&data, &shards[0]).unwrap().grads;
        let g1 = t.shard_gradients(&data, &shards[1]).unwrap().grads;
        wrong.iter_mut().zip(&g1).for_each(|(s, g)| *s += g);
        let worst = full
            .iter()
            .zip(&wrong)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            worst > 1e-3 * scale,
            "masks by shard position would go unnoticed"
        );
    }

    /// Losses and weights of `steps` steps of cnn-gap, each split into `k` shards.
    fn sharded_run(seed: u64, k: usize, steps: usize) -> (Vec<f32>, Vec<f32>) {
        let data = toy_data();
        let mut t = Trainer::new(preset_for("cnn-gap", 28).unwrap(), spec(seed)).unwrap();
        let mut losses = Vec::new();
        for s in 0..steps {
            let idx: Vec<usize> = (0..8).map(|i| (s * 8 + i) % 40).collect();
            let shards = t.plan_step(&idx, k).unwrap();
            let grads = shards
                .iter()
                .map(|shard| t.shard_gradients(&data, shard).unwrap())
                .collect();
            losses.push(t.apply_gradients(grads).unwrap().loss);
        }
        (losses, t.model.params)
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn a_k_shard_run_is_deterministic_and_tracks_one_shard() {
        let one = sharded_run(9, 1, 5);
        assert_eq!(one, run(9, 5), "one shard is exactly train_step");
        let two = sharded_run(9, 2, 5);
        assert_eq!(two, sharded_run(9, 2, 5));
        assert_ne!(two.0, sharded_run(10, 2, 5).0);
        for (a, b) in one.0.iter().zip(&two.0) {
            assert!((a - b).abs() <= 1e-4 * a.abs().max(1.0), "loss {a} vs {b}");
        }
        let worst = one
            .1
            .iter()
            .zip(&two.1)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(worst < 1e-4, "weights differ by {worst} after 5 steps");
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn batchnorm_models_split_as_their_spec_says_and_normalise_per_shard() {
        let data = toy_data();
        let bn = preset_for("resnet-mini", 28).unwrap();
        let spec2 = TrainSpec {
            shards: 2,
            ..spec(4)
        };
        let mut t = Trainer::new(bn.clone(), spec2.clone()).unwrap();
        assert!(t.model.has_batchnorm());
        assert_eq!([t.shards_for(1), t.shards_for(4)], [2, 2]);
        let plain = Trainer::new(preset_for("cnn-gap", 28).unwrap(), spec2.clone()).unwrap();
        assert_eq!([plain.shards_for(1), plain.shards_for(4)], [1, 4]);
        // Per-shard statistics: two shards of 8 are not one batch of 8.
        let idx: Vec<usize> = (0..8).collect();
        let halves = sharded_gradient(&mut t, &data, &idx, 2);
        let mut whole = Trainer::new(bn.clone(), spec2.clone()).unwrap();
        let whole = sharded_gradient(&mut whole, &data, &idx, 1);
        assert!(halves.iter().zip(&whole).any(|(a, b)| (a - b).abs() > 1e-4));
        // Running statistics follow shard 0 alone, whichever shards a model computed.
        let mut a = Trainer::new(bn.clone(), spec2.clone()).unwrap();
        let shards = a.plan_step(&idx, 2).unwrap();
        a.shard_gradients(&data, &shards[0]).unwrap();
        let mut b = Trainer::new(bn, spec2).unwrap();
        let shards = b.plan_step(&idx, 2).unwrap();
        b.shard_gradients(&data, &shards[1]).unwrap();
        b.shard_gradients(&data, &shards[0]).unwrap();
        assert_eq!(a.model.buffers, b.model.buffers);
        assert_ne!(
            a.model.buffers,
            Trainer::new(preset_for("resnet-mini", 28).unwrap(), spec(4))
                .unwrap()
                .model
                .buffers
        );
    }

    #[test]
    fn a_spec_knows_whether_its_model_has_batchnorm() {
        for name in crate::model::PRESETS {
            let spec = preset_for(name, 64).unwrap();
            let model = Model::new(spec.clone(), 0).unwrap();
            assert_eq!(spec.has_batchnorm(), model.has_batchnorm(), "{name}");
        }
        assert!(preset_for("resnet-mini", 64).unwrap().has_batchnorm());
        assert!(!preset_for("cnn-gap", 64).unwrap().has_batchnorm());
    }

    #[test]
    fn shards_must_come_complete_and_in_order() {
        let data = toy_data();
        let mut t = Trainer::new(preset_for("cnn-gap", 28).unwrap(), spec(2)).unwrap();
        let shards = t.plan_step(&[0, 1, 2, 3], 2).unwrap();
        let g0 = t.shard_gradients(&data, &shards[0]).unwrap();
        let g1 = t.shard_gradients(&data, &shards[1]).unwrap();
        let before = t.model.params.clone();
        assert!(t.apply_gradients(vec![g1.clone(), g0.clone()]).is_err());
        let mut short = g1.clone();
        short.grads.pop();
        assert!(t.apply_gradients(vec![g0.clone(), short]).is_err());
        assert_eq!(t.model.params, before);
        t.apply_gradients(vec![g0, g1]).unwrap();
        assert_eq!(t.steps, 1);
    }

    #[test]
    fn nan_weights_report_divergence_instead_of_training_on() {
        let data = toy_data();
        let mut t = Trainer::new(preset_for("cnn-flatten", 28).unwrap(), spec(3)).unwrap();
        t.train_step(&data, &[0, 1, 2]).unwrap();
        let before = t.model.params.clone();
        t.model.params[0] = f32::NAN;
        let err = t.train_step(&data, &[0, 1, 2]).unwrap_err();
        assert!(matches!(err, Error::Diverged { step: 2, .. }), "{err}");
        // The refused step changed no other weight.
        assert_eq!(t.model.params[1..], before[1..]);
    }
}
