//! What goes wrong in the worker, typed until it reaches the page: the compute crate's errors and
//! the worker's own. They become text only where a `FromWorker::Error` (or a gradient worker's
//! `FromHelper::Failed`) is built.

use convplay_compute::data::DatasetKind;
use convplay_compute::error::Error;

#[derive(thiserror::Error, Debug, Clone, PartialEq)]
pub enum WorkerError {
    #[error(transparent)]
    Compute(#[from] Error),
    /// A run's dataset is not the one loaded (or none is).
    #[error("the {0} data is not loaded yet")]
    DataNotLoaded(DatasetKind),
    #[error("the data is not loaded yet")]
    NoData,
    /// Model `.0` (counted from 0; the message counts from 1, as the page does).
    #[error("there is no model {}", .0 + 1)]
    NoModel(usize),
    #[error("there is no model to map yet")]
    NothingToMap,
    #[error("WebGPU is not available in this browser: training stays on the CPU")]
    NoWebGpu,
    /// The CPU run a step belongs to was replaced or ended.
    #[error("the run is gone")]
    RunGone,
    #[error("the GPU or the data is gone")]
    GpuGone,
    /// A gradient worker was sent weights of another model.
    #[error("model {} has {expected} weights, the coordinator sent {sent}", .model + 1)]
    WeightCount {
        model: usize,
        expected: usize,
        sent: usize,
    },
}
