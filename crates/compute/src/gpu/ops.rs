//! The primitive-level API: one function per CPU primitive, with the CPU's argument order
//! (outputs first, gradients prefixed `d`). Each checks its buffers' sizes and returns the
//! [`Dispatch`]es that run it; nothing is recorded until [`GpuContext::submit`] (or a caller's
//! own pass) records them, so a model builds its dispatches once and replays them every step.
//!
//! Parameters live in one flat buffer: weight and bias arguments are that buffer plus element
//! offsets, exactly as `graph.params` lays them out.

use bytemuck::Pod;

use super::kernels::*;
use super::{GpuBuffer, GpuContext};
pub use crate::backend::BatchNormAt;
use crate::error::{Error, Result};
use crate::ops::batchnorm::BatchNormGeom;
use crate::ops::blur::{BlurGeom, MAX_BLUR_SIZE, binomial};
use crate::ops::conv2d::Conv2dGeom;
use crate::ops::dense::DenseGeom;
use crate::ops::pad::{PadGeom, PadMode};
use crate::ops::pool::PoolGeom;
use crate::optim::OptimizerSpec;

/// One compute dispatch: a pipeline, its bind group (buffers + params uniform) and its grid.
#[derive(Debug)]
pub struct Dispatch {
    pub kernel: Kernel,
    pub bind: wgpu::BindGroup,
    /// The uniform the shader reads its params from; [`Dispatch::set_params`] rewrites it.
    pub params: wgpu::Buffer,
    pub groups: [u32; 3],
}

impl Dispatch {
    pub(crate) fn record(&self, ctx: &GpuContext, pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(ctx.pipeline(self.kernel));
        pass.set_bind_group(0, &self.bind, &[]);
        let [x, y, z] = self.groups;
        pass.dispatch_workgroups(x, y, z);
    }

    /// Queues new params (same struct) for the next submission.
    pub fn set_params<T: Pod>(&self, ctx: &GpuContext, p: &T) {
        ctx.queue
            .write_buffer(&self.params, 0, bytemuck::bytes_of(p));
    }
}

fn u(v: usize) -> Result<u32> {
    u32::try_from(v)
        .map_err(|_| Error::Gpu(format!("size {v} does not fit the GPU's 32-bit indices")))
}

fn need(op: &'static str, what: &str, b: &GpuBuffer, len: usize) -> Result<()> {
    if b.len < len {
        return Err(Error::ShapeMismatch {
            op,
            expected: format!("{what} of at least {len} elements"),
            got: b.len.to_string(),
        });
    }
    Ok(())
}

fn make<T: Pod>(
    ctx: &GpuContext,
    kernel: Kernel,
    buffers: &[&GpuBuffer],
    params: &T,
    groups: [u32; 3],
) -> Result<Dispatch> {
    let max = ctx.limits.max_compute_workgroups_per_dimension;
    if groups.iter().any(|&g| g > max) {
        return Err(Error::Gpu(format!(
            "{kernel:?}: a grid of {groups:?} workgroups exceeds the device's {max} per dimension (use a smaller batch)"
        )));
    }
    let bytes = bytemuck::bytes_of(params);
    let params_buf = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("params"),
        size: bytes.len().div_ceil(16).max(1) as u64 * 16,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    ctx.queue.write_buffer(&params_buf, 0, bytes);
    let mut entries: Vec<wgpu::BindGroupEntry> = buffers
        .iter()
        .enumerate()
        .map(|(i, b)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: b.buf.as_entire_binding(),
        })
        .collect();
    entries.push(wgpu::BindGroupEntry {
        binding: buffers.len() as u32,
        resource: params_buf.as_entire_binding(),
    });
    let bind = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("bind"),
        layout: &ctx.pipeline(kernel).get_bind_group_layout(0),
        entries: &entries,
    });
    Ok(Dispatch {
        kernel,
        bind,
        params: params_buf,
        groups,
    })
}

