//! Models: the spec (serde), presets, shape inference, summary, the `Model` that owns the flat
//! parameter, gradient and statistics buffers, and the graph walker ([`walk`]) that runs forward
//! and backward over a backend's primitives.

pub mod graph;
pub mod presets;
pub mod spec;
pub mod summary;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_full;
#[cfg(test)]
mod tests_zoo;
pub mod transform;
pub mod walk;

pub use crate::cpu::workspace::{Mode, Workspace};
pub use graph::{AuxOutput, Graph, ParamInfo, SummaryRow, compile};
pub use presets::{FULL_SIZE, PRESETS, ZOO, full_size, preset, preset_for};
pub use spec::{Activation, Init, LayerSpec, ModelSpec, Projection};
pub use summary::Summary;

use graph::ParamInit;

use crate::error::{Error, Result};
use crate::rng::Rng;

/// A compiled network with its parameters. Parameters and gradients each live in one flat buffer
/// (named views in `graph.params`), so an optimizer step is one loop.
#[derive(Clone, Debug)]
pub struct Model {
    pub spec: ModelSpec,
    pub graph: Graph,
    pub params: Vec<f32>,
    pub grads: Vec<f32>,
    /// Non-trained state: batch-norm running statistics (views in `graph.buffers`).
    pub buffers: Vec<f32>,
}

fn fill(buf: &mut [f32], init: ParamInit, rng: &mut Rng) {
    match init {
        ParamInit::GlorotUniform { fan_in, fan_out } => {
            let limit = (6.0 / (fan_in + fan_out).max(1) as f32).sqrt();
            buf.iter_mut().for_each(|v| *v = rng.uniform(-limit, limit));
        }
        ParamInit::HeUniform { fan_in } => {
            let limit = (6.0 / fan_in.max(1) as f32).sqrt();
            buf.iter_mut().for_each(|v| *v = rng.uniform(-limit, limit));
        }
        ParamInit::Zeros => buf.fill(0.0),
        ParamInit::Ones => buf.fill(1.0),
    }
}

impl Model {
    /// Compiles `spec` and initialises its parameters from `seed` (Glorot / He uniform, zero bias).
    pub fn new(spec: ModelSpec, seed: u64) -> Result<Self> {
        let graph = compile(&spec)?;
        let mut model = Model {
            params: vec![0.0; graph.param_len],
            grads: vec![0.0; graph.param_len],
            buffers: vec![0.0; graph.buffer_len],
            spec,
            graph,
        };
        let mut rng = Rng::new(seed);
        for p in &model.graph.params {
            fill(&mut model.params[p.range()], p.init, &mut rng);
        }
        for b in &model.graph.buffers {
            fill(&mut model.buffers[b.range()], b.init, &mut rng);
        }
        Ok(model)
    }

    pub fn zero_grad(&mut self) {
        self.grads.fill(0.0);
    }

    pub fn classes(&self) -> usize {
        self.graph.classes
    }

    pub fn param_count(&self) -> usize {
        self.graph.param_len
    }

    /// How many values a training forward draws from its generator: one key per dropout layer.
    pub fn dropout_draws(&self) -> usize {
        self.graph
            .nodes
            .iter()
            .filter(|n| matches!(n.op, graph::NodeOp::Dropout { .. }))
            .count()
    }

    /// Whether a training forward normalises with batch statistics, which then depend on how a
    /// batch is split into shards.
    pub fn has_batchnorm(&self) -> bool {
        self.graph
            .nodes
            .iter()
            .any(|n| matches!(n.op, graph::NodeOp::BatchNorm { .. }))
    }

    /// Per-image input length (`c·h·w`).
    pub fn input_len(&self) -> usize {
        self.graph.input.iter().product()
    }

    pub fn summary(&self) -> Result<Summary> {
        self.spec.summary()
    }

    /// The parameter or buffer called `name` (`conv1.weight`, `bn1.running_var`, …).
    pub fn tensor(&self, name: &str) -> Result<&[f32]> {
        if let Some(p) = self.graph.params.iter().find(|p| p.name == name) {
            return Ok(&self.params[p.range()]);
        }
        if let Some(b) = self.graph.buffers.iter().find(|b| b.name == name) {
            return Ok(&self.buffers[b.range()]);
        }
        Err(Error::WeightsMismatch(format!(
            "the model has no tensor named {name}"
        )))
    }
}
