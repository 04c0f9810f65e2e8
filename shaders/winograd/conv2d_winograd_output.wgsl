// Winograd pass 4 (winograd_common.wgsl): the 2×2 destination block t of channel m is
// Aᵀ M[·, m, t] A, Aᵀ = [1 1 1 0; 0 1 −1 −1]; the forward adds the bias and applies the fused
// ReLU and overwrites, the backward of the input adds onto dx. Pixels past the destination's
// edge (an odd side) are not stored. One thread per (m, block) of the chunk
// (common/elementwise_64.wgsl), reading M through xi_read.wgsl.

@group(0) @binding(0) var<storage, read> mm: array<f32>;
@group(0) @binding(1) var<storage, read> wb: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<uniform> P: WinogradParams;

fn xi_get(i: u32) -> f32 {
    return mm[i];
}

// A row of (Aᵀ M) times A: the block's two columns.
fn a_t(r: vec4<f32>) -> vec2<f32> {
    return vec2<f32>(r.x + r.y + r.z, r.y - r.z - r.w);
}

fn put(at: u32, y: f32, bias: f32) {
    var v = y + bias;
    if (P.relu != 0u) {
        v = max(v, 0.0);
    }
    if (P.accumulate != 0u) {
        v += dst[at];
    }
    dst[at] = v;
}

fn elements() -> u32 {
    return P.cd * P.nimg * P.tiles;
}

fn element(k: u32) {
    let blocks = P.nimg * P.tiles;
    let m = k / blocks;
    let t = k % blocks;
    let r = get_xi(m * P.tp + t, P.cd * P.tp);
    let y0 = a_t(r[0] + r[1] + r[2]);
    let y1 = a_t(r[1] - r[2] - r[3]);

    let b = block_origin(t);
    let oy = b.y;
    let ox = b.z;
    let o = ((b.x * P.cd + m) * P.hd + oy) * P.wd + ox;
    var bias = 0.0;
    if (P.has_bias != 0u) {
        bias = wb[P.b_off + m];
    }
    let right = ox + 1u < P.wd;
    put(o, y0.x, bias);
    if (right) {
        put(o + 1u, y0.y, bias);
    }
    if (oy + 1u < P.hd) {
        put(o + P.wd, y1.x, bias);
        if (right) {
            put(o + P.wd + 1u, y1.y, bias);
        }
    }
}
