// dropout_backward: dx += dy · mask.
// Rust: gpu::ops::dropout_backward; CPU reference: ops::dropout::dropout_backward.
// One thread per element; dispatch ceil(len / 256) workgroups (2-D above 65535).

struct LenParams {
    len: u32,
}

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> mask: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> P: LenParams;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i < P.len) {
        dx[i] = dx[i] + dy[i] * mask[i];
    }
}
