// The read of sixteen planes ξ back into 4×4 matrices (winograd_common.wgsl): M
// (conv2d_winograd_output.wgsl) and Q (conv2d_winograd_weight_output.wgsl), each plane `s`
// elements long. The kernel provides
//   fn xi_get(i: u32) -> f32   element i of its source buffer

// Element `at` of every plane as a 4×4 matrix whose column j is row j: elements ξ = 4j .. 4j + 3.
fn get_xi(at: u32, s: u32) -> mat4x4<f32> {
    return mat4x4<f32>(get_xi_row(at, s), get_xi_row(at + 4u * s, s), get_xi_row(at + 8u * s, s), get_xi_row(at + 12u * s, s));
}

fn get_xi_row(at: u32, s: u32) -> vec4<f32> {
    return vec4<f32>(xi_get(at), xi_get(at + s), xi_get(at + 2u * s), xi_get(at + 3u * s));
}
