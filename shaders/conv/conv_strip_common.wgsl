// The stride-1 convolution body for software adapters (Gemm::Registers), shared by
// conv2d_forward_strip.wgsl and conv2d_backward_input_strip.wgsl. Each declares src, wb, dst and
// `const BACKWARD_INPUT: bool`; P is the ConvParams uniform (conv_common.wgsl).
// Rust: gpu::ops::conv2d_forward and conv2d_backward_input, at stride 1 on a software adapter.
//
// A software adapter (lavapipe, SwiftShader) runs every storage-buffer read whose index is not a
// compile-time constant as a gather, lane by lane, behind a bounds check, and SwiftShader pays
// dearly for short loops. So this kernel does many multiply-adds per load in one long innermost
// loop:
// - each thread owns 8 destination channels × 8 consecutive pixels of one destination row, in a
//   Tile8 (gemm/tile8.wgsl, which holds the entry point);
// - it walks the taps (ky, kx) and, innermost, the source channels, in one flat loop: per step
//   8 source loads and 8 weight loads for 64 multiply-adds.
// Nested (channel, ky, kx) loops are three iterations long at 3×3, and a window sliding along a
// kernel row's taps needs a reload at kx = 0 behind a branch: both run slower on SwiftShader.
// Bodies with more loads (two rows at once: 24) make SwiftShader's compiler run for minutes.
//
// The backward of the input is this same correlation at stride 1: dx = dout ⋆ flip(w), with
// source dout, destination dx, padding k − 1 − pad and the weight read flipped and transposed.
// The weight index is one affine form, w_base + m·s_m + c·s_c + ky·s_y + kx·s_x, whose strides
// the two passes set.
//
// Dispatch: (ceil(T / 64) folded into x and y as `grid` does, 1, n·groups) workgroups of 64,
// T = rows_dst · ceil(w_dst / 8) · ceil(c_dst_g / 8): adjacent threads take adjacent strips.

const STRIP_PX: u32 = 8u;
const STRIP_CH: u32 = 8u;

// The source pixel ix of a row starting at `row`, 0 in the padding (and everywhere when `row_ok`
// is false).
fn ld(row: i32, ix: i32, ws: i32, row_ok: bool) -> f32 {
    let ok = row_ok && ix >= 0 && ix < ws;
    let v = src[u32(select(0, row + ix, ok))];
    return select(0.0, v, ok);
}

// Destination element `at` gets v: overwritten by the forward, accumulated by the backward.
fn put(at: u32, v: f32) {
    if (BACKWARD_INPUT) {
        dst[at] = dst[at] + v;
    } else {
        dst[at] = v;
    }
}

// Destination channel gm (of the whole layer) at the n ≤ 8 pixels from `at`: lo then hi, with
// the forward's bias and fused ReLU.
fn emit(gm: u32, at: u32, n: u32, lo: vec4<f32>, hi: vec4<f32>) {
    var l = lo;
    var h = hi;
    if (!BACKWARD_INPUT) {
        if (P.has_bias != 0u) {
            let b = vec4<f32>(wb[P.b_off + gm]);
            l += b;
            h += b;
        }
        if (P.relu != 0u) {
            l = max(l, vec4<f32>(0.0));
            h = max(h, vec4<f32>(0.0));
        }
    }
    for (var j = 0u; j < 4u; j++) {
        if (j < n) {
            put(at + j, l[j]);
        }
    }
    for (var j = 0u; j < 4u; j++) {
        if (j + 4u < n) {
            put(at + 4u + j, h[j]);
        }
    }
}

