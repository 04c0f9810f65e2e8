// Shared by concat_forward and concat_backward, dispatched once per part: the part [n, part_len]
// is the slice at `offset` of each row of y [n, total_len]. Mirrored by `ConcatParams` in
// crates/compute/src/gpu/kernels.rs. One thread per element of the part.

struct ConcatParams {
    n: u32,
    part_len: u32,
    total_len: u32,
    offset: u32,
}

fn elements() -> u32 {
    return P.n * P.part_len;
}

// Where element i of the part sits in y.
fn in_whole(i: u32) -> u32 {
    return (i / P.part_len) * P.total_len + P.offset + i % P.part_len;
}
