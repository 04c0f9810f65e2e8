// blur_backward: dx += the adjoint of blur_forward applied to dout.
// Rust: gpu::ops::blur_backward; CPU reference: ops::blur::blur_backward.
// A gather: input cell (iy, ix) adds f[ky]·f[kx]·dout[oy, ox] over every (oy, ky), (ox, kx) with
// oy·s + ky = iy and ox·s + kx = ix. One thread per input element (common/elementwise.wgsl).

@group(0) @binding(0) var<storage, read> dout: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<uniform> P: BlurParams;

fn elements() -> u32 {
    return P.planes * P.h_in * P.w_in;
}

fn element(i: u32) {
    let c = plane_cell(i, P.h_in, P.w_in);
    let iy = c.y;
    let ix = c.z;
    let base = c.x * P.h_out * P.w_out;
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
