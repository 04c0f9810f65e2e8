//! Shape inference: [`compile`] turns a `ModelSpec` into a [`Graph`], layer by layer, checking
//! every shape and naming the layer at fault.

use std::collections::HashSet;

use super::*;
use crate::error::{Error, Result};
use crate::model::spec::{Activation, Init, LayerSpec, ModelSpec};
use crate::ops::Padding;
use crate::ops::adaptive_pool::AdaptivePoolGeom;
use crate::ops::pad::PadMode;
use crate::ops::window_axis;

mod blocks;

struct Builder {
    g: Graph,
    names: HashSet<String>,
}

fn invalid(layer: &str, message: impl Into<String>) -> Error {
    Error::InvalidModel {
        layer: layer.to_string(),
        message: message.into(),
    }
}

impl Builder {
    fn value(&mut self, shape: [usize; 3], flat: bool) -> ValueId {
        self.g.values.push(shape);
        self.g.flat.push(flat);
        self.g.values.len() - 1
    }

    /// Lays out a parameter. Sizes saturate: past `usize` is past the parameter limit
    /// [`compile`] checks at the end, not an overflow (64 branches of 2^58-parameter convolutions
    /// overflowed it).
    fn param(&mut self, name: String, shape: Vec<usize>, init: ParamInit) -> ParamId {
        let len = shape.iter().fold(1usize, |a, &d| a.saturating_mul(d));
        self.g.params.push(ParamInfo {
            name,
            shape,
            offset: self.g.param_len,
            len,
            init,
        });
        self.g.param_len = self.g.param_len.saturating_add(len);
        self.g.params.len() - 1
    }

    fn buffer(&mut self, name: String, len: usize, init: ParamInit) -> usize {
        self.g.buffers.push(ParamInfo {
            name,
            shape: vec![len],
            offset: self.g.buffer_len,
            len,
            init,
        });
        self.g.buffer_len = self.g.buffer_len.saturating_add(len);
        self.g.buffers.len() - 1
    }

    fn node(
        &mut self,
        op: NodeOp,
        inputs: Vec<ValueId>,
        shape: [usize; 3],
        flat: bool,
        layer: &str,
    ) -> Result<ValueId> {
        const MAX_VALUE: usize = 1 << 26;
        let len = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if !matches!(len, Some(l) if l <= MAX_VALUE) {
            return Err(invalid(
                layer,
                format!(
                    "output {}×{}×{} is larger than {MAX_VALUE} values per image",
                    shape[0], shape[1], shape[2]
                ),
            ));
        }
        let output = self.value(shape, flat);
        self.g.nodes.push(Node {
            op,
            inputs,
            output,
            layer: layer.to_string(),
        });
        Ok(output)
    }

    fn row(&mut self, name: &str, kind: &str, v: ValueId, params: usize, macs: u64) {
        let shape = self.g.values[v];
        let output_shape = if self.g.flat[v] {
            vec![shape[0]]
        } else {
            shape.to_vec()
        };
        self.g.rows.push(SummaryRow {
            name: name.to_string(),
            kind: kind.to_string(),
            output_shape,
            params,
            macs,
            activations: shape.iter().product(),
        });
    }

    fn claim(&mut self, name: &str) -> Result<()> {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        {
            return Err(invalid(
                name,
                "layer names must be non-empty and use letters, digits, _ - .",
            ));
        }
        if !self.names.insert(name.to_string()) {
            return Err(invalid(name, "another layer has the same name"));
        }
        Ok(())
    }

    fn activation(
        &mut self,
        x: ValueId,
        act: Activation,
        name: &str,
        last: bool,
    ) -> Result<ValueId> {
        match act {
            Activation::Linear => Ok(x),
            Activation::Softmax if last => Ok(x),
            Activation::Softmax => Err(invalid(
                name,
                "softmax is only allowed on the last layer (the loss applies it)",
            )),
            Activation::Relu => {
                // Fuse into the conv or dense node that produced `x`.
                match self.g.nodes.last_mut() {
                    Some(Node {
                        op: NodeOp::Conv2d { relu, .. } | NodeOp::Dense { relu, .. },
                        output,
                        ..
                    }) if *output == x => {
                        *relu = true;
                        Ok(x)
                    }
                    _ => {
                        let (shape, flat) = (self.g.values[x], self.g.flat[x]);
                        self.node(NodeOp::Relu, vec![x], shape, flat, name)
                    }
                }
            }
        }
    }

