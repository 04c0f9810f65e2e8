// Winograd weight gradient, pass 2 (winograd_common.wgsl; pass 1 is conv2d_winograd_input.wgsl
// over x): E[ξ, m, t] = (A dY Aᵀ)[ξ] for every output channel m and 2×2 block t of the chunk,
// dY the block of dout (zeros past its edge and for the padding blocks up to tp), with
// A = [1 0; 1 1; 1 −1; 0 −1]. The weight gradient of a block is Gᵀ [E ⊙ V] G: the transpose of
// the forward's Aᵀ [(G g Gᵀ) ⊙ V] A. Written where the forward keeps its products M. One thread
// per (m, t) (common/elementwise_64.wgsl).

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

// Row r of E: elements ξ = 4r .. 4r + 3, `s` apart.
fn put_row(at: u32, s: u32, r: vec4<f32>) {
    e[at] = r.x;
    e[at + s] = r.y;
    e[at + 2u * s] = r.z;
    e[at + 3u * s] = r.w;
}

fn elements() -> u32 {
    return P.cd * P.tp;
}

fn element(k: u32) {
    let m = k / P.tp;
    let t = k % P.tp;
    var y0 = vec2<f32>(0.0);
    var y1 = vec2<f32>(0.0);
    if (t < P.nimg * P.tiles) {
        let o = block_origin(t);
        let oy = o.y;
        let ox = o.z;
        let plane = (o.x * P.cd + m) * P.hd * P.wd;
        y0 = vec2<f32>(ld(plane, oy, ox), ld(plane, oy, ox + 1u));
        y1 = vec2<f32>(ld(plane, oy + 1u, ox), ld(plane, oy + 1u, ox + 1u));
    }
    let s = P.cd * P.tp;
    let at = m * P.tp + t;
    put_row(at, s, a_row(y0.x, y0.y));
    put_row(at + 4u * s, s, a_row(y0.x + y1.x, y0.y + y1.y));
    put_row(at + 8u * s, s, a_row(y0.x - y1.x, y0.y - y1.y));
    put_row(at + 12u * s, s, a_row(-y1.x, -y1.y));
}
