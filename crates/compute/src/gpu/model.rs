//! Forward and backward over a compiled [`Graph`] with every buffer on the device: parameters,
//! gradients, optimizer state, activations, their gradients and the batch.
//!
//! The dispatches of a step depend only on the batch size, so they are built once per size (a
//! [`Plan`]) and replayed; a step only rewrites the few params that change (dropout keys, Adam's
//! step, the metrics slot). Flatten is free: its output shares its input's buffers.

use super::GpuContext;
use super::buffer::GpuBuffer;
use super::kernels::{DropoutParams, Gemm};
use super::ops::{self, Dispatch, WinogradScratch};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::model::graph::{Graph, NodeOp};
use crate::optim::OptimizerSpec;

/// Steps whose loss and correct count fit in the metrics buffer before it must be read back.
pub const METRIC_SLOTS: usize = 1024;

/// The dispatches of one batch size.
pub(crate) struct Plan {
    pub n: usize,
    pub canvas: Dispatch,
    pub forward_train: Vec<Dispatch>,
    pub forward_eval: Vec<Dispatch>,
    /// (index in `forward_train`, len, rate) of each dropout node, in node order.
    pub dropouts: Vec<(usize, usize, f32)>,
    /// The head's loss (forward, backward), then each auxiliary head's.
    pub loss: Vec<Dispatch>,
    pub backward: Vec<Dispatch>,
    pub update: Dispatch,
}

/// A model's buffers on the device for batches of up to `capacity` images.
pub struct GpuModel {
    pub graph: Graph,
    pub capacity: usize,
    /// Bytes of every buffer this model holds on the device.
    pub bytes: u64,
    pub optimizer: OptimizerSpec,
    pub(crate) params: GpuBuffer,
    pub(crate) grads: GpuBuffer,
    m: GpuBuffer,
    v: GpuBuffer,
    /// Each value's storage slot (Flatten shares its input's).
    slot: Vec<usize>,
    acts: Vec<GpuBuffer>,
    dacts: Vec<GpuBuffer>,
    argmax: Vec<Option<GpuBuffer>>,
    masks: Vec<Option<GpuBuffer>>,
    /// Per batch-norm node: batch statistics `[c, 2]` and backward sums `[c, 2]`.
    bn: Vec<Option<(GpuBuffer, GpuBuffer)>>,
    /// Batch-norm running statistics (`graph.buffers`).
    pub(crate) running: GpuBuffer,
    scratch: GpuBuffer,
    /// The Winograd convolutions' scratch (software adapters only; empty elsewhere).
    winograd: WinogradScratch,
    pub(crate) images: GpuBuffer,
    pub(crate) offsets: GpuBuffer,
    pub(crate) labels: GpuBuffer,
    table: GpuBuffer,
    probs: GpuBuffer,
    /// Each auxiliary head's probabilities, and a metrics slot its loss may scribble on (the
    /// reported loss is the model head's, as on the CPU).
    aux_probs: Vec<GpuBuffer>,
    aux_metrics: GpuBuffer,
    pub(crate) metrics: GpuBuffer,
    plans: Vec<Plan>,
}

/// One buffer the model will need, for the limits check.
struct Need {
    what: String,
    floats: usize,
}

/// The floats `[u, v, m]` of the Winograd scratch a graph needs at batch `n` on an adapter whose
/// GEMM body is `gemm` (none where it does not run Winograd: [`ops::winograd_runs_on`]).
fn winograd_scratch(graph: &Graph, n: usize, gemm: Gemm) -> [usize; 3] {
    if !ops::winograd_runs_on(gemm) {
        return [0; 3];
    }
    graph
        .nodes
        .iter()
        .filter_map(|node| match &node.op {
            NodeOp::Conv2d { geom, .. } => Some(ops::winograd_scratch(geom, n)),
            _ => None,
        })
        .fold([0; 3], ops::larger_scratch)
}

