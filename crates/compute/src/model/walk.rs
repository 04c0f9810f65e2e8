//! The graph walker: forward and backward over a compiled [`Graph`], once for every backend.
//!
//! [`Layout`] plans the buffers (which values share storage, what state each node keeps, how
//! large each is at a batch size); [`forward`] and [`backward`] call the [`Backend`]'s
//! primitives node by node. The CPU backend executes those calls at once (or fuses one with the
//! next); the GPU backend records them into a plan it replays every step. An op therefore appears here once: one arm
//! in [`forward`], one in [`backward`], and one line in [`Layout::state`] if it keeps state.

use super::graph::{Graph, NodeOp, ParamId};
use crate::backend::{Backend, Param, Part, Tensor};
use crate::error::Result;

/// What a node keeps from forward for backward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateKind {
    /// Max pooling's winners: one index per output element.
    Argmax,
    /// Dropout's mask: one float per output element.
    Mask,
    /// Batch norm's statistics: one (mean, 1/σ) pair per channel.
    BatchStats,
}

/// One node's state buffer: `len` elements for the whole batch (pairs for [`StateKind::BatchStats`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct State {
    pub node: usize,
    pub kind: StateKind,
    pub len: usize,
}

/// Where a graph's batch tensors live: each value's slot (a value whose storage is another's,
/// such as flatten's output, shares that value's slot) and each slot's per-image length.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Layout {
    /// slot[v]: the slot of value v.
    pub slot: Vec<usize>,
    /// Per-image floats of each slot (0 for a slot no value owns).
    pub slot_len: Vec<usize>,
}

impl Layout {
    pub fn new(g: &Graph) -> Self {
        let mut l = Layout::default();
        l.plan(g);
        l
    }

    /// Plans `g`'s slots in place, reusing this layout's memory (a workspace does it before
    /// every forward, so a step allocates nothing here).
    pub fn plan(&mut self, g: &Graph) {
        self.slot.clear();
        self.slot.extend(0..g.values.len());
        for node in &g.nodes {
            if matches!(node.op, NodeOp::Flatten) {
                self.slot[node.output] = self.slot[node.inputs[0]];
            }
        }
        let slot = &self.slot;
        self.slot_len.clear();
        self.slot_len
            .extend((0..g.values.len()).map(|v| if slot[v] == v { g.value_len(v) } else { 0 }));
    }

    /// Value v's activation.
    pub fn act(&self, v: usize) -> Tensor {
        Tensor::Act(self.slot[v])
    }

    /// Value v's gradient.
    pub fn grad(&self, v: usize) -> Tensor {
        Tensor::Grad(self.slot[v])
    }

    /// Whether backward computes value v's gradient: every value's but the input image's.
    pub fn wants_grad(&self, v: usize) -> bool {
        self.slot[v] != self.slot[0]
    }

    /// The state each node keeps at batch `n`, in node order.
    pub fn state(g: &Graph, n: usize) -> impl Iterator<Item = State> + '_ {
        g.nodes.iter().enumerate().filter_map(move |(k, node)| {
            let len = n * g.value_len(node.output);
            let (kind, len) = match &node.op {
                NodeOp::MaxPool(_) => (StateKind::Argmax, len),
                NodeOp::Dropout { .. } => (StateKind::Mask, len),
                NodeOp::BatchNorm { geom, .. } => (StateKind::BatchStats, geom.c),
                _ => return None,
            };
            Some(State { node: k, kind, len })
        })
    }
}

fn param(g: &Graph, id: ParamId) -> Param {
    let p = &g.params[id];
    Param {
        offset: p.offset,
        len: p.len,
    }
}

fn parts(g: &Graph, l: &Layout, inputs: &[usize], grad: bool) -> Vec<Part> {
    inputs
        .iter()
        .map(|&v| Part {
            tensor: if grad { l.grad(v) } else { l.act(v) },
            len: g.value_len(v),
        })
        .collect()
}

