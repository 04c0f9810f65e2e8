//! Every dispatching kernel against [`super::scalar`], on every ISA this
//! build and CPU support.

use super::*;

/// splitmix64: tiny deterministic PRNG.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [lo, hi).
    fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let u = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * u
    }
    /// Mostly uniform in (-2, 2), with exact +0.0 / -0.0, tiny and
    /// subnormal values mixed in.
    fn value(&mut self) -> f32 {
        match self.next_u64() % 16 {
            0 => 0.0,
            1 => -0.0,
            2 => self.uniform(-1.0, 1.0) * 1e-39, // subnormal
            3 => self.uniform(-1.0, 1.0) * 1e-20,
            _ => self.uniform(-2.0, 2.0),
        }
    }
    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.value()).collect()
    }
    fn vec_nonneg(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.value().abs()).collect()
    }
}

/// Every tail of 4/8/16 lanes (and of the 4x-unrolled reductions) plus
/// some longer awkward lengths.
fn lengths() -> impl Iterator<Item = usize> {
    (0..=67).chain([100, 1000, 1023, 4099])
}

/// Every ISA this build and CPU support, best first.
fn all_kernels() -> Vec<Kernels> {
    let ks: Vec<Kernels> = Isa::supported()
        .map(|isa| Kernels::new(isa).unwrap())
        .collect();
    assert_eq!(ks.last().unwrap().isa(), Isa::Scalar);
    ks
}

/// Runs `case` for every kernel set and every length, drawing from one stream seeded `seed`.
fn each_case(seed: u64, mut case: impl FnMut(&Kernels, usize, &mut Rng)) {
    let mut rng = Rng::new(seed);
    for k in all_kernels() {
        for n in lengths() {
            case(&k, n, &mut rng);
        }
    }
}

fn same_bits(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

#[track_caller]
fn assert_bitwise(got: &[f32], want: &[f32], what: &str, k: &Kernels, n: usize) {
    assert_eq!(got.len(), want.len());
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            same_bits(g, w),
            "{what}: isa {} n {n} index {i}: got {g:e} ({:#010x}), want {w:e} ({:#010x})",
            k.isa().name(),
            g.to_bits(),
            w.to_bits()
        );
    }
}

/// Reductions: `|got - want| <= 1e-5 * max(1, magnitude) * max(1, n / 1024)`
/// where `magnitude` is the sum of the absolute values of the summed terms
/// (the natural scale of a reordering error; always >= |want|). The last
/// factor only matters for the longest length (4099): there the
/// *sequential reference* itself drifts past 1e-5 (seen: 1.1e-5 relative
/// on `sum_sq_dev`, while the SIMD result was within 1e-7 of the f64
/// value), so the SIMD result is also checked against an f64 sum with the
/// plain 1e-5 bound.
#[track_caller]
fn assert_close(got: f32, want: f32, terms: &[f64], what: &str, k: &Kernels, n: usize) {
    let magnitude = terms.iter().map(|t| t.abs()).sum::<f64>();
    let base = 1e-5 * magnitude.max(1.0);
    let tol = base * (n as f64 / 1024.0).max(1.0);
    let (got64, want64) = (f64::from(got), f64::from(want));
    assert!(
        (got64 - want64).abs() <= tol,
        "{what}: isa {} n {n}: got {got:e}, want {want:e}, tol {tol:e}",
        k.isa().name()
    );
    let exact: f64 = terms.iter().sum();
    assert!(
        (got64 - exact).abs() <= base,
        "{what}: isa {} n {n}: got {got:e}, f64 sum {exact:e}, tol {base:e}",
        k.isa().name()
    );
}

fn terms_sum(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| f64::from(v)).collect()
}

fn terms_dot(a: &[f32], b: &[f32]) -> Vec<f64> {
    a.iter()
        .zip(b)
        .map(|(&a, &b)| f64::from(a) * f64::from(b))
        .collect()
}

