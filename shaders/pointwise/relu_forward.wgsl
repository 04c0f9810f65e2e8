// relu_forward: y = max(x, 0). Overwrites y.
// Rust: gpu::ops::relu_forward; CPU reference: ops::relu::relu_forward.
// One thread per element; dispatch ceil(len / 256) workgroups (2-D above 65535).

struct LenParams {
    len: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> P: LenParams;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i < P.len) {
        y[i] = select(0.0, x[i], x[i] > 0.0);
    }
}