/// A 1-D grid of `threads` threads in workgroups of `wg`, folded into 2-D past 65535 workgroups
/// (the shaders index `gid.x + gid.y · nwg.x · wg`).
fn grid(ctx: &GpuContext, threads: usize, wg: u32) -> Result<[u32; 3]> {
    let groups = u(threads.div_ceil(wg as usize).max(1))?;
    let max = ctx.limits.max_compute_workgroups_per_dimension.max(1);
    Ok(if groups <= max {
        [groups, 1, 1]
    } else {
        [max, groups.div_ceil(max), 1]
    })
}

fn gemm_grid(ctx: &GpuContext, m: usize, n: usize, z: usize) -> Result<[u32; 3]> {
    let (tm, tn) = ctx.gemm().tile();
    Ok([
        u(n.div_ceil(tn as usize).max(1))?,
        u(m.div_ceil(tm as usize).max(1))?,
        u(z.max(1))?,
    ])
}

/// Whether a convolution runs on the stride-1 strip kernels (`conv_strip_common.wgsl`,
/// `conv2d_backward_weight_strip.wgsl`): on a software adapter, where they do more multiply-adds
/// per load, in longer loops, than the generic register kernels.
fn strip(ctx: &GpuContext, g: &Conv2dGeom) -> bool {
    ctx.gemm() == Gemm::Registers && g.stride == 1
}

/// The grid of the strip kernels: `threads` in workgroups of 64 (folded as [`grid`] does) for each
/// of `z` (image, group) or (group, chunk) pairs.
fn strip_grid(ctx: &GpuContext, threads: usize, z: usize) -> Result<[u32; 3]> {
    let [x, y, _] = grid(ctx, threads, 64)?;
    Ok([x, y, u(z.max(1))?])
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
    const OP: &str = "gpu conv2d_forward";
    need(OP, "out", out, n * g.out_len())?;
    need(OP, "x", x, n * g.in_len())?;
    need(OP, "w", wb, w_off + g.weight_len())?;
    if let Some(b) = b_off {
        need(OP, "b", wb, b + g.c_out)?;
    }
    let p = ConvParams {
        relu: relu as u32,
        ..conv_params(g, n, w_off, b_off)?
    };
    if strip(ctx, g) {
        let threads = g.h_out * g.w_out.div_ceil(8) * g.c_out_g().div_ceil(8);
        let groups = strip_grid(ctx, threads, n * g.groups)?;
        return make(ctx, Kernel::Conv2dForwardStrip, &[x, wb, out], &p, groups);
    }
    let groups = gemm_grid(ctx, g.c_out_g(), g.h_out * g.w_out, n * g.groups)?;
    make(ctx, Kernel::Conv2dForward, &[x, wb, out], &p, groups)
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
    const OP: &str = "gpu conv2d_backward_input";
    need(OP, "dx", dx, n * g.in_len())?;
    need(OP, "dout", dout, n * g.out_len())?;
    need(OP, "w", wb, w_off + g.weight_len())?;
    let p = conv_params(g, n, w_off, None)?;
    if strip(ctx, g) {
        let threads = g.h_in * g.w_in.div_ceil(8) * g.c_in_g().div_ceil(8);
        let groups = strip_grid(ctx, threads, n * g.groups)?;
        return make(
            ctx,
            Kernel::Conv2dBackwardInputStrip,
            &[dout, wb, dx],
            &p,
            groups,
        );
    }
    let groups = gemm_grid(ctx, g.c_in_g(), g.h_in * g.w_in, n * g.groups)?;
    make(
        ctx,
        Kernel::Conv2dBackwardInput,
        &[dout, wb, dx],
        &p,
        groups,
    )
}

/// The scratch of the Winograd convolutions ([`conv2d_forward_winograd`],
/// [`conv2d_backward_input_winograd`]): transformed weights `u`, transformed source blocks `v`
/// and their products `m` (`winograd_common.wgsl`). [`conv2d_backward_weight_winograd`] uses
/// the forward's sizes: x's blocks in `v`, dout's in `m`, the summed products in `u`.
/// [`winograd_scratch`] gives the sizes.
#[derive(Debug)]
pub struct WinogradScratch {
    pub u: GpuBuffer,
    pub v: GpuBuffer,
    pub m: GpuBuffer,
}

