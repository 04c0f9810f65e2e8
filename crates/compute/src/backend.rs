//! The interface between a compiled graph and the hardware that runs it.
//!
//! [`Backend`] lists the primitives a network is made of, each forward and backward pass once.
//! The graph walker ([`crate::model::walk`]) is written once over it: it decides which buffers a
//! graph needs, which primitive runs for each node and in what order, and which tensors each
//! reads and writes. A backend only carries out one primitive at a time:
//!
//! - the CPU backend ([`crate::cpu::backend`]) executes each call at once on host memory;
//! - the GPU backend (`crate::gpu::backend`) records each call as compute dispatches into a
//!   plan that is built once per batch size and replayed every step.
//!
//! Tensors are named, not passed: a [`Tensor`] is an activation or gradient slot of the
//! walker's [`crate::model::walk::Layout`], per-node state (max-pool winners, dropout masks,
//! batch-norm statistics) is named by its node, and weights are [`Param`] views into the one
//! flat parameter buffer (their gradients sit at the same place in the gradient buffer). Each
//! backend resolves these names to its own storage.

use std::future::Future;
use std::ops::Range;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use crate::error::{Error, Result};
use crate::ops::adaptive_pool::AdaptivePoolGeom;
use crate::ops::batchnorm::BatchNormGeom;
use crate::ops::blur::BlurGeom;
use crate::ops::conv2d::Conv2dGeom;
use crate::ops::dense::DenseGeom;
use crate::ops::pad::PadGeom;
use crate::ops::pool::PoolGeom;

/// A batch tensor of the walker's layout: the activation or the gradient of one slot (values
/// that share storage, such as flatten's output and its input, share a slot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tensor {
    Act(usize),
    Grad(usize),
}

/// A parameter tensor: `len` floats from `offset` in the flat parameter buffer (and, for its
/// gradient, in the flat gradient buffer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param {
    pub offset: usize,
    pub len: usize,
}

impl Param {
    pub fn range(&self) -> Range<usize> {
        self.offset..self.offset + self.len
    }
}

/// Where a batch-norm layer's vectors live: γ and β in the parameter (and gradient) buffer, the
/// running mean and variance in the statistics buffer (element offsets, `geom.c` each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchNormAt {
    pub gamma: usize,
    pub beta: usize,
    pub mean: usize,
    pub var: usize,
}

/// One input of a concatenation: its tensor and its per-image length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part {
    pub tensor: Tensor,
    pub len: usize,
}

/// The primitives of forward and backward. `n` is the batch size and `len` a tensor's length
/// for the whole batch. Forward passes overwrite their output; backward passes add into the
/// gradients they write (`dx += …`, `dw += …`), so that a value read by several nodes gathers
/// every contribution (the CPU writes a value's first contribution over its unzeroed buffer,
/// which gives the same sum). Every method checks its shapes and returns an error, never panics.
#[allow(clippy::too_many_arguments)]
pub trait Backend {
    /// Called by the walker before a node's backward passes read its output gradient `dy`, once
    /// every contribution to `dy` has been added. A backend that zeroes gradients lazily (the
    /// CPU: each one's first writer writes over it) zeroes `dy` here if nothing wrote it.
    fn settle(&mut self, _dy: Tensor) -> Result<()> {
        Ok(())
    }

    // ---- convolution and dense (implicit GEMM) ----
    /// out = conv(x, w) + b, then ReLU when `relu`.
    fn conv2d_forward(
        &mut self,
        out: Tensor,
        x: Tensor,
        w: Param,
        b: Option<Param>,
        g: &Conv2dGeom,
        n: usize,
        relu: bool,
    ) -> Result<()>;
    /// dw += ∂L/∂w and db += ∂L/∂b (at `w`'s and `b`'s places in the gradient buffer).
    fn conv2d_backward_weight(
        &mut self,
        w: Param,
        b: Option<Param>,
        dy: Tensor,
        x: Tensor,
        g: &Conv2dGeom,
        n: usize,
    ) -> Result<()>;
    /// dx += convᵀ(dy, w).
    fn conv2d_backward_input(
        &mut self,
        dx: Tensor,
        dy: Tensor,
        w: Param,
        g: &Conv2dGeom,
        n: usize,
    ) -> Result<()>;
    /// out = x·wᵀ + b, then ReLU when `relu`.
    fn dense_forward(
        &mut self,
        out: Tensor,
        x: Tensor,
        w: Param,
        b: Option<Param>,
        g: &DenseGeom,
        n: usize,
        relu: bool,
    ) -> Result<()>;
    fn dense_backward_weight(
        &mut self,
        w: Param,
        b: Option<Param>,
        dy: Tensor,
        x: Tensor,
        g: &DenseGeom,
        n: usize,
    ) -> Result<()>;
    fn dense_backward_input(
        &mut self,
        dx: Tensor,
        dy: Tensor,
        w: Param,
        g: &DenseGeom,
        n: usize,
    ) -> Result<()>;

