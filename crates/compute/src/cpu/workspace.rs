//! A [`Workspace`] holds every slot's activation and gradient for one batch size, plus what
//! forward keeps for backward (max-pool winners, dropout masks, batch-norm statistics). It is
//! reused from step to step: its buffers are sized once per batch size.

use crate::backend::Tensor;
use crate::error::Result;
use crate::model::walk::{Layout, StateKind};
use crate::ops::batchnorm::ChannelStats;
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

    pub(super) fn slot(&mut self, t: Tensor) -> &mut Vec<f32> {
        match t {
            Tensor::Act(s) => &mut self.acts[s],
            Tensor::Grad(s) => &mut self.grads[s],
        }
    }

    /// Runs `f` with tensor `t` writable and the rest of the workspace readable (`t` itself
    /// reads as empty meanwhile, so an op that reads what it writes fails its shape check).
    pub(super) fn write<R>(
        &mut self,
        t: Tensor,
        f: impl FnOnce(&mut [f32], &Self) -> Result<R>,
    ) -> Result<R> {
        let mut out = std::mem::take(self.slot(t));
        let r = f(&mut out, self);
        *self.slot(t) = out;
        r
    }
}
