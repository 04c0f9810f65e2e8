//! [`Run`]: an experiment trained in bounded units of work, with the events the page and the
//! CLI show, on any backend's trainer.

use serde::{Deserialize, Serialize};

use super::*;
use crate::backend::now;
use crate::data::{CanvasPlacement, Dataset};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::train::{
    EpochTally, Evaluation, Evaluator, Shard, ShardGradients, StepStats, Steps, Trainer,
};

/// What a [`Run`] reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RunEvent {
    /// Running training figures of the current epoch (dropout on), every `log_every` steps and
    /// at each epoch's end.
    Step {
        model: usize,
        /// 1-based.
        epoch: usize,
        /// 1-based, within the epoch.
        step: usize,
        steps_per_epoch: usize,
        /// Images trained on so far in this run, by this model.
        images: usize,
        /// Mean loss over the epoch so far.
        loss: f32,
        /// Accuracy over the epoch so far.
        accuracy: f32,
    },
    /// Test results after an epoch: centred and shifted placements.
    Evaluated {
        model: usize,
        epoch: usize,
        centered: Evaluation,
        shifted: Evaluation,
    },
    /// A model finished all its epochs.
    ModelFinished { model: usize },
    /// Every model finished.
    Finished,
}

/// What [`Run::begin_step`] found to do.
#[derive(Debug)]
pub enum Begun {
    /// Work done in place (an evaluation batch, or the end of the run), with its events.
    Done(Vec<RunEvent>),
    /// A training step of model `model`, split into `shards`. Compute every shard (with
    /// [`Run::shard_gradients`], or with [`crate::train::shard_gradients`] on a copy of the
    /// model's weights elsewhere), then hand the results to [`Run::finish_step`].
    Train { model: usize, shards: Vec<Shard> },
}

/// A model's place in its current epoch.
pub(crate) struct EpochRun {
    /// The epoch's training images, shuffled.
    pub(crate) order: Vec<usize>,
    /// How many of them the steps done so far took.
    pub(crate) pos: usize,
    step: usize,
    tally: EpochTally,
}

impl EpochRun {
    pub(crate) fn new(order: Vec<usize>) -> Self {
        EpochRun {
            order,
            pos: 0,
            step: 0,
            tally: EpochTally::default(),
        }
    }

    /// The images of the step that starts `from` images into the epoch.
    pub(crate) fn batch_at(&self, from: usize, batch: usize) -> &[usize] {
        let from = from.min(self.order.len());
        &self.order[from..(from + batch).min(self.order.len())]
    }

    pub(crate) fn is_over(&self) -> bool {
        self.pos >= self.order.len()
    }

    /// Counts a finished step of model `model` (in its 1-based `epoch`, `images` trained in
    /// all); returns its `Step` event when one is due: every `log_every` steps and at the end.
    pub(crate) fn record(
        &mut self,
        st: &StepStats,
        batch: usize,
        log_every: usize,
        model: usize,
        epoch: usize,
        images: usize,
    ) -> Option<RunEvent> {
        self.pos = (self.pos + batch).min(self.order.len());
        self.step += 1;
        self.tally.add(st);
        (self.is_over() || self.step.is_multiple_of(log_every.max(1))).then(|| RunEvent::Step {
            model,
            epoch,
            step: self.step,
            steps_per_epoch: self.order.len().div_ceil(batch),
            images,
            loss: self.tally.loss(),
            accuracy: self.tally.accuracy(),
        })
    }
}

/// Whose turn it is among a run's models, and whether the run has finished.
#[derive(Clone, Default)]
pub(crate) struct Turns {
    next: usize,
    finished: bool,
}

impl Turns {
    pub(crate) fn finished(&self) -> bool {
        self.finished
    }

