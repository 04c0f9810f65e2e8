//! CPU kernels.

pub mod backend;
pub mod conv_thin;
pub mod elementwise;
pub mod gemm;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod gemm_simd128;
pub mod profile;
pub mod simd;
pub mod taps;
pub mod winograd;
pub mod workspace;
