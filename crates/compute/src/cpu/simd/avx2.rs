//! AVX2 + FMA backend for x86_64: 8 lanes of `__m256`.
//!
//! Every method is `#[inline(always)]` and carries no `#[target_feature]`
//! itself: it is meant to be inlined into a `#[target_feature(enable =
//! "avx2,fma")]` function (see `super::dispatch!`), where the intrinsics
//! inline too. Called anywhere else it is still sound (the token proves the
//! CPU has the features), only slower. Tails use `vmaskmovps` masked
//! loads/stores (masked-off lanes are neither read nor written).

// If the crate is built with AVX2 enabled globally (`-C target-cpu=native`),
// the arithmetic intrinsics become safe to call and the `unsafe` blocks
// around them become redundant.
#![allow(unused_unsafe)]

use core::arch::x86_64::*;

use super::VecF32;

/// Proof that the running CPU supports AVX2 and FMA. Only [`Avx2::try_new`]
/// can create one (the field is private to this module).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx2 {
    _private: (),
}

impl Avx2 {
    /// Detects AVX2 and FMA at run time.
    pub(crate) fn try_new() -> Option<Self> {
        (is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
            .then_some(Self { _private: () })
    }
}

/// Lanes `0..n` all ones, the others zero (`n <= 8`). Only called from
/// methods of a live `Avx2` token.
#[inline(always)]
fn lane_mask(n: usize) -> __m256i {
    // SAFETY: only reached through an `Avx2` token's methods, which prove AVX2.
    unsafe {
        let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), idx)
    }
}

impl VecF32 for Avx2 {
    const STEP: usize = 8;
    type V = __m256;

