// The bindings of both max-pool backward kernels (max_pool_backward.wgsl, a gather per input
// cell; max_pool_backward_scatter.wgsl, a thread per window when windows are disjoint).

@group(0) @binding(0) var<storage, read> dout: array<f32>;
@group(0) @binding(1) var<storage, read> argmax: array<u32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> P: PoolParams;

