//! Which matrix multiply to build conv and dense on: the `gemm` crate (what convplay uses) against
//! `matrixmultiply` and the plain loop, single-threaded, at the shapes cnn-gap's layers produce.
//! Prints GFLOP/s per shape. Run: `cargo bench -p convplay-compute --bench gemm_candidates`.

use std::time::Instant;

use convplay_compute::cpu::gemm::{Mat, sgemm, sgemm_scalar};

fn gflops(m: usize, k: usize, n: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut best = f64::MAX;
    for _ in 0..7 {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    2.0 * (m * k * n) as f64 / best / 1e9
}

fn main() {
    // (what, m, k, n): conv forward per image is [c_out × c_in·9] · [c_in·9 × h·w].
    let shapes = [
        ("conv1 forward", 32, 9, 3844),
        ("conv2 forward", 64, 288, 841),
        ("conv3 forward", 128, 576, 144),
        ("conv2 backward_input", 288, 64, 841),
        ("conv2 backward_weight", 64, 841, 288),
        ("dense flatten 64x4608x64", 64, 4608, 64),
        ("square 512", 512, 512, 512),
    ];
    println!(
        "{:<28} {:>10} {:>16} {:>10}",
        "shape (m, k, n)", "gemm", "matrixmultiply", "loop"
    );
    for (what, m, k, n) in shapes {
        let a: Vec<f32> = (0..m * k).map(|i| (i % 13) as f32 * 0.1).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 7) as f32 * 0.1).collect();
        let mut c = vec![0.0f32; m * n];
        let g = gflops(m, k, n, || {
            sgemm(Mat::rm(&a, m, k), Mat::rm(&b, k, n), &mut c, n, false)
        });
        let mm = gflops(m, k, n, || {
            // SAFETY: a is m×k, b is k×n and c is m×n, all row-major and in bounds.
            unsafe {
                matrixmultiply::sgemm(
                    m,
                    k,
                    n,
                    1.0,
                    a.as_ptr(),
                    k as isize,
                    1,
                    b.as_ptr(),
                    n as isize,
                    1,
                    0.0,
                    c.as_mut_ptr(),
                    n as isize,
                    1,
                )
            }
        });
        let lp = if m * k * n <= 64 * 288 * 841 {
            format!(
                "{:>10.1}",
                gflops(m, k, n, || sgemm_scalar(
                    Mat::rm(&a, m, k),
                    Mat::rm(&b, k, n),
                    &mut c,
                    n,
                    false
                ))
            )
        } else {
            format!("{:>10}", "-")
        };
        println!(
            "{:<28} {:>10.1} {:>16.1} {}",
            format!("{what} ({m}, {k}, {n})"),
            g,
            mm,
            lp
        );
    }
}
