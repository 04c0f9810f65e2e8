//! An [`Experiment`]: the models, the data and the training settings of one run, everything a
//! share link carries. [`Experiment::to_fragment`] / [`Experiment::from_link`] are the link codec;
//! [`Run`] trains an experiment in small bounded steps, so the browser's worker and the CLI's
//! `convplay run --link` drive the very same loop and produce the same curves.
//!
//! Link format, version 1: `#e=1.<payload>`, where the payload is the experiment as JSON (a model
//! that equals a preset is written as its name), deflated, in unpadded base64url. A link is
//! untrusted input: its length, its inflated size and everything in it are checked, and every
//! failure is a [`LinkError`] that says what was wrong.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::backend::now;
use crate::data::{CanvasPlacement, Dataset, DatasetKind};
use crate::error::{Error, Result};
use crate::model::{Model, ModelSpec, PRESETS, compile, preset_for};
use crate::train::{
    EpochTally, Evaluation, Evaluator, Shard, ShardGradients, StepStats, Steps, TrainSpec, Trainer,
};

/// The share-link format this code writes (and the only one it reads).
pub const LINK_VERSION: u32 = 1;
/// Longest link accepted, in characters.
pub const MAX_LINK_CHARS: usize = 64 * 1024;
/// Largest inflated experiment JSON accepted, in bytes.
pub const MAX_JSON_BYTES: usize = 1024 * 1024;
/// Most models one experiment compares.
pub const MAX_MODELS: usize = 4;
/// Largest model (parameters) an experiment may build.
pub const MAX_PARAMS: usize = 50_000_000;
/// Largest activation memory of one training batch, in f32 values (≈ 2 GiB).
pub const MAX_BATCH_ACTIVATIONS: usize = 512 * 1024 * 1024;

/// Which data, and how it is tested.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    pub dataset: DatasetKind,
    /// Evaluate on the first `test_limit` test images only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_limit: Option<usize>,
    /// Seed of the shifted test set's offsets.
    #[serde(default)]
    pub shift_seed: u64,
}

impl Default for DataSpec {
    fn default() -> Self {
        DataSpec {
            dataset: DatasetKind::Mnist,
            test_limit: Some(2000),
            shift_seed: 0,
        }
    }
}

/// Models compared side by side, the data, and how each model is trained (the same for all).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    pub models: Vec<ModelSpec>,
    pub data: DataSpec,
    pub train: TrainSpec,
}

impl Default for Experiment {
    /// The lecture's comparison (cnn-flatten vs cnn-gap on the 64×64 canvas, Adam 1e-3, batch
    /// 64) on a budget a browser trains in minutes: one epoch of all 60,000 images, 2,000 test
    /// images. Less data does not show the point: cnn-gap learns slowly at first (measured
    /// natively: 49% centred test accuracy after 20,000 images, 91% after 60,000).
    fn default() -> Self {
        let models = ["cnn-flatten", "cnn-gap"]
            .iter()
            .map(|n| preset_for(n, 64).expect("built-in presets compile"))
            .collect();
        Experiment {
            models,
            data: DataSpec::default(),
            train: TrainSpec::default(),
        }
    }
}

/// Why a link could not be read. The message is meant for the user.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
pub enum LinkError {
    #[error("the link has no experiment in it (expected a fragment like #e={LINK_VERSION}.…)")]
    Missing,
    #[error("the link is {0} characters long; the longest accepted is {MAX_LINK_CHARS}")]
    TooLong(usize),
    #[error("the link's version {0:?} is not a number (expected #e={LINK_VERSION}.…)")]
    BadVersion(String),
    #[error("the link is version {0}, but this convplay reads version {LINK_VERSION} links")]
    UnsupportedVersion(u32),
    #[error("the link is damaged: {0}")]
    Damaged(String),
    #[error("the link's experiment is not valid: {0}")]
    Invalid(String),
}

/// A model in a link: a preset's name when the spec is exactly that preset, else the spec.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum WireModel {
    Preset(String),
    Spec(ModelSpec),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireExperiment {
    models: Vec<WireModel>,
    data: DataSpec,
    train: TrainSpec,
}

