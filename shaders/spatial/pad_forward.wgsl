// pad_forward: y = x with an explicit border of zeros, reflections or wrap-around. Overwrites y.
// Rust: gpu::ops::pad_forward; CPU reference: ops::pad::pad_forward.
// One thread per output cell (common/plane_io.wgsl): src is x, dst is y.

const GATHER = false;

fn cell(o: vec3<u32>) -> f32 {
    let iy = pad_source(i32(o.y), P.top, P.h_in, P.mode);
    let ix = pad_source(i32(o.z), P.left, P.w_in, P.mode);
    if (iy < 0 || ix < 0) {
        return 0.0;
    }
    return src[o.x * P.h_in * P.w_in + u32(iy) * P.w_in + u32(ix)];
}
