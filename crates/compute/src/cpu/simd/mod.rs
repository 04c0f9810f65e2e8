//! SIMD abstraction for the element-wise kernels.
//!
//! Each instruction set is a zero-sized *token* type implementing the private
//! trait `VecF32`; a token can only be created once the instruction set is
//! known to be available, so the trait's methods are safe to call and the
//! generic kernel bodies (in `super::elementwise`) contain no `unsafe`.
//! `unsafe` lives only in the backend files (`avx2.rs`, `avx512.rs`,
//! `simd128.rs`) and in `dispatch!`, which instantiates a generic kernel
//! inside a `#[target_feature]` function so that the intrinsics inline.
//!
//! Selection: on x86_64 at run time (AVX-512F > AVX2+FMA > scalar, detected
//! once and cached); on wasm32 at compile time (`simd128` if the crate is built
//! with `-C target-feature=+simd128`, else scalar); scalar everywhere else.
//! [`set_simd_enabled`] forces the scalar path process-wide, and
//! `elementwise::Kernels::new(isa)` picks any supported ISA explicitly.

#![deny(clippy::undocumented_unsafe_blocks)]

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
pub(crate) mod scalar;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(crate) mod simd128;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// Vector operations on `STEP` lanes of f32, implemented by one token type per
/// instruction set. All lane-wise operations are IEEE-754 correctly rounded
/// (so bitwise equal to the scalar operators) except [`VecF32::fma`], which
/// may or may not be fused depending on the backend.
pub(crate) trait VecF32: Copy {
    /// Number of f32 lanes in [`VecF32::V`] (at most 16).
    const STEP: usize;
    type V: Copy;

    fn splat(self, x: f32) -> Self::V;
    /// Loads `x[..STEP]`. Panics if `x.len() < STEP`.
    fn load(self, x: &[f32]) -> Self::V;
    /// Stores into `y[..STEP]`. Panics if `y.len() < STEP`.
    fn store(self, y: &mut [f32], v: Self::V);
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    fn sub(self, a: Self::V, b: Self::V) -> Self::V;
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;
    fn div(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a * b + c`, fused (one rounding) on AVX2/AVX-512, unfused on scalar
    /// and simd128. Use only where the result is compared with a tolerance.
    fn fma(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// Lane-wise `if a > b { a } else { b }`: a NaN in `a` yields `b`.
    fn max(self, a: Self::V, b: Self::V) -> Self::V;
    /// Clears the sign bit.
    fn abs(self, a: Self::V) -> Self::V;
    fn sqrt(self, a: Self::V) -> Self::V;
    /// Lane-wise `if c > 0.0 { v } else { 0.0 }` (NaN `c` yields `+0.0`).
    fn select_gt_zero(self, c: Self::V, v: Self::V) -> Self::V;
    /// Bit `i` set where lane `i` is not zero, like `v != 0.0` (set for NaN, clear for `-0.0`).
    fn nonzero_bits(self, v: Self::V) -> u32;
    /// Sum of the lanes, in an unspecified order.
    fn reduce_sum(self, v: Self::V) -> f32;
    /// Maximum of the lanes; the lanes must not be NaN.
    fn reduce_max(self, v: Self::V) -> f32;
    /// The even and the odd floats of the `2·STEP` floats `a` then `b`: `([a0, a2, …, b0, b2,
    /// …], [a1, a3, …, b1, b3, …])`.
    fn deinterleave(self, a: Self::V, b: Self::V) -> (Self::V, Self::V);
    /// The inverse of [`VecF32::deinterleave`]: `[a0, b0, a1, b1, …]` as two vectors.
    fn interleave(self, a: Self::V, b: Self::V) -> (Self::V, Self::V);

    #[inline(always)]
    fn zero(self) -> Self::V {
        self.splat(0.0)
    }
    /// Loads `x.len() < STEP` values; the remaining lanes are zero.
    #[inline(always)]
    fn load_partial(self, x: &[f32]) -> Self::V {
        let mut buf = [0.0f32; 16];
        buf[..x.len()].copy_from_slice(x);
        self.load(&buf)
    }
    /// Stores the first `y.len() < STEP` lanes of `v`.
    #[inline(always)]
    fn store_partial(self, y: &mut [f32], v: Self::V) {
        let mut buf = [0.0f32; 16];
        self.store(&mut buf, v);
        let n = y.len();
        y.copy_from_slice(&buf[..n]);
    }
    /// Loads a chunk of at most `STEP` values (zero-padded).
    #[inline(always)]
    fn load_chunk(self, x: &[f32]) -> Self::V {
        if x.len() >= Self::STEP {
            self.load(x)
        } else {
            self.load_partial(x)
        }
    }
    /// Stores the first `y.len()` (at most `STEP`) lanes of `v`.
    #[inline(always)]
    fn store_chunk(self, y: &mut [f32], v: Self::V) {
        if y.len() >= Self::STEP {
            self.store(y, v)
        } else {
            self.store_partial(y, v)
        }
    }
}

/// An instruction set the kernels can run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// Portable one-lane code.
    Scalar,
    /// x86_64 AVX2 + FMA, 8 lanes.
    Avx2Fma,
    /// x86_64 AVX-512F, 16 lanes.
    Avx512,
    /// wasm32 SIMD128, 4 lanes (compile-time choice).
    Simd128,
}

impl Isa {
    /// Every ISA, best first.
    pub const ALL: [Isa; 4] = [Isa::Avx512, Isa::Avx2Fma, Isa::Simd128, Isa::Scalar];

    /// "avx512", "avx2+fma", "simd128" ("simd128+relaxed" with the
    /// `relaxed-simd` feature: the matrix multiply's kernel) or "scalar".
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2Fma => "avx2+fma",
            Isa::Avx512 => "avx512",
            Isa::Simd128 if cfg!(feature = "relaxed-simd") => "simd128+relaxed",
            Isa::Simd128 => "simd128",
        }
    }

