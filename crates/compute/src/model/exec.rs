//! Forward and backward over a compiled graph on the CPU primitives.
//!
//! A `Workspace` holds every value's activation and gradient for one batch size, plus what
//! forward keeps for backward (max-pool winners, dropout masks, batch-norm statistics). It is
//! reused from step to step, so training allocates nothing per step.

use std::ops::Range;

use super::Model;
use super::graph::{Graph, NodeOp, ParamId};
use crate::cpu::elementwise;
use crate::error::{Error, Result};
use crate::ops::batchnorm::{self, ChannelStats};
use crate::ops::{add, blur, concat, conv2d, dense, dropout, gap, pad, pool, relu};
use crate::rng::Rng;

/// Training draws dropout masks from the generator and uses batch statistics; evaluation is
/// deterministic.
pub enum Mode<'a> {
    Train(&'a mut Rng),
    /// Training on one shard of a batch, the images from `first` on: dropout masks are the
    /// whole batch's entries for those images, and batch statistics are the shard's own.
    TrainShard {
        rng: &'a mut Rng,
        first: usize,
    },
    Eval,
}

#[derive(Debug, Default, Clone)]
pub struct Workspace {
    n: usize,
    output: usize,
    acts: Vec<Vec<f32>>,
    grads: Vec<Vec<f32>>,
    argmax: Vec<Vec<u32>>,
    masks: Vec<Vec<f32>>,
    stats: Vec<Vec<ChannelStats>>,
    trained: bool,
}

impl Workspace {
    pub fn new() -> Self {
        Self::default()
    }

    fn prepare(&mut self, g: &Graph, n: usize) {
        self.acts.resize_with(g.values.len(), Vec::new);
        for (v, a) in self.acts.iter_mut().enumerate() {
            a.resize(n * g.value_len(v), 0.0);
        }
        self.argmax.resize_with(g.nodes.len(), Vec::new);
        self.masks.resize_with(g.nodes.len(), Vec::new);
        self.stats.resize_with(g.nodes.len(), Vec::new);
        for (k, node) in g.nodes.iter().enumerate() {
            let len = n * g.value_len(node.output);
            match &node.op {
                NodeOp::MaxPool(_) => self.argmax[k].resize(len, 0),
                NodeOp::Dropout { .. } => self.masks[k].resize(len, 0.0),
                NodeOp::BatchNorm { geom, .. } => {
                    self.stats[k].resize(geom.c, ChannelStats::default())
                }
                _ => {}
            }
        }
        self.n = n;
        self.output = g.output;
    }

    /// The logits `[n, classes]` of the last forward.
    pub fn logits(&self) -> &[f32] {
        &self.acts[self.output]
    }

    /// The activation of value `v` (value 0 is the input) from the last forward.
    pub fn value(&self, v: usize) -> &[f32] {
        &self.acts[v]
    }

    pub fn batch(&self) -> usize {
        self.n
    }
}

/// Mutable views of two disjoint ranges of one buffer, `a` before `b`.
fn two_mut(buf: &mut [f32], a: Range<usize>, b: Range<usize>) -> (&mut [f32], &mut [f32]) {
    let (lo, hi) = buf.split_at_mut(b.start);
    (&mut lo[a], &mut hi[..b.len()])
}

impl Model {
    fn p(&self, id: ParamId) -> &[f32] {
        &self.params[self.graph.params[id].range()]
    }

    /// Weight and optional bias gradient views.
    fn grad_pair(&mut self, w: ParamId, b: Option<ParamId>) -> (&mut [f32], Option<&mut [f32]>) {
        let wr = self.graph.params[w].range();
        match b {
            Some(b) => {
                let br = self.graph.params[b].range();
                let (dw, db) = two_mut(&mut self.grads, wr, br);
                (dw, Some(db))
            }
            None => (&mut self.grads[wr], None),
        }
    }

