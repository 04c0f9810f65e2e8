//! Spec transforms that switch on the known causes of shift sensitivity, for any spec: the CLI's
//! `--blurpool` / `--padding` and the playground's toggles.
//!
//! * [`antialias`]: Zhang 2019's BlurPool. Every strided max-pool, average-pool and convolution
//!   runs at stride 1 and is followed by a [`LayerSpec::BlurPool`] with the original stride
//!   (MaxPool → MaxBlurPool, strided conv → conv + ReLU + BlurPool), so the output shapes, and
//!   hence the parameter count, do not change. Residual projections and dense-block transitions
//!   keep their plain strides.
//! * [`with_padding`]: every convolution wider than 1×1 gets `same` padding filled with zeros,
//!   reflection or wrap-around (Kayhan & van Gemert 2020: zero padding lets a CNN learn absolute
//!   position from the border; circular padding takes the border away).

use super::spec::{LayerSpec, ModelSpec};
use crate::ops::Padding;
use crate::ops::pad::PadMode;

/// Zhang's filter in the study: 3 taps, `[1 2 1] / 4` per axis.
pub const BLUR_SIZE: usize = 3;

fn blur(name: &str, stride: usize) -> LayerSpec {
    LayerSpec::BlurPool {
        name: format!("{name}_blur"),
        stride,
        size: BLUR_SIZE,
    }
}

fn antialias_layers(layers: &[LayerSpec]) -> Vec<LayerSpec> {
    let mut out = Vec::new();
    for layer in layers {
        let mut layer = layer.clone();
        // The stride a strided pooling or convolution gives up to the blur that follows it.
        let blur_stride = match &mut layer {
            LayerSpec::MaxPool { size, stride, .. } | LayerSpec::AvgPool { size, stride, .. }
                if stride.unwrap_or(*size) > 1 =>
            {
                stride.replace(1).or(Some(*size))
            }
            LayerSpec::Conv2d { stride, .. } if *stride > 1 => Some(std::mem::replace(stride, 1)),
            LayerSpec::Residual { body, shortcut, .. } => {
                *body = antialias_layers(body);
                *shortcut = antialias_layers(shortcut);
                None
            }
            LayerSpec::AuxHead { layers, .. } => {
                *layers = antialias_layers(layers);
                None
            }
            LayerSpec::Branches { branches, .. } => {
                for b in branches.iter_mut() {
                    *b = antialias_layers(b);
                }
                None
            }
            _ => None,
        };
        let blurred = blur_stride.map(|s| blur(layer.name(), s));
        out.push(layer);
        out.extend(blurred);
    }
    out
}

/// `spec` with anti-aliased downsampling (BlurPool); its name gains `+blurpool`.
pub fn antialias(spec: &ModelSpec) -> ModelSpec {
    ModelSpec {
        name: format!("{}+blurpool", spec.name),
        input: spec.input,
        layers: antialias_layers(&spec.layers),
    }
}

fn pad_layers(layers: &[LayerSpec], mode: PadMode) -> Vec<LayerSpec> {
    layers
        .iter()
        .map(|layer| match layer.clone() {
            LayerSpec::Conv2d {
                name,
                filters,
                kernel,
                stride,
                padding,
                groups,
                activation,
                bias,
                init,
                padding_mode,
            } => {
                let wide = kernel > 1;
                LayerSpec::Conv2d {
                    name,
                    filters,
                    kernel,
                    stride,
                    padding: if wide { Padding::Same } else { padding },
                    padding_mode: if wide { mode } else { padding_mode },
                    groups,
                    activation,
                    bias,
                    init,
                }
            }
            LayerSpec::DenseBlock {
                name,
                layers,
                growth,
                bottleneck,
                transition,
                ..
            } => LayerSpec::DenseBlock {
                name,
                layers,
                growth,
                bottleneck,
                transition,
                padding_mode: mode,
            },
            LayerSpec::Residual {
                name,
                body,
                projection,
                shortcut,
            } => LayerSpec::Residual {
                name,
                body: pad_layers(&body, mode),
                projection,
                shortcut: pad_layers(&shortcut, mode),
            },
            LayerSpec::Branches { name, branches } => LayerSpec::Branches {
                name,
                branches: branches.iter().map(|b| pad_layers(b, mode)).collect(),
            },
            LayerSpec::AuxHead {
                name,
                weight,
                layers,
            } => LayerSpec::AuxHead {
                name,
                weight,
                layers: pad_layers(&layers, mode),
            },
            other => other,
        })
        .collect()
}

/// `spec` with every convolution wider than 1×1 `same`-padded with `mode`; its name gains
/// `+same-zeros`, `+same-reflect` or `+same-circular`.
pub fn with_padding(spec: &ModelSpec, mode: PadMode) -> ModelSpec {
    ModelSpec {
        name: format!("{}+same-{}", spec.name, mode.name()),
        input: spec.input,
        layers: pad_layers(&spec.layers, mode),
    }
}
