//! A [`Workspace`] holds every slot's activation and gradient for one batch size, plus what
//! forward keeps for backward (max-pool winners, dropout masks, batch-norm statistics). It is
//! reused from step to step: its buffers are sized once per batch size.

use crate::backend::Tensor;
use crate::error::Result;
use crate::model::walk::{Layout, StateKind};
use crate::ops::GradWrite;
use crate::ops::batchnorm::ChannelStats;
use crate::par;
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
    pub(super) n: usize,
    pub(super) layout: Layout,
    pub(super) output: usize,
    pub(super) acts: Vec<Vec<f32>>,
    pub(super) grads: Vec<Vec<f32>>,
    /// Per gradient slot: true while no pass has written it in this backward, so that it still
    /// holds what the last backward left there (see [`Workspace::write_grad`]).
    pub(super) stale: Vec<bool>,
    pub(super) argmax: Vec<Vec<u32>>,
    pub(super) masks: Vec<Vec<f32>>,
    pub(super) stats: Vec<Vec<ChannelStats>>,
    pub(super) trained: bool,
}

impl Workspace {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sizes every buffer for `n` images of `g`, as the walker's layout plans them.
    pub(super) fn prepare(&mut self, g: &crate::model::Graph, n: usize) {
        self.layout.plan(g);
        let slots = self.layout.slot_len.len();
        self.acts.resize_with(slots, Vec::new);
        for (a, len) in self.acts.iter_mut().zip(&self.layout.slot_len) {
            a.resize(n * len, 0.0);
        }
        self.argmax.resize_with(g.nodes.len(), Vec::new);
        self.masks.resize_with(g.nodes.len(), Vec::new);
        self.stats.resize_with(g.nodes.len(), Vec::new);
        for s in Layout::state(g, n) {
            match s.kind {
                StateKind::Argmax => self.argmax[s.node].resize(s.len, 0),
                StateKind::Mask => self.masks[s.node].resize(s.len, 0.0),
                StateKind::BatchStats => self.stats[s.node].resize(s.len, ChannelStats::default()),
            }
        }
        self.n = n;
        self.output = g.output;
    }

    /// The logits `[n, classes]` of the last forward.
    pub fn logits(&self) -> &[f32] {
        self.value(self.output)
    }

    /// The activation of value `v` (value 0 is the input) from the last forward.
    pub fn value(&self, v: usize) -> &[f32] {
        &self.acts[self.layout.slot[v]]
    }

    pub fn batch(&self) -> usize {
        self.n
    }

    pub(super) fn get(&self, t: Tensor) -> &[f32] {
        match t {
            Tensor::Act(s) => &self.acts[s],
            Tensor::Grad(s) => &self.grads[s],
        }
    }

    /// Tensor `t`'s buffer, to add into or write over: a gradient still stale in this backward
    /// is zeroed first.
    pub(super) fn slot(&mut self, t: Tensor) -> &mut Vec<f32> {
        self.settle(t);
        self.buffer(t)
    }

    fn buffer(&mut self, t: Tensor) -> &mut Vec<f32> {
        match t {
            Tensor::Act(s) => &mut self.acts[s],
            Tensor::Grad(s) => &mut self.grads[s],
        }
    }

    /// Zeroes gradient `t` if no pass has written it in this backward, so that it reads as the
    /// sum of no contributions.
    pub(super) fn settle(&mut self, t: Tensor) {
        if let (true, Tensor::Grad(s)) = (self.take_stale(t), t) {
            par::for_each_span_mut(&mut self.grads[s], |_, d| d.fill(0.0));
        }
    }

    /// Whether `t` is a gradient no pass has written in this backward.
    pub(super) fn is_stale(&self, t: Tensor) -> bool {
        matches!(t, Tensor::Grad(s) if self.stale.get(s) == Some(&true))
    }

    /// Whether `t` is a stale gradient, which it no longer is once written.
    fn take_stale(&mut self, t: Tensor) -> bool {
        match t {
            Tensor::Grad(s) => self.stale.get_mut(s).is_some_and(std::mem::take),
            Tensor::Act(_) => false,
        }
    }

    /// Runs `f` with tensor `t` writable and the rest of the workspace readable (`t` itself
    /// reads as empty meanwhile, so an op that reads what it writes fails its shape check).
    pub(super) fn write<R>(
        &mut self,
        t: Tensor,
        f: impl FnOnce(&mut [f32], &Self) -> Result<R>,
    ) -> Result<R> {
        self.settle(t);
        self.write_grad(t, |d, _, ws| f(d, ws))
    }

    /// [`Workspace::write`] for a backward pass that adds into gradient `t` and can instead write
    /// over it: `f` is told which ([`GradWrite::Overwrite`] while `t` is stale, the first
    /// contribution to it in this backward).
    pub(super) fn write_grad<R>(
        &mut self,
        t: Tensor,
        f: impl FnOnce(&mut [f32], GradWrite, &Self) -> Result<R>,
    ) -> Result<R> {
        let write = if self.take_stale(t) {
            GradWrite::Overwrite
        } else {
            GradWrite::Add
        };
        let mut out = std::mem::take(self.buffer(t));
        let r = f(&mut out, write, self);
        *self.buffer(t) = out;
        r
    }
}
