// dense_backward_weight: dw += dyᵀ·x (the bias gradient is bias_backward's).
// Rust: gpu::ops::dense_backward_weight; CPU reference: ops::dense::reference::dense_backward_weight.
// Tiled GEMM with M = outputs, N = inputs, K = n. Dispatch: (ceil(inputs / TILE_N), ceil(outputs / TILE_M), 1).
// dy: [n, outputs], x: [n, inputs], dw: [outputs, inputs] at w_off of the gradient buffer.

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> grads: array<f32>;
@group(0) @binding(3) var<uniform> P: DenseParams;

fn gemm_dims(z: u32) -> vec4<u32> {
    return vec4<u32>(P.outputs, P.inputs, 0u, P.n);
}

fn load_a(z: u32, m: u32, k: u32) -> f32 {
    return dy[k * P.outputs + m];
}

fn load_b(z: u32, k: u32, n: u32) -> f32 {
    return x[k * P.inputs + n];
}

fn store(z: u32, m: u32, n: u32, v: f32) {
    let at = P.w_off + m * P.inputs + n;
    grads[at] = grads[at] + v;
}
