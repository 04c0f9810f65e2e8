// conv2d_backward_weight, first pass, at stride 1 for software adapters (Gemm::Registers):
// partial weight gradients over chunks of the batch's output rows; conv2d_backward_weight_reduce
// adds the chunks. Same bindings as conv2d_backward_weight.wgsl.
// Rust: gpu::ops::conv2d_backward_weight; CPU reference:
// ops::conv2d::reference::conv2d_backward_weight.
//
// part[s, g·cog + co, (ci·kh + ky)·kw + kx] = Σ dout[i, co, oy, ox] · x[i, ci, oy + ky − pad_top,
// ox + kx − pad_left] over the output rows r = (i, oy) of chunk s (P.split_len rows each) and
// every ox, in (i, oy, ox) order.
//
// As in conv_strip_common.wgsl, the point is many multiply-adds per load on a software adapter.
// Each thread owns 8 output channels × 2 kernel rows (ci, ky) × 4 taps kx0..kx0+3 in a Tile8
// (gemm/tile8.wgsl, which holds the entry point; columns 0..3 kernel row 0, 4..7 row 1), and walks
// each output row a pixel at a time, keeping the 4 taps' inputs of both kernel rows in two vec4
// that slide by one pixel: per pixel 8 dout loads and 2 x loads for 64 multiply-adds. It keeps
// the forward's shape: SwiftShader's compiler takes minutes and gigabytes over a body with many
// more loads (4 pixels at once: 46).
//
// Dispatch: (ceil(T / 64) folded into x and y as `grid` does, 1, groups·splits) workgroups of 64,
// T = ceil(c_in_g·kh / 2) · ceil(kw / 4) · ceil(c_out_g / 8).

@group(0) @binding(0) var<storage, read> dout: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> part: array<f32>;
@group(0) @binding(3) var<uniform> P: ConvParams;

// x at column ix of a row starting at `row`; 0 in the padding.
fn ldx(row: i32, ix: i32, row_ok: bool) -> f32 {
    let ok = row_ok && ix >= 0 && ix < i32(P.w_in);
    return select(0.0, x[u32(select(0, row + ix, ok))], ok);
}

// The first n of v's taps into part from `at`.
fn put4(at: u32, v: vec4<f32>, n: u32) {
    for (var j = 0u; j < 4u; j++) {
        if (j < n) {
            part[at + j] = v[j];
        }
    }
}

fn tile8_thread(t: u32, z: u32) {
    let cog = P.c_out / P.groups;
    let cig = P.c_in / P.groups;
    let krows = cig * P.kh;
    let pairs = (krows + 1u) / 2u;
    let kxb = (P.kw + 3u) / 4u;
    let blocks = (cog + 7u) / 8u;
    if (t >= pairs * kxb * blocks) {
        return;
    }
    let pr = t % pairs;
    let rest = t / pairs;
    let kx0 = (rest % kxb) * 4u;
    let m0 = (rest / kxb) * 8u;
    let g = z / P.splits;
    let s = z % P.splits;
    let rows = P.n * P.h_out;
    let r_begin = min(s * P.split_len, rows);
    let r_end = min(r_begin + P.split_len, rows);

    // The thread's two kernel rows (ci, ky); a second row past the last repeats it, unstored.
    let k0 = min(2u * pr, krows - 1u);
    let k1 = min(2u * pr + 1u, krows - 1u);
    let hw_in = P.h_in * P.w_in;
    let hw_out = P.h_out * P.w_out;
    let xc0 = i32((g * cig + k0 / P.kh) * hw_in);
    let xc1 = i32((g * cig + k1 / P.kh) * hw_in);
    let dy0 = i32(k0 % P.kh) - i32(P.pad_top);
    let dy1 = i32(k1 % P.kh) - i32(P.pad_top);
    // Channels past the group's last repeat it (loads stay in range); they are not stored.
    let dA = (g * cog + lanes4(m0, cog)) * hw_out;
    let dB = (g * cog + lanes4(m0 + 4u, cog)) * hw_out;
    let bx = i32(kx0) - i32(P.pad_left);
    let h = i32(P.h_in);
    let w = i32(P.w_in);

    var acc = Tile8();
    var img = r_begin / P.h_out;
    var oy = r_begin % P.h_out;
    for (var r = r_begin; r < r_end; r++) {
        let ximg = i32(img * P.c_in * hw_in);
        let dimg = img * P.c_out * hw_out + oy * P.w_out;
        let iy0 = i32(oy) + dy0;
        let iy1 = i32(oy) + dy1;
        let ok0 = iy0 >= 0 && iy0 < h;
        let ok1 = iy1 >= 0 && iy1 < h;
        let row0 = ximg + xc0 + iy0 * w;
        let row1 = ximg + xc1 + iy1 * w;
        // u[j], v[j]: the input tap kx0 + j sees at the current pixel, in kernel rows 0 and 1.
        var u = vec4<f32>(ldx(row0, bx, ok0), ldx(row0, bx + 1, ok0), ldx(row0, bx + 2, ok0), 0.0);
        var v = vec4<f32>(ldx(row1, bx, ok1), ldx(row1, bx + 1, ok1), ldx(row1, bx + 2, ok1), 0.0);
        for (var ox = 0u; ox < P.w_out; ox++) {
            let ix = bx + i32(ox) + 3;
            u.w = ldx(row0, ix, ok0);
            v.w = ldx(row1, ix, ok1);
            let at = dimg + ox;
            let d0 = vec4<f32>(dout[at + dA.x], dout[at + dA.y], dout[at + dA.z], dout[at + dA.w]);
            let d1 = vec4<f32>(dout[at + dB.x], dout[at + dB.y], dout[at + dB.z], dout[at + dB.w]);
            tile8_fma(&acc, d0, d1, u, v);
            u = vec4<f32>(u.yzw, 0.0);
            v = vec4<f32>(v.yzw, 0.0);
        }
        oy += 1u;
        if (oy == P.h_out) {
            oy = 0u;
            img += 1u;
        }
    }

    let kdim = krows * P.kw;
    let n = min(4u, P.kw - kx0);
    let second = 2u * pr + 1u < krows;
    let at0 = (s * P.c_out + g * cog + m0) * kdim + k0 * P.kw + kx0;
    let at1 = at0 + (k1 - k0) * P.kw;
    // One channel after another; a channel past the group's last is not there.
    for (var j = 0u; j < 8u && m0 + j < cog; j++) {
        let r = tile8_row(acc, j);
        put4(at0 + j * kdim, r[0], n);
        if (second) {
            put4(at1 + j * kdim, r[1], n);
        }
    }
}
