// Shared by the kernels over stacks of planes (pooling, pad, blur, the canvas).

// Element i of a stack of h×w planes, as (plane, row, column).
fn plane_cell(i: u32, h: u32, w: u32) -> vec3<u32> {
    let hw = h * w;
    return vec3<u32>(i / hw, (i % hw) / w, i % w);
}
