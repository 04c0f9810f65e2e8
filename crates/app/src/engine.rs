//! The worker's state and what it answers to each command, with no browser in it: the datasets,
//! the models, the training run and the shift-map job. The worker bin fetches the data, moves
//! messages and calls [`Engine::work`] in slices between which it yields to its event loop;
//! everything here is tested natively and in the browser.

use std::rc::Rc;
use std::sync::Arc;

use convplay_compute::backend::now;
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
use crate::inspect;
use crate::protocol::{BackendInfo, Device, FromWorker, GpuStatus, Image, RunState, StepReport};

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

/// Test images per unit of shift-map work: a cell is evaluated a few batches at a time, so the
/// worker answers predictions in between.
const SHIFT_BATCH: usize = 25;

/// A shift-map computation in progress: cell `next` (model, dx, dy) is being evaluated.
struct ShiftJob {
    maps: Vec<ShiftMap>,
    images: Dataset,
    next: usize,
    cell: Option<Evaluator>,
    /// The buffers the CPU's forward reuses from batch to batch.
    scratch: ShardScratch,
}

impl ShiftJob {
    fn cells_per_map(&self) -> usize {
        self.maps.first().map_or(0, |m| m.accuracy.len())
    }

    fn total(&self) -> usize {
        self.cells_per_map() * self.maps.len()
    }
}

/// A training step handed out by [`Engine::begin`]: its shards are computed here or by
/// gradient workers, and the results handed to [`Engine::finish`].
#[derive(Debug)]
pub struct PendingStep {
    pub model: usize,
    pub shards: Vec<Shard>,
    /// The run it belongs to: a step of a run replaced meanwhile is dropped.
    run: u64,
    started: f64,
}

/// What [`Engine::begin`] found to do.
pub enum Work {
    /// Done in place (an evaluation batch, a shift-map cell): messages for the page.
    Done(Vec<FromWorker>),
    Step(PendingStep),
    /// A unit of a GPU run's work: await [`GpuJob::run`], then hand it to [`Engine::finish_gpu`].
    Gpu(GpuJob),
}

/// GPU time a unit of a GPU run aims at, in seconds: steps go to the device in bursts about this
/// long, then their metrics and the weights come back once. Short enough that Pause and Stop
/// answer at once, long enough that a fast GPU is not kept waiting by readbacks.
const GPU_UNIT: f64 = 0.25;
/// Most training steps in one burst.
const MAX_BURST: usize = 16;

/// A GPU run between units of work.
enum GpuWork {
    /// Its experiment, until the first unit builds it on the device.
    Build(Box<Experiment>),
    Train(Box<GpuRun>),
}

/// Where a GPU run is.
enum GpuSlot {
    Waiting(GpuWork),
    /// A unit of its work is in flight ([`GpuJob`]).
    Busy,
}

/// A unit of a GPU run's work, taken out of the engine so the worker can await it while it
/// answers the page: the run (or its experiment, to build it first), the data and the burst.
pub struct GpuJob {
    ctx: Arc<GpuContext>,
    data: Rc<Data>,
    work: GpuWork,
    burst: usize,
    run: u64,
    started: f64,
}

/// A finished [`GpuJob`], for [`Engine::finish_gpu`].
pub struct GpuDone {
    run: u64,
    started: f64,
    images_before: usize,
    gpu: Option<Box<GpuRun>>,
    result: Result<Vec<RunEvent>, Error>,
}

impl GpuJob {
    /// Builds the run on the device if it is new, then does one unit of its work.
    pub async fn run(self) -> GpuDone {
        let GpuJob {
            ctx,
            data,
            work,
            burst,
            run,
            started,
        } = self;
        let mut gpu = match work {
            GpuWork::Train(gpu) => gpu,
            GpuWork::Build(exp) => match GpuRun::on_gpu(ctx, &exp, &data.train).await {
                Ok(mut gpu) => {
                    gpu.log_every = LOG_EVERY;
                    Box::new(gpu)
                }
                Err(e) => {
                    return GpuDone {
                        run,
                        started,
                        images_before: 0,
                        gpu: None,
                        result: Err(e),
                    };
                }
            },
        };
        let images_before = gpu.images();
        let result = gpu.step(&data.train, &data.test, burst).await;
        GpuDone {
            run,
            started,
            images_before,
            gpu: Some(gpu),
            result,
        }
    }
}

