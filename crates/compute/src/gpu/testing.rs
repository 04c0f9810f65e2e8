//! What the GPU tests share. Each test body is one `async fn(&Arc<GpuContext>)` and
//! [`gpu_test!`] runs it twice over: natively as a `#[test]` under `pollster::block_on`, and in
//! the browser as an async `wasm_bindgen_test` whose readbacks are awaited on the JS event loop
//! (`WASM_BINDGEN_USE_BROWSER=1`; WebGPU on SwiftShader in headless Chromium).
//!
//! No adapter is a failure, never a skip: [`ctx`] panics, naming what is missing.

use std::sync::Arc;

use super::ops::Dispatch;
use super::{GpuBuffer, GpuContext};
use crate::data::Dataset;
use crate::rng::Rng;

/// The device every test in this binary shares (opening one per test costs more than the test).
#[cfg(not(target_arch = "wasm32"))]
pub async fn ctx() -> Arc<GpuContext> {
    static CTX: std::sync::OnceLock<Arc<GpuContext>> = std::sync::OnceLock::new();
    CTX.get_or_init(|| {
        Arc::new(
            GpuContext::new_blocking()
                .unwrap_or_else(|e| panic!("the GPU tests need an adapter and found none: {e}")),
        )
    })
    .clone()
}

/// The device every test in this page shares; the browser runs the tests one after another.
#[cfg(target_arch = "wasm32")]
pub async fn ctx() -> Arc<GpuContext> {
    thread_local! {
        static CTX: std::cell::RefCell<Option<Arc<GpuContext>>> = const { std::cell::RefCell::new(None) };
    }
    if let Some(c) = CTX.with(|c| c.borrow().clone()) {
        return c;
    }
    // One thread in the browser: the context is shared by reference counting, never sent.
    #[allow(clippy::arc_with_non_send_sync)]
    let c = Arc::new(
        GpuContext::new()
            .await
            .unwrap_or_else(|e| panic!("the GPU tests need a WebGPU adapter and found none: {e}")),
    );
    CTX.with(|cell| *cell.borrow_mut() = Some(c.clone()));
    c
}

/// `gpu_test!(name, body)`: a native `#[test]` and a browser `wasm_bindgen_test`, both named
/// `name`, running `body(&ctx().await)`. `gpu_test!(#[ignore = "why"] name, body)` ignores both.
macro_rules! gpu_test {
    ($(#[ignore = $why:tt])? $name:ident, $body:ident) => {
        #[cfg(not(target_arch = "wasm32"))]
        #[test]
        $(#[ignore = $why])?
        fn $name() {
            pollster::block_on(async {
                let c = $crate::gpu::testing::ctx().await;
                $body(&c).await
            })
        }

        #[cfg(target_arch = "wasm32")]
        #[wasm_bindgen_test::wasm_bindgen_test]
        $(#[ignore = $why])?
        async fn $name() {
            let c = $crate::gpu::testing::ctx().await;
            $body(&c).await
        }
    };
}
pub(crate) use gpu_test;

pub fn up(ctx: &GpuContext, v: &[f32]) -> GpuBuffer {
    GpuBuffer::from_f32(ctx, "test", v)
}

pub async fn down(ctx: &GpuContext, b: &GpuBuffer) -> Vec<f32> {
    b.read_f32(ctx).await.expect("readback")
}

pub fn run(ctx: &GpuContext, ds: &[&Dispatch]) {
    ctx.submit(ds).expect("submit");
}

/// max |gpu − cpu| / max(1, |cpu|) ≤ 1e-4, NaN counting as the worst error.
#[track_caller]
pub fn assert_close(what: &str, gpu: &[f32], cpu: &[f32]) {
    assert_eq!(gpu.len(), cpu.len(), "{what}: lengths");
    let mut worst = (0.0f32, 0usize);
    for (i, (g, c)) in gpu.iter().zip(cpu).enumerate() {
        let err = (g - c).abs() / c.abs().max(1.0);
        if worst.0.is_nan() {
            break;
        }
        if err.is_nan() || err > worst.0 {
            worst = (err, i);
        }
    }
    assert!(
        worst.0 <= 1e-4,
        "{what}: gpu {} vs cpu {} at {} (relative error {})",
        gpu[worst.1],
        cpu[worst.1],
        worst.1,
        worst.0
    );
}

/// `n` noisy synthetic digits: class k is a bright stroke whose row and slope depend on k.
pub fn digits(n: usize) -> Dataset {
    let mut rng = Rng::new(5);
    let mut images = vec![0u8; n * 784];
    let mut labels = vec![0u8; n];
    for i in 0..n {
        let k = i % 10;
        labels[i] = k as u8;
        for c in 3..25 {
            let r = (4 + 2 * k + (c * k) / 12).min(27);
            images[i * 784 + r * 28 + c] = 180 + (rng.next_u64() % 70) as u8;
        }
        for _ in 0..30 {
            let p = (rng.next_u64() % 784) as usize;
            images[i * 784 + p] = (rng.next_u64() % 120) as u8;
        }
    }
    Dataset::new(images, labels).unwrap()
}
