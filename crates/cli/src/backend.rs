//! `--backend gpu|cpu|auto`: one training loop and one evaluation over either backend.
//!
//! `auto` takes a hardware GPU when wgpu finds one and the CPU otherwise (a software adapter such
//! as lavapipe is correct but no faster than the CPU backend). If the GPU fails mid-run (device
//! lost, out of memory), training continues on the CPU from the weights last read back.

use std::sync::Arc;

use clap::ValueEnum;
use convplay_compute::Error;
use convplay_compute::data::{CanvasPlacement, Dataset};
use convplay_compute::gpu::{self, GpuContext, GpuInfer, GpuTrainer};
use convplay_compute::metrics::ShiftMap;
use convplay_compute::model::{Model, ModelSpec};
use convplay_compute::train::{
    self, CpuInfer, Evaluation, Progress, ShardScratch, Steps, TrainSpec, Trainer,
};

use crate::common::{CliResult, err};

#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum BackendArg {
    /// A hardware GPU if there is one, else the CPU
    #[default]
    Auto,
    /// wgpu: Vulkan, Metal or DX12 (lavapipe counts)
    Gpu,
    /// The multi-core SIMD CPU backend
    Cpu,
}

pub enum Backend {
    Cpu,
    Gpu(Arc<GpuContext>),
}

impl Backend {
    pub fn choose(arg: BackendArg) -> CliResult<Backend> {
        match arg {
            BackendArg::Cpu => Ok(Backend::Cpu),
            BackendArg::Gpu => Ok(Backend::Gpu(Arc::new(
                GpuContext::new_blocking().map_err(err)?,
            ))),
            BackendArg::Auto => Ok(match GpuContext::new_blocking() {
                Ok(ctx) if !ctx.software => Backend::Gpu(Arc::new(ctx)),
                _ => Backend::Cpu,
            }),
        }
    }

    /// `cpu (avx512)` or `gpu (llvmpipe … (Vulkan))`.
    pub fn name(&self) -> String {
        match self {
            Backend::Cpu => format!("cpu ({})", convplay_compute::cpu::simd::active_isa()),
            Backend::Gpu(ctx) => format!("gpu ({})", ctx.adapter),
        }
    }
}

pub enum AnyTrainer {
    Cpu(Box<Trainer>),
    Gpu(Box<GpuTrainer>),
}

/// `$body` with `$t` bound to whichever trainer `$any` holds.
macro_rules! either {
    ($any:expr, $t:ident => $body:expr) => {
        match $any {
            AnyTrainer::Cpu($t) => $body,
            AnyTrainer::Gpu($t) => $body,
        }
    };
}

impl AnyTrainer {
    pub fn new(backend: &Backend, model: ModelSpec, spec: TrainSpec) -> CliResult<Self> {
        Ok(match backend {
            Backend::Cpu => AnyTrainer::Cpu(Box::new(Trainer::new(model, spec).map_err(err)?)),
            Backend::Gpu(ctx) => AnyTrainer::Gpu(Box::new(
                gpu::block_on(GpuTrainer::new(ctx.clone(), model, spec)).map_err(err)?,
            )),
        })
    }

    pub fn spec(&self) -> &TrainSpec {
        either!(self, t => Steps::spec(&**t))
    }

    /// One epoch ([`train::train_epoch`]) and then the weights. A GPU failure is reported on stderr and the epoch is rerun on
    /// the CPU from the weights read back after the previous epoch.
    pub fn train_epoch(
        &mut self,
        data: &Dataset,
        mut on_step: impl FnMut(&Progress) -> bool,
    ) -> CliResult<Progress> {
        // Epochs finished before this one: the weights last read back are theirs.
        let before = either!(&*self, t => Steps::epoch(&**t));
        let run = either!(self, t => gpu::block_on(async {
            let p = train::train_epoch(&mut **t, data, &mut on_step).await?;
            t.sync_model().await?;
            Ok::<_, Error>(p)
        }));
        match (run, &*self) {
            (Err(Error::Gpu(what)), AnyTrainer::Gpu(t)) => {
                eprintln!(
                    "convplay: {what}; continuing on the CPU from the weights of epoch {before}"
                );
                let mut cpu = Trainer::with_model(t.model.clone(), t.spec.clone()).map_err(err)?;
                cpu.epoch = before;
                let p = cpu.train_epoch(data, on_step).map_err(err)?;
                *self = AnyTrainer::Cpu(Box::new(cpu));
                Ok(p)
            }
            (other, _) => other.map_err(err),
        }
    }

    /// The trained model (read back from the GPU after the last epoch).
    pub fn model(&self) -> &Model {
        either!(self, t => Steps::model(&**t))
    }
}

/// Runs `$body` with `$inf` bound to an [`Infer`] for `model` on `backend`: the one evaluation
/// code on whichever backend was chosen.
macro_rules! with_infer {
    ($backend:expr, $model:expr, $batch:expr, |$inf:ident| $body:expr) => {
        match $backend {
            Backend::Cpu => {
                let mut scratch = ShardScratch::default();
                let $inf = &mut CpuInfer {
                    model: $model,
                    scratch: &mut scratch,
                };
                gpu::block_on($body).map_err(err)
            }
            Backend::Gpu(ctx) => {
                let $inf = &mut GpuInfer::new(ctx.clone(), $model, $batch).map_err(err)?;
                gpu::block_on($body).map_err(err)
            }
        }
    };
}

/// [`train::evaluate`] on the chosen backend.
pub fn evaluate(
    backend: &Backend,
    model: &mut Model,
    data: &Dataset,
    placement: CanvasPlacement,
    batch: usize,
) -> CliResult<Evaluation> {
    with_infer!(backend, model, batch, |inf| train::evaluate(
        inf, data, placement, batch
    ))
}

/// [`train::shift_map`] on the chosen backend.
pub fn shift_map(
    backend: &Backend,
    model: &mut Model,
    data: &Dataset,
    step: usize,
    batch: usize,
    on_cell: impl FnMut(usize, usize),
) -> CliResult<ShiftMap> {
    with_infer!(backend, model, batch, |inf| train::shift_map(
        inf, data, step, batch, on_cell
    ))
}
