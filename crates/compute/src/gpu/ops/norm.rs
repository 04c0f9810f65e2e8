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

/// The batch statistics `[c, 2]` (mean, 1/σ) and γ and β in `params` at `at`'s offsets, as
/// bindings with the elements each must hold: what every batch-norm pass reads.
fn bn_state<'a>(
    g: &BatchNormGeom,
    at: BatchNormAt,
    stats: &'a GpuBuffer,
    params: &'a GpuBuffer,
) -> [Bind<'a>; 2] {
    [
        ("stats", stats, 2 * g.c),
        ("params", params, at.gamma.max(at.beta) + g.c),
    ]
}

/// The running mean and variance in `running` at `at`'s offsets, which the forwards read.
fn bn_running<'a>(g: &BatchNormGeom, at: BatchNormAt, running: &'a GpuBuffer) -> Bind<'a> {
    ("running", running, at.mean.max(at.var) + g.c)
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
    let [stats, params] = bn_state(g, at, stats, params);
    let running = bn_running(g, at, running);
    let p = bn_params(g, n, at, true)?;
    let forward = [("y", y, len), ("x", x, len), params, stats, running];
    Ok([
        launch(
            ctx,
            Kernel::BatchnormStats,
            &[("x", x, len), stats, running],
            &p,
            [u(g.c)?, 1, 1],
        )?,
        launch(
            ctx,
            Kernel::BatchnormForward,
            &forward,
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
    let [stats, params] = bn_state(g, at, stats, params);
    // Bound but unread: the statistics of the last training forward.
    let stats = (stats.0, stats.1, 0);
    let running = bn_running(g, at, running);
    let p = bn_params(g, n, at, false)?;
    let binds = [("y", y, len), ("x", x, len), params, stats, running];
    launch(
        ctx,
        Kernel::BatchnormForward,
        &binds,
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
    // The running statistics play no part in backward: `running` is not bound.
    let [stats, params] = bn_state(g, at, stats, params);
    let [dy, x, sums] = [("dy", dy, len), ("x", x, len), ("sums", sums, 2 * g.c)];
    let reduce = [dy, x, stats, sums, ("grads", grads, params.2)];
    let p = bn_params(g, n, at, true)?;
    Ok([
        launch(
            ctx,
            Kernel::BatchnormBackwardReduce,
            &reduce,
            &p,
            [u(g.c)?, 1, 1],
        )?,
        launch(
            ctx,
            Kernel::BatchnormBackward,
            &[("dx", dx, len), dy, x, params, stats, sums],
            &p,
            grid(ctx, len, WG)?,
        )?,
    ])
}
