// conv2d_backward_input for software adapters (Gemm::Registers): dx += convᵀ(dout, w). Same
// bindings, dispatch and summation order as conv2d_backward_input.wgsl + matmul_tiled.wgsl.
// Rust: gpu::ops::conv2d_backward_input; CPU reference:
// ops::conv2d::reference::conv2d_backward_input.
// Each thread owns 4 input channels × 4 consecutive input pixels q = (iy, ix) of one (image,
// group) and walks (co, ky, kx) as nested loops: dx[ci, q] += w[co, ci, ky, kx] · dout[co, oy, ox]
// with (oy, ox) = ((iy + pad_top − ky) / stride, (ix + pad_left − kx) / stride) where that
// divides exactly and lands inside dout. No division in the inner loop at stride 1; no workgroup
// memory, no barrier (see conv2d_forward_registers.wgsl).
// Dispatch: (ceil(h_in·w_in / TILE_N), ceil(c_in_g / TILE_M), n·groups).

@group(0) @binding(0) var<storage, read> dout: array<f32>;
@group(0) @binding(1) var<storage, read> wb: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> P: ConvParams;

// Where input coordinate t (already shifted by the padding and the kernel offset) lands in an
// output axis of length len: (coordinate, whether it exists).
fn land(t: vec4<i32>, len: u32) -> vec4<i32> {
    if (P.stride == 1u) {
        return select(vec4<i32>(-1), t, t < vec4<i32>(i32(len)));
    }
    let s = vec4<i32>(i32(P.stride));
    let t0 = max(t, vec4<i32>(0));
    let o = t0 / s;
    let exact = (t0 % s) == vec4<i32>(0);
    return select(vec4<i32>(-1), o, (t >= vec4<i32>(0)) & exact & (o < vec4<i32>(i32(len))));
}

@compute @workgroup_size(TILE_N / 4u, TILE_M / 4u, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let cog = P.c_out / P.groups;
    let cig = P.c_in / P.groups;
    let npix = P.h_in * P.w_in;
    let m0 = wg.y * TILE_M + lid.y * 4u;
    let n0 = wg.x * TILE_N + lid.x * 4u;
    if (m0 >= cig || n0 >= npix) {
        return;
    }
    let i = wg.z / P.groups;
    let g = wg.z % P.groups;
    let ci = lanes4(m0, cig);
    let q = lanes4(n0, npix);
    let ty0 = vec4<i32>(q / vec4<u32>(P.w_in)) + i32(P.pad_top);
    let tx0 = vec4<i32>(q % vec4<u32>(P.w_in)) + i32(P.pad_left);
    let wo = i32(P.w_out);
    let kk = P.kh * P.kw;
    var c0 = vec4<f32>(0.0);
    var c1 = vec4<f32>(0.0);
    var c2 = vec4<f32>(0.0);
    var c3 = vec4<f32>(0.0);
    for (var co = 0u; co < cog; co++) {
        let plane = i32(((i * P.c_out + g * cog + co) * P.h_out) * P.w_out);
        let wrow = P.w_off + ((g * cog + co) * cig + ci) * kk;
        for (var ky = 0u; ky < P.kh; ky++) {
            let oy = land(ty0 - i32(ky), P.h_out);
            let row_ok = oy >= vec4<i32>(0);
            let row = plane + oy * wo;
            for (var kx = 0u; kx < P.kw; kx++) {
                let ox = land(tx0 - i32(kx), P.w_out);
                let ok = row_ok & (ox >= vec4<i32>(0));
                let at = vec4<u32>(select(vec4<i32>(0), row + ox, ok));
                let b = select(
                    vec4<f32>(0.0),
                    vec4<f32>(dout[at.x], dout[at.y], dout[at.z], dout[at.w]),
                    ok
                );
                let wk = wrow + ky * P.kw + kx;
                c0 = fma(vec4<f32>(wb[wk.x]), b, c0);
                c1 = fma(vec4<f32>(wb[wk.y]), b, c1);
                c2 = fma(vec4<f32>(wb[wk.z]), b, c2);
                c3 = fma(vec4<f32>(wb[wk.w]), b, c3);
            }
        }
    }
    let base = (i * P.c_in + g * cig + m0) * npix;
    add_row(base, m0, n0, c0, cig, npix);
    add_row(base + npix, m0 + 1u, n0, c1, cig, npix);
    add_row(base + 2u * npix, m0 + 2u, n0, c2, cig, npix);
    add_row(base + 3u * npix, m0 + 3u, n0, c3, cig, npix);
}

// dx of channel m (of the group) at pixels n0..n0+3, where they exist, += c.
fn add_row(at: u32, m: u32, n0: u32, c: vec4<f32>, cig: u32, npix: u32) {
    if (m >= cig) {
        return;
    }
    for (var j = 0u; j < 4u; j++) {
        if (n0 + j < npix) {
            dx[at + n0 + j] = dx[at + n0 + j] + c[j];
        }
    }
}
