// dense_backward_input: dx += dy·w.
// Rust: gpu::ops::dense_backward_input; CPU reference: ops::dense::reference::dense_backward_input.
// Tiled GEMM with M = n, N = inputs, K = outputs. Dispatch: (ceil(inputs / TILE_N), ceil(n / TILE_M), 1).
// dy: [n, outputs], w: [outputs, inputs] at w_off, dx: [n, inputs].

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> wb: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> P: DenseParams;

fn gemm_dims(z: u32) -> vec4<u32> {
    return vec4<u32>(P.n, P.inputs, 0u, P.outputs);
}

fn load_a(z: u32, m: u32, k: u32) -> f32 {
    return dy[m * P.outputs + k];
}

fn load_b(z: u32, k: u32, n: u32) -> f32 {
    return wb[P.w_off + k * P.inputs + n];
}

fn store(z: u32, m: u32, n: u32, v: f32) {
    let at = m * P.inputs + n;
    dx[at] = dx[at] + v;
}
