// blur_forward: out[oy, ox] = Σ f[ky]·f[kx]·x[oy·s + ky, ox·s + kx]. Overwrites out.
// Rust: gpu::ops::blur_forward; CPU reference: ops::blur::blur_forward (rows, then columns).
// Rows first, then columns, as the CPU does. One thread per output element; dispatch
// ceil(planes·h_out·w_out / 256) workgroups (2-D above 65535).

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> P: BlurParams;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    let hw_out = P.h_out * P.w_out;
    if (i >= P.planes * hw_out) {
        return;
    }
    let q = i / hw_out;
    let oy = (i % hw_out) / P.w_out;
    let ox = i % P.w_out;
    let base = q * P.h_in * P.w_in;
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
