//! The training run's work. The engine holds one run ([`RunSlot`]); what differs by backend is
//! only how a unit of its work is handed out and taken back: a CPU step as shards (computed
//! here or by gradient workers), a GPU unit as a job the worker awaits. Both end in the run's
//! events, turned into messages for the page the same way.

use super::*;

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

/// The current run, on the backend [`Engine::start`] chose for it.
pub(super) enum RunSlot {
    /// On the CPU: stepped here, its steps' shards spread over gradient workers.
    Cpu(Run),
    /// On the GPU, between units of work.
    Gpu(GpuWork),
    /// On the GPU, with a unit of its work out ([`GpuJob`]) until [`Engine::finish_gpu`].
    GpuBusy,
}

/// A GPU run between units of work.
pub(super) enum GpuWork {
    /// Its experiment, until the first unit builds it on the device.
    Build(Box<Experiment>),
    Train(Box<GpuRun>),
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
    pub(super) run: u64,
    pub(super) started: f64,
    pub(super) images_before: usize,
    pub(super) gpu: Option<Box<GpuRun>>,
    pub(super) result: Result<Vec<RunEvent>, Error>,
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

/// Images trained per model, from the running count of each step report (reports skip steps).
#[derive(Default)]
pub(super) struct Seen(Vec<usize>);

impl Seen {
    /// The images model `model` trained since its last report.
    pub(super) fn advance(&mut self, model: usize, images: usize) -> u64 {
        if self.0.len() <= model {
            self.0.resize(model + 1, 0);
        }
        let delta = images.saturating_sub(self.0[model]);
        self.0[model] = images;
        delta as u64
    }
}

impl Engine {
    /// One bounded unit of work, done here: a shift-map cell when a map is being computed, else
    /// a training step. `now()` is a clock in seconds, for images/s.
    pub fn work(&mut self, now: &dyn Fn() -> f64) -> Vec<FromWorker> {
        match self.begin(now, 1) {
            Work::Done(messages) => messages,
            Work::Gpu(job) => {
                self.run = Some(RunSlot::Gpu(job.work));
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
                    Err(e) => self.fail(e),
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
        match self.run.take() {
            Some(RunSlot::Cpu(run)) => self.begin_cpu(run, now, workers),
            Some(RunSlot::Gpu(work)) => self.begin_gpu(work, now),
            // No run, or a GPU unit already out: nothing to hand out until it is back.
            other => {
                self.run = other;
                Work::Done(Vec::new())
            }
        }
    }

    /// The next step of the CPU run, split for `workers` workers (or the run's events when
    /// its next unit is an evaluation).
    fn begin_cpu(&mut self, mut run: Run, now: &dyn Fn() -> f64, workers: usize) -> Work {
        let Some(data) = self.data.clone() else {
            self.run = Some(RunSlot::Cpu(run));
            return Work::Done(Vec::new());
        };
        let begun = run.begin_step(&data.train, &data.test, workers);
        self.run = Some(RunSlot::Cpu(run));
        match begun {
            Ok(Begun::Done(events)) => Work::Done(self.report(events)),
            Ok(Begun::Train { model, shards }) => Work::Step(PendingStep {
                model,
                shards,
                run: self.runs,
                started: now(),
            }),
            Err(e) => Work::Done(self.fail(e)),
        }
    }

    /// The next unit of the GPU run, taken out of the engine until [`Engine::finish_gpu`].
    fn begin_gpu(&mut self, work: GpuWork, now: &dyn Fn() -> f64) -> Work {
        let (Some(ctx), Some(data)) = (self.gpu.clone(), self.data.clone()) else {
            return Work::Done(self.fail(WorkerError::GpuGone));
        };
        self.run = Some(RunSlot::GpuBusy);
        Work::Gpu(GpuJob {
            ctx,
            data,
            work,
            burst: self.burst.max(1),
            run: self.runs,
            started: now(),
        })
    }

    /// Ends a unit of GPU work: the run goes back in, the weights it read back become the
    /// models the page predicts with, and its events become messages. A unit of a run replaced
    /// meanwhile is dropped. A failed device stops the run and sends the next ones to the CPU;
    /// the models keep the last weights read back.
    pub fn finish_gpu(&mut self, done: GpuDone, now: &dyn Fn() -> f64) -> Vec<FromWorker> {
        if done.run != self.runs || !matches!(self.run, Some(RunSlot::GpuBusy)) {
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
                self.run = gpu.map(|g| RunSlot::Gpu(GpuWork::Train(g)));
                self.report(events)
            }
            Err(e) => {
                self.run = None;
                let mut out = self.fail(e.clone());
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
    ) -> Result<ShardGradients, WorkerError> {
        let (Some(RunSlot::Cpu(run)), Some(data)) = (self.run.as_mut(), self.data.as_ref()) else {
            return Err(WorkerError::RunGone);
        };
        Ok(run.shard_gradients(&data.train, step.model, shard)?)
    }

    /// `shard`'s training images on their own, for a gradient worker, which holds no data.
    pub fn gather(&self, shard: &Shard) -> Result<(Shard, Dataset), WorkerError> {
        let data = self.data.as_ref().ok_or(WorkerError::NoData)?;
        Ok(shard.gather(&data.train)?)
    }

    /// The weights of model `model` of the CPU run, which gradient workers compute with.
    pub fn params(&self, model: usize) -> Option<&[f32]> {
        match &self.run {
            Some(RunSlot::Cpu(run)) => run.models().get(model).map(|m| m.params.as_slice()),
            _ => None,
        }
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
        let Some(RunSlot::Cpu(run)) = self.run.as_mut() else {
            return Vec::new();
        };
        match run.finish_step(step.model, grads) {
            Ok(events) => {
                // images/s counts training steps only, not the evaluation between epochs.
                self.seconds += now() - step.started;
                self.report(events)
            }
            Err(e) => self.fail(e),
        }
    }

    /// Whether `step` belongs to the current run.
    pub fn is_current(&self, step: &PendingStep) -> bool {
        step.run == self.runs && matches!(self.run, Some(RunSlot::Cpu(_)))
    }

    /// Stops the run with `error`, which a shard of `step` met; nothing if the run is gone.
    pub fn fail_step(&mut self, step: PendingStep, error: WorkerError) -> Vec<FromWorker> {
        if self.is_current(&step) {
            self.fail(error)
        } else {
            Vec::new()
        }
    }

    /// Stops the run with `error`: here it becomes the page's message.
    pub(super) fn fail(&mut self, error: impl Into<WorkerError>) -> Vec<FromWorker> {
        let error = error.into();
        self.state = Some(RunState::Stopped);
        vec![
            FromWorker::Error(format!("training stopped: {error}")),
            FromWorker::Run(RunState::Stopped),
        ]
    }

    /// The page's messages for a run's events.
    pub(super) fn report(&mut self, events: Vec<RunEvent>) -> Vec<FromWorker> {
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
}
