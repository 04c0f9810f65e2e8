//! A weights file is judged before its model is built: a small file whose metadata announces a
//! huge model is refused without allocating that model (before, `weights::load` built the model
//! the spec described, 160M parameters and their gradients, 1.3 GB, and only then found that the
//! file held none of its tensors). Its own test binary: it counts the allocator's largest block.
#![cfg(not(target_arch = "wasm32"))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use convplay_compute::Error;
use convplay_compute::model::{ModelSpec, compile};
use convplay_compute::weights;
use safetensors::tensor::{Dtype, TensorView};

/// The system allocator, remembering the largest block asked for.
struct Largest;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

#[test]
fn a_small_file_announcing_a_huge_model_is_refused_without_building_it() {
    let huge = ModelSpec::from_json(
        r#"{"name":"huge","input":[1,28,28],"layers":[
            {"type":"flatten","name":"flat"},
            {"type":"dense","name":"fc","units":200000},
            {"type":"dense","name":"out","units":10}]}"#,
    )
    .unwrap();
    let params = compile(&huge).unwrap().param_len;
    assert!(params > 150_000_000, "{params}");
    let one = [0u8; 4];
    let tensors = vec![(
        "fc.bias".to_string(),
        TensorView::new(Dtype::F32, vec![1], &one).unwrap(),
    )];
    let meta = HashMap::from([(weights::SPEC_KEY.to_string(), huge.to_json())]);
    let file = safetensors::serialize(tensors, Some(meta)).unwrap();
    assert!(file.len() < 1024);

    LARGEST.store(0, Ordering::Relaxed);
    let err = weights::load(&file).unwrap_err();
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(matches!(err, Error::WeightsMismatch(_)), "{err}");
    assert!(err.to_string().contains("fc.weight"), "{err}");
    assert!(
        largest < 1 << 20,
        "refusing a {}-byte file allocated a block of {largest} bytes",
        file.len()
    );
}
