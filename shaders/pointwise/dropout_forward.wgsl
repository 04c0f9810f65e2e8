// dropout_forward: mask[i] = 0 with probability rate else 1/(1 − rate); y = x · mask.
// Rust: gpu::ops::dropout_forward; CPU reference: ops::dropout::dropout_mask + dropout_forward.
// The mask comes from a counter-based hash of (key, i), the same function as
// rng::dropout_uniform, so both backends drop the same units. rate = 0 gives the identity
// (evaluation). One thread per element (common/elementwise.wgsl).

struct DropoutParams {
    len: u32,
    key_lo: u32,
    key_hi: u32,
    rate: f32,
    scale: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> mask: array<f32>;
@group(0) @binding(3) var<uniform> P: DropoutParams;

// Chris Wellons' lowbias32 integer hash.
fn hash32(v: u32) -> u32 {
    var h = v;
    h ^= h >> 16u;
    h *= 0x7feb352du;
    h ^= h >> 15u;
    h *= 0x846ca68bu;
    h ^= h >> 16u;
    return h;
}

fn dropout_uniform(i: u32) -> f32 {
    let h = hash32(hash32(i * 0x9e3779b9u + P.key_lo) ^ P.key_hi);
    return f32(h >> 8u) * (1.0 / 16777216.0);
}

fn elements() -> u32 {
    return P.len;
}

fn element(i: u32) {
    let m = select(P.scale, 0.0, dropout_uniform(i) < P.rate);
    mask[i] = m;
    y[i] = x[i] * m;
}