    // ---- point-wise ----
    /// dy = 0 where y ≤ 0: the backward of a ReLU fused into the layer that made y.
    fn relu_mask(&mut self, dy: Tensor, y: Tensor, len: usize) -> Result<()>;
    fn relu_forward(&mut self, out: Tensor, x: Tensor, len: usize) -> Result<()>;
    /// dx += dy where y > 0.
    fn relu_backward(&mut self, dx: Tensor, dy: Tensor, y: Tensor, len: usize) -> Result<()>;
    /// out = min(max(x, 0), 6).
    fn relu6_forward(&mut self, out: Tensor, x: Tensor, len: usize) -> Result<()>;
    /// dx += dy where 0 < y < 6.
    fn relu6_backward(&mut self, dx: Tensor, dy: Tensor, y: Tensor, len: usize) -> Result<()>;
    /// out = a + b.
    fn add_forward(&mut self, out: Tensor, a: Tensor, b: Tensor, len: usize) -> Result<()>;
    /// dx += dy.
    fn add_backward(&mut self, dx: Tensor, dy: Tensor, len: usize) -> Result<()>;
    /// Training (`rate` given): a fresh mask in `node`'s state, out = x ⊙ mask. Evaluation
    /// (`None`): out = x.
    fn dropout_forward(
        &mut self,
        out: Tensor,
        node: usize,
        x: Tensor,
        len: usize,
        n: usize,
        rate: Option<f32>,
    ) -> Result<()>;
    /// dx += dy ⊙ mask of `node`'s last training forward.
    fn dropout_backward(&mut self, dx: Tensor, dy: Tensor, node: usize, len: usize) -> Result<()>;
    /// out = the parts side by side per image (each part `len` floats per image, `total` in all).
    fn concat_forward(&mut self, out: Tensor, parts: &[Part], n: usize, total: usize)
    -> Result<()>;
    /// Each part's gradient += its slice of dy.
    fn concat_backward(&mut self, parts: &[Part], dy: Tensor, n: usize, total: usize)
    -> Result<()>;
    fn pad_forward(&mut self, out: Tensor, x: Tensor, g: &PadGeom, n: usize) -> Result<()>;
    fn pad_backward(&mut self, dx: Tensor, dy: Tensor, g: &PadGeom, n: usize) -> Result<()>;
    fn blur_forward(&mut self, out: Tensor, x: Tensor, g: &BlurGeom, n: usize) -> Result<()>;
    fn blur_backward(&mut self, dx: Tensor, dy: Tensor, g: &BlurGeom, n: usize) -> Result<()>;

    // ---- pooling ----
    /// Max pooling; the winners go to `node`'s state for backward.
    fn max_pool_forward(
        &mut self,
        out: Tensor,
        node: usize,
        x: Tensor,
        g: &PoolGeom,
        n: usize,
    ) -> Result<()>;
    /// `y` is the pool's output (the CPU routes the gradient through a ReLU before the pool
    /// with it).
    fn max_pool_backward(
        &mut self,
        dx: Tensor,
        dy: Tensor,
        y: Tensor,
        node: usize,
        g: &PoolGeom,
        n: usize,
    ) -> Result<()>;
    fn avg_pool_forward(&mut self, out: Tensor, x: Tensor, g: &PoolGeom, n: usize) -> Result<()>;
    fn avg_pool_backward(&mut self, dx: Tensor, dy: Tensor, g: &PoolGeom, n: usize) -> Result<()>;
    /// Global average pooling: each of the `len` outputs is the mean of a `plane` of x.
    fn gap_forward(&mut self, out: Tensor, x: Tensor, len: usize, plane: usize) -> Result<()>;
    fn gap_backward(&mut self, dx: Tensor, dy: Tensor, len: usize, plane: usize) -> Result<()>;
    /// Adaptive average pooling: each output cell the mean of its bin of x.
    fn adaptive_avg_pool_forward(
        &mut self,
        out: Tensor,
        x: Tensor,
        g: &AdaptivePoolGeom,
        n: usize,
    ) -> Result<()>;
    fn adaptive_avg_pool_backward(
        &mut self,
        dx: Tensor,
        dy: Tensor,
        g: &AdaptivePoolGeom,
        n: usize,
    ) -> Result<()>;

    // ---- normalisation ----
    /// Training (`train`): batch statistics into `node`'s state and the running statistics
    /// updated; evaluation: the running statistics. Then out = γ·x̂ + β.
    fn batchnorm_forward(
        &mut self,
        out: Tensor,
        node: usize,
        x: Tensor,
        at: BatchNormAt,
        g: &BatchNormGeom,
        n: usize,
        train: bool,
    ) -> Result<()>;
    /// dx += ∂L/∂x, dγ += Σ dy·x̂, dβ += Σ dy, from `node`'s last training forward.
    fn batchnorm_backward(
        &mut self,
        dx: Tensor,
        node: usize,
        dy: Tensor,
        x: Tensor,
        at: BatchNormAt,
        g: &BatchNormGeom,
        n: usize,
    ) -> Result<()>;
}

/// The output of a future that completes without waiting, as code written once for both
/// backends does on the CPU (its [`crate::train::Infer`] never waits): an error if it would wait.
pub fn now<F: Future>(f: F) -> Result<F::Output> {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => Ok(out),
        Poll::Pending => Err(Error::InvalidTrainSpec(
            "work that must complete at once waited (a GPU future driven as a CPU one)".into(),
        )),
    }
}
