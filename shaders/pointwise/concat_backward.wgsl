// concat_backward: dpart += its slice of dy (dispatched once per part).
// Rust: gpu::ops::concat_backward; CPU reference: ops::concat::concat_backward.
// One thread per element of the part; dispatch ceil(n·part_len / 256) workgroups (2-D above 65535).

struct ConcatParams {
    n: u32,
    part_len: u32,
    total_len: u32,
    offset: u32,
}

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read_write> dpart: array<f32>;
@group(0) @binding(2) var<uniform> P: ConcatParams;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i < P.n * P.part_len) {
        dpart[i] = dpart[i] + dy[(i / P.part_len) * P.total_len + P.offset + i % P.part_len];
    }
}