impl Experiment {
    /// Checks everything a run needs before any memory is committed: the model count, that each
    /// model compiles, takes the canvas as input and outputs 10 classes, its size, and the
    /// training settings.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidExperiment(m));
        if self.models.is_empty() || self.models.len() > MAX_MODELS {
            return bad(format!(
                "an experiment compares 1 to {MAX_MODELS} models, not {}",
                self.models.len()
            ));
        }
        self.train.validate()?;
        if self.data.test_limit == Some(0) {
            return bad("test_limit must be at least 1 image".into());
        }
        let c = self.train.canvas;
        for (i, spec) in self.models.iter().enumerate() {
            let who = format!("model {} ({})", i + 1, spec.name);
            let graph =
                compile(spec).map_err(|e| Error::InvalidExperiment(format!("{who}: {e}")))?;
            if graph.input != [1, c, c] {
                return bad(format!(
                    "{who} takes input {:?}, but the canvas is {c}×{c} (input [1, {c}, {c}])",
                    graph.input
                ));
            }
            if graph.classes != crate::data::CLASSES {
                return bad(format!(
                    "{who} outputs {} classes; the datasets have {}",
                    graph.classes,
                    crate::data::CLASSES
                ));
            }
            if graph.param_len > MAX_PARAMS {
                return bad(format!(
                    "{who} has {} parameters; the most allowed is {MAX_PARAMS}",
                    graph.param_len
                ));
            }
            let per_image: usize = graph.rows.iter().map(|r| r.activations).sum();
            if per_image.saturating_mul(self.train.batch) > MAX_BATCH_ACTIVATIONS {
                return bad(format!(
                    "{who} needs {per_image} activations per image; a batch of {} would exceed {} GiB",
                    self.train.batch,
                    (MAX_BATCH_ACTIVATIONS * 4) >> 30
                ));
            }
        }
        Ok(())
    }

    /// The link fragment, without the `#`: `e=1.<base64url(deflate(json))>`.
    pub fn to_fragment(&self) -> String {
        let c = self.train.canvas;
        let models = self
            .models
            .iter()
            .map(|m| match preset_for(&m.name, c) {
                Ok(p) if &p == m => WireModel::Preset(m.name.clone()),
                _ => WireModel::Spec(m.clone()),
            })
            .collect();
        let wire = WireExperiment {
            models,
            data: self.data.clone(),
            train: self.train.clone(),
        };
        let json = serde_json::to_vec(&wire).expect("an experiment always serializes");
        let packed = miniz_oxide::deflate::compress_to_vec(&json, 9);
        format!("e={LINK_VERSION}.{}", URL_SAFE_NO_PAD.encode(packed))
    }

    /// Reads an experiment from a full URL, a fragment (`#e=…`) or the bare `e=…` parameter.
    /// Never panics; anything wrong is a [`LinkError`].
    pub fn from_link(link: &str) -> std::result::Result<Experiment, LinkError> {
        let link = link.trim();
        if link.len() > MAX_LINK_CHARS {
            return Err(LinkError::TooLong(link.len()));
        }
        let fragment = match link.find('#') {
            Some(i) => &link[i + 1..],
            None => link,
        };
        let value = fragment
            .split('&')
            .find_map(|p| p.strip_prefix("e="))
            .ok_or(LinkError::Missing)?;
        let (version, payload) = value
            .split_once('.')
            .ok_or_else(|| LinkError::Damaged("no '.' after the version".into()))?;
        let version: u32 = version
            .parse()
            .map_err(|_| LinkError::BadVersion(version.chars().take(16).collect()))?;
        if version != LINK_VERSION {
            return Err(LinkError::UnsupportedVersion(version));
        }
        let packed = URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .map_err(|e| LinkError::Damaged(format!("not base64url ({e})")))?;
        let json = miniz_oxide::inflate::decompress_to_vec_with_limit(&packed, MAX_JSON_BYTES)
            .map_err(|e| match e.status {
                miniz_oxide::inflate::TINFLStatus::HasMoreOutput => LinkError::Damaged(format!(
                    "the experiment is larger than {} KiB",
                    MAX_JSON_BYTES >> 10
                )),
                _ => LinkError::Damaged("the compressed data is corrupt or cut short".into()),
            })?;
        let wire: WireExperiment = serde_json::from_slice(&json)
            .map_err(|e| LinkError::Invalid(format!("cannot read the experiment: {e}")))?;
        let c = wire.train.canvas;
        let models = wire
            .models
            .into_iter()
            .map(|m| match m {
                WireModel::Spec(s) => Ok(s),
                WireModel::Preset(name) => preset_for(&name, c).map_err(|_| {
                    LinkError::Invalid(format!(
                        "unknown preset {:?} (known: {})",
                        name.chars().take(40).collect::<String>(),
                        PRESETS.join(", ")
                    ))
                }),
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let exp = Experiment {
            models,
            data: wire.data,
            train: wire.train,
        };
        exp.validate()
            .map_err(|e| LinkError::Invalid(e.to_string()))?;
        Ok(exp)
    }

    /// The shell command that trains this experiment natively.
    pub fn cli_command(&self) -> String {
        format!("convplay run --link '#{}'", self.to_fragment())
    }
}

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

/// A model's place in its current epoch, kept the same way on either backend
/// ([`Run`], and `gpu::GpuRun`).
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

/// Whose turn it is among a run's models, and whether the run has finished: the same for
/// [`Run`] and `gpu::GpuRun`.
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

/// The test images a run evaluates: the first `test_limit` of `test`.
pub(crate) fn test_len(test_limit: Option<usize>, test: &Dataset) -> usize {
    test_limit.map_or(test.len(), |l| l.min(test.len()))
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

    /// The test images evaluated: the first `test_limit` of `test`.
    pub fn test_len(&self, test: &Dataset) -> usize {
        test_len(self.test_limit, test)
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
        let (eval_batch, test_limit) = (self.eval_batch, self.test_limit);
        let r = &mut self.runs[i];
        if let Phase::Train(e) = &r.phase
            && e.is_over()
        {
            r.trainer.end_epoch();
            // The evaluator stops at the end of the test set it is stepped over.
            r.phase = Phase::Eval {
                evaluator: Box::new(Evaluator::new(
                    r.trainer.model().classes(),
                    CanvasPlacement::Centered,
                    eval_batch,
                    test_limit.unwrap_or(usize::MAX),
                )),
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
        let (eval_batch, batches, shift_seed) =
            (self.eval_batch, self.eval_batches, self.shift_seed);
        let test_len = self.test_len(test);
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
                **evaluator = Evaluator::new(
                    r.trainer.model().classes(),
                    CanvasPlacement::Shifted { seed: shift_seed },
                    eval_batch,
                    test_len,
                );
            }
            Some(c) => {
                let epochs = (r.trainer.epoch(), r.trainer.spec().epochs);
                r.phase = if evaluated(events, i, epochs, c, e) {
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::backend::now;
    use crate::data::toy_dataset;
    use crate::model::LayerSpec;
    use crate::train::evaluate;

    /// Two models on the 28×28 canvas, 36 training images × 2 epochs, 30 test images.
    pub(crate) fn small() -> Experiment {
        let models = ["cnn-flatten", "cnn-gap"]
            .iter()
            .map(|n| preset_for(n, 28).unwrap())
            .collect();
        Experiment {
            models,
            data: DataSpec {
                dataset: DatasetKind::Mnist,
                test_limit: Some(30),
                shift_seed: 5,
            },
            train: TrainSpec {
                epochs: 2,
                batch: 8,
                limit: Some(36),
                canvas: 28,
                seed: 11,
                ..TrainSpec::default()
            },
        }
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn default_experiment_is_valid_and_round_trips_compactly() {
        let e = Experiment::default();
        e.validate().unwrap();
        let f = e.to_fragment();
        assert!(f.starts_with("e=1."), "{f}");
        // Presets travel as names: the whole default experiment fits in a short link.
        assert!(f.len() < 300, "{} chars: {f}", f.len());
        assert_eq!(Experiment::from_link(&f).unwrap(), e);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn reads_urls_fragments_and_bare_parameters() {
        let e = small();
        let f = e.to_fragment();
        for link in [
            f.clone(),
            format!("#{f}"),
            format!("http://127.0.0.1:8080/#{f}"),
            format!("https://example.org/convplay/index.html?x=1#a=2&{f}&b=3"),
            format!("  {f}\n"),
        ] {
            assert_eq!(Experiment::from_link(&link).unwrap(), e, "{link}");
        }
        assert!(e.cli_command().starts_with("convplay run --link '#e=1."));
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn an_edited_model_travels_as_its_spec() {
        let mut e = Experiment::default();
        if let LayerSpec::Conv2d { filters, .. } = &mut e.models[1].layers[0] {
            *filters = 48;
        } else {
            panic!("cnn-gap starts with a conv");
        }
        let back = Experiment::from_link(&e.to_fragment()).unwrap();
        assert_eq!(back, e);
        assert_ne!(back.models[1], preset_for("cnn-gap", 64).unwrap());
    }

    fn packed(json: &str) -> String {
        let z = miniz_oxide::deflate::compress_to_vec(json.as_bytes(), 6);
        format!("e=1.{}", URL_SAFE_NO_PAD.encode(z))
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn bad_links_say_what_is_wrong() {
        let err = |s: &str| Experiment::from_link(s).unwrap_err();
        assert_eq!(err(""), LinkError::Missing);
        assert_eq!(err("http://127.0.0.1:8080/#x=1"), LinkError::Missing);
        assert!(matches!(err("#e=abc.xyz"), LinkError::BadVersion(_)));
        assert_eq!(err("#e=7.AAAA"), LinkError::UnsupportedVersion(7));
        assert!(matches!(err("#e=1"), LinkError::Damaged(_)));
        assert!(matches!(err("#e=1.***"), LinkError::Damaged(_)));
        assert!(matches!(err("#e=1.AAAAAAAA"), LinkError::Damaged(_)));
        assert!(matches!(
            err(&"#e=1.".repeat(20_000)),
            LinkError::TooLong(_)
        ));
        // Valid compression, wrong contents.
        assert!(matches!(err(&packed("[1,2,3]")), LinkError::Invalid(_)));
        let mut json = serde_json::to_value(WireExperiment {
            models: vec![WireModel::Preset("cnn-gap".into())],
            data: DataSpec::default(),
            train: TrainSpec::default(),
        })
        .unwrap();
        json["models"][0] = "no-such-net".into();
        let e = err(&packed(&json.to_string()));
        assert!(
            e.to_string().contains("unknown preset \"no-such-net\""),
            "{e}"
        );
        // A 64×64 model on a 28×28 canvas.
        json["models"][0] = "cnn-gap".into();
        json["train"]["canvas"] = 28.into();
        json["models"][0] = serde_json::to_value(preset_for("cnn-gap", 64).unwrap()).unwrap();
        let e = err(&packed(&json.to_string()));
        assert!(e.to_string().contains("canvas is 28×28"), "{e}");
        json["models"] = serde_json::json!([]);
        let e = err(&packed(&json.to_string()));
        assert!(e.to_string().contains("1 to 4 models"), "{e}");
        // A decompression bomb: 4 MiB of spaces deflate to a few KiB.
        let bomb = format!("{}{}", " ".repeat(4 << 20), json);
        let e = err(&packed(&bomb));
        assert!(e.to_string().contains("larger than 1024 KiB"), "{e}");
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn impossible_experiments_are_refused_before_allocating() {
        let mut e = Experiment::default();
        if let LayerSpec::Conv2d { filters, .. } = &mut e.models[0].layers[2] {
            *filters = 100_000;
        }
        let msg = e.validate().unwrap_err().to_string();
        assert!(msg.contains("model 1 (cnn-flatten)"), "{msg}");
        let mut e = Experiment::default();
        e.train.batch = 4096;
        e.models[0].layers.truncate(1);
        assert!(e.validate().is_err());
    }

    /// Drives a run to the end, collecting its events.
    fn drive(exp: &Experiment, train: &Dataset, test: &Dataset) -> (Run, Vec<RunEvent>) {
        let mut run = Run::new(exp, train).unwrap();
        let mut events = Vec::new();
        for _ in 0..10_000 {
            if run.is_done() {
                break;
            }
            events.extend(run.step(train, test).unwrap());
        }
        assert!(run.is_done());
        (run, events)
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn a_run_trains_every_model_exactly_like_the_trainer() {
        let (train, test) = (toy_dataset(40), toy_dataset(50));
        let exp = small();
        let (run, events) = drive(&exp, &train, &test);
        assert_eq!(events.last(), Some(&RunEvent::Finished));
        for (i, spec) in exp.models.iter().enumerate() {
            // The same model trained by the plain loop ends with bit-identical weights.
            let mut t = Trainer::new(spec.clone(), exp.train.clone()).unwrap();
            for _ in 0..exp.train.epochs {
                t.train_epoch(&train, |_| true).unwrap();
            }
            assert_eq!(run.models()[i].params, t.model.params, "model {i}");
            let evals: Vec<_> = events
                .iter()
                .filter_map(|e| match e {
                    RunEvent::Evaluated {
                        model,
                        epoch,
                        centered,
                        shifted,
                    } if *model == i => Some((*epoch, centered.clone(), shifted.clone())),
                    _ => None,
                })
                .collect();
            assert_eq!(evals.iter().map(|e| e.0).collect::<Vec<_>>(), [1, 2]);
            let sub = test.subset(30);
            let c = now(evaluate(&mut t.infer(), &sub, CanvasPlacement::Centered, 7))
                .unwrap()
                .unwrap();
            let (_, centered, shifted) = evals.last().unwrap();
            assert_eq!(centered.confusion, c.confusion);
            assert_eq!(centered.confusion.total(), 30);
            assert!((centered.loss - c.loss).abs() < 1e-5);
            assert_eq!(shifted.placement, CanvasPlacement::Shifted { seed: 5 });
            // Steps: 36 images / batch 8 = 5 steps per epoch; logged at step 5 (epoch end).
            let steps: Vec<_> = events
                .iter()
                .filter_map(|e| match e {
                    RunEvent::Step {
                        model,
                        epoch,
                        step,
                        steps_per_epoch,
                        images,
                        ..
                    } if *model == i => Some((*epoch, *step, *steps_per_epoch, *images)),
                    _ => None,
                })
                .collect();
            assert_eq!(steps, [(1, 5, 5, 36), (2, 5, 5, 72)]);
            assert!(events.contains(&RunEvent::ModelFinished { model: i }));
        }
        // Models take turns: model 1's first step comes before model 0's second.
        assert!(run.trainers().all(|t| t.epoch == 2));
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn the_same_link_gives_the_same_run() {
        let (train, test) = (toy_dataset(40), toy_dataset(30));
        let exp = small();
        let back = Experiment::from_link(&exp.to_fragment()).unwrap();
        let (_, a) = drive(&exp, &train, &test);
        let (_, b) = drive(&back, &train, &test);
        assert_eq!(a, b);
        let mut other = exp.clone();
        other.train.seed += 1;
        let (_, c) = drive(&other, &train, &test);
        assert_ne!(a, c);
    }

    #[cfg(not(target_arch = "wasm32"))]
    mod properties {
        use super::*;
        use crate::optim::OptimizerSpec;
        use proptest::prelude::*;

        fn experiment() -> impl Strategy<Value = Experiment> {
            let names = prop::sample::subsequence(PRESETS.to_vec(), 1..=PRESETS.len().min(4));
            (
                names,
                prop::bool::ANY,
                prop::option::of(1usize..200),
                (1usize..50, 1usize..300, 1e-6f32..1.0, any::<u64>()),
                (prop::option::of(1usize..70_000), prop::bool::ANY),
                (prop::option::of(1usize..10_000), any::<u64>(), 0usize..10),
                (prop::bool::ANY, 0.0f32..0.99),
            )
                .prop_map(
                    |(
                        names,
                        big,
                        filters,
                        (epochs, batch, lr, seed),
                        (limit, fashion),
                        (tl, ss, shift),
                        (sgd, m),
                    )| {
                        let canvas = if big { 64 } else { 28 };
                        let mut models: Vec<ModelSpec> = names
                            .iter()
                            .map(|n| preset_for(n, canvas).unwrap())
                            .collect();
                        if let (Some(f), Some(LayerSpec::Conv2d { filters, .. })) =
                            (filters, models[0].layers.first_mut())
                        {
                            *filters = f;
                        }
                        Experiment {
                            models,
                            data: DataSpec {
                                dataset: if fashion {
                                    DatasetKind::FashionMnist
                                } else {
                                    DatasetKind::Mnist
                                },
                                test_limit: tl,
                                shift_seed: ss,
                            },
                            train: TrainSpec {
                                epochs,
                                batch,
                                optimizer: if sgd {
                                    OptimizerSpec::Sgd {
                                        lr,
                                        momentum: m,
                                        weight_decay: 0.0,
                                        nesterov: false,
                                    }
                                } else {
                                    OptimizerSpec::adam(lr)
                                },
                                seed,
                                limit,
                                canvas,
                                train_shift: shift,
                                shards: 1,
                            },
                        }
                    },
                )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            #[test]
            fn encode_then_decode_is_the_identity(e in experiment()) {
                prop_assume!(e.validate().is_ok());
                prop_assert_eq!(Experiment::from_link(&e.to_fragment()).unwrap(), e);
            }

            #[test]
            fn arbitrary_strings_never_panic(s in ".{0,300}") {
                let _ = Experiment::from_link(&s);
                let _ = Experiment::from_link(&format!("#e=1.{s}"));
            }

            #[test]
            fn arbitrary_payloads_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
                let _ = Experiment::from_link(&format!("e=1.{}", URL_SAFE_NO_PAD.encode(&bytes)));
                let z = miniz_oxide::deflate::compress_to_vec(&bytes, 1);
                let _ = Experiment::from_link(&format!("e=1.{}", URL_SAFE_NO_PAD.encode(z)));
            }

            #[test]
            fn damaged_links_never_panic(e in experiment(), cut in 0usize..1000, flip in 0usize..1000) {
                let f = e.to_fragment();
                let _ = Experiment::from_link(&f[..cut.min(f.len())]);
                let mut b = f.into_bytes();
                let i = 4 + flip % (b.len() - 4);
                b[i] = if b[i] == b'A' { b'B' } else { b'A' };
                let _ = Experiment::from_link(&String::from_utf8(b).unwrap());
            }
        }
    }
}
