//! Named architectures. `cnn-flatten` and `cnn-gap` are the lecture's two models, layer for layer.

use super::spec::{Activation, Init, LayerSpec, ModelSpec};
use crate::error::{Error, Result};
use crate::ops::Padding;

/// Every preset name, in the order the CLI lists them.
pub const PRESETS: [&str; 3] = ["cnn-flatten", "cnn-gap", "lenet5"];

fn conv(name: &str, filters: usize, kernel: usize, padding: Padding) -> LayerSpec {
    LayerSpec::Conv2d {
        name: name.into(),
        filters,
        kernel,
        stride: 1,
        padding,
        groups: 1,
        activation: Activation::Relu,
        bias: true,
        init: Init::GlorotUniform,
    }
}

fn max_pool(name: &str) -> LayerSpec {
    LayerSpec::MaxPool {
        name: name.into(),
        size: 2,
        stride: None,
        padding: Padding::Valid,
    }
}

fn dense(name: &str, units: usize, activation: Activation) -> LayerSpec {
    LayerSpec::Dense {
        name: name.into(),
        units,
        activation,
        bias: true,
        init: Init::GlorotUniform,
    }
}

fn dropout(name: &str) -> LayerSpec {
    LayerSpec::Dropout {
        name: name.into(),
        rate: 0.5,
    }
}

/// The lecture's head-less trunk: conv1, pool1, conv2, pool2, conv3.
fn lecture_trunk() -> Vec<LayerSpec> {
    vec![
        conv("conv1", 32, 3, Padding::Valid),
        max_pool("pool1"),
        conv("conv2", 64, 3, Padding::Valid),
        max_pool("pool2"),
        conv("conv3", 128, 3, Padding::Valid),
    ]
}

/// The preset `name` for single-channel `side × side` input.
pub fn preset_for(name: &str, side: usize) -> Result<ModelSpec> {
    let layers = match name {
        "cnn-flatten" => {
            let mut l = lecture_trunk();
            l.extend([
                max_pool("pool3"),
                LayerSpec::Flatten {
                    name: "flatten".into(),
                },
                dropout("dropout1"),
                dense("classifier", 64, Activation::Relu),
                dropout("dropout2"),
                dense("output", 10, Activation::Softmax),
            ]);
            l
        }
        "cnn-gap" => {
            let mut l = lecture_trunk();
            l.extend([
                LayerSpec::GlobalAvgPool {
                    name: "gpooling".into(),
                },
                dropout("dropout1"),
                dense("classifier", 64, Activation::Relu),
                dropout("dropout2"),
                dense("output", 10, Activation::Softmax),
            ]);
            l
        }
        // LeNet-5 as Keras tutorials write it, with ReLU for tanh and average pooling for the
        // trainable subsampling.
        "lenet5" => vec![
            conv("conv1", 6, 5, Padding::Same),
            LayerSpec::AvgPool {
                name: "pool1".into(),
                size: 2,
                stride: None,
                padding: Padding::Valid,
            },
            conv("conv2", 16, 5, Padding::Valid),
            LayerSpec::AvgPool {
                name: "pool2".into(),
                size: 2,
                stride: None,
                padding: Padding::Valid,
            },
            LayerSpec::Flatten {
                name: "flatten".into(),
            },
            dense("fc1", 120, Activation::Relu),
            dense("fc2", 84, Activation::Relu),
            dense("output", 10, Activation::Softmax),
        ],
        _ => {
            return Err(Error::UnknownPreset {
                name: name.into(),
                known: PRESETS.join(", "),
            });
        }
    };
    Ok(ModelSpec {
        name: name.into(),
        input: [1, side, side],
        layers,
    })
}

/// The preset `name` on the lecture's 64×64 canvas.
pub fn preset(name: &str) -> Result<ModelSpec> {
    preset_for(name, 64)
}
