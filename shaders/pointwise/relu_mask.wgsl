// relu_mask: dy = 0 where y <= 0, in place: the backward of a ReLU fused into conv2d or dense.
// Rust: gpu::ops::relu_mask; CPU reference: the fused-ReLU masking in model::exec backward.
// One thread per element; dispatch ceil(len / 256) workgroups (2-D above 65535).

struct LenParams {
    len: u32,
}

@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read_write> dy: array<f32>;
@group(0) @binding(2) var<uniform> P: LenParams;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i < P.len && !(y[i] > 0.0)) {
        dy[i] = 0.0;
    }
}