    /// Whether this ISA can be used in this build on this CPU.
    pub fn is_supported(self) -> bool {
        Backend::new(self).is_some()
    }

    /// The supported ISAs, best first (always ends with [`Isa::Scalar`]).
    pub fn supported() -> impl Iterator<Item = Isa> {
        Isa::ALL.into_iter().filter(|isa| isa.is_supported())
    }

    /// The best supported ISA (detected once, then cached), regardless of
    /// [`set_simd_enabled`].
    pub fn best() -> Isa {
        best_backend().isa()
    }
}

static SIMD_ENABLED: AtomicBool = AtomicBool::new(true);

/// Enables (default) or disables SIMD process-wide: when disabled, the
/// dispatching kernels use the scalar backend on every thread. Meant for
/// debugging numerics; tests should use `elementwise::Kernels::new(isa)`.
pub fn set_simd_enabled(enabled: bool) {
    SIMD_ENABLED.store(enabled, Ordering::Relaxed);
}

/// See [`set_simd_enabled`].
pub fn simd_enabled() -> bool {
    SIMD_ENABLED.load(Ordering::Relaxed)
}

/// The ISA the dispatching kernels currently use.
pub fn active() -> Isa {
    active_backend().isa()
}

/// Name of the ISA the dispatching kernels currently use: "avx512",
/// "avx2+fma", "simd128" or "scalar".
pub fn active_isa() -> &'static str {
    active().name()
}

/// A token for one supported ISA (holding it proves support).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Backend {
    Scalar(scalar::Scalar),
    #[cfg(target_arch = "x86_64")]
    Avx2(avx2::Avx2),
    #[cfg(target_arch = "x86_64")]
    Avx512(avx512::Avx512),
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    Simd128(simd128::Simd128),
}

