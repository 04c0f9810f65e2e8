//! Convolution launchers: the direct implicit-GEMM kernels (tiled on hardware GPUs, register-
//! blocked or strip kernels on software adapters), the weight gradient's split reduction, the bias
//! gradient, and the `_auto` entry points that pick Winograd where it applies ([`super::winograd`]).

use super::*;

/// Whether a convolution runs on the stride-1 strip kernels (`conv_strip_common.wgsl`,
/// `conv2d_backward_weight_strip.wgsl`): on a software adapter, where they do more multiply-adds
/// per load, in longer loops, than the generic register kernels.
fn strip(ctx: &GpuContext, g: &Conv2dGeom) -> bool {
    ctx.gemm() == Gemm::Registers && g.stride == 1
}

fn conv_params(g: &Conv2dGeom, n: usize, w_off: usize, b_off: Option<usize>) -> Result<ConvParams> {
    Ok(ConvParams {
        n: u(n)?,
        c_in: u(g.c_in)?,
        h_in: u(g.h_in)?,
        w_in: u(g.w_in)?,
        c_out: u(g.c_out)?,
        h_out: u(g.h_out)?,
        w_out: u(g.w_out)?,
        kh: u(g.kh)?,
        kw: u(g.kw)?,
        stride: u(g.stride)?,
        pad_top: u(g.pad_top)?,
        pad_left: u(g.pad_left)?,
        groups: u(g.groups)?,
        w_off: u(w_off)?,
        b_off: u(b_off.unwrap_or(0))?,
        has_bias: b_off.is_some() as u32,
        ..Default::default()
    })
}

/// out = conv(x, w) + b, ReLU fused when `relu`. Overwrites out.
/// x: `[n, c_in, h_in, w_in]`, `wb` holds w `[c_out, c_in/groups, kh, kw]` at `w_off` and
/// b `[c_out]` at `b_off`, out: `[n, c_out, h_out, w_out]`.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_forward(
    ctx: &GpuContext,
    out: &GpuBuffer,
    x: &GpuBuffer,
    wb: &GpuBuffer,
    w_off: usize,
    b_off: Option<usize>,
    g: &Conv2dGeom,
    n: usize,
    relu: bool,
) -> Result<Dispatch> {
    let (out, x) = ((out, n * g.out_len()), (x, n * g.in_len()));
    let wb = (wb, conv_wb_len(g, w_off, b_off));
    let p = ConvParams {
        relu: relu as u32,
        ..conv_params(g, n, w_off, b_off)?
    };
    if strip(ctx, g) {
        let threads = g.h_out * g.w_out.div_ceil(8) * g.c_out_g().div_ceil(8);
        let groups = strip_grid(ctx, threads, n * g.groups)?;
        return strip_pass(ctx, Kernel::Conv2dForwardStrip, out, x, wb, &p, groups);
    }
    let groups = gemm_grid(ctx, g.c_out_g(), g.h_out * g.w_out, n * g.groups)?;
    let binds = [("out", out.0, out.1), ("x", x.0, x.1), ("wb", wb.0, wb.1)];
    launch(ctx, Kernel::Conv2dForward, &binds, &p, groups)
}

/// dx += convᵀ(dout, w). Shapes as [`conv2d_forward`].
pub fn conv2d_backward_input(
    ctx: &GpuContext,
    dx: &GpuBuffer,
    dout: &GpuBuffer,
    wb: &GpuBuffer,
    w_off: usize,
    g: &Conv2dGeom,
    n: usize,
) -> Result<Dispatch> {
    let (dx, dout) = ((dx, n * g.in_len()), (dout, n * g.out_len()));
    let wb = (wb, conv_wb_len(g, w_off, None));
    let p = conv_params(g, n, w_off, None)?;
    if strip(ctx, g) {
        let threads = g.h_in * g.w_in.div_ceil(8) * g.c_in_g().div_ceil(8);
        let groups = strip_grid(ctx, threads, n * g.groups)?;
        return strip_pass(
            ctx,
            Kernel::Conv2dBackwardInputStrip,
            dx,
            dout,
            wb,
            &p,
            groups,
        );
    }
    let groups = gemm_grid(ctx, g.c_in_g(), g.h_in * g.w_in, n * g.groups)?;
    let binds = [
        ("dx", dx.0, dx.1),
        ("dout", dout.0, dout.1),
        ("wb", wb.0, wb.1),
    ];
    launch(ctx, Kernel::Conv2dBackwardInput, &binds, &p, groups)
}

