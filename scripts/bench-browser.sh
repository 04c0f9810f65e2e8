#!/usr/bin/env bash
# Benchmark (prints figures, asserts nothing): convplay-compute's wasm simd128 training and
# inference speed for cnn-gap and cnn-flatten at batch 64, one thread, in headless Chromium
# (crates/compute/webdriver.json flags) — and in node with `--node`.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
if [ "${1:-}" = "--node" ]; then
  shift
else
  export CHROMEDRIVER=/usr/bin/chromedriver
  export WASM_BINDGEN_USE_BROWSER=1
fi
cargo test --release --target wasm32-unknown-unknown -p convplay-compute --no-default-features --test browser_bench -- --nocapture "$@" 2>&1 |
  grep -E "img/s|error|panicked|failed"
