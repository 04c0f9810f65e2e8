//! Named architectures. `cnn-flatten` and `cnn-gap` are the lecture's two models, layer for layer;
//! [`classic`] holds LeNet-5 to Network-in-Network and the lecture's Keras Inception example;
//! [`modern`] holds small Inception, ResNet, ResNeXt, DenseNet and MobileNet versions;
//! [`torchvision`] the full-size AlexNet, VGG, ResNet, MobileNet v2 and DenseNet, with
//! torchvision's parameter names ([`full_size`]).
//!
//! Every preset but `inception-lecture` (3-channel, as the lecture's table) takes single-channel
//! `side × side` input and works for 28 and 64 (tested). Parameter counts are asserted against
//! hand-computed values in `model/tests_zoo.rs`.

mod classic;
mod modern;
mod torchvision;

pub use torchvision::FULL_SIZE;

use super::spec::{Activation, Init, LayerSpec, ModelSpec, Projection};
use crate::error::{Error, Result};
use crate::ops::Padding;
use crate::ops::pad::PadMode;

/// Every preset name, in the order the CLI lists them.
pub const PRESETS: [&str; 13] = [
    "cnn-flatten",
    "cnn-gap",
    "lenet5",
    "alexnet-mini",
    "vgg-mini",
    "nin-mini",
    "inception-mini",
    "inception-lecture",
    "resnet-mini",
    "resnet-bottleneck-mini",
    "resnext-mini",
    "densenet-mini",
    "mobilenet-mini",
];

/// The presets `convplay zoo` trains: every single-channel one, lecture order.
pub const ZOO: [&str; 12] = [
    "cnn-flatten",
    "cnn-gap",
    "lenet5",
    "alexnet-mini",
    "vgg-mini",
    "nin-mini",
    "inception-mini",
    "resnet-mini",
    "resnet-bottleneck-mini",
    "resnext-mini",
    "densenet-mini",
    "mobilenet-mini",
];

/// A 2-D convolution with every field spelled out.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_full(
    name: &str,
    filters: usize,
    kernel: usize,
    stride: usize,
    padding: Padding,
    groups: usize,
    activation: Activation,
    bias: bool,
) -> LayerSpec {
    LayerSpec::Conv2d {
        name: name.into(),
        filters,
        kernel,
        stride,
        padding,
        padding_mode: PadMode::Zeros,
        groups,
        activation,
        bias,
        init: if bias {
            Init::GlorotUniform
        } else {
            Init::HeUniform
        },
    }
}

/// Conv + bias + ReLU, Keras-style.
fn conv(name: &str, filters: usize, kernel: usize, padding: Padding) -> LayerSpec {
    conv_full(name, filters, kernel, 1, padding, 1, Activation::Relu, true)
}

/// Bias-free linear conv, for a batch-norm to follow.
fn conv_bn(name: &str, filters: usize, kernel: usize, stride: usize, groups: usize) -> LayerSpec {
    let padding = if kernel > 1 {
        Padding::Same
    } else {
        Padding::Valid
    };
    conv_full(
        name,
        filters,
        kernel,
        stride,
        padding,
        groups,
        Activation::Linear,
        false,
    )
}

fn bn(name: &str) -> LayerSpec {
    LayerSpec::BatchNorm {
        name: name.into(),
        eps: 1e-5,
        momentum: 0.1,
    }
}

fn relu(name: &str) -> LayerSpec {
    LayerSpec::Relu { name: name.into() }
}

fn max_pool(name: &str) -> LayerSpec {
    pool(name, 2, 2, Padding::Valid)
}

fn pool(name: &str, size: usize, stride: usize, padding: Padding) -> LayerSpec {
    LayerSpec::MaxPool {
        name: name.into(),
        size,
        stride: (stride != size).then_some(stride),
        padding,
    }
}

fn avg_pool(name: &str) -> LayerSpec {
    LayerSpec::AvgPool {
        name: name.into(),
        size: 2,
        stride: None,
        padding: Padding::Valid,
    }
}

fn gap(name: &str) -> LayerSpec {
    LayerSpec::GlobalAvgPool { name: name.into() }
}

fn flatten(name: &str) -> LayerSpec {
    LayerSpec::Flatten { name: name.into() }
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

fn output(name: &str) -> LayerSpec {
    dense(name, 10, Activation::Softmax)
}

fn dropout(name: &str, rate: f32) -> LayerSpec {
    LayerSpec::Dropout {
        name: name.into(),
        rate,
    }
}

fn residual(name: &str, body: Vec<LayerSpec>, projection: Option<(usize, usize)>) -> LayerSpec {
    LayerSpec::Residual {
        name: name.into(),
        body,
        projection: projection.map(|(filters, stride)| Projection { filters, stride }),
        shortcut: vec![],
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

fn lecture_head() -> [LayerSpec; 4] {
    [
        dropout("dropout1", 0.5),
        dense("classifier", 64, Activation::Relu),
        dropout("dropout2", 0.5),
        output("output"),
    ]
}

/// The preset `name` for single-channel `side × side` input (`inception-lecture`: 3 channels).
pub fn preset_for(name: &str, side: usize) -> Result<ModelSpec> {
    let mut channels = 1;
    let layers = match name {
        "cnn-flatten" => {
            let mut l = lecture_trunk();
            l.extend([max_pool("pool3"), flatten("flatten")]);
            l.extend(lecture_head());
            l
        }
        "cnn-gap" => {
            let mut l = lecture_trunk();
            l.push(gap("gpooling"));
            l.extend(lecture_head());
            l
        }
        "lenet5" => classic::lenet5(),
        "alexnet-mini" => classic::alexnet_mini(),
        "vgg-mini" => classic::vgg_mini(),
        "nin-mini" => classic::nin_mini(),
        "inception-lecture" => {
            channels = 3;
            classic::inception_lecture()
        }
        "inception-mini" => modern::inception_mini(),
        "resnet-mini" => modern::resnet_mini(),
        "resnet-bottleneck-mini" => modern::resnet_bottleneck_mini(),
        "resnext-mini" => modern::resnext_mini(),
        "densenet-mini" => modern::densenet_mini(),
        "mobilenet-mini" => modern::mobilenet_mini(),
        _ => {
            return Err(Error::UnknownPreset {
                name: name.into(),
                known: PRESETS.join(", "),
            });
        }
    };
    Ok(ModelSpec {
        name: name.into(),
        input: [channels, side, side],
        layers,
    })
}

/// The preset `name` on the lecture's 64×64 canvas (`inception-lecture`: its 32×32×3 input).
pub fn preset(name: &str) -> Result<ModelSpec> {
    preset_for(name, if name == "inception-lecture" { 32 } else { 64 })
}

/// The full-size preset `name` (one of [`FULL_SIZE`]) for `input` (`[3, 224, 224]` as
/// published) with `classes` outputs, exactly as torchvision builds it.
pub fn full_size(name: &str, input: [usize; 3], classes: usize) -> Result<ModelSpec> {
    let layers = torchvision::layers(name, classes).ok_or_else(|| Error::UnknownPreset {
        name: name.into(),
        known: FULL_SIZE.join(", "),
    })?;
    Ok(ModelSpec {
        name: name.into(),
        input,
        layers,
    })
}
