// Winograd weight gradient, pass 4 (winograd_common.wgsl): dw[m, c] += Gᵀ Q[·, m, c] G, the
// 3×3 gradient of the kernel from output channel m to input channel c, with
// Gᵀ = [1 ½ ½ 0; 0 ½ −½ 0; 0 ½ ½ 1]; dw[m, c, ky, kx] is at w_base + (m·cs + c)·9 + 3·ky + kx.
// One thread per (m, c) (common/elementwise_64.wgsl), reading Q through xi_read.wgsl.

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read_write> grads: array<f32>;
@group(0) @binding(2) var<uniform> P: WinogradParams;

fn xi_get(i: u32) -> f32 {
    return q[i];
}

// A row r of (Gᵀ Q) times G: that row's three taps.
fn g_row(r: vec4<f32>) -> vec3<f32> {
    let h = 0.5 * (r.y + r.z);
    return vec3<f32>(r.x + h, 0.5 * (r.y - r.z), h + r.w);
}

fn add_row(at: u32, r: vec3<f32>) {
    grads[at] += r.x;
    grads[at + 1u] += r.y;
    grads[at + 2u] += r.z;
}

fn elements() -> u32 {
    return P.cd * P.cs;
}

fn element(k: u32) {
    let r = get_xi(k, P.cd * P.cs);
    let h = 0.5 * (r[1] + r[2]);
    let at = P.w_base + k * 9u;
    add_row(at, g_row(r[0] + h));
    add_row(at + 3u, g_row(0.5 * (r[1] - r[2])));
    add_row(at + 6u, g_row(h + r[3]));
}
