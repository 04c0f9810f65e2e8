//! The messages between the page and the worker, both directions, and their encoding.
//!
//! Both sides link this one file, so a message cannot mean one thing to the page and another to
//! the worker. Messages cross `postMessage` as plain JS values made by `serde-wasm-bindgen`.

use convplay_compute::data::DatasetKind;
use convplay_compute::metrics::ShiftMap;
use convplay_compute::model::ModelSpec;
use convplay_compute::train::Evaluation;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use wasm_bindgen::JsValue;

use crate::experiment::Experiment;

/// A grey-scale image, row-major, values in `[0, 1]` (0 = background).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Image {
    pub side: usize,
    pub pixels: Vec<f32>,
}

/// What the page asks of the worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ToWorker {
    /// Fetch the dataset's test and training files (answered with `Data` messages).
    Load(DatasetKind),
    /// Fresh, untrained models for this experiment, so drawings get predictions before any
    /// training; ignored once models have been trained or imported.
    Prepare(Experiment),
    /// Build fresh models for the experiment and train them (loading its dataset first).
    Start(Experiment),
    Pause,
    Resume,
    Stop,
    /// Class probabilities of every current model for this drawing.
    Predict(Image),
    /// Feature maps, first-layer filters and the class activation map for this drawing.
    Inspect(Image),
    /// Accuracy of every model at each (dx, dy) of a grid with this spacing, over `images`
    /// test images per offset.
    ShiftMaps {
        step: usize,
        images: usize,
    },
    /// A random test image of the loaded dataset.
    RandomDigit,
    /// The weights of model `index` as `.safetensors`.
    ExportWeights {
        index: usize,
    },
    /// Replace model `index` by the one in this `.safetensors` file.
    ImportWeights {
        index: usize,
        bytes: Vec<u8>,
    },
    /// Train with this many workers: the worker itself and gradient workers it starts
    /// (data-parallel, `crate::worker::shards`). Takes effect at the next training step.
    Workers(usize),
    /// Train the next run on this device (answered with `Device`, or an error when WebGPU is
    /// not there).
    Device(Device),
}

/// Where a run trains: the CPU (wasm SIMD, with gradient workers) or WebGPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Device {
    #[default]
    Cpu,
    Gpu,
}

/// What the worker found when it asked the browser for a WebGPU adapter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum GpuStatus {
    /// A device is open (each kernel compiles on first use). `software`: a software rasteriser
    /// (SwiftShader), correct but slower than wasm SIMD, so not the default.
    Ready { adapter: String, software: bool },
    /// No WebGPU, no adapter or no device: why.
    Unavailable(String),
}

/// Where the dataset download stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum DataStatus {
    /// `received` of `total` bytes (total 0 when the server does not say) of `file`.
    Loading {
        file: String,
        received: u64,
        total: u64,
    },
    Ready {
        train: usize,
        test: usize,
    },
    Failed(String),
}

/// Why training stopped or where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunState {
    Training,
    Paused,
    Stopped,
    Finished,
}

/// Running training figures of one model.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    pub model: usize,
    pub epoch: usize,
    pub step: usize,
    pub steps_per_epoch: usize,
    pub loss: f32,
    pub accuracy: f32,
    /// Images trained so far in this run by all models, and the seconds spent training them.
    pub images_total: u64,
    pub seconds: f64,
}

