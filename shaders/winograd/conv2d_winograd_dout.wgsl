// Winograd weight gradient, pass 2 (winograd_common.wgsl; pass 1 is conv2d_winograd_input.wgsl
// over x): E[ξ, m, t] = (A dY Aᵀ)[ξ] for every output channel m and 2×2 block t of the chunk,
// dY the block of dout (zeros past its edge and for the padding blocks up to tp), with
// A = [1 0; 1 1; 1 −1; 0 −1]. The weight gradient of a block is Gᵀ [E ⊙ V] G: the transpose of
// the forward's Aᵀ [(G g Gᵀ) ⊙ V] A. Written where the forward keeps its products M. One thread
// per (m, t) (block_pass.wgsl, writing E through xi_write.wgsl).

@group(0) @binding(0) var<storage, read> dout: array<f32>;
@group(0) @binding(1) var<storage, read_write> e: array<f32>;
@group(0) @binding(2) var<uniform> P: WinogradParams;

fn ld(plane: u32, y: u32, x: u32) -> f32 {
    let ok = y < P.hd && x < P.wd;
    return select(0.0, dout[select(0u, plane + y * P.wd + x, ok)], ok);
}

// A row (a, b) of (A dY) times Aᵀ.
fn a_row(a: f32, b: f32) -> vec4<f32> {
    return vec4<f32>(a, a + b, a - b, -b);
}

fn xi_put(i: u32, x: f32) {
    e[i] = x;
}

fn block_channels() -> u32 {
    return P.cd;
}

fn block_transform(m: u32, o: vec3<u32>) -> mat4x4<f32> {
    let oy = o.y;
    let ox = o.z;
    let plane = (o.x * P.cd + m) * P.hd * P.wd;
    let y0 = vec2<f32>(ld(plane, oy, ox), ld(plane, oy, ox + 1u));
    let y1 = vec2<f32>(ld(plane, oy + 1u, ox), ld(plane, oy + 1u, ox + 1u));
    return mat4x4<f32>(a_row(y0.x, y0.y), a_row(y0.x + y1.x, y0.y + y1.y), a_row(y0.x - y1.x, y0.y - y1.y), a_row(-y1.x, -y1.y));
}
