//! The composite blocks that compile into several nodes: BlurPool (pad + blur), DenseNet's dense
//! block (and its transition), and auxiliary classifier heads.

use super::{AuxOutput, Builder, NodeOp, ValueId, invalid};
use crate::error::Result;
use crate::model::spec::{Activation, Init, LayerSpec};
use crate::ops::Padding;
use crate::ops::blur::BlurGeom;
use crate::ops::pad::PadMode;

fn batch_norm(name: String) -> LayerSpec {
    LayerSpec::BatchNorm {
        name,
        eps: 1e-5,
        momentum: 0.1,
    }
}

/// A bias-free He-initialised convolution, as DenseNet uses after batch-norm.
fn conv(name: String, filters: usize, kernel: usize, padding_mode: PadMode) -> LayerSpec {
    LayerSpec::Conv2d {
        name,
        filters,
        kernel,
        stride: 1,
        padding: if kernel > 1 {
            Padding::Same
        } else {
            Padding::Valid
        },
        padding_mode,
        groups: 1,
        activation: Activation::Linear,
        bias: false,
        init: Init::HeUniform,
    }
}

impl Builder {
    /// Reflect padding of `size − 1` cells split as Zhang's code does (the odd one after), then
    /// the strided blur.
    pub(super) fn blur_pool(
        &mut self,
        x: ValueId,
        name: &str,
        stride: usize,
        size: usize,
    ) -> Result<ValueId> {
        if self.g.flat[x] {
            return Err(invalid(
                name,
                "BlurPool needs a [channels, height, width] input",
            ));
        }
        if !(1..=crate::ops::blur::MAX_BLUR_SIZE).contains(&size) {
            return Err(invalid(
                name,
                format!("blur size {size} must be between 1 and 7"),
            ));
        }
        let lo = (size - 1) / 2;
        let hi = size - 1 - lo;
        let padded = if size > 1 {
            self.pad(x, name, [lo, hi, lo, hi], PadMode::Reflect)?
        } else {
            x
        };
        let geom =
            BlurGeom::new(self.g.values[padded], size, stride).map_err(|m| invalid(name, m))?;
        let out = self.node(
            NodeOp::Blur(geom),
            vec![padded],
            [geom.c, geom.h_out, geom.w_out],
            false,
            name,
        )?;
        self.row(name, "BlurPool", out, 0, geom.macs());
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)] // one per field of the spec's dense block
    pub(super) fn dense_block(
        &mut self,
        x: ValueId,
        name: &str,
        layers: usize,
        growth: usize,
        bottleneck: bool,
        transition: Option<usize>,
        padding_mode: PadMode,
    ) -> Result<ValueId> {
        if self.g.flat[x] {
            return Err(invalid(
                name,
                "a dense block needs a [channels, height, width] input",
            ));
        }
        if layers == 0 || layers > 256 || growth == 0 || growth > 4096 {
            return Err(invalid(
                name,
                "a dense block needs 1 to 256 layers and a growth rate of 1 to 4096",
            ));
        }
        let mut cur = x;
        for i in 0..layers {
            let p = format!("{name}.{i}");
            let mut specs = vec![
                batch_norm(format!("{p}.bn1")),
                LayerSpec::Relu {
                    name: format!("{p}.relu1"),
                },
            ];
            if bottleneck {
                specs.extend([
                    conv(format!("{p}.conv1"), 4 * growth, 1, PadMode::Zeros),
                    batch_norm(format!("{p}.bn2")),
                    LayerSpec::Relu {
                        name: format!("{p}.relu2"),
                    },
                ]);
            }
            specs.push(conv(format!("{p}.conv2"), growth, 3, padding_mode));
            let y = self.sequence(cur, &specs, false)?;
            let [c, h, w] = self.g.values[cur];
            let concat = format!("{p}.concat");
            self.claim(&concat)?;
            cur = self.node(
                NodeOp::Concat,
                vec![cur, y],
                [c + growth, h, w],
                false,
                &concat,
            )?;
            self.row(&concat, "Concatenate", cur, 0, 0);
        }
        if let Some(filters) = transition {
            let p = format!("{name}.transition");
            let specs = [
                batch_norm(format!("{p}.bn")),
                LayerSpec::Relu {
                    name: format!("{p}.relu"),
                },
                conv(format!("{p}.conv"), filters, 1, PadMode::Zeros),
                LayerSpec::AvgPool {
                    name: format!("{p}.pool"),
                    size: 2,
                    stride: None,
                    padding: Padding::Valid,
                },
            ];
            cur = self.sequence(cur, &specs, false)?;
        }
        Ok(cur)
    }

    /// Runs `layers` on `x` as a side branch and records its logits; returns `x` for the main
    /// path.
    pub(super) fn aux_head(
        &mut self,
        x: ValueId,
        name: &str,
        weight: f32,
        layers: &[LayerSpec],
    ) -> Result<ValueId> {
        if !weight.is_finite() || !(0.0..=10.0).contains(&weight) {
            return Err(invalid(
                name,
                format!("auxiliary loss weight {weight} must be between 0 and 10"),
            ));
        }
        if layers.is_empty() {
            return Err(invalid(
                name,
                "an auxiliary head needs layers that end in class scores",
            ));
        }
        let out = self.sequence(x, layers, true)?;
        self.row(name, "AuxClassifier", out, 0, 0);
        self.g.aux.push(AuxOutput {
            value: out,
            weight,
            row: self.g.rows.len() - 1,
        });
        Ok(x)
    }
}
