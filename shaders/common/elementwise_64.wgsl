// common/elementwise.wgsl in workgroups of 64, for the launches that ops::grid folds in 64s
// (the Winograd transforms, gap_forward_serial). The kernel provides elements() and element(i).

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i < elements()) {
        element(i);
    }
}