/// The device buffers a graph needs at batch `n`, largest first.
fn needs(graph: &Graph, n: usize, optimizer: &OptimizerSpec, gemm: Gemm) -> Result<Vec<Need>> {
    let classes = graph.classes;
    let mut v = vec![
        Need {
            what: "parameters".into(),
            floats: graph.param_len,
        },
        Need {
            what: "gradients".into(),
            floats: graph.param_len,
        },
        Need {
            what: "optimizer state m".into(),
            floats: graph.param_len,
        },
        Need {
            what: "optimizer state v".into(),
            floats: if matches!(optimizer, OptimizerSpec::Adam { .. }) {
                graph.param_len
            } else {
                1
            },
        },
        Need {
            what: "batch images".into(),
            floats: (n * 784).div_ceil(4),
        },
        Need {
            what: "labels, offsets, probabilities".into(),
            floats: 3 * n + n * classes * (1 + graph.aux.len()),
        },
        Need {
            what: "metrics".into(),
            floats: 2 * METRIC_SLOTS,
        },
    ];
    let aliased = flatten_slots(graph);
    for (val, &s) in aliased.iter().enumerate() {
        if s == val {
            let len = n * graph.value_len(val);
            v.push(Need {
                what: format!("activation {val}"),
                floats: len,
            });
            v.push(Need {
                what: format!("activation gradient {val}"),
                floats: len,
            });
        }
    }
    let mut scratch = 1;
    for node in &graph.nodes {
        let len = n * graph.value_len(node.output);
        match &node.op {
            NodeOp::MaxPool(_) => v.push(Need {
                what: format!("{} argmax", node.layer),
                floats: len,
            }),
            NodeOp::Dropout { .. } => v.push(Need {
                what: format!("{} mask", node.layer),
                floats: len,
            }),
            NodeOp::Conv2d { geom, .. } => {
                scratch = scratch.max(ops::conv2d_weight_scratch(geom, n))
            }
            NodeOp::BatchNorm { geom, .. } => v.push(Need {
                what: format!("{} statistics", node.layer),
                floats: 4 * geom.c,
            }),
            _ => {}
        }
    }
    v.push(Need {
        what: "running statistics".into(),
        floats: graph.buffer_len,
    });
    v.push(Need {
        what: "weight-gradient scratch".into(),
        floats: scratch,
    });
    let [wu, wv, wm] = winograd_scratch(graph, n, gemm);
    for (what, floats) in [
        ("Winograd weights", wu),
        ("Winograd source blocks", wv),
        ("Winograd products", wm),
    ] {
        v.push(Need {
            what: what.into(),
            floats: floats.max(1),
        });
    }
    v.sort_by_key(|x| std::cmp::Reverse(x.floats));
    Ok(v)
}

/// slot[v]: the value whose buffers v uses (Flatten's output uses its input's).
fn flatten_slots(graph: &Graph) -> Vec<usize> {
    let mut slot: Vec<usize> = (0..graph.values.len()).collect();
    for node in &graph.nodes {
        if matches!(node.op, NodeOp::Flatten) {
            slot[node.output] = slot[node.inputs[0]];
        }
    }
    slot
}

/// Bytes a graph needs on the device at batch `n` (on an adapter whose GEMM body is `gemm`), and
/// `Err` naming the first buffer that exceeds the device's limits (max buffer size, max
/// storage-buffer binding size).
pub fn check_limits(
    graph: &Graph,
    n: usize,
    optimizer: &OptimizerSpec,
    limits: &wgpu::Limits,
    gemm: Gemm,
) -> Result<u64> {
    let needs = needs(graph, n, optimizer, gemm)?;
    let max = limits
        .max_buffer_size
        .min(limits.max_storage_buffer_binding_size);
    let total: u64 = needs.iter().map(|x| x.floats as u64 * 4).sum();
    if let Some(big) = needs.first() {
        let bytes = big.floats as u64 * 4;
        if bytes > max {
            let fits = (n as u64 * max / bytes).max(1);
            return Err(Error::Gpu(format!(
                "batch {n} needs a {what} buffer of {bytes} bytes ({total} bytes in all); this GPU allows {max} bytes per buffer: use a batch of at most {fits} or --backend cpu",
                what = big.what
            )));
        }
    }
    Ok(total)
}

