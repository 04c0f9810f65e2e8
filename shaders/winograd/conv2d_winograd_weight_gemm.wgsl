// Winograd weight gradient, pass 3 (winograd_common.wgsl): Q[ξ, m, c] (+)= Σ_t E[ξ, m, t] ·
// V[ξ, c, t] over the chunk's blocks, sixteen products (ξ = workgroup z) written where the
// forward keeps its transformed weights U; the first chunk overwrites, the next ones add
// (`accumulate`). Each thread owns 8 output × 8 input channels in a Tile8 (gemm/tile8.wgsl, which
// holds the entry point) and walks the blocks in one loop: 8 loads of E, 8 of V, 64 multiply-adds
// a step. The loop is tp long, at most 2^22 / (16 · 8) = 32,768 (ops::WINOGRAD_CHUNK_FLOATS with
// 8 channels or more), under lavapipe's 65,535 iterations an invocation. Channels past the last
// repeat it (lanes4 in registers_common.wgsl), unstored.

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

fn tile8_thread(k: u32, xi: u32) {
    let blocks_c = (P.cs + 7u) / 8u;
    if (k >= blocks_c * ((P.cd + 7u) / 8u)) {
        return;
    }
    let c0 = (k % blocks_c) * 8u;
    let m0 = (k / blocks_c) * 8u;
    let eA = (xi * P.cd + lanes4(m0, P.cd)) * P.tp;
    let eB = (xi * P.cd + lanes4(m0 + 4u, P.cd)) * P.tp;
    let vA = (xi * P.cs + lanes4(c0, P.cs)) * P.tp;
    let vB = (xi * P.cs + lanes4(c0 + 4u, P.cs)) * P.tp;

    var acc = Tile8();
    for (var t = 0u; t < P.tp; t++) {
        let lo = vec4<f32>(v[vA.x + t], v[vA.y + t], v[vA.z + t], v[vA.w + t]);
        let hi = vec4<f32>(v[vB.x + t], v[vB.y + t], v[vB.z + t], v[vB.w + t]);
        let wA = vec4<f32>(e[eA.x + t], e[eA.y + t], e[eA.z + t], e[eA.w + t]);
        let wB = vec4<f32>(e[eB.x + t], e[eB.y + t], e[eB.z + t], e[eB.w + t]);
        tile8_fma(&acc, wA, wB, lo, hi);
    }
    let at = (xi * P.cd + m0) * P.cs + c0;
    for (var j = 0u; j < 8u && m0 + j < P.cd; j++) {
        let r = tile8_row(acc, j);
        put8(at + j * P.cs, c0, r[0], r[1]);
    }
}
