//! `ModelSpec`: what a network is, as plain serde data (JSON in files, share links and weights
//! metadata). Layer names follow the lecture's Keras code; activations sit on their conv or dense
//! layer as in Keras.

use serde::{Deserialize, Serialize};

use crate::ops::Padding;
use crate::ops::pad::PadMode;

/// A network: an input shape `[channels, height, width]` and a sequence of layers whose last
/// output is the logits (the softmax lives in the loss).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    pub name: String,
    pub input: [usize; 3],
    pub layers: Vec<LayerSpec>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    #[default]
    Linear,
    Relu,
    /// Only meaningful on the last layer: softmax is applied by the loss and by prediction.
    Softmax,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// Glorot (Xavier) uniform, Keras's default.
    #[default]
    GlorotUniform,
    /// He (Kaiming) uniform, for ReLU networks.
    HeUniform,
}

fn one() -> usize {
    1
}
fn yes() -> bool {
    true
}
fn is_one(v: &usize) -> bool {
    *v == 1
}
fn is_true(v: &bool) -> bool {
    *v
}
fn two() -> usize {
    2
}
fn three() -> usize {
    3
}
fn bn_eps() -> f32 {
    1e-5
}
fn bn_momentum() -> f32 {
    0.1
}

/// One layer. `type` selects the variant in JSON, e.g.
/// `{"type": "conv2d", "name": "conv1", "filters": 32, "kernel": 3, "activation": "relu"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LayerSpec {
    Conv2d {
        name: String,
        filters: usize,
        kernel: usize,
        #[serde(default = "one", skip_serializing_if = "is_one")]
        stride: usize,
        #[serde(default)]
        padding: Padding,
        /// What `same` padding fills the border with (zeros, reflect, circular).
        #[serde(default, skip_serializing_if = "PadMode::is_zeros")]
        padding_mode: PadMode,
        #[serde(default = "one", skip_serializing_if = "is_one")]
        groups: usize,
        #[serde(default)]
        activation: Activation,
        #[serde(default = "yes", skip_serializing_if = "is_true")]
        bias: bool,
        #[serde(default)]
        init: Init,
    },
    MaxPool {
        name: String,
        size: usize,
        /// Defaults to `size`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stride: Option<usize>,
        #[serde(default)]
        padding: Padding,
    },
    AvgPool {
        name: String,
        size: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stride: Option<usize>,
        #[serde(default)]
        padding: Padding,
    },
    GlobalAvgPool {
        name: String,
    },
    /// PyTorch's `AdaptiveAvgPool2d(size)`: an `[height, width]` output from any input size, each
    /// cell the mean of its bin of the input (see `ops::adaptive_pool`). Free when the input
    /// already has that size.
    AdaptiveAvgPool {
        name: String,
        size: [usize; 2],
    },
    Flatten {
        name: String,
    },
    Dense {
        name: String,
        units: usize,
        #[serde(default)]
        activation: Activation,
        #[serde(default = "yes", skip_serializing_if = "is_true")]
        bias: bool,
        #[serde(default)]
        init: Init,
    },
    Dropout {
        name: String,
        rate: f32,
    },
    BatchNorm {
        name: String,
        #[serde(default = "bn_eps")]
        eps: f32,
        #[serde(default = "bn_momentum")]
        momentum: f32,
    },
    Relu {
        name: String,
    },
    /// `min(max(x, 0), 6)` (MobileNet v2).
    Relu6 {
        name: String,
    },
    /// `y = body(x) + shortcut(x)`; the shortcut is the identity, a 1×1 convolution with
    /// `stride` and the body's channel count (`projection`), or any layers (`shortcut`, e.g.
    /// torchvision's `downsample`: a 1×1 convolution and a batch norm).
    Residual {
        name: String,
        body: Vec<LayerSpec>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        projection: Option<Projection>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        shortcut: Vec<LayerSpec>,
    },
    /// Parallel branches on the same input, merged by channel concatenation (Inception). An
    /// empty branch is the input itself (DenseNet's layers concatenate onto their input).
    Branches {
        name: String,
        branches: Vec<Vec<LayerSpec>>,
    },
    /// Anti-aliased downsampling (Zhang 2019): reflect-pad, blur every channel with a fixed
    /// normalised binomial filter of `size` taps per axis, keep every `stride`-th position.
    BlurPool {
        name: String,
        #[serde(default = "two")]
        stride: usize,
        #[serde(default = "three")]
        size: usize,
    },
    /// DenseNet's dense block: `layers` times, BN → ReLU → [1×1 conv to 4·growth → BN → ReLU if
    /// `bottleneck`] → 3×3 conv to `growth` channels, concatenated onto everything before. With
    /// `transition = Some(filters)`, the block ends in BN → ReLU → 1×1 conv → 2×2 average pool.
    DenseBlock {
        name: String,
        layers: usize,
        growth: usize,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        bottleneck: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transition: Option<usize>,
        #[serde(default, skip_serializing_if = "PadMode::is_zeros")]
        padding_mode: PadMode,
    },
    /// An auxiliary classifier (GoogLeNet): `layers` map the current value to class scores whose
    /// cross-entropy, times `weight`, is added to the training loss. The main path continues from
    /// this layer's input unchanged; at evaluation the head is ignored.
    AuxHead {
        name: String,
        weight: f32,
        layers: Vec<LayerSpec>,
    },
}

