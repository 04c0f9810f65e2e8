//! The page's state: what the worker has told it so far. A plain struct, changed only by
//! [`PageState::apply`] and a few resets; the app keeps it in one signal shared through context.

use convplay_compute::metrics::ShiftMap;
use convplay_compute::train::Evaluation;

use crate::protocol::{
    BackendInfo, DataStatus, Device, FromWorker, GpuStatus, Image, Inspection, RunState,
};

/// `#run-status`'s `data-state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Loading,
    Idle,
    Training,
    Paused,
    Done,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Loading => "loading",
            Status::Idle => "idle",
            Status::Training => "training",
            Status::Paused => "paused",
            Status::Done => "done",
            Status::Error => "error",
        }
    }
}

/// One point of a training curve: `x` in epochs (1.5 = half-way through the second epoch).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainPoint {
    pub x: f32,
    pub loss: f32,
    pub accuracy: f32,
}

/// A model's test results after an epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalPoint {
    pub epoch: usize,
    pub centered: Evaluation,
    pub shifted: Evaluation,
}

/// Everything the page shows about one model's training.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelRun {
    pub train: Vec<TrainPoint>,
    pub evals: Vec<EvalPoint>,
    /// `(epoch, step, steps per epoch)` of the last report.
    pub position: Option<(usize, usize, usize)>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PageState {
    backend: Option<BackendInfo>,
    pub data: Option<DataStatus>,
    pub run: Option<RunState>,
    pub models: Vec<ModelRun>,
    /// Images trained by all models and seconds spent, for images/s.
    pub throughput: Option<(u64, f64)>,
    pub prediction: Option<Vec<Vec<f32>>>,
    pub inspection: Vec<Inspection>,
    pub shift_maps: Option<(usize, usize, Vec<ShiftMap>)>,
    /// A test digit the worker sent, with its label, not yet taken by the drawing canvas.
    pub digit: Option<(Image, u8)>,
    /// The last weights file the worker exported, not yet downloaded.
    pub weights: Option<(usize, Vec<u8>)>,
    /// A model replaced by imported weights, not yet taken into the experiment.
    pub imported: Option<(usize, convplay_compute::model::ModelSpec)>,
    /// How many workers train, as the worker last said.
    pub workers: Option<usize>,
    /// WebGPU, once the worker has looked for it.
    pub gpu: Option<GpuStatus>,
    /// Where the next run trains, as the worker last said.
    pub device: Device,
    /// Where the current (or last) run trains.
    pub running_on: Option<Device>,
    worker_failed: bool,
    errors: Vec<String>,
}

impl PageState {
    /// Takes in one message from the worker.
    pub fn apply(&mut self, message: FromWorker) {
        match message {
            FromWorker::Ready(info) => self.backend = Some(info),
            FromWorker::Data(status) => self.data = Some(status),
            FromWorker::Run(state) => self.run = Some(state),
            FromWorker::Step(report) => {
                let model = self.model_mut(report.model);
                let x = (report.epoch - 1) as f32
                    + report.step as f32 / report.steps_per_epoch.max(1) as f32;
                model.train.push(TrainPoint {
                    x,
                    loss: report.loss,
                    accuracy: report.accuracy,
                });
                model.position = Some((report.epoch, report.step, report.steps_per_epoch));
                self.throughput = Some((report.images_total, report.seconds));
            }
            FromWorker::Evaluated {
                model,
                epoch,
                centered,
                shifted,
            } => self.model_mut(model).evals.push(EvalPoint {
                epoch,
                centered,
                shifted,
            }),
            FromWorker::Prediction(p) => self.prediction = Some(p),
            FromWorker::Inspected(i) => self.inspection = i,
            FromWorker::ShiftMaps { done, total, maps } => {
                self.shift_maps = Some((done, total, maps))
            }
            FromWorker::Digit { image, label } => self.digit = Some((image, label)),
            FromWorker::Weights { index, bytes } => self.weights = Some((index, bytes)),
            FromWorker::Imported { index, spec } => {
                if let Some(m) = self.models.get_mut(index) {
                    *m = ModelRun::default();
                }
                self.imported = Some((index, spec))
            }
            FromWorker::Workers(n) => self.workers = Some(n),
            FromWorker::Gpu(status) => self.gpu = Some(status),
            FromWorker::Device(device) => {
                self.device = device;
                // A GPU that failed mid-run sends the run's device back to the CPU too.
                if device == Device::Cpu && matches!(self.gpu, Some(GpuStatus::Unavailable(_))) {
                    self.running_on = self.running_on.map(|_| Device::Cpu);
                }
            }
            FromWorker::Error(error) => self.errors.push(error),
        }
    }

    fn model_mut(&mut self, index: usize) -> &mut ModelRun {
        if self.models.len() <= index {
            self.models.resize(index + 1, ModelRun::default());
        }
        &mut self.models[index]
    }

    /// The worker could not be started or reached.
    pub fn worker_failed(&mut self, error: String) {
        self.worker_failed = true;
        self.errors.push(error);
    }

    /// Forgets the last run's curves and results, for a new one.
    pub fn start_run(&mut self, models: usize) {
        self.models = vec![ModelRun::default(); models];
        self.throughput = None;
        self.shift_maps = None;
        self.run = None;
        self.running_on = Some(self.device);
    }

