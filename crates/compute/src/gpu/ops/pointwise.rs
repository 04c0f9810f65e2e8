//! Element-wise launchers: ReLU, add, dropout, concatenation.

use super::*;

fn len_params(len: usize) -> Result<LenParams> {
    Ok(LenParams {
        len: u(len)?,
        ..Default::default()
    })
}

/// y = max(x, 0) over `len` elements.
pub fn relu_forward(
    ctx: &GpuContext,
    y: &GpuBuffer,
    x: &GpuBuffer,
    len: usize,
) -> Result<Dispatch> {
    need("gpu relu_forward", "y", y, len)?;
    need("gpu relu_forward", "x", x, len)?;
    make(
        ctx,
        Kernel::ReluForward,
        &[x, y],
        &len_params(len)?,
        grid(ctx, len, WG)?,
    )
}

/// dx += dy where y > 0.
pub fn relu_backward(
    ctx: &GpuContext,
    dx: &GpuBuffer,
    dy: &GpuBuffer,
    y: &GpuBuffer,
    len: usize,
) -> Result<Dispatch> {
    for (what, b) in [("dx", dx), ("dy", dy), ("y", y)] {
        need("gpu relu_backward", what, b, len)?;
    }
    make(
        ctx,
        Kernel::ReluBackward,
        &[dy, y, dx],
        &len_params(len)?,
        grid(ctx, len, WG)?,
    )
}

/// dy = 0 where y ≤ 0, in place: the backward of a ReLU fused into conv2d or dense.
pub fn relu_mask(ctx: &GpuContext, dy: &GpuBuffer, y: &GpuBuffer, len: usize) -> Result<Dispatch> {
    need("gpu relu_mask", "dy", dy, len)?;
    need("gpu relu_mask", "y", y, len)?;
    make(
        ctx,
        Kernel::ReluMask,
        &[y, dy],
        &len_params(len)?,
        grid(ctx, len, WG)?,
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
    for (what, buf) in [("y", y), ("a", a), ("b", b)] {
        need("gpu add_forward", what, buf, len)?;
    }
    make(
        ctx,
        Kernel::AddForward,
        &[a, b, y],
        &len_params(len)?,
        grid(ctx, len, WG)?,
    )
}

/// dx += dy: the backward of add for one addend (and of flatten's copy).
pub fn add_backward(
    ctx: &GpuContext,
    dx: &GpuBuffer,
    dy: &GpuBuffer,
    len: usize,
) -> Result<Dispatch> {
    need("gpu add_backward", "dx", dx, len)?;
    need("gpu add_backward", "dy", dy, len)?;
    make(
        ctx,
        Kernel::AddBackward,
        &[dy, dx],
        &len_params(len)?,
        grid(ctx, len, WG)?,
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
    for (what, b) in [("y", y), ("mask", mask), ("x", x)] {
        need("gpu dropout_forward", what, b, len)?;
    }
    let p = dropout_params(len, rate, key)?;
    make(
        ctx,
        Kernel::DropoutForward,
        &[x, y, mask],
        &p,
        grid(ctx, len, WG)?,
    )
}

/// dx += dy · mask.
pub fn dropout_backward(
    ctx: &GpuContext,
    dx: &GpuBuffer,
    dy: &GpuBuffer,
    mask: &GpuBuffer,
    len: usize,
) -> Result<Dispatch> {
    for (what, b) in [("dx", dx), ("dy", dy), ("mask", mask)] {
        need("gpu dropout_backward", what, b, len)?;
    }
    make(
        ctx,
        Kernel::DropoutBackward,
        &[dy, mask, dx],
        &len_params(len)?,
        grid(ctx, len, WG)?,
    )
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
    need("gpu concat_forward", "y", y, n * total_len)?;
    need("gpu concat_forward", "part", part, n * part_len)?;
    let p = ConcatParams {
        n: u(n)?,
        part_len: u(part_len)?,
        total_len: u(total_len)?,
        offset: u(offset)?,
    };
    make(
        ctx,
        Kernel::ConcatForward,
        &[part, y],
        &p,
        grid(ctx, n * part_len, WG)?,
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
    need("gpu concat_backward", "dpart", dpart, n * part_len)?;
    need("gpu concat_backward", "dy", dy, n * total_len)?;
    let p = ConcatParams {
        n: u(n)?,
        part_len: u(part_len)?,
        total_len: u(total_len)?,
        offset: u(offset)?,
    };
    make(
        ctx,
        Kernel::ConcatBackward,
        &[dy, dpart],
        &p,
        grid(ctx, n * part_len, WG)?,
    )
}
