// bias_backward: db[c] += Σ_{i, p} dy[i, c, p], the bias gradient of conv2d (plane = h·w) and
// dense (plane = 1).
// Rust: gpu::ops::bias_backward; CPU reference: the db part of conv2d_backward_weight and
// dense_backward_weight.
// One workgroup of 256 per channel (common/channel_reduce.wgsl).
// Dispatch: (c, 1, 1).

struct BiasParams {
    n: u32,
    c: u32,
    plane: u32,
    b_off: u32,
}

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read_write> grads: array<f32>;
@group(0) @binding(2) var<uniform> P: BiasParams;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let ch = wg.x;
    let total = P.n * P.plane;
    var s = 0.0;
    for (var r = li; r < total; r += 256u) {
        s += dy[channel_at(r, ch, P.c, P.plane)];
    }
    let sum = workgroup_sum(li, s);
    if (li == 0u) {
        grads[P.b_off + ch] = grads[P.b_off + ch] + sum;
    }
}
