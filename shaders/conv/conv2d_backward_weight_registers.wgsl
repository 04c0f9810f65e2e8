// conv2d_backward_weight, first pass, for software adapters (Gemm::Registers): partial weight
// gradients over chunks of the batch. Same bindings, dispatch, chunks and summation order as
// conv2d_backward_weight.wgsl + matmul_tiled.wgsl; conv2d_backward_weight_reduce adds the chunks.
// Rust: gpu::ops::conv2d_backward_weight; CPU reference:
// ops::conv2d::reference::conv2d_backward_weight.
// part[s, g·cog + co, k] = Σ_{r in chunk s} dout[i, co, p] · x[i, ci, oy·stride + ky − pad_top,
// ox·stride + kx − pad_left] over r = (i, p = (oy, ox)), k = (ci, ky, kx). Each thread owns 4
// output channels × 4 consecutive kernel cells and walks the chunk's (i, oy, ox) by counting, so
// the loop computes no division; no workgroup memory, no barrier (see
// conv2d_forward_registers.wgsl).
// Dispatch: (ceil(K / TILE_N), ceil(c_out_g / TILE_M), groups·splits), K = c_in_g·kh·kw.

@group(0) @binding(0) var<storage, read> dout: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> part: array<f32>;
@group(0) @binding(3) var<uniform> P: ConvParams;

@compute @workgroup_size(TILE_N / 4u, TILE_M / 4u, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let cog = P.c_out / P.groups;
    let cig = P.c_in / P.groups;
    let kk = P.kh * P.kw;
    let kdim = cig * kk;
    let m0 = wg.y * TILE_M + lid.y * 4u;
    let n0 = wg.x * TILE_N + lid.x * 4u;
    if (m0 >= cog || n0 >= kdim) {
        return;
    }
    let g = wg.z / P.splits;
    let s = wg.z % P.splits;
    let hw = P.h_out * P.w_out;
    let total = P.n * hw;
    let begin = min(s * P.split_len, total);
    let end = min(begin + P.split_len, total);

    let co = lanes4(m0, cog);
    let kc = lanes4(n0, kdim);
    let ci = kc / vec4<u32>(kk);
    let r = kc % vec4<u32>(kk);
    let offy = vec4<i32>(r / vec4<u32>(P.kw)) - i32(P.pad_top);
    let offx = vec4<i32>(r % vec4<u32>(P.kw)) - i32(P.pad_left);
    let xch = vec4<i32>((g * cig + ci) * P.h_in * P.w_in);
    let h = i32(P.h_in);
    let w = i32(P.w_in);
    // The dout rows of this thread's channels, relative to an image's first channel of the group.
    let drow = (g * cog + co) * hw;

    var img = begin / hw;
    var oy = (begin % hw) / P.w_out;
    var ox = (begin % hw) % P.w_out;
    var c0 = vec4<f32>(0.0);
    var c1 = vec4<f32>(0.0);
    var c2 = vec4<f32>(0.0);
    var c3 = vec4<f32>(0.0);
    for (var t = begin; t < end; t++) {
        let iy = i32(oy * P.stride) + offy;
        let ix = i32(ox * P.stride) + offx;
        let ok = (iy >= vec4<i32>(0)) & (iy < vec4<i32>(h)) & (ix >= vec4<i32>(0)) & (ix < vec4<i32>(w));
        let at = vec4<u32>(select(vec4<i32>(0), i32(img * P.c_in * P.h_in * P.w_in) + xch + iy * w + ix, ok));
        let b = select(vec4<f32>(0.0), vec4<f32>(x[at.x], x[at.y], x[at.z], x[at.w]), ok);
        let da = img * P.c_out * hw + oy * P.w_out + ox + drow;
        c0 = fma(vec4<f32>(dout[da.x]), b, c0);
        c1 = fma(vec4<f32>(dout[da.y]), b, c1);
        c2 = fma(vec4<f32>(dout[da.z]), b, c2);
        c3 = fma(vec4<f32>(dout[da.w]), b, c3);
        ox += 1u;
        if (ox == P.w_out) {
            ox = 0u;
            oy += 1u;
            if (oy == P.h_out) {
                oy = 0u;
                img += 1u;
            }
        }
    }
    let base = (s * P.c_out + g * cog + m0) * kdim;
    store_row(base, m0, n0, c0, cog, kdim);
    store_row(base + kdim, m0 + 1u, n0, c1, cog, kdim);
    store_row(base + 2u * kdim, m0 + 2u, n0, c2, cog, kdim);
    store_row(base + 3u * kdim, m0 + 3u, n0, c3, cog, kdim);
}

// part row of channel m (of the group) at kernel cells n0..n0+3, where they exist.
fn store_row(at: u32, m: u32, n0: u32, c: vec4<f32>, cog: u32, kdim: u32) {
    if (m >= cog) {
        return;
    }
    for (var j = 0u; j < 4u; j++) {
        if (n0 + j < kdim) {
            part[at + n0 + j] = c[j];
        }
    }
}