impl WinogradScratch {
    pub fn new(ctx: &GpuContext, [u, v, m]: [usize; 3]) -> Self {
        Self {
            u: GpuBuffer::zeros(ctx, "Winograd weights", u.max(1)),
            v: GpuBuffer::zeros(ctx, "Winograd source blocks", v.max(1)),
            m: GpuBuffer::zeros(ctx, "Winograd products", m.max(1)),
        }
    }
}

/// The floats (2^22, 16 MiB) one chunk of images may take in `v` or `m`, before `tp` is rounded
/// up to a multiple of 8: a large batch runs in several chunks rather than needing buffers the
/// device may not allow, and a layer whose one image (or whose transformed kernels) needs more
/// does not run as Winograd.
const WINOGRAD_CHUNK_FLOATS: usize = 1 << 22;

/// The most 2×2 blocks one chunk holds (2^22 / (16 · 8): what the 8-channel minimum allows).
const WINOGRAD_MAX_BLOCKS: usize = 1 << 15;

/// One direction of a Winograd convolution: the correlation from source (x, or dout) to
/// destination (out, or dx), with the weight index's affine form as in `conv_strip_common.wgsl`.
struct WinogradPass {
    cs: usize,
    hs: usize,
    ws: usize,
    cd: usize,
    hd: usize,
    wd: usize,
    pad_y: usize,
    pad_x: usize,
    w_base: usize,
    s_m: i32,
    s_c: i32,
    s_y: i32,
    s_x: i32,
}

impl WinogradPass {
    /// `None` where Winograd F(2×2, 3×3) does not apply: it needs a 3×3 kernel at stride 1
    /// without groups, at least 8 source channels (the product's loop runs over them; the
    /// first layer's single channel stays on the strip kernel), and one image's transformed
    /// blocks and the transformed kernels each within [`WINOGRAD_CHUNK_FLOATS`].
    fn new(g: &Conv2dGeom, backward_input: bool, w_off: usize) -> Option<Self> {
        let fits = g.kh == 3 && g.kw == 3 && g.stride == 1 && g.groups == 1;
        if !fits || g.pad_top > 2 || g.pad_left > 2 {
            return None;
        }
        let pass = if backward_input {
            // dout → dx: pad 2 − pad, weight (m = input channel, c = output channel) flipped.
            WinogradPass {
                cs: g.c_out,
                hs: g.h_out,
                ws: g.w_out,
                cd: g.c_in,
                hd: g.h_in,
                wd: g.w_in,
                pad_y: 2 - g.pad_top,
                pad_x: 2 - g.pad_left,
                w_base: w_off + 8,
                s_m: 9,
                s_c: 9 * g.c_in as i32,
                s_y: -3,
                s_x: -1,
            }
        } else {
            WinogradPass {
                cs: g.c_in,
                hs: g.h_in,
                ws: g.w_in,
                cd: g.c_out,
                hd: g.h_out,
                wd: g.w_out,
                pad_y: g.pad_top,
                pad_x: g.pad_left,
                w_base: w_off,
                s_m: 9 * g.c_in as i32,
                s_c: 9,
                s_y: 3,
                s_x: 1,
            }
        };
        // One image's blocks, and the transformed kernels, must fit a chunk's scratch; a larger
        // layer stays on the strip kernels rather than needing buffers past a device's limits.
        let one_image = 16 * pass.cs.max(pass.cd) * pass.tiles();
        let kernels = 16 * pass.cs * pass.cd;
        let fits = one_image <= WINOGRAD_CHUNK_FLOATS && kernels <= WINOGRAD_CHUNK_FLOATS;
        (pass.cs >= 8 && fits).then_some(pass)
    }

    /// 2×2 destination blocks per image.
    fn tiles(&self) -> usize {
        self.hd.div_ceil(2) * self.wd.div_ceil(2)
    }

