//! A CPU training step allocates nothing once warmed up: every buffer it needs (activations,
//! gradients, im2col columns, weight-gradient partial sums, the batch, the step's plan) is kept
//! from the steps before. Counted by a global allocator that tallies every allocation and
//! reallocation on every thread, the thread pool's included, except those the `gemm` crate
//! makes inside its multiply (its packing buffers, which no caller can hand it; see
//! `cpu::gemm::in_gemm_crate`). The wasm32 build multiplies with its own kernel, and its test
//! (`train::tests_alloc`, in headless Chromium) counts everything.
#![cfg(not(target_arch = "wasm32"))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

use convplay_compute::data::Dataset;
use convplay_compute::model::preset;
use convplay_compute::rng::Rng;
use convplay_compute::train::{TrainSpec, Trainer};

struct Counting;

/// Whether an allocation now is counted: while counting, and outside the `gemm` crate.
fn counts() -> bool {
    COUNTING.load(Relaxed) && !convplay_compute::cpu::gemm::in_gemm_crate()
}

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; the counters are atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counts() {
            ALLOCATIONS.fetch_add(1, Relaxed);
            BYTES.fetch_add(layout.size(), Relaxed);
        }
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if counts() {
            ALLOCATIONS.fetch_add(1, Relaxed);
            BYTES.fetch_add(layout.size(), Relaxed);
        }
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counts() {
            ALLOCATIONS.fetch_add(1, Relaxed);
            BYTES.fetch_add(new_size, Relaxed);
        }
        // SAFETY: the caller's contract is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations (and bytes) made while `f` runs.
fn counted(f: impl FnOnce()) -> (usize, usize) {
    ALLOCATIONS.store(0, Relaxed);
    BYTES.store(0, Relaxed);
    COUNTING.store(true, Relaxed);
    f();
    COUNTING.store(false, Relaxed);
    (ALLOCATIONS.load(Relaxed), BYTES.load(Relaxed))
}

fn digits(n: usize) -> Dataset {
    let mut rng = Rng::new(5);
    let pixels = (0..n * Dataset::PIXELS)
        .map(|_| (rng.next_u64() & 255) as u8)
        .collect();
    Dataset::new(pixels, (0..n).map(|i| (i % 10) as u8).collect()).unwrap()
}

/// One test runs every case, one after the other: the counter is global.
#[test]
fn a_warmed_up_training_step_allocates_nothing() {
    // Two threads, so the pool's hand-offs between threads are counted too. The steps run on the
    // pool, as `convplay` runs them: a thread outside it hands each parallel pass to the pool
    // through rayon's injector queue, which takes a fresh block of memory every 63 passes.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    pool.install(steps_allocate_nothing);
}

fn steps_allocate_nothing() {
    let data = digits(64);
    let batches: Vec<Vec<usize>> = (0..4).map(|b| (b * 16..(b + 1) * 16).collect()).collect();
    for (name, shift) in [("cnn-gap", 0), ("cnn-flatten", 4), ("resnet-mini", 0)] {
        let spec = TrainSpec {
            batch: 16,
            train_shift: shift,
            ..TrainSpec::default()
        };
        let mut t = Trainer::new(preset(name).unwrap(), spec.clone()).unwrap();
        for b in &batches {
            t.train_step(&data, b).unwrap();
        }
        let (allocations, bytes) = counted(|| {
            for b in batches.iter().cycle().take(6) {
                t.train_step(&data, b).unwrap();
            }
        });
        assert_eq!(
            (allocations, bytes),
            (0, 0),
            "{name}: 6 training steps after warm-up allocated {allocations} times ({bytes} bytes)"
        );

        // The same on ready image batches (`train_on`, as `convplay train --data` runs).
        let mut t = Trainer::for_images(t.model.clone(), spec).unwrap();
        let x: Vec<f32> = (0..16 * t.model.input_len())
            .map(|i| (i % 7) as f32 / 7.0)
            .collect();
        let labels: Vec<u16> = (0..16).map(|i| (i % 10) as u16).collect();
        for _ in 0..3 {
            t.train_on(&x, &labels).unwrap();
        }
        let (allocations, bytes) = counted(|| {
            for _ in 0..4 {
                t.train_on(&x, &labels).unwrap();
            }
        });
        assert_eq!(
            (allocations, bytes),
            (0, 0),
            "{name}: 4 train_on steps after warm-up allocated {allocations} times ({bytes} bytes)"
        );
    }
}
