//! Batch normalisation launchers: statistics, forward (train and eval) and backward.

use super::*;

fn bn_params(g: &BatchNormGeom, n: usize, at: BatchNormAt, train: bool) -> Result<BatchNormParams> {
    Ok(BatchNormParams {
        n: u(n)?,
        c: u(g.c)?,
        plane: u(g.plane)?,
        gamma_off: u(at.gamma)?,
        beta_off: u(at.beta)?,
        mean_off: u(at.mean)?,
        var_off: u(at.var)?,
        train: train as u32,
        eps: g.eps,
        momentum: g.momentum,
        _pad: [0; 2],
    })
}

fn bn_check(
    g: &BatchNormGeom,
    n: usize,
    at: BatchNormAt,
    bufs: &[(&str, &GpuBuffer, usize)],
    params: &GpuBuffer,
    running: &GpuBuffer,
) -> Result<()> {
    const OP: &str = "gpu batchnorm";
    for &(what, b, len) in bufs {
        need(OP, what, b, len)?;
    }
    need(OP, "gamma", params, at.gamma + g.c)?;
    need(OP, "beta", params, at.beta + g.c)?;
    need(OP, "running mean", running, at.mean + g.c)?;
    need(OP, "running var", running, at.var + g.c)?;
    let _ = n;
    Ok(())
}

/// Training forward: batch statistics into `stats` (`[c, 2]`: mean, 1/σ), running statistics
/// updated in `running`, then y = γ·x̂ + β. x, y: `[n, c, plane]`.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_forward_train(
    ctx: &GpuContext,
    y: &GpuBuffer,
    stats: &GpuBuffer,
    running: &GpuBuffer,
    x: &GpuBuffer,
    params: &GpuBuffer,
    at: BatchNormAt,
    g: &BatchNormGeom,
    n: usize,
) -> Result<[Dispatch; 2]> {
    let len = n * g.c * g.plane;
    bn_check(
        g,
        n,
        at,
        &[("y", y, len), ("x", x, len), ("stats", stats, 2 * g.c)],
        params,
        running,
    )?;
    let p = bn_params(g, n, at, true)?;
    Ok([
        make(
            ctx,
            Kernel::BatchnormStats,
            &[x, stats, running],
            &p,
            [u(g.c)?, 1, 1],
        )?,
        make(
            ctx,
            Kernel::BatchnormForward,
            &[x, params, stats, running, y],
            &p,
            grid(ctx, len, WG)?,
        )?,
    ])
}

/// Evaluation forward with the running statistics (`stats` is bound but unread).
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_forward_eval(
    ctx: &GpuContext,
    y: &GpuBuffer,
    stats: &GpuBuffer,
    running: &GpuBuffer,
    x: &GpuBuffer,
    params: &GpuBuffer,
    at: BatchNormAt,
    g: &BatchNormGeom,
    n: usize,
) -> Result<Dispatch> {
    let len = n * g.c * g.plane;
    bn_check(g, n, at, &[("y", y, len), ("x", x, len)], params, running)?;
    let p = bn_params(g, n, at, false)?;
    make(
        ctx,
        Kernel::BatchnormForward,
        &[x, params, stats, running, y],
        &p,
        grid(ctx, len, WG)?,
    )
}

/// dx += ∂L/∂x, dγ += Σ dy·x̂, dβ += Σ dy (at γ's and β's offsets of `grads`), for a training
/// forward whose statistics are in `stats`; `sums` (`[c, 2]`) is scratch.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_backward(
    ctx: &GpuContext,
    dx: &GpuBuffer,
    grads: &GpuBuffer,
    sums: &GpuBuffer,
    dy: &GpuBuffer,
    x: &GpuBuffer,
    params: &GpuBuffer,
    stats: &GpuBuffer,
    at: BatchNormAt,
    g: &BatchNormGeom,
    n: usize,
) -> Result<[Dispatch; 2]> {
    let len = n * g.c * g.plane;
    // The running statistics play no part in backward.
    let at = BatchNormAt {
        mean: 0,
        var: 0,
        ..at
    };
    bn_check(
        g,
        n,
        at,
        &[
            ("dx", dx, len),
            ("dy", dy, len),
            ("x", x, len),
            ("stats", stats, 2 * g.c),
            ("sums", sums, 2 * g.c),
        ],
        params,
        params,
    )?;
    need(
        "gpu batchnorm_backward",
        "dgamma",
        grads,
        at.gamma.max(at.beta) + g.c,
    )?;
    let p = bn_params(g, n, at, true)?;
    Ok([
        make(
            ctx,
            Kernel::BatchnormBackwardReduce,
            &[dy, x, stats, sums, grads],
            &p,
            [u(g.c)?, 1, 1],
        )?,
        make(
            ctx,
            Kernel::BatchnormBackward,
            &[dy, x, params, stats, sums, dx],
            &p,
            grid(ctx, len, WG)?,
        )?,
    ])
}
