// conv2d_backward_weight, first pass: partial weight gradients over chunks of the batch.
// Rust: gpu::ops::conv2d_backward_weight; CPU reference: ops::conv2d::reference::conv2d_backward_weight.
// Implicit GEMM per (group, split): part[s, g·cog + co, k] = Σ_{r in chunk s} dout[i, co, p] ·
// im2col(x)[i][k, p] over r = (i, p), the reduction over images and output pixels cut into
// `splits` chunks of `split_len` so that many workgroups share it. conv2d_backward_weight_reduce
// then adds the chunks, in order, into dw: the result does not depend on scheduling.
// Dispatch: (ceil(K / TILE_N), ceil(c_out_g / TILE_M), groups·splits), K = c_in_g·kh·kw.
// dout: [n, c_out, h_out, w_out], x: [n, c_in, h_in, w_in], part: [splits, c_out, K].

@group(0) @binding(0) var<storage, read> dout: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> part: array<f32>;
@group(0) @binding(3) var<uniform> P: ConvParams;

fn gemm_dims(z: u32) -> vec4<u32> {
    let s = z % P.splits;
    let total = P.n * P.h_out * P.w_out;
    let begin = min(s * P.split_len, total);
    let end = min(begin + P.split_len, total);
    return vec4<u32>(P.c_out / P.groups, (P.c_in / P.groups) * P.kh * P.kw, begin, end);
}

// A[co, (i, p)] = dout[i, g·cog + co, p]
fn load_a(z: u32, m: u32, k: u32) -> f32 {
    let g = z / P.splits;
    let hw = P.h_out * P.w_out;
    let i = k / hw;
    let p = k % hw;
    return dout[(i * P.c_out + g * (P.c_out / P.groups) + m) * hw + p];
}

// B[(i, p), k] = im2col(x)[i][k, p]
fn load_b(z: u32, k: u32, n: u32) -> f32 {
    let g = z / P.splits;
    let hw = P.h_out * P.w_out;
    let at = im2col_index(k / hw, g, n, k % hw);
    if (at < 0) {
        return 0.0;
    }
    return x[u32(at)];
}

fn store(z: u32, m: u32, n: u32, v: f32) {
    let g = z / P.splits;
    let s = z % P.splits;
    let kdim = (P.c_in / P.groups) * P.kh * P.kw;
    part[(s * P.c_out + g * (P.c_out / P.groups) + m) * kdim + n] = v;
}
