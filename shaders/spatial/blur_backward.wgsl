// blur_backward: dx += the adjoint of blur_forward applied to dout.
// Rust: gpu::ops::blur_backward; CPU reference: ops::blur::blur_backward.
// A gather: input cell (iy, ix) adds f[ky]·f[kx]·dout[oy, ox] over every (oy, ky), (ox, kx) with
// oy·s + ky = iy and ox·s + kx = ix. One thread per input element; dispatch
// ceil(planes·h_in·w_in / 256) workgroups (2-D above 65535).

@group(0) @binding(0) var<storage, read> dout: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<uniform> P: BlurParams;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    let hw_in = P.h_in * P.w_in;
    if (i >= P.planes * hw_in) {
        return;
    }
    let q = i / hw_in;
    let iy = (i % hw_in) / P.w_in;
    let ix = i % P.w_in;
    let base = q * P.h_out * P.w_out;
    var s = 0.0;
    for (var ky = 0u; ky < P.size; ky++) {
        if (ky > iy || (iy - ky) % P.stride != 0u || (iy - ky) / P.stride >= P.h_out) {
            continue;
        }
        let oy = (iy - ky) / P.stride;
        var row = 0.0;
        for (var kx = 0u; kx < P.size; kx++) {
            if (kx > ix || (ix - kx) % P.stride != 0u || (ix - kx) / P.stride >= P.w_out) {
                continue;
            }
            row += blur_tap(kx) * dout[base + oy * P.w_out + (ix - kx) / P.stride];
        }
        s += blur_tap(ky) * row;
    }
    dx[i] = dx[i] + s;
}
