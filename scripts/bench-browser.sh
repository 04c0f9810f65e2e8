#!/usr/bin/env bash
# Benchmark (prints figures, asserts nothing): convplay-compute's training and inference speed at
# batch 64 in headless Chromium (crates/compute/webdriver.json flags): cnn-gap and cnn-flatten on
# the wasm simd128 CPU path (one thread), and cnn-gap on WebGPU (SwiftShader there) with each of
# its convolution passes timed alone. `--node`: the CPU figures only, in node. `--relaxed`
# (first): with the relaxed-simd feature, as the page's worker loads it in Chromium
# (scripts/build-relaxed-worker.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
relaxed=()
if [ "${1:-}" = "--relaxed" ]; then
  shift
  relaxed=(--features relaxed-simd)
fi
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
# A WebGPU step on SwiftShader takes tens of seconds; the runner's default budget is 20 s in all.
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-1800}"
features=()
if [ "${1:-}" = "--node" ]; then
  shift
  features=(--no-default-features)
else
  export CHROMEDRIVER=/usr/bin/chromedriver
  export WASM_BINDGEN_USE_BROWSER=1
fi
cargo test --release --target wasm32-unknown-unknown -p convplay-compute "${features[@]}" "${relaxed[@]}" --test browser_bench -- --nocapture "$@" 2>&1 |
  grep -E "img/s|GFLOP/s|the convolution passes|GEMM body|error|panicked|failed"