    fn init_for(init: Init, fan_in: usize, fan_out: usize) -> ParamInit {
        match init {
            Init::GlorotUniform => ParamInit::GlorotUniform { fan_in, fan_out },
            Init::HeUniform => ParamInit::HeUniform { fan_in },
        }
    }

    fn sequence(
        &mut self,
        mut x: ValueId,
        layers: &[LayerSpec],
        top_level: bool,
    ) -> Result<ValueId> {
        for (i, layer) in layers.iter().enumerate() {
            let last = top_level && i + 1 == layers.len();
            x = self.layer(x, layer, last)?;
        }
        Ok(x)
    }

    // One argument per field of the spec's conv layer (or projection).
    #[allow(clippy::too_many_arguments)]
    fn conv(
        &mut self,
        x: ValueId,
        name: &str,
        filters: usize,
        kernel: usize,
        stride: usize,
        padding: Padding,
        padding_mode: PadMode,
        groups: usize,
        bias: bool,
        init: Init,
    ) -> Result<(ValueId, usize, u64)> {
        if self.g.flat[x] {
            return Err(invalid(
                name,
                "a convolution needs a [channels, height, width] input, not a flat vector",
            ));
        }
        if filters > 65_536 || kernel > 255 || stride > 255 {
            return Err(invalid(
                name,
                "filters must be at most 65536, kernel and stride at most 255",
            ));
        }
        let (x, padding) = match (padding, padding_mode) {
            (Padding::Same, PadMode::Reflect | PadMode::Circular) => (
                self.same_pad(x, name, kernel, stride, padding_mode)?,
                Padding::Valid,
            ),
            _ => (x, padding),
        };
        let geom = Conv2dGeom::new(self.g.values[x], filters, kernel, stride, padding, groups)
            .map_err(|m| invalid(name, m))?;
        let rf = kernel * kernel;
        let w = self.param(
            format!("{name}.weight"),
            vec![filters, geom.c_in_g(), kernel, kernel],
            Self::init_for(init, geom.c_in_g() * rf, filters * rf / groups.max(1)),
        );
        let b = bias.then(|| self.param(format!("{name}.bias"), vec![filters], ParamInit::Zeros));
        let params = geom.weight_len() + if bias { filters } else { 0 };
        let out = self.node(
            NodeOp::Conv2d {
                geom,
                weight: w,
                bias: b,
                relu: false,
            },
            vec![x],
            [filters, geom.h_out, geom.w_out],
            false,
            name,
        )?;
        Ok((out, params, geom.macs()))
    }

    /// A `Pad` node giving the border `same` padding would, filled by `mode`.
    fn same_pad(
        &mut self,
        x: ValueId,
        name: &str,
        kernel: usize,
        stride: usize,
        mode: PadMode,
    ) -> Result<ValueId> {
        let [_, h, w] = self.g.values[x];
        let misfit = || {
            invalid(
                name,
                format!(
                    "kernel {kernel}×{kernel} with stride {stride} does not fit the {h}×{w} input"
                ),
            )
        };
        let (oh, top) = window_axis(h, kernel, stride, Padding::Same).ok_or_else(misfit)?;
        let (ow, left) = window_axis(w, kernel, stride, Padding::Same).ok_or_else(misfit)?;
        let bottom = ((oh - 1) * stride + kernel).saturating_sub(h) - top;
        let right = ((ow - 1) * stride + kernel).saturating_sub(w) - left;
        self.pad(x, name, [top, bottom, left, right], mode)
    }

    fn pad(&mut self, x: ValueId, name: &str, pads: [usize; 4], mode: PadMode) -> Result<ValueId> {
        let g = PadGeom::new(self.g.values[x], pads, mode).map_err(|m| invalid(name, m))?;
        self.node(
            NodeOp::Pad(g),
            vec![x],
            [g.c, g.h_out(), g.w_out()],
            false,
            name,
        )
    }