/// Runs the network on the batch of `n` images already in value 0's activation; the logits end
/// in `l.act(g.output)`. `train` draws dropout masks and normalises with batch statistics (and
/// updates the running ones); otherwise dropout is the identity and batch norm uses the running
/// statistics.
pub fn forward<B: Backend>(b: &mut B, g: &Graph, l: &Layout, n: usize, train: bool) -> Result<()> {
    for (k, node) in g.nodes.iter().enumerate() {
        let (x, out) = (l.act(node.inputs[0]), l.act(node.output));
        let len = n * g.value_len(node.output);
        match &node.op {
            NodeOp::Conv2d {
                geom,
                weight,
                bias,
                relu,
            } => {
                let bias = bias.map(|p| param(g, p));
                b.conv2d_forward(out, x, param(g, *weight), bias, geom, n, *relu)?
            }
            NodeOp::Dense {
                geom,
                weight,
                bias,
                relu,
            } => {
                let bias = bias.map(|p| param(g, p));
                b.dense_forward(out, x, param(g, *weight), bias, geom, n, *relu)?
            }
            NodeOp::MaxPool(geom) => b.max_pool_forward(out, k, x, geom, n)?,
            NodeOp::AvgPool(geom) => b.avg_pool_forward(out, x, geom, n)?,
            NodeOp::GlobalAvgPool { plane } => b.gap_forward(out, x, len, *plane)?,
            NodeOp::Flatten => {}
            NodeOp::Relu => b.relu_forward(out, x, len)?,
            NodeOp::Relu6 => b.relu6_forward(out, x, len)?,
            NodeOp::AdaptiveAvgPool(geom) => b.adaptive_avg_pool_forward(out, x, geom, n)?,
            NodeOp::Dropout { rate } => {
                b.dropout_forward(out, k, x, len, n, train.then_some(*rate))?
            }
            NodeOp::BatchNorm { geom, params } => {
                b.batchnorm_forward(out, k, x, params.at(g), geom, n, train)?
            }
            NodeOp::Add => b.add_forward(out, x, l.act(node.inputs[1]), len)?,
            NodeOp::Concat => {
                let total = g.value_len(node.output);
                b.concat_forward(out, &parts(g, l, &node.inputs, false), n, total)?
            }
            NodeOp::Pad(geom) => b.pad_forward(out, x, geom, n)?,
            NodeOp::Blur(geom) => b.blur_forward(out, x, geom, n)?,
        }
    }
    Ok(())
}

/// Accumulates parameter gradients (and every value's gradient but the input's) for the last
/// training forward of `n` images, given the gradients already seeded into the values that feed
/// the loss (the logits, auxiliary heads' logits). A backend may leave unwritten the gradient
/// of a layer that reads the input: nothing reads it after that layer's weight gradient, since
/// the input gets no gradient (the CPU's thin first layer under a max pool does, computing its
/// weight gradient from the pool's windows: `conv2d::conv2d_backward_weight_routed`).
pub fn backward<B: Backend>(b: &mut B, g: &Graph, l: &Layout, n: usize) -> Result<()> {
    for (k, node) in g.nodes.iter().enumerate().rev() {
        let xi = node.inputs[0];
        let (x, y) = (l.act(xi), l.act(node.output));
        let (dx, dy) = (l.grad(xi), l.grad(node.output));
        // The input image needs no gradient: skip the passes into it.
        let wants_dx = l.wants_grad(xi);
        let len = n * g.value_len(node.output);
        b.settle(dy)?;
        match &node.op {
            NodeOp::Conv2d {
                geom,
                weight,
                bias,
                relu,
            } => {
                if *relu {
                    b.relu_mask(dy, y, len)?;
                }
                let w = param(g, *weight);
                b.conv2d_backward_weight(w, bias.map(|p| param(g, p)), dy, x, geom, n)?;
                if wants_dx {
                    b.conv2d_backward_input(dx, dy, w, geom, n)?;
                }
            }
            NodeOp::Dense {
                geom,
                weight,
                bias,
                relu,
            } => {
                if *relu {
                    b.relu_mask(dy, y, len)?;
                }
                let w = param(g, *weight);
                b.dense_backward_weight(w, bias.map(|p| param(g, p)), dy, x, geom, n)?;
                if wants_dx {
                    b.dense_backward_input(dx, dy, w, geom, n)?;
                }
            }
            // γ and β need their gradients even when x is the input image.
            NodeOp::BatchNorm { geom, params } => {
                b.batchnorm_backward(dx, k, dy, x, params.at(g), geom, n)?
            }
            NodeOp::Add => {
                for &v in &node.inputs {
                    if l.wants_grad(v) {
                        b.add_backward(l.grad(v), dy, len)?;
                    }
                }
            }
            NodeOp::Concat => {
                if node.inputs.iter().any(|&v| l.wants_grad(v)) {
                    let total = g.value_len(node.output);
                    b.concat_backward(&parts(g, l, &node.inputs, true), dy, n, total)?
                }
            }
            _ if !wants_dx => {}
            NodeOp::MaxPool(geom) => b.max_pool_backward(dx, dy, y, k, geom, n)?,
            NodeOp::AvgPool(geom) => b.avg_pool_backward(dx, dy, geom, n)?,
            NodeOp::GlobalAvgPool { plane } => b.gap_backward(dx, dy, len, *plane)?,
            NodeOp::Flatten => {}
            NodeOp::Relu => b.relu_backward(dx, dy, y, len)?,
            NodeOp::Relu6 => b.relu6_backward(dx, dy, y, len)?,
            NodeOp::AdaptiveAvgPool(geom) => b.adaptive_avg_pool_backward(dx, dy, geom, n)?,
            NodeOp::Dropout { .. } => b.dropout_backward(dx, dy, k, len)?,
            NodeOp::Pad(geom) => b.pad_backward(dx, dy, geom, n)?,
            NodeOp::Blur(geom) => b.blur_backward(dx, dy, geom, n)?,
        }
    }
    Ok(())
}
