// The pooling geometry shared by max/avg pool forward and backward; mirrored by `PoolParams` in
// crates/compute/src/gpu/kernels.rs.
struct PoolParams {
    // n·c planes
    planes: u32,
    h_in: u32,
    w_in: u32,
    h_out: u32,
    w_out: u32,
    size: u32,
    stride: u32,
    pad_top: u32,
    pad_left: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// The uniform of common/plane_io.wgsl.
alias Params = PoolParams;

// Input rows (or columns) [lo, hi) covered by output row o, clipped to the input.
fn pool_span(o: u32, pad: u32, len: u32) -> vec2<u32> {
    let start = i32(o * P.stride) - i32(pad);
    let lo = u32(max(start, 0));
    let hi = min(u32(max(start + i32(P.size), 0)), len);
    return vec2<u32>(lo, max(hi, lo));
}

// Output rows [lo, hi) whose window covers input row iy.
fn pool_covering(iy: u32, pad: u32, out_len: u32) -> vec2<u32> {
    let t = i32(iy + pad);
    // o·stride <= t  and  o·stride + size > t
    let lo_num = t - i32(P.size) + 1;
    var lo = 0u;
    if (lo_num > 0) {
        lo = (u32(lo_num) + P.stride - 1u) / P.stride;
    }
    let hi = min(u32(t) / P.stride + 1u, out_len);
    return vec2<u32>(lo, max(hi, lo));
}
