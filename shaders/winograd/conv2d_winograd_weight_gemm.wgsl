// Winograd weight gradient, pass 3 (winograd_common.wgsl): Q[ξ, m, c] (+)= Σ_t E[ξ, m, t] ·
// V[ξ, c, t] over the chunk's blocks, sixteen products (ξ = workgroup z) written where the
// forward keeps its transformed weights U; the first chunk overwrites, the next ones add
// (`accumulate`). Each thread owns 8 output × 8 input channels in 16 vec4 accumulators and walks
// the blocks in one loop: 8 loads of E, 8 of V, 64 multiply-adds a step. The loop is tp long,
// at most 2^22 / (16 · 8) = 32,768 (ops::WINOGRAD_CHUNK_FLOATS with 8 channels or more), under
// lavapipe's 65,535 iterations an invocation. Channels past the last repeat it (lanes4 in
// registers_common.wgsl), unstored.

@group(0) @binding(0) var<storage, read> e: array<f32>;
@group(0) @binding(1) var<storage, read> v: array<f32>;
@group(0) @binding(2) var<storage, read_write> q: array<f32>;
@group(0) @binding(3) var<uniform> P: WinogradParams;

// Q[ξ, m, c0 .. c0 + 7] (c < cs only) from `at`.
fn put8(at: u32, c0: u32, lo: vec4<f32>, hi: vec4<f32>) {
    let add = P.accumulate != 0u;
    for (var j = 0u; j < 4u; j++) {
        if (c0 + j < P.cs) {
            q[at + j] = lo[j] + select(0.0, q[at + j], add);
        }
    }
    for (var j = 0u; j < 4u; j++) {
        if (c0 + 4u + j < P.cs) {
            q[at + 4u + j] = hi[j] + select(0.0, q[at + 4u + j], add);
        }
    }
}

@compute @workgroup_size(64)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32
) {
    let xi = wg.z;
    let blocks_c = (P.cs + 7u) / 8u;
    let k = flat_index(wg, nwg, li);
    if (k >= blocks_c * ((P.cd + 7u) / 8u)) {
        return;
    }
    let c0 = (k % blocks_c) * 8u;
    let m0 = (k / blocks_c) * 8u;
    let eA = (xi * P.cd + lanes4(m0, P.cd)) * P.tp;
    let eB = (xi * P.cd + lanes4(m0 + 4u, P.cd)) * P.tp;
    let vA = (xi * P.cs + lanes4(c0, P.cs)) * P.tp;
    let vB = (xi * P.cs + lanes4(c0 + 4u, P.cs)) * P.tp;

    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    var a4 = vec4<f32>(0.0);
    var a5 = vec4<f32>(0.0);
    var a6 = vec4<f32>(0.0);
    var a7 = vec4<f32>(0.0);
    var b0 = vec4<f32>(0.0);
    var b1 = vec4<f32>(0.0);
    var b2 = vec4<f32>(0.0);
    var b3 = vec4<f32>(0.0);
    var b4 = vec4<f32>(0.0);
    var b5 = vec4<f32>(0.0);
    var b6 = vec4<f32>(0.0);
    var b7 = vec4<f32>(0.0);
    for (var t = 0u; t < P.tp; t++) {
        let lo = vec4<f32>(v[vA.x + t], v[vA.y + t], v[vA.z + t], v[vA.w + t]);
        let hi = vec4<f32>(v[vB.x + t], v[vB.y + t], v[vB.z + t], v[vB.w + t]);
        let e0 = vec4<f32>(e[eA.x + t]);
        let e1 = vec4<f32>(e[eA.y + t]);
        let e2 = vec4<f32>(e[eA.z + t]);
        let e3 = vec4<f32>(e[eA.w + t]);
        let e4 = vec4<f32>(e[eB.x + t]);
        let e5 = vec4<f32>(e[eB.y + t]);
        let e6 = vec4<f32>(e[eB.z + t]);
        let e7 = vec4<f32>(e[eB.w + t]);
        a0 = fma(e0, lo, a0);
        b0 = fma(e0, hi, b0);
        a1 = fma(e1, lo, a1);
        b1 = fma(e1, hi, b1);
        a2 = fma(e2, lo, a2);
        b2 = fma(e2, hi, b2);
        a3 = fma(e3, lo, a3);
        b3 = fma(e3, hi, b3);
        a4 = fma(e4, lo, a4);
        b4 = fma(e4, hi, b4);
        a5 = fma(e5, lo, a5);
        b5 = fma(e5, hi, b5);
        a6 = fma(e6, lo, a6);
        b6 = fma(e6, hi, b6);
        a7 = fma(e7, lo, a7);
        b7 = fma(e7, hi, b7);
    }
    let at = (xi * P.cd + m0) * P.cs + c0;
    let s = P.cs;
    if (m0 < P.cd) { put8(at, c0, a0, b0); }
    if (m0 + 1u < P.cd) { put8(at + s, c0, a1, b1); }
    if (m0 + 2u < P.cd) { put8(at + 2u * s, c0, a2, b2); }
    if (m0 + 3u < P.cd) { put8(at + 3u * s, c0, a3, b3); }
    if (m0 + 4u < P.cd) { put8(at + 4u * s, c0, a4, b4); }
    if (m0 + 5u < P.cd) { put8(at + 5u * s, c0, a5, b5); }
    if (m0 + 6u < P.cd) { put8(at + 6u * s, c0, a6, b6); }
    if (m0 + 7u < P.cd) { put8(at + 7u * s, c0, a7, b7); }
}
