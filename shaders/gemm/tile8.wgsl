// What the 8-row register-tile kernels for software adapters share (conv_strip_common.wgsl,
// conv2d_backward_weight_strip.wgsl, conv2d_winograd_gemm.wgsl,
// conv2d_winograd_weight_gemm.wgsl): their entry point, workgroups of 64 over a grid folded as
// ops::grid folds it, and the 8 × (4 + 4) accumulators each thread owns, updated 64
// multiply-adds at a time in straight-line code (see conv_strip_common.wgsl for why this shape).
// The kernel provides
//   fn tile8_thread(t: u32, z: u32)   the work of thread t of grid layer z (workgroup z); t runs
//                                     past the kernel's count in the last workgroup: it returns

@compute @workgroup_size(64)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32
) {
    tile8_thread((wg.y * nwg.x + wg.x) * 64u + li, wg.z);
}

// Eight rows j of eight columns: columns 0..3 in aj, 4..7 in bj.
struct Tile8 {
    a0: vec4<f32>,
    a1: vec4<f32>,
    a2: vec4<f32>,
    a3: vec4<f32>,
    a4: vec4<f32>,
    a5: vec4<f32>,
    a6: vec4<f32>,
    a7: vec4<f32>,
    b0: vec4<f32>,
    b1: vec4<f32>,
    b2: vec4<f32>,
    b3: vec4<f32>,
    b4: vec4<f32>,
    b5: vec4<f32>,
    b6: vec4<f32>,
    b7: vec4<f32>,
}

// acc += w ⊗ (lo, hi): row j gains w[j]·lo in aj and w[j]·hi in bj, w = (wA, wB) the rows'
// eight factors. 64 multiply-adds.
fn tile8_fma(acc: ptr<function, Tile8>, wA: vec4<f32>, wB: vec4<f32>, lo: vec4<f32>, hi: vec4<f32>) {
    (*acc).a0 = fma(vec4<f32>(wA.x), lo, (*acc).a0);
    (*acc).b0 = fma(vec4<f32>(wA.x), hi, (*acc).b0);
    (*acc).a1 = fma(vec4<f32>(wA.y), lo, (*acc).a1);
    (*acc).b1 = fma(vec4<f32>(wA.y), hi, (*acc).b1);
    (*acc).a2 = fma(vec4<f32>(wA.z), lo, (*acc).a2);
    (*acc).b2 = fma(vec4<f32>(wA.z), hi, (*acc).b2);
    (*acc).a3 = fma(vec4<f32>(wA.w), lo, (*acc).a3);
    (*acc).b3 = fma(vec4<f32>(wA.w), hi, (*acc).b3);
    (*acc).a4 = fma(vec4<f32>(wB.x), lo, (*acc).a4);
    (*acc).b4 = fma(vec4<f32>(wB.x), hi, (*acc).b4);
    (*acc).a5 = fma(vec4<f32>(wB.y), lo, (*acc).a5);
    (*acc).b5 = fma(vec4<f32>(wB.y), hi, (*acc).b5);
    (*acc).a6 = fma(vec4<f32>(wB.z), lo, (*acc).a6);
    (*acc).b6 = fma(vec4<f32>(wB.z), hi, (*acc).b6);
    (*acc).a7 = fma(vec4<f32>(wB.w), lo, (*acc).a7);
    (*acc).b7 = fma(vec4<f32>(wB.w), hi, (*acc).b7);
}

// Row j (< 8) of the tile: columns 0..3, then 4..7. For the stores after the loop, which walk
// the rows with j: a switch, so the accumulators stay in registers.
fn tile8_row(acc: Tile8, j: u32) -> mat2x4<f32> {
    switch (j) {
        case 0u: { return mat2x4<f32>(acc.a0, acc.b0); }
        case 1u: { return mat2x4<f32>(acc.a1, acc.b1); }
        case 2u: { return mat2x4<f32>(acc.a2, acc.b2); }
        case 3u: { return mat2x4<f32>(acc.a3, acc.b3); }
        case 4u: { return mat2x4<f32>(acc.a4, acc.b4); }
        case 5u: { return mat2x4<f32>(acc.a5, acc.b5); }
        case 6u: { return mat2x4<f32>(acc.a6, acc.b6); }
        default: { return mat2x4<f32>(acc.a7, acc.b7); }
    }
}
