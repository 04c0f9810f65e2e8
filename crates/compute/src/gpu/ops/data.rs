//! Data launchers: digits placed on the canvas on the device.

use super::*;

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
    let len = n * canvas * canvas;
    let binds = [
        ("out", out, len),
        ("images", images, (n * 784).div_ceil(4)),
        ("offsets", offsets, 2 * n),
        ("table", table, 256),
    ];
    let p = CanvasParams {
        n: u(n)?,
        canvas: u(canvas)?,
        ..Default::default()
    };
    launch(ctx, Kernel::CanvasPlace, &binds, &p, grid(ctx, len, WG)?)
}
