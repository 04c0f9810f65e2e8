// pad_forward: y = x with an explicit border of zeros, reflections or wrap-around. Overwrites y.
// Rust: gpu::ops::pad_forward; CPU reference: ops::pad::pad_forward.
// One thread per output element (common/elementwise.wgsl).

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> P: PadParams;

fn elements() -> u32 {
    return P.planes * P.h_out * P.w_out;
}

fn element(i: u32) {
    let o = plane_cell(i, P.h_out, P.w_out);
    let iy = pad_source(i32(o.y), P.top, P.h_in, P.mode);
    let ix = pad_source(i32(o.z), P.left, P.w_in, P.mode);
    var v = 0.0;
    if (iy >= 0 && ix >= 0) {
        v = x[o.x * P.h_in * P.w_in + u32(iy) * P.w_in + u32(ix)];
    }
    y[i] = v;
}
