// What the register-blocked kernels (Gemm::Registers: matmul_registers.wgsl and the
// conv2d_*_registers.wgsl kernels) share: the output tile one workgroup of (TILE_N / 4,
// TILE_M / 4) threads computes, each thread a 4×4 block, and the edge rule below.

override TILE_M: u32 = 32u;
override TILE_N: u32 = 32u;

// The four consecutive indices a thread owns from `first` (< len); those past len − 1 repeat the
// last one, so a thread at the edge keeps every load in range. It stores nothing for them.
fn lanes4(first: u32, len: u32) -> vec4<u32> {
    return min(vec4<u32>(first) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(len - 1u));
}
