//! The GPU launchers: one function per CPU primitive, with the CPU's argument order (outputs
//! first, gradients prefixed `d`). Each checks its buffers' sizes and returns the [`Dispatch`]es
//! that run it; nothing is recorded until a caller's pass records them, so a model builds its
//! dispatches once and replays them every step.
//!
//! One file per op family, as in [`crate::ops`]: [`conv`] (direct kernels, weight-gradient
//! reduction, bias), [`winograd`], [`dense`], [`pointwise`] (ReLU, add, dropout, concat),
//! [`spatial`] (pad, blur), [`pool`], [`norm`], [`loss`], [`optim`], [`data`]; [`bind`] binds
//! buffers by name ([`bind::launch`]). This file holds what they share: [`Dispatch`], the grid
//! helpers, the size checks and the [`Planar`] launcher.
//!
//! Parameters live in one flat buffer: weight and bias arguments are that buffer plus element
//! offsets, exactly as `graph.params` lays them out.

use bytemuck::Pod;

use super::kernels::*;
use super::{GpuBuffer, GpuContext};
pub use crate::backend::BatchNormAt;
use crate::error::{Error, Result};
use crate::ops::adaptive_pool::AdaptivePoolGeom;
use crate::ops::batchnorm::BatchNormGeom;
use crate::ops::blur::{BlurGeom, MAX_BLUR_SIZE, binomial};
use crate::ops::conv2d::Conv2dGeom;
use crate::ops::dense::DenseGeom;
use crate::ops::pad::{PadGeom, PadMode};
use crate::ops::pool::PoolGeom;
use crate::optim::OptimizerSpec;

mod bind;
mod conv;
mod data;
mod dense;
mod loss;
mod norm;
mod optim;
mod pointwise;
mod pool;
mod spatial;
mod winograd;

use bind::*;
pub use conv::*;
pub use data::*;
pub use dense::*;
pub use loss::*;
pub use norm::*;
pub use optim::*;
pub use pointwise::*;
pub use pool::*;
pub use winograd::*;

/// One compute dispatch: a pipeline, its bind group (buffers + params uniform) and its grid.
#[derive(Debug)]
pub struct Dispatch {
    pub kernel: Kernel,
    pub bind: wgpu::BindGroup,
    /// The uniform the shader reads its params from; [`Dispatch::set_params`] rewrites it.
    pub params: wgpu::Buffer,
    pub groups: [u32; 3],
}

impl Dispatch {
    pub(crate) fn record(&self, ctx: &GpuContext, pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(ctx.pipeline(self.kernel));
        pass.set_bind_group(0, &self.bind, &[]);
        let [x, y, z] = self.groups;
        pass.dispatch_workgroups(x, y, z);
    }

    /// Queues new params (same struct) for the next submission.
    pub fn set_params<T: Pod>(&self, ctx: &GpuContext, p: &T) {
        ctx.queue
            .write_buffer(&self.params, 0, bytemuck::bytes_of(p));
    }
}

fn u(v: usize) -> Result<u32> {
    u32::try_from(v)
        .map_err(|_| Error::Gpu(format!("size {v} does not fit the GPU's 32-bit indices")))
}

fn need(op: &'static str, what: &str, b: &GpuBuffer, len: usize) -> Result<()> {
    if b.len < len {
        return Err(Error::ShapeMismatch {
            op,
            expected: format!("{what} of at least {len} elements"),
            got: b.len.to_string(),
        });
    }
    Ok(())
}

fn make<T: Pod>(
    ctx: &GpuContext,
    kernel: Kernel,
    buffers: &[&GpuBuffer],
    params: &T,
    groups: [u32; 3],
) -> Result<Dispatch> {
    let max = ctx.limits.max_compute_workgroups_per_dimension;
    if groups.iter().any(|&g| g > max) {
        return Err(Error::Gpu(format!(
            "{kernel:?}: a grid of {groups:?} workgroups exceeds the device's {max} per dimension (use a smaller batch)"
        )));
    }
    let bytes = bytemuck::bytes_of(params);
    let params_buf = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("params"),
        size: bytes.len().div_ceil(16).max(1) as u64 * 16,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    ctx.queue.write_buffer(&params_buf, 0, bytes);
    let mut entries: Vec<wgpu::BindGroupEntry> = buffers
        .iter()
        .enumerate()
        .map(|(i, b)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: b.buf.as_entire_binding(),
        })
        .collect();
    entries.push(wgpu::BindGroupEntry {
        binding: buffers.len() as u32,
        resource: params_buf.as_entire_binding(),
    });
    let bind = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("bind"),
        layout: &ctx.pipeline(kernel).get_bind_group_layout(0),
        entries: &entries,
    });
    Ok(Dispatch {
        kernel,
        bind,
        params: params_buf,
        groups,
    })
}

/// A 1-D grid of `threads` threads in workgroups of `wg`, folded into 2-D past 65535 workgroups
/// (the shaders index `gid.x + gid.y · nwg.x · wg`).
fn grid(ctx: &GpuContext, threads: usize, wg: u32) -> Result<[u32; 3]> {
    let groups = u(threads.div_ceil(wg as usize).max(1))?;
    let max = ctx.limits.max_compute_workgroups_per_dimension.max(1);
    Ok(if groups <= max {
        [groups, 1, 1]
    } else {
        [max, groups.div_ceil(max), 1]
    })
}

fn gemm_grid(ctx: &GpuContext, m: usize, n: usize, z: usize) -> Result<[u32; 3]> {
    let (tm, tn) = ctx.gemm().tile();
    Ok([
        u(n.div_ceil(tn as usize).max(1))?,
        u(m.div_ceil(tm as usize).max(1))?,
        u(z.max(1))?,
    ])
}

/// The grid of the strip kernels: `threads` in workgroups of 64 (folded as [`grid`] does) for each
/// of `z` (image, group) or (group, chunk) pairs.
fn strip_grid(ctx: &GpuContext, threads: usize, z: usize) -> Result<[u32; 3]> {
    let [x, y, _] = grid(ctx, threads, 64)?;
    Ok([x, y, u(z.max(1))?])
}

/// The geometry of a pass on `common/plane_io.wgsl` (pad, blur, average pooling): its two
/// kernels and their params. Launched by [`planar`].
pub trait Planar {
    /// The forward kernel and the backward one that gathers its gradient.
    const KERNELS: (Kernel, Kernel);
    type Params: Pod;
    fn params(&self, n: usize) -> Result<Self::Params>;
    /// Elements of one image's input and of its output.
    fn lens(&self) -> (usize, usize);
}

/// Which pass of a [`Planar`] op [`planar`] launches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// dst (out) = the forward applied to src (x); overwrites dst.
    Forward,
    /// dst (dx) += the adjoint of the forward applied to src (dout): a thread per input cell
    /// gathers the output gradients it fed.
    Backward,
}

/// The `pass` of `g` over `n` images, from `src` into `dst`.
pub fn planar<G: Planar>(
    ctx: &GpuContext,
    pass: Pass,
    dst: &GpuBuffer,
    src: &GpuBuffer,
    g: &G,
    n: usize,
) -> Result<Dispatch> {
    let (len_in, len_out) = g.lens();
    let (kernel, src_len, dst_len) = match pass {
        Pass::Forward => (G::KERNELS.0, n * len_in, n * len_out),
        Pass::Backward => (G::KERNELS.1, n * len_out, n * len_in),
    };
    let binds = [("src", src, src_len), ("dst", dst, dst_len)];
    let p = g.params(n)?;
    launch(ctx, kernel, &binds, &p, grid(ctx, dst_len, WG)?)
}
