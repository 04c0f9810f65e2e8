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
    let wb_len = (w_off + g.inputs * g.outputs).max(b_off.map_or(0, |b| b + g.outputs));
    let binds = [
        ("y", y, n * g.outputs),
        ("x", x, n * g.inputs),
        ("wb", wb, wb_len),
    ];
    let p = DenseParams {
        relu: relu as u32,
        ..dense_params(g, n, w_off, b_off)?
    };
    let groups = gemm_grid(ctx, n, g.outputs, 1)?;
    launch(ctx, Kernel::DenseForward, &binds, &p, groups)
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
    let w = ("wb", wb, w_off + g.inputs * g.outputs);
    let binds = [("dx", dx, n * g.inputs), ("dy", dy, n * g.outputs), w];
    let p = dense_params(g, n, w_off, None)?;
    let groups = gemm_grid(ctx, n, g.inputs, 1)?;
    launch(ctx, Kernel::DenseBackwardInput, &binds, &p, groups)
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
    let dw = ("grads", grads, w_off + g.inputs * g.outputs);
    let binds = [dw, ("dy", dy, n * g.outputs), ("x", x, n * g.inputs)];
    let p = dense_params(g, n, w_off, None)?;
    let groups = gemm_grid(ctx, g.outputs, g.inputs, 1)?;
    launch(ctx, Kernel::DenseBackwardWeight, &binds, &p, groups)
}
