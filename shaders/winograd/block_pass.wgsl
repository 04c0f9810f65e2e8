// The entry of the two Winograd passes that transform the 2×2 blocks of a chunk
// (conv2d_winograd_input.wgsl over the source, conv2d_winograd_dout.wgsl over dout): one thread
// per (channel c, block t), t over the chunk's blocks padded to tp, writing planes of
// channels · tp elements at c·tp + t (xi_write.wgsl); a padding block gets zeros. Before
// common/elementwise_64.wgsl. The kernel provides
//   fn block_channels() -> u32                               how many channels c
//   fn block_transform(c: u32, o: vec3<u32>) -> mat4x4<f32>   the transform of the block whose
//                                                             origin is o (block_origin)

fn elements() -> u32 {
    return block_channels() * P.tp;
}

fn element(k: u32) {
    let t = k % P.tp;
    var r = mat4x4<f32>();
    if (t < P.nimg * P.tiles) {
        r = block_transform(k / P.tp, block_origin(t));
    }
    put_xi(k, elements(), r);
}