/// The elements of the parameter buffer a convolution reads: its weights at `w_off` and its bias
/// at `b_off`.
fn conv_wb_len(g: &Conv2dGeom, w_off: usize, b_off: Option<usize>) -> usize {
    (w_off + g.weight_len()).max(b_off.map_or(0, |b| b + g.c_out))
}

/// A pass of a stride-1 strip kernel (`conv_strip_common.wgsl`): `dst` from `src` and the weights.
fn strip_pass(
    ctx: &GpuContext,
    kernel: Kernel,
    (dst, dst_len): (&GpuBuffer, usize),
    (src, src_len): (&GpuBuffer, usize),
    (wb, wb_len): (&GpuBuffer, usize),
    p: &ConvParams,
    groups: [u32; 3],
) -> Result<Dispatch> {
    let binds = [
        ("dst", dst, dst_len),
        ("src", src, src_len),
        ("wb", wb, wb_len),
    ];
    launch(ctx, kernel, &binds, p, groups)
}

/// A convolution's forward as a model runs it: Winograd where [`winograd`] says so (through
/// `scratch`), else [`conv2d_forward`].
#[allow(clippy::too_many_arguments)]
pub fn conv2d_forward_auto(
    ctx: &GpuContext,
    out: &GpuBuffer,
    x: &GpuBuffer,
    wb: &GpuBuffer,
    scratch: &WinogradScratch,
    w_off: usize,
    b_off: Option<usize>,
    g: &Conv2dGeom,
    n: usize,
    relu: bool,
) -> Result<Vec<Dispatch>> {
    if winograd(ctx, g, false) {
        conv2d_forward_winograd(ctx, out, x, wb, scratch, w_off, b_off, g, n, relu)
    } else {
        Ok(vec![conv2d_forward(
            ctx, out, x, wb, w_off, b_off, g, n, relu,
        )?])
    }
}

/// A convolution's input gradient as a model runs it: Winograd where [`winograd`] says so
/// (through `scratch`), else [`conv2d_backward_input`].
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward_input_auto(
    ctx: &GpuContext,
    dx: &GpuBuffer,
    dout: &GpuBuffer,
    wb: &GpuBuffer,
    scratch: &WinogradScratch,
    w_off: usize,
    g: &Conv2dGeom,
    n: usize,
) -> Result<Vec<Dispatch>> {
    if winograd(ctx, g, true) {
        conv2d_backward_input_winograd(ctx, dx, dout, wb, scratch, w_off, g, n)
    } else {
        Ok(vec![conv2d_backward_input(ctx, dx, dout, wb, w_off, g, n)?])
    }
}

/// A convolution's weight gradient as a model runs it: Winograd where [`winograd_weight`] says
/// so (through `scratch`), else [`conv2d_backward_weight`] (through `part`).
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward_weight_auto(
    ctx: &GpuContext,
    grads: &GpuBuffer,
    part: &GpuBuffer,
    scratch: &WinogradScratch,
    dout: &GpuBuffer,
    x: &GpuBuffer,
    w_off: usize,
    g: &Conv2dGeom,
    n: usize,
) -> Result<Vec<Dispatch>> {
    if winograd_weight(ctx, g) {
        conv2d_backward_weight_winograd(ctx, grads, scratch, dout, x, w_off, g, n)
    } else {
        Ok(conv2d_backward_weight(ctx, grads, part, dout, x, w_off, g, n)?.into())
    }
}

