// canvas_place: builds the batch [n, 1, canvas, canvas] from the batch's u8 28×28 digits and
// their offsets: digit pixels are table[byte] = byte / 255 (the host's table, so the values are
// bit-identical to the CPU's), everything else is 0. Overwrites out.
// Rust: gpu::ops::canvas_place; CPU reference: data::canvas::fill_batch.
// One thread per canvas pixel (common/elementwise.wgsl).
// images: n·784 bytes packed little-endian into u32, offsets: [n, 2] (dx, dy), table: [256].

struct CanvasParams {
    n: u32,
    canvas: u32,
}

@group(0) @binding(0) var<storage, read> images: array<u32>;
@group(0) @binding(1) var<storage, read> offsets: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> P: CanvasParams;

fn elements() -> u32 {
    return P.n * P.canvas * P.canvas;
}

fn element(i: u32) {
    let c = plane_cell(i, P.canvas, P.canvas);
    let img = c.x;
    let y = c.y;
    let x = c.z;
    let dx = offsets[2u * img];
    let dy = offsets[2u * img + 1u];
    var v = 0.0;
    if (x >= dx && x < dx + 28u && y >= dy && y < dy + 28u) {
        let byte_at = img * 784u + (y - dy) * 28u + (x - dx);
        let byte = (images[byte_at / 4u] >> (8u * (byte_at % 4u))) & 0xffu;
        v = table[byte];
    }
    out[i] = v;
}
