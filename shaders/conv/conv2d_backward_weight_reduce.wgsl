// conv2d_backward_weight, second pass: dw += Σ_s part[s] in split order.
// Rust: gpu::ops::conv2d_backward_weight (after the first pass); CPU reference, with the first
// pass: ops::conv2d::reference::conv2d_backward_weight.
// One thread per weight (common/elementwise.wgsl), c_out·K of them, K = c_in_g·kh·kw; dw lives at
// w_off in the gradient buffer.

@group(0) @binding(0) var<storage, read> part: array<f32>;
@group(0) @binding(1) var<storage, read_write> grads: array<f32>;
@group(0) @binding(2) var<uniform> P: ConvParams;

fn elements() -> u32 {
    return P.c_out * (P.c_in / P.groups) * P.kh * P.kw;
}

fn element(idx: u32) {
    let len = elements();
    var s = 0.0;
    for (var k = 0u; k < P.splits; k++) {
        s += part[k * len + idx];
    }
    grads[P.w_off + idx] = grads[P.w_off + idx] + s;
}
