//! convplay-compute: tensors, CNN ops (forward + backward), the CPU backend (scalar reference +
//! SIMD), models, optimizers, data and the training loop. It runs natively (multi-core via rayon)
//! and in the browser (wasm32, single-threaded, simd128).

pub mod backend;
pub mod cpu;
pub mod data;
pub mod error;
pub mod experiment;
pub mod export;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod ops;
pub mod optim;
pub mod par;
pub mod rng;
pub mod train;
pub mod weights;

pub use error::{Error, Result};
pub use experiment::{Experiment, LinkError, Run, RunEvent};
pub use model::{Model, ModelSpec, preset};
