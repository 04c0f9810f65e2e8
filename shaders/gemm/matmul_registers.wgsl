// The register-blocked matrix-multiply body for software adapters (SwiftShader in the browser,
// lavapipe natively), used instead of matmul_tiled.wgsl there. Same contract: appended to the
// primitive's own file, which provides gemm_dims, load_a, load_b and store.
//
// Why a second body: a software adapter runs a workgroup's invocations a few SIMD lanes at a
// time, and a workgroupBarrier() makes it switch between them (coroutines); matmul_tiled's two
// barriers per K slab cost far more there than the loads they save. Here every thread owns a
// 4×4 block of C in four vec4 accumulators and reads A and B straight from memory: no workgroup
// memory, no barrier. Threads at the edge of C clamp their rows and columns (lanes4 in
// registers_common.wgsl) and store nothing past it.
// Workgroup layout: (TILE_N / 4, TILE_M / 4) threads. Dispatch: (ceil(N / TILE_N),
// ceil(M / TILE_M), matrices).

@compute @workgroup_size(TILE_N / 4u, TILE_M / 4u, 1)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let z = wg.z;
    let dims = gemm_dims(z);
    let m0 = wg.y * TILE_M + lid.y * 4u;
    let n0 = wg.x * TILE_N + lid.x * 4u;
    if (m0 >= dims.x || n0 >= dims.y) {
        return;
    }
    let m = lanes4(m0, dims.x);
    let n = lanes4(n0, dims.y);
    var c0 = vec4<f32>(0.0);
    var c1 = vec4<f32>(0.0);
    var c2 = vec4<f32>(0.0);
    var c3 = vec4<f32>(0.0);
    for (var k = dims.z; k < dims.w; k++) {
        let b = vec4<f32>(load_b(z, k, n.x), load_b(z, k, n.y), load_b(z, k, n.z), load_b(z, k, n.w));
        c0 = fma(vec4<f32>(load_a(z, m.x, k)), b, c0);
        c1 = fma(vec4<f32>(load_a(z, m.y, k)), b, c1);
        c2 = fma(vec4<f32>(load_a(z, m.z, k)), b, c2);
        c3 = fma(vec4<f32>(load_a(z, m.w, k)), b, c3);
    }
    store_row(z, m0, n0, dims, c0);
    if (m0 + 1u < dims.x) {
        store_row(z, m0 + 1u, n0, dims, c1);
    }
    if (m0 + 2u < dims.x) {
        store_row(z, m0 + 2u, n0, dims, c2);
    }
    if (m0 + 3u < dims.x) {
        store_row(z, m0 + 3u, n0, dims, c3);
    }
}

fn store_row(z: u32, m: u32, n0: u32, dims: vec4<u32>, c: vec4<f32>) {
    store(z, m, n0, c.x);
    if (n0 + 1u < dims.y) {
        store(z, m, n0 + 1u, c.y);
    }
    if (n0 + 2u < dims.y) {
        store(z, m, n0 + 2u, c.z);
    }
    if (n0 + 3u < dims.y) {
        store(z, m, n0 + 3u, c.w);
    }
}
