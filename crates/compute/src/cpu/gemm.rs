//! Matrix multiply at the heart of conv and dense: the `gemm` crate (AVX-512 / AVX2+FMA chosen at
//! run time on x86_64), our own kernel on wasm32 simd128 (`gemm_simd128.rs`), plus the plain
//! triple loop both are tested against.
//!
//! Matrices are described by a pointer-free view: a slice, a row stride and a column stride, so a
//! transpose is just swapped strides.

/// A read-only matrix view: element (i, j) is `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub struct Mat<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a> Mat<'a> {
    /// Row-major `rows × cols`.
    pub fn rm(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }
    /// The transpose of this view.
    pub fn t(self) -> Self {
        Self {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }
    /// Columns `r` of this view (`r` within `0..cols`).
    pub fn columns(self, r: std::ops::Range<usize>) -> Self {
        Self {
            data: &self.data[(r.start * self.cs).min(self.data.len())..],
            cols: r.len(),
            ..self
        }
    }
    fn last_index(&self) -> usize {
        if self.rows == 0 || self.cols == 0 {
            0
        } else {
            (self.rows - 1) * self.rs + (self.cols - 1) * self.cs + 1
        }
    }
}

/// `c[m×n] (row-major, row stride ldc) = (accumulate ? c : 0) + a[m×k] · b[k×n]`, single-threaded.
pub fn sgemm(a: Mat, b: Mat, c: &mut [f32], ldc: usize, accumulate: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(k, b.rows, "sgemm: inner dimensions differ");
    assert!(a.data.len() >= a.last_index() && b.data.len() >= b.last_index());
    assert!(m == 0 || n == 0 || c.len() >= (m - 1) * ldc + n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                c[i * ldc..i * ldc + n].fill(0.0);
            }
        }
        return;
    }
    let _l = super::profile::leaf(super::profile::Family::Gemm);
    // The wasm simd128 build has its own kernel (see gemm_simd128.rs for why).
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    super::gemm_simd128::sgemm(a, b, c, ldc, accumulate);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    gemm_crate(a, b, c, ldc, accumulate);
}

thread_local! {
    static IN_GEMM_CRATE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread is inside the `gemm` crate's multiply. That crate allocates its packing
/// buffers afresh in most calls (gemm-common 0.19, `gemm_basic_generic`), which no caller can
/// prevent: the test that a training step allocates nothing (`tests/step_allocations.rs`) leaves
/// those out natively and counts everything on wasm32, where the multiply is our own.
#[doc(hidden)]
pub fn in_gemm_crate() -> bool {
    IN_GEMM_CRATE.try_with(|c| c.get()).unwrap_or(false)
}

/// [`sgemm`] by the `gemm` crate, for shapes [`sgemm`] has checked.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn gemm_crate(a: Mat, b: Mat, c: &mut [f32], ldc: usize, accumulate: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    IN_GEMM_CRATE.with(|f| f.set(true));
    // SAFETY: the asserts above bound every index the kernel touches: a (m×k with strides rs, cs),
    // b (k×n), c (m×n with row stride ldc, column stride 1) all lie inside their slices, and `c`
    // is borrowed mutably so it aliases neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            ldc as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    IN_GEMM_CRATE.with(|f| f.set(false));
}

/// The reference: the obvious triple loop, accumulating in f32 in `k` order.
pub fn sgemm_scalar(a: Mat, b: Mat, c: &mut [f32], ldc: usize, accumulate: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(k, b.rows);
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f32;
            for p in 0..k {
                s += a.data[i * a.rs + p * a.cs] * b.data[p * b.rs + j * b.cs];
            }
            let dst = &mut c[i * ldc + j];
            *dst = if accumulate { *dst + s } else { s };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn random(n: usize, rng: &mut Rng) -> Vec<f32> {
        (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect()
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn sgemm_matches_scalar_reference_on_awkward_shapes() {
        let mut rng = Rng::new(11);
        let shapes = [
            (1, 1, 1),
            (1, 7, 1),
            (3, 5, 2),
            (7, 7, 7),
            (17, 33, 65),
            (64, 9, 3844),
            (123, 255, 72),
            // Narrow n next to m (computed transposed on wasm), k past one k block.
            (32, 1100, 9),
            (5, 2100, 11),
            // Whole panels and strips with a k not a multiple of 4, in one and in two k blocks
            // (wasm packs them by 4 × 4 transposes and a remainder).
            (8, 13, 16),
            (12, 1030, 24),
        ];
        for &(m, k, n) in &shapes {
            for &(ta, tb) in &[(false, false), (true, false), (false, true), (true, true)] {
                for accumulate in [false, true] {
                    let a_buf = random(m * k, &mut rng);
                    let b_buf = random(k * n, &mut rng);
                    let a = if ta {
                        Mat::rm(&a_buf, k, m).t()
                    } else {
                        Mat::rm(&a_buf, m, k)
                    };
                    let b = if tb {
                        Mat::rm(&b_buf, n, k).t()
                    } else {
                        Mat::rm(&b_buf, k, n)
                    };
                    let init = random(m * n, &mut rng);
                    let mut fast = init.clone();
                    let mut slow = init.clone();
                    sgemm(a, b, &mut fast, n, accumulate);
                    sgemm_scalar(a, b, &mut slow, n, accumulate);
                    for (x, y) in fast.iter().zip(&slow) {
                        assert!(
                            (x - y).abs() <= 1e-4 * (k as f32).sqrt().max(1.0) * y.abs().max(1.0),
                            "{m}x{k}x{n} ta={ta} tb={tb}: {x} vs {y}"
                        );
                    }
                }
            }
        }
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn sgemm_with_empty_inner_dimension_clears_or_keeps() {
        let mut c = vec![5.0; 4];
        sgemm(Mat::rm(&[], 2, 0), Mat::rm(&[], 0, 2), &mut c, 2, true);
        assert_eq!(c, vec![5.0; 4]);
        sgemm(Mat::rm(&[], 2, 0), Mat::rm(&[], 0, 2), &mut c, 2, false);
        assert_eq!(c, vec![0.0; 4]);
    }
}
