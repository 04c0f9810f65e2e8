//! The convplay web app, in three parts:
//!
//! - [`page`]: what runs on the page's thread. The bin `convplay-app` mounts [`page::app::App`];
//!   the components, their shared [`page::ctx::Ctx`], the [`page::state::PageState`] that takes
//!   in the worker's messages, and the handle that starts the worker ([`page::handle`]).
//! - [`worker`]: what runs inside the Web Worker (the bin `convplay-worker`): the
//!   [`worker::engine::Engine`] that trains and answers, and the gradient workers it spreads a
//!   step's shards over.
//! - [`protocol`]: the messages the two sides exchange.
//!
//! Components live in the library, not the bins, so browser tests can mount them one at a time.

pub mod page;
pub mod protocol;
pub mod worker;

pub use convplay_compute::experiment;

// The unit tests run in headless Chromium (crates/app/webdriver.json), not Node: the engine's
// WebGPU test needs the browser's GPU.
#[cfg(all(test, target_arch = "wasm32"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
