//! AVX-512F backend for x86_64: 16 lanes of `__m512`.
//!
//! Same inlining contract as `avx2.rs`: instantiated inside a
//! `#[target_feature(enable = "avx512f")]` function by `super::dispatch!`.
//! Tails use masked loads/stores instead of a stack buffer.

// See `avx2.rs`: redundant if AVX-512F is enabled globally.
#![allow(unused_unsafe)]

use core::arch::x86_64::*;

use super::VecF32;

/// Proof that the running CPU (and OS) supports AVX-512F. Only
/// [`Avx512::try_new`] can create one.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx512 {
    _private: (),
}

impl Avx512 {
    /// Detects AVX-512F at run time (std also checks that the OS saves the
    /// ZMM state).
    pub(crate) fn try_new() -> Option<Self> {
        is_x86_feature_detected!("avx512f").then_some(Self { _private: () })
    }
}

/// Mask selecting the first `n` lanes, `n < 16`.
#[inline(always)]
fn first_lanes(n: usize) -> __mmask16 {
    debug_assert!(n < 16);
    ((1u32 << n) - 1) as __mmask16
}

impl VecF32 for Avx512 {
    const STEP: usize = 16;
    type V = __m512;

    #[inline(always)]
    fn splat(self, x: f32) -> __m512 {
        // SAFETY: `self` proves AVX-512F is available (`Avx512::try_new`).
        unsafe { _mm512_set1_ps(x) }
    }
    #[inline(always)]
    fn load(self, x: &[f32]) -> __m512 {
        assert!(x.len() >= Self::STEP);
        // SAFETY: `self` proves AVX-512F is available; `x` holds at least 16
        // readable f32s (asserted above); `loadu` has no alignment requirement.
        unsafe { _mm512_loadu_ps(x.as_ptr()) }
    }
    #[inline(always)]
    fn store(self, y: &mut [f32], v: __m512) {
        assert!(y.len() >= Self::STEP);
        // SAFETY: `self` proves AVX-512F is available; `y` holds at least 16
        // writable f32s (asserted above); `storeu` has no alignment requirement.
        unsafe { _mm512_storeu_ps(y.as_mut_ptr(), v) }
    }
    #[inline(always)]
    fn load_partial(self, x: &[f32]) -> __m512 {
        assert!(x.len() < Self::STEP);
        // SAFETY: `self` proves AVX-512F is available; only the first
        // `x.len()` lanes are read (masked-off lanes never fault) and those
        // are in bounds; the other lanes are zeroed.
        unsafe { _mm512_maskz_loadu_ps(first_lanes(x.len()), x.as_ptr()) }
    }
    #[inline(always)]
    fn store_partial(self, y: &mut [f32], v: __m512) {
        assert!(y.len() < Self::STEP);
        // SAFETY: `self` proves AVX-512F is available; only the first
        // `y.len()` lanes are written (masked-off lanes never fault) and those
        // are in bounds.
        unsafe { _mm512_mask_storeu_ps(y.as_mut_ptr(), first_lanes(y.len()), v) }
    }
    #[inline(always)]
    fn add(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: `self` proves AVX-512F is available (`Avx512::try_new`).
        unsafe { _mm512_add_ps(a, b) }
    }
    #[inline(always)]
    fn sub(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: `self` proves AVX-512F is available (`Avx512::try_new`).
        unsafe { _mm512_sub_ps(a, b) }
    }
    #[inline(always)]
    fn mul(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: `self` proves AVX-512F is available (`Avx512::try_new`).
        unsafe { _mm512_mul_ps(a, b) }
    }
    #[inline(always)]
    fn div(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: `self` proves AVX-512F is available (`Avx512::try_new`).
        unsafe { _mm512_div_ps(a, b) }
    }
    #[inline(always)]
    fn fma(self, a: __m512, b: __m512, c: __m512) -> __m512 {
        // SAFETY: `self` proves AVX-512F is available (`Avx512::try_new`).
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    fn max(self, a: __m512, b: __m512) -> __m512 {
        // VMAXPS: second operand when unordered or equal, i.e.
        // `if a > b { a } else { b }`.
        // SAFETY: `self` proves AVX-512F is available (`Avx512::try_new`).
        unsafe { _mm512_max_ps(a, b) }
    }
    #[inline(always)]
    fn abs(self, a: __m512) -> __m512 {
        // SAFETY: `self` proves AVX-512F is available (`Avx512::try_new`).
        unsafe { _mm512_abs_ps(a) }
    }
    #[inline(always)]
    fn sqrt(self, a: __m512) -> __m512 {
        // SAFETY: `self` proves AVX-512F is available (`Avx512::try_new`).
        unsafe { _mm512_sqrt_ps(a) }
    }
    #[inline(always)]
    fn select_gt_zero(self, c: __m512, v: __m512) -> __m512 {
        // `_CMP_GT_OQ` is false for NaN, like `c > 0.0`.
        // SAFETY: `self` proves AVX-512F is available (`Avx512::try_new`).
        unsafe {
            let k = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(c, _mm512_setzero_ps());
            _mm512_maskz_mov_ps(k, v)
        }
    }
    #[inline(always)]
    fn nonzero_bits(self, v: __m512) -> u32 {
        // `_CMP_NEQ_UQ` is true for NaN, like `v != 0.0`.
        // SAFETY: `self` proves AVX-512F is available (`Avx512::try_new`).
        unsafe { u32::from(_mm512_cmp_ps_mask::<_CMP_NEQ_UQ>(v, _mm512_setzero_ps())) }
    }
    #[inline(always)]
    fn reduce_sum(self, v: __m512) -> f32 {
        // SAFETY: `self` proves AVX-512F is available (`Avx512::try_new`).
        unsafe { _mm512_reduce_add_ps(v) }
    }
    #[inline(always)]
    fn reduce_max(self, v: __m512) -> f32 {
        // SAFETY: `self` proves AVX-512F is available (`Avx512::try_new`).
        unsafe { _mm512_reduce_max_ps(v) }
    }
    #[inline(always)]
    fn deinterleave(self, a: __m512, b: __m512) -> (__m512, __m512) {
        // SAFETY: `self` proves AVX-512F is available (`Avx512::try_new`).
        unsafe {
            let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
            (
                _mm512_permutex2var_ps(a, even, b),
                _mm512_permutex2var_ps(a, odd, b),
            )
        }
    }
    #[inline(always)]
    fn interleave(self, a: __m512, b: __m512) -> (__m512, __m512) {
        // SAFETY: `self` proves AVX-512F is available (`Avx512::try_new`).
        unsafe {
            let lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
            let hi =
                _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
            (
                _mm512_permutex2var_ps(a, lo, b),
                _mm512_permutex2var_ps(a, hi, b),
            )
        }
    }
}
