// pad_backward: dx += the gradient of every padded cell, sent back to the input cell it copied.
// Rust: gpu::ops::pad_backward; CPU reference: ops::pad::pad_backward.
// A gather: each input cell adds the (up to 3×3) padded cells that copy it. One thread per input
// element (common/elementwise.wgsl).

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<uniform> P: PadParams;

fn elements() -> u32 {
    return P.planes * P.h_in * P.w_in;
}

fn element(i: u32) {
    let c = plane_cell(i, P.h_in, P.w_in);
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
                s += dy[base + u32(ys[a]) * P.w_out + u32(xs[b])];
            }
        }
    }
    dx[i] = dx[i] + s;
}
