//! CPU kernels.

pub mod elementwise;
pub mod gemm;
pub mod simd;
