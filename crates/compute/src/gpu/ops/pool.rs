//! Pooling launchers: global average, max, average and adaptive average pooling.

use super::*;

/// out[q] = mean of x's plane q (`planes` = n·c planes of `plane` cells).
pub fn gap_forward(
    ctx: &GpuContext,
    out: &GpuBuffer,
    x: &GpuBuffer,
    planes: usize,
    plane: usize,
) -> Result<Dispatch> {
    let binds = [("out", out, planes), ("x", x, planes * plane)];
    let p = GapParams {
        count: u(planes)?,
        plane: u(plane.max(1))?,
        ..Default::default()
    };
    // On a software adapter a thread per plane, unless a plane is longer than lavapipe lets one
    // invocation loop (65,535 iterations in all); else a workgroup per plane (its tree).
    if ctx.gemm() == Gemm::Registers && plane <= 16_384 {
        let groups = grid(ctx, planes, 64)?;
        return launch(ctx, Kernel::GapForwardSerial, &binds, &p, groups);
    }
    launch(ctx, Kernel::GapForward, &binds, &p, grid(ctx, planes, 1)?)
}

/// dx[q, :] += dout[q] / plane.
pub fn gap_backward(
    ctx: &GpuContext,
    dx: &GpuBuffer,
    dout: &GpuBuffer,
    planes: usize,
    plane: usize,
) -> Result<Dispatch> {
    let binds = [("dx", dx, planes * plane), ("dout", dout, planes)];
    let p = GapParams {
        count: u(planes * plane)?,
        plane: u(plane.max(1))?,
        ..Default::default()
    };
    launch(
        ctx,
        Kernel::GapBackward,
        &binds,
        &p,
        grid(ctx, planes * plane, WG)?,
    )
}

fn pool_params(g: &PoolGeom, n: usize) -> Result<PoolParams> {
    Ok(PoolParams {
        planes: u(n * g.c)?,
        h_in: u(g.h_in)?,
        w_in: u(g.w_in)?,
        h_out: u(g.h_out)?,
        w_out: u(g.w_out)?,
        size: u(g.size)?,
        stride: u(g.stride)?,
        pad_top: u(g.pad_top)?,
        pad_left: u(g.pad_left)?,
        ..Default::default()
    })
}

/// out = max over each window; argmax (u32, same length as out) = the winner's index in its plane.
pub fn max_pool_forward(
    ctx: &GpuContext,
    out: &GpuBuffer,
    argmax: &GpuBuffer,
    x: &GpuBuffer,
    g: &PoolGeom,
    n: usize,
) -> Result<Dispatch> {
    let (len_in, len_out) = (n * g.in_len(), n * g.out_len());
    let binds = [
        ("out", out, len_out),
        ("argmax", argmax, len_out),
        ("x", x, len_in),
    ];
    let p = pool_params(g, n)?;
    launch(
        ctx,
        Kernel::MaxPoolForward,
        &binds,
        &p,
        grid(ctx, len_out, WG)?,
    )
}

/// dx += dout routed to each window's maximum.
pub fn max_pool_backward(
    ctx: &GpuContext,
    dx: &GpuBuffer,
    dout: &GpuBuffer,
    argmax: &GpuBuffer,
    g: &PoolGeom,
    n: usize,
) -> Result<Dispatch> {
    let (len_in, len_out) = (n * g.in_len(), n * g.out_len());
    let binds = [
        ("dx", dx, len_in),
        ("dout", dout, len_out),
        ("argmax", argmax, len_out),
    ];
    let p = pool_params(g, n)?;
    // Disjoint windows: a thread per window adds to its own argmax cell; else a thread per
    // input cell gathers the windows it won.
    let (kernel, threads) = if g.stride >= g.size {
        (Kernel::MaxPoolBackwardScatter, len_out)
    } else {
        (Kernel::MaxPoolBackward, len_in)
    };
    launch(ctx, kernel, &binds, &p, grid(ctx, threads, WG)?)
}

/// Average pooling's geometry as a [`Planar`] pass (a [`PoolGeom`] alone is also max pooling's):
/// out = the mean over each window's cells inside the input; its backward spreads dout evenly
/// over each window's cells.
pub struct AvgPool<'a>(pub &'a PoolGeom);

impl Planar for AvgPool<'_> {
    const KERNELS: (Kernel, Kernel) = (Kernel::AvgPoolForward, Kernel::AvgPoolBackward);
    type Params = PoolParams;

    fn params(&self, n: usize) -> Result<PoolParams> {
        pool_params(self.0, n)
    }

    fn lens(&self) -> (usize, usize) {
        (self.0.in_len(), self.0.out_len())
    }
}

/// Adaptive average pooling as a [`Planar`] pass: out = the mean of each output cell's bin; its
/// backward gathers, for each input cell, the shares of the bins that hold it.
impl Planar for AdaptivePoolGeom {
    const KERNELS: (Kernel, Kernel) = (
        Kernel::AdaptiveAvgPoolForward,
        Kernel::AdaptiveAvgPoolBackward,
    );
    type Params = AdaptivePoolParams;

    fn params(&self, n: usize) -> Result<AdaptivePoolParams> {
        // The bins' bounds multiply a coordinate by a size in u32.
        u((self.h_in + 1).max(self.h_out + 1) * self.h_in.max(self.h_out))?;
        u((self.w_in + 1).max(self.w_out + 1) * self.w_in.max(self.w_out))?;
        Ok(AdaptivePoolParams {
            planes: u(n * self.c)?,
            h_in: u(self.h_in)?,
            w_in: u(self.w_in)?,
            h_out: u(self.h_out)?,
            w_out: u(self.w_out)?,
            ..Default::default()
        })
    }

    fn lens(&self) -> (usize, usize) {
        (self.in_len(), self.out_len())
    }
}
