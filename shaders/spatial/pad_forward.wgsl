// pad_forward: y = x with an explicit border of zeros, reflections or wrap-around. Overwrites y.
// Rust: gpu::ops::pad_forward; CPU reference: ops::pad::pad_forward.
// One thread per output element; dispatch ceil(planes·h_out·w_out / 256) workgroups (2-D above 65535).

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> P: PadParams;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    let hw_out = P.h_out * P.w_out;
    if (i >= P.planes * hw_out) {
        return;
    }
    let q = i / hw_out;
    let iy = pad_source(i32((i % hw_out) / P.w_out), P.top, P.h_in, P.mode);
    let ix = pad_source(i32(i % P.w_out), P.left, P.w_in, P.mode);
    var v = 0.0;
    if (iy >= 0 && ix >= 0) {
        v = x[q * P.h_in * P.w_in + u32(iy) * P.w_in + u32(ix)];
    }
    y[i] = v;
}
