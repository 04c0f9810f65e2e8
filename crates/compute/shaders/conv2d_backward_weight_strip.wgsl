// conv2d_backward_weight, first pass, at stride 1 for software adapters (Gemm::Registers):
// partial weight gradients over chunks of the batch's output rows; conv2d_backward_weight_reduce
// adds the chunks. Same bindings as conv2d_backward_weight.wgsl.
// CPU reference: ops::conv2d::reference::conv2d_backward_weight.
//
// part[s, g·cog + co, (ci·kh + ky)·kw + kx] = Σ dout[i, co, oy, ox] · x[i, ci, oy + ky − pad_top,
// ox + kx − pad_left] over the output rows r = (i, oy) of chunk s (P.split_len rows each) and
// every ox, in (i, oy, ox) order.
//
// As in conv_strip_common.wgsl, the point is many multiply-adds per load on a software adapter.
// Each thread owns 8 output channels × 2 kernel rows (ci, ky) × 4 taps kx0..kx0+3, in 16 vec4
// accumulators, and walks each output row 4 pixels at a time: 32 dout loads and 2 × 7 x loads
// (the 4 pixels' windows overlap) for 256 multiply-adds.
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

// dout at `at` (column ox of its row); 0 past the row's end.
fn ldd(at: u32, ox: u32) -> f32 {
    let ok = ox < P.w_out;
    return select(0.0, dout[select(0u, at, ok)], ok);
}

// dout of one channel (row start `at`) at the 4 pixels from ox0.
fn dout4(at: u32, ox0: u32) -> vec4<f32> {
    return vec4<f32>(ldd(at, ox0), ldd(at + 1u, ox0 + 1u), ldd(at + 2u, ox0 + 2u), ldd(at + 3u, ox0 + 3u));
}

// The first n of v's taps into part from `at`.
fn put4(at: u32, v: vec4<f32>, n: u32) {
    for (var j = 0u; j < 4u; j++) {
        if (j < n) {
            part[at + j] = v[j];
        }
    }
}

