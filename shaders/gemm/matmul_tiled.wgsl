// The tiled matrix-multiply body shared by every implicit-GEMM primitive (conv2d forward and both
// backwards, dense forward and both backwards). It is appended to the primitive's own file, which
// provides:
//   fn gemm_dims(z: u32) -> vec4<u32>          (M, N, k_begin, k_end) of matrix z of the dispatch
//   fn load_a(z: u32, m: u32, k: u32) -> f32   A[m, k]
//   fn load_b(z: u32, k: u32, n: u32) -> f32   B[k, n]
//   fn store(z: u32, m: u32, n: u32, v: f32)   C[m, n] = Σ_k A[m, k]·B[k, n]
// Workgroup layout: (TILE_N / 4, TILE_M / 4) threads, each owning a 4×4 block of the
// TILE_M × TILE_N output tile; A and B advance through K in TILE_K-wide slabs held in workgroup
// memory. Dispatch: (ceil(N / TILE_N), ceil(M / TILE_M), matrices).

override TILE_M: u32 = 64u;
override TILE_N: u32 = 64u;
override TILE_K: u32 = 16u;
const RM: u32 = 4u;
const RN: u32 = 4u;

var<workgroup> tile_a: array<f32, TILE_M * TILE_K>;
var<workgroup> tile_b: array<f32, TILE_K * TILE_N>;

@compute @workgroup_size(TILE_N / RN, TILE_M / RM, 1)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let z = wg.z;
    let dims = gemm_dims(z);
    let m0 = wg.y * TILE_M;
    let n0 = wg.x * TILE_N;
    let threads = (TILE_M / RM) * (TILE_N / RN);
    let sm = TILE_M / RM;
    let sn = TILE_N / RN;
    var acc: array<f32, 16>;
    for (var k0 = dims.z; k0 < dims.w; k0 += TILE_K) {
        // Cooperative loads; out-of-range cells are zero so partial tiles need no special case.
        for (var i = li; i < TILE_M * TILE_K; i += threads) {
            let m = m0 + i / TILE_K;
            let k = k0 + i % TILE_K;
            var v = 0.0;
            if (m < dims.x && k < dims.w) {
                v = load_a(z, m, k);
            }
            tile_a[i] = v;
        }
        for (var i = li; i < TILE_K * TILE_N; i += threads) {
            let k = k0 + i / TILE_N;
            let n = n0 + i % TILE_N;
            var v = 0.0;
            if (n < dims.y && k < dims.w) {
                v = load_b(z, k, n);
            }
            tile_b[i] = v;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TILE_K; kk++) {
            var a: array<f32, 4>;
            var b: array<f32, 4>;
            for (var r = 0u; r < RM; r++) {
                a[r] = tile_a[(lid.y + r * sm) * TILE_K + kk];
            }
            for (var c = 0u; c < RN; c++) {
                b[c] = tile_b[kk * TILE_N + lid.x + c * sn];
            }
            for (var r = 0u; r < RM; r++) {
                for (var c = 0u; c < RN; c++) {
                    acc[r * RN + c] = fma(a[r], b[c], acc[r * RN + c]);
                }
            }
        }
        workgroupBarrier();
    }
    for (var r = 0u; r < RM; r++) {
        let m = m0 + lid.y + r * sm;
        for (var c = 0u; c < RN; c++) {
            let n = n0 + lid.x + c * sn;
            if (m < dims.x && n < dims.y) {
                store(z, m, n, acc[r * RN + c]);
            }
        }
    }
}
