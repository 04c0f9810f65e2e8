// The entry point of the kernels that run one thread per element, appended to the kernel's own
// files (as a matrix-multiply body is to a GEMM's). They provide:
//   fn elements() -> u32   how many elements there are
//   fn element(i: u32)     the work of element i, called only for i < elements()
// Workgroups of 256 (WG in crates/compute/src/gpu/kernels.rs). Dispatch: ceil(elements / 256)
// workgroups, folded into x and y past 65535 as ops::grid folds them: workgroup (x, y) is number
// y·nwg.x + x.

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i < elements()) {
        element(i);
    }
}
