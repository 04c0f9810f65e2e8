// pad_backward: dx += the gradient of every padded cell, sent back to the input cell it copied.
// Rust: gpu::ops::pad_backward; CPU reference: ops::pad::pad_backward.
// A gather: each input cell adds the (up to 3×3) padded cells that copy it
// (common/plane_io.wgsl): src is dy, dst is dx.

const GATHER = true;

fn cell(c: vec3<u32>) -> f32 {
    let ys = pad_images(c.y, P.top, P.h_in, P.h_out, P.mode);
    let xs = pad_images(c.z, P.left, P.w_in, P.w_out, P.mode);
    let base = c.x * P.h_out * P.w_out;
    var s = 0.0;
    for (var a = 0; a < 3; a++) {
        if (ys[a] < 0) {
            continue;
        }
        for (var b = 0; b < 3; b++) {
            if (xs[b] >= 0) {
                s += src[base + u32(ys[a]) * P.w_out + u32(xs[b])];
            }
        }
    }
    return s;
}
