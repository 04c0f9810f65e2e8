// conv2d_backward_input: dx += convᵀ(dout, w).
// Rust: gpu::ops::conv2d_backward_input; CPU reference: ops::conv2d::reference::conv2d_backward_input.
// Implicit GEMM per (image, group), written as a gather so no two threads add to one dx cell:
// dx_g[ci, q] += Σ_{co, ky, kx} w[co, ci, ky, kx] · dout[co, oy, ox] where q = (iy, ix) and
// (oy, ox) = ((iy + pad_top − ky) / stride, (ix + pad_left − kx) / stride) when that divides
// exactly and lands inside dout (else the term is zero).
// Dispatch: (ceil(h_in·w_in / TILE_N), ceil(c_in_g / TILE_M), n·groups).
// dout: [n, c_out, h_out, w_out], w at w_off, dx: [n, c_in, h_in, w_in].

@group(0) @binding(0) var<storage, read> dout: array<f32>;
@group(0) @binding(1) var<storage, read> wb: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> P: ConvParams;

fn gemm_dims(z: u32) -> vec4<u32> {
    return vec4<u32>(P.c_in / P.groups, P.h_in * P.w_in, 0u, (P.c_out / P.groups) * P.kh * P.kw);
}

// A[ci, (co, ky, kx)] = w[g·cog + co, ci, ky, kx]
fn load_a(z: u32, m: u32, k: u32) -> f32 {
    let g = z % P.groups;
    let kk = P.kh * P.kw;
    let co = k / kk;
    let r = k % kk;
    let cig = P.c_in / P.groups;
    return wb[P.w_off + ((g * (P.c_out / P.groups) + co) * cig + m) * kk + r];
}

// B[(co, ky, kx), (iy, ix)] = dout[i, g·cog + co, oy, ox]
fn load_b(z: u32, k: u32, n: u32) -> f32 {
    let i = z / P.groups;
    let g = z % P.groups;
    let kk = P.kh * P.kw;
    let co = k / kk;
    let r = k % kk;
    let ky = r / P.kw;
    let kx = r % P.kw;
    let ty = i32(n / P.w_in + P.pad_top) - i32(ky);
    let tx = i32(n % P.w_in + P.pad_left) - i32(kx);
    if (ty < 0 || tx < 0) {
        return 0.0;
    }
    let uy = u32(ty);
    let ux = u32(tx);
    if (uy % P.stride != 0u || ux % P.stride != 0u) {
        return 0.0;
    }
    let oy = uy / P.stride;
    let ox = ux / P.stride;
    if (oy >= P.h_out || ox >= P.w_out) {
        return 0.0;
    }
    return dout[((i * P.c_out + g * (P.c_out / P.groups) + co) * P.h_out + oy) * P.w_out + ox];
}

fn store(z: u32, m: u32, n: u32, v: f32) {
    let i = z / P.groups;
    let ci = (z % P.groups) * (P.c_in / P.groups) + m;
    let at = (i * P.c_in + ci) * P.h_in * P.w_in + n;
    dx[at] = dx[at] + v;
}
