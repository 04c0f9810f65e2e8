//! Pooling launchers: global average, max and average pooling.

use super::*;

/// out[q] = mean of x's plane q (`planes` = n·c planes of `plane` cells).
pub fn gap_forward(
    ctx: &GpuContext,
    out: &GpuBuffer,
    x: &GpuBuffer,
    planes: usize,
    plane: usize,
) -> Result<Dispatch> {
    need("gpu gap_forward", "out", out, planes)?;
    need("gpu gap_forward", "x", x, planes * plane)?;
    let p = GapParams {
        count: u(planes)?,
        plane: u(plane.max(1))?,
        ..Default::default()
    };
    // On a software adapter a thread per plane, unless a plane is longer than lavapipe lets one
    // invocation loop (65,535 iterations in all); else a workgroup per plane (its tree).
    if ctx.gemm() == Gemm::Registers && plane <= 16_384 {
        let groups = grid(ctx, planes, 64)?;
        return make(ctx, Kernel::GapForwardSerial, &[x, out], &p, groups);
    }
    make(
        ctx,
        Kernel::GapForward,
        &[x, out],
        &p,
        grid(ctx, planes, 1)?,
    )
}

/// dx[q, :] += dout[q] / plane.
pub fn gap_backward(
    ctx: &GpuContext,
    dx: &GpuBuffer,
    dout: &GpuBuffer,
    planes: usize,
    plane: usize,
) -> Result<Dispatch> {
    need("gpu gap_backward", "dx", dx, planes * plane)?;
    need("gpu gap_backward", "dout", dout, planes)?;
    let p = GapParams {
        count: u(planes * plane)?,
        plane: u(plane.max(1))?,
        ..Default::default()
    };
    make(
        ctx,
        Kernel::GapBackward,
        &[dout, dx],
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
    need("gpu max_pool_forward", "out", out, n * g.out_len())?;
    need("gpu max_pool_forward", "argmax", argmax, n * g.out_len())?;
    need("gpu max_pool_forward", "x", x, n * g.in_len())?;
    make(
        ctx,
        Kernel::MaxPoolForward,
        &[x, out, argmax],
        &pool_params(g, n)?,
        grid(ctx, n * g.out_len(), WG)?,
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
    need("gpu max_pool_backward", "dx", dx, n * g.in_len())?;
    need("gpu max_pool_backward", "dout", dout, n * g.out_len())?;
    need("gpu max_pool_backward", "argmax", argmax, n * g.out_len())?;
    let p = pool_params(g, n)?;
    if g.stride >= g.size {
        // Disjoint windows: each adds to its own argmax cell.
        let groups = grid(ctx, n * g.out_len(), WG)?;
        return make(
            ctx,
            Kernel::MaxPoolBackwardScatter,
            &[dout, argmax, dx],
            &p,
            groups,
        );
    }
    make(
        ctx,
        Kernel::MaxPoolBackward,
        &[dout, argmax, dx],
        &p,
        grid(ctx, n * g.in_len(), WG)?,
    )
}

/// out = mean over each window's cells inside the input.
pub fn avg_pool_forward(
    ctx: &GpuContext,
    out: &GpuBuffer,
    x: &GpuBuffer,
    g: &PoolGeom,
    n: usize,
) -> Result<Dispatch> {
    let (x, out) = ((x, n * g.in_len()), (out, n * g.out_len()));
    planar(
        ctx,
        Kernel::AvgPoolForward,
        "gpu avg_pool_forward",
        x,
        out,
        &pool_params(g, n)?,
    )
}

/// dx += dout spread evenly over each window's cells.
pub fn avg_pool_backward(
    ctx: &GpuContext,
    dx: &GpuBuffer,
    dout: &GpuBuffer,
    g: &PoolGeom,
    n: usize,
) -> Result<Dispatch> {
    let (dout, dx) = ((dout, n * g.out_len()), (dx, n * g.in_len()));
    planar(
        ctx,
        Kernel::AvgPoolBackward,
        "gpu avg_pool_backward",
        dout,
        dx,
        &pool_params(g, n)?,
    )
}
