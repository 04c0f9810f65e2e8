#!/usr/bin/env bash
# Runs convplay-app's wasm-bindgen tests in headless Chromium through chromedriver.
# The browser's flags are in crates/app/webdriver.json; chromedriver gives every session a fresh
# temporary profile. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

# The runner gives the whole page 20 s unless told otherwise; the engine's WebGPU run on
# SwiftShader takes longer.
CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_TEST_TIMEOUT=600 \
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test -p convplay-app --target wasm32-unknown-unknown "$@"