fn tile8_thread(t: u32, z: u32) {
    let cog = P.c_out / P.groups;
    let cig = P.c_in / P.groups;
    let i = z / P.groups;
    let g = z % P.groups;
    let kk = i32(P.kh * P.kw);
    let wg_base = i32(P.w_off + g * cog * cig * P.kh * P.kw);

    // Forward: x → out, w[m, c, ky, kx].
    var cs = cig;
    var cd = cog;
    var cs_all = P.c_in;
    var cd_all = P.c_out;
    var hs = P.h_in;
    var ws = P.w_in;
    var hd = P.h_out;
    var wd = P.w_out;
    var pad_y = i32(P.pad_top);
    var pad_x = i32(P.pad_left);
    var w_base = wg_base;
    var s_m = i32(cig) * kk;
    var s_c = kk;
    var s_y = i32(P.kw);
    var s_x = 1;
    if (BACKWARD_INPUT) {
        // dout → dx, w[c, m, kh − 1 − ky, kw − 1 − kx].
        cs = cog;
        cd = cig;
        cs_all = P.c_out;
        cd_all = P.c_in;
        hs = P.h_out;
        ws = P.w_out;
        hd = P.h_in;
        wd = P.w_in;
        pad_y = i32(P.kh) - 1 - i32(P.pad_top);
        pad_x = i32(P.kw) - 1 - i32(P.pad_left);
        w_base = wg_base + kk - 1;
        s_m = kk;
        s_c = i32(cig) * kk;
        s_y = -i32(P.kw);
        s_x = -1;
    }

    let per_row = (wd + STRIP_PX - 1u) / STRIP_PX;
    let strips = hd * per_row;
    let blocks = (cd + STRIP_CH - 1u) / STRIP_CH;
    if (t >= strips * blocks) {
        return;
    }
    let strip = t % strips;
    let m0 = (t / strips) * STRIP_CH;
    let oy = strip / per_row;
    let ox0 = (strip % per_row) * STRIP_PX;

    // Channels past the last repeat it (loads stay in range); they are not stored.
    let wmA = w_base + vec4<i32>(lanes4(m0, cd)) * s_m;
    let wmB = w_base + vec4<i32>(lanes4(m0 + 4u, cd)) * s_m;
    let iy0 = i32(oy) - pad_y;
    let ix0 = i32(ox0) - pad_x;
    let hsi = i32(hs);
    let wsi = i32(ws);
    let hw = i32(hs * ws);

    var acc = Tile8();
    let plane0 = i32(((i * cs_all + g * cs) * hs) * ws);
    // One loop over (ky, kx, c), channels innermost: SwiftShader runs a long loop far faster
    // than nested short ones (the first layer has one channel, 9 taps). A tap whose source row
    // is in the padding loads zeros.
    var c = 0u;
    var kx = 0u;
    var ky = 0u;
    let steps = cs * P.kh * P.kw;
    for (var step = 0u; step < steps; step++) {
        let iy = iy0 + i32(ky);
        let ok = iy >= 0 && iy < hsi;
        let at = plane0 + i32(c) * hw + iy * wsi;
        let ix = ix0 + i32(kx);
        let tap = i32(c) * s_c + i32(ky) * s_y + i32(kx) * s_x;
        let wA = vec4<u32>(wmA + tap);
        let wB = vec4<u32>(wmB + tap);
        // Source channel c's row iy from column ix, and the weights (m0..m0 + 7, c, ky, kx).
        let lo = vec4<f32>(ld(at, ix, wsi, ok), ld(at, ix + 1, wsi, ok), ld(at, ix + 2, wsi, ok), ld(at, ix + 3, wsi, ok));
        let hi = vec4<f32>(ld(at, ix + 4, wsi, ok), ld(at, ix + 5, wsi, ok), ld(at, ix + 6, wsi, ok), ld(at, ix + 7, wsi, ok));
        let w0 = vec4<f32>(wb[wA.x], wb[wA.y], wb[wA.z], wb[wA.w]);
        let w1 = vec4<f32>(wb[wB.x], wb[wB.y], wb[wB.z], wb[wB.w]);
        tile8_fma(&acc, w0, w1, lo, hi);
        c += 1u;
        let next_x = c == cs;
        c = select(c, 0u, next_x);
        kx = select(kx, kx + 1u, next_x);
        let next_y = kx == P.kw;
        kx = select(kx, 0u, next_y);
        ky = select(ky, ky + 1u, next_y);
    }

    let plane_d = hd * wd;
    let n = min(STRIP_PX, wd - ox0);
    let gm = g * cd + m0;
    let at = ((i * cd_all + gm) * hd + oy) * wd + ox0;
    // One channel after another; a channel past the group's last is not there.
    for (var j = 0u; j < STRIP_CH && m0 + j < cd; j++) {
        let r = tile8_row(acc, j);
        emit(gm + j, at + j * plane_d, n, r[0], r[1]);
    }
}
