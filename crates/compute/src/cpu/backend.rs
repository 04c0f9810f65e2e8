//! The CPU [`Backend`]: each primitive runs at once on host memory, through the CPU ops of
//! [`crate::ops`] (SIMD and multi-threaded where they are), on a [`Workspace`]; and the model's
//! forward and backward, which run the graph walker on it.

use std::ops::Range;

use crate::backend::{Backend, BatchNormAt, Param, Part, Tensor};
use crate::cpu::profile::{self, Family};
use crate::cpu::workspace::{Mode, Workspace};
use crate::cpu::{conv_thin, elementwise};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::model::walk;
use crate::ops::adaptive_pool::{self, AdaptivePoolGeom};
use crate::ops::batchnorm::{self, BatchNormGeom};
use crate::ops::blur::{self, BlurGeom};
use crate::ops::conv2d::{self, Conv2dGeom};
use crate::ops::dense::{self, DenseGeom};
use crate::ops::pad::{self, PadGeom};
use crate::ops::pool::{self, PoolGeom, PoolRoute};
use crate::ops::{add, concat, dropout, gap, relu, same_len};
use crate::rng::Rng;

/// Mutable views of two disjoint ranges of one buffer.
fn two_mut(buf: &mut [f32], a: Range<usize>, b: Range<usize>) -> (&mut [f32], &mut [f32]) {
    if a.start <= b.start {
        let (lo, hi) = buf.split_at_mut(b.start);
        (&mut lo[a], &mut hi[..b.len()])
    } else {
        let (b, a) = two_mut(buf, b, a);
        (a, b)
    }
}

/// The CPU backend over one model's buffers and a workspace, for one forward or backward.
pub struct CpuBackend<'a> {
    params: &'a [f32],
    grads: &'a mut [f32],
    running: &'a mut [f32],
    ws: &'a mut Workspace,
    /// The dropout generator and the shard's first image, in training.
    dropout: Option<(&'a mut Rng, usize)>,
    /// A call left to be fused into the next one.
    pending: Option<Pending>,
}

/// A call the CPU backend leaves pending, to carry out inside the next call when that is the
/// one it fuses with, or on its own before any other call ([`CpuBackend::flush`]).
#[derive(Clone, Copy)]
enum Pending {
    /// A fused ReLU's backward mask, dy = 0 where y ≤ 0 ([`Backend::relu_mask`]): fused into
    /// the layer's weight gradient.
    Mask { dy: Tensor, y: Tensor },
    /// A convolution ([`Backend::conv2d_forward`]): fused with a max pool of its output.
    Conv(ConvCall),
    /// A max pool's backward into a gradient no other pass has written yet
    /// ([`Backend::max_pool_backward`]): if a ReLU's mask and then the weight gradient of the
    /// convolution that feeds the pool follow, all three run a few images at a time
    /// ([`conv2d::conv2d_backward_weight_pooled_relu`]).
    Pool(PoolCall),
    /// [`Pending::Pool`] followed by the ReLU mask `(dy = pool.dx, y)`.
    PoolMask(PoolCall, Tensor),
}

/// The arguments of a [`Backend::max_pool_backward`] call.
#[derive(Clone, Copy)]
struct PoolCall {
    dx: Tensor,
    dy: Tensor,
    y: Tensor,
    node: usize,
    g: PoolGeom,
    n: usize,
}

impl PoolCall {
    /// What the pool's backward reads, for a weight gradient that routes it as it goes.
    fn route<'a>(&'a self, ws: &'a Workspace) -> PoolRoute<'a> {
        PoolRoute {
            dy: ws.get(self.dy),
            pooled: ws.get(self.y),
            argmax: &ws.argmax[self.node],
            g: &self.g,
        }
    }
}

/// The arguments of a [`Backend::conv2d_forward`] call.
#[derive(Clone, Copy)]
struct ConvCall {
    out: Tensor,
    x: Tensor,
    w: Param,
    b: Option<Param>,
    g: Conv2dGeom,
    n: usize,
    relu: bool,
}

/// Weight and optional bias gradient views.
fn grad_pair(grads: &mut [f32], w: Param, b: Option<Param>) -> (&mut [f32], Option<&mut [f32]>) {
    match b {
        Some(b) => {
            let (dw, db) = two_mut(grads, w.range(), b.range());
            (dw, Some(db))
        }
        None => (&mut grads[w.range()], None),
    }
}

