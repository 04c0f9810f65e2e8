// conv2d_backward_weight, second pass: dw += Σ_s part[s] in split order.
// Rust: gpu::ops::conv2d_backward_weight (after the first pass).
// One thread per weight; dw lives at w_off in the gradient buffer.
// Dispatch: ceil(c_out·K / 256) workgroups of 256 (2-D when above 65535 workgroups).

@group(0) @binding(0) var<storage, read> part: array<f32>;
@group(0) @binding(1) var<storage, read_write> grads: array<f32>;
@group(0) @binding(2) var<uniform> P: ConvParams;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * 256u;
    let len = P.c_out * (P.c_in / P.groups) * P.kh * P.kw;
    if (idx >= len) {
        return;
    }
    var s = 0.0;
    for (var k = 0u; k < P.splits; k++) {
        s += part[k * len + idx];
    }
    grads[P.w_off + idx] = grads[P.w_off + idx] + s;
}
