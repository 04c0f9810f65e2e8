//! Spatial launchers over each plane: explicit padding and the BlurPool blur (`shaders/spatial/`).

use super::*;

fn pad_params(g: &PadGeom, n: usize) -> Result<PadParams> {
    Ok(PadParams {
        planes: u(n * g.c)?,
        h_in: u(g.h_in)?,
        w_in: u(g.w_in)?,
        h_out: u(g.h_out())?,
        w_out: u(g.w_out())?,
        top: u(g.top)?,
        left: u(g.left)?,
        mode: match g.mode {
            PadMode::Zeros => 0,
            PadMode::Reflect => 1,
            PadMode::Circular => 2,
        },
    })
}

/// y = x with an explicit border of zeros, reflections or wrap-around. Overwrites y.
pub fn pad_forward(
    ctx: &GpuContext,
    y: &GpuBuffer,
    x: &GpuBuffer,
    g: &PadGeom,
    n: usize,
) -> Result<Dispatch> {
    let (x, y) = ((x, n * g.in_len()), (y, n * g.out_len()));
    planar(ctx, Kernel::PadForward, x, y, &pad_params(g, n)?)
}

/// dx += the gradient of every padded cell, sent back to the input cell it copied.
pub fn pad_backward(
    ctx: &GpuContext,
    dx: &GpuBuffer,
    dy: &GpuBuffer,
    g: &PadGeom,
    n: usize,
) -> Result<Dispatch> {
    let (dy, dx) = ((dy, n * g.out_len()), (dx, n * g.in_len()));
    planar(ctx, Kernel::PadBackward, dy, dx, &pad_params(g, n)?)
}

fn blur_params(g: &BlurGeom, n: usize) -> Result<BlurParams> {
    if !(1..=MAX_BLUR_SIZE).contains(&g.size) {
        return Err(Error::Gpu(format!(
            "blur size {} is not 1..={MAX_BLUR_SIZE}",
            g.size
        )));
    }
    let mut f = [0.0; 8];
    f[..g.size].copy_from_slice(&binomial(g.size));
    Ok(BlurParams {
        planes: u(n * g.c)?,
        h_in: u(g.h_in)?,
        w_in: u(g.w_in)?,
        h_out: u(g.h_out)?,
        w_out: u(g.w_out)?,
        size: u(g.size)?,
        stride: u(g.stride)?,
        _pad: 0,
        f,
    })
}

/// out = the binomial blur of x, sampled every `stride` cells (BlurPool). Overwrites out.
pub fn blur_forward(
    ctx: &GpuContext,
    out: &GpuBuffer,
    x: &GpuBuffer,
    g: &BlurGeom,
    n: usize,
) -> Result<Dispatch> {
    let (x, out) = ((x, n * g.in_len()), (out, n * g.out_len()));
    planar(ctx, Kernel::BlurForward, x, out, &blur_params(g, n)?)
}

/// dx += the adjoint of [`blur_forward`] applied to dout.
pub fn blur_backward(
    ctx: &GpuContext,
    dx: &GpuBuffer,
    dout: &GpuBuffer,
    g: &BlurGeom,
    n: usize,
) -> Result<Dispatch> {
    let (dout, dx) = ((dout, n * g.out_len()), (dx, n * g.in_len()));
    planar(ctx, Kernel::BlurBackward, dout, dx, &blur_params(g, n)?)
}