impl<'a> CpuBackend<'a> {
    /// The start of every primitive but the ones that leave a call pending: carries out a
    /// pending call, then times this call as `family` (after the pending one, which is timed as
    /// a call of its own: no call is timed inside another).
    fn begin(&mut self, family: Family) -> Result<profile::Call> {
        self.flush()?;
        Ok(profile::call(family))
    }

    /// Carries out a pending call on its own.
    fn flush(&mut self) -> Result<()> {
        match self.pending.take() {
            None => Ok(()),
            Some(Pending::Mask { dy, y }) => {
                let _p = profile::call(Family::Elementwise);
                self.ws.write(dy, |d, ws| relu::relu_mask(d, ws.get(y)))
            }
            Some(Pending::Pool(p)) => self.max_pool_backward_now(p),
            Some(Pending::PoolMask(p, y)) => {
                self.max_pool_backward_now(p)?;
                self.pending = Some(Pending::Mask { dy: p.dx, y });
                self.flush()
            }
            Some(Pending::Conv(c)) => {
                let _p = profile::call(Family::Gemm);
                let (wv, bv) = self.weights(c.w, c.b)?;
                self.ws.write(c.out, |o, ws| {
                    conv2d::conv2d_forward_act(o, ws.get(c.x), wv, bv, &c.g, c.n, c.relu)
                })
            }
        }
    }

    /// [`Backend::max_pool_backward`] on its own.
    fn max_pool_backward_now(&mut self, p: PoolCall) -> Result<()> {
        let _p = profile::call(Family::Pooling);
        self.ws.write_grad(p.dx, |d, write, ws| {
            let am = &ws.argmax[p.node];
            pool::max_pool_backward(d, ws.get(p.dy), am, &p.g, p.n, write)
        })
    }

    /// The pending convolution `c` and the max pool of its output (into `out`, winners into
    /// `argmax`), image by image.
    fn conv_max_pool(
        &mut self,
        c: ConvCall,
        out: Tensor,
        argmax: &mut [u32],
        g: &PoolGeom,
    ) -> Result<()> {
        let (wv, bv) = self.weights(c.w, c.b)?;
        let mut conv = std::mem::take(self.ws.slot(c.out));
        let r = self.ws.write(out, |o, ws| {
            let xv = ws.get(c.x);
            conv2d::conv2d_forward_max_pool(&mut conv, o, argmax, xv, wv, bv, &c.g, c.n, c.relu, g)
        });
        *self.ws.slot(c.out) = conv;
        r
    }

    /// The pending max pool's backward, if it writes `t`.
    fn pending_pool_into(&self, t: Tensor) -> Option<PoolCall> {
        match self.pending {
            Some(Pending::Pool(p) | Pending::PoolMask(p, _)) if p.dx == t => Some(p),
            _ => None,
        }
    }

    /// A layer's weights and optional bias.
    fn weights(&self, w: Param, b: Option<Param>) -> Result<(&'a [f32], Option<&'a [f32]>)> {
        Ok((self.p(w)?, b.map(|b| self.p(b)).transpose()?))
    }

    /// A parameter's values (borrowed from the model, not from the backend).
    fn p(&self, w: Param) -> Result<&'a [f32]> {
        let params: &'a [f32] = self.params;
        params.get(w.range()).ok_or_else(|| Error::ShapeMismatch {
            op: "parameter",
            expected: format!("{}..{}", w.offset, w.offset + w.len),
            got: format!("{} parameters", self.params.len()),
        })
    }
}

