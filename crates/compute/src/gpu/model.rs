//! Forward and backward over a compiled [`Graph`] with every buffer on the device: parameters,
//! gradients, optimizer state, activations, their gradients and the batch.
//!
//! The dispatches of a step depend only on the batch size, so they are built once per size (a
//! [`Plan`]: the graph walker's forward and backward recorded by [`super::backend::Recorder`],
//! then the loss and the optimizer) and replayed; a step only rewrites the few params that change
//! (dropout keys, Adam's step, the metrics slot). Buffers follow the walker's [`Layout`] (flatten
//! is free: its output shares its input's slot).

use super::GpuContext;
use super::backend::Recorder;
use super::buffer::GpuBuffer;
use super::kernels::{DropoutParams, Gemm};
use super::ops::{self, Dispatch, WinogradScratch};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::model::graph::{Graph, NodeOp};
use crate::model::walk::{self, Layout, StateKind};
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
    /// The walker's slots: each value's, and each slot's size.
    layout: Layout,
    /// Each slot's activation and gradient (empty for a slot no value owns).
    pub(crate) acts: Vec<GpuBuffer>,
    pub(crate) dacts: Vec<GpuBuffer>,
    /// Per node: max-pool winners, dropout mask, batch-norm statistics `[c, 2]` and backward
    /// sums `[c, 2]`, where the node keeps them.
    pub(crate) argmax: Vec<Option<GpuBuffer>>,
    pub(crate) masks: Vec<Option<GpuBuffer>>,
    pub(crate) bn: Vec<Option<(GpuBuffer, GpuBuffer)>>,
    /// Batch-norm running statistics (`graph.buffers`).
    pub(crate) running: GpuBuffer,
    pub(crate) scratch: GpuBuffer,
    /// The Winograd convolutions' scratch (software adapters only; empty elsewhere).
    pub(crate) winograd: WinogradScratch,
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
/// One device buffer a graph needs: what it holds and its size in 4-byte elements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Need {
    pub what: String,
    pub floats: usize,
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

/// The floats of the weight-gradient scratch the largest convolution of a graph needs at batch `n`.
fn weight_scratch(graph: &Graph, n: usize) -> usize {
    graph
        .nodes
        .iter()
        .filter_map(|node| match &node.op {
            NodeOp::Conv2d { geom, .. } => Some(ops::conv2d_weight_scratch(geom, n)),
            _ => None,
        })
        .fold(1, usize::max)
}

