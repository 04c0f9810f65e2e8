//! The worker: what runs inside the dedicated Web Worker (the bin `convplay-worker`).
//!
//! - [`engine`]: the worker's state and its answer to each command, with no browser in it.
//! - [`error`]: [`error::WorkerError`], what goes wrong there, typed until a message says it.
//! - [`inspect`]: predictions, feature maps and class activation maps of one drawing.
//! - [`pool`] and [`shards`]: data-parallel training over nested gradient workers; the pool is
//!   the training worker's side, [`shards`] their messages and what a gradient worker computes.

pub mod engine;
pub mod error;
pub mod inspect;
pub mod pool;
pub mod shards;