    /// The uniform of this pass, over `extra`'s chunk and flags.
    fn params(&self, extra: WinogradParams) -> Result<WinogradParams> {
        Ok(WinogradParams {
            cs: u(self.cs)?,
            hs: u(self.hs)?,
            ws: u(self.ws)?,
            cd: u(self.cd)?,
            hd: u(self.hd)?,
            wd: u(self.wd)?,
            pad_y: u(self.pad_y)?,
            pad_x: u(self.pad_x)?,
            tiles_x: u(self.wd.div_ceil(2))?,
            tiles: u(self.tiles())?,
            w_base: u(self.w_base)?,
            s_m: self.s_m,
            s_c: self.s_c,
            s_y: self.s_y,
            s_x: self.s_x,
            ..extra
        })
    }

    /// The first pass of a chunk `(img0, nimg, tp)` of [`WinogradPass::chunks`]: `p` set to the
    /// chunk, and the transform of its source blocks into `scratch.v`.
    fn chunk_input(
        &self,
        ctx: &GpuContext,
        src: &GpuBuffer,
        scratch: &WinogradScratch,
        p: &WinogradParams,
        (img0, nimg, tp): (usize, usize, usize),
    ) -> Result<(WinogradParams, Dispatch)> {
        let p = WinogradParams {
            img0: u(img0)?,
            nimg: u(nimg)?,
            tp: u(tp)?,
            ..*p
        };
        let d = make(
            ctx,
            Kernel::Conv2dWinogradInput,
            &[src, &scratch.v],
            &p,
            grid(ctx, self.cs * tp, 64)?,
        )?;
        Ok((p, d))
    }

    /// The chunks of `n` images `scratch` holds at once, as `(first image, images, tp)` (none
    /// for no images), after checking `u` holds the 16 transformed kernels of every channel
    /// pair.
    fn chunks(
        &self,
        op: &'static str,
        scratch: &WinogradScratch,
        n: usize,
    ) -> Result<Vec<(usize, usize, usize)>> {
        need(op, "Winograd weights", &scratch.u, 16 * self.cs * self.cd)?;
        if n == 0 {
            return Ok(Vec::new());
        }
        let tiles = self.tiles();
        let fit = (scratch.v.len / (16 * self.cs)).min(scratch.m.len / (16 * self.cd)) / 8 * 8;
        // At most 32,768 blocks a chunk whatever the scratch: the weight gradient's product
        // loops over them, and lavapipe ends an invocation's loops after 65,535 iterations.
        let fit = fit.min(WINOGRAD_MAX_BLOCKS);
        let per_chunk = (fit / tiles).min(n);
        if per_chunk == 0 {
            return Err(Error::ShapeMismatch {
                op,
                expected: format!("Winograd scratch for {tiles} blocks of an image"),
                got: format!("room for {fit}"),
            });
        }
        Ok((0..n)
            .step_by(per_chunk)
            .map(|img0| {
                let nimg = per_chunk.min(n - img0);
                (img0, nimg, (nimg * tiles).next_multiple_of(8))
            })
            .collect())
    }

    /// The scratch floats `[u, v, m]` for batches of up to `n`.
    fn scratch(&self, n: usize) -> [usize; 3] {
        let per_image = 16 * self.cs.max(self.cd) * self.tiles();
        let images = (WINOGRAD_CHUNK_FLOATS / per_image).clamp(1, n.max(1));
        let tp = (images * self.tiles()).next_multiple_of(8);
        [16 * self.cs * self.cd, 16 * self.cs * tp, 16 * self.cd * tp]
    }
}

/// Whether an adapter whose GEMM body is `gemm` runs Winograd where it applies: a software one
/// (Gemm::Registers), where multiply-adds are what a pass pays for and Winograd does 16 per 2×2
/// block and channel pair instead of 36. Hardware GPUs keep the tiled body (not measured here).
pub fn winograd_runs_on(gemm: Gemm) -> bool {
    gemm == Gemm::Registers
}

/// Whether a convolution's forward (or, `backward_input`, its input gradient) runs as
/// Winograd F(2×2, 3×3) on this device ([`winograd_runs_on`]).
pub fn winograd(ctx: &GpuContext, g: &Conv2dGeom, backward_input: bool) -> bool {
    winograd_runs_on(ctx.gemm()) && WinogradPass::new(g, backward_input, 0).is_some()
}

