// conv2d_forward for software adapters (Gemm::Registers): out = conv(x, w) + b, optionally
// followed by ReLU. Overwrites out. Same bindings, dispatch and summation order as
// conv2d_forward.wgsl + matmul_tiled.wgsl.
// Rust: gpu::ops::conv2d_forward; CPU reference: ops::conv2d::reference::conv2d_forward.
// Each thread owns 4 output channels × 4 consecutive output pixels of one (image, group) in four
// vec4 accumulators and walks k = (ci, ky, kx) as three nested loops, so the inner loop computes
// no division (a software adapter runs integer division lane by lane: the generic loaders'
// im2col index cost more than the multiply-adds). No workgroup memory, no barrier.
// Dispatch: (ceil(h_out·w_out / TILE_N), ceil(c_out_g / TILE_M), n·groups).

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> wb: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> P: ConvParams;

@compute @workgroup_size(TILE_N / 4u, TILE_M / 4u, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let cog = P.c_out / P.groups;
    let cig = P.c_in / P.groups;
    let npix = P.h_out * P.w_out;
    let m0 = wg.y * TILE_M + lid.y * 4u;
    let n0 = wg.x * TILE_N + lid.x * 4u;
    if (m0 >= cog || n0 >= npix) {
        return;
    }
    let i = wg.z / P.groups;
    let g = wg.z % P.groups;
    let co = lanes4(m0, cog);
    let pix = lanes4(n0, npix);
    let oy = pix / vec4<u32>(P.w_out);
    let ox = pix % vec4<u32>(P.w_out);
    let iy0 = vec4<i32>(oy * P.stride) - i32(P.pad_top);
    let ix0 = vec4<i32>(ox * P.stride) - i32(P.pad_left);
    let h = i32(P.h_in);
    let w = i32(P.w_in);
    let kk = P.kh * P.kw;
    var c0 = vec4<f32>(0.0);
    var c1 = vec4<f32>(0.0);
    var c2 = vec4<f32>(0.0);
    var c3 = vec4<f32>(0.0);
    for (var ci = 0u; ci < cig; ci++) {
        let plane = i32(((i * P.c_in + g * cig + ci) * P.h_in) * P.w_in);
        let wrow = P.w_off + ((g * cog + co) * cig + ci) * kk;
        for (var ky = 0u; ky < P.kh; ky++) {
            let iy = iy0 + i32(ky);
            let row_ok = (iy >= vec4<i32>(0)) & (iy < vec4<i32>(h));
            let row = plane + iy * w;
            for (var kx = 0u; kx < P.kw; kx++) {
                let ix = ix0 + i32(kx);
                let ok = row_ok & (ix >= vec4<i32>(0)) & (ix < vec4<i32>(w));
                let at = vec4<u32>(select(vec4<i32>(0), row + ix, ok));
                let b = select(vec4<f32>(0.0), vec4<f32>(x[at.x], x[at.y], x[at.z], x[at.w]), ok);
                let wk = wrow + ky * P.kw + kx;
                c0 = fma(vec4<f32>(wb[wk.x]), b, c0);
                c1 = fma(vec4<f32>(wb[wk.y]), b, c1);
                c2 = fma(vec4<f32>(wb[wk.z]), b, c2);
                c3 = fma(vec4<f32>(wb[wk.w]), b, c3);
            }
        }
    }
    let base = (i * P.c_out + g * cog + m0) * npix;
    store_row(base, m0, n0, c0, cog, npix);
    store_row(base + npix, m0 + 1u, n0, c1, cog, npix);
    store_row(base + 2u * npix, m0 + 2u, n0, c2, cog, npix);
    store_row(base + 3u * npix, m0 + 3u, n0, c3, cog, npix);
}

// Output channel m (of the group) at pixels n0..n0+3, where they exist.
fn store_row(at: u32, m: u32, n0: u32, c: vec4<f32>, cog: u32, npix: u32) {
    if (m >= cog) {
        return;
    }
    var y = c;
    if (P.has_bias != 0u) {
        // at / npix is (image, channel); the bias is per channel of the whole layer.
        y += vec4<f32>(wb[P.b_off + (at / npix) % P.c_out]);
    }
    if (P.relu != 0u) {
        y = max(y, vec4<f32>(0.0));
    }
    for (var j = 0u; j < 4u; j++) {
        if (n0 + j < npix) {
            out[at + n0 + j] = y[j];
        }
    }
}