    /// The next model to take a turn: the first from the last one's successor on, cycling,
    /// that is not `done`. `None` once every model is done, the first time with `Finished`.
    pub(crate) fn take(&mut self, done: &[bool], events: &mut Vec<RunEvent>) -> Option<usize> {
        let n = done.len();
        let next = self.next;
        match (0..n).map(|k| (next + k) % n).find(|&k| !done[k]) {
            Some(i) if !self.finished => {
                self.next = (i + 1) % n;
                Some(i)
            }
            _ => {
                self.settle(true, events);
                None
            }
        }
    }

    /// Marks the run finished, with `Finished`, once `all_done` first holds.
    pub(crate) fn settle(&mut self, all_done: bool, events: &mut Vec<RunEvent>) {
        if all_done && !self.finished {
            self.finished = true;
            events.push(RunEvent::Finished);
        }
    }
}

/// Reports model `model`'s evaluation after `epoch` of `epochs`; returns whether the model is
/// done (then `ModelFinished` follows).
pub(crate) fn evaluated(
    events: &mut Vec<RunEvent>,
    model: usize,
    (epoch, epochs): (usize, usize),
    centered: Evaluation,
    shifted: Evaluation,
) -> bool {
    events.push(RunEvent::Evaluated {
        model,
        epoch,
        centered,
        shifted,
    });
    let done = epoch >= epochs;
    if done {
        events.push(RunEvent::ModelFinished { model });
    }
    done
}

enum Phase {
    Train(EpochRun),
    Eval {
        evaluator: Box<Evaluator>,
        centered: Option<Evaluation>,
    },
    Done,
}

struct ModelRun<T> {
    trainer: T,
    phase: Phase,
    images: usize,
}

/// Trains every model of an experiment, one bounded unit of work per step: a burst of training
/// steps of one model, or a few evaluation batches. Models take turns, so their curves grow
/// together. Each model's result depends only on the experiment, not on the turn order or the
/// burst. `T` is the backend's trainer: [`Trainer`] on the CPU (`Run`), `gpu::GpuTrainer` on
/// the GPU (`gpu::GpuRun`); the run itself is written once.
pub struct Run<T = Trainer> {
    runs: Vec<ModelRun<T>>,
    turns: Turns,
    test_limit: Option<usize>,
    shift_seed: u64,
    /// A `Step` event is sent every this many training steps (and at each epoch's end).
    pub log_every: usize,
    /// Test images per evaluation batch.
    pub eval_batch: usize,
    /// Evaluation batches per unit of work.
    pub eval_batches: usize,
}

impl<T: Steps> Run<T> {
    /// A run of `exp` over its models' trainers, one per model in order, freshly built.
    pub fn with_trainers(exp: &Experiment, train: &Dataset, trainers: Vec<T>) -> Result<Self> {
        if trainers.len() != exp.models.len() {
            return Err(Error::InvalidExperiment(format!(
                "{} trainers for {} models",
                trainers.len(),
                exp.models.len()
            )));
        }
        let runs = trainers
            .into_iter()
            .map(|mut trainer| ModelRun {
                phase: start_epoch(&mut trainer, train),
                trainer,
                images: 0,
            })
            .collect();
        Ok(Run {
            runs,
            turns: Turns::default(),
            test_limit: exp.data.test_limit,
            shift_seed: exp.data.shift_seed,
            log_every: 10,
            eval_batch: 128,
            eval_batches: 1,
        })
    }

    pub fn is_done(&self) -> bool {
        self.turns.finished()
    }

    /// The models, with the weights as last synchronised (after every unit of work).
    pub fn models(&self) -> Vec<&Model> {
        self.runs.iter().map(|r| r.trainer.model()).collect()
    }

    /// Images trained so far, by all models.
    pub fn images(&self) -> usize {
        self.runs.iter().map(|r| r.images).sum()
    }

    pub fn trainers(&self) -> impl Iterator<Item = &T> {
        self.runs.iter().map(|r| &r.trainer)
    }

