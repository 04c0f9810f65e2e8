// Winograd pass 3 (winograd_common.wgsl): M[ξ, m, t] = Σ_c U[ξ, m, c] · V[ξ, c, t], sixteen
// independent matrix products (ξ = workgroup z). Each thread owns 8 destination channels × 8
// consecutive blocks in 16 vec4 accumulators and walks the source channels in one loop: per
// step 8 loads of V, 8 of U, 64 multiply-adds, no bounds check (tp is a multiple of 8; the
// channels past cd repeat the last, lanes4 in registers_common.wgsl, and are not stored) — the
// shape that runs best on a software adapter (see conv_strip_common.wgsl). Adjacent threads
// take adjacent blocks.

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

@compute @workgroup_size(64)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32
) {
    let xi = wg.z;
    let blocks_t = P.tp / 8u;
    let k = flat_index(wg, nwg, li);
    if (k >= blocks_t * ((P.cd + 7u) / 8u)) {
        return;
    }
    let t0 = (k % blocks_t) * 8u;
    let m0 = (k / blocks_t) * 8u;
    let uA = (xi * P.cd + lanes4(m0, P.cd)) * P.cs;
    let uB = (xi * P.cd + lanes4(m0 + 4u, P.cd)) * P.cs;
    var vat = xi * P.cs * P.tp + t0;

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
    for (var c = 0u; c < P.cs; c++) {
        let lo = vec4<f32>(v[vat], v[vat + 1u], v[vat + 2u], v[vat + 3u]);
        let hi = vec4<f32>(v[vat + 4u], v[vat + 5u], v[vat + 6u], v[vat + 7u]);
        vat += P.tp;
        let w0 = vec4<f32>(u[uA.x + c]);
        let w1 = vec4<f32>(u[uA.y + c]);
        let w2 = vec4<f32>(u[uA.z + c]);
        let w3 = vec4<f32>(u[uA.w + c]);
        let w4 = vec4<f32>(u[uB.x + c]);
        let w5 = vec4<f32>(u[uB.y + c]);
        let w6 = vec4<f32>(u[uB.z + c]);
        let w7 = vec4<f32>(u[uB.w + c]);
        a0 = fma(w0, lo, a0);
        b0 = fma(w0, hi, b0);
        a1 = fma(w1, lo, a1);
        b1 = fma(w1, hi, b1);
        a2 = fma(w2, lo, a2);
        b2 = fma(w2, hi, b2);
        a3 = fma(w3, lo, a3);
        b3 = fma(w3, hi, b3);
        a4 = fma(w4, lo, a4);
        b4 = fma(w4, hi, b4);
        a5 = fma(w5, lo, a5);
        b5 = fma(w5, hi, b5);
        a6 = fma(w6, lo, a6);
        b6 = fma(w6, hi, b6);
        a7 = fma(w7, lo, a7);
        b7 = fma(w7, hi, b7);
    }
    let at = (xi * P.cd + m0) * P.tp + t0;
    let s = P.tp;
    if (m0 < P.cd) { put8(at, a0, b0); }
    if (m0 + 1u < P.cd) { put8(at + s, a1, b1); }
    if (m0 + 2u < P.cd) { put8(at + 2u * s, a2, b2); }
    if (m0 + 3u < P.cd) { put8(at + 3u * s, a3, b3); }
    if (m0 + 4u < P.cd) { put8(at + 4u * s, a4, b4); }
    if (m0 + 5u < P.cd) { put8(at + 5u * s, a5, b5); }
    if (m0 + 6u < P.cd) { put8(at + 6u * s, a6, b6); }
    if (m0 + 7u < P.cd) { put8(at + 7u * s, a7, b7); }
}
