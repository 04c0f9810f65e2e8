//! The worker's state and what it answers to each command, with no browser in it: the datasets,
//! the models, the training run and the shift-map job. The worker bin fetches the data, moves
//! messages and calls [`Engine::work`] in slices between which it yields to its event loop;
//! everything here is tested natively and in the browser.
//!
//! One file per job: [`run`] (the training run on the CPU or the GPU), [`shift`] (the
//! accuracy-by-shift maps), [`models`] (predictions, feature maps, random digits) and
//! [`weights_io`] (export and import); this file holds the engine's state and its settings.
//! Failures are [`WorkerError`]s; the worker bin turns them into `FromWorker::Error` messages.

use std::rc::Rc;
use std::sync::Arc;

use convplay_compute::data::{CanvasPlacement, Dataset, DatasetKind};
use convplay_compute::error::Error;
use convplay_compute::gpu::{GpuContext, GpuRun};
use convplay_compute::metrics::ShiftMap;
use convplay_compute::model::Model;
use convplay_compute::rng::Rng;
use convplay_compute::train::{
    CpuInfer, Evaluator, Shard, ShardGradients, ShardScratch, initial_model,
};
use convplay_compute::{cpu::simd, weights};

use crate::experiment::{Begun, Experiment, Run, RunEvent};
use crate::protocol::{
    BackendInfo, Device, FromWorker, GpuStatus, Image, RunState, StepReport, WorkerMemory,
};
use crate::worker::error::WorkerError;
use crate::worker::inspect;

mod models;
mod run;
mod shift;
#[cfg(test)]
mod tests;
mod weights_io;

pub use run::{GpuDone, GpuJob, PendingStep, Work};
use run::{GpuWork, RunSlot, Seen};
use shift::ShiftJob;

/// The worker's backend: wasm with or without the simd128 instructions, as this binary was
/// compiled (`-C target-feature=+simd128`), and the instruction set the CPU kernels chose.
pub fn backend_info() -> BackendInfo {
    let backend = if cfg!(target_feature = "simd128") {
        "wasm-simd128"
    } else {
        "wasm-scalar"
    };
    BackendInfo {
        backend: backend.to_string(),
        isa: simd::active_isa().to_string(),
    }
}

/// Both splits of one dataset.
pub struct Data {
    pub kind: DatasetKind,
    pub train: Dataset,
    pub test: Dataset,
}

/// A curve point every other step; the figures are the CLI's at the same steps.
const LOG_EVERY: usize = 2;

#[derive(Default)]
pub struct Engine {
    data: Option<Rc<Data>>,
    /// The current run, on the CPU or the GPU.
    run: Option<RunSlot>,
    /// The WebGPU device, once the worker has opened one.
    gpu: Option<Arc<GpuContext>>,
    /// Where the next run trains.
    device: Device,
    /// Whether the page chose the device (else the engine picks one when WebGPU turns up).
    device_chosen: bool,
    /// Training steps per unit of GPU work, adapted to the device's speed.
    burst: usize,
    /// Counts runs started, so a late step of an old run is recognised.
    runs: u64,
    /// The models when no CPU run holds them: fresh from `prepare`, imported, or the weights a
    /// GPU run last read back.
    models: Vec<Model>,
    /// Whether `models` (or the run's) are worth keeping over fresh ones.
    trained: bool,
    state: Option<RunState>,
    images: u64,
    seconds: f64,
    seen: Seen,
    shift: Option<ShiftJob>,
    shift_turn: bool,
    rng: Option<Rng>,
}

impl Engine {
    pub fn data_kind(&self) -> Option<DatasetKind> {
        self.data.as_ref().map(|d| d.kind)
    }

    /// `(train, test)` image counts of the loaded data.
    pub fn data_sizes(&self) -> Option<(usize, usize)> {
        self.data.as_ref().map(|d| (d.train.len(), d.test.len()))
    }

    pub fn set_data(&mut self, data: Data) {
        self.data = Some(Rc::new(data));
    }

