//! The WebGPU / wgpu backend: every step of training on the GPU.
//!
//! - [`GpuContext`]: adapter, device, queue and every compute pipeline, built once.
//! - [`kernels`]: the WGSL files of each primitive pass (`shaders/` at the repository root, a
//!   folder per op family), the `#[repr(C)]` params struct mirroring each shader's uniform, and
//!   how each is dispatched.
//! - [`ops`]: the primitive-level API, one function per CPU primitive, recording [`ops::Dispatch`]es.
//! - [`model`]: forward and backward over a compiled [`crate::model::Graph`] with every buffer
//!   on the device; [`trainer`]: the GPU training loop and evaluation.
//!
//! GPU work is asynchronous: a step records and submits and never waits. Only metrics (and, on
//! request, weights) are read back; natively that wait is `pollster::block_on`, in the browser an
//! `await`.

pub mod backend;
pub mod buffer;
pub mod context;
pub mod kernels;
pub mod model;
pub mod ops;
pub mod params;
pub mod run;
pub mod trainer;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests_full;
#[cfg(test)]
mod tests_training;
#[cfg(test)]
mod tests_zoo;

pub use buffer::GpuBuffer;
pub use context::GpuContext;
pub use model::GpuModel;
pub use run::GpuRun;
#[cfg(not(target_arch = "wasm32"))]
pub use trainer::block_on;
pub use trainer::{GpuInfer, GpuTrainer};
