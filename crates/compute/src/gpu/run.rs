//! [`GpuRun`]: an [`Experiment`] trained on the GPU, as [`crate::experiment::Run`] trains it on
//! the CPU: the same models, seeds, batches and test sets, the same [`RunEvent`]s, one bounded
//! unit of work per call. The browser's worker drives it when the page trains on WebGPU; its
//! events feed the same curves and tables as the CPU run's.
//!
//! A unit is a burst of training steps of one model (submitted back to back, then their metrics
//! and the model's weights read back once), or one evaluation of a model that finished an epoch.
//! The caller picks the burst: a few steps on a fast GPU, one on a software adapter, so Pause
//! and Stop wait for little.

use std::sync::Arc;

use super::{GpuContext, GpuInfer, GpuTrainer};
use crate::data::{CanvasPlacement, Dataset};
use crate::error::{Error, Result};
use crate::experiment::{EpochRun, Experiment, RunEvent, Turns, evaluated, test_len};
use crate::model::Model;
use crate::train::{Evaluation, evaluate};

enum Phase {
    Train(EpochRun),
    /// Evaluating after an epoch, on the test images with the weights read back at its end:
    /// centred, then shifted (the centred result once it is in).
    Eval {
        infer: Box<GpuInfer>,
        images: Dataset,
        centered: Option<Evaluation>,
    },
    Done,
}

struct ModelRun {
    trainer: GpuTrainer,
    phase: Phase,
    images: usize,
}

/// Trains every model of an experiment on the GPU, models taking turns as in
/// [`crate::experiment::Run`]. Each model's results depend only on the experiment.
pub struct GpuRun {
    ctx: Arc<GpuContext>,
    runs: Vec<ModelRun>,
    turns: Turns,
    test_limit: Option<usize>,
    shift_seed: u64,
    /// A `Step` event every this many training steps (and at each epoch's end).
    pub log_every: usize,
    /// Test images per evaluation batch on the device.
    pub eval_batch: usize,
}

impl GpuRun {
    /// Fresh models for `exp` (the CPU run's initial weights), every buffer allocated on the
    /// device; an experiment that does not fit the device is an error that says so.
    pub async fn new(ctx: Arc<GpuContext>, exp: &Experiment, train: &Dataset) -> Result<GpuRun> {
        exp.validate()?;
        let mut runs = Vec::new();
        for spec in &exp.models {
            if exp.train.shards > 1 && spec.has_batchnorm() {
                return Err(Error::InvalidExperiment(format!(
                    "{} has batch norm and this experiment normalises each batch in {} shards; the GPU normalises whole batches: train it on the CPU, or in one shard (Workers 1 in the page)",
                    spec.name, exp.train.shards
                )));
            }
            let mut trainer = GpuTrainer::new(ctx.clone(), spec.clone(), exp.train.clone()).await?;
            let phase = start_epoch(&mut trainer, train);
            runs.push(ModelRun {
                trainer,
                phase,
                images: 0,
            });
        }
        Ok(GpuRun {
            ctx,
            runs,
            turns: Turns::default(),
            test_limit: exp.data.test_limit,
            shift_seed: exp.data.shift_seed,
            log_every: 10,
            eval_batch: 128,
        })
    }

    pub fn is_done(&self) -> bool {
        self.turns.finished()
    }

    /// The models with the weights last read back: after every unit of work.
    pub fn models(&self) -> Vec<&Model> {
        self.runs.iter().map(|r| &r.trainer.model).collect()
    }

    /// Images trained so far, by all models.
    pub fn images(&self) -> usize {
        self.runs.iter().map(|r| r.images).sum()
    }

    /// Bytes the run holds on the device.
    pub fn gpu_bytes(&self) -> u64 {
        self.runs.iter().map(|r| r.trainer.gpu_bytes()).sum()
    }

    /// Does one unit of work for the next model that is not done: up to `burst` training steps
    /// (never past the epoch's end), or one evaluation (centred, then shifted) after an epoch.
    /// `test` is the whole test set; the experiment's `test_limit` applies. Returns the events,
    /// as [`crate::experiment::Run::step`] would for the same steps.
    pub async fn step(
        &mut self,
        train: &Dataset,
        test: &Dataset,
        burst: usize,
    ) -> Result<Vec<RunEvent>> {
        let mut events = Vec::new();
        let Some(i) = self.turns.take(&self.done(), &mut events) else {
            return Ok(events);
        };
        let (log_every, shift_seed) = (self.log_every.max(1), self.shift_seed);
        let r = &mut self.runs[i];
        match &mut r.phase {
            Phase::Train(e) => {
                let batch = r.trainer.spec.batch;
                let mut at = e.pos;
                for _ in 0..burst.max(1) {
                    let indices = e.batch_at(at, batch);
                    if indices.is_empty() {
                        break;
                    }
                    r.trainer.train_step(train, indices)?;
                    at += indices.len();
                }
                let epoch = r.trainer.epoch + 1;
                for st in r.trainer.read_metrics().await? {
                    r.images += st.images;
                    events.extend(e.record(&st, batch, log_every, i, epoch, r.images));
                }
                r.trainer.read_model().await?;
                if e.is_over() {
                    r.trainer.epoch += 1;
                    let model = &r.trainer.model;
                    r.phase = Phase::Eval {
                        infer: Box::new(GpuInfer::new(self.ctx.clone(), model, self.eval_batch)?),
                        images: test.subset(test_len(self.test_limit, test)),
                        centered: None,
                    };
                }
            }
            Phase::Eval {
                infer,
                images,
                centered,
            } => {
                let placement = match centered {
                    None => CanvasPlacement::Centered,
                    Some(_) => CanvasPlacement::Shifted { seed: shift_seed },
                };
                let e = evaluate(&mut **infer, images, placement, self.eval_batch).await?;
                match centered.take() {
                    None => *centered = Some(e),
                    Some(c) => {
                        let epochs = (r.trainer.epoch, r.trainer.spec.epochs);
                        r.phase = if evaluated(&mut events, i, epochs, c, e) {
                            Phase::Done
                        } else {
                            start_epoch(&mut r.trainer, train)
                        };
                    }
                }
            }
            Phase::Done => {}
        }
        let all_done = self.done().iter().all(|&d| d);
        self.turns.settle(all_done, &mut events);
        Ok(events)
    }

    /// Which models are done.
    fn done(&self) -> Vec<bool> {
        self.runs
            .iter()
            .map(|r| matches!(r.phase, Phase::Done))
            .collect()
    }
}

fn start_epoch(trainer: &mut GpuTrainer, train: &Dataset) -> Phase {
    Phase::Train(EpochRun::new(trainer.epoch_order(train)))
}