impl GpuModel {
    /// Uploads `model`'s parameters and allocates every buffer for batches of up to `capacity`.
    /// Checks the device's limits first: a model that does not fit is a clear error.
    pub fn new(
        ctx: &GpuContext,
        model: &Model,
        capacity: usize,
        optimizer: OptimizerSpec,
    ) -> Result<Self> {
        let graph = model.graph.clone();
        let bytes = check_limits(&graph, capacity, &optimizer, &ctx.limits, ctx.gemm())?;
        let n = capacity;
        let slot = flatten_slots(&graph);
        let mut acts = Vec::new();
        let mut dacts = Vec::new();
        for (val, &s) in slot.iter().enumerate() {
            let len = if s == val {
                n * graph.value_len(val)
            } else {
                0
            };
            acts.push(GpuBuffer::zeros(ctx, "activation", len));
            dacts.push(GpuBuffer::zeros(ctx, "activation gradient", len));
        }
        let mut scratch = 1;
        let (mut argmax, mut masks, mut bn) = (Vec::new(), Vec::new(), Vec::new());
        for node in &graph.nodes {
            let len = n * graph.value_len(node.output);
            argmax.push(
                matches!(node.op, NodeOp::MaxPool(_)).then(|| GpuBuffer::zeros(ctx, "argmax", len)),
            );
            masks.push(
                matches!(node.op, NodeOp::Dropout { .. })
                    .then(|| GpuBuffer::zeros(ctx, "dropout mask", len)),
            );
            bn.push(match &node.op {
                NodeOp::BatchNorm { geom, .. } => Some((
                    GpuBuffer::zeros(ctx, "batch-norm statistics", 2 * geom.c),
                    GpuBuffer::zeros(ctx, "batch-norm sums", 2 * geom.c),
                )),
                _ => None,
            });
            if let NodeOp::Conv2d { geom, .. } = &node.op {
                scratch = scratch.max(ops::conv2d_weight_scratch(geom, n));
            }
        }
        let table: Vec<f32> = (0..256).map(|b| b as f32 / 255.0).collect();
        let adam = matches!(optimizer, OptimizerSpec::Adam { .. });
        Ok(Self {
            params: GpuBuffer::from_f32(ctx, "parameters", &model.params),
            grads: GpuBuffer::zeros(ctx, "gradients", graph.param_len),
            m: GpuBuffer::zeros(ctx, "optimizer m", graph.param_len),
            v: GpuBuffer::zeros(ctx, "optimizer v", if adam { graph.param_len } else { 1 }),
            slot,
            acts,
            dacts,
            argmax,
            masks,
            bn,
            running: GpuBuffer::from_f32(ctx, "running statistics", &model.buffers),
            scratch: GpuBuffer::zeros(ctx, "weight-gradient scratch", scratch),
            winograd: WinogradScratch::new(ctx, winograd_scratch(&graph, n, ctx.gemm())),
            images: GpuBuffer::zeros(ctx, "batch images", (n * 784).div_ceil(4)),
            offsets: GpuBuffer::zeros(ctx, "batch offsets", 2 * n),
            labels: GpuBuffer::zeros(ctx, "batch labels", n),
            table: GpuBuffer::from_f32(ctx, "pixel table", &table),
            probs: GpuBuffer::zeros(ctx, "probabilities", n * graph.classes),
            aux_probs: graph
                .aux
                .iter()
                .map(|_| GpuBuffer::zeros(ctx, "auxiliary probabilities", n * graph.classes))
                .collect(),
            aux_metrics: GpuBuffer::zeros(ctx, "auxiliary metrics", 2),
            metrics: GpuBuffer::zeros(ctx, "metrics", 2 * METRIC_SLOTS),
            plans: Vec::new(),
            capacity,
            bytes,
            optimizer,
            graph,
        })
    }

    fn act(&self, v: usize) -> &GpuBuffer {
        &self.acts[self.slot[v]]
    }

    fn dact(&self, v: usize) -> &GpuBuffer {
        &self.dacts[self.slot[v]]
    }

    /// The logits `[n, classes]` of the last forward.
    pub(crate) fn logits(&self) -> &GpuBuffer {
        self.act(self.graph.output)
    }

    /// The plan for batch size `n`, built on first use (at most two are kept: the batch and the
    /// epoch's last, smaller one).
    pub(crate) fn plan(&mut self, ctx: &GpuContext, n: usize) -> Result<&Plan> {
        if n == 0 || n > self.capacity {
            return Err(Error::Gpu(format!(
                "batch of {n} images on a GPU model allocated for 1..={}",
                self.capacity
            )));
        }
        if let Some(i) = self.plans.iter().position(|p| p.n == n) {
            return Ok(&self.plans[i]);
        }
        let plan = self.build_plan(ctx, n)?;
        if self.plans.len() >= 2 {
            self.plans.remove(0);
        }
        self.plans.push(plan);
        Ok(self.plans.last().expect("just pushed"))
    }