@compute @workgroup_size(64)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32
) {
    let cog = P.c_out / P.groups;
    let cig = P.c_in / P.groups;
    let krows = cig * P.kh;
    let pairs = (krows + 1u) / 2u;
    let kxb = (P.kw + 3u) / 4u;
    let blocks = (cog + 7u) / 8u;
    let t = (wg.y * nwg.x + wg.x) * 64u + li;
    if (t >= pairs * kxb * blocks) {
        return;
    }
    let pr = t % pairs;
    let rest = t / pairs;
    let kx0 = (rest % kxb) * 4u;
    let m0 = (rest / kxb) * 8u;
    let g = wg.z / P.splits;
    let s = wg.z % P.splits;
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
    let dA = (g * cog + lanes4(m0, cog)) * hw_out;
    let dB = (g * cog + lanes4(m0 + 4u, cog)) * hw_out;
    let offx = i32(kx0) - i32(P.pad_left);
    let h = i32(P.h_in);
    let w = i32(P.w_in);

    var p0 = vec4<f32>(0.0);
    var p1 = vec4<f32>(0.0);
    var p2 = vec4<f32>(0.0);
    var p3 = vec4<f32>(0.0);
    var p4 = vec4<f32>(0.0);
    var p5 = vec4<f32>(0.0);
    var p6 = vec4<f32>(0.0);
    var p7 = vec4<f32>(0.0);
    var q0 = vec4<f32>(0.0);
    var q1 = vec4<f32>(0.0);
    var q2 = vec4<f32>(0.0);
    var q3 = vec4<f32>(0.0);
    var q4 = vec4<f32>(0.0);
    var q5 = vec4<f32>(0.0);
    var q6 = vec4<f32>(0.0);
    var q7 = vec4<f32>(0.0);
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
        for (var ox0 = 0u; ox0 < P.w_out; ox0 += 4u) {
            let bx = i32(ox0) + offx;
            let d = dimg + ox0;
            let d0 = dout4(d + dA.x, ox0);
            let d1 = dout4(d + dA.y, ox0);
            let d2 = dout4(d + dA.z, ox0);
            let d3 = dout4(d + dA.w, ox0);
            let d4 = dout4(d + dB.x, ox0);
            let d5 = dout4(d + dB.y, ox0);
            let d6 = dout4(d + dB.z, ox0);
            let d7 = dout4(d + dB.w, ox0);
            // Row 0: the taps seen by pixels 0..3 are windows u0..u3 of 7 loaded columns.
            let e0 = ldx(row0, bx, ok0);
            let e1 = ldx(row0, bx + 1, ok0);
            let e2 = ldx(row0, bx + 2, ok0);
            let e3 = ldx(row0, bx + 3, ok0);
            let e4 = ldx(row0, bx + 4, ok0);
            let e5 = ldx(row0, bx + 5, ok0);
            let e6 = ldx(row0, bx + 6, ok0);
            let u0 = vec4<f32>(e0, e1, e2, e3);
            let u1 = vec4<f32>(e1, e2, e3, e4);
            let u2 = vec4<f32>(e2, e3, e4, e5);
            let u3 = vec4<f32>(e3, e4, e5, e6);
            p0 = fma(vec4<f32>(d0.w), u3, fma(vec4<f32>(d0.z), u2, fma(vec4<f32>(d0.y), u1, fma(vec4<f32>(d0.x), u0, p0))));
            p1 = fma(vec4<f32>(d1.w), u3, fma(vec4<f32>(d1.z), u2, fma(vec4<f32>(d1.y), u1, fma(vec4<f32>(d1.x), u0, p1))));
            p2 = fma(vec4<f32>(d2.w), u3, fma(vec4<f32>(d2.z), u2, fma(vec4<f32>(d2.y), u1, fma(vec4<f32>(d2.x), u0, p2))));
            p3 = fma(vec4<f32>(d3.w), u3, fma(vec4<f32>(d3.z), u2, fma(vec4<f32>(d3.y), u1, fma(vec4<f32>(d3.x), u0, p3))));
            p4 = fma(vec4<f32>(d4.w), u3, fma(vec4<f32>(d4.z), u2, fma(vec4<f32>(d4.y), u1, fma(vec4<f32>(d4.x), u0, p4))));
            p5 = fma(vec4<f32>(d5.w), u3, fma(vec4<f32>(d5.z), u2, fma(vec4<f32>(d5.y), u1, fma(vec4<f32>(d5.x), u0, p5))));
            p6 = fma(vec4<f32>(d6.w), u3, fma(vec4<f32>(d6.z), u2, fma(vec4<f32>(d6.y), u1, fma(vec4<f32>(d6.x), u0, p6))));
            p7 = fma(vec4<f32>(d7.w), u3, fma(vec4<f32>(d7.z), u2, fma(vec4<f32>(d7.y), u1, fma(vec4<f32>(d7.x), u0, p7))));
            // Row 1.
            let f0 = ldx(row1, bx, ok1);
            let f1 = ldx(row1, bx + 1, ok1);
            let f2 = ldx(row1, bx + 2, ok1);
            let f3 = ldx(row1, bx + 3, ok1);
            let f4 = ldx(row1, bx + 4, ok1);
            let f5 = ldx(row1, bx + 5, ok1);
            let f6 = ldx(row1, bx + 6, ok1);
            let v0 = vec4<f32>(f0, f1, f2, f3);
            let v1 = vec4<f32>(f1, f2, f3, f4);
            let v2 = vec4<f32>(f2, f3, f4, f5);
            let v3 = vec4<f32>(f3, f4, f5, f6);
            q0 = fma(vec4<f32>(d0.w), v3, fma(vec4<f32>(d0.z), v2, fma(vec4<f32>(d0.y), v1, fma(vec4<f32>(d0.x), v0, q0))));
            q1 = fma(vec4<f32>(d1.w), v3, fma(vec4<f32>(d1.z), v2, fma(vec4<f32>(d1.y), v1, fma(vec4<f32>(d1.x), v0, q1))));
            q2 = fma(vec4<f32>(d2.w), v3, fma(vec4<f32>(d2.z), v2, fma(vec4<f32>(d2.y), v1, fma(vec4<f32>(d2.x), v0, q2))));
            q3 = fma(vec4<f32>(d3.w), v3, fma(vec4<f32>(d3.z), v2, fma(vec4<f32>(d3.y), v1, fma(vec4<f32>(d3.x), v0, q3))));
            q4 = fma(vec4<f32>(d4.w), v3, fma(vec4<f32>(d4.z), v2, fma(vec4<f32>(d4.y), v1, fma(vec4<f32>(d4.x), v0, q4))));
            q5 = fma(vec4<f32>(d5.w), v3, fma(vec4<f32>(d5.z), v2, fma(vec4<f32>(d5.y), v1, fma(vec4<f32>(d5.x), v0, q5))));
            q6 = fma(vec4<f32>(d6.w), v3, fma(vec4<f32>(d6.z), v2, fma(vec4<f32>(d6.y), v1, fma(vec4<f32>(d6.x), v0, q6))));
            q7 = fma(vec4<f32>(d7.w), v3, fma(vec4<f32>(d7.z), v2, fma(vec4<f32>(d7.y), v1, fma(vec4<f32>(d7.x), v0, q7))));
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
    if (m0 < cog) { put4(at0, p0, n); if (second) { put4(at1, q0, n); } }
    if (m0 + 1u < cog) { put4(at0 + kdim, p1, n); if (second) { put4(at1 + kdim, q1, n); } }
    if (m0 + 2u < cog) { put4(at0 + 2u * kdim, p2, n); if (second) { put4(at1 + 2u * kdim, q2, n); } }
    if (m0 + 3u < cog) { put4(at0 + 3u * kdim, p3, n); if (second) { put4(at1 + 3u * kdim, q3, n); } }
    if (m0 + 4u < cog) { put4(at0 + 4u * kdim, p4, n); if (second) { put4(at1 + 4u * kdim, q4, n); } }
    if (m0 + 5u < cog) { put4(at0 + 5u * kdim, p5, n); if (second) { put4(at1 + 5u * kdim, q5, n); } }
    if (m0 + 6u < cog) { put4(at0 + 6u * kdim, p6, n); if (second) { put4(at1 + 6u * kdim, q6, n); } }
    if (m0 + 7u < cog) { put4(at0 + 7u * kdim, p7, n); if (second) { put4(at1 + 7u * kdim, q7, n); } }
}
