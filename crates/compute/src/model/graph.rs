//! The compiled graph: a flat list of nodes over numbered values, with every parameter's place in
//! the model's one flat parameter buffer, and the summary rows. [`compile`] (in `compile.rs`)
//! infers it from a `ModelSpec`.
//!
//! Sequences, residual blocks and branches all become the same thing here: nodes in execution
//! order, each reading earlier values. Backward walks the list in reverse.

use serde::{Deserialize, Serialize};

use crate::ops::adaptive_pool::AdaptivePoolGeom;
use crate::ops::batchnorm::BatchNormGeom;
use crate::ops::blur::BlurGeom;
use crate::ops::conv2d::Conv2dGeom;
use crate::ops::dense::DenseGeom;
use crate::ops::pad::PadGeom;
use crate::ops::pool::PoolGeom;

mod compile;

pub use compile::compile;

pub type ValueId = usize;
pub type ParamId = usize;

/// How a parameter tensor starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ParamInit {
    GlorotUniform { fan_in: usize, fan_out: usize },
    HeUniform { fan_in: usize },
    Zeros,
    Ones,
}

/// A named tensor inside a flat buffer.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamInfo {
    /// `<layer>.weight`, `<layer>.bias`, `<layer>.running_mean`, …
    pub name: String,
    pub shape: Vec<usize>,
    pub offset: usize,
    pub len: usize,
    pub init: ParamInit,
}

impl ParamInfo {
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len
    }
}

/// A batch norm's learned scale and shift (parameters) and running statistics (`mean` and `var`
/// index [`Graph::buffers`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormParams {
    pub gamma: ParamId,
    pub beta: ParamId,
    pub mean: usize,
    pub var: usize,
}

impl BatchNormParams {
    /// Where they sit in the flat parameter and statistics buffers of `g`.
    pub fn at(&self, g: &Graph) -> crate::backend::BatchNormAt {
        crate::backend::BatchNormAt {
            gamma: g.params[self.gamma].offset,
            beta: g.params[self.beta].offset,
            mean: g.buffers[self.mean].offset,
            var: g.buffers[self.var].offset,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeOp {
    /// `relu`: the layer's ReLU runs in place on the output (and masks the gradient in
    /// backward), saving a pass over memory and a buffer.
    Conv2d {
        geom: Conv2dGeom,
        weight: ParamId,
        bias: Option<ParamId>,
        relu: bool,
    },
    Dense {
        geom: DenseGeom,
        weight: ParamId,
        bias: Option<ParamId>,
        relu: bool,
    },
    MaxPool(PoolGeom),
    AvgPool(PoolGeom),
    GlobalAvgPool {
        plane: usize,
    },
    Flatten,
    Relu,
    Relu6,
    AdaptiveAvgPool(AdaptivePoolGeom),
    Dropout {
        rate: f32,
    },
    BatchNorm {
        geom: BatchNormGeom,
        params: BatchNormParams,
    },
    Add,
    Concat,
    /// Explicit border (reflect / circular `same` padding, BlurPool's reflect pad).
    Pad(PadGeom),
    /// Fixed binomial blur, subsampled by the stride (BlurPool).
    Blur(BlurGeom),
}

/// An auxiliary classifier's logits and the weight of its loss (training only).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AuxOutput {
    pub value: ValueId,
    pub weight: f32,
    /// Index of the head's summary row.
    pub row: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub op: NodeOp,
    pub inputs: Vec<ValueId>,
    pub output: ValueId,
    /// The layer (summary row) this node belongs to.
    pub layer: String,
}

/// One row of `summary()`, like Keras's `model.summary()` plus multiply-adds and activations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SummaryRow {
    pub name: String,
    pub kind: String,
    /// `[channels, height, width]`, or `[units]` after flatten, GAP or dense.
    pub output_shape: Vec<usize>,
    pub params: usize,
    /// Multiply-adds of the forward pass for one image.
    pub macs: u64,
    /// Floats this layer's output holds for one image.
    pub activations: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    pub input: [usize; 3],
    pub nodes: Vec<Node>,
    /// Per-image shape of each value; value 0 is the input.
    pub values: Vec<[usize; 3]>,
    /// Whether a value is 1-D (`[units]`): after flatten, GAP or dense.
    pub flat: Vec<bool>,
    pub params: Vec<ParamInfo>,
    pub buffers: Vec<ParamInfo>,
    pub param_len: usize,
    pub buffer_len: usize,
    pub output: ValueId,
    pub classes: usize,
    pub rows: Vec<SummaryRow>,
    /// Auxiliary classifier heads, in graph order.
    pub aux: Vec<AuxOutput>,
}

impl Graph {
    pub fn value_len(&self, v: ValueId) -> usize {
        self.values[v].iter().product()
    }
}