    fn build_plan(&self, ctx: &GpuContext, n: usize) -> Result<Plan> {
        let g = &self.graph;
        let p = &g.params;
        let canvas = ops::canvas_place(
            ctx,
            self.act(0),
            &self.images,
            &self.offsets,
            &self.table,
            n,
            g.input[1],
        )?;
        let (mut forward_train, mut forward_eval, mut dropouts) =
            (Vec::new(), Vec::new(), Vec::new());
        for (k, node) in g.nodes.iter().enumerate() {
            if let NodeOp::Dropout { rate } = node.op {
                dropouts.push((forward_train.len(), n * g.value_len(node.output), rate));
            }
            forward_train.extend(self.forward_node(ctx, k, n, true)?);
            forward_eval.extend(self.forward_node(ctx, k, n, false)?);
        }
        let logits = self.logits();
        let mut loss = vec![
            ops::softmax_ce_forward(
                ctx,
                &self.probs,
                &self.metrics,
                logits,
                &self.labels,
                n,
                g.classes,
                0,
            )?,
            ops::softmax_ce_backward(
                ctx,
                self.dact(g.output),
                &self.probs,
                &self.labels,
                n,
                g.classes,
            )?,
        ];
        for (a, probs) in g.aux.iter().zip(&self.aux_probs) {
            let logits = self.act(a.value);
            loss.push(ops::softmax_ce_forward(
                ctx,
                probs,
                &self.aux_metrics,
                logits,
                &self.labels,
                n,
                g.classes,
                0,
            )?);
            loss.push(ops::softmax_ce_backward_scaled(
                ctx,
                self.dact(a.value),
                probs,
                &self.labels,
                n,
                g.classes,
                a.weight,
            )?);
        }
        let mut backward = Vec::new();
        let input_slot = self.slot[0];
        for (k, node) in g.nodes.iter().enumerate().rev() {
            let xi = node.inputs[0];
            let (dy, y) = (self.dact(node.output), self.act(node.output));
            let (x, dx) = (self.act(xi), self.dact(xi));
            let wants_dx = self.slot[xi] != input_slot;
            let len = n * g.value_len(node.output);
            match &node.op {
                NodeOp::Conv2d {
                    geom,
                    weight,
                    bias,
                    relu,
                } => {
                    if *relu {
                        backward.push(ops::relu_mask(ctx, dy, y, len)?);
                    }
                    let w_off = p[*weight].offset;
                    backward.extend(ops::conv2d_backward_weight_auto(
                        ctx,
                        &self.grads,
                        &self.scratch,
                        &self.winograd,
                        dy,
                        x,
                        w_off,
                        geom,
                        n,
                    )?);
                    if let Some(b) = bias {
                        let plane = geom.h_out * geom.w_out;
                        backward.push(ops::bias_backward(
                            ctx,
                            &self.grads,
                            dy,
                            p[*b].offset,
                            geom.c_out,
                            plane,
                            n,
                        )?);
                    }
                    if wants_dx {
                        backward.extend(ops::conv2d_backward_input_auto(
                            ctx,
                            dx,
                            dy,
                            &self.params,
                            &self.winograd,
                            w_off,
                            geom,
                            n,
                        )?);
                    }
                }
                NodeOp::Dense {
                    geom,
                    weight,
                    bias,
                    relu,
                } => {
                    if *relu {
                        backward.push(ops::relu_mask(ctx, dy, y, len)?);
                    }
                    let w_off = p[*weight].offset;
                    backward.push(ops::dense_backward_weight(
                        ctx,
                        &self.grads,
                        dy,
                        x,
                        w_off,
                        geom,
                        n,
                    )?);
                    if let Some(b) = bias {
                        backward.push(ops::bias_backward(
                            ctx,
                            &self.grads,
                            dy,
                            p[*b].offset,
                            geom.outputs,
                            1,
                            n,
                        )?);
                    }
                    if wants_dx {
                        backward.push(ops::dense_backward_input(
                            ctx,
                            dx,
                            dy,
                            &self.params,
                            w_off,
                            geom,
                            n,
                        )?);
                    }
                }
                NodeOp::BatchNorm { geom, .. } => {
                    // γ and β need their gradients even when x is the input image.
                    let (stats, sums) =
                        self.bn[k].as_ref().expect("allocated for batch-norm nodes");
                    backward.extend(ops::batchnorm_backward(
                        ctx,
                        dx,
                        &self.grads,
                        sums,
                        dy,
                        x,
                        &self.params,
                        stats,
                        self.bn_at(k),
                        geom,
                        n,
                    )?);
                }
                _ if !wants_dx => {}
                NodeOp::MaxPool(geom) => {
                    let am = self.argmax[k]
                        .as_ref()
                        .expect("allocated for max-pool nodes");
                    backward.push(ops::max_pool_backward(ctx, dx, dy, am, geom, n)?);
                }
                NodeOp::AvgPool(geom) => {
                    backward.push(ops::avg_pool_backward(ctx, dx, dy, geom, n)?)
                }
                NodeOp::GlobalAvgPool { plane } => {
                    backward.push(ops::gap_backward(ctx, dx, dy, len, *plane)?)
                }
                NodeOp::Flatten => {}
                NodeOp::Relu => backward.push(ops::relu_backward(ctx, dx, dy, y, len)?),
                NodeOp::Dropout { .. } => {
                    let mask = self.masks[k].as_ref().expect("allocated for dropout nodes");
                    backward.push(ops::dropout_backward(ctx, dx, dy, mask, len)?);
                }
                NodeOp::Add => {
                    backward.push(ops::add_backward(ctx, dx, dy, len)?);
                    backward.push(ops::add_backward(ctx, self.dact(node.inputs[1]), dy, len)?);
                }
                NodeOp::Pad(geom) => backward.push(ops::pad_backward(ctx, dx, dy, geom, n)?),
                NodeOp::Blur(geom) => backward.push(ops::blur_backward(ctx, dx, dy, geom, n)?),
                NodeOp::Concat => {
                    let total = g.value_len(node.output);
                    let mut at = 0;
                    for &v in &node.inputs {
                        let part = g.value_len(v);
                        backward.push(ops::concat_backward(
                            ctx,
                            self.dact(v),
                            dy,
                            n,
                            part,
                            total,
                            at,
                        )?);
                        at += part;
                    }
                }
            }
        }
        let update = ops::optimizer_update(
            ctx,
            &self.params,
            &self.grads,
            &self.m,
            &self.v,
            g.param_len,
            &self.optimizer,
            1,
        )?;
        Ok(Plan {
            n,
            canvas,
            forward_train,
            forward_eval,
            dropouts,
            loss,
            backward,
            update,
        })
    }

