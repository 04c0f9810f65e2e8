// The bindings of both global-average-pooling forward kernels (gap_forward.wgsl, a workgroup
// per plane; gap_forward_serial.wgsl, a thread per plane): out[q] = mean of plane q of x, for
// the P.count planes.

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> P: GapParams;