/// The device buffers a graph needs at batch `n`, largest first.
pub fn needs(graph: &Graph, n: usize, optimizer: &OptimizerSpec, gemm: Gemm) -> Result<Vec<Need>> {
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
    let layout = Layout::new(graph);
    for (slot, &len) in layout.slot_len.iter().enumerate() {
        if len > 0 {
            for what in ["activation", "activation gradient"] {
                v.push(Need {
                    what: format!("{what} {slot}"),
                    floats: n * len,
                });
            }
        }
    }
    for s in Layout::state(graph, n) {
        let layer = &graph.nodes[s.node].layer;
        let (what, floats) = match s.kind {
            StateKind::Argmax => ("argmax", s.len),
            StateKind::Mask => ("mask", s.len),
            // Batch statistics and backward sums, a pair per channel each.
            StateKind::BatchStats => ("statistics", 4 * s.len),
        };
        v.push(Need {
            what: format!("{layer} {what}"),
            floats,
        });
    }
    let scratch = weight_scratch(graph, n);
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
            // A buffer that does not shrink with the batch (parameters, gradients, optimizer
            // state) cannot be fixed by a smaller batch.
            let at_one = self::needs(graph, 1, optimizer, gemm)?
                .into_iter()
                .find(|x| x.what == big.what)
                .map_or(bytes, |x| x.floats as u64 * 4);
            if at_one > max {
                return Err(Error::Gpu(format!(
                    "the model's {what} need a buffer of {bytes} bytes whatever the batch ({total} bytes in all at batch {n}); this GPU allows {max} bytes per buffer: train this model with --backend cpu",
                    what = big.what
                )));
            }
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
        let layout = Layout::new(&graph);
        let (mut acts, mut dacts) = (Vec::new(), Vec::new());
        for &len in &layout.slot_len {
            acts.push(GpuBuffer::zeros(ctx, "activation", n * len));
            dacts.push(GpuBuffer::zeros(ctx, "activation gradient", n * len));
        }
        let nodes = graph.nodes.len();
        let mut argmax: Vec<Option<GpuBuffer>> = (0..nodes).map(|_| None).collect();
        let mut masks: Vec<Option<GpuBuffer>> = (0..nodes).map(|_| None).collect();
        let mut bn: Vec<Option<(GpuBuffer, GpuBuffer)>> = (0..nodes).map(|_| None).collect();
        for s in Layout::state(&graph, n) {
            match s.kind {
                StateKind::Argmax => argmax[s.node] = Some(GpuBuffer::zeros(ctx, "argmax", s.len)),
                StateKind::Mask => {
                    masks[s.node] = Some(GpuBuffer::zeros(ctx, "dropout mask", s.len))
                }
                StateKind::BatchStats => {
                    bn[s.node] = Some((
                        GpuBuffer::zeros(ctx, "batch-norm statistics", 2 * s.len),
                        GpuBuffer::zeros(ctx, "batch-norm sums", 2 * s.len),
                    ))
                }
            }
        }
        let scratch = weight_scratch(&graph, n);
        let table: Vec<f32> = (0..256).map(|b| b as f32 / 255.0).collect();
        let adam = matches!(optimizer, OptimizerSpec::Adam { .. });
        Ok(Self {
            params: GpuBuffer::from_f32(ctx, "parameters", &model.params),
            grads: GpuBuffer::zeros(ctx, "gradients", graph.param_len),
            m: GpuBuffer::zeros(ctx, "optimizer m", graph.param_len),
            v: GpuBuffer::zeros(ctx, "optimizer v", if adam { graph.param_len } else { 1 }),
            layout,
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

    pub(crate) fn act(&self, v: usize) -> &GpuBuffer {
        &self.acts[self.layout.slot[v]]
    }

    pub(crate) fn dact(&self, v: usize) -> &GpuBuffer {
        &self.dacts[self.layout.slot[v]]
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
        let canvas = ops::canvas_place(
            ctx,
            self.act(0),
            &self.images,
            &self.offsets,
            &self.table,
            n,
            g.input[1],
        )?;
        let mut rec = Recorder::new(ctx, self);
        walk::forward(&mut rec, g, &self.layout, n, true)?;
        let (forward_train, dropouts) = rec.take();
        walk::forward(&mut rec, g, &self.layout, n, false)?;
        let (forward_eval, _) = rec.take();
        // Each head's loss: its probabilities and metrics, then its logits' gradient, weighted.
        let head = |value: usize, probs: &GpuBuffer, metrics: &GpuBuffer, weight: f32| {
            let (labels, classes) = (&self.labels, g.classes);
            let logits = self.act(value);
            let forward =
                ops::softmax_ce_forward(ctx, probs, metrics, logits, labels, n, classes, 0);
            let dlogits = self.dact(value);
            let backward =
                ops::softmax_ce_backward(ctx, dlogits, probs, labels, n, classes, weight);
            Ok::<_, Error>([forward?, backward?])
        };
        let mut loss = Vec::from(head(g.output, &self.probs, &self.metrics, 1.0)?);
        for (a, probs) in g.aux.iter().zip(&self.aux_probs) {
            loss.extend(head(a.value, probs, &self.aux_metrics, a.weight)?);
        }
        walk::backward(&mut rec, g, &self.layout, n)?;
        let (backward, _) = rec.take();
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

    /// Clears every gradient (parameters and activations) in `enc`.
    pub(crate) fn clear_grads(&self, enc: &mut wgpu::CommandEncoder) {
        enc.clear_buffer(&self.grads.buf, 0, None);
        for (d, &len) in self.dacts.iter().zip(&self.layout.slot_len) {
            if len > 0 {
                enc.clear_buffer(&d.buf, 0, None);
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
