// gap_backward: dx[i, c, :, :] += dout[i, c] / plane.
// Rust: gpu::ops::gap_backward; CPU reference: ops::gap::gap_backward.
// One thread per element of dx, P.count of them (common/elementwise.wgsl).

@group(0) @binding(0) var<storage, read> dout: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<uniform> P: GapParams;

fn elements() -> u32 {
    return P.count;
}

fn element(i: u32) {
    dx[i] = dx[i] + dout[i / P.plane] * (1.0 / f32(P.plane));
}
