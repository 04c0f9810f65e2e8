//! The GPU [`Backend`]: each primitive becomes the compute dispatches of its launcher in
//! [`super::ops`], recorded against one [`GpuModel`]'s buffers. A model records the walker's
//! forward and backward once per batch size into a plan ([`super::model`]) and replays it every
//! step; a step changes only a few params (dropout keys, Adam's step, the metrics slot).

use super::GpuContext;
use super::buffer::GpuBuffer;
use super::model::GpuModel;
use super::ops::{self, AvgPool, Dispatch, Pass, Planar};
use crate::backend::{Backend, BatchNormAt, Param, Part, Tensor};
use crate::error::{Error, Result};
use crate::ops::adaptive_pool::AdaptivePoolGeom;
use crate::ops::batchnorm::BatchNormGeom;
use crate::ops::blur::BlurGeom;
use crate::ops::conv2d::Conv2dGeom;
use crate::ops::dense::DenseGeom;
use crate::ops::pad::PadGeom;
use crate::ops::pool::PoolGeom;

/// Records the dispatches of the primitives called on it, in call order.
pub(crate) struct Recorder<'a> {
    ctx: &'a GpuContext,
    m: &'a GpuModel,
    pub dispatches: Vec<Dispatch>,
    /// (index in `dispatches`, len, rate) of each training dropout, in call order: a step
    /// writes its keys there.
    pub dropouts: Vec<(usize, usize, f32)>,
}

/// A node's state buffers, or an error naming what is missing.
fn state<'b, T>(what: &'static str, b: &'b Option<T>) -> Result<&'b T> {
    b.as_ref()
        .ok_or_else(|| Error::Gpu(format!("no {what} buffer for this node")))
}

impl<'a> Recorder<'a> {
    pub fn new(ctx: &'a GpuContext, m: &'a GpuModel) -> Self {
        Recorder {
            ctx,
            m,
            dispatches: Vec::new(),
            dropouts: Vec::new(),
        }
    }

    /// The dispatches recorded so far and the dropouts among them; the recorder starts over.
    pub fn take(&mut self) -> (Vec<Dispatch>, Vec<(usize, usize, f32)>) {
        (
            std::mem::take(&mut self.dispatches),
            std::mem::take(&mut self.dropouts),
        )
    }

    fn t(&self, t: Tensor) -> &'a GpuBuffer {
        let m: &'a GpuModel = self.m;
        match t {
            Tensor::Act(s) => &m.acts[s],
            Tensor::Grad(s) => &m.dacts[s],
        }
    }

    /// Records a launcher's one dispatch.
    fn one(&mut self, d: Result<Dispatch>) -> Result<()> {
        self.dispatches.push(d?);
        Ok(())
    }

    /// Records a pass of a plane-to-plane op ([`ops::planar`]) from `src` into `dst`.
    fn planar<G: Planar>(
        &mut self,
        pass: Pass,
        dst: Tensor,
        src: Tensor,
        g: &G,
        n: usize,
    ) -> Result<()> {
        self.one(ops::planar(self.ctx, pass, self.t(dst), self.t(src), g, n))
    }

    /// Records a launcher's dispatches.
    fn many(&mut self, d: Result<impl IntoIterator<Item = Dispatch>>) -> Result<()> {
        self.dispatches.extend(d?);
        Ok(())
    }
}

