//! The convplay web app. The page (bin `convplay-app`) mounts [`app::App`]; the dedicated Web
//! Worker (bin `convplay-worker`) answers with [`engine::Engine`]. Components live here, in the
//! library, so browser tests can mount them one at a time.

pub mod app;
pub mod charts;
pub mod ctx;
pub mod drawing;
pub mod editor;
pub mod engine;
pub mod heatmaps;
pub mod inspect;
pub mod inspect_view;
pub mod link;
pub mod parallel;
pub mod playground;
pub mod pool;
pub mod protocol;
pub mod results;
pub mod settings;
pub mod shards;
pub mod state;
pub mod summary_table;
pub mod training;
pub mod weights_io;
pub mod worker;

pub use convplay_compute::experiment;

// The unit tests run in headless Chromium (crates/app/webdriver.json), not Node: the engine's
// WebGPU test needs the browser's GPU.
#[cfg(all(test, target_arch = "wasm32"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
