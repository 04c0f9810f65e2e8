// blur_forward: out[oy, ox] = Σ f[ky]·f[kx]·x[oy·s + ky, ox·s + kx]. Overwrites out.
// Rust: gpu::ops::blur_forward; CPU reference: ops::blur::blur_forward (rows, then columns).
// Rows first, then columns, as the CPU does. One thread per output cell
// (common/plane_io.wgsl): src is x, dst is out.

const GATHER = false;

fn cell(o: vec3<u32>) -> f32 {
    let base = o.x * P.h_in * P.w_in;
    var s = 0.0;
    for (var kx = 0u; kx < P.size; kx++) {
        let ix = o.z * P.stride + kx;
        var col = 0.0;
        for (var ky = 0u; ky < P.size; ky++) {
            col += blur_tap(ky) * src[base + (o.y * P.stride + ky) * P.w_in + ix];
        }
        s += col * blur_tap(kx);
    }
    return s;
}
