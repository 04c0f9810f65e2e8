//! [`GpuRun`]: an [`Experiment`] trained on the GPU. It is [`crate::experiment::Run`] over
//! [`GpuTrainer`]s: the same models, seeds, batches, test sets and [`RunEvent`]s as the CPU run,
//! one bounded unit of work per call. The browser's worker drives it when the page trains on
//! WebGPU.
//!
//! A unit is a burst of training steps of one model (submitted back to back, then their metrics
//! and the model's weights read back once), or one whole evaluation (centred or shifted) of a
//! model that finished an epoch. The caller picks the burst: a few steps on a fast GPU, one on a
//! software adapter, so Pause and Stop wait for little.

use std::sync::Arc;

use super::{GpuContext, GpuTrainer};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::experiment::{Experiment, Run, RunEvent};

/// An experiment's run on the GPU.
pub type GpuRun = Run<GpuTrainer>;

impl Run<GpuTrainer> {
    /// Fresh models for `exp` (the CPU run's initial weights), every buffer allocated on the
    /// device; an experiment that does not fit the device is an error that says so.
    pub async fn on_gpu(ctx: Arc<GpuContext>, exp: &Experiment, train: &Dataset) -> Result<GpuRun> {
        exp.validate()?;
        let mut trainers = Vec::new();
        for spec in &exp.models {
            if exp.train.shards > 1 && spec.has_batchnorm() {
                return Err(Error::InvalidExperiment(format!(
                    "{} has batch norm and this experiment normalises each batch in {} shards; the GPU normalises whole batches: train it on the CPU, or in one shard (Workers 1 in the page)",
                    spec.name, exp.train.shards
                )));
            }
            trainers.push(GpuTrainer::new(ctx.clone(), spec.clone(), exp.train.clone()).await?);
        }
        let mut run = Run::with_trainers(exp, train, trainers)?;
        // A device evaluates a whole placement in one unit: its batches go out back to back.
        run.eval_batches = usize::MAX;
        Ok(run)
    }

    /// Bytes the run holds on the device.
    pub fn gpu_bytes(&self) -> u64 {
        self.trainers().map(|t| t.gpu_bytes()).sum()
    }

    /// Does one unit of work ([`Run::work`]): up to `burst` training steps of the next model,
    /// or one evaluation.
    pub async fn step(
        &mut self,
        train: &Dataset,
        test: &Dataset,
        burst: usize,
    ) -> Result<Vec<RunEvent>> {
        self.work(train, test, burst).await
    }
}
