// The write of the Winograd transforms into sixteen planes ξ (winograd_common.wgsl): U
// (conv2d_winograd_weights.wgsl), V (conv2d_winograd_input.wgsl) and E
// (conv2d_winograd_dout.wgsl), each plane `s` elements long. The kernel provides
//   fn xi_put(i: u32, v: f32)   element i of its destination buffer = v

// Element `at` of every plane gets its entry of the 4×4 transform r, whose column j is row j:
// elements ξ = 4j .. 4j + 3.
fn put_xi(at: u32, s: u32, r: mat4x4<f32>) {
    put_xi_row(at, s, r[0]);
    put_xi_row(at + 4u * s, s, r[1]);
    put_xi_row(at + 8u * s, s, r[2]);
    put_xi_row(at + 12u * s, s, r[3]);
}

fn put_xi_row(at: u32, s: u32, r: vec4<f32>) {
    xi_put(at, r.x);
    xi_put(at + s, r.y);
    xi_put(at + 2u * s, r.z);
    xi_put(at + 3u * s, r.w);
}
