//! An [`Experiment`]: the models, the data and the training settings of one run, everything a
//! share link carries. [`Experiment::to_fragment`] / [`Experiment::from_link`] are the link codec;
//! [`Run`] trains an experiment in small bounded steps, so the browser's worker and the CLI's
//! `convplay run --link` drive the very same loop and produce the same curves.
//!
//! Link format, version 1: `#e=1.<payload>`, where the payload is the experiment as JSON (a model
//! that equals a preset is written as its name), deflated, in unpadded base64url. A link is
//! untrusted input: its length, its inflated size and everything in it are checked, and every
//! failure is a [`LinkError`] that says what was wrong.
//!
//! - [`link`]: the link codec and its errors;
//! - [`run`]: [`Run`], the step-wise driver, and its events.

use serde::{Deserialize, Serialize};

use crate::data::DatasetKind;
use crate::error::{Error, Result};
use crate::model::{ModelSpec, compile, preset_for};
use crate::train::TrainSpec;

mod link;
mod run;
#[cfg(test)]
pub(crate) mod tests;

pub use link::{LINK_VERSION, LinkError, MAX_JSON_BYTES, MAX_LINK_CHARS};
pub use run::{Begun, Run, RunEvent};

/// Most models one experiment compares.
pub const MAX_MODELS: usize = 4;
/// Largest model (parameters) an experiment may build.
pub const MAX_PARAMS: usize = 50_000_000;
/// Largest activation memory of one training batch, in f32 values (≈ 2 GiB).
pub const MAX_BATCH_ACTIVATIONS: usize = 512 * 1024 * 1024;

/// Which data, and how it is tested.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    pub dataset: DatasetKind,
    /// Evaluate on the first `test_limit` test images only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_limit: Option<usize>,
    /// Seed of the shifted test set's offsets.
    #[serde(default)]
    pub shift_seed: u64,
}

impl Default for DataSpec {
    fn default() -> Self {
        DataSpec {
            dataset: DatasetKind::Mnist,
            test_limit: Some(2000),
            shift_seed: 0,
        }
    }
}

/// Models compared side by side, the data, and how each model is trained (the same for all).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    pub models: Vec<ModelSpec>,
    pub data: DataSpec,
    pub train: TrainSpec,
}

impl Default for Experiment {
    /// The lecture's comparison (cnn-flatten vs cnn-gap on the 64×64 canvas, Adam 1e-3, batch
    /// 64) on a budget a browser trains in minutes: one epoch of all 60,000 images, 2,000 test
    /// images. Less data does not show the point: cnn-gap learns slowly at first (measured
    /// natively: 49% centred test accuracy after 20,000 images, 91% after 60,000).
    fn default() -> Self {
        let models = ["cnn-flatten", "cnn-gap"]
            .iter()
            .map(|n| preset_for(n, 64).expect("built-in presets compile"))
            .collect();
        Experiment {
            models,
            data: DataSpec::default(),
            train: TrainSpec::default(),
        }
    }
}

impl Experiment {
    /// Checks everything a run needs before any memory is committed: the model count, that each
    /// model compiles, takes the canvas as input and outputs 10 classes, its size, and the
    /// training settings.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidExperiment(m));
        if self.models.is_empty() || self.models.len() > MAX_MODELS {
            return bad(format!(
                "an experiment compares 1 to {MAX_MODELS} models, not {}",
                self.models.len()
            ));
        }
        self.train.validate()?;
        if self.data.test_limit == Some(0) {
            return bad("test_limit must be at least 1 image".into());
        }
        let c = self.train.canvas;
        for (i, spec) in self.models.iter().enumerate() {
            let who = format!("model {} ({})", i + 1, spec.name);
            let graph =
                compile(spec).map_err(|e| Error::InvalidExperiment(format!("{who}: {e}")))?;
            if graph.input != [1, c, c] {
                return bad(format!(
                    "{who} takes input {:?}, but the canvas is {c}×{c} (input [1, {c}, {c}])",
                    graph.input
                ));
            }
            if graph.classes != crate::data::CLASSES {
                return bad(format!(
                    "{who} outputs {} classes; the datasets have {}",
                    graph.classes,
                    crate::data::CLASSES
                ));
            }
            if graph.param_len > MAX_PARAMS {
                return bad(format!(
                    "{who} has {} parameters; the most allowed is {MAX_PARAMS}",
                    graph.param_len
                ));
            }
            let per_image: usize = graph.rows.iter().map(|r| r.activations).sum();
            if per_image.saturating_mul(self.train.batch) > MAX_BATCH_ACTIVATIONS {
                return bad(format!(
                    "{who} needs {per_image} activations per image; a batch of {} would exceed {} GiB",
                    self.train.batch,
                    (MAX_BATCH_ACTIVATIONS * 4) >> 30
                ));
            }
        }
        Ok(())
    }
}
