// The geometry of adaptive average pooling, forward and backward; mirrored by
// `AdaptivePoolParams` in crates/compute/src/gpu/params.rs. Bins as ops::adaptive_pool::bin.
struct AdaptivePoolParams {
    // n·c planes
    planes: u32,
    h_in: u32,
    w_in: u32,
    h_out: u32,
    w_out: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// The uniform of common/plane_io.wgsl.
alias Params = AdaptivePoolParams;

// Input cells [lo, hi) of output cell o along an axis of len_in cells pooled to len_out.
fn adaptive_bin(o: u32, len_in: u32, len_out: u32) -> vec2<u32> {
    return vec2<u32>((o * len_in) / len_out, ((o + 1u) * len_in + len_out - 1u) / len_out);
}

// Output cells [lo, hi) whose bins hold input cell i.
fn adaptive_covering(i: u32, len_in: u32, len_out: u32) -> vec2<u32> {
    let hi = min(((i + 1u) * len_out + len_in - 1u) / len_in, len_out);
    return vec2<u32>((i * len_out) / len_in, hi);
}
