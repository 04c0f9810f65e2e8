//! The step profiler charges calls to their families, and their leaves in proportion. Its own
//! test binary: the counters are process-wide, so a test running beside it that timed gemm
//! sections (any convolution) would be charged into its calls.
#![cfg(not(target_arch = "wasm32"))]

use std::time::Instant;

use convplay_compute::cpu::profile::{Family, call, enable, leaf, read};

#[test]
fn calls_are_charged_to_their_leaves_in_proportion_and_nothing_when_off() {
    let spin = |ms: u64| {
        let t = Instant::now();
        while t.elapsed().as_millis() < ms as u128 {
            std::hint::black_box(0);
        }
    };
    enable(false);
    {
        let _c = call(Family::Pooling);
        spin(2);
    }
    assert_eq!(read().total(), 0.0);

    enable(true);
    {
        let _c = call(Family::Pooling);
        spin(20);
    }
    {
        let _c = call(Family::Elementwise);
        {
            let _l = leaf(Family::Gemm);
            spin(30);
        }
        {
            let _l = leaf(Family::Im2col);
            spin(10);
        }
    }
    let p = read();
    enable(false);
    assert!(p.get(Family::Pooling) >= 0.020, "{p:?}");
    assert!(p.get(Family::Gemm) >= 0.029, "{p:?}");
    assert!(p.get(Family::Im2col) >= 0.009, "{p:?}");
    let ratio = p.get(Family::Gemm) / p.get(Family::Im2col);
    assert!(
        (2.0..4.5).contains(&ratio),
        "gemm / im2col = {ratio}: {p:?}"
    );
    assert!(p.get(Family::Elementwise) < 0.002, "{p:?}");
    assert_eq!(p.get(Family::Optimizer), 0.0);
}