    /// Runs the network on `n` images (`input` is `[n, c, h, w]`); the logits are then in
    /// `ws.logits()`. Training mode also updates batch-norm running statistics.
    pub fn forward(
        &mut self,
        ws: &mut Workspace,
        input: &[f32],
        n: usize,
        mut mode: Mode,
    ) -> Result<()> {
        if n == 0 || input.len() != n * self.input_len() {
            return Err(Error::ShapeMismatch {
                op: "forward",
                expected: format!("{n} images of {:?}", self.graph.input),
                got: format!("{} floats", input.len()),
            });
        }
        ws.prepare(&self.graph, n);
        ws.acts[0].copy_from_slice(input);
        let training = !matches!(mode, Mode::Eval);
        for k in 0..self.graph.nodes.len() {
            let node = &self.graph.nodes[k];
            let mut out = std::mem::take(&mut ws.acts[node.output]);
            let x = &ws.acts[node.inputs[0]];
            match &node.op {
                NodeOp::Conv2d {
                    geom,
                    weight,
                    bias,
                    relu,
                } => {
                    let b = bias.map(|b| self.p(b));
                    conv2d::conv2d_forward(&mut out, x, self.p(*weight), b, geom, n)?;
                    if *relu {
                        elementwise::relu_forward_inplace(&mut out);
                    }
                }
                NodeOp::Dense {
                    geom,
                    weight,
                    bias,
                    relu,
                } => {
                    let b = bias.map(|b| self.p(b));
                    dense::dense_forward(&mut out, x, self.p(*weight), b, geom, n)?;
                    if *relu {
                        elementwise::relu_forward_inplace(&mut out);
                    }
                }
                NodeOp::MaxPool(g) => pool::max_pool_forward(&mut out, &mut ws.argmax[k], x, g, n)?,
                NodeOp::AvgPool(g) => pool::avg_pool_forward(&mut out, x, g, n)?,
                NodeOp::GlobalAvgPool { plane } => gap::gap_forward(&mut out, x, *plane)?,
                NodeOp::Flatten => out.copy_from_slice(x),
                NodeOp::Relu => relu::relu_forward(&mut out, x)?,
                NodeOp::Dropout { rate } => match &mut mode {
                    Mode::Train(rng) => {
                        dropout::dropout_mask(&mut ws.masks[k], *rate, rng);
                        dropout::dropout_forward(&mut out, x, &ws.masks[k])?
                    }
                    Mode::TrainShard { rng, first } => {
                        let start = *first * self.graph.value_len(node.output);
                        dropout::dropout_mask_from(&mut ws.masks[k], *rate, rng, start);
                        dropout::dropout_forward(&mut out, x, &ws.masks[k])?
                    }
                    Mode::Eval => out.copy_from_slice(x),
                },
                NodeOp::BatchNorm {
                    geom,
                    gamma,
                    beta,
                    mean,
                    var,
                } => {
                    let (mr, vr) = (
                        self.graph.buffers[*mean].range(),
                        self.graph.buffers[*var].range(),
                    );
                    let (gp, bp) = (
                        &self.params[self.graph.params[*gamma].range()],
                        &self.params[self.graph.params[*beta].range()],
                    );
                    if training {
                        let (rm, rv) = two_mut(&mut self.buffers, mr, vr);
                        batchnorm::batchnorm_forward_train(
                            &mut out,
                            &mut ws.stats[k],
                            rm,
                            rv,
                            x,
                            gp,
                            bp,
                            geom,
                            n,
                        )?
                    } else {
                        batchnorm::batchnorm_forward_eval(
                            &mut out,
                            x,
                            gp,
                            bp,
                            &self.buffers[mr],
                            &self.buffers[vr],
                            geom,
                            n,
                        )?
                    }
                }
                NodeOp::Add => add::add_forward(&mut out, x, &ws.acts[node.inputs[1]])?,
                NodeOp::Concat => {
                    let parts: Vec<&[f32]> =
                        node.inputs.iter().map(|&v| ws.acts[v].as_slice()).collect();
                    concat::concat_forward(&mut out, &parts, n)?
                }
                NodeOp::Pad(g) => pad::pad_forward(&mut out, x, g, n)?,
                NodeOp::Blur(g) => blur::blur_forward(&mut out, x, g, n)?,
            }
            ws.acts[node.output] = out;
        }
        ws.trained = training;
        Ok(())
    }

    /// How many values a training forward draws from its generator: one key per dropout layer.
    pub fn dropout_draws(&self) -> usize {
        self.graph
            .nodes
            .iter()
            .filter(|n| matches!(n.op, NodeOp::Dropout { .. }))
            .count()
    }

    /// Whether a training forward normalises with batch statistics, which then depend on how a
    /// batch is split into shards.
    pub fn has_batchnorm(&self) -> bool {
        self.graph
            .nodes
            .iter()
            .any(|n| matches!(n.op, NodeOp::BatchNorm { .. }))
    }

    /// Accumulates parameter gradients into `self.grads` for the last training-mode forward,
    /// given dL/dlogits.
    pub fn backward(&mut self, ws: &mut Workspace, dlogits: &[f32]) -> Result<()> {
        self.backward_seeded(ws, &[(self.graph.output, dlogits)])
    }

