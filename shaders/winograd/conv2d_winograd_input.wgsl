// Winograd pass 2 (winograd_common.wgsl): V[ξ, c, t] = (Bᵀ d B)[ξ] for every source channel c
// and 2×2 destination block t of the chunk, d the 4×4 source patch from (2·ty − pad_y,
// 2·tx − pad_x), zeros outside the source; B ᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1].
// Blocks past the chunk's last (up to tp) get zeros. One thread per (c, t) (block_pass.wgsl,
// writing V through xi_write.wgsl).

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> v: array<f32>;
@group(0) @binding(2) var<uniform> P: WinogradParams;

// Four source pixels of row y from column x0, zeros outside the source.
fn src_row(plane: u32, y: i32, x0: i32) -> vec4<f32> {
    let row_ok = y >= 0 && y < i32(P.hs);
    let at = i32(plane) + y * i32(P.ws);
    return vec4<f32>(ld(at, x0, row_ok), ld(at, x0 + 1, row_ok), ld(at, x0 + 2, row_ok), ld(at, x0 + 3, row_ok));
}

fn ld(row: i32, x: i32, row_ok: bool) -> f32 {
    let ok = row_ok && x >= 0 && x < i32(P.ws);
    return select(0.0, src[u32(select(0, row + x, ok))], ok);
}

// A row of (Bᵀ d) times B.
fn b_t(r: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(r.x - r.z, r.y + r.z, r.z - r.y, r.y - r.w);
}

fn xi_put(i: u32, x: f32) {
    v[i] = x;
}

fn block_channels() -> u32 {
    return P.cs;
}

fn block_transform(c: u32, o: vec3<u32>) -> mat4x4<f32> {
    let y0 = i32(o.y) - i32(P.pad_y);
    let x0 = i32(o.z) - i32(P.pad_x);
    let plane = (o.x * P.cs + c) * P.hs * P.ws;
    let d0 = src_row(plane, y0, x0);
    let d1 = src_row(plane, y0 + 1, x0);
    let d2 = src_row(plane, y0 + 2, x0);
    let d3 = src_row(plane, y0 + 3, x0);
    return mat4x4<f32>(b_t(d0 - d2), b_t(d1 + d2), b_t(d2 - d1), b_t(d1 - d3));
}
