// blur_forward: out[oy, ox] = Σ f[ky]·f[kx]·x[oy·s + ky, ox·s + kx]. Overwrites out.
// Rust: gpu::ops::blur_forward; CPU reference: ops::blur::blur_forward (rows, then columns).
// Rows first, then columns, as the CPU does. One thread per output element
// (common/elementwise.wgsl).

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> P: BlurParams;

fn elements() -> u32 {
    return P.planes * P.h_out * P.w_out;
}

fn element(i: u32) {
    let o = plane_cell(i, P.h_out, P.w_out);
    let oy = o.y;
    let ox = o.z;
    let base = o.x * P.h_in * P.w_in;
    var s = 0.0;
    for (var kx = 0u; kx < P.size; kx++) {
        let ix = ox * P.stride + kx;
        var col = 0.0;
        for (var ky = 0u; ky < P.size; ky++) {
            col += blur_tap(ky) * x[base + (oy * P.stride + ky) * P.w_in + ix];
        }
        s += col * blur_tap(kx);
    }
    out[i] = s;
}