impl Backend for CpuBackend<'_> {
    fn settle(&mut self, dy: Tensor) -> Result<()> {
        // A pending max pool's backward will write `dy`: it stays pending.
        if self.pending_pool_into(dy).is_none() {
            self.flush()?;
            self.ws.settle(dy);
        }
        Ok(())
    }

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
        // Left pending: if the walker's next call max-pools `out`, both run image by image
        // ([`conv2d::conv2d_forward_max_pool`]); any other call carries it out first.
        self.flush()?;
        self.pending = Some(Pending::Conv(ConvCall {
            out,
            x,
            w,
            b,
            g: *g,
            n,
            relu,
        }));
        Ok(())
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
        // Fused only while `dy` is still unwritten: the fused pass writes all of it.
        if let Some(Pending::PoolMask(p, _)) = self.pending
            && p.dx == dy
            && self.ws.is_stale(dy)
        {
            self.pending = None;
            let _p = profile::call(Family::Gemm);
            let (dw, db) = grad_pair(self.grads, w, b);
            // The image's activation (`Layout`: value 0, slot 0) gets no gradient, so no input
            // gradient will read `dy`: a thin first layer need not write it at all.
            if x == Tensor::Act(0) && conv_thin::applies(g) {
                let ws = &*self.ws;
                return conv2d::conv2d_backward_weight_routed(dw, db, p.route(ws), ws.get(x), g, n);
            }
            return self.ws.write_grad(dy, |d, _, ws| {
                conv2d::conv2d_backward_weight_pooled_relu(dw, db, d, p.route(ws), ws.get(x), g, n)
            });
        }
        if let Some(Pending::Mask { dy: masked, y }) = self.pending
            && masked == dy
        {
            self.pending = None;
            let _p = profile::call(Family::Gemm);
            let (dw, db) = grad_pair(self.grads, w, b);
            return self.ws.write(masked, |d, ws| {
                conv2d::conv2d_backward_weight_relu(dw, db, d, ws.get(y), ws.get(x), g, n)
            });
        }
        let _p = self.begin(Family::Gemm)?;
        let ws = &*self.ws;
        let (dyv, xv) = (ws.get(dy), ws.get(x));
        let (dw, db) = grad_pair(self.grads, w, b);
        conv2d::conv2d_backward_weight(dw, db, dyv, xv, g, n)
    }

    fn conv2d_backward_input(
        &mut self,
        dx: Tensor,
        dy: Tensor,
        w: Param,
        g: &Conv2dGeom,
        n: usize,
    ) -> Result<()> {
        let _p = self.begin(Family::Gemm)?;
        let wv = self.p(w)?;
        self.ws.write_grad(dx, |d, write, ws| {
            conv2d::conv2d_backward_input(d, ws.get(dy), wv, g, n, write)
        })
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
        let _p = self.begin(Family::Gemm)?;
        let (wv, bv) = self.weights(w, b)?;
        self.ws.write(out, |o, ws| {
            dense::dense_forward(o, ws.get(x), wv, bv, g, n)?;
            if relu {
                let _l = profile::leaf(Family::Elementwise);
                elementwise::relu_forward_inplace(o);
            }
            Ok(())
        })
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
        let _p = self.begin(Family::Gemm)?;
        let ws = &*self.ws;
        let (dyv, xv) = (ws.get(dy), ws.get(x));
        let (dw, db) = grad_pair(self.grads, w, b);
        dense::dense_backward_weight(dw, db, dyv, xv, g, n)
    }

    fn dense_backward_input(
        &mut self,
        dx: Tensor,
        dy: Tensor,
        w: Param,
        g: &DenseGeom,
        n: usize,
    ) -> Result<()> {
        let _p = self.begin(Family::Gemm)?;
        let wv = self.p(w)?;
        self.ws.write_grad(dx, |d, write, ws| {
            dense::dense_backward_input(d, ws.get(dy), wv, g, n, write)
        })
    }

    /// Left pending: the walker's next call is the layer's weight gradient on the same `dy`,
    /// which masks each image just before it reads it ([`conv2d::conv2d_backward_weight_relu`]),
    /// or, after a pending max pool's backward into `dy`, writes it from the pool's gradient
    /// ([`Pending::PoolMask`]). Any other call carries it out first ([`CpuBackend::flush`]).
    fn relu_mask(&mut self, dy: Tensor, y: Tensor, len: usize) -> Result<()> {
        same_len("relu_mask", len, self.ws.get(dy).len())?;
        same_len("relu_mask", len, self.ws.get(y).len())?;
        if let Some(p) = self.pending_pool_into(dy) {
            self.pending = Some(Pending::PoolMask(p, y));
            return Ok(());
        }
        self.flush()?;
        self.pending = Some(Pending::Mask { dy, y });
        Ok(())
    }

    fn relu_forward(&mut self, out: Tensor, x: Tensor, _len: usize) -> Result<()> {
        let _p = self.begin(Family::Elementwise)?;
        self.ws.write(out, |o, ws| relu::relu_forward(o, ws.get(x)))
    }

    fn relu_backward(&mut self, dx: Tensor, dy: Tensor, y: Tensor, _len: usize) -> Result<()> {
        let _p = self.begin(Family::Elementwise)?;
        self.ws.write_grad(dx, |d, write, ws| {
            relu::relu_backward(d, ws.get(dy), ws.get(y), write)
        })
    }

    fn relu6_forward(&mut self, out: Tensor, x: Tensor, _len: usize) -> Result<()> {
        let _p = self.begin(Family::Elementwise)?;
        self.ws
            .write(out, |o, ws| relu::relu6_forward(o, ws.get(x)))
    }

    fn relu6_backward(&mut self, dx: Tensor, dy: Tensor, y: Tensor, _len: usize) -> Result<()> {
        let _p = self.begin(Family::Elementwise)?;
        self.ws
            .write(dx, |d, ws| relu::relu6_backward(d, ws.get(dy), ws.get(y)))
    }

    fn add_forward(&mut self, out: Tensor, a: Tensor, b: Tensor, _len: usize) -> Result<()> {
        let _p = self.begin(Family::Elementwise)?;
        self.ws
            .write(out, |o, ws| add::add_forward(o, ws.get(a), ws.get(b)))
    }

    fn add_backward(&mut self, dx: Tensor, dy: Tensor, _len: usize) -> Result<()> {
        let _p = self.begin(Family::Elementwise)?;
        self.ws.write_grad(dx, |d, write, ws| {
            add::add_backward_addend(d, ws.get(dy), write)
        })
    }

    fn dropout_forward(
        &mut self,
        out: Tensor,
        node: usize,
        x: Tensor,
        len: usize,
        n: usize,
        rate: Option<f32>,
    ) -> Result<()> {
        let _p = self.begin(Family::Elementwise)?;
        let Some(rate) = rate else {
            return self.ws.write(out, |o, ws| {
                let xv = ws.get(x);
                same_len("dropout_forward", o.len(), xv.len())?;
                o.copy_from_slice(xv);
                Ok(())
            });
        };
        let Some((rng, first)) = self.dropout.as_mut() else {
            return Err(Error::ShapeMismatch {
                op: "dropout_forward",
                expected: "a dropout generator in training".into(),
                got: "none".into(),
            });
        };
        let mut mask = std::mem::take(&mut self.ws.masks[node]);
        dropout::dropout_mask_from(&mut mask, rate, rng, *first * (len / n.max(1)));
        let r = self
            .ws
            .write(out, |o, ws| dropout::dropout_forward(o, ws.get(x), &mask));
        self.ws.masks[node] = mask;
        r
    }

    fn dropout_backward(&mut self, dx: Tensor, dy: Tensor, node: usize, _len: usize) -> Result<()> {
        let _p = self.begin(Family::Elementwise)?;
        self.ws.write(dx, |d, ws| {
            dropout::dropout_backward(d, ws.get(dy), &ws.masks[node])
        })
    }

    fn concat_forward(
        &mut self,
        out: Tensor,
        parts: &[Part],
        n: usize,
        _total: usize,
    ) -> Result<()> {
        let _p = self.begin(Family::Elementwise)?;
        self.ws.write(out, |o, ws| {
            let views: Vec<&[f32]> = parts.iter().map(|p| ws.get(p.tensor)).collect();
            concat::concat_forward(o, &views, n)
        })
    }

    fn concat_backward(
        &mut self,
        parts: &[Part],
        dy: Tensor,
        n: usize,
        _total: usize,
    ) -> Result<()> {
        let _p = self.begin(Family::Elementwise)?;
        // A tensor that feeds the concatenation more than once gathers its later parts'
        // gradients in scratch, added once the split is done.
        let repeat: Vec<bool> = (0..parts.len())
            .map(|k| parts[..k].iter().any(|q| q.tensor == parts[k].tensor))
            .collect();
        let mut owned: Vec<Vec<f32>> = parts
            .iter()
            .zip(&repeat)
            .map(|(p, &again)| {
                if again {
                    vec![0.0; n * p.len]
                } else {
                    std::mem::take(self.ws.slot(p.tensor))
                }
            })
            .collect();
        let mut views: Vec<&mut [f32]> = owned.iter_mut().map(|p| p.as_mut_slice()).collect();
        let r = concat::concat_backward(&mut views, self.ws.get(dy), n);
        let mut repeats = Vec::new();
        for ((p, v), again) in parts.iter().zip(owned).zip(repeat) {
            if again {
                repeats.push((p.tensor, v));
            } else {
                *self.ws.slot(p.tensor) = v;
            }
        }
        r?;
        for (t, v) in repeats {
            let slot = self.ws.slot(t);
            same_len("concat_backward", slot.len(), v.len())?;
            elementwise::add_assign(slot, &v);
        }
        Ok(())
    }

    fn pad_forward(&mut self, out: Tensor, x: Tensor, g: &PadGeom, n: usize) -> Result<()> {
        let _p = self.begin(Family::Elementwise)?;
        self.ws
            .write(out, |o, ws| pad::pad_forward(o, ws.get(x), g, n))
    }

    fn pad_backward(&mut self, dx: Tensor, dy: Tensor, g: &PadGeom, n: usize) -> Result<()> {
        let _p = self.begin(Family::Elementwise)?;
        self.ws
            .write(dx, |d, ws| pad::pad_backward(d, ws.get(dy), g, n))
    }

    fn blur_forward(&mut self, out: Tensor, x: Tensor, g: &BlurGeom, n: usize) -> Result<()> {
        let _p = self.begin(Family::Elementwise)?;
        self.ws
            .write(out, |o, ws| blur::blur_forward(o, ws.get(x), g, n))
    }

    fn blur_backward(&mut self, dx: Tensor, dy: Tensor, g: &BlurGeom, n: usize) -> Result<()> {
        let _p = self.begin(Family::Elementwise)?;
        self.ws
            .write(dx, |d, ws| blur::blur_backward(d, ws.get(dy), g, n))
    }

    fn max_pool_forward(
        &mut self,
        out: Tensor,
        node: usize,
        x: Tensor,
        g: &PoolGeom,
        n: usize,
    ) -> Result<()> {
        let fused = match self.pending {
            Some(Pending::Conv(c)) if c.out == x && c.n == n => {
                self.pending = None;
                Some(c)
            }
            _ => None,
        };
        let _p = match fused {
            Some(_) => profile::call(Family::Gemm),
            None => self.begin(Family::Pooling)?,
        };
        let mut argmax = std::mem::take(&mut self.ws.argmax[node]);
        let r = match fused {
            Some(c) => self.conv_max_pool(c, out, &mut argmax, g),
            None => self.ws.write(out, |o, ws| {
                pool::max_pool_forward(o, &mut argmax, ws.get(x), g, n)
            }),
        };
        self.ws.argmax[node] = argmax;
        r
    }

    /// Left pending when it is the first pass to write `dx` (see [`Pending::Pool`]).
    fn max_pool_backward(
        &mut self,
        dx: Tensor,
        dy: Tensor,
        y: Tensor,
        node: usize,
        g: &PoolGeom,
        n: usize,
    ) -> Result<()> {
        self.flush()?;
        let call = PoolCall {
            dx,
            dy,
            y,
            node,
            g: *g,
            n,
        };
        if self.ws.is_stale(dx) {
            self.pending = Some(Pending::Pool(call));
            return Ok(());
        }
        self.max_pool_backward_now(call)
    }

    fn avg_pool_forward(&mut self, out: Tensor, x: Tensor, g: &PoolGeom, n: usize) -> Result<()> {
        let _p = self.begin(Family::Pooling)?;
        self.ws
            .write(out, |o, ws| pool::avg_pool_forward(o, ws.get(x), g, n))
    }

    fn avg_pool_backward(&mut self, dx: Tensor, dy: Tensor, g: &PoolGeom, n: usize) -> Result<()> {
        let _p = self.begin(Family::Pooling)?;
        self.ws.write_grad(dx, |d, write, ws| {
            pool::avg_pool_backward(d, ws.get(dy), g, n, write)
        })
    }

    fn adaptive_avg_pool_forward(
        &mut self,
        out: Tensor,
        x: Tensor,
        g: &AdaptivePoolGeom,
        n: usize,
    ) -> Result<()> {
        let _p = self.begin(Family::Pooling)?;
        self.ws.write(out, |o, ws| {
            adaptive_pool::adaptive_avg_pool_forward(o, ws.get(x), g, n)
        })
    }

    fn adaptive_avg_pool_backward(
        &mut self,
        dx: Tensor,
        dy: Tensor,
        g: &AdaptivePoolGeom,
        n: usize,
    ) -> Result<()> {
        let _p = self.begin(Family::Pooling)?;
        self.ws.write(dx, |d, ws| {
            adaptive_pool::adaptive_avg_pool_backward(d, ws.get(dy), g, n)
        })
    }

    fn gap_forward(&mut self, out: Tensor, x: Tensor, _len: usize, plane: usize) -> Result<()> {
        let _p = self.begin(Family::Pooling)?;
        self.ws
            .write(out, |o, ws| gap::gap_forward(o, ws.get(x), plane))
    }

    fn gap_backward(&mut self, dx: Tensor, dy: Tensor, _len: usize, plane: usize) -> Result<()> {
        let _p = self.begin(Family::Pooling)?;
        self.ws.write_grad(dx, |d, write, ws| {
            gap::gap_backward(d, ws.get(dy), plane, write)
        })
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
        let _p = self.begin(Family::BatchNorm)?;
        let c = g.c;
        let gamma = self.p(Param {
            offset: at.gamma,
            len: c,
        })?;
        let beta = self.p(Param {
            offset: at.beta,
            len: c,
        })?;
        let (mr, vr) = (at.mean..at.mean + c, at.var..at.var + c);
        if mr.end > self.running.len() || vr.end > self.running.len() {
            return Err(Error::ShapeMismatch {
                op: "batchnorm_forward",
                expected: format!("running statistics up to {}", mr.end.max(vr.end)),
                got: self.running.len().to_string(),
            });
        }
        if train {
            let (rm, rv) = two_mut(self.running, mr, vr);
            let mut stats = std::mem::take(&mut self.ws.stats[node]);
            let r = self.ws.write(out, |o, ws| {
                batchnorm::batchnorm_forward_train(
                    o,
                    &mut stats,
                    rm,
                    rv,
                    ws.get(x),
                    gamma,
                    beta,
                    g,
                    n,
                )
            });
            self.ws.stats[node] = stats;
            r
        } else {
            let (rm, rv) = (&self.running[mr], &self.running[vr]);
            self.ws.write(out, |o, ws| {
                batchnorm::batchnorm_forward_eval(o, ws.get(x), gamma, beta, rm, rv, g, n)
            })
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
        let _p = self.begin(Family::BatchNorm)?;
        let c = g.c;
        let gamma = self.params.get(at.gamma..at.gamma + c);
        let (gr, br) = (at.gamma..at.gamma + c, at.beta..at.beta + c);
        let Some(gamma) = gamma.filter(|_| gr.end.max(br.end) <= self.grads.len()) else {
            return Err(Error::ShapeMismatch {
                op: "batchnorm_backward",
                expected: format!("γ and β within {} parameters", self.grads.len()),
                got: format!("{gr:?}, {br:?}"),
            });
        };
        let (dg, db) = two_mut(self.grads, gr, br);
        self.ws.write_grad(dx, |d, write, ws| {
            batchnorm::batchnorm_backward(
                d,
                dg,
                db,
                ws.get(dy),
                ws.get(x),
                gamma,
                &ws.stats[node],
                g,
                n,
                write,
            )
        })
    }
}