    fn pool_geom(
        &self,
        x: ValueId,
        name: &str,
        size: usize,
        stride: Option<usize>,
        padding: Padding,
    ) -> Result<PoolGeom> {
        if self.g.flat[x] {
            return Err(invalid(
                name,
                "pooling needs a [channels, height, width] input",
            ));
        }
        if size > 4096 || stride.unwrap_or(size) > 4096 {
            return Err(invalid(name, "pool size and stride must be at most 4096"));
        }
        PoolGeom::new(self.g.values[x], size, stride.unwrap_or(size), padding)
            .map_err(|m| invalid(name, m))
    }

    fn layer(&mut self, x: ValueId, layer: &LayerSpec, last: bool) -> Result<ValueId> {
        let name = layer.name();
        self.claim(name)?;
        let kind = layer.kind();
        let [c, h, w] = self.g.values[x];
        match layer {
            LayerSpec::Conv2d {
                filters,
                kernel,
                stride,
                padding,
                padding_mode,
                groups,
                activation,
                bias,
                init,
                ..
            } => {
                let (out, params, macs) = self.conv(
                    x,
                    name,
                    *filters,
                    *kernel,
                    *stride,
                    *padding,
                    *padding_mode,
                    *groups,
                    *bias,
                    *init,
                )?;
                let out = self.activation(out, *activation, name, last)?;
                self.row(name, kind, out, params, macs);
                Ok(out)
            }
            LayerSpec::MaxPool {
                size,
                stride,
                padding,
                ..
            }
            | LayerSpec::AvgPool {
                size,
                stride,
                padding,
                ..
            } => {
                let g = self.pool_geom(x, name, *size, *stride, *padding)?;
                let op = match layer {
                    LayerSpec::MaxPool { .. } => NodeOp::MaxPool(g),
                    _ => NodeOp::AvgPool(g),
                };
                let out = self.node(op, vec![x], [c, g.h_out, g.w_out], false, name)?;
                self.row(name, kind, out, 0, 0);
                Ok(out)
            }
            LayerSpec::GlobalAvgPool { .. } => {
                if self.g.flat[x] {
                    return Err(invalid(
                        name,
                        "global average pooling needs a [channels, height, width] input",
                    ));
                }
                let out = self.node(
                    NodeOp::GlobalAvgPool { plane: h * w },
                    vec![x],
                    [c, 1, 1],
                    true,
                    name,
                )?;
                self.row(name, kind, out, 0, 0);
                Ok(out)
            }
            LayerSpec::Flatten { .. } => {
                let out = self.node(NodeOp::Flatten, vec![x], [c * h * w, 1, 1], true, name)?;
                self.row(name, kind, out, 0, 0);
                Ok(out)
            }
            LayerSpec::Dense {
                units,
                activation,
                bias,
                init,
                ..
            } => {
                if !self.g.flat[x] {
                    return Err(invalid(
                        name,
                        format!(
                            "dense needs a flat input; add flatten or global_avg_pool before it (input is {c}×{h}×{w})"
                        ),
                    ));
                }
                if *units == 0 || *units > 1 << 20 {
                    return Err(invalid(name, "units must be between 1 and 1048576"));
                }
                let geom = DenseGeom {
                    inputs: c,
                    outputs: *units,
                };
                let wt = self.param(
                    format!("{name}.weight"),
                    vec![*units, c],
                    Self::init_for(*init, c, *units),
                );
                let b = bias
                    .then(|| self.param(format!("{name}.bias"), vec![*units], ParamInit::Zeros));
                let out = self.node(
                    NodeOp::Dense {
                        geom,
                        weight: wt,
                        bias: b,
                        relu: false,
                    },
                    vec![x],
                    [*units, 1, 1],
                    true,
                    name,
                )?;
                let out = self.activation(out, *activation, name, last)?;
                self.row(
                    name,
                    kind,
                    out,
                    c * units + if *bias { *units } else { 0 },
                    (c * units) as u64,
                );
                Ok(out)
            }
            LayerSpec::Dropout { rate, .. } => {
                if !(0.0..1.0).contains(rate) {
                    return Err(invalid(
                        name,
                        format!("dropout rate {rate} must be in [0, 1)"),
                    ));
                }
                let flat = self.g.flat[x];
                let out = self.node(
                    NodeOp::Dropout { rate: *rate },
                    vec![x],
                    [c, h, w],
                    flat,
                    name,
                )?;
                self.row(name, kind, out, 0, 0);
                Ok(out)
            }
            LayerSpec::BatchNorm { eps, momentum, .. } => {
                if !eps.is_finite() || *eps <= 0.0 || !(0.0..=1.0).contains(momentum) {
                    return Err(invalid(
                        name,
                        "batch-norm needs eps > 0 and momentum in [0, 1]",
                    ));
                }
                let gamma = self.param(format!("{name}.weight"), vec![c], ParamInit::Ones);
                let beta = self.param(format!("{name}.bias"), vec![c], ParamInit::Zeros);
                let mean = self.buffer(format!("{name}.running_mean"), c, ParamInit::Zeros);
                let var = self.buffer(format!("{name}.running_var"), c, ParamInit::Ones);
                let geom = BatchNormGeom {
                    c,
                    plane: h * w,
                    eps: *eps,
                    momentum: *momentum,
                };
                let flat = self.g.flat[x];
                let out = self.node(
                    NodeOp::BatchNorm {
                        geom,
                        params: BatchNormParams {
                            gamma,
                            beta,
                            mean,
                            var,
                        },
                    },
                    vec![x],
                    [c, h, w],
                    flat,
                    name,
                )?;
                self.row(name, kind, out, 4 * c, 0);
                Ok(out)
            }
            LayerSpec::Relu { .. } | LayerSpec::Relu6 { .. } => {
                let flat = self.g.flat[x];
                let op = match layer {
                    LayerSpec::Relu { .. } => NodeOp::Relu,
                    _ => NodeOp::Relu6,
                };
                let out = self.node(op, vec![x], [c, h, w], flat, name)?;
                self.row(name, kind, out, 0, 0);
                Ok(out)
            }
            LayerSpec::AdaptiveAvgPool { size, .. } => {
                if self.g.flat[x] {
                    return Err(invalid(
                        name,
                        "adaptive average pooling needs a [channels, height, width] input",
                    ));
                }
                let g = AdaptivePoolGeom::new([c, h, w], size[0], size[1])
                    .map_err(|m| invalid(name, m))?;
                // Already the size asked for: the input itself, at no cost.
                let out = if [h, w] == *size {
                    x
                } else {
                    self.node(
                        NodeOp::AdaptiveAvgPool(g),
                        vec![x],
                        [c, g.h_out, g.w_out],
                        false,
                        name,
                    )?
                };
                self.row(name, kind, out, 0, 0);
                Ok(out)
            }
            LayerSpec::Residual {
                body,
                projection,
                shortcut,
                ..
            } => {
                if body.is_empty() {
                    return Err(invalid(name, "a residual block needs a non-empty body"));
                }
                if projection.is_some() && !shortcut.is_empty() {
                    return Err(invalid(
                        name,
                        "a residual block has a projection or shortcut layers, not both",
                    ));
                }
                let y = self.sequence(x, body, false)?;
                let (shortcut, params, macs) = match projection {
                    None if !shortcut.is_empty() => {
                        // Its layers have their own summary rows.
                        (self.sequence(x, shortcut, false)?, 0, 0)
                    }
                    Some(p) => {
                        // Its parameters are named after it: a layer of the same name would
                        // share them (and a weights file cannot hold two tensors of one name).
                        let proj = format!("{name}.projection");
                        self.claim(&proj)?;
                        let (v, params, macs) = self.conv(
                            x,
                            &proj,
                            p.filters,
                            1,
                            p.stride,
                            Padding::Valid,
                            PadMode::Zeros,
                            1,
                            false,
                            Init::HeUniform,
                        )?;
                        (v, params, macs)
                    }
                    None => (x, 0, 0),
                };
                if self.g.values[y] != self.g.values[shortcut]
                    || self.g.flat[y] != self.g.flat[shortcut]
                {
                    return Err(invalid(
                        name,
                        format!(
                            "body output {:?} differs from shortcut {:?}; add a projection with matching filters and stride",
                            self.g.values[y], self.g.values[shortcut]
                        ),
                    ));
                }
                let (shape, flat) = (self.g.values[y], self.g.flat[y]);
                let out = self.node(NodeOp::Add, vec![y, shortcut], shape, flat, name)?;
                self.row(name, "Add", out, params, macs);
                Ok(out)
            }
            LayerSpec::Branches { branches, .. } => {
                if branches.iter().all(|b| b.is_empty()) {
                    return Err(invalid(
                        name,
                        "branches need at least one branch with a layer (an empty one is the input)",
                    ));
                }
                let mut outs = Vec::new();
                for b in branches {
                    outs.push(self.sequence(x, b, false)?);
                }
                let [_, oh, ow] = self.g.values[outs[0]];
                if outs
                    .iter()
                    .any(|&o| self.g.flat[o] || self.g.values[o][1..] != [oh, ow])
                {
                    let shapes: Vec<_> = outs.iter().map(|&o| self.g.values[o]).collect();
                    return Err(invalid(
                        name,
                        format!(
                            "branch outputs must share height and width to concatenate channels, got {shapes:?}"
                        ),
                    ));
                }
                let channels = outs.iter().map(|&o| self.g.values[o][0]).sum();
                let out = self.node(NodeOp::Concat, outs, [channels, oh, ow], false, name)?;
                self.row(name, kind, out, 0, 0);
                Ok(out)
            }
            LayerSpec::BlurPool { stride, size, .. } => self.blur_pool(x, name, *stride, *size),
            LayerSpec::DenseBlock {
                layers,
                growth,
                bottleneck,
                transition,
                padding_mode,
                ..
            } => self.dense_block(
                x,
                name,
                *layers,
                *growth,
                *bottleneck,
                *transition,
                *padding_mode,
            ),
            LayerSpec::AuxHead { weight, layers, .. } => self.aux_head(x, name, *weight, layers),
        }
    }
}

