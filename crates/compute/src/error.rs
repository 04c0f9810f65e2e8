//! The one error type of convplay-compute. Every public function that can meet bad input returns it.

use crate::data::CanvasError;
use crate::data::IdxError;

#[derive(thiserror::Error, Debug, Clone, PartialEq)]
pub enum Error {
    #[error("{file}: {source}")]
    Idx {
        file: String,
        #[source]
        source: IdxError,
    },
    #[error(transparent)]
    Canvas(#[from] CanvasError),
    #[error("cannot read {path}: {message}")]
    Io { path: String, message: String },
    #[error("invalid model: layer {layer}: {message}")]
    InvalidModel { layer: String, message: String },
    #[error("invalid model spec JSON: {0}")]
    SpecJson(String),
    #[error("unknown preset {name:?} (known: {known})")]
    UnknownPreset { name: String, known: String },
    #[error("{op}: shape mismatch: expected {expected}, got {got}")]
    ShapeMismatch {
        op: &'static str,
        expected: String,
        got: String,
    },
    #[error("invalid experiment: {0}")]
    InvalidExperiment(String),
    #[error("invalid training settings: {0}")]
    InvalidTrainSpec(String),
    #[error("training diverged at step {step}: loss is {loss}")]
    Diverged { step: u64, loss: f32 },
    #[error("weights file: {0}")]
    Weights(String),
    #[error("weights do not fit the model: {0}")]
    WeightsMismatch(String),
    /// The GPU backend: no adapter, device lost, out of memory, a model too large for the
    /// device's limits. The message names what happened.
    #[error("{0}")]
    Gpu(String),
    /// Image data (an image folder, CIFAR-10 files): the message names the file.
    #[error("image data: {0}")]
    Data(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
