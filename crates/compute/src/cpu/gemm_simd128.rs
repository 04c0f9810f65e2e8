//! The matrix multiply of the wasm simd128 build, written for how V8 and SpiderMonkey compile
//! wasm SIMD: 16 (x64) or 32 (arm64) vector registers, a multiply then an add (or one
//! `f32x4.relaxed_madd` with the `relaxed-simd` feature: 11% faster training in Chromium here,
//! see [`madd`]), a `v128.load32_splat` that is one instruction.
//!
//! Relaxed SIMD is enabled on this file's functions alone (`target_feature`), not on the crate
//! (`-C target-feature=+relaxed-simd`): with it crate-wide, LLVM turns the element-wise kernels'
//! `f32x4_pmin`/`pmax` into `relaxed_min`/`max`, whose NaN results are the engine's choice, and
//! `max_abs` no longer ignored a NaN in Chromium (its bitwise test failed). The `gemm` crate's wasm kernel keeps
//! 12 × 4 of C in registers and splats B; this one keeps MR rows × 8 columns of C (MR · 2
//! accumulators), loads two vectors of a packed B row and splats MR values of a packed A column
//! per step of k, which measured faster in Chromium at the convolutions' shapes (the note of the
//! commit that brought it gives the figures).
//!
//! Blocking: k in blocks of `KC` (a packed B strip, `KC` × 8 floats, stays in L1 while every A
//! panel passes over it); A is packed once per k block into MR-row panels (k-major), B one
//! 8-column strip at a time; ragged edges are zero-padded in the packs and stored partially.

use core::arch::wasm32::*;
use std::cell::RefCell;

use super::gemm::Mat;

/// Rows of C per micro-tile.
const MR: usize = 4;
/// Vectors of C per micro-tile row.
const NV: usize = 2;
/// Columns of C per micro-tile.
const NR: usize = 4 * NV;
/// Depth of a k block.
const KC: usize = 1024;