impl Backend for Recorder<'_> {
    fn conv2d_forward(
        &mut self,
        out: Tensor,
        x: Tensor,
        w: Param,
        b: Option<Param>,
        g: &Conv2dGeom,
        n: usize,
        relu: bool,
    ) -> Result<()> {
        let m = self.m;
        let (o, x) = (self.t(out), self.t(x));
        let b = b.map(|b| b.offset);
        self.many(ops::conv2d_forward_auto(
            self.ctx,
            o,
            x,
            &m.params,
            &m.winograd,
            w.offset,
            b,
            g,
            n,
            relu,
        ))
    }

    fn conv2d_backward_weight(
        &mut self,
        w: Param,
        b: Option<Param>,
        dy: Tensor,
        x: Tensor,
        g: &Conv2dGeom,
        n: usize,
    ) -> Result<()> {
        let m = self.m;
        let (dyb, xb) = (self.t(dy), self.t(x));
        self.many(ops::conv2d_backward_weight_auto(
            self.ctx,
            &m.grads,
            &m.scratch,
            &m.winograd,
            dyb,
            xb,
            w.offset,
            g,
            n,
        ))?;
        match b {
            Some(b) => {
                let plane = g.h_out * g.w_out;
                self.one(ops::bias_backward(
                    self.ctx, &m.grads, dyb, b.offset, g.c_out, plane, n,
                ))
            }
            None => Ok(()),
        }
    }

    fn conv2d_backward_input(
        &mut self,
        dx: Tensor,
        dy: Tensor,
        w: Param,
        g: &Conv2dGeom,
        n: usize,
    ) -> Result<()> {
        let m = self.m;
        self.many(ops::conv2d_backward_input_auto(
            self.ctx,
            self.t(dx),
            self.t(dy),
            &m.params,
            &m.winograd,
            w.offset,
            g,
            n,
        ))
    }

    fn dense_forward(
        &mut self,
        out: Tensor,
        x: Tensor,
        w: Param,
        b: Option<Param>,
        g: &DenseGeom,
        n: usize,
        relu: bool,
    ) -> Result<()> {
        let b = b.map(|b| b.offset);
        let (o, xb) = (self.t(out), self.t(x));
        self.one(ops::dense_forward(
            self.ctx,
            o,
            xb,
            &self.m.params,
            w.offset,
            b,
            g,
            n,
            relu,
        ))
    }

    fn dense_backward_weight(
        &mut self,
        w: Param,
        b: Option<Param>,
        dy: Tensor,
        x: Tensor,
        g: &DenseGeom,
        n: usize,
    ) -> Result<()> {
        let m = self.m;
        let (dyb, xb) = (self.t(dy), self.t(x));
        self.one(ops::dense_backward_weight(
            self.ctx, &m.grads, dyb, xb, w.offset, g, n,
        ))?;
        match b {
            Some(b) => self.one(ops::bias_backward(
                self.ctx, &m.grads, dyb, b.offset, g.outputs, 1, n,
            )),
            None => Ok(()),
        }
    }

    fn dense_backward_input(
        &mut self,
        dx: Tensor,
        dy: Tensor,
        w: Param,
        g: &DenseGeom,
        n: usize,
    ) -> Result<()> {
        let (dxb, dyb) = (self.t(dx), self.t(dy));
        self.one(ops::dense_backward_input(
            self.ctx,
            dxb,
            dyb,
            &self.m.params,
            w.offset,
            g,
            n,
        ))
    }

    fn relu_mask(&mut self, dy: Tensor, y: Tensor, len: usize) -> Result<()> {
        self.one(ops::relu_mask(self.ctx, self.t(dy), self.t(y), len))
    }

    fn relu_forward(&mut self, out: Tensor, x: Tensor, len: usize) -> Result<()> {
        self.one(ops::relu_forward(self.ctx, self.t(out), self.t(x), len))
    }

    fn relu_backward(&mut self, dx: Tensor, dy: Tensor, y: Tensor, len: usize) -> Result<()> {
        self.one(ops::relu_backward(
            self.ctx,
            self.t(dx),
            self.t(dy),
            self.t(y),
            len,
        ))
    }

    fn relu6_forward(&mut self, out: Tensor, x: Tensor, len: usize) -> Result<()> {
        self.one(ops::relu6_forward(self.ctx, self.t(out), self.t(x), len))
    }

    fn relu6_backward(&mut self, dx: Tensor, dy: Tensor, y: Tensor, len: usize) -> Result<()> {
        self.one(ops::relu6_backward(
            self.ctx,
            self.t(dx),
            self.t(dy),
            self.t(y),
            len,
        ))
    }

    fn add_forward(&mut self, out: Tensor, a: Tensor, b: Tensor, len: usize) -> Result<()> {
        self.one(ops::add_forward(
            self.ctx,
            self.t(out),
            self.t(a),
            self.t(b),
            len,
        ))
    }

    fn add_backward(&mut self, dx: Tensor, dy: Tensor, len: usize) -> Result<()> {
        self.one(ops::add_backward(self.ctx, self.t(dx), self.t(dy), len))
    }

    fn dropout_forward(
        &mut self,
        out: Tensor,
        node: usize,
        x: Tensor,
        len: usize,
        _n: usize,
        rate: Option<f32>,
    ) -> Result<()> {
        let mask = state("dropout mask", &self.m.masks[node])?;
        // Evaluation runs the same kernel with nothing dropped; training's key is set per step.
        let d = ops::dropout_forward(
            self.ctx,
            self.t(out),
            mask,
            self.t(x),
            len,
            rate.unwrap_or(0.0),
            0,
        )?;
        if let Some(rate) = rate {
            self.dropouts.push((self.dispatches.len(), len, rate));
        }
        self.dispatches.push(d);
        Ok(())
    }

    fn dropout_backward(&mut self, dx: Tensor, dy: Tensor, node: usize, len: usize) -> Result<()> {
        let mask = state("dropout mask", &self.m.masks[node])?;
        self.one(ops::dropout_backward(
            self.ctx,
            self.t(dx),
            self.t(dy),
            mask,
            len,
        ))
    }

    fn concat_forward(
        &mut self,
        out: Tensor,
        parts: &[Part],
        n: usize,
        total: usize,
    ) -> Result<()> {
        let mut at = 0;
        for p in parts {
            let (o, part) = (self.t(out), self.t(p.tensor));
            self.one(ops::concat_forward(self.ctx, o, part, n, p.len, total, at))?;
            at += p.len;
        }
        Ok(())
    }

    fn concat_backward(
        &mut self,
        parts: &[Part],
        dy: Tensor,
        n: usize,
        total: usize,
    ) -> Result<()> {
        let mut at = 0;
        for p in parts {
            let (part, d) = (self.t(p.tensor), self.t(dy));
            self.one(ops::concat_backward(self.ctx, part, d, n, p.len, total, at))?;
            at += p.len;
        }
        Ok(())
    }

    fn pad_forward(&mut self, out: Tensor, x: Tensor, g: &PadGeom, n: usize) -> Result<()> {
        self.planar(Pass::Forward, out, x, g, n)
    }

    fn pad_backward(&mut self, dx: Tensor, dy: Tensor, g: &PadGeom, n: usize) -> Result<()> {
        self.planar(Pass::Backward, dx, dy, g, n)
    }

    fn blur_forward(&mut self, out: Tensor, x: Tensor, g: &BlurGeom, n: usize) -> Result<()> {
        self.planar(Pass::Forward, out, x, g, n)
    }

    fn blur_backward(&mut self, dx: Tensor, dy: Tensor, g: &BlurGeom, n: usize) -> Result<()> {
        self.planar(Pass::Backward, dx, dy, g, n)
    }

    fn max_pool_forward(
        &mut self,
        out: Tensor,
        node: usize,
        x: Tensor,
        g: &PoolGeom,
        n: usize,
    ) -> Result<()> {
        let am = state("max-pool argmax", &self.m.argmax[node])?;
        self.one(ops::max_pool_forward(
            self.ctx,
            self.t(out),
            am,
            self.t(x),
            g,
            n,
        ))
    }

    fn max_pool_backward(
        &mut self,
        dx: Tensor,
        dy: Tensor,
        _y: Tensor,
        node: usize,
        g: &PoolGeom,
        n: usize,
    ) -> Result<()> {
        let am = state("max-pool argmax", &self.m.argmax[node])?;
        self.one(ops::max_pool_backward(
            self.ctx,
            self.t(dx),
            self.t(dy),
            am,
            g,
            n,
        ))
    }

    fn avg_pool_forward(&mut self, out: Tensor, x: Tensor, g: &PoolGeom, n: usize) -> Result<()> {
        self.planar(Pass::Forward, out, x, &AvgPool(g), n)
    }

    fn avg_pool_backward(&mut self, dx: Tensor, dy: Tensor, g: &PoolGeom, n: usize) -> Result<()> {
        self.planar(Pass::Backward, dx, dy, &AvgPool(g), n)
    }

    fn adaptive_avg_pool_forward(
        &mut self,
        out: Tensor,
        x: Tensor,
        g: &AdaptivePoolGeom,
        n: usize,
    ) -> Result<()> {
        self.planar(Pass::Forward, out, x, g, n)
    }

    fn adaptive_avg_pool_backward(
        &mut self,
        dx: Tensor,
        dy: Tensor,
        g: &AdaptivePoolGeom,
        n: usize,
    ) -> Result<()> {
        self.planar(Pass::Backward, dx, dy, g, n)
    }

    fn gap_forward(&mut self, out: Tensor, x: Tensor, len: usize, plane: usize) -> Result<()> {
        self.one(ops::gap_forward(
            self.ctx,
            self.t(out),
            self.t(x),
            len,
            plane,
        ))
    }

    fn gap_backward(&mut self, dx: Tensor, dy: Tensor, len: usize, plane: usize) -> Result<()> {
        self.one(ops::gap_backward(
            self.ctx,
            self.t(dx),
            self.t(dy),
            len,
            plane,
        ))
    }

    fn batchnorm_forward(
        &mut self,
        out: Tensor,
        node: usize,
        x: Tensor,
        at: BatchNormAt,
        g: &BatchNormGeom,
        n: usize,
        train: bool,
    ) -> Result<()> {
        let m = self.m;
        let (stats, _) = state("batch-norm statistics", &m.bn[node])?;
        let (o, xb) = (self.t(out), self.t(x));
        if train {
            self.many(ops::batchnorm_forward_train(
                self.ctx, o, stats, &m.running, xb, &m.params, at, g, n,
            ))
        } else {
            self.one(ops::batchnorm_forward_eval(
                self.ctx, o, stats, &m.running, xb, &m.params, at, g, n,
            ))
        }
    }

    fn batchnorm_backward(
        &mut self,
        dx: Tensor,
        node: usize,
        dy: Tensor,
        x: Tensor,
        at: BatchNormAt,
        g: &BatchNormGeom,
        n: usize,
    ) -> Result<()> {
        let m = self.m;
        let (stats, sums) = state("batch-norm statistics", &m.bn[node])?;
        self.many(ops::batchnorm_backward(
            self.ctx,
            self.t(dx),
            &m.grads,
            sums,
            self.t(dy),
            self.t(x),
            &m.params,
            stats,
            at,
            g,
            n,
        ))
    }
}
