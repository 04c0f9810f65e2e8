// concat_backward: dpart += its slice of dy (dispatched once per part; concat_common.wgsl).
// Rust: gpu::ops::concat_backward; CPU reference: ops::concat::concat_backward.
// One thread per element of the part (common/elementwise.wgsl).

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read_write> dpart: array<f32>;
@group(0) @binding(2) var<uniform> P: ConcatParams;

fn element(i: u32) {
    dpart[i] = dpart[i] + dy[in_whole(i)];
}