    /// The forward dispatches of node `k`; evaluation runs dropout as the identity.
    fn forward_node(
        &self,
        ctx: &GpuContext,
        k: usize,
        n: usize,
        train: bool,
    ) -> Result<Vec<Dispatch>> {
        let g = &self.graph;
        let p = &g.params;
        let node = &g.nodes[k];
        let (x, out) = (self.act(node.inputs[0]), self.act(node.output));
        let len = n * g.value_len(node.output);
        Ok(match &node.op {
            NodeOp::Conv2d {
                geom,
                weight,
                bias,
                relu,
            } => {
                let b = bias.map(|b| p[b].offset);
                ops::conv2d_forward_auto(
                    ctx,
                    out,
                    x,
                    &self.params,
                    &self.winograd,
                    p[*weight].offset,
                    b,
                    geom,
                    n,
                    *relu,
                )?
            }
            NodeOp::Dense {
                geom,
                weight,
                bias,
                relu,
            } => {
                let b = bias.map(|b| p[b].offset);
                vec![ops::dense_forward(
                    ctx,
                    out,
                    x,
                    &self.params,
                    p[*weight].offset,
                    b,
                    geom,
                    n,
                    *relu,
                )?]
            }
            NodeOp::MaxPool(geom) => {
                let am = self.argmax[k]
                    .as_ref()
                    .expect("allocated for max-pool nodes");
                vec![ops::max_pool_forward(ctx, out, am, x, geom, n)?]
            }
            NodeOp::AvgPool(geom) => vec![ops::avg_pool_forward(ctx, out, x, geom, n)?],
            NodeOp::GlobalAvgPool { plane } => vec![ops::gap_forward(ctx, out, x, len, *plane)?],
            NodeOp::Flatten => Vec::new(),
            NodeOp::Relu => vec![ops::relu_forward(ctx, out, x, len)?],
            NodeOp::Dropout { rate } => {
                let mask = self.masks[k].as_ref().expect("allocated for dropout nodes");
                let rate = if train { *rate } else { 0.0 };
                vec![ops::dropout_forward(ctx, out, mask, x, len, rate, 0)?]
            }
            NodeOp::Add => vec![ops::add_forward(
                ctx,
                out,
                x,
                self.act(node.inputs[1]),
                len,
            )?],
            NodeOp::Concat => {
                let total = g.value_len(node.output);
                let mut at = 0;
                let mut parts = Vec::new();
                for &v in &node.inputs {
                    let part = g.value_len(v);
                    parts.push(ops::concat_forward(
                        ctx,
                        out,
                        self.act(v),
                        n,
                        part,
                        total,
                        at,
                    )?);
                    at += part;
                }
                parts
            }
            NodeOp::Pad(geom) => vec![ops::pad_forward(ctx, out, x, geom, n)?],
            NodeOp::Blur(geom) => vec![ops::blur_forward(ctx, out, x, geom, n)?],
            NodeOp::BatchNorm { geom, .. } => {
                let (stats, _) = self.bn[k].as_ref().expect("allocated for batch-norm nodes");
                let at = self.bn_at(k);
                if train {
                    ops::batchnorm_forward_train(
                        ctx,
                        out,
                        stats,
                        &self.running,
                        x,
                        &self.params,
                        at,
                        geom,
                        n,
                    )?
                    .into()
                } else {
                    vec![ops::batchnorm_forward_eval(
                        ctx,
                        out,
                        stats,
                        &self.running,
                        x,
                        &self.params,
                        at,
                        geom,
                        n,
                    )?]
                }
            }
        })
    }

