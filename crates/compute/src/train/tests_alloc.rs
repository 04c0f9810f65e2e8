//! On wasm32 (the page's workers) a warmed-up CPU training step allocates nothing at all: the
//! multiply there is our own kernel (`cpu/gemm_simd128.rs`, packing into reused buffers), so
//! unlike the native test (`tests/step_allocations.rs`, which must leave the `gemm` crate's
//! packing buffers out) every allocation is counted. Runs in headless Chromium.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

use crate::data::Dataset;
use crate::model::preset;
use crate::rng::Rng;
use crate::train::{TrainSpec, Trainer};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; the counters are atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            ALLOCATIONS.fetch_add(1, Relaxed);
        }
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            ALLOCATIONS.fetch_add(1, Relaxed);
        }
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            ALLOCATIONS.fetch_add(1, Relaxed);
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

#[wasm_bindgen_test::wasm_bindgen_test]
fn a_warmed_up_training_step_allocates_nothing_on_wasm() {
    let mut rng = Rng::new(5);
    let pixels = (0..32 * Dataset::PIXELS)
        .map(|_| (rng.next_u64() & 255) as u8)
        .collect();
    let data = Dataset::new(pixels, (0..32).map(|i| (i % 10) as u8).collect()).unwrap();
    let batches: Vec<Vec<usize>> = (0..4).map(|b| (b * 8..(b + 1) * 8).collect()).collect();
    for (name, shift) in [("cnn-gap", 0), ("cnn-flatten", 4), ("resnet-mini", 0)] {
        let spec = TrainSpec {
            batch: 8,
            train_shift: shift,
            ..TrainSpec::default()
        };
        let mut t = Trainer::new(preset(name).unwrap(), spec).unwrap();
        for b in &batches {
            t.train_step(&data, b).unwrap();
        }
        ALLOCATIONS.store(0, Relaxed);
        COUNTING.store(true, Relaxed);
        for b in batches.iter().cycle().take(4) {
            t.train_step(&data, b).unwrap();
        }
        COUNTING.store(false, Relaxed);
        let allocations = ALLOCATIONS.load(Relaxed);
        assert_eq!(
            allocations, 0,
            "{name}: 4 steps after warm-up allocated {allocations} times"
        );
    }
}