    /// Takes the WebGPU device the worker opened: the next runs train on it unless the page
    /// chose the CPU, or the adapter is a software one (slower than wasm SIMD). Answers with
    /// what the page shows.
    pub fn set_gpu(&mut self, ctx: Arc<GpuContext>) -> Vec<FromWorker> {
        let status = GpuStatus::Ready {
            adapter: ctx.adapter.clone(),
            software: ctx.software,
        };
        if !self.device_chosen && !ctx.software {
            self.device = Device::Gpu;
        }
        self.gpu = Some(ctx);
        vec![FromWorker::Gpu(status), FromWorker::Device(self.device)]
    }

    /// Where runs train from the next `Start`.
    pub fn set_device(&mut self, device: Device) -> Result<FromWorker, WorkerError> {
        if device == Device::Gpu && self.gpu.is_none() {
            return Err(WorkerError::NoWebGpu);
        }
        self.device = device;
        self.device_chosen = true;
        Ok(FromWorker::Device(device))
    }

    pub fn device(&self) -> Device {
        self.device
    }

    /// Fresh models for `exp`, for predictions before any training; kept trained models win.
    pub fn prepare(&mut self, exp: &Experiment) -> Result<(), WorkerError> {
        if self.trained || self.run.is_some() {
            return Ok(());
        }
        exp.validate()?;
        self.models = exp
            .models
            .iter()
            .map(|spec| Model::new(spec.clone(), exp.train.seed))
            .collect::<Result<_, _>>()?;
        Ok(())
    }

    /// Starts training fresh models for `exp` on the loaded data, on the device chosen for it.
    /// The run's backend is chosen here and nowhere else; [`Engine::begin`] hands out its work.
    pub fn start(&mut self, exp: &Experiment) -> Result<(), WorkerError> {
        let data = self
            .data
            .as_ref()
            .filter(|d| d.kind == exp.data.dataset)
            .ok_or(WorkerError::DataNotLoaded(exp.data.dataset))?;
        let run = match (self.device, &self.gpu) {
            (Device::Gpu, Some(_)) => {
                exp.validate()?;
                // The GPU run's initial weights, for predictions until its first unit is done.
                self.models = exp
                    .models
                    .iter()
                    .map(|spec| initial_model(spec.clone(), &exp.train))
                    .collect::<Result<_, _>>()?;
                self.burst = 1;
                RunSlot::Gpu(GpuWork::Build(Box::new(exp.clone())))
            }
            _ => {
                let mut run = Run::new(exp, &data.train)?;
                run.log_every = LOG_EVERY;
                self.models.clear();
                RunSlot::Cpu(run)
            }
        };
        self.run = Some(run);
        self.runs += 1;
        self.trained = true;
        self.state = Some(RunState::Training);
        self.images = 0;
        self.seconds = 0.0;
        self.seen = Seen::default();
        Ok(())
    }

    pub fn state(&self) -> Option<RunState> {
        self.state
    }

    /// Pause, resume or stop the run; answered with the new state, or nothing when there is no
    /// run to change.
    pub fn control(&mut self, to: RunState) -> Option<FromWorker> {
        let now = self.state?;
        let next = match (now, to) {
            (RunState::Training, RunState::Paused) => RunState::Paused,
            (RunState::Paused, RunState::Training) => RunState::Training,
            (RunState::Training | RunState::Paused, RunState::Stopped) => RunState::Stopped,
            _ => return None,
        };
        self.state = Some(next);
        Some(FromWorker::Run(next))
    }

    /// What the worker holds: `wasm_bytes` of linear memory (the worker bin measures it) and
    /// the storage buffers alive on the WebGPU device, if one is open.
    pub fn memory(&self, wasm_bytes: u64) -> WorkerMemory {
        let (buffers, bytes) = self.gpu.as_ref().map_or((0, 0), |g| g.held());
        WorkerMemory {
            wasm_bytes,
            gpu_buffers: buffers as u64,
            gpu_bytes: bytes,
        }
    }

    /// Whether [`Engine::work`] has anything to do.
    pub fn busy(&self) -> bool {
        self.state == Some(RunState::Training) || self.shift.is_some()
    }
}
