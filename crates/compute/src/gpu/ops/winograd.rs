//! Winograd F(2×2, 3×3) convolutions for software adapters: forward, input gradient and weight
//! gradient through a scratch of transformed kernels, source blocks and products, chunked over
//! images (`shaders/winograd/`).
//!
//! Its kernels bind with no element counts ([`launch`] checks only their names): the public
//! launchers check the tensors' sizes, and [`WinogradPass::chunks`] the scratch's.

use super::*;

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
        let d = launch(
            ctx,
            Kernel::Conv2dWinogradInput,
            &[("src", src, 0), ("v", &scratch.v, 0)],
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
    let mut out = vec![launch(
        ctx,
        Kernel::Conv2dWinogradWeights,
        &[("wb", wb, 0), ("u", &scratch.u, 0)],
        &p,
        grid(ctx, pass.cd * pass.cs, 64)?,
    )?];
    for chunk in chunks {
        let (p, input) = pass.chunk_input(ctx, src, scratch, &p, chunk)?;
        let (_, nimg, tp) = chunk;
        out.push(input);
        out.push(launch(
            ctx,
            Kernel::Conv2dWinogradGemm,
            &[
                ("u", &scratch.u, 0),
                ("v", &scratch.v, 0),
                ("mm", &scratch.m, 0),
            ],
            &p,
            strip_grid(ctx, pass.cd.div_ceil(8) * tp / 8, 16)?,
        )?);
        out.push(launch(
            ctx,
            Kernel::Conv2dWinogradOutput,
            &[("mm", &scratch.m, 0), ("wb", wb, 0), ("dst", dst, 0)],
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
        out.push(launch(
            ctx,
            Kernel::Conv2dWinogradDout,
            &[("dout", dout, 0), ("e", &scratch.m, 0)],
            &p,
            grid(ctx, pass.cd * tp, 64)?,
        )?);
        out.push(launch(
            ctx,
            Kernel::Conv2dWinogradWeightGemm,
            &[
                ("e", &scratch.m, 0),
                ("v", &scratch.v, 0),
                ("q", &scratch.u, 0),
            ],
            &p,
            strip_grid(ctx, pass.cd.div_ceil(8) * pass.cs.div_ceil(8), 16)?,
        )?);
    }
    out.push(launch(
        ctx,
        Kernel::Conv2dWinogradWeightOutput,
        &[("q", &scratch.u, 0), ("grads", grads, 0)],
        &p,
        grid(ctx, pass.cd * pass.cs, 64)?,
    )?);
    Ok(out)
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