    /// The badge's word for where training runs: the current run's device, else the next's.
    pub fn device_label(&self) -> &'static str {
        match (self.running_on.unwrap_or(self.device), &self.backend) {
            (Device::Gpu, _) => "WebGPU",
            (Device::Cpu, Some(info)) => info.label(),
            (Device::Cpu, None) => "wasm",
        }
    }

    /// Whether WebGPU can train here.
    pub fn gpu_ready(&self) -> bool {
        matches!(self.gpu, Some(GpuStatus::Ready { .. }))
    }

    /// `None` until the worker has said `Ready`.
    pub fn backend(&self) -> Option<&BackendInfo> {
        self.backend.as_ref()
    }

    /// What `#run-status` says.
    pub fn status(&self) -> Status {
        if self.worker_failed || matches!(self.data, Some(DataStatus::Failed(_))) {
            return Status::Error;
        }
        match self.run {
            Some(RunState::Training) => return Status::Training,
            Some(RunState::Paused) => return Status::Paused,
            Some(RunState::Finished) => return Status::Done,
            Some(RunState::Stopped) | None => {}
        }
        if self.backend.is_none() || !matches!(self.data, Some(DataStatus::Ready { .. })) {
            Status::Loading
        } else {
            Status::Idle
        }
    }

    /// Images per second over the run so far.
    pub fn images_per_second(&self) -> Option<f64> {
        self.throughput
            .filter(|&(_, s)| s > 0.0)
            .map(|(images, s)| images as f64 / s)
    }

    /// The last evaluation of model `index`.
    pub fn last_eval(&self, index: usize) -> Option<&EvalPoint> {
        self.models.get(index).and_then(|m| m.evals.last())
    }

    /// Failures, oldest first.
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    pub fn dismiss_errors(&mut self) {
        self.errors.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::StepReport;

    fn info() -> BackendInfo {
        BackendInfo {
            backend: "wasm-simd128".into(),
            isa: "simd128".into(),
        }
    }

    fn step(model: usize, epoch: usize, step: usize) -> FromWorker {
        FromWorker::Step(StepReport {
            model,
            epoch,
            step,
            steps_per_epoch: 4,
            loss: 1.0 / step as f32,
            accuracy: 0.1 * step as f32,
            images_total: 64 * step as u64,
            seconds: step as f64,
        })
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn status_follows_worker_data_and_run() {
        let mut p = PageState::default();
        assert_eq!(p.status(), Status::Loading);
        p.apply(FromWorker::Ready(info()));
        assert_eq!(p.status(), Status::Loading, "no data yet");
        p.apply(FromWorker::Data(DataStatus::Ready { train: 10, test: 5 }));
        assert_eq!(p.status(), Status::Idle);
        p.apply(FromWorker::Run(RunState::Training));
        assert_eq!(p.status(), Status::Training);
        p.apply(FromWorker::Run(RunState::Paused));
        assert_eq!(p.status(), Status::Paused);
        p.apply(FromWorker::Run(RunState::Stopped));
        assert_eq!(p.status(), Status::Idle);
        p.apply(FromWorker::Run(RunState::Finished));
        assert_eq!(p.status(), Status::Done);
        p.apply(FromWorker::Data(DataStatus::Failed("gone".into())));
        assert_eq!(p.status(), Status::Error);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn steps_become_curve_points_in_epochs() {
        let mut p = PageState::default();
        p.apply(step(1, 1, 2));
        p.apply(step(1, 2, 1));
        assert_eq!(p.models.len(), 2);
        let xs: Vec<f32> = p.models[1].train.iter().map(|t| t.x).collect();
        assert_eq!(xs, [0.5, 1.25]);
        assert_eq!(p.models[1].position, Some((2, 1, 4)));
        assert_eq!(p.images_per_second(), Some(64.0));
        p.start_run(2);
        assert!(p.models.iter().all(|m| m.train.is_empty()));
        assert_eq!(p.images_per_second(), None);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn worker_failure_is_an_error_state_with_the_message() {
        let mut p = PageState::default();
        p.worker_failed("cannot start the worker".into());
        assert_eq!(p.status(), Status::Error);
        assert_eq!(p.errors(), ["cannot start the worker"]);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn the_badge_names_the_runs_device_and_a_failed_gpu_falls_back() {
        let mut p = PageState::default();
        p.apply(FromWorker::Ready(info()));
        assert_eq!(p.device_label(), "wasm SIMD");
        assert!(!p.gpu_ready());
        p.apply(FromWorker::Gpu(GpuStatus::Ready {
            adapter: "a GPU".into(),
            software: false,
        }));
        p.apply(FromWorker::Device(Device::Gpu));
        assert!(p.gpu_ready());
        assert_eq!(p.device_label(), "WebGPU");
        p.start_run(2);
        // Choosing the CPU for the next run does not relabel the one training.
        p.apply(FromWorker::Device(Device::Cpu));
        assert_eq!(p.device_label(), "WebGPU");
        p.apply(FromWorker::Gpu(GpuStatus::Unavailable(
            "device lost".into(),
        )));
        p.apply(FromWorker::Device(Device::Cpu));
        assert!(!p.gpu_ready());
        assert_eq!(p.device_label(), "wasm SIMD");
    }
}