    #[inline(always)]
    fn splat(self, x: f32) -> __m256 {
        // SAFETY: `self` proves AVX2+FMA are available (`Avx2::try_new`).
        unsafe { _mm256_set1_ps(x) }
    }
    #[inline(always)]
    fn load(self, x: &[f32]) -> __m256 {
        assert!(x.len() >= Self::STEP);
        // SAFETY: `self` proves AVX is available; `x` holds at least 8
        // readable f32s (asserted above); `loadu` has no alignment requirement.
        unsafe { _mm256_loadu_ps(x.as_ptr()) }
    }
    #[inline(always)]
    fn store(self, y: &mut [f32], v: __m256) {
        assert!(y.len() >= Self::STEP);
        // SAFETY: `self` proves AVX is available; `y` holds at least 8
        // writable f32s (asserted above); `storeu` has no alignment requirement.
        unsafe { _mm256_storeu_ps(y.as_mut_ptr(), v) }
    }
    #[inline(always)]
    fn load_partial(self, x: &[f32]) -> __m256 {
        assert!(x.len() < Self::STEP);
        // SAFETY: `self` proves AVX2 is available; `vmaskmovps` reads only
        // the lanes selected by `lane_mask` (the first `x.len()`, all in
        // bounds; masked-off lanes never fault) and zeroes the others.
        unsafe { _mm256_maskload_ps(x.as_ptr(), lane_mask(x.len())) }
    }
    #[inline(always)]
    fn store_partial(self, y: &mut [f32], v: __m256) {
        assert!(y.len() < Self::STEP);
        // SAFETY: `self` proves AVX2 is available; `vmaskmovps` writes only
        // the lanes selected by `lane_mask` (the first `y.len()`, all in
        // bounds; masked-off lanes never fault).
        unsafe { _mm256_maskstore_ps(y.as_mut_ptr(), lane_mask(y.len()), v) }
    }
    #[inline(always)]
    fn add(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: `self` proves AVX2+FMA are available (`Avx2::try_new`).
        unsafe { _mm256_add_ps(a, b) }
    }
    #[inline(always)]
    fn sub(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: `self` proves AVX2+FMA are available (`Avx2::try_new`).
        unsafe { _mm256_sub_ps(a, b) }
    }
    #[inline(always)]
    fn mul(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: `self` proves AVX2+FMA are available (`Avx2::try_new`).
        unsafe { _mm256_mul_ps(a, b) }
    }
    #[inline(always)]
    fn div(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: `self` proves AVX2+FMA are available (`Avx2::try_new`).
        unsafe { _mm256_div_ps(a, b) }
    }
    #[inline(always)]
    fn fma(self, a: __m256, b: __m256, c: __m256) -> __m256 {
        // SAFETY: `self` proves AVX2+FMA are available (`Avx2::try_new`).
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    fn max(self, a: __m256, b: __m256) -> __m256 {
        // VMAXPS returns the second operand when the lanes are unordered or
        // equal, i.e. exactly `if a > b { a } else { b }`.
        // SAFETY: `self` proves AVX2+FMA are available (`Avx2::try_new`).
        unsafe { _mm256_max_ps(a, b) }
    }
    #[inline(always)]
    fn abs(self, a: __m256) -> __m256 {
        // SAFETY: `self` proves AVX2+FMA are available (`Avx2::try_new`).
        unsafe { _mm256_andnot_ps(_mm256_set1_ps(-0.0), a) }
    }
    #[inline(always)]
    fn sqrt(self, a: __m256) -> __m256 {
        // SAFETY: `self` proves AVX2+FMA are available (`Avx2::try_new`).
        unsafe { _mm256_sqrt_ps(a) }
    }
    #[inline(always)]
    fn select_gt_zero(self, c: __m256, v: __m256) -> __m256 {
        // `_CMP_GT_OQ` is false for NaN, like `c > 0.0`.
        // SAFETY: `self` proves AVX2+FMA are available (`Avx2::try_new`).
        unsafe { _mm256_and_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(c, _mm256_setzero_ps()), v) }
    }
    #[inline(always)]
    fn nonzero_bits(self, v: __m256) -> u32 {
        // `_CMP_NEQ_UQ` is true for NaN, like `v != 0.0`.
        // SAFETY: `self` proves AVX2+FMA are available (`Avx2::try_new`).
        unsafe {
            let ne = _mm256_cmp_ps::<_CMP_NEQ_UQ>(v, _mm256_setzero_ps());
            _mm256_movemask_ps(ne) as u32
        }
    }
    #[inline(always)]
    fn reduce_sum(self, v: __m256) -> f32 {
        // SAFETY: `self` proves AVX2+FMA are available (`Avx2::try_new`);
        // the 128-bit intrinsics only need SSE, part of the x86_64 baseline.
        unsafe {
            let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            let s = _mm_add_ss(s, _mm_shuffle_ps::<0b01>(s, s));
            _mm_cvtss_f32(s)
        }
    }
    #[inline(always)]
    fn reduce_max(self, v: __m256) -> f32 {
        // SAFETY: `self` proves AVX2+FMA are available (`Avx2::try_new`);
        // the 128-bit intrinsics only need SSE, part of the x86_64 baseline.
        unsafe {
            let s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
            let s = _mm_max_ps(s, _mm_movehl_ps(s, s));
            let s = _mm_max_ss(s, _mm_shuffle_ps::<0b01>(s, s));
            _mm_cvtss_f32(s)
        }
    }
    #[inline(always)]
    fn deinterleave(self, a: __m256, b: __m256) -> (__m256, __m256) {
        // SAFETY: `self` proves AVX2+FMA are available (`Avx2::try_new`).
        unsafe {
            // Per 128-bit half: [a0 a2 b0 b2 | a4 a6 b4 b6], then the 64-bit pairs in order.
            let even = _mm256_shuffle_ps::<0b10_00_10_00>(a, b);
            let odd = _mm256_shuffle_ps::<0b11_01_11_01>(a, b);
            let order = |v: __m256| {
                _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(v)))
            };
            (order(even), order(odd))
        }
    }
    #[inline(always)]
    fn interleave(self, a: __m256, b: __m256) -> (__m256, __m256) {
        // SAFETY: `self` proves AVX2+FMA are available (`Avx2::try_new`).
        unsafe {
            // [a0 b0 a1 b1 | a4 b4 a5 b5] and [a2 b2 a3 b3 | a6 b6 a7 b7], then their halves.
            let (lo, hi) = (_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));
            (
                _mm256_permute2f128_ps::<0x20>(lo, hi),
                _mm256_permute2f128_ps::<0x31>(lo, hi),
            )
        }
    }
}
