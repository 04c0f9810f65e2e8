//! [`TrainSpec`]: epochs, batch, optimizer, seed, training-set size, canvas, augmentation and
//! shards, checked before any work.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::optim::OptimizerSpec;

fn default_canvas() -> usize {
    64
}

fn one_shard() -> usize {
    1
}

fn is_one_shard(n: &usize) -> bool {
    *n == 1
}

/// How to train: epochs, batch, optimizer, seed, training-set size, canvas and augmentation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    pub epochs: usize,
    pub batch: usize,
    pub optimizer: OptimizerSpec,
    pub seed: u64,
    /// Train on the first `limit` training images only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Side of the square canvas digits are placed on (28 = no padding; the lecture uses 64).
    #[serde(default = "default_canvas")]
    pub canvas: usize,
    /// Train-time augmentation: each digit moved up to this many pixels from the centre.
    #[serde(default)]
    pub train_shift: usize,
    /// Shards a batch of a model with batch norm is split into, each normalised with its own
    /// statistics, as data-parallel workers do (PyTorch DDP's default, no SyncBatchNorm). Models
    /// without batch norm give the same result, within float rounding, however a batch is
    /// split, so this setting does not apply to them.
    #[serde(default = "one_shard", skip_serializing_if = "is_one_shard")]
    pub shards: usize,
}

impl Default for TrainSpec {
    /// The lecture's settings: Adam 1e-3, batch 64, centred 64×64 canvas.
    fn default() -> Self {
        TrainSpec {
            epochs: 1,
            batch: 64,
            optimizer: OptimizerSpec::adam(1e-3),
            seed: 0,
            limit: None,
            canvas: 64,
            train_shift: 0,
            shards: 1,
        }
    }
}

impl TrainSpec {
    /// Training images used per epoch of `data`.
    pub fn images_per_epoch(&self, data: &crate::data::Dataset) -> usize {
        self.limit.map_or(data.len(), |l| l.min(data.len()))
    }

    /// Optimizer steps per epoch of `data`.
    pub fn steps_per_epoch(&self, data: &crate::data::Dataset) -> usize {
        self.images_per_epoch(data).div_ceil(self.batch)
    }

    pub fn validate(&self) -> Result<()> {
        self.optimizer.validate()?;
        let bad = |m: String| Err(Error::InvalidTrainSpec(m));
        if self.epochs == 0 || self.epochs > 10_000 {
            return bad(format!(
                "epochs = {} must be between 1 and 10000",
                self.epochs
            ));
        }
        if self.batch == 0 || self.batch > 4096 {
            return bad(format!("batch = {} must be between 1 and 4096", self.batch));
        }
        if !(28..=512).contains(&self.canvas) {
            return bad(format!(
                "canvas = {} must be between 28 and 512",
                self.canvas
            ));
        }
        if self.limit == Some(0) {
            return bad("limit must be at least 1 image".into());
        }
        if !(1..=MAX_SHARDS).contains(&self.shards) {
            return bad(format!(
                "shards = {} must be between 1 and {MAX_SHARDS}",
                self.shards
            ));
        }
        Ok(())
    }
}

/// Most shards a training step is split into.
pub const MAX_SHARDS: usize = 64;