    /// Backward from several values at once: `seeds` are `(value, dL/dvalue)` pairs, e.g. the
    /// logits and the auxiliary heads' weighted logit gradients ([`super::graph::AuxOutput`]).
    pub fn backward_seeded(&mut self, ws: &mut Workspace, seeds: &[(usize, &[f32])]) -> Result<()> {
        let n = ws.n;
        let bad = seeds
            .iter()
            .find(|(v, d)| *v >= ws.acts.len() || d.len() != ws.acts[*v].len());
        if !ws.trained || seeds.is_empty() || bad.is_some() {
            return Err(Error::ShapeMismatch {
                op: "backward",
                expected: "a training-mode forward, then gradients of its values' sizes".into(),
                got: match bad {
                    Some((v, d)) => format!("{} floats for value {v}", d.len()),
                    None => format!("{} seeds", seeds.len()),
                },
            });
        }
        ws.grads.resize_with(self.graph.values.len(), Vec::new);
        for (v, d) in ws.grads.iter_mut().enumerate() {
            d.clear();
            d.resize(n * self.graph.value_len(v), 0.0);
        }
        for (v, d) in seeds {
            ws.grads[*v].iter_mut().zip(*d).for_each(|(g, s)| *g += s);
        }
        for k in (0..self.graph.nodes.len()).rev() {
            let node = self.graph.nodes[k].clone();
            let mut dy = std::mem::take(&mut ws.grads[node.output]);
            if let NodeOp::Conv2d { relu: true, .. } | NodeOp::Dense { relu: true, .. } = node.op {
                // The fused ReLU: gradient flows only where the output is positive.
                for (d, y) in dy.iter_mut().zip(&ws.acts[node.output]) {
                    *d = if *y > 0.0 { *d } else { 0.0 };
                }
            }
            let xi = node.inputs[0];
            // The input image needs no gradient: skip the costly backward-input pass into it.
            let wants_dx = xi != 0;
            match &node.op {
                NodeOp::Conv2d {
                    geom, weight, bias, ..
                } => {
                    let x = &ws.acts[xi];
                    let (dw, db) = self.grad_pair(*weight, *bias);
                    conv2d::conv2d_backward_weight(dw, db, &dy, x, geom, n)?;
                    if wants_dx {
                        conv2d::conv2d_backward_input(
                            &mut ws.grads[xi],
                            &dy,
                            self.p(*weight),
                            geom,
                            n,
                        )?;
                    }
                }
                NodeOp::Dense {
                    geom, weight, bias, ..
                } => {
                    let x = &ws.acts[xi];
                    let (dw, db) = self.grad_pair(*weight, *bias);
                    dense::dense_backward_weight(dw, db, &dy, x, geom, n)?;
                    if wants_dx {
                        dense::dense_backward_input(
                            &mut ws.grads[xi],
                            &dy,
                            self.p(*weight),
                            geom,
                            n,
                        )?;
                    }
                }
                NodeOp::MaxPool(g) => {
                    pool::max_pool_backward(&mut ws.grads[xi], &dy, &ws.argmax[k], g, n)?
                }
                NodeOp::AvgPool(g) => pool::avg_pool_backward(&mut ws.grads[xi], &dy, g, n)?,
                NodeOp::GlobalAvgPool { plane } => {
                    gap::gap_backward(&mut ws.grads[xi], &dy, *plane)?
                }
                NodeOp::Flatten => ws.grads[xi].iter_mut().zip(&dy).for_each(|(d, g)| *d += g),
                NodeOp::Relu => relu::relu_backward(&mut ws.grads[xi], &dy, &ws.acts[node.output])?,
                NodeOp::Dropout { .. } => {
                    dropout::dropout_backward(&mut ws.grads[xi], &dy, &ws.masks[k])?
                }
                NodeOp::BatchNorm {
                    geom, gamma, beta, ..
                } => {
                    let (gr, br) = (
                        self.graph.params[*gamma].range(),
                        self.graph.params[*beta].range(),
                    );
                    let gamma_v = self.params[gr.clone()].to_vec();
                    let (dg, db) = two_mut(&mut self.grads, gr, br);
                    batchnorm::batchnorm_backward(
                        &mut ws.grads[xi],
                        dg,
                        db,
                        &dy,
                        &ws.acts[xi],
                        &gamma_v,
                        &ws.stats[k],
                        geom,
                        n,
                    )?
                }
                NodeOp::Add => {
                    let mut da = std::mem::take(&mut ws.grads[node.inputs[0]]);
                    add::add_backward(&mut da, &mut ws.grads[node.inputs[1]], &dy)?;
                    ws.grads[node.inputs[0]] = da;
                }
                NodeOp::Concat => {
                    let mut parts: Vec<Vec<f32>> = node
                        .inputs
                        .iter()
                        .map(|&v| std::mem::take(&mut ws.grads[v]))
                        .collect();
                    let mut views: Vec<&mut [f32]> =
                        parts.iter_mut().map(|p| p.as_mut_slice()).collect();
                    concat::concat_backward(&mut views, &dy, n)?;
                    for (&v, p) in node.inputs.iter().zip(parts) {
                        ws.grads[v] = p;
                    }
                }
                NodeOp::Pad(g) => {
                    if wants_dx {
                        pad::pad_backward(&mut ws.grads[xi], &dy, g, n)?
                    }
                }
                NodeOp::Blur(g) => {
                    if wants_dx {
                        blur::blur_backward(&mut ws.grads[xi], &dy, g, n)?
                    }
                }
            }
            ws.grads[node.output] = dy;
        }
        Ok(())
    }
}