impl Model {
    /// Runs the network on `n` images (`input` is `[n, c, h, w]`); the logits are then in
    /// `ws.logits()`. Training mode also updates batch-norm running statistics.
    pub fn forward(
        &mut self,
        ws: &mut Workspace,
        input: &[f32],
        n: usize,
        mode: Mode,
    ) -> Result<()> {
        if n == 0 || input.len() != n * self.input_len() {
            return Err(Error::ShapeMismatch {
                op: "forward",
                expected: format!("{n} images of {:?}", self.graph.input),
                got: format!("{} floats", input.len()),
            });
        }
        ws.prepare(&self.graph, n);
        ws.acts[ws.layout.slot[0]].copy_from_slice(input);
        let (train, dropout) = match mode {
            Mode::Train(rng) => (true, Some((rng, 0))),
            Mode::TrainShard { rng, first } => (true, Some((rng, first))),
            Mode::Eval => (false, None),
        };
        let layout = std::mem::take(&mut ws.layout);
        let mut b = CpuBackend {
            params: &self.params,
            grads: &mut self.grads,
            running: &mut self.buffers,
            ws,
            dropout,
            pending: None,
        };
        let r = walk::forward(&mut b, &self.graph, &layout, n, train).and_then(|()| b.flush());
        ws.layout = layout;
        ws.trained = train && r.is_ok();
        r
    }

