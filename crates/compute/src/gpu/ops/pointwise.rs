//! Element-wise launchers: ReLU, add, dropout, concatenation.

use super::*;

/// A kernel over `len` elements whose params are only that length, one thread each.
fn elementwise(
    ctx: &GpuContext,
    kernel: Kernel,
    binds: &[Bind<'_>],
    len: usize,
) -> Result<Dispatch> {
    let p = LenParams {
        len: u(len)?,
        ..Default::default()
    };
    launch(ctx, kernel, binds, &p, grid(ctx, len, WG)?)
}

/// y = max(x, 0) over `len` elements.
pub fn relu_forward(
    ctx: &GpuContext,
    y: &GpuBuffer,
    x: &GpuBuffer,
    len: usize,
) -> Result<Dispatch> {
    let binds = [("y", y, len), ("x", x, len)];
    elementwise(ctx, Kernel::ReluForward, &binds, len)
}

/// dx += dy where y > 0.
pub fn relu_backward(
    ctx: &GpuContext,
    dx: &GpuBuffer,
    dy: &GpuBuffer,
    y: &GpuBuffer,
    len: usize,
) -> Result<Dispatch> {
    let binds = [("dx", dx, len), ("dy", dy, len), ("y", y, len)];
    elementwise(ctx, Kernel::ReluBackward, &binds, len)
}

/// y = min(max(x, 0), 6).
pub fn relu6_forward(
    ctx: &GpuContext,
    y: &GpuBuffer,
    x: &GpuBuffer,
    len: usize,
) -> Result<Dispatch> {
    let binds = [("y", y, len), ("x", x, len)];
    elementwise(ctx, Kernel::Relu6Forward, &binds, len)
}

/// dx += dy where 0 < y < 6.
pub fn relu6_backward(
    ctx: &GpuContext,
    dx: &GpuBuffer,
    dy: &GpuBuffer,
    y: &GpuBuffer,
    len: usize,
) -> Result<Dispatch> {
    let binds = [("dx", dx, len), ("dy", dy, len), ("y", y, len)];
    elementwise(ctx, Kernel::Relu6Backward, &binds, len)
}

/// dy = 0 where y ≤ 0, in place: the backward of a ReLU fused into conv2d or dense.
pub fn relu_mask(ctx: &GpuContext, dy: &GpuBuffer, y: &GpuBuffer, len: usize) -> Result<Dispatch> {
    elementwise(
        ctx,
        Kernel::ReluMask,
        &[("dy", dy, len), ("y", y, len)],
        len,
    )
}

/// y = a + b.
pub fn add_forward(
    ctx: &GpuContext,
    y: &GpuBuffer,
    a: &GpuBuffer,
    b: &GpuBuffer,
    len: usize,
) -> Result<Dispatch> {
    let binds = [("y", y, len), ("a", a, len), ("b", b, len)];
    elementwise(ctx, Kernel::AddForward, &binds, len)
}

/// dx += dy: the backward of add for one addend (and of flatten's copy).
pub fn add_backward(
    ctx: &GpuContext,
    dx: &GpuBuffer,
    dy: &GpuBuffer,
    len: usize,
) -> Result<Dispatch> {
    elementwise(
        ctx,
        Kernel::AddBackward,
        &[("dx", dx, len), ("dy", dy, len)],
        len,
    )
}

/// The params of [`dropout_forward`] for one step's `key` (rate 0 is the identity).
pub fn dropout_params(len: usize, rate: f32, key: u64) -> Result<DropoutParams> {
    let keep = 1.0 - rate;
    Ok(DropoutParams {
        len: u(len)?,
        key_lo: key as u32,
        key_hi: (key >> 32) as u32,
        rate,
        scale: if keep > 0.0 { 1.0 / keep } else { 0.0 },
        ..Default::default()
    })
}

/// mask = 0 with probability `rate` else 1/(1 − rate), from `rng::dropout_uniform(key, i)`;
/// y = x · mask.
#[allow(clippy::too_many_arguments)]
pub fn dropout_forward(
    ctx: &GpuContext,
    y: &GpuBuffer,
    mask: &GpuBuffer,
    x: &GpuBuffer,
    len: usize,
    rate: f32,
    key: u64,
) -> Result<Dispatch> {
    let binds = [("y", y, len), ("mask", mask, len), ("x", x, len)];
    let p = dropout_params(len, rate, key)?;
    launch(ctx, Kernel::DropoutForward, &binds, &p, grid(ctx, len, WG)?)
}

/// dx += dy · mask.
pub fn dropout_backward(
    ctx: &GpuContext,
    dx: &GpuBuffer,
    dy: &GpuBuffer,
    mask: &GpuBuffer,
    len: usize,
) -> Result<Dispatch> {
    let binds = [("dx", dx, len), ("dy", dy, len), ("mask", mask, len)];
    elementwise(ctx, Kernel::DropoutBackward, &binds, len)
}

/// Copies `part` (`[n, part_len]`) into y (`[n, total_len]`) at `offset` within each row.
pub fn concat_forward(
    ctx: &GpuContext,
    y: &GpuBuffer,
    part: &GpuBuffer,
    n: usize,
    part_len: usize,
    total_len: usize,
    offset: usize,
) -> Result<Dispatch> {
    let binds = [("y", y, n * total_len), ("part", part, n * part_len)];
    concat(
        ctx,
        Kernel::ConcatForward,
        &binds,
        n,
        part_len,
        total_len,
        offset,
    )
}

/// dpart += its slice of dy.
pub fn concat_backward(
    ctx: &GpuContext,
    dpart: &GpuBuffer,
    dy: &GpuBuffer,
    n: usize,
    part_len: usize,
    total_len: usize,
    offset: usize,
) -> Result<Dispatch> {
    let binds = [("dpart", dpart, n * part_len), ("dy", dy, n * total_len)];
    concat(
        ctx,
        Kernel::ConcatBackward,
        &binds,
        n,
        part_len,
        total_len,
        offset,
    )
}

/// Either concatenation pass: one thread per element of the part.
fn concat(
    ctx: &GpuContext,
    kernel: Kernel,
    binds: &[Bind<'_>],
    n: usize,
    part_len: usize,
    total_len: usize,
    offset: usize,
) -> Result<Dispatch> {
    let p = ConcatParams {
        n: u(n)?,
        part_len: u(part_len)?,
        total_len: u(total_len)?,
        offset: u(offset)?,
    };
    launch(ctx, kernel, binds, &p, grid(ctx, n * part_len, WG)?)
}
