// blur_backward: dx += the adjoint of blur_forward applied to dout.
// Rust: gpu::ops::blur_backward; CPU reference: ops::blur::blur_backward.
// A gather: input cell (iy, ix) adds f[ky]·f[kx]·dout[oy, ox] over every (oy, ky), (ox, kx) with
// oy·s + ky = iy and ox·s + kx = ix (common/plane_io.wgsl): src is dout, dst is dx.

// The output index whose tap k reads input index i, or -1 if none does.
fn blur_source(i: u32, k: u32, out_len: u32) -> i32 {
    if (k > i || (i - k) % P.stride != 0u || (i - k) / P.stride >= out_len) {
        return -1;
    }
    return i32((i - k) / P.stride);
}

const GATHER = true;

fn cell(c: vec3<u32>) -> f32 {
    let base = c.x * P.h_out * P.w_out;
    var s = 0.0;
    for (var ky = 0u; ky < P.size; ky++) {
        let oy = blur_source(c.y, ky, P.h_out);
        if (oy < 0) {
            continue;
        }
        var row = 0.0;
        for (var kx = 0u; kx < P.size; kx++) {
            let ox = blur_source(c.z, kx, P.w_out);
            if (ox >= 0) {
                row += blur_tap(kx) * src[base + u32(oy) * P.w_out + u32(ox)];
            }
        }
        s += blur_tap(ky) * row;
    }
    return s;
}