/// A curve point every other step; the figures are the CLI's at the same steps.
const LOG_EVERY: usize = 2;

#[derive(Default)]
pub struct Engine {
    data: Option<Rc<Data>>,
    run: Option<Run>,
    /// The current run when it trains on the GPU (then `run` is `None` and `models` holds the
    /// weights last read back).
    gpu_run: Option<GpuSlot>,
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
    /// The models when no run holds them: fresh from `prepare`, or imported.
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
    pub fn set_device(&mut self, device: Device) -> Result<FromWorker, String> {
        if device == Device::Gpu && self.gpu.is_none() {
            return Err(
                "WebGPU is not available in this browser: training stays on the CPU".into(),
            );
        }
        self.device = device;
        self.device_chosen = true;
        Ok(FromWorker::Device(device))
    }

    pub fn device(&self) -> Device {
        self.device
    }

    /// Fresh models for `exp`, for predictions before any training; kept trained models win.
    pub fn prepare(&mut self, exp: &Experiment) -> Result<(), String> {
        if self.trained || self.run.is_some() {
            return Ok(());
        }
        exp.validate().map_err(|e| e.to_string())?;
        self.models = exp
            .models
            .iter()
            .map(|spec| Model::new(spec.clone(), exp.train.seed))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Starts training fresh models for `exp` on the loaded data.
    pub fn start(&mut self, exp: &Experiment) -> Result<(), String> {
        let data = self
            .data
            .as_ref()
            .filter(|d| d.kind == exp.data.dataset)
            .ok_or_else(|| format!("the {} data is not loaded yet", exp.data.dataset))?;
        match (self.device, &self.gpu) {
            (Device::Gpu, Some(_)) => {
                exp.validate().map_err(|e| e.to_string())?;
                // The GPU run's initial weights, for predictions until its first unit is done.
                self.models = exp
                    .models
                    .iter()
                    .map(|spec| initial_model(spec.clone(), &exp.train))
                    .collect::<Result<_, _>>()
                    .map_err(|e| e.to_string())?;
                self.run = None;
                self.gpu_run = Some(GpuSlot::Waiting(GpuWork::Build(Box::new(exp.clone()))));
                self.burst = 1;
            }
            _ => {
                let mut run = Run::new(exp, &data.train).map_err(|e| e.to_string())?;
                run.log_every = LOG_EVERY;
                self.run = Some(run);
                self.gpu_run = None;
                self.models.clear();
            }
        }
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

    /// Whether [`Engine::work`] has anything to do.
    pub fn busy(&self) -> bool {
        self.state == Some(RunState::Training) || self.shift.is_some()
    }

    /// One bounded unit of work, done here: a shift-map cell when a map is being computed, else
    /// a training step. `now()` is a clock in seconds, for images/s.
    pub fn work(&mut self, now: &dyn Fn() -> f64) -> Vec<FromWorker> {
        match self.begin(now, 1) {
            Work::Done(messages) => messages,
            Work::Gpu(job) => {
                self.gpu_run = Some(GpuSlot::Waiting(job.work));
                vec![FromWorker::Error(
                    "a GPU run's work is asynchronous: Engine::begin, GpuJob::run, Engine::finish_gpu".into(),
                )]
            }
            Work::Step(step) => {
                let grads: Result<Vec<_>, _> = step
                    .shards
                    .iter()
                    .map(|shard| self.shard_gradients(&step, shard))
                    .collect();
                match grads {
                    Ok(grads) => self.finish(step, grads, now),
                    Err(e) => self.fail(&e),
                }
            }
        }
    }

    /// Starts one bounded unit of work: a shift-map cell when a map is being computed (done at
    /// once), else a training step split for `workers` workers.
    pub fn begin(&mut self, now: &dyn Fn() -> f64, workers: usize) -> Work {
        let training = self.state == Some(RunState::Training);
        // Maps asked for during training take turns with it.
        self.shift_turn = !self.shift_turn || !training;
        if self.shift.is_some() && self.shift_turn {
            return Work::Done(self.shift_cell());
        }
        if !training {
            return Work::Done(Vec::new());
        }
        if self.gpu_run.is_some() {
            return self.begin_gpu(now);
        }
        let (Some(run), Some(data)) = (self.run.as_mut(), self.data.as_ref()) else {
            return Work::Done(Vec::new());
        };
        match run.begin_step(&data.train, &data.test, workers) {
            Ok(Begun::Done(events)) => Work::Done(self.report(events)),
            Ok(Begun::Train { model, shards }) => Work::Step(PendingStep {
                model,
                shards,
                run: self.runs,
                started: now(),
            }),
            Err(e) => Work::Done(self.fail(&e.to_string())),
        }
    }

    /// The next unit of the GPU run, taken out of the engine until [`Engine::finish_gpu`].
    fn begin_gpu(&mut self, now: &dyn Fn() -> f64) -> Work {
        let (Some(ctx), Some(data)) = (self.gpu.clone(), self.data.clone()) else {
            self.gpu_run = None;
            return Work::Done(self.fail("the GPU or the data is gone"));
        };
        match self.gpu_run.take() {
            Some(GpuSlot::Waiting(work)) => {
                self.gpu_run = Some(GpuSlot::Busy);
                Work::Gpu(GpuJob {
                    ctx,
                    data,
                    work,
                    burst: self.burst.max(1),
                    run: self.runs,
                    started: now(),
                })
            }
            // A unit is already out: nothing more to hand out until it is back.
            other => {
                self.gpu_run = other;
                Work::Done(Vec::new())
            }
        }
    }

    /// Ends a unit of GPU work: the run goes back in, the weights it read back become the
    /// models the page predicts with, and its events become messages. A unit of a run replaced
    /// meanwhile is dropped. A failed device stops the run and sends the next ones to the CPU;
    /// the models keep the last weights read back.
    pub fn finish_gpu(&mut self, done: GpuDone, now: &dyn Fn() -> f64) -> Vec<FromWorker> {
        if done.run != self.runs || !matches!(self.gpu_run, Some(GpuSlot::Busy)) {
            return Vec::new();
        }
        let GpuDone {
            started,
            images_before,
            gpu,
            result,
            ..
        } = done;
        if let Some(gpu) = &gpu {
            self.models = gpu.models().into_iter().cloned().collect();
            if gpu.images() > images_before {
                // images/s counts training only; the burst follows the device's speed.
                let seconds = (now() - started).max(1e-3);
                self.seconds += seconds;
                let scaled = (self.burst.max(1) as f64 * GPU_UNIT / seconds) as usize;
                self.burst = scaled.clamp(1, MAX_BURST);
            }
        }
        match result {
            Ok(events) => {
                self.gpu_run = gpu.map(|g| GpuSlot::Waiting(GpuWork::Train(g)));
                self.report(events)
            }
            Err(e) => {
                self.gpu_run = None;
                let mut out = self.fail(&e.to_string());
                if let Error::Gpu(what) = e {
                    self.gpu = None;
                    self.device = Device::Cpu;
                    out.push(FromWorker::Gpu(GpuStatus::Unavailable(what)));
                    out.push(FromWorker::Device(Device::Cpu));
                }
                out
            }
        }
    }

    /// Computes one shard of `step` with the worker's own copy of the model.
    pub fn shard_gradients(
        &mut self,
        step: &PendingStep,
        shard: &Shard,
    ) -> Result<ShardGradients, String> {
        let (Some(run), Some(data)) = (self.run.as_mut(), self.data.as_ref()) else {
            return Err("the run is gone".into());
        };
        run.shard_gradients(&data.train, step.model, shard)
            .map_err(|e| e.to_string())
    }

    /// `shard`'s training images on their own, for a gradient worker, which holds no data.
    pub fn gather(&self, shard: &Shard) -> Result<(Shard, Dataset), String> {
        let data = self.data.as_ref().ok_or("the data is not loaded")?;
        shard.gather(&data.train).map_err(|e| e.to_string())
    }

    /// The weights of model `model` of the run, which gradient workers compute with.
    pub fn params(&self, model: usize) -> Option<&[f32]> {
        self.run
            .as_ref()
            .and_then(|r| r.models().get(model).map(|m| m.params.as_slice()))
    }

    /// Ends `step` with the gradients of all its shards, in shard order. A step of a run that
    /// was replaced or stopped meanwhile is dropped.
    pub fn finish(
        &mut self,
        step: PendingStep,
        grads: Vec<ShardGradients>,
        now: &dyn Fn() -> f64,
    ) -> Vec<FromWorker> {
        if !self.is_current(&step) {
            return Vec::new();
        }
        let Some(run) = self.run.as_mut() else {
            return Vec::new();
        };
        match run.finish_step(step.model, grads) {
            Ok(events) => {
                // images/s counts training steps only, not the evaluation between epochs.
                self.seconds += now() - step.started;
                self.report(events)
            }
            Err(e) => self.fail(&e.to_string()),
        }
    }

    /// Whether `step` belongs to the current run.
    pub fn is_current(&self, step: &PendingStep) -> bool {
        step.run == self.runs && self.run.is_some()
    }

    /// Stops the run with `error`, which a shard of `step` met; nothing if the run is gone.
    pub fn fail_step(&mut self, step: PendingStep, error: &str) -> Vec<FromWorker> {
        if self.is_current(&step) {
            self.fail(error)
        } else {
            Vec::new()
        }
    }

    /// Stops the run with `error`.
    fn fail(&mut self, error: &str) -> Vec<FromWorker> {
        self.state = Some(RunState::Stopped);
        vec![
            FromWorker::Error(format!("training stopped: {error}")),
            FromWorker::Run(RunState::Stopped),
        ]
    }

    /// The page's messages for a run's events.
    fn report(&mut self, events: Vec<RunEvent>) -> Vec<FromWorker> {
        let mut out = Vec::new();
        for event in events {
            match event {
                RunEvent::Step {
                    model,
                    epoch,
                    step,
                    steps_per_epoch,
                    images,
                    loss,
                    accuracy,
                } => {
                    self.images += self.seen.advance(model, images);
                    out.push(FromWorker::Step(StepReport {
                        model,
                        epoch,
                        step,
                        steps_per_epoch,
                        loss,
                        accuracy,
                        images_total: self.images,
                        seconds: self.seconds,
                    }));
                }
                RunEvent::Evaluated {
                    model,
                    epoch,
                    centered,
                    shifted,
                } => out.push(FromWorker::Evaluated {
                    model,
                    epoch,
                    centered,
                    shifted,
                }),
                RunEvent::ModelFinished { .. } => {}
                RunEvent::Finished => {
                    self.state = Some(RunState::Finished);
                    out.push(FromWorker::Run(RunState::Finished));
                }
            }
        }
        out
    }

    /// The current models: the run's, or the prepared or imported ones.
    fn models(&self) -> Vec<&Model> {
        match self.run.as_ref() {
            Some(run) => run.models(),
            None => self.models.iter().collect(),
        }
    }

    fn model_mut(&mut self, i: usize) -> Option<&mut Model> {
        match self.run.as_mut() {
            Some(run) => run.model_mut(i),
            None => self.models.get_mut(i),
        }
    }

    /// `f` applied to every current model, in order.
    fn each_model<T>(&mut self, mut f: impl FnMut(usize, &mut Model) -> T) -> Vec<T> {
        let n = self.models().len();
        (0..n)
            .filter_map(|i| self.model_mut(i).map(|m| f(i, m)))
            .collect()
    }

    /// Each model's class probabilities for `image`.
    pub fn predict(&mut self, image: &Image) -> FromWorker {
        let probs: Result<Vec<Vec<f32>>, _> = self
            .each_model(|_, m| inspect::predict(m, image))
            .into_iter()
            .collect();
        match probs {
            Ok(p) => FromWorker::Prediction(p),
            Err(e) => FromWorker::Error(format!("prediction: {e}")),
        }
    }

    pub fn inspect(&mut self, image: &Image) -> FromWorker {
        let maps: Result<Vec<_>, _> = self
            .each_model(|i, m| inspect::inspect(m, i, image))
            .into_iter()
            .collect();
        match maps {
            Ok(m) => FromWorker::Inspected(m),
            Err(e) => FromWorker::Error(format!("inspect: {e}")),
        }
    }

    /// Starts computing every model's accuracy-by-shift map over the first `images` test images.
    pub fn start_shift_maps(&mut self, step: usize, images: usize) -> Result<FromWorker, String> {
        let test = &self
            .data
            .as_ref()
            .ok_or("the test data is not loaded yet")?
            .test;
        if self.models().is_empty() {
            return Err("there is no model to map yet".into());
        }
        let images = test.subset(images.max(1));
        let maps: Vec<ShiftMap> = self
            .models()
            .iter()
            .map(|m| ShiftMap::new(m.graph.input[1], step.max(1)))
            .collect();
        let job = ShiftJob {
            maps,
            images,
            next: 0,
            cell: None,
            scratch: ShardScratch::default(),
        };
        let first = FromWorker::ShiftMaps {
            done: 0,
            total: job.total(),
            maps: job.maps.clone(),
        };
        self.shift = Some(job);
        Ok(first)
    }

    /// One batch of the current shift-map cell; reports after each row of the grid.
    fn shift_cell(&mut self) -> Vec<FromWorker> {
        let Some(mut job) = self.shift.take() else {
            return Vec::new();
        };
        let per_map = job.cells_per_map();
        let (model, cell) = (job.next / per_map, job.next % per_map);
        let n = job.maps[model].offsets.len();
        let placement = CanvasPlacement::At {
            dx: job.maps[model].offsets[cell % n],
            dy: job.maps[model].offsets[cell / n],
        };
        let Some(m) = self.model_mut(model) else {
            return vec![FromWorker::Error(
                "shift map: the models changed while mapping".into(),
            )];
        };
        let len = job.images.len();
        let evaluator = job
            .cell
            .get_or_insert_with(|| Evaluator::new(m.classes(), placement, SHIFT_BATCH, len));
        let mut cpu = CpuInfer {
            model: m,
            scratch: &mut job.scratch,
        };
        let finished = match now(evaluator.step(&mut cpu, &job.images, 1)).and_then(|r| r) {
            Ok(done) => done,
            Err(e) => return vec![FromWorker::Error(format!("shift map: {e}"))],
        };
        let Some(evaluation) = finished else {
            self.shift = Some(job);
            return Vec::new();
        };
        job.cell = None;
        job.maps[model].accuracy[cell] = evaluation.metrics.accuracy;
        job.next += 1;
        let total = job.total();
        let done = job.next;
        let message = (done == total || done % n == 0).then(|| FromWorker::ShiftMaps {
            done,
            total,
            maps: job.maps.clone(),
        });
        if done < total {
            self.shift = Some(job);
        }
        message.into_iter().collect()
    }

    /// A random test image (seeded per worker, so it differs from visit to visit).
    pub fn random_digit(&mut self, seed: u64) -> Result<FromWorker, String> {
        let test = &self
            .data
            .as_ref()
            .ok_or("the test data is not loaded yet")?
            .test;
        let rng = self.rng.get_or_insert_with(|| Rng::new(seed));
        let i = (rng.next_u64() % test.len() as u64) as usize;
        Ok(FromWorker::Digit {
            image: Image {
                side: Dataset::SIDE,
                pixels: test.image(i).iter().map(|&b| b as f32 / 255.0).collect(),
            },
            label: test.label(i),
        })
    }

    pub fn export(&self, index: usize) -> Result<FromWorker, String> {
        let model = self
            .models()
            .get(index)
            .copied()
            .ok_or_else(|| format!("there is no model {}", index + 1))?;
        let bytes = weights::save(model).map_err(|e| e.to_string())?;
        Ok(FromWorker::Weights { index, bytes })
    }

    /// Replaces model `index` by the one in a `.safetensors` file; stops a run in progress.
    pub fn import(&mut self, index: usize, bytes: &[u8]) -> Result<FromWorker, String> {
        let model = weights::load(bytes).map_err(|e| e.to_string())?;
        let mut models: Vec<Model> = self.models().into_iter().cloned().collect();
        if index >= models.len() {
            return Err(format!("there is no model {}", index + 1));
        }
        let spec = model.spec.clone();
        models[index] = model;
        self.run = None;
        self.gpu_run = None;
        self.runs += 1;
        self.shift = None;
        if matches!(self.state, Some(RunState::Training | RunState::Paused)) {
            self.state = Some(RunState::Stopped);
        }
        self.models = models;
        self.trained = true;
        Ok(FromWorker::Imported { index, spec })
    }
}

/// Images trained per model, from the running count of each step report (reports skip steps).
#[derive(Default)]
struct Seen(Vec<usize>);

impl Seen {
    /// The images model `model` trained since its last report.
    fn advance(&mut self, model: usize, images: usize) -> u64 {
        if self.0.len() <= model {
            self.0.resize(model + 1, 0);
        }
        let delta = images.saturating_sub(self.0[model]);
        self.0[model] = images;
        delta as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use convplay_compute::model::preset_for;
    use convplay_compute::optim::OptimizerSpec;

    /// 40 synthetic 28×28 "digits": class k is a bright bar at row 2k + 4.
    fn toy() -> Dataset {
        let mut images = vec![0u8; 40 * 784];
        let mut labels = vec![0u8; 40];
        for i in 0..40 {
            let k = i % 10;
            labels[i] = k as u8;
            for c in 4..24 {
                images[i * 784 + (2 * k + 4) * 28 + c] = 220;
            }
        }
        Dataset::new(images, labels).unwrap()
    }

    fn experiment() -> Experiment {
        let mut exp = Experiment {
            models: vec![
                preset_for("cnn-flatten", 28).unwrap(),
                preset_for("cnn-gap", 28).unwrap(),
            ],
            ..Experiment::default()
        };
        exp.train.canvas = 28;
        exp.train.epochs = 2;
        exp.train.batch = 16;
        exp.train.limit = Some(40);
        exp.train.optimizer = OptimizerSpec::adam(3e-3);
        exp.data.test_limit = Some(20);
        exp
    }

    fn engine() -> Engine {
        let mut engine = Engine::default();
        engine.set_data(Data {
            kind: DatasetKind::Mnist,
            train: toy(),
            test: toy(),
        });
        engine
    }

    fn clock() -> f64 {
        0.0
    }

    /// Runs the engine's work until it has none; returns every message.
    fn drain(engine: &mut Engine) -> Vec<FromWorker> {
        let mut out = Vec::new();
        for _ in 0..10_000 {
            if !engine.busy() {
                return out;
            }
            out.extend(engine.work(&clock));
        }
        panic!("the engine never finished");
    }

    fn image() -> Image {
        Image {
            side: 28,
            pixels: toy().image(3).iter().map(|&b| b as f32 / 255.0).collect(),
        }
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn a_run_reports_steps_evaluations_and_finishes() {
        let mut engine = engine();
        engine.start(&experiment()).unwrap();
        assert!(engine.busy());
        let messages = drain(&mut engine);
        let steps = messages
            .iter()
            .filter(|m| matches!(m, FromWorker::Step(_)))
            .count();
        let evals: Vec<(usize, usize)> = messages
            .iter()
            .filter_map(|m| match m {
                FromWorker::Evaluated { model, epoch, .. } => Some((*model, *epoch)),
                _ => None,
            })
            .collect();
        assert!(steps >= 2, "{steps} step reports");
        for model in 0..2 {
            for epoch in 1..=2 {
                assert!(evals.contains(&(model, epoch)), "{evals:?}");
            }
        }
        assert_eq!(messages.last(), Some(&FromWorker::Run(RunState::Finished)));
        assert_eq!(engine.state(), Some(RunState::Finished));
        let FromWorker::Prediction(p) = engine.predict(&image()) else {
            panic!("no prediction")
        };
        assert_eq!(p.len(), 2);
        assert!(p.iter().all(|m| m.len() == 10));
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn pause_resume_and_stop_change_the_state_only_when_they_can() {
        let mut engine = engine();
        assert_eq!(engine.control(RunState::Paused), None, "no run to pause");
        engine.start(&experiment()).unwrap();
        engine.work(&clock);
        assert_eq!(
            engine.control(RunState::Paused),
            Some(FromWorker::Run(RunState::Paused))
        );
        assert!(!engine.busy());
        assert!(
            engine.work(&clock).is_empty(),
            "a paused run does not train"
        );
        assert_eq!(engine.control(RunState::Paused), None);
        assert_eq!(
            engine.control(RunState::Training),
            Some(FromWorker::Run(RunState::Training))
        );
        assert_eq!(
            engine.control(RunState::Stopped),
            Some(FromWorker::Run(RunState::Stopped))
        );
        assert!(!engine.busy());
        assert_eq!(
            engine.control(RunState::Training),
            None,
            "a stopped run stays stopped"
        );
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn start_needs_the_experiments_dataset() {
        let mut exp = experiment();
        exp.data.dataset = DatasetKind::FashionMnist;
        let err = engine().start(&exp).unwrap_err();
        assert!(err.contains("fashion-mnist"), "{err}");
        assert!(Engine::default().start(&experiment()).is_err());
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn prepared_models_predict_before_training_and_trained_ones_are_kept() {
        let mut engine = engine();
        assert_eq!(engine.predict(&image()), FromWorker::Prediction(vec![]));
        engine.prepare(&experiment()).unwrap();
        let FromWorker::Prediction(p) = engine.predict(&image()) else {
            panic!()
        };
        assert_eq!(p.len(), 2);
        engine.start(&experiment()).unwrap();
        drain(&mut engine);
        let trained = engine.export(1).unwrap();
        let mut one_model = experiment();
        one_model.models.truncate(1);
        engine.prepare(&one_model).unwrap();
        assert_eq!(
            engine.export(1).unwrap(),
            trained,
            "prepare keeps trained models"
        );
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn shift_maps_cover_every_cell_of_every_model() {
        let mut engine = engine();
        let mut exp = experiment();
        exp.train.canvas = 40;
        exp.models = exp
            .models
            .iter()
            .map(|m| preset_for(&m.name, 40).unwrap())
            .collect();
        engine.prepare(&exp).unwrap();
        let first = engine.start_shift_maps(6, 10).unwrap();
        let FromWorker::ShiftMaps { done: 0, total, .. } = first else {
            panic!("{first:?}")
        };
        // Offsets 0, 6, 12 per axis: 9 cells per model.
        assert_eq!(total, 18);
        let messages = drain(&mut engine);
        let Some(FromWorker::ShiftMaps { done, maps, .. }) = messages.last() else {
            panic!("{messages:?}")
        };
        assert_eq!(*done, 18);
        assert_eq!(maps.len(), 2);
        assert_eq!(maps[0].offsets, [0, 6, 12]);
        assert!(
            maps.iter()
                .all(|m| m.accuracy.iter().all(|a| (0.0..=1.0).contains(a)))
        );
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn exported_weights_import_back_and_bad_files_are_errors() {
        let mut engine = engine();
        engine.prepare(&experiment()).unwrap();
        let FromWorker::Weights { index: 1, bytes } = engine.export(1).unwrap() else {
            panic!()
        };
        let before = engine.predict(&image());
        let imported = engine.import(0, &bytes).unwrap();
        let FromWorker::Imported { index: 0, spec } = imported else {
            panic!("{imported:?}")
        };
        assert_eq!(spec.name, "cnn-gap");
        let FromWorker::Prediction(after) = engine.predict(&image()) else {
            panic!()
        };
        let FromWorker::Prediction(before) = before else {
            panic!()
        };
        assert_eq!(after[0], before[1], "model 0 is now model 1's weights");
        assert!(
            engine
                .import(0, b"not a weights file")
                .unwrap_err()
                .contains("safetensors")
        );
        assert!(engine.import(5, &bytes).is_err());
        assert!(engine.export(7).is_err());
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn random_digits_come_from_the_test_set() {
        let mut engine = engine();
        let FromWorker::Digit { image, label } = engine.random_digit(5).unwrap() else {
            panic!()
        };
        assert_eq!(image.side, 28);
        assert!(label < 10);
        assert!(Engine::default().random_digit(5).is_err());
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn the_gpu_cannot_be_chosen_before_the_worker_found_one() {
        let mut engine = engine();
        assert_eq!(engine.device(), Device::Cpu);
        let err = engine.set_device(Device::Gpu).unwrap_err();
        assert!(err.contains("WebGPU"), "{err}");
        assert_eq!(engine.device(), Device::Cpu);
        assert_eq!(
            engine.set_device(Device::Cpu),
            Ok(FromWorker::Device(Device::Cpu))
        );
    }

    /// Every message of a GPU run, driven as the worker drives it.
    #[cfg(target_arch = "wasm32")]
    async fn drain_gpu(engine: &mut Engine) -> Vec<FromWorker> {
        let mut out = Vec::new();
        for _ in 0..1_000 {
            if !engine.busy() {
                return out;
            }
            match engine.begin(&clock, 1) {
                Work::Done(m) => out.extend(m),
                Work::Step(_) => panic!("a GPU run hands out no CPU steps"),
                Work::Gpu(job) => {
                    let done = job.run().await;
                    out.extend(engine.finish_gpu(done, &clock));
                }
            }
        }
        panic!("the GPU run never finished");
    }

    /// The page's WebGPU path (SwiftShader in headless Chromium): the run reports what the CPU
    /// run reports, and the models predict from the weights read back while it trains.
    #[cfg(target_arch = "wasm32")]
    #[wasm_bindgen_test::wasm_bindgen_test]
    async fn a_run_on_webgpu_reports_as_the_cpu_run_and_predicts_while_it_trains() {
        let ctx = GpuContext::new()
            .await
            .unwrap_or_else(|e| panic!("this test needs WebGPU and found none: {e}"));
        #[allow(clippy::arc_with_non_send_sync)]
        let ctx = Arc::new(ctx);
        // Small models: SwiftShader trains cnn-gap at a few images a second.
        let mut exp = experiment();
        exp.models = vec![
            preset_for("lenet5", 28).unwrap(),
            convplay_compute::ModelSpec::from_json(
                r#"{"name":"tiny-gap","input":[1,28,28],"layers":[
                    {"type":"conv2d","name":"c1","filters":8,"kernel":3,"padding":"same","activation":"relu"},
                    {"type":"max_pool","name":"p1","size":2},
                    {"type":"conv2d","name":"c2","filters":16,"kernel":3,"padding":"same","activation":"relu"},
                    {"type":"global_avg_pool","name":"gap"},
                    {"type":"dense","name":"out","units":10}]}"#,
            )
            .unwrap(),
        ];
        exp.train.limit = Some(32);
        let mut cpu = engine();
        cpu.start(&exp).unwrap();
        let cpu_messages = drain(&mut cpu);

        let mut gpu = engine();
        let found = gpu.set_gpu(ctx.clone());
        assert!(
            matches!(found[0], FromWorker::Gpu(GpuStatus::Ready { .. })),
            "{found:?}"
        );
        gpu.set_device(Device::Gpu).unwrap();
        gpu.start(&exp).unwrap();
        assert!(matches!(gpu.predict(&image()), FromWorker::Prediction(p) if p.len() == 2));
        let Work::Gpu(job) = gpu.begin(&clock, 1) else {
            panic!("a GPU run's first unit is GPU work");
        };
        // While a unit is out, the page is still answered.
        assert!(matches!(gpu.predict(&image()), FromWorker::Prediction(p) if p.len() == 2));
        assert!(gpu.busy());
        let done = job.run().await;
        let mut gpu_messages = gpu.finish_gpu(done, &clock);
        gpu_messages.extend(drain_gpu(&mut gpu).await);

        let steps = |m: &[FromWorker]| -> Vec<StepReport> {
            m.iter()
                .filter_map(|m| match m {
                    FromWorker::Step(r) => Some(*r),
                    _ => None,
                })
                .collect()
        };
        // Each model's reports in order (a GPU unit is a burst of one model's steps, so the two
        // models' reports interleave differently).
        let by_model = |mut r: Vec<StepReport>| {
            r.sort_by_key(|r| (r.model, r.epoch, r.step));
            r
        };
        let (c, g) = (
            by_model(steps(&cpu_messages)),
            by_model(steps(&gpu_messages)),
        );
        assert_eq!(c.len(), g.len(), "{gpu_messages:?}");
        for (c, g) in c.iter().zip(&g) {
            assert_eq!((c.model, c.epoch, c.step), (g.model, g.epoch, g.step));
            assert!((c.loss - g.loss).abs() <= 1e-3, "{c:?} vs {g:?}");
        }
        let evals = |m: &[FromWorker]| {
            m.iter()
                .filter(|m| matches!(m, FromWorker::Evaluated { .. }))
                .count()
        };
        assert_eq!(evals(&gpu_messages), 4, "two epochs of two models");
        assert_eq!(gpu.state(), Some(RunState::Finished));
        assert!(gpu_messages.contains(&FromWorker::Run(RunState::Finished)));
        // The trained weights came back: predictions and export use them.
        let FromWorker::Weights { bytes, .. } = gpu.export(1).unwrap() else {
            panic!("export answers with weights");
        };
        let FromWorker::Weights {
            bytes: cpu_bytes, ..
        } = cpu.export(1).unwrap()
        else {
            panic!("export answers with weights");
        };
        let (g, c) = (
            weights::load(&bytes).unwrap(),
            weights::load(&cpu_bytes).unwrap(),
        );
        let worst = g
            .params
            .iter()
            .zip(&c.params)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-2, "GPU and CPU weights differ by {worst}");
    }
}