/// How conv2d_backward_weight cuts its reduction over (image, output pixel): `(splits, split_len)`.
pub fn conv2d_weight_splits(g: &Conv2dGeom, n: usize) -> (usize, usize) {
    let total = (n * g.h_out * g.w_out).max(1);
    // Enough chunks to keep many workgroups busy, each still a long run of TILE_K slabs; and
    // none longer than 32,768 pixels, since lavapipe silently ends an invocation's loops after
    // 65,535 iterations in all (the strip kernel walks a whole chunk in one thread).
    let splits = total
        .div_ceil(2048)
        .clamp(1, 64)
        .max(total.div_ceil(32_768));
    let split_len = total.div_ceil(splits).div_ceil(TILE_K as usize) * TILE_K as usize;
    (total.div_ceil(split_len), split_len)
}

/// How the strip kernel cuts the same reduction: into whole output rows (image, oy),
/// `(splits, rows per split)`, never more splits than [`conv2d_weight_splits`] (whose scratch
/// size holds for both).
fn conv2d_weight_strip_splits(g: &Conv2dGeom, n: usize) -> (usize, usize) {
    let rows = (n * g.h_out).max(1);
    let rows_per = rows.div_ceil(conv2d_weight_splits(g, n).0.min(rows));
    (rows.div_ceil(rows_per), rows_per)
}

/// Floats of the scratch buffer conv2d_backward_weight needs.
pub fn conv2d_weight_scratch(g: &Conv2dGeom, n: usize) -> usize {
    conv2d_weight_splits(g, n).0 * g.weight_len()
}

/// dw += dout ⋆ x (dw at `w_off` of `grads`), in two passes through `part`
/// ([`conv2d_weight_scratch`] floats). The bias gradient is [`bias_backward`]'s.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward_weight(
    ctx: &GpuContext,
    grads: &GpuBuffer,
    part: &GpuBuffer,
    dout: &GpuBuffer,
    x: &GpuBuffer,
    w_off: usize,
    g: &Conv2dGeom,
    n: usize,
) -> Result<[Dispatch; 2]> {
    let [dout, x] = [("dout", dout, n * g.out_len()), ("x", x, n * g.in_len())];
    let part = ("part", part, conv2d_weight_scratch(g, n));
    let binds = [dout, x, part];
    let strip = strip(ctx, g);
    let (splits, split_len) = if strip {
        conv2d_weight_strip_splits(g, n)
    } else {
        conv2d_weight_splits(g, n)
    };
    let p = ConvParams {
        splits: u(splits)?,
        split_len: u(split_len)?,
        ..conv_params(g, n, w_off, None)?
    };
    let (kernel, groups) = if strip {
        let threads = (g.c_in_g() * g.kh).div_ceil(2) * g.kw.div_ceil(4) * g.c_out_g().div_ceil(8);
        let groups = strip_grid(ctx, threads, g.groups * splits)?;
        (Kernel::Conv2dBackwardWeightStrip, groups)
    } else {
        let k = g.c_in_g() * g.kh * g.kw;
        let groups = gemm_grid(ctx, g.c_out_g(), k, g.groups * splits)?;
        (Kernel::Conv2dBackwardWeight, groups)
    };
    let first = launch(ctx, kernel, &binds, &p, groups)?;
    let dw = ("grads", grads, w_off + g.weight_len());
    let groups = grid(ctx, g.weight_len(), WG)?;
    let second = launch(
        ctx,
        Kernel::Conv2dBackwardWeightReduce,
        &[part, dw],
        &p,
        groups,
    )?;
    Ok([first, second])
}

/// db[c] += Σ dy[i, c, :] over images and the `plane` cells of each channel; db at `b_off` of
/// `grads`. dy: `[n, c, plane]`.
pub fn bias_backward(
    ctx: &GpuContext,
    grads: &GpuBuffer,
    dy: &GpuBuffer,
    b_off: usize,
    c: usize,
    plane: usize,
    n: usize,
) -> Result<Dispatch> {
    let binds = [("grads", grads, b_off + c), ("dy", dy, n * c * plane)];
    let p = BiasParams {
        n: u(n)?,
        c: u(c)?,
        plane: u(plane)?,
        b_off: u(b_off)?,
    };
    launch(ctx, Kernel::BiasBackward, &binds, &p, [u(c)?, 1, 1])
}