fn terms_sq_dev(x: &[f32], mean: f32) -> Vec<f64> {
    x.iter()
        .map(|&v| (f64::from(v) - f64::from(mean)).powi(2))
        .collect()
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn isa_detection_is_consistent() {
    let supported: Vec<Isa> = Isa::supported().collect();
    eprintln!(
        "supported ISAs: {supported:?}, active: {}",
        crate::cpu::simd::active_isa()
    );
    assert_eq!(supported[0], Isa::best());
    assert!(supported.contains(&Isa::Scalar));
    assert!(
        ["avx512", "avx2+fma", "simd128", "simd128+relaxed", "scalar"]
            .contains(&crate::cpu::simd::active_isa())
    );
    for isa in Isa::ALL {
        assert_eq!(Kernels::new(isa).is_some(), supported.contains(&isa));
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    assert_eq!(Isa::best(), Isa::Simd128);
    #[cfg(all(target_arch = "wasm32", feature = "relaxed-simd"))]
    assert_eq!(Isa::Simd128.name(), "simd128+relaxed");
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512f") {
        assert_eq!(Isa::best(), Isa::Avx512);
    }
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn set_simd_enabled_forces_scalar() {
    // Other tests only use explicit `Kernels`, and the free-function test
    // is correct on every ISA, so toggling the global here is harmless.
    crate::cpu::simd::set_simd_enabled(false);
    assert_eq!(crate::cpu::simd::active_isa(), "scalar");
    assert_eq!(Kernels::active().isa(), Isa::Scalar);
    crate::cpu::simd::set_simd_enabled(true);
    assert_eq!(crate::cpu::simd::active(), Isa::best());
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn free_functions_match_scalar() {
    let mut rng = Rng::new(99);
    for n in lengths() {
        let x = rng.vec(n);
        let y0 = rng.vec(n);
        let (mut got, mut want) = (y0.clone(), y0.clone());
        axpy(&mut got, 0.37, &x);
        scalar::axpy(&mut want, 0.37, &x);
        assert_bitwise(&got, &want, "axpy", &Kernels::active(), n);
        relu_forward_inplace(&mut got);
        scalar::relu_forward_inplace(&mut want);
        assert_bitwise(&got, &want, "relu", &Kernels::active(), n);
        let terms = terms_sum(&x);
        assert_close(
            sum(&x),
            scalar::sum(&x),
            &terms,
            "sum",
            &Kernels::active(),
            n,
        );
    }
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn relu_forward_matches_scalar_bitwise_all_lengths() {
    each_case(1, |k, n, rng| {
        let x = rng.vec(n);
        let (mut got, mut want) = (rng.vec(n), rng.vec(n));
        k.relu_forward(&mut got, &x);
        scalar::relu_forward(&mut want, &x);
        assert_bitwise(&got, &want, "relu_forward", k, n);
    });
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn relu_forward_inplace_matches_scalar_bitwise_all_lengths() {
    each_case(2, |k, n, rng| {
        let mut got = rng.vec(n);
        let mut want = got.clone();
        k.relu_forward_inplace(&mut got);
        scalar::relu_forward_inplace(&mut want);
        assert_bitwise(&got, &want, "relu_forward_inplace", k, n);
    });
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn relu_backward_matches_scalar_bitwise_all_lengths() {
    each_case(3, |k, n, rng| {
        let (dy, y) = (rng.vec(n), rng.vec(n));
        let mut got = rng.vec(n);
        let mut want = got.clone();
        k.relu_backward(&mut got, &dy, &y);
        scalar::relu_backward(&mut want, &dy, &y);
        assert_bitwise(&got, &want, "relu_backward", k, n);
    });
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn relu_handles_nan_inf_and_signed_zero_like_scalar() {
    let special = [
        f32::NAN,
        -f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        1e-45,
        -1e-45,
        1.5,
        -1.5,
    ];
    // Repeat to fill several vectors and a tail, in two phases.
    let x: Vec<f32> = special.iter().cycle().take(45).copied().collect();
    let y: Vec<f32> = special.iter().cycle().skip(5).take(45).copied().collect();
    for k in all_kernels() {
        let n = x.len();
        let (mut got, mut want) = (vec![7.0; n], vec![7.0; n]);
        k.relu_forward(&mut got, &x);
        scalar::relu_forward(&mut want, &x);
        assert_bitwise(&got, &want, "relu_forward special", &k, n);
        // NaN -> +0.0, -0.0 -> +0.0.
        assert!(
            want.iter()
                .all(|v| !v.is_nan() && v.to_bits() != (-0.0f32).to_bits())
        );

        let (mut got, mut want) = (y.clone(), y.clone());
        k.relu_backward(&mut got, &x, &y);
        scalar::relu_backward(&mut want, &x, &y);
        assert_bitwise(&got, &want, "relu_backward special", &k, n);

        assert!(same_bits(k.max_abs(&x), scalar::max_abs(&x)));
        assert_eq!(k.max_abs(&x), f32::INFINITY);
    }
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn add_assign_matches_scalar_bitwise_all_lengths() {
    each_case(4, |k, n, rng| {
        let x = rng.vec(n);
        let mut got = rng.vec(n);
        let mut want = got.clone();
        k.add_assign(&mut got, &x);
        scalar::add_assign(&mut want, &x);
        assert_bitwise(&got, &want, "add_assign", k, n);
    });
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn axpy_matches_scalar_bitwise_all_lengths() {
    each_case(5, |k, n, rng| {
        let a = rng.uniform(-3.0, 3.0);
        let x = rng.vec(n);
        let mut got = rng.vec(n);
        let mut want = got.clone();
        k.axpy(&mut got, a, &x);
        scalar::axpy(&mut want, a, &x);
        assert_bitwise(&got, &want, "axpy", k, n);
    });
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn scale_matches_scalar_bitwise_all_lengths() {
    each_case(6, |k, n, rng| {
        let a = rng.uniform(-3.0, 3.0);
        let mut got = rng.vec(n);
        let mut want = got.clone();
        k.scale(&mut got, a);
        scalar::scale(&mut want, a);
        assert_bitwise(&got, &want, "scale", k, n);
    });
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn mul_assign_matches_scalar_bitwise_all_lengths() {
    each_case(7, |k, n, rng| {
        // Dropout-like mask: 0 or 1/(1-p).
        let mask: Vec<f32> = (0..n)
            .map(|_| if rng.next_u64() & 1 == 0 { 0.0 } else { 2.0 })
            .collect();
        let x = rng.vec(n);
        for m in [&mask, &x] {
            let mut got = rng.vec(n);
            let mut want = got.clone();
            k.mul_assign(&mut got, m);
            scalar::mul_assign(&mut want, m);
            assert_bitwise(&got, &want, "mul_assign", k, n);
        }
    });
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn sum_matches_scalar_within_tolerance_all_lengths() {
    each_case(8, |k, n, rng| {
        let x = rng.vec(n);
        let terms = terms_sum(&x);
        assert_close(k.sum(&x), scalar::sum(&x), &terms, "sum", k, n);
    });
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn dot_matches_scalar_within_tolerance_all_lengths() {
    each_case(9, |k, n, rng| {
        let (a, b) = (rng.vec(n), rng.vec(n));
        let terms = terms_dot(&a, &b);
        assert_close(k.dot(&a, &b), scalar::dot(&a, &b), &terms, "dot", k, n);
    });
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn sum_sq_dev_matches_scalar_within_tolerance_all_lengths() {
    each_case(10, |k, n, rng| {
        let x = rng.vec(n);
        let mean = rng.uniform(-1.0, 1.0);
        let terms = terms_sq_dev(&x, mean);
        let want = scalar::sum_sq_dev(&x, mean);
        assert_close(k.sum_sq_dev(&x, mean), want, &terms, "sum_sq_dev", k, n);
    });
}

/// With small dyadic inputs (k/16, |k| <= 32) every product and partial
/// sum is a multiple of 2^-8 below 2^16, hence exact in f32, so any order of
/// summation (and FMA or not) gives the same bits: this catches a lost or
/// doubled lane that a tolerance could hide.
#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn reductions_are_exact_on_dyadic_inputs_all_lengths() {
    let mut rng = Rng::new(11);
    let mut dyadic = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| ((rng.next_u64() % 65) as f32 - 32.0) / 16.0)
            .collect()
    };
    for k in all_kernels() {
        for n in lengths() {
            let (a, b) = (dyadic(n), dyadic(n));
            let what = "dyadic reductions";
            assert_bitwise(&[k.sum(&a)], &[scalar::sum(&a)], what, &k, n);
            assert_bitwise(&[k.dot(&a, &b)], &[scalar::dot(&a, &b)], what, &k, n);
            let got = k.sum_sq_dev(&a, 0.25);
            assert_bitwise(&[got], &[scalar::sum_sq_dev(&a, 0.25)], what, &k, n);
        }
    }
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn max_abs_matches_scalar_bitwise_all_lengths() {
    each_case(12, |k, n, rng| {
        let mut x = rng.vec(n);
        if n > 3 {
            x[n / 2] = f32::NAN; // ignored by both
        }
        let (got, want) = (k.max_abs(&x), scalar::max_abs(&x));
        assert_bitwise(&[got], &[want], "max_abs", k, n);
        assert!(!want.is_nan());
    });
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn bias_add_channels_matches_scalar_bitwise_all_lengths() {
    let mut rng = Rng::new(13);
    for k in all_kernels() {
        for spatial in lengths() {
            for channels in [0, 1, 3] {
                let bias = rng.vec(channels);
                let mut got = rng.vec(channels * spatial);
                let mut want = got.clone();
                k.bias_add_channels(&mut got, &bias, spatial);
                scalar::bias_add_channels(&mut want, &bias, spatial);
                assert_bitwise(&got, &want, "bias_add_channels", &k, spatial);
            }
        }
    }
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn affine_channels_matches_scalar_bitwise_all_lengths() {
    let mut rng = Rng::new(14);
    for k in all_kernels() {
        for spatial in lengths() {
            for channels in [0, 1, 3] {
                let (scale, shift) = (rng.vec(channels), rng.vec(channels));
                let x = rng.vec(channels * spatial);
                let mut got = rng.vec(channels * spatial);
                let mut want = got.clone();
                k.affine_channels(&mut got, &x, &scale, &shift, spatial);
                scalar::affine_channels(&mut want, &x, &scale, &shift, spatial);
                assert_bitwise(&got, &want, "affine_channels", &k, spatial);
            }
        }
    }
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn sgd_update_matches_scalar_bitwise_all_lengths() {
    each_case(15, |k, n, rng| {
        for (momentum, weight_decay, nesterov) in [
            (0.0, 0.0, false),
            (0.0, 5e-4, false),
            (0.9, 0.0, false),
            (0.9, 1e-4, false),
            (0.9, 1e-4, true),
        ] {
            let lr = 0.05;
            let grad = rng.vec(n);
            let mut p = (rng.vec(n), vec![]);
            p.1 = p.0.clone();
            let mut v = (rng.vec(n), vec![]);
            v.1 = v.0.clone();
            for _ in 0..2 {
                k.sgd_update(
                    &mut p.0,
                    &grad,
                    &mut v.0,
                    lr,
                    momentum,
                    weight_decay,
                    nesterov,
                );
                scalar::sgd_update(
                    &mut p.1,
                    &grad,
                    &mut v.1,
                    lr,
                    momentum,
                    weight_decay,
                    nesterov,
                );
            }
            assert_bitwise(&p.0, &p.1, "sgd_update param", k, n);
            assert_bitwise(&v.0, &v.1, "sgd_update velocity", k, n);
        }
    });
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn adam_update_matches_scalar_bitwise_all_lengths() {
    each_case(16, |k, n, rng| {
        for (step, weight_decay) in [(1, 0.0), (2, 1e-2), (1000, 0.0)] {
            let grad = rng.vec(n);
            let p0 = rng.vec(n);
            let m0 = rng.vec(n);
            let v0 = rng.vec_nonneg(n);
            let (mut p, mut m, mut v) = (p0.clone(), m0.clone(), v0.clone());
            let (mut pr, mut mr, mut vr) = (p0, m0, v0);
            let hp = (1e-3, 0.9, 0.999, 1e-8);
            k.adam_update(
                &mut p,
                &grad,
                &mut m,
                &mut v,
                hp.0,
                hp.1,
                hp.2,
                hp.3,
                step,
                weight_decay,
            );
            scalar::adam_update(
                &mut pr,
                &grad,
                &mut mr,
                &mut vr,
                hp.0,
                hp.1,
                hp.2,
                hp.3,
                step,
                weight_decay,
            );
            assert_bitwise(&p, &pr, "adam_update param", k, n);
            assert_bitwise(&m, &mr, "adam_update m", k, n);
            assert_bitwise(&v, &vr, "adam_update v", k, n);
        }
    });
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn adam_bias_corrections_are_sane() {
    let (bc1, bc2) = adam_bias_corrections(0.9, 0.999, 1);
    assert!((bc1 - 0.1).abs() < 1e-6 && (bc2 - 0.001).abs() < 1e-6);
    let (bc1, bc2) = adam_bias_corrections(0.9, 0.999, 1_000_000);
    assert_eq!((bc1, bc2), (1.0, 1.0));
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[should_panic]
fn mismatched_lengths_panic() {
    Kernels::new(Isa::Scalar)
        .unwrap()
        .add_assign(&mut [0.0; 3], &[0.0; 4]);
}
