// conv2d_forward: out = conv(x, w) + b, optionally followed by ReLU. Overwrites out.
// Rust: gpu::ops::conv2d_forward; CPU reference: ops::conv2d::reference::conv2d_forward.
// Implicit GEMM per (image, group): out_g[co, p] = Σ_k w_g[co, k] · im2col(x)[k, p], with
// k = (ci, ky, kx) and p = (oy, ox); the patches are gathered on the fly, never materialised.
// Dispatch: (ceil(h_out·w_out / TILE_N), ceil(c_out_g / TILE_M), n·groups).
// x: [n, c_in, h_in, w_in], w: [c_out, c_in/groups, kh, kw] at w_off, b: [c_out] at b_off,
// out: [n, c_out, h_out, w_out].

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> wb: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> P: ConvParams;

fn gemm_dims(z: u32) -> vec4<u32> {
    return vec4<u32>(P.c_out / P.groups, P.h_out * P.w_out, 0u, (P.c_in / P.groups) * P.kh * P.kw);
}

fn load_a(z: u32, m: u32, k: u32) -> f32 {
    let g = z % P.groups;
    let kdim = (P.c_in / P.groups) * P.kh * P.kw;
    return wb[P.w_off + (g * (P.c_out / P.groups) + m) * kdim + k];
}

fn load_b(z: u32, k: u32, n: u32) -> f32 {
    let at = im2col_index(z / P.groups, z % P.groups, k, n);
    if (at < 0) {
        return 0.0;
    }
    return x[u32(at)];
}

fn store(z: u32, m: u32, n: u32, v: f32) {
    let i = z / P.groups;
    let co = (z % P.groups) * (P.c_out / P.groups) + m;
    var y = v;
    if (P.has_bias != 0u) {
        y += wb[P.b_off + co];
    }
    if (P.relu != 0u) {
        y = max(y, 0.0);
    }
    out[(i * P.c_out + co) * P.h_out * P.w_out + n] = y;
}