    /// Accumulates parameter gradients into `self.grads` for the last training-mode forward,
    /// given dL/dlogits.
    pub fn backward(&mut self, ws: &mut Workspace, dlogits: &[f32]) -> Result<()> {
        self.backward_seeded(ws, &[(self.graph.output, dlogits)])
    }

    /// Backward from several values at once: `seeds` are `(value, dL/dvalue)` pairs, e.g. the
    /// logits and the auxiliary heads' weighted logit gradients ([`crate::model::AuxOutput`]).
    pub fn backward_seeded(&mut self, ws: &mut Workspace, seeds: &[(usize, &[f32])]) -> Result<()> {
        let n = ws.n;
        let bad = seeds
            .iter()
            .find(|(v, d)| *v >= ws.layout.slot.len() || d.len() != n * self.graph.value_len(*v));
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
        // Every gradient starts as the sum of no contributions, but is not zeroed here: each
        // slot is marked stale, its first writer writes over it and any other reader zeroes it
        // first (`Workspace::write_grad`, `Backend::settle`).
        let slots = ws.layout.slot_len.len();
        ws.grads.resize_with(slots, Vec::new);
        for (d, len) in ws.grads.iter_mut().zip(&ws.layout.slot_len) {
            d.resize(n * len, 0.0);
        }
        ws.stale.clear();
        ws.stale.resize(slots, true);
        for (v, d) in seeds {
            let t = Tensor::Grad(ws.layout.slot[*v]);
            ws.write_grad(t, |g, write, _| {
                write.store(g, d);
                Ok(())
            })?;
        }
        let layout = std::mem::take(&mut ws.layout);
        let mut b = CpuBackend {
            params: &self.params,
            grads: &mut self.grads,
            running: &mut self.buffers,
            ws,
            dropout: None,
            pending: None,
        };
        let r = walk::backward(&mut b, &self.graph, &layout, n).and_then(|()| b.flush());
        ws.layout = layout;
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gradient buffers are not zeroed before a backward (each one's first writer writes over
    /// it): poisoned with NaN between two identical steps, every preset (residual adds, batch
    /// norm, concatenations, an auxiliary head left unseeded, dropout, depthwise convolutions)
    /// still gives the same gradients, so no pass adds into or reads a buffer left stale.
    #[test]
    fn stale_gradient_buffers_never_reach_the_gradients() {
        use crate::model::{PRESETS, preset_for};
        use crate::ops::testing::random;

        for name in PRESETS {
            let mut model = Model::new(preset_for(name, 28).unwrap(), 5).unwrap();
            let n = 2;
            let x = random(n * model.input_len(), &mut Rng::new(8));
            let r = random(
                n * model.graph.value_len(model.graph.output),
                &mut Rng::new(9),
            );
            let mut ws = Workspace::new();
            let step = |model: &mut Model, ws: &mut Workspace| {
                model
                    .forward(ws, &x, n, Mode::Train(&mut Rng::new(1)))
                    .unwrap();
                model.zero_grad();
                model.backward(ws, &r).unwrap();
                model.grads.clone()
            };
            let first = step(&mut model, &mut ws);
            for d in &mut ws.grads {
                d.fill(f32::NAN);
            }
            let second = step(&mut model, &mut ws);
            assert!(first.iter().all(|g| g.is_finite()), "{name}");
            assert!(first == second, "{name}: the gradients differ");
        }
    }

    /// A tensor concatenated with itself gets both halves of the gradient (the GPU adds each
    /// part's slice in turn; the CPU must not lose one to the other).
    #[test]
    fn concat_backward_of_a_tensor_used_twice_adds_both_parts() {
        let (n, len) = (2, 3);
        let mut ws = Workspace {
            grads: vec![
                Vec::new(),
                vec![1.0; n * len],
                (1..=12).map(|v| v as f32).collect(),
            ],
            ..Workspace::default()
        };
        let (params, mut grads, mut running) = (Vec::new(), Vec::new(), Vec::new());
        let mut b = CpuBackend {
            params: &params,
            grads: &mut grads,
            running: &mut running,
            ws: &mut ws,
            dropout: None,
            pending: None,
        };
        let part = Part {
            tensor: Tensor::Grad(1),
            len,
        };
        b.concat_backward(&[part, part], Tensor::Grad(2), n, 2 * len)
            .unwrap();
        // Image 0's dy is 1..=6 and image 1's 7..=12; each image's two halves add into it.
        assert_eq!(ws.grads[1], [6.0, 8.0, 10.0, 18.0, 20.0, 22.0]);
    }
}