/// The floats `[u, v, m]` of [`WinogradScratch`] both Winograd passes of a convolution need at
/// batches of up to `n` (zeros where neither applies).
pub fn winograd_scratch(g: &Conv2dGeom, n: usize) -> [usize; 3] {
    [false, true]
        .into_iter()
        .filter_map(|backward_input| WinogradPass::new(g, backward_input, 0))
        .fold([0; 3], |need, pass| larger_scratch(need, pass.scratch(n)))
}

/// The element-wise larger of two `[u, v, m]` scratch sizes: one scratch serving both.
pub fn larger_scratch(a: [usize; 3], b: [usize; 3]) -> [usize; 3] {
    std::array::from_fn(|i| a[i].max(b[i]))
}

/// The four passes of `winograd_common.wgsl` over `n` images, the last three once per chunk of
/// images that fits the scratch.
#[allow(clippy::too_many_arguments)]
fn winograd_passes(
    ctx: &GpuContext,
    op: &'static str,
    dst: &GpuBuffer,
    src: &GpuBuffer,
    wb: &GpuBuffer,
    scratch: &WinogradScratch,
    pass: &WinogradPass,
    n: usize,
    params: WinogradParams,
) -> Result<Vec<Dispatch>> {
    let chunks = pass.chunks(op, scratch, n)?;
    if chunks.is_empty() {
        return Ok(Vec::new());
    }
    let p = pass.params(params)?;
    let mut out = vec![make(
        ctx,
        Kernel::Conv2dWinogradWeights,
        &[wb, &scratch.u],
        &p,
        grid(ctx, pass.cd * pass.cs, 64)?,
    )?];
    for chunk in chunks {
        let (p, input) = pass.chunk_input(ctx, src, scratch, &p, chunk)?;
        let (_, nimg, tp) = chunk;
        out.push(input);
        out.push(make(
            ctx,
            Kernel::Conv2dWinogradGemm,
            &[&scratch.u, &scratch.v, &scratch.m],
            &p,
            strip_grid(ctx, pass.cd.div_ceil(8) * tp / 8, 16)?,
        )?);
        out.push(make(
            ctx,
            Kernel::Conv2dWinogradOutput,
            &[&scratch.m, wb, dst],
            &p,
            grid(ctx, pass.cd * nimg * pass.tiles(), 64)?,
        )?);
    }
    Ok(out)
}

/// [`conv2d_forward`] as Winograd F(2×2, 3×3) through `scratch`, where [`winograd`] says so.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_forward_winograd(
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
    const OP: &str = "gpu conv2d_forward (Winograd)";
    need(OP, "out", out, n * g.out_len())?;
    need(OP, "x", x, n * g.in_len())?;
    need(OP, "w", wb, w_off + g.weight_len())?;
    if let Some(b) = b_off {
        need(OP, "b", wb, b + g.c_out)?;
    }
    let pass = WinogradPass::new(g, false, w_off).ok_or_else(|| not_winograd(OP, g))?;
    let p = WinogradParams {
        b_off: u(b_off.unwrap_or(0))?,
        has_bias: b_off.is_some() as u32,
        relu: relu as u32,
        ..Default::default()
    };
    winograd_passes(ctx, OP, out, x, wb, scratch, &pass, n, p)
}

