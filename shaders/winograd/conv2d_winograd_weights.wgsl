// Winograd pass 1 (winograd_common.wgsl): U[ξ, m, c] = (G g Gᵀ)[ξ] for every destination
// channel m and source channel c, g the 3×3 kernel read through the affine weight index, with
// G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]. One thread per (m, c) (common/elementwise_64.wgsl),
// writing U through xi_write.wgsl.

@group(0) @binding(0) var<storage, read> wb: array<f32>;
@group(0) @binding(1) var<storage, read_write> u: array<f32>;
@group(0) @binding(2) var<uniform> P: WinogradParams;

fn w_row(base: i32) -> vec3<f32> {
    return vec3<f32>(wb[u32(base)], wb[u32(base + P.s_x)], wb[u32(base + 2 * P.s_x)]);
}

// A row r of (G g) times Gᵀ: the four columns of that row of U.
fn g_t(r: vec3<f32>) -> vec4<f32> {
    return vec4<f32>(r.x, 0.5 * (r.x + r.y + r.z), 0.5 * (r.x - r.y + r.z), r.z);
}

fn xi_put(i: u32, x: f32) {
    u[i] = x;
}

fn elements() -> u32 {
    return P.cd * P.cs;
}

fn element(t: u32) {
    let m = t / P.cs;
    let c = t % P.cs;
    let base = i32(P.w_base) + i32(m) * P.s_m + i32(c) * P.s_c;
    let g0 = w_row(base);
    let g1 = w_row(base + P.s_y);
    let g2 = w_row(base + 2 * P.s_y);
    put_xi(t, elements(), mat4x4<f32>(g_t(g0), g_t(0.5 * (g0 + g1 + g2)), g_t(0.5 * (g0 - g1 + g2)), g_t(g2)));
}
