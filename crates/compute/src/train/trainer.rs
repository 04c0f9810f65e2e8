//! [`Trainer`]: one model trained on the CPU, a step at a time or an epoch at a time.

use super::*;
use crate::cpu::elementwise;
use crate::cpu::profile::{self, Family};
use crate::data::{Dataset, Label};
use crate::error::{Error, Result};
use crate::model::{Model, ModelSpec};
use crate::optim::Optimizer;

/// Trains one model.
pub struct Trainer {
    pub model: Model,
    pub optimizer: Optimizer,
    pub spec: TrainSpec,
    pub epoch: usize,
    pub steps: u64,
    scratch: ShardScratch,
    /// Steps submitted through [`Steps::submit`] whose figures were not yet taken.
    done: Vec<StepStats>,
    /// The plan of a step computed in one shard here, reused from step to step.
    whole: Shard,
    streams: Streams,
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
        Self::start(model, spec)
    }

    /// A trainer at step 0 with a fresh optimizer, for a model and spec already checked.
    fn start(model: Model, spec: TrainSpec) -> Result<Self> {
        let optimizer = Optimizer::new(spec.optimizer, model.param_count())?;
        Ok(Self {
            optimizer,
            epoch: 0,
            steps: 0,
            scratch: ShardScratch::default(),
            done: Vec::new(),
            whole: Shard::reusable(),
            streams: Streams::new(spec.seed),
            model,
            spec,
        })
    }

    /// Trains `model` on image data ([`Trainer::train_on`]): any input shape and class count,
    /// no canvas. `spec`'s batch, optimizer and seed apply; its canvas and shifts do not.
    pub fn for_images(model: Model, spec: TrainSpec) -> Result<Self> {
        spec.validate()?;
        Self::start(model, spec)
    }

    /// One optimizer step on a ready batch: `x` is `[n, c, h, w]` as the model's input, `labels`
    /// its `n` classes. Refuses a non-finite step as [`Trainer::train_step`] does.
    pub fn train_on(&mut self, x: &[f32], labels: &[Label]) -> Result<StepStats> {
        let step = self.steps + 1;
        let n = labels.len();
        if n == 0 || x.len() != n * self.model.input_len() {
            return Err(Error::ShapeMismatch {
                op: "train_on",
                expected: format!("{n} inputs of {} values", self.model.input_len()),
                got: format!("{} values", x.len()),
            });
        }
        self.check_weights(step)?;
        let mut shard = std::mem::replace(&mut self.whole, Shard::reusable());
        self.plan_whole(&mut shard, step, n);
        shard.images.clear();
        shard.images.extend(0..n);
        shard.offsets.clear();
        shard.offsets.resize(n, (0, 0));
        self.scratch.x.clear();
        self.scratch.x.extend_from_slice(x);
        self.scratch.y.clear();
        self.scratch.y.extend_from_slice(labels);
        let stats = super::shards::batch_gradients(&mut self.model, &mut self.scratch, &shard);
        self.whole = shard;
        self.finish_step(stats?)
    }

    /// Fills the trainer's reusable plan (taken out of `self.whole`, and put back once the shard
    /// is computed) as the one shard of step `step` of `n` images, the step's dropout generator
    /// drawn; its images and offsets are the caller's to fill.
    fn plan_whole(&mut self, shard: &mut Shard, step: u64, n: usize) {
        shard.step = step;
        shard.index = 0;
        shard.first = 0;
        shard.batch = n;
        shard.dropout = self.draw_dropout();
    }

    /// Ends a step whose gradients (the batch's mean) are in the model and were found finite
    /// with its loss (by `batch_gradients` for one shard, by [`Trainer::apply_gradients`] for
    /// their sum): steps the optimizer.
    fn finish_step(&mut self, stats: ShardStats) -> Result<StepStats> {
        let _p = profile::call(Family::Optimizer);
        let loss = (stats.loss_sum / stats.images.max(1) as f64) as f32;
        self.optimizer
            .step(&mut self.model.params, &self.model.grads)?;
        self.steps += 1;
        Ok(StepStats {
            loss,
            correct: stats.correct,
            images: stats.images,
        })
    }

    /// A step on weights that are not all finite is refused ([`Error::Diverged`]).
    fn check_weights(&self, step: u64) -> Result<()> {
        let _p = profile::call(Family::Optimizer);
        if !all_finite(&self.model.params) {
            return Err(Error::Diverged {
                step,
                loss: f32::NAN,
            });
        }
        Ok(())
    }

    /// The dropout stream of the next step, and the run's stream moved past its draws.
    fn draw_dropout(&mut self) -> crate::rng::Rng {
        let dropout = self.streams.dropout.clone();
        for _ in 0..self.model.dropout_draws() {
            self.streams.dropout.next_u64();
        }
        dropout
    }

    /// The model's evaluation-mode forward on the CPU, with the trainer's own buffers.
    pub fn infer(&mut self) -> super::eval::CpuInfer<'_> {
        super::eval::CpuInfer {
            model: &mut self.model,
            scratch: &mut self.scratch,
        }
    }

    /// The next epoch's training images, shuffled by the run's shuffle stream.
    pub fn epoch_order(&mut self, data: &Dataset) -> Vec<usize> {
        self.streams.epoch_order(&self.spec, data)
    }

    /// One optimizer step on the images `indices` of `data`: the step's shards (one, or
    /// `spec.shards` for a model with batch norm) computed here, one after the other.
    /// A step whose loss, gradients or weights are not finite is refused with
    /// [`Error::Diverged`] and leaves the weights as they were.
    pub fn train_step(&mut self, data: &Dataset, indices: &[usize]) -> Result<StepStats> {
        if self.shards_for(1) == 1 {
            return self.train_whole_step(data, indices);
        }
        let shards = self.plan_step(indices, self.shards_for(1))?;
        let grads = shards
            .iter()
            .map(|shard| self.shard_gradients(data, shard))
            .collect::<Result<Vec<_>>>()?;
        self.apply_gradients(grads)
    }

    /// [`Trainer::train_step`] in one shard, as [`Trainer::plan_step`] would plan it (the same
    /// draws from the same streams), computed in place on the trainer's reused plan: a
    /// warmed-up step allocates nothing.
    fn train_whole_step(&mut self, data: &Dataset, indices: &[usize]) -> Result<StepStats> {
        let step = self.steps + 1;
        self.check_weights(step)?;
        if indices.is_empty() {
            return Err(Error::InvalidTrainSpec(
                "a training step needs images".into(),
            ));
        }
        let mut shard = std::mem::replace(&mut self.whole, Shard::reusable());
        if let Err(e) = self
            .streams
            .offsets_into(&self.spec, indices, &mut shard.offsets)
        {
            self.whole = shard;
            return Err(e);
        }
        self.plan_whole(&mut shard, step, indices.len());
        shard.images.clear();
        shard.images.extend_from_slice(indices);
        let stats = shard_gradients(&mut self.model, &mut self.scratch, data, &shard);
        self.whole = shard;
        self.finish_step(stats?)
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
        self.check_weights(step)?;
        if indices.is_empty() {
            return Err(Error::InvalidTrainSpec(
                "a training step needs images".into(),
            ));
        }
        let offsets = self.streams.offsets(&self.spec, indices)?;
        let dropout = self.draw_dropout();
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
        let summing = profile::call(Family::Optimizer);
        let step = self.steps + 1;
        let mut total = ShardStats {
            index: 0,
            loss_sum: 0.0,
            correct: 0,
            images: 0,
        };
        for (i, shard) in shards.into_iter().enumerate() {
            total.loss_sum += shard.stats.loss_sum;
            total.correct += shard.stats.correct;
            total.images += shard.stats.images;
            if i == 0 {
                self.model.grads = shard.grads;
            } else {
                elementwise::add_assign(&mut self.model.grads, &shard.grads);
            }
        }
        // Finite shards can still sum to an infinity.
        let loss = (total.loss_sum / total.images.max(1) as f64) as f32;
        if !loss.is_finite() || !all_finite(&self.model.grads) {
            return Err(Error::Diverged { step, loss });
        }
        drop(summing);
        self.finish_step(total)
    }

    /// One pass over the (limited, shuffled) training set ([`train_epoch`]).
    pub fn train_epoch(
        &mut self,
        data: &Dataset,
        on_step: impl FnMut(&Progress) -> bool,
    ) -> Result<Progress> {
        crate::backend::now(train_epoch(self, data, on_step))?
    }
}

impl Steps for Trainer {
    type Infer<'a> = CpuInfer<'a>;

    fn spec(&self) -> &TrainSpec {
        &self.spec
    }

    fn epoch(&self) -> usize {
        self.epoch
    }

    fn end_epoch(&mut self) {
        self.epoch += 1;
    }

    fn epoch_order(&mut self, data: &Dataset) -> Vec<usize> {
        Trainer::epoch_order(self, data)
    }

    fn submit(&mut self, data: &Dataset, indices: &[usize]) -> Result<()> {
        let st = self.train_step(data, indices)?;
        self.done.push(st);
        Ok(())
    }

    async fn finished(&mut self) -> Result<Vec<StepStats>> {
        Ok(std::mem::take(&mut self.done))
    }

    async fn sync_model(&mut self) -> Result<()> {
        Ok(())
    }

    fn model(&self) -> &Model {
        &self.model
    }

    fn infer(&mut self, _batch: usize) -> Result<CpuInfer<'_>> {
        Ok(Trainer::infer(self))
    }

    fn sync_every(&self) -> usize {
        1
    }
}
