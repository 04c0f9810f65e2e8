//! WebAssembly SIMD128 backend: 4 lanes of `v128`. Compiled only when the
//! crate itself is built with `-C target-feature=+simd128` (wasm has no run
//! time feature detection: a module that uses SIMD fails to validate on an
//! engine without it), so the choice is made at compile time.
//!
//! No FMA: `fma` is a multiply then an add (relaxed-simd is not assumed).

use core::arch::wasm32::*;

use super::VecF32;

/// Token for the SIMD128 backend. Free to create: the crate was compiled with
/// `simd128`, so every engine that loads the module supports it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Simd128 {
    _private: (),
}

impl Simd128 {
    pub(crate) const fn new() -> Self {
        Self { _private: () }
    }
}

impl VecF32 for Simd128 {
    const STEP: usize = 4;
    type V = v128;

    #[inline(always)]
    fn splat(self, x: f32) -> v128 {
        f32x4_splat(x)
    }
    #[inline(always)]
    fn load(self, x: &[f32]) -> v128 {
        assert!(x.len() >= Self::STEP);
        // SAFETY: `x` holds at least 4 readable f32s (asserted above);
        // `v128_load` has no alignment requirement.
        unsafe { v128_load(x.as_ptr().cast::<v128>()) }
    }
    #[inline(always)]
    fn store(self, y: &mut [f32], v: v128) {
        assert!(y.len() >= Self::STEP);
        // SAFETY: `y` holds at least 4 writable f32s (asserted above);
        // `v128_store` has no alignment requirement.
        unsafe { v128_store(y.as_mut_ptr().cast::<v128>(), v) }
    }
    #[inline(always)]
    fn add(self, a: v128, b: v128) -> v128 {
        f32x4_add(a, b)
    }
    #[inline(always)]
    fn sub(self, a: v128, b: v128) -> v128 {
        f32x4_sub(a, b)
    }
    #[inline(always)]
    fn mul(self, a: v128, b: v128) -> v128 {
        f32x4_mul(a, b)
    }
    #[inline(always)]
    fn div(self, a: v128, b: v128) -> v128 {
        f32x4_div(a, b)
    }
    #[inline(always)]
    fn fma(self, a: v128, b: v128, c: v128) -> v128 {
        f32x4_add(f32x4_mul(a, b), c)
    }
    #[inline(always)]
    fn max(self, a: v128, b: v128) -> v128 {
        // `pmax(b, a)` is `if b < a { a } else { b }`, i.e.
        // `if a > b { a } else { b }` (NaN in `a` gives `b`).
        f32x4_pmax(b, a)
    }
    #[inline(always)]
    fn abs(self, a: v128) -> v128 {
        f32x4_abs(a)
    }
    #[inline(always)]
    fn sqrt(self, a: v128) -> v128 {
        f32x4_sqrt(a)
    }
    #[inline(always)]
    fn select_gt_zero(self, c: v128, v: v128) -> v128 {
        // `f32x4_gt` is false for NaN, like `c > 0.0`.
        v128_and(f32x4_gt(c, f32x4_splat(0.0)), v)
    }
    #[inline(always)]
    fn nonzero_bits(self, v: v128) -> u32 {
        // `f32x4_ne` is true for NaN, like `v != 0.0`.
        u32::from(i32x4_bitmask(f32x4_ne(v, f32x4_splat(0.0))))
    }
    #[inline(always)]
    fn reduce_sum(self, v: v128) -> f32 {
        (f32x4_extract_lane::<0>(v) + f32x4_extract_lane::<1>(v))
            + (f32x4_extract_lane::<2>(v) + f32x4_extract_lane::<3>(v))
    }
    #[inline(always)]
    fn reduce_max(self, v: v128) -> f32 {
        let m = f32x4_pmax(v, i32x4_shuffle::<2, 3, 0, 1>(v, v));
        let m = f32x4_pmax(m, i32x4_shuffle::<1, 0, 3, 2>(m, m));
        f32x4_extract_lane::<0>(m)
    }
    #[inline(always)]
    fn deinterleave(self, a: v128, b: v128) -> (v128, v128) {
        (
            i32x4_shuffle::<0, 2, 4, 6>(a, b),
            i32x4_shuffle::<1, 3, 5, 7>(a, b),
        )
    }
    #[inline(always)]
    fn interleave(self, a: v128, b: v128) -> (v128, v128) {
        (
            i32x4_shuffle::<0, 4, 1, 5>(a, b),
            i32x4_shuffle::<2, 6, 3, 7>(a, b),
        )
    }
}