/// The 1×1 convolution on a residual shortcut.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Projection {
    pub filters: usize,
    #[serde(default = "one")]
    pub stride: usize,
}

impl LayerSpec {
    pub fn name(&self) -> &str {
        match self {
            LayerSpec::Conv2d { name, .. }
            | LayerSpec::MaxPool { name, .. }
            | LayerSpec::AvgPool { name, .. }
            | LayerSpec::GlobalAvgPool { name }
            | LayerSpec::Flatten { name }
            | LayerSpec::Dense { name, .. }
            | LayerSpec::Dropout { name, .. }
            | LayerSpec::BatchNorm { name, .. }
            | LayerSpec::Relu { name }
            | LayerSpec::Relu6 { name }
            | LayerSpec::AdaptiveAvgPool { name, .. }
            | LayerSpec::Residual { name, .. }
            | LayerSpec::Branches { name, .. }
            | LayerSpec::BlurPool { name, .. }
            | LayerSpec::DenseBlock { name, .. }
            | LayerSpec::AuxHead { name, .. } => name,
        }
    }

    /// The Keras-style type name shown in summaries.
    pub fn kind(&self) -> &'static str {
        match self {
            LayerSpec::Conv2d { .. } => "Conv2D",
            LayerSpec::MaxPool { .. } => "MaxPooling2D",
            LayerSpec::AvgPool { .. } => "AveragePooling2D",
            LayerSpec::GlobalAvgPool { .. } => "GlobalAveragePooling2D",
            LayerSpec::Flatten { .. } => "Flatten",
            LayerSpec::Dense { .. } => "Dense",
            LayerSpec::Dropout { .. } => "Dropout",
            LayerSpec::BatchNorm { .. } => "BatchNormalization",
            LayerSpec::Relu { .. } => "ReLU",
            LayerSpec::Relu6 { .. } => "ReLU6",
            LayerSpec::AdaptiveAvgPool { .. } => "AdaptiveAvgPool2d",
            LayerSpec::Residual { .. } => "Residual",
            LayerSpec::Branches { .. } => "Concatenate",
            LayerSpec::BlurPool { .. } => "BlurPool",
            LayerSpec::DenseBlock { .. } => "DenseBlock",
            LayerSpec::AuxHead { .. } => "AuxClassifier",
        }
    }
}

impl LayerSpec {
    /// Whether this layer is, or holds, a batch norm (a dense block always does).
    pub fn has_batchnorm(&self) -> bool {
        match self {
            LayerSpec::BatchNorm { .. } | LayerSpec::DenseBlock { .. } => true,
            LayerSpec::Residual { body, shortcut, .. } => {
                body.iter().chain(shortcut).any(LayerSpec::has_batchnorm)
            }
            LayerSpec::AuxHead { layers, .. } => layers.iter().any(LayerSpec::has_batchnorm),
            LayerSpec::Branches { branches, .. } => {
                branches.iter().flatten().any(LayerSpec::has_batchnorm)
            }
            _ => false,
        }
    }
}

impl ModelSpec {
    /// Whether training normalises with batch statistics anywhere in the network: then how a
    /// batch is split over data-parallel workers changes the numbers (`TrainSpec::shards`).
    pub fn has_batchnorm(&self) -> bool {
        self.layers.iter().any(LayerSpec::has_batchnorm)
    }

    pub fn from_json(text: &str) -> crate::Result<Self> {
        serde_json::from_str(text).map_err(|e| crate::Error::SpecJson(e.to_string()))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a ModelSpec always serialises")
    }
}
