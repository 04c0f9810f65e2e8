// concat_forward: copies one part [n, part_len] into its channels of y [n, total_len] (dispatched
// once per part; concat_common.wgsl). Rust: gpu::ops::concat_forward; CPU reference:
// ops::concat::concat_forward. One thread per element of the part (common/elementwise.wgsl).

@group(0) @binding(0) var<storage, read> part: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> P: ConcatParams;

fn element(i: u32) {
    y[in_whole(i)] = part[i];
}
