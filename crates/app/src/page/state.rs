//! The page's state: what the worker has told it so far, and the one reducer of the worker's
//! messages. A plain struct, changed by [`PageState::apply`] and a few resets; the app keeps it
//! in one signal shared through context. The reducer calls no browser API: what a message asks
//! of the page beyond its state comes back as [`Effect`]s, which `Ctx::receive` carries out.

use convplay_compute::metrics::ShiftMap;
use convplay_compute::model::ModelSpec;
use convplay_compute::train::Evaluation;

use crate::experiment::Experiment;
use crate::page::{heatmaps, settings};
use crate::protocol::{
    BackendInfo, DataStatus, Device, FromWorker, GpuStatus, Image, Inspection, RunState, ToWorker,
    WorkerMemory,
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

/// Most points a training curve keeps: a long run's curve is thinned evenly (every other
/// point dropped, then only every second report kept, and so on), so the page's memory and the
/// time to draw a chart stay bounded however long a tab trains.
pub const MAX_CURVE_POINTS: usize = 1000;

/// Everything the page shows about one model's training.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelRun {
    /// At most `2 × MAX_CURVE_POINTS` points, one per `stride` reports.
    pub train: Vec<TrainPoint>,
    pub evals: Vec<EvalPoint>,
    /// `(epoch, step, steps per epoch)` of the last report.
    pub position: Option<(usize, usize, usize)>,
    /// Reports received, and how many reports each kept point stands for (a power of two).
    reports: usize,
    stride: usize,
}

impl ModelRun {
    /// Adds the point of a step report, thinning the curve when it is full. The kept points
    /// are the reports at multiples of `stride`; a full curve keeps every other one, which are
    /// the multiples of twice the stride (the report arriving now among them).
    fn push(&mut self, point: TrainPoint) {
        let stride = self.stride.max(1);
        let report = self.reports;
        self.reports += 1;
        if !report.is_multiple_of(stride) {
            return;
        }
        if self.train.len() >= 2 * MAX_CURVE_POINTS {
            let mut kept = 0;
            self.train.retain(|_| {
                kept += 1;
                kept % 2 == 1
            });
            self.stride = stride * 2;
        }
        self.train.push(point);
    }
}

/// What the page does about a worker message beyond changing its state.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Send this command to the worker.
    Send(ToWorker),
    /// The experiment becomes this one (a model replaced by imported weights).
    SetExperiment(Experiment),
    /// The drawing becomes this image, centred on the canvas.
    Draw(Image),
    /// Ask for the drawing's class probabilities (at most one request in flight).
    Predict,
    /// The prediction in flight was answered: send the drawing again if it changed meanwhile.
    Predicted,
    /// Ask for the drawing's feature maps and class activation map.
    Inspect,
    /// Save these bytes as a file of this name.
    Download { name: String, bytes: Vec<u8> },
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
    /// The label of the test digit the worker last sent for the drawing.
    pub digit_label: Option<u8>,
    /// How many workers train, as the worker last said.
    pub workers: Option<usize>,
    /// WebGPU, once the worker has looked for it.
    pub gpu: Option<GpuStatus>,
    /// Where the next run trains, as the worker last said.
    pub device: Device,
    /// Where the current (or last) run trains.
    pub running_on: Option<Device>,
    /// What the worker holds, as it last said.
    pub memory: Option<WorkerMemory>,
    worker_failed: bool,
    errors: Vec<String>,
}

