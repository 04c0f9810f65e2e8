// dense_forward: y = x·wᵀ + b, optionally followed by ReLU. Overwrites y.
// Rust: gpu::ops::dense_forward; CPU reference: ops::dense::reference::dense_forward.
// Tiled GEMM with M = n, N = outputs, K = inputs. Dispatch: (ceil(outputs / TILE_N), ceil(n / TILE_M), 1).
// x: [n, inputs], w: [outputs, inputs] at w_off, b: [outputs] at b_off, y: [n, outputs].

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> wb: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> P: DenseParams;

fn gemm_dims(z: u32) -> vec4<u32> {
    return vec4<u32>(P.n, P.outputs, 0u, P.inputs);
}

fn load_a(z: u32, m: u32, k: u32) -> f32 {
    return x[m * P.inputs + k];
}

fn load_b(z: u32, k: u32, n: u32) -> f32 {
    return wb[P.w_off + n * P.inputs + k];
}

fn store(z: u32, m: u32, n: u32, v: f32) {
    var r = v;
    if (P.has_bias != 0u) {
        r += wb[P.b_off + n];
    }
    if (P.relu != 0u) {
        r = max(r, 0.0);
    }
    y[m * P.outputs + n] = r;
}
