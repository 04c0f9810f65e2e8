//! Dense (fully connected) launchers on the shared matrix-multiply body.

use super::*;

fn dense_params(
    g: &DenseGeom,
    n: usize,
    w_off: usize,
    b_off: Option<usize>,
) -> Result<DenseParams> {
    Ok(DenseParams {
        n: u(n)?,
        inputs: u(g.inputs)?,
        outputs: u(g.outputs)?,
        w_off: u(w_off)?,
        b_off: u(b_off.unwrap_or(0))?,
        has_bias: b_off.is_some() as u32,
        ..Default::default()
    })
}

/// y = x·wᵀ + b, ReLU fused when `relu`. x `[n, in]`, w `[out, in]` at `w_off`, b at `b_off`.
#[allow(clippy::too_many_arguments)]
pub fn dense_forward(
    ctx: &GpuContext,
    y: &GpuBuffer,
    x: &GpuBuffer,
    wb: &GpuBuffer,
    w_off: usize,
    b_off: Option<usize>,
    g: &DenseGeom,
    n: usize,
    relu: bool,
) -> Result<Dispatch> {
    const OP: &str = "gpu dense_forward";
    need(OP, "y", y, n * g.outputs)?;
    need(OP, "x", x, n * g.inputs)?;
    need(OP, "w", wb, w_off + g.inputs * g.outputs)?;
    if let Some(b) = b_off {
        need(OP, "b", wb, b + g.outputs)?;
    }
    let p = DenseParams {
        relu: relu as u32,
        ..dense_params(g, n, w_off, b_off)?
    };
    make(
        ctx,
        Kernel::DenseForward,
        &[x, wb, y],
        &p,
        gemm_grid(ctx, n, g.outputs, 1)?,
    )
}

/// dx += dy·w.
pub fn dense_backward_input(
    ctx: &GpuContext,
    dx: &GpuBuffer,
    dy: &GpuBuffer,
    wb: &GpuBuffer,
    w_off: usize,
    g: &DenseGeom,
    n: usize,
) -> Result<Dispatch> {
    const OP: &str = "gpu dense_backward_input";
    need(OP, "dx", dx, n * g.inputs)?;
    need(OP, "dy", dy, n * g.outputs)?;
    need(OP, "w", wb, w_off + g.inputs * g.outputs)?;
    let p = dense_params(g, n, w_off, None)?;
    make(
        ctx,
        Kernel::DenseBackwardInput,
        &[dy, wb, dx],
        &p,
        gemm_grid(ctx, n, g.inputs, 1)?,
    )
}

/// dw += dyᵀ·x (dw at `w_off` of `grads`); the bias gradient is [`bias_backward`]'s.
pub fn dense_backward_weight(
    ctx: &GpuContext,
    grads: &GpuBuffer,
    dy: &GpuBuffer,
    x: &GpuBuffer,
    w_off: usize,
    g: &DenseGeom,
    n: usize,
) -> Result<Dispatch> {
    const OP: &str = "gpu dense_backward_weight";
    need(OP, "dw", grads, w_off + g.inputs * g.outputs)?;
    need(OP, "dy", dy, n * g.outputs)?;
    need(OP, "x", x, n * g.inputs)?;
    let p = dense_params(g, n, w_off, None)?;
    make(
        ctx,
        Kernel::DenseBackwardWeight,
        &[dy, x, grads],
        &p,
        gemm_grid(ctx, g.outputs, g.inputs, 1)?,
    )
}