thread_local! {
    static PACKS: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// `c = (accumulate ? c : 0) + a · b`; the caller ([`super::gemm::sgemm`]) has checked the
/// shapes and that every index lies inside the slices, and that m, n, k > 0.
///
/// A product whose n is narrow next to its m (a convolution's weight gradient with few taps,
/// such as the first layer's 32 × 9) wastes most of its zero-padded 8-column strips; it is
/// computed transposed, cᵀ = bᵀ · aᵀ, when that pads less.
pub(super) fn sgemm(a: Mat, b: Mat, c: &mut [f32], ldc: usize, accumulate: bool) {
    let (m, n) = (a.rows, b.cols);
    let used = |m: usize, n: usize| {
        (m * n) as f64 / (m.next_multiple_of(MR) * n.next_multiple_of(NR)) as f64
    };
    if used(n, m) > 1.1 * used(m, n) {
        run(b.t(), a.t(), c, (1, ldc), accumulate);
    } else {
        run(a, b, c, (ldc, 1), accumulate);
    }
}

/// `c = (accumulate ? c : 0) + a · b` with c's element (i, j) at `i · cs.0 + j · cs.1`.
#[cfg_attr(feature = "relaxed-simd", target_feature(enable = "relaxed-simd"))]
fn run(a: Mat, b: Mat, c: &mut [f32], cs: (usize, usize), accumulate: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let panels = m.div_ceil(MR);
    PACKS.with(|packs| {
        let (pa, pb) = &mut *packs.borrow_mut();
        let kc_max = KC.min(k);
        pa.resize(panels * MR * kc_max, 0.0);
        pb.resize(NR * kc_max, 0.0);
        for k0 in (0..k).step_by(KC) {
            let kc = KC.min(k - k0);
            // Only this block's panels: `pa` was sized for the longest block.
            pack_a(&mut pa[..panels * MR * kc], a, k0, kc);
            let acc = accumulate || k0 > 0;
            for j0 in (0..n).step_by(NR) {
                let nr = NR.min(n - j0);
                pack_b(pb, b, k0, kc, j0, nr);
                for p in 0..panels {
                    let i0 = p * MR;
                    let mr = MR.min(m - i0);
                    let panel = &pa[p * MR * kc..(p + 1) * MR * kc];
                    let at = i0 * cs.0 + j0 * cs.1;
                    tile(panel, &pb[..NR * kc], kc, c, at, cs, mr, nr, acc);
                }
            }
        }
    });
}

/// Packs rows of `a` into MR-row panels, k-major: `pa[(p·kc + q)·MR + r] = a[p·MR + r, k0 + q]`
/// (zero past the last row). Whole panels of a row-major `a` (a weight matrix) go 4 × 4 blocks
/// at a time through a vector transpose, of a column-major one (a transposed weight matrix) a
/// vector at a time; the rest element by element.
fn pack_a(pa: &mut [f32], a: Mat, k0: usize, kc: usize) {
    for (p, panel) in pa.chunks_exact_mut(MR * kc).enumerate() {
        if (p + 1) * MR <= a.rows && (a.cs == 1 || a.rs == 1) {
            let at = |r: usize, q: usize| (p * MR + r) * a.rs + (k0 + q) * a.cs;
            if a.cs == 1 {
                let rows: [&[f32]; MR] = std::array::from_fn(|r| &a.data[at(r, 0)..at(r, kc)]);
                transpose_into(panel, MR, rows, kc);
            } else {
                for (q, dst) in panel.chunks_exact_mut(MR).enumerate() {
                    store4(dst, load4(&a.data[at(0, q)..]));
                }
            }
            continue;
        }
        for r in 0..MR {
            let i = p * MR + r;
            if i < a.rows {
                let row = &a.data[i * a.rs + k0 * a.cs..];
                for q in 0..kc {
                    panel[q * MR + r] = row[q * a.cs];
                }
            } else {
                for q in 0..kc {
                    panel[q * MR + r] = 0.0;
                }
            }
        }
    }
}

/// Packs columns `j0..j0 + nr` of `b`'s rows `k0..k0 + kc` row by row, 8 wide (zero past `nr`).
/// A whole strip of a column-major `b` (a transposed im2col matrix, in a weight gradient) goes
/// 4 × 4 blocks at a time through a vector transpose.
fn pack_b(pb: &mut [f32], b: Mat, k0: usize, kc: usize, j0: usize, nr: usize) {
    if b.rs == 1 && b.cs != 1 && nr == NR {
        for h in 0..NV {
            let at = |j: usize, q: usize| k0 + q + (j0 + 4 * h + j) * b.cs;
            let cols: [&[f32]; 4] = std::array::from_fn(|j| &b.data[at(j, 0)..at(j, kc)]);
            transpose_into(&mut pb[4 * h..], NR, cols, kc);
        }
        return;
    }
    for (q, dst) in pb.chunks_exact_mut(NR).take(kc).enumerate() {
        let row = (k0 + q) * b.rs + j0 * b.cs;
        if b.cs == 1 && nr == NR {
            dst.copy_from_slice(&b.data[row..row + NR]);
        } else {
            for (j, d) in dst.iter_mut().enumerate() {
                *d = if j < nr { b.data[row + j * b.cs] } else { 0.0 };
            }
        }
    }
}

/// `dst[q·stride + j] = src[j][q]` for q < `len`, j < 4: four sequences of `len` floats
/// interleaved into rows of a pack, 4 × 4 at a time by shuffles.
fn transpose_into(dst: &mut [f32], stride: usize, src: [&[f32]; 4], len: usize) {
    assert!(src.iter().all(|s| s.len() >= len));
    assert!(len == 0 || dst.len() >= (len - 1) * stride + 4);
    let whole = len / 4 * 4;
    for q in (0..whole).step_by(4) {
        let [c0, c1, c2, c3] = src.map(|s| load4(&s[q..]));
        let t0 = i32x4_shuffle::<0, 4, 1, 5>(c0, c1);
        let t1 = i32x4_shuffle::<2, 6, 3, 7>(c0, c1);
        let t2 = i32x4_shuffle::<0, 4, 1, 5>(c2, c3);
        let t3 = i32x4_shuffle::<2, 6, 3, 7>(c2, c3);
        store4(&mut dst[q * stride..], i32x4_shuffle::<0, 1, 4, 5>(t0, t2));
        store4(
            &mut dst[(q + 1) * stride..],
            i32x4_shuffle::<2, 3, 6, 7>(t0, t2),
        );
        store4(
            &mut dst[(q + 2) * stride..],
            i32x4_shuffle::<0, 1, 4, 5>(t1, t3),
        );
        store4(
            &mut dst[(q + 3) * stride..],
            i32x4_shuffle::<2, 3, 6, 7>(t1, t3),
        );
    }
    for q in whole..len {
        for (j, s) in src.iter().enumerate() {
            dst[q * stride + j] = s[q];
        }
    }
}

/// `x[..4]` as a vector.
#[inline(always)]
fn load4(x: &[f32]) -> v128 {
    assert!(x.len() >= 4);
    // SAFETY: `x` holds at least 4 floats (asserted); wasm loads have no alignment requirement.
    unsafe { v128_load(x.as_ptr().cast::<v128>()) }
}

/// Stores `v` into `y[..4]`.
#[inline(always)]
fn store4(y: &mut [f32], v: v128) {
    assert!(y.len() >= 4);
    // SAFETY: `y` holds at least 4 floats (asserted); wasm stores have no alignment requirement.
    unsafe { v128_store(y.as_mut_ptr().cast::<v128>(), v) }
}

/// One MR × NR tile of C at `c[at..]` (row and column strides `cs`; `mr` rows and `nr` columns
/// of it are real) += or = the packed panel times the packed strip.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn tile(
    pa: &[f32],
    pb: &[f32],
    kc: usize,
    c: &mut [f32],
    at: usize,
    (rs, cs): (usize, usize),
    mr: usize,
    nr: usize,
    acc: bool,
) {
    assert!(pa.len() >= MR * kc && pb.len() >= NR * kc);
    let mut s = [[f32x4_splat(0.0); NV]; MR];
    let (pa, pb) = (pa.as_ptr(), pb.as_ptr());
    for q in 0..kc {
        // SAFETY: q < kc, and the packs hold MR · kc and NR · kc floats (asserted above), so
        // every load reads inside them; wasm loads have no alignment requirement.
        unsafe {
            let mut bv = [f32x4_splat(0.0); NV];
            for (v, b) in bv.iter_mut().enumerate() {
                *b = v128_load(pb.add(q * NR + 4 * v).cast::<v128>());
            }
            for (r, row) in s.iter_mut().enumerate() {
                let x = v128_load32_splat(pa.add(q * MR + r).cast::<u32>());
                for (acc, b) in row.iter_mut().zip(bv) {
                    *acc = madd(x, b, *acc);
                }
            }
        }
    }
    if mr == MR && nr == NR && cs == 1 {
        for (r, row) in s.iter().enumerate() {
            let dst = &mut c[at + r * rs..at + r * rs + NR];
            for (v, &x) in row.iter().enumerate() {
                // SAFETY: `dst` holds exactly NR = 4 · NV floats and v < NV.
                unsafe {
                    let d = dst.as_mut_ptr().add(4 * v).cast::<v128>();
                    let y = if acc { f32x4_add(x, v128_load(d)) } else { x };
                    v128_store(d, y);
                }
            }
        }
    } else {
        for (r, row) in s.iter().enumerate().take(mr) {
            let mut vals = [0.0f32; NR];
            for (v, &x) in row.iter().enumerate() {
                // SAFETY: `vals` holds NR = 4 · NV floats and v < NV.
                unsafe { v128_store(vals.as_mut_ptr().add(4 * v).cast::<v128>(), x) };
            }
            for (j, &v) in vals.iter().enumerate().take(nr) {
                let d = &mut c[at + r * rs + j * cs];
                *d = if acc { *d + v } else { v };
            }
        }
    }
}

/// `a · b + c`: one `f32x4.relaxed_madd` (fused or not: the engine's choice) with the
/// `relaxed-simd` feature, else a multiply then an add. With it, 6 × 8 and 5 × 8 tiles (12 and 10
/// accumulators) were 25–40% slower in Chromium than 4 × 8 (V8 on x64 spills them), 3 × 12 and
/// 2 × 16 the same as 4 × 8.
#[inline(always)]
fn madd(a: v128, b: v128, c: v128) -> v128 {
    #[cfg(feature = "relaxed-simd")]
    return f32x4_relaxed_madd(a, b, c);
    #[cfg(not(feature = "relaxed-simd"))]
    return f32x4_add(f32x4_mul(a, b), c);
}