    /// Does one unit of work for the next model that is not done: up to `burst` training steps
    /// (never past the epoch's end; then the weights are synchronised), or up to
    /// `eval_batches` evaluation batches (centred, then shifted) after an epoch. `test` is the
    /// whole test set (the run applies the experiment's `test_limit`). Returns the events.
    pub async fn work(
        &mut self,
        train: &Dataset,
        test: &Dataset,
        burst: usize,
    ) -> Result<Vec<RunEvent>> {
        let mut events = Vec::new();
        let Some(i) = self.turns.take(&self.done(), &mut events) else {
            return Ok(events);
        };
        let log_every = self.log_every.max(1);
        let r = &mut self.runs[i];
        match &mut r.phase {
            Phase::Train(e) => {
                let batch = r.trainer.spec().batch;
                let mut at = e.pos;
                for _ in 0..burst.max(1) {
                    let indices = e.batch_at(at, batch);
                    if indices.is_empty() {
                        break;
                    }
                    r.trainer.submit(train, indices)?;
                    at += indices.len();
                }
                let epoch = r.trainer.epoch() + 1;
                for st in r.trainer.finished().await? {
                    r.images += st.images;
                    events.extend(e.record(&st, batch, log_every, i, epoch, r.images));
                }
                r.trainer.sync_model().await?;
                self.after_step(i);
            }
            Phase::Eval { .. } => self.evaluate(i, train, test, &mut events).await?,
            Phase::Done => {}
        }
        self.check_finished(&mut events);
        Ok(events)
    }

    /// After a training step of model `i`: at the epoch's end, its evaluation comes next.
    fn after_step(&mut self, i: usize) {
        let (eval_batch, limit) = (self.eval_batch, self.test_limit);
        let r = &mut self.runs[i];
        if let Phase::Train(e) = &r.phase
            && e.is_over()
        {
            r.trainer.end_epoch();
            let classes = r.trainer.model().classes();
            r.phase = Phase::Eval {
                evaluator: test_evaluator(classes, CanvasPlacement::Centered, eval_batch, limit),
                centered: None,
            };
        }
    }

    /// A few batches of model `i`'s evaluation after an epoch: centred, then shifted; then the
    /// next epoch or the end.
    async fn evaluate(
        &mut self,
        i: usize,
        train: &Dataset,
        test: &Dataset,
        events: &mut Vec<RunEvent>,
    ) -> Result<()> {
        let (eval_batch, batches) = (self.eval_batch, self.eval_batches);
        let (limit, seed) = (self.test_limit, self.shift_seed);
        let r = &mut self.runs[i];
        let Phase::Eval {
            evaluator,
            centered,
        } = &mut r.phase
        else {
            return Ok(());
        };
        let done = {
            let mut inf = r.trainer.infer(eval_batch)?;
            evaluator.step(&mut inf, test, batches).await?
        };
        let Some(e) = done else {
            return Ok(());
        };
        match centered.take() {
            None => {
                *centered = Some(e);
                let classes = r.trainer.model().classes();
                let placement = CanvasPlacement::Shifted { seed };
                *evaluator = test_evaluator(classes, placement, eval_batch, limit);
            }
            Some(c) => {
                let epochs = (r.trainer.epoch(), r.trainer.spec().epochs);
                r.phase = if evaluated(events, i, epochs, c, e) {
                    // A finished model evaluates no more: a GPU run gives its evaluation
                    // buffers back now, not when the run is dropped.
                    r.trainer.release_infer();
                    Phase::Done
                } else {
                    start_epoch(&mut r.trainer, train)
                };
            }
        }
        Ok(())
    }

    /// Which models are done.
    fn done(&self) -> Vec<bool> {
        self.runs
            .iter()
            .map(|r| matches!(r.phase, Phase::Done))
            .collect()
    }

    fn check_finished(&mut self, events: &mut Vec<RunEvent>) {
        let all_done = self.done().iter().all(|&d| d);
        self.turns.settle(all_done, events);
    }
}

