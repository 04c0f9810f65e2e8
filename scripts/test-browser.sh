#!/usr/bin/env bash
# Runs convplay-app's wasm-bindgen tests in headless Chromium through chromedriver.
# The browser's flags are in crates/app/webdriver.json; chromedriver gives every session a fresh
# temporary profile. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

CHROMEDRIVER=/usr/bin/chromedriver \
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test -p convplay-app --target wasm32-unknown-unknown "$@"