/// Maps of one model for one drawing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Inspection {
    pub model: usize,
    /// Per conv layer: its name and up to 16 channels as 8-bit images.
    pub layers: Vec<FeatureMaps>,
    /// The first conv layer's filters (single input channel), each scaled to -1..1.
    pub filters: Option<Filters>,
    /// The class activation map of the predicted class, or why the model has none.
    pub cam: Result<Cam, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureMaps {
    pub layer: String,
    pub channels: usize,
    pub side: usize,
    /// `shown × side × side` bytes, each map scaled to 0..=255 by its own maximum.
    pub maps: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Filters {
    pub layer: String,
    pub kernel: usize,
    pub weights: Vec<f32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cam {
    pub class: usize,
    pub side: usize,
    /// `side × side`, scaled to 0..=1 (negative evidence clipped to 0).
    pub map: Vec<f32>,
}

/// What the worker tells the page. `Ready` comes first, before the worker reads any command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum FromWorker {
    Ready(BackendInfo),
    Data(DataStatus),
    Run(RunState),
    Step(StepReport),
    Evaluated {
        model: usize,
        epoch: usize,
        centered: Evaluation,
        shifted: Evaluation,
    },
    /// Class probabilities per model, for the drawing last sent with `Predict`.
    Prediction(Vec<Vec<f32>>),
    Inspected(Vec<Inspection>),
    /// `done` of `total` cells computed; the maps so far (all when done = total).
    ShiftMaps {
        done: usize,
        total: usize,
        maps: Vec<ShiftMap>,
    },
    Digit {
        image: Image,
        label: u8,
    },
    Weights {
        index: usize,
        bytes: Vec<u8>,
    },
    /// Model `index` was replaced by imported weights of this spec.
    Imported {
        index: usize,
        spec: ModelSpec,
    },
    /// How many workers train now (gradient workers count once they are ready).
    Workers(usize),
    /// Whether WebGPU can train here; sent once, after `Ready`.
    Gpu(GpuStatus),
    /// The device the next run trains on (and the current one, unless it started before).
    Device(Device),
    /// What the worker holds, about once a second while it works and once when it stops.
    Memory(WorkerMemory),
    /// Something went wrong: a command that could not be carried out, a panic.
    Error(String),
}

/// The memory a worker holds: its wasm linear memory (which only grows) and the storage
/// buffers alive on its WebGPU device. A long run's figures stay flat after warm-up, or
/// something leaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerMemory {
    pub wasm_bytes: u64,
    pub gpu_buffers: u64,
    pub gpu_bytes: u64,
}

/// Where the worker's arithmetic runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackendInfo {
    /// `"wasm-simd128"` or `"wasm-scalar"`.
    pub backend: String,
    /// The instruction set the compute crate's CPU kernels use, from `cpu::simd::active_isa()`.
    pub isa: String,
}

impl BackendInfo {
    /// The badge text: `wasm SIMD` or `wasm (scalar)`.
    pub fn label(&self) -> &'static str {
        match self.backend.as_str() {
            "wasm-simd128" => "wasm SIMD",
            _ => "wasm (scalar)",
        }
    }
}

/// Turns a message into the JS value that `postMessage` carries. 64-bit integers (multiply-adds)
/// become BigInts, so no count is rounded on the way.
pub fn encode<T: Serialize>(message: &T) -> Result<JsValue, String> {
    let serializer =
        serde_wasm_bindgen::Serializer::new().serialize_large_number_types_as_bigints(true);
    message
        .serialize(&serializer)
        .map_err(|e| format!("cannot encode message: {e}"))
}

/// Reads a message back from a `MessageEvent`'s data.
pub fn decode<T: DeserializeOwned>(data: JsValue) -> Result<T, String> {
    serde_wasm_bindgen::from_value(data).map_err(|e| format!("cannot decode message: {e}"))
}

/// The script that starts a convplay worker, the page's and each gradient worker:
/// `web/convplay-worker-loader.js`, which Trunk copies beside the page; it loads the
/// `convplay-worker` bin's wasm-bindgen glue and instantiates its wasm.
pub const WORKER_SCRIPT: &str = "./convplay-worker-loader.js";

/// What a worker's `error` event says: a script that fails to load fires a plain `Event`; an
/// uncaught exception inside the worker fires an `ErrorEvent` with its message.
pub fn worker_error(event: &web_sys::Event) -> String {
    use wasm_bindgen::JsCast;
    event
        .dyn_ref::<web_sys::ErrorEvent>()
        .map(web_sys::ErrorEvent::message)
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| format!("could not load {WORKER_SCRIPT}"))
}