/// An evaluation on a run's test images (the first `test_limit` of the test set it is stepped
/// over) placed by `placement`.
fn test_evaluator(
    classes: usize,
    placement: CanvasPlacement,
    batch: usize,
    test_limit: Option<usize>,
) -> Box<Evaluator> {
    let len = test_limit.unwrap_or(usize::MAX);
    Box::new(Evaluator::new(classes, placement, batch, len))
}

fn start_epoch<T: Steps>(trainer: &mut T, train: &Dataset) -> Phase {
    Phase::Train(EpochRun::new(trainer.epoch_order(train)))
}

/// The CPU run: a unit of work at a time, here and now, or a training step handed out as shards
/// to gradient workers ([`Run::begin_step`], [`Run::finish_step`]).
impl Run<Trainer> {
    pub fn new(exp: &Experiment, train: &Dataset) -> Result<Run> {
        exp.validate()?;
        let trainers = exp
            .models
            .iter()
            .map(|spec| Trainer::new(spec.clone(), exp.train.clone()))
            .collect::<Result<Vec<_>>>()?;
        Run::with_trainers(exp, train, trainers)
    }

    pub fn model_mut(&mut self, i: usize) -> Option<&mut Model> {
        self.runs.get_mut(i).map(|r| &mut r.trainer.model)
    }

    /// Does one unit of work for the next model that is not done, here and now: one training
    /// step, computed shard after shard, or one evaluation batch. Returns the events it produced.
    pub fn step(&mut self, train: &Dataset, test: &Dataset) -> Result<Vec<RunEvent>> {
        now(self.work(train, test, 1))?
    }

    /// Starts one unit of work for the next model that is not done. An evaluation batch is
    /// done at once; a training step is planned for `workers` workers and handed back as
    /// shards, to be finished by [`Run::finish_step`] before the run is stepped again.
    pub fn begin_step(&mut self, train: &Dataset, test: &Dataset, workers: usize) -> Result<Begun> {
        let done = self.done();
        let mut turns = self.turns.clone();
        let mut events = Vec::new();
        if let Some(i) = turns.take(&done, &mut events)
            && let r = &mut self.runs[i]
            && let Phase::Train(e) = &r.phase
        {
            let indices = e.batch_at(e.pos, r.trainer.spec.batch).to_vec();
            self.turns = turns;
            let shards = r.trainer.shards_for(workers);
            let shards = r.trainer.plan_step(&indices, shards)?;
            return Ok(Begun::Train { model: i, shards });
        }
        Ok(Begun::Done(self.step(train, test)?))
    }

    /// Computes one shard of model `model`'s planned step with the run's own copy of the model.
    pub fn shard_gradients(
        &mut self,
        train: &Dataset,
        model: usize,
        shard: &Shard,
    ) -> Result<ShardGradients> {
        self.runs
            .get_mut(model)
            .ok_or_else(|| Error::InvalidExperiment(format!("there is no model {model}")))?
            .trainer
            .shard_gradients(train, shard)
    }

    /// Ends model `model`'s planned step with the gradients of all its shards, in shard order.
    pub fn finish_step(
        &mut self,
        model: usize,
        grads: Vec<ShardGradients>,
    ) -> Result<Vec<RunEvent>> {
        let mut events = Vec::new();
        let log_every = self.log_every.max(1);
        let Some(r) = self.runs.get_mut(model) else {
            return Err(Error::InvalidExperiment(format!(
                "there is no model {model}"
            )));
        };
        let Phase::Train(e) = &mut r.phase else {
            return Err(Error::InvalidExperiment(format!(
                "model {model} has no training step in progress"
            )));
        };
        let batch = r.trainer.spec.batch;
        let st = r.trainer.apply_gradients(grads)?;
        r.images += st.images;
        let epoch = r.trainer.epoch + 1;
        events.extend(e.record(&st, batch, log_every, model, epoch, r.images));
        self.after_step(model);
        self.check_finished(&mut events);
        Ok(events)
    }
}
