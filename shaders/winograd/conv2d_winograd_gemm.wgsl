// Winograd pass 3 (winograd_common.wgsl): M[ξ, m, t] = Σ_c U[ξ, m, c] · V[ξ, c, t], sixteen
// independent matrix products (ξ = workgroup z). Each thread owns 8 destination channels × 8
// consecutive blocks in a Tile8 (gemm/tile8.wgsl, which holds the entry point) and walks the
// source channels in one loop: per step 8 loads of V, 8 of U, 64 multiply-adds, no bounds check
// (tp is a multiple of 8; the channels past cd repeat the last, lanes4 in registers_common.wgsl,
// and are not stored) — the shape that runs best on a software adapter (see
// conv_strip_common.wgsl). Adjacent threads take adjacent blocks.

@group(0) @binding(0) var<storage, read> u: array<f32>;
@group(0) @binding(1) var<storage, read> v: array<f32>;
@group(0) @binding(2) var<storage, read_write> mm: array<f32>;
@group(0) @binding(3) var<uniform> P: WinogradParams;

fn put8(at: u32, lo: vec4<f32>, hi: vec4<f32>) {
    mm[at] = lo.x;
    mm[at + 1u] = lo.y;
    mm[at + 2u] = lo.z;
    mm[at + 3u] = lo.w;
    mm[at + 4u] = hi.x;
    mm[at + 5u] = hi.y;
    mm[at + 6u] = hi.z;
    mm[at + 7u] = hi.w;
}

fn tile8_thread(k: u32, xi: u32) {
    let blocks_t = P.tp / 8u;
    if (k >= blocks_t * ((P.cd + 7u) / 8u)) {
        return;
    }
    let t0 = (k % blocks_t) * 8u;
    let m0 = (k / blocks_t) * 8u;
    let uA = (xi * P.cd + lanes4(m0, P.cd)) * P.cs;
    let uB = (xi * P.cd + lanes4(m0 + 4u, P.cd)) * P.cs;
    var vat = xi * P.cs * P.tp + t0;

    var acc = Tile8();
    for (var c = 0u; c < P.cs; c++) {
        let lo = vec4<f32>(v[vat], v[vat + 1u], v[vat + 2u], v[vat + 3u]);
        let hi = vec4<f32>(v[vat + 4u], v[vat + 5u], v[vat + 6u], v[vat + 7u]);
        vat += P.tp;
        let wA = vec4<f32>(u[uA.x + c], u[uA.y + c], u[uA.z + c], u[uA.w + c]);
        let wB = vec4<f32>(u[uB.x + c], u[uB.y + c], u[uB.z + c], u[uB.w + c]);
        tile8_fma(&acc, wA, wB, lo, hi);
    }
    let at = (xi * P.cd + m0) * P.tp + t0;
    for (var j = 0u; j < 8u && m0 + j < P.cd; j++) {
        let r = tile8_row(acc, j);
        put8(at + j * P.tp, r[0], r[1]);
    }
}
