// max_pool_forward: out = max over each window; argmax = the winner's index in its input plane
// (first maximum in row-major order wins, as on the CPU).
// Rust: gpu::ops::max_pool_forward; CPU reference: ops::pool::max_pool_forward.
// One thread per output element (common/elementwise.wgsl).
// x: [planes, h_in, w_in], out and argmax: [planes, h_out, w_out].

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> argmax: array<u32>;
@group(0) @binding(3) var<uniform> P: PoolParams;

fn elements() -> u32 {
    return P.planes * P.h_out * P.w_out;
}

fn element(i: u32) {
    let o = plane_cell(i, P.h_out, P.w_out);
    let ys = pool_span(o.y, P.pad_top, P.h_in);
    let xs = pool_span(o.z, P.pad_left, P.w_in);
    let base = o.x * P.h_in * P.w_in;
    // The lowest finite f32 first, strict `>`: the first maximum in row-major order wins and NaN
    // never does, as on the CPU. The CPU starts from −∞, which browsers' WGSL compilers (Tint)
    // refuse as a constant and WGSL need not keep at run time; the winner can differ only in a
    // window holding nothing above −f32::MAX.
    var best = -0x1.fffffep+127f;
    var at = ys.x * P.w_in + xs.x;
    if (ys.y - ys.x == 2u && xs.y - xs.x == 2u) {
        // A whole 2×2 window in straight-line code, first maximum in row-major order winning as
        // below: software adapters pay for every loop iteration.
        let r0 = base + at;
        let r1 = r0 + P.w_in;
        let a = at;
        let v = vec4<f32>(x[r0], x[r0 + 1u], x[r1], x[r1 + 1u]);
        best = select(best, v.x, v.x > best);
        at = select(a, a + 1u, v.y > best);
        best = select(best, v.y, v.y > best);
        at = select(at, a + P.w_in, v.z > best);
        best = select(best, v.z, v.z > best);
        at = select(at, a + P.w_in + 1u, v.w > best);
    } else {
        for (var iy = ys.x; iy < ys.y; iy++) {
            for (var ix = xs.x; ix < xs.y; ix++) {
                let v = x[base + iy * P.w_in + ix];
                if (v > best) {
                    best = v;
                    at = iy * P.w_in + ix;
                }
            }
        }
    }
    out[i] = x[base + at];
    argmax[i] = at;
}
