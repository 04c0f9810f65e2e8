// add_backward: dx += dy, once for each addend (also the backward of flatten's copy).
// Rust: gpu::ops::add_backward; CPU reference: ops::add::add_backward.
// One thread per element; dispatch ceil(len / 256) workgroups (2-D above 65535).

struct LenParams {
    len: u32,
}

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<uniform> P: LenParams;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i < P.len) {
        dx[i] = dx[i] + dy[i];
    }
}
