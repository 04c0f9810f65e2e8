// gap_backward: dx[i, c, :, :] += dout[i, c] / plane.
// Rust: gpu::ops::gap_backward; CPU reference: ops::gap::gap_backward.
// One thread per element of dx; dispatch ceil(len / 256) workgroups (2-D above 65535).

struct GapParams {
    len: u32,
    plane: u32,
}

@group(0) @binding(0) var<storage, read> dout: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<uniform> P: GapParams;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i < P.len) {
        dx[i] = dx[i] + dout[i / P.plane] * (1.0 / f32(P.plane));
    }
}