impl PageState {
    /// Takes in one message from the worker, for the experiment `exp` the page shows; returns
    /// what the page must do beyond its state, in order.
    #[must_use]
    pub fn apply(&mut self, message: FromWorker, exp: &Experiment) -> Vec<Effect> {
        match message {
            FromWorker::Ready(info) => {
                self.backend = Some(info);
                return vec![
                    Effect::Send(ToWorker::Load(exp.data.dataset)),
                    Effect::Send(ToWorker::Prepare(exp.clone())),
                ];
            }
            FromWorker::Data(status) => self.data = Some(status),
            FromWorker::Run(state) => {
                self.run = Some(state);
                if state == RunState::Finished {
                    let (step, images) = heatmaps::DEFAULT;
                    return vec![
                        Effect::Send(ToWorker::ShiftMaps { step, images }),
                        Effect::Predict,
                        Effect::Inspect,
                    ];
                }
            }
            FromWorker::Step(report) => {
                let model = self.model_mut(report.model);
                let x = (report.epoch - 1) as f32
                    + report.step as f32 / report.steps_per_epoch.max(1) as f32;
                model.push(TrainPoint {
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
            FromWorker::Prediction(p) => {
                self.prediction = Some(p);
                return vec![Effect::Predicted];
            }
            FromWorker::Inspected(i) => self.inspection = i,
            FromWorker::ShiftMaps { done, total, maps } => {
                self.shift_maps = Some((done, total, maps))
            }
            FromWorker::Digit { image, label } => {
                self.digit_label = Some(label);
                return vec![Effect::Draw(image), Effect::Predict, Effect::Inspect];
            }
            FromWorker::Weights { index, bytes } => {
                let name = exp.models.get(index).map_or("model", |m| m.name.as_str());
                return vec![Effect::Download {
                    name: format!("{name}.safetensors"),
                    bytes,
                }];
            }
            FromWorker::Imported { index, spec } => {
                if let Some(m) = self.models.get_mut(index) {
                    *m = ModelRun::default();
                }
                return vec![
                    Effect::SetExperiment(with_imported(exp, index, spec)),
                    Effect::Predict,
                ];
            }
            FromWorker::Workers(n) => self.workers = Some(n),
            FromWorker::Memory(m) => self.memory = Some(m),
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
        Vec::new()
    }

    fn model_mut(&mut self, index: usize) -> &mut ModelRun {
        if self.models.len() <= index {
            self.models.resize(index + 1, ModelRun::default());
        }
        &mut self.models[index]
    }

    /// Something failed on the page's side (a file that cannot be read, say).
    pub fn error(&mut self, error: String) {
        self.errors.push(error);
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

/// `exp` with model `index` replaced by `spec`. Weights trained on another canvas move every
/// model to that canvas, since one experiment has one canvas.
fn with_imported(exp: &Experiment, index: usize, spec: ModelSpec) -> Experiment {
    let mut exp = exp.clone();
    let side = spec.input[1];
    if side != exp.train.canvas {
        exp.train.canvas = side;
        exp.models = exp
            .models
            .iter()
            .map(|m| settings::on_canvas(m, side))
            .collect();
    }
    if let Some(m) = exp.models.get_mut(index) {
        *m = spec;
    }
    exp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::StepReport;
    use convplay_compute::data::DatasetKind;
    use convplay_compute::model::preset_for;

    /// The reducer, for the default experiment.
    fn hear(p: &mut PageState, message: FromWorker) -> Vec<Effect> {
        p.apply(message, &Experiment::default())
    }

    fn info() -> BackendInfo {
        BackendInfo {
            backend: "wasm-simd128".into(),
            isa: "simd128".into(),
        }
    }

    /// 10,000 step reports leave at most 2,000 evenly spaced points of the curve: the first,
    /// then every `stride`-th, the last kept one recent.
    #[test]
    fn a_long_run_keeps_a_bounded_evenly_thinned_curve() {
        let mut p = PageState::default();
        let n = 10_000;
        for s in 1..=n {
            let _ = hear(&mut p, step(0, 1, s));
        }
        let run = &p.models[0];
        let xs: Vec<usize> = run
            .train
            .iter()
            .map(|t| (t.x * 4.0).round() as usize)
            .collect();
        assert!(
            xs.len() <= 2 * MAX_CURVE_POINTS && xs.len() >= MAX_CURVE_POINTS,
            "{}",
            xs.len()
        );
        let stride = xs[1] - xs[0];
        assert!(stride.is_power_of_two() && stride > 1, "stride {stride}");
        assert!(
            xs.windows(2).all(|w| w[1] - w[0] == stride),
            "evenly spaced"
        );
        assert_eq!(xs[0], 1, "the first report stays");
        assert!(
            n - xs[xs.len() - 1] < stride,
            "the newest kept point is recent"
        );
        assert_eq!(run.position, Some((1, n, 4)));
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
        hear(&mut p, FromWorker::Ready(info()));
        assert_eq!(p.status(), Status::Loading, "no data yet");
        hear(
            &mut p,
            FromWorker::Data(DataStatus::Ready { train: 10, test: 5 }),
        );
        assert_eq!(p.status(), Status::Idle);
        hear(&mut p, FromWorker::Run(RunState::Training));
        assert_eq!(p.status(), Status::Training);
        hear(&mut p, FromWorker::Run(RunState::Paused));
        assert_eq!(p.status(), Status::Paused);
        hear(&mut p, FromWorker::Run(RunState::Stopped));
        assert_eq!(p.status(), Status::Idle);
        hear(&mut p, FromWorker::Run(RunState::Finished));
        assert_eq!(p.status(), Status::Done);
        hear(&mut p, FromWorker::Data(DataStatus::Failed("gone".into())));
        assert_eq!(p.status(), Status::Error);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn steps_become_curve_points_in_epochs() {
        let mut p = PageState::default();
        hear(&mut p, step(1, 1, 2));
        hear(&mut p, step(1, 2, 1));
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
        hear(&mut p, FromWorker::Ready(info()));
        assert_eq!(p.device_label(), "wasm SIMD");
        assert!(!p.gpu_ready());
        hear(
            &mut p,
            FromWorker::Gpu(GpuStatus::Ready {
                adapter: "a GPU".into(),
                software: false,
            }),
        );
        hear(&mut p, FromWorker::Device(Device::Gpu));
        assert!(p.gpu_ready());
        assert_eq!(p.device_label(), "WebGPU");
        p.start_run(2);
        // Choosing the CPU for the next run does not relabel the one training.
        hear(&mut p, FromWorker::Device(Device::Cpu));
        assert_eq!(p.device_label(), "WebGPU");
        hear(
            &mut p,
            FromWorker::Gpu(GpuStatus::Unavailable("device lost".into())),
        );
        hear(&mut p, FromWorker::Device(Device::Cpu));
        assert!(!p.gpu_ready());
        assert_eq!(p.device_label(), "wasm SIMD");
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn a_ready_worker_is_asked_for_the_dataset_and_fresh_models() {
        let mut exp = Experiment::default();
        exp.data.dataset = DatasetKind::FashionMnist;
        let mut p = PageState::default();
        let effects = p.apply(FromWorker::Ready(info()), &exp);
        assert_eq!(
            effects,
            [
                Effect::Send(ToWorker::Load(DatasetKind::FashionMnist)),
                Effect::Send(ToWorker::Prepare(exp)),
            ]
        );
        assert_eq!(p.backend(), Some(&info()));
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn a_finished_run_asks_for_shift_maps_predictions_and_feature_maps() {
        let mut p = PageState::default();
        assert_eq!(hear(&mut p, FromWorker::Run(RunState::Training)), []);
        assert_eq!(hear(&mut p, FromWorker::Run(RunState::Stopped)), []);
        let (step, images) = heatmaps::DEFAULT;
        assert_eq!(
            hear(&mut p, FromWorker::Run(RunState::Finished)),
            [
                Effect::Send(ToWorker::ShiftMaps { step, images }),
                Effect::Predict,
                Effect::Inspect,
            ]
        );
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn imported_weights_replace_the_model_and_bring_their_canvas() {
        let exp = Experiment::default();
        assert_ne!(exp.train.canvas, 28, "the test imports onto another canvas");
        let mut p = PageState::default();
        hear(&mut p, step(1, 1, 2));
        let spec = preset_for("cnn-gap", 28).unwrap();
        let effects = p.apply(
            FromWorker::Imported {
                index: 1,
                spec: spec.clone(),
            },
            &exp,
        );
        let [Effect::SetExperiment(next), Effect::Predict] = effects.as_slice() else {
            panic!("{effects:?}")
        };
        assert_eq!(next.train.canvas, 28);
        assert_eq!(next.models[1], spec);
        assert_eq!(
            next.models[0].input,
            [1, 28, 28],
            "every model moves to the canvas"
        );
        assert_eq!(next.models[0].name, exp.models[0].name);
        assert!(p.models[1].train.is_empty(), "the old curve is gone");

        // On the same canvas only the imported model changes.
        let same = preset_for("cnn-gap", exp.train.canvas).unwrap();
        let effects = p.apply(
            FromWorker::Imported {
                index: 0,
                spec: same.clone(),
            },
            &exp,
        );
        let mut want = exp.clone();
        want.models[0] = same;
        assert_eq!(effects, [Effect::SetExperiment(want), Effect::Predict]);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn a_test_digit_becomes_the_drawing_and_is_looked_into() {
        let mut p = PageState::default();
        let image = Image {
            side: 2,
            pixels: vec![0.0, 1.0, 0.5, 0.0],
        };
        let effects = hear(
            &mut p,
            FromWorker::Digit {
                image: image.clone(),
                label: 7,
            },
        );
        assert_eq!(
            effects,
            [Effect::Draw(image), Effect::Predict, Effect::Inspect]
        );
        assert_eq!(p.digit_label, Some(7));
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn predictions_are_kept_and_free_the_next_request() {
        let mut p = PageState::default();
        let probs = vec![vec![1.0; 10]];
        assert_eq!(
            hear(&mut p, FromWorker::Prediction(probs.clone())),
            [Effect::Predicted]
        );
        assert_eq!(p.prediction, Some(probs));
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn exported_weights_download_under_the_models_name() {
        let exp = Experiment::default();
        let mut p = PageState::default();
        let weights = |index| FromWorker::Weights {
            index,
            bytes: vec![1, 2, 3],
        };
        assert_eq!(
            p.apply(weights(1), &exp),
            [Effect::Download {
                name: format!("{}.safetensors", exp.models[1].name),
                bytes: vec![1, 2, 3],
            }]
        );
        assert_eq!(
            p.apply(weights(9), &exp),
            [Effect::Download {
                name: "model.safetensors".into(),
                bytes: vec![1, 2, 3],
            }]
        );
        assert_eq!(p, PageState::default(), "the bytes are not kept");
    }
}