/// [`conv2d_backward_input`] (dx += convᵀ(dout, w)) as Winograd F(2×2, 3×3) through `scratch`,
/// where [`winograd`] says so.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward_input_winograd(
    ctx: &GpuContext,
    dx: &GpuBuffer,
    dout: &GpuBuffer,
    wb: &GpuBuffer,
    scratch: &WinogradScratch,
    w_off: usize,
    g: &Conv2dGeom,
    n: usize,
) -> Result<Vec<Dispatch>> {
    const OP: &str = "gpu conv2d_backward_input (Winograd)";
    need(OP, "dx", dx, n * g.in_len())?;
    need(OP, "dout", dout, n * g.out_len())?;
    need(OP, "w", wb, w_off + g.weight_len())?;
    let pass = WinogradPass::new(g, true, w_off).ok_or_else(|| not_winograd(OP, g))?;
    let p = WinogradParams {
        accumulate: 1,
        ..Default::default()
    };
    winograd_passes(ctx, OP, dx, dout, wb, scratch, &pass, n, p)
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

/// Whether a convolution's weight gradient runs as Winograd on this device: as [`winograd`]'s
/// forward, with at least 8 output channels too (each thread owns 8 × 8 channel pairs).
pub fn winograd_weight(ctx: &GpuContext, g: &Conv2dGeom) -> bool {
    winograd_runs_on(ctx.gemm()) && WinogradPass::new(g, false, 0).is_some_and(|p| p.cd >= 8)
}

/// dw += dout ⋆ x (dw at `w_off` of `grads`) as Winograd F(2×2, 3×3) run backwards through
/// `scratch`: per chunk of images the forward's transform of x (V), the transform of dout's
/// 2×2 blocks (E = A dY Aᵀ) and the sixteen products Σ_blocks E·Vᵀ, summed over chunks; then
/// dw += Gᵀ (·) G. The bias gradient is [`bias_backward`]'s.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward_weight_winograd(
    ctx: &GpuContext,
    grads: &GpuBuffer,
    scratch: &WinogradScratch,
    dout: &GpuBuffer,
    x: &GpuBuffer,
    w_off: usize,
    g: &Conv2dGeom,
    n: usize,
) -> Result<Vec<Dispatch>> {
    const OP: &str = "gpu conv2d_backward_weight (Winograd)";
    need(OP, "dw", grads, w_off + g.weight_len())?;
    need(OP, "dout", dout, n * g.out_len())?;
    need(OP, "x", x, n * g.in_len())?;
    let pass = WinogradPass::new(g, false, w_off)
        .filter(|p| p.cd >= 8)
        .ok_or_else(|| not_winograd(OP, g))?;
    let chunks = pass.chunks(OP, scratch, n)?;
    if chunks.is_empty() {
        // No images: nothing to add (the last pass would add whatever `u` last held).
        return Ok(Vec::new());
    }
    let p = pass.params(WinogradParams::default())?;
    let mut out = Vec::new();
    for chunk in chunks {
        let (img0, _, tp) = chunk;
        // The first chunk's products overwrite what `u` held, the next ones add.
        let p = WinogradParams {
            accumulate: (img0 > 0) as u32,
            ..p
        };
        let (p, input) = pass.chunk_input(ctx, x, scratch, &p, chunk)?;
        out.push(input);
        out.push(make(
            ctx,
            Kernel::Conv2dWinogradDout,
            &[dout, &scratch.m],
            &p,
            grid(ctx, pass.cd * tp, 64)?,
        )?);
        out.push(make(
            ctx,
            Kernel::Conv2dWinogradWeightGemm,
            &[&scratch.m, &scratch.v, &scratch.u],
            &p,
            strip_grid(ctx, pass.cd.div_ceil(8) * pass.cs.div_ceil(8), 16)?,
        )?);
    }
    out.push(make(
        ctx,
        Kernel::Conv2dWinogradWeightOutput,
        &[&scratch.u, grads],
        &p,
        grid(ctx, pass.cd * pass.cs, 64)?,
    )?);
    Ok(out)
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

fn not_winograd(op: &'static str, g: &Conv2dGeom) -> Error {
    Error::ShapeMismatch {
        op,
        expected: "a 3×3 kernel at stride 1, one group, at least 8 channels on the summed side \
                   (on both for the weight gradient), and at most 16 MiB of transformed blocks \
                   per image and of transformed kernels"
            .into(),
        got: format!("{g:?}"),
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
    const OP: &str = "gpu conv2d_backward_weight";
    need(OP, "dw", grads, w_off + g.weight_len())?;
    need(OP, "scratch", part, conv2d_weight_scratch(g, n))?;
    need(OP, "dout", dout, n * g.out_len())?;
    need(OP, "x", x, n * g.in_len())?;
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
    let first = if strip {
        let threads = (g.c_in_g() * g.kh).div_ceil(2) * g.kw.div_ceil(4) * g.c_out_g().div_ceil(8);
        make(
            ctx,
            Kernel::Conv2dBackwardWeightStrip,
            &[dout, x, part],
            &p,
            strip_grid(ctx, threads, g.groups * splits)?,
        )?
    } else {
        let k = g.c_in_g() * g.kh * g.kw;
        make(
            ctx,
            Kernel::Conv2dBackwardWeight,
            &[dout, x, part],
            &p,
            gemm_grid(ctx, g.c_out_g(), k, g.groups * splits)?,
        )?
    };
    let second = make(
        ctx,
        Kernel::Conv2dBackwardWeightReduce,
        &[part, grads],
        &p,
        grid(ctx, g.weight_len(), WG)?,
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
    const OP: &str = "gpu bias_backward";
    need(OP, "db", grads, b_off + c)?;
    need(OP, "dy", dy, n * c * plane)?;
    let p = BiasParams {
        n: u(n)?,
        c: u(c)?,
        plane: u(plane)?,
        b_off: u(b_off)?,
    };
    make(ctx, Kernel::BiasBackward, &[dy, grads], &p, [u(c)?, 1, 1])
}

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

/// probs = softmax(logits); metrics[2·slot] = mean loss, metrics[2·slot + 1] = correct count.
/// labels: `[n]` u32.
#[allow(clippy::too_many_arguments)]
pub fn softmax_ce_forward(
    ctx: &GpuContext,
    probs: &GpuBuffer,
    metrics: &GpuBuffer,
    logits: &GpuBuffer,
    labels: &GpuBuffer,
    n: usize,
    classes: usize,
    slot: usize,
) -> Result<Dispatch> {
    need("gpu softmax_ce_forward", "probs", probs, n * classes)?;
    need("gpu softmax_ce_forward", "logits", logits, n * classes)?;
    need("gpu softmax_ce_forward", "labels", labels, n)?;
    need("gpu softmax_ce_forward", "metrics", metrics, 2 * slot + 2)?;
    let p = SoftmaxParams {
        n: u(n)?,
        classes: u(classes)?,
        slot: u(slot)?,
        scale: 1.0,
    };
    make(
        ctx,
        Kernel::SoftmaxCeForward,
        &[logits, labels, probs, metrics],
        &p,
        [1, 1, 1],
    )
}

/// dlogits = (probs − one_hot(labels)) / n. Overwrites dlogits.
pub fn softmax_ce_backward(
    ctx: &GpuContext,
    dlogits: &GpuBuffer,
    probs: &GpuBuffer,
    labels: &GpuBuffer,
    n: usize,
    classes: usize,
) -> Result<Dispatch> {
    softmax_ce_backward_scaled(ctx, dlogits, probs, labels, n, classes, 1.0)
}

/// dlogits = scale · (probs − one_hot(labels)) / n: an auxiliary head's weighted loss gradient.
pub fn softmax_ce_backward_scaled(
    ctx: &GpuContext,
    dlogits: &GpuBuffer,
    probs: &GpuBuffer,
    labels: &GpuBuffer,
    n: usize,
    classes: usize,
    scale: f32,
) -> Result<Dispatch> {
    need("gpu softmax_ce_backward", "dlogits", dlogits, n * classes)?;
    need("gpu softmax_ce_backward", "probs", probs, n * classes)?;
    need("gpu softmax_ce_backward", "labels", labels, n)?;
    let p = SoftmaxParams {
        n: u(n)?,
        classes: u(classes)?,
        slot: 0,
        scale,
    };
    make(
        ctx,
        Kernel::SoftmaxCeBackward,
        &[probs, labels, dlogits],
        &p,
        grid(ctx, n * classes, WG)?,
    )
}

/// The params of [`optimizer_update`] for 1-based step `step`.
pub fn adam_params(spec: &OptimizerSpec, len: usize, step: u32) -> Result<AdamParams> {
    match *spec {
        OptimizerSpec::Adam {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
        } => {
            let (bc1, bc2) =
                crate::cpu::elementwise::adam_bias_corrections(beta1, beta2, step.max(1));
            Ok(AdamParams {
                len: u(len)?,
                lr,
                beta1,
                beta2,
                eps,
                bc1,
                bc2,
                weight_decay,
            })
        }
        OptimizerSpec::Sgd { .. } => Err(Error::Gpu("adam_params of an SGD optimizer".into())),
    }
}

/// One optimizer step over `len` parameters: SGD uses `m` as its velocity, Adam `m` and `v`.
/// For Adam, the step count lives in the params: rewrite them each step with [`adam_params`].
#[allow(clippy::too_many_arguments)]
pub fn optimizer_update(
    ctx: &GpuContext,
    params: &GpuBuffer,
    grads: &GpuBuffer,
    m: &GpuBuffer,
    v: &GpuBuffer,
    len: usize,
    spec: &OptimizerSpec,
    step: u32,
) -> Result<Dispatch> {
    for (what, b) in [("params", params), ("grads", grads), ("m", m)] {
        need("gpu optimizer_update", what, b, len)?;
    }
    match *spec {
        OptimizerSpec::Adam { .. } => {
            need("gpu adam_update", "v", v, len)?;
            let p = adam_params(spec, len, step)?;
            make(
                ctx,
                Kernel::AdamUpdate,
                &[grads, params, m, v],
                &p,
                grid(ctx, len, WG)?,
            )
        }
        OptimizerSpec::Sgd {
            lr,
            momentum,
            weight_decay,
            nesterov,
        } => {
            let p = SgdParams {
                len: u(len)?,
                lr,
                momentum,
                weight_decay,
                nesterov: nesterov as u32,
                ..Default::default()
            };
            make(
                ctx,
                Kernel::SgdUpdate,
                &[grads, params, m],
                &p,
                grid(ctx, len, WG)?,
            )
        }
    }
}

/// The batch `[n, 1, canvas, canvas]` from `images` (n·784 bytes packed into u32), `offsets`
/// (`[n, 2]` u32: dx, dy) and `table` (`[256]`: byte → f32).
#[allow(clippy::too_many_arguments)]
pub fn canvas_place(
    ctx: &GpuContext,
    out: &GpuBuffer,
    images: &GpuBuffer,
    offsets: &GpuBuffer,
    table: &GpuBuffer,
    n: usize,
    canvas: usize,
) -> Result<Dispatch> {
    need("gpu canvas_place", "out", out, n * canvas * canvas)?;
    need("gpu canvas_place", "images", images, (n * 784).div_ceil(4))?;
    need("gpu canvas_place", "offsets", offsets, 2 * n)?;
    need("gpu canvas_place", "table", table, 256)?;
    let p = CanvasParams {
        n: u(n)?,
        canvas: u(canvas)?,
        ..Default::default()
    };
    make(
        ctx,
        Kernel::CanvasPlace,
        &[images, offsets, table, out],
        &p,
        grid(ctx, n * canvas * canvas, WG)?,
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

/// One thread per element of `dst` (`dst_len` long), reading `src` (`src_len` long): the
/// dispatch of every planar gather kernel (pad, blur).
#[allow(clippy::too_many_arguments)]
fn planar<T: Pod>(
    ctx: &GpuContext,
    kernel: Kernel,
    op: &'static str,
    (src, src_len): (&GpuBuffer, usize),
    (dst, dst_len): (&GpuBuffer, usize),
    params: &T,
) -> Result<Dispatch> {
    need(op, "input", src, src_len)?;
    need(op, "output", dst, dst_len)?;
    make(ctx, kernel, &[src, dst], params, grid(ctx, dst_len, WG)?)
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
    planar(
        ctx,
        Kernel::PadForward,
        "gpu pad_forward",
        x,
        y,
        &pad_params(g, n)?,
    )
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
    planar(
        ctx,
        Kernel::PadBackward,
        "gpu pad_backward",
        dy,
        dx,
        &pad_params(g, n)?,
    )
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
    planar(
        ctx,
        Kernel::BlurForward,
        "gpu blur_forward",
        x,
        out,
        &blur_params(g, n)?,
    )
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
    planar(
        ctx,
        Kernel::BlurBackward,
        "gpu blur_backward",
        dout,
        dx,
        &blur_params(g, n)?,
    )
}