/// Compiles a spec: infers every shape, lays out parameters, and checks the network ends in
/// class scores. Impossible specs give `Error::InvalidModel` naming the layer.
pub fn compile(spec: &ModelSpec) -> Result<Graph> {
    let [c, h, w] = spec.input;
    if c == 0 || h == 0 || w == 0 {
        return Err(invalid(
            "input",
            format!("input shape {c}×{h}×{w} must be positive"),
        ));
    }
    let input = c.checked_mul(h).and_then(|v| v.checked_mul(w));
    if input.is_none_or(|v| v > 16 * 1024 * 1024) {
        return Err(invalid("input", "input is larger than 16M values"));
    }
    if spec.layers.is_empty() {
        return Err(invalid("model", "a model needs at least one layer"));
    }
    let mut b = Builder {
        g: Graph {
            input: spec.input,
            nodes: vec![],
            values: vec![],
            flat: vec![],
            params: vec![],
            buffers: vec![],
            param_len: 0,
            buffer_len: 0,
            output: 0,
            classes: 0,
            rows: vec![],
            aux: vec![],
        },
        names: HashSet::new(),
    };
    let input = b.value(spec.input, false);
    let out = b.sequence(input, &spec.layers, true)?;
    let last = spec.layers.last().map(|l| l.name()).unwrap_or("model");
    if !b.g.flat[out] {
        let s = b.g.values[out];
        return Err(invalid(
            last,
            format!(
                "the last layer must output class scores (a flat vector), got {}×{}×{}",
                s[0], s[1], s[2]
            ),
        ));
    }
    if b.g.values[out][0] < 2 {
        return Err(invalid(
            last,
            "the last layer must output at least 2 class scores",
        ));
    }
    const MAX_PARAMS: usize = 256 * 1024 * 1024;
    if b.g.param_len > MAX_PARAMS {
        return Err(invalid(
            "model",
            format!(
                "{} parameters is more than the {MAX_PARAMS} convplay allows",
                b.g.param_len
            ),
        ));
    }
    b.g.output = out;
    b.g.classes = b.g.values[out][0];
    for a in &b.g.aux {
        let units = b.g.values[a.value][0];
        if !b.g.flat[a.value] || units != b.g.classes {
            return Err(invalid(
                &b.g.rows[a.row].name,
                format!(
                    "an auxiliary head must end in {} class scores like the model, got {:?}",
                    b.g.classes, b.g.rows[a.row].output_shape
                ),
            ));
        }
    }
    Ok(b.g)
}
