// Shared by pad_forward and pad_backward: the geometry of an explicit border and where each
// padded cell copies from. Mirrors `PadParams` in crates/compute/src/gpu/kernels.rs.
// mode: 0 zeros, 1 reflect (no edge repeat), 2 circular (wrap-around).

struct PadParams {
    planes: u32,
    h_in: u32,
    w_in: u32,
    h_out: u32,
    w_out: u32,
    top: u32,
    left: u32,
    mode: u32,
}

// The uniform of common/plane_io.wgsl.
alias Params = PadParams;

// The input index padded position `o` (of an axis padded by `before`) copies, or -1 for a zero.
// As ops::pad::PadMode::source: reflection is valid for pads < len, wrap-around for pads <= len.
fn pad_source(o: i32, before: u32, len: u32, mode: u32) -> i32 {
    let n = i32(len);
    let i = o - i32(before);
    if (i >= 0 && i < n) {
        return i;
    }
    if (mode == 1u) {
        return select(2 * (n - 1) - i, -i, i < 0);
    }
    if (mode == 2u) {
        return ((i % n) + n) % n;
    }
    return -1;
}

// The padded positions (up to three; -1 where none) that copy input index `i`: the cell itself
// and its mirror or wrap-around images in the borders.
fn pad_images(i: u32, before: u32, len: u32, out_len: u32, mode: u32) -> vec3<i32> {
    let ii = i32(i);
    let b = i32(before);
    let n = i32(len);
    var c = vec3<i32>(ii + b, -1, -1);
    if (mode == 1u) {
        if (ii >= 1) {
            c.y = b - ii;
        }
        if (ii <= n - 2) {
            c.z = b + 2 * (n - 1) - ii;
        }
    } else if (mode == 2u) {
        c.y = b + ii - n;
        c.z = b + ii + n;
    }
    // Keep only images inside the padded axis that really copy `i`.
    for (var k = 1; k < 3; k++) {
        let o = c[k];
        if (o < 0 || o >= i32(out_len) || pad_source(o, before, len, mode) != ii) {
            c[k] = -1;
        }
    }
    return c;
}