    fn bn_at(&self, k: usize) -> ops::BatchNormAt {
        let g = &self.graph;
        match &g.nodes[k].op {
            NodeOp::BatchNorm {
                gamma,
                beta,
                mean,
                var,
                ..
            } => ops::BatchNormAt {
                gamma: g.params[*gamma].offset,
                beta: g.params[*beta].offset,
                mean: g.buffers[*mean].offset,
                var: g.buffers[*var].offset,
            },
            _ => unreachable!("bn_at of a batch-norm node"),
        }
    }

    /// Clears every gradient (parameters and activations) in `enc`.
    pub(crate) fn clear_grads(&self, enc: &mut wgpu::CommandEncoder) {
        enc.clear_buffer(&self.grads.buf, 0, None);
        for (v, &s) in self.slot.iter().enumerate() {
            if s == v {
                enc.clear_buffer(&self.dacts[v].buf, 0, None);
            }
        }
    }

    /// Queues the params of each dropout of plan `n` for a training step with `keys`.
    pub(crate) fn set_dropout_keys(&self, ctx: &GpuContext, n: usize, keys: &[u64]) -> Result<()> {
        let plan = self
            .plans
            .iter()
            .find(|p| p.n == n)
            .ok_or_else(|| Error::Gpu(format!("no plan for batch {n}")))?;
        for (&(at, len, rate), &key) in plan.dropouts.iter().zip(keys) {
            let p: DropoutParams = ops::dropout_params(len, rate, key)?;
            plan.forward_train[at].set_params(ctx, &p);
        }
        Ok(())
    }

    /// Dropout nodes in node order (one key each per training step).
    pub fn dropout_count(&self) -> usize {
        self.graph
            .nodes
            .iter()
            .filter(|n| matches!(n.op, NodeOp::Dropout { .. }))
            .count()
    }

    /// Reads the parameters back.
    pub async fn read_params(&self, ctx: &GpuContext) -> Result<Vec<f32>> {
        self.params.read_f32(ctx).await
    }

    /// Replaces the parameters (e.g. after loading weights).
    pub fn write_params(&self, ctx: &GpuContext, params: &[f32]) -> Result<()> {
        if params.len() != self.graph.param_len {
            return Err(Error::WeightsMismatch(format!(
                "{} parameters for a model of {}",
                params.len(),
                self.graph.param_len
            )));
        }
        self.params.write_f32(ctx, params);
        Ok(())
    }
}