impl Backend {
    /// The token for `isa`, or `None` if this build/CPU lacks it.
    pub(crate) fn new(isa: Isa) -> Option<Backend> {
        match isa {
            Isa::Scalar => Some(Backend::Scalar(scalar::Scalar)),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => avx2::Avx2::try_new().map(Backend::Avx2),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => avx512::Avx512::try_new().map(Backend::Avx512),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Isa::Simd128 => Some(Backend::Simd128(simd128::Simd128::new())),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    pub(crate) fn isa(self) -> Isa {
        match self {
            Backend::Scalar(_) => Isa::Scalar,
            #[cfg(target_arch = "x86_64")]
            Backend::Avx2(_) => Isa::Avx2Fma,
            #[cfg(target_arch = "x86_64")]
            Backend::Avx512(_) => Isa::Avx512,
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Backend::Simd128(_) => Isa::Simd128,
        }
    }
}

fn best_backend() -> Backend {
    static BEST: OnceLock<Backend> = OnceLock::new();
    *BEST.get_or_init(|| {
        Isa::ALL
            .into_iter()
            .find_map(Backend::new)
            .unwrap_or(Backend::Scalar(scalar::Scalar))
    })
}

/// The backend the dispatching kernels use now (best, or scalar if SIMD is
/// disabled).
pub(crate) fn active_backend() -> Backend {
    if simd_enabled() {
        best_backend()
    } else {
        Backend::Scalar(scalar::Scalar)
    }
}

/// Runs the generic kernel `$kernel::<T>(token, args...)` for the token held
/// by `$backend: Backend`. For SIMD backends the call is wrapped in a
/// `#[target_feature]` function so that the `#[inline(always)]` kernel body
/// and the intrinsics inside it are compiled for that instruction set.
///
/// `dispatch!(backend => generic::axpy(y: &mut [f32], a: f32, x: &[f32]) -> ())`
macro_rules! dispatch {
    ($backend:expr => $($kernel:ident)::+ ($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty) => {
        match $backend {
            $crate::cpu::simd::Backend::Scalar(t) => $($kernel)::+(t, $($arg),*),
            #[cfg(target_arch = "x86_64")]
            $crate::cpu::simd::Backend::Avx2(t) => {
                #[target_feature(enable = "avx2,fma")]
                fn run(t: $crate::cpu::simd::avx2::Avx2, $($arg: $ty),*) -> $ret {
                    $($kernel)::+(t, $($arg),*)
                }
                #[allow(unsafe_code)]
                // SAFETY: an `Avx2` token exists only if AVX2 and FMA were
                // detected at run time, which is what `run` requires.
                unsafe {
                    run(t, $($arg),*)
                }
            }
            #[cfg(target_arch = "x86_64")]
            $crate::cpu::simd::Backend::Avx512(t) => {
                #[target_feature(enable = "avx512f")]
                fn run(t: $crate::cpu::simd::avx512::Avx512, $($arg: $ty),*) -> $ret {
                    $($kernel)::+(t, $($arg),*)
                }
                #[allow(unsafe_code)]
                // SAFETY: an `Avx512` token exists only if AVX-512F was
                // detected at run time, which is what `run` requires.
                unsafe {
                    run(t, $($arg),*)
                }
            }
            // simd128 is enabled for the whole crate, no wrapper needed.
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            $crate::cpu::simd::Backend::Simd128(t) => $($kernel)::+(t, $($arg),*),
        }
    };
}
pub(crate) use dispatch;

#[cfg(test)]
mod tests {
    use super::{Backend, Isa, VecF32};

    /// [`VecF32::deinterleave`] of the `2·STEP` floats of `src` into `even` and `odd`, then
    /// [`VecF32::interleave`] of those into `back`; returns `STEP`.
    #[inline(always)]
    fn shuffles<S: VecF32>(
        isa: S,
        src: &[f32],
        even: &mut [f32],
        odd: &mut [f32],
        back: &mut [f32],
    ) -> usize {
        let (e, o) = isa.deinterleave(isa.load(src), isa.load(&src[S::STEP..]));
        isa.store(even, e);
        isa.store(odd, o);
        let (lo, hi) = isa.interleave(e, o);
        isa.store(back, lo);
        isa.store(&mut back[S::STEP..], hi);
        S::STEP
    }

    /// The two permutes the Winograd transforms take a tile's columns apart and back with, on
    /// every instruction set this build and CPU have (AVX2 is not the one `dispatch!` picks on
    /// an AVX-512 machine, so nothing else runs its permutes).
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn deinterleave_and_interleave_on_every_isa() {
        let src: Vec<f32> = (0..32).map(|i| i as f32 + 0.5).collect();
        let mut seen = Vec::new();
        for isa in Isa::supported() {
            let b = Backend::new(isa).unwrap();
            let (mut even, mut odd, mut back) = ([f32::NAN; 16], [f32::NAN; 16], [f32::NAN; 32]);
            let (src, e, o, bk) = (&src[..], &mut even[..], &mut odd[..], &mut back[..]);
            let step = dispatch!(b => shuffles(src: &[f32], e: &mut [f32], o: &mut [f32], bk: &mut [f32]) -> usize);
            let want_even: Vec<f32> = src[..2 * step].iter().step_by(2).copied().collect();
            let want_odd: Vec<f32> = src[1..2 * step].iter().step_by(2).copied().collect();
            assert_eq!(even[..step], want_even[..], "{} even", isa.name());
            assert_eq!(odd[..step], want_odd[..], "{} odd", isa.name());
            assert_eq!(
                back[..2 * step],
                src[..2 * step],
                "{} interleaved",
                isa.name()
            );
            seen.push(step);
        }
        assert!(seen.contains(&1), "the scalar fallback too");
    }

    /// The masks of [`VecF32::nonzero_bits`] of the floats of `src`, a vector at a time.
    #[inline(always)]
    fn masks<S: VecF32>(isa: S, src: &[f32], out: &mut [u32]) -> usize {
        for (o, chunk) in out.iter_mut().zip(src.chunks_exact(S::STEP)) {
            *o = isa.nonzero_bits(isa.load(chunk));
        }
        S::STEP
    }

    /// Which floats are not zero, on every instruction set: zeros of both signs, NaN,
    /// infinities, subnormals, in every lane.
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn nonzero_bits_on_every_isa() {
        let specials = [0.0, -0.0, f32::NAN, 1.0, -2.5, f32::INFINITY, 1e-40, -0.0];
        let src: Vec<f32> = (0..64).map(|i| specials[(i * 7 + i / 8) % 8]).collect();
        for isa in Isa::supported() {
            let b = Backend::new(isa).unwrap();
            let mut out = [u32::MAX; 64];
            let (s, o) = (&src[..], &mut out[..]);
            let step = dispatch!(b => masks(s: &[f32], o: &mut [u32]) -> usize);
            for (v, chunk) in out.iter().zip(src.chunks_exact(step)) {
                let want = chunk
                    .iter()
                    .enumerate()
                    .fold(0, |m, (i, x)| m | u32::from(*x != 0.0) << i);
                assert_eq!(*v, want, "{} {chunk:?}", isa.name());
            }
        }
    }
}
