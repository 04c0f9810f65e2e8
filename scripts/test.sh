#!/usr/bin/env bash
# Sets up a fresh Debian machine (scripts/setup.sh) and runs every test:
#   1. native: convplay-compute (ops, finite-difference gradients, SIMD vs scalar, models, data,
#      training, weights) and the convplay CLI end to end on real MNIST;
#   2. wasm32: the compute crate builds for the browser, and its SIMD kernels are checked against
#      the scalar reference under wasm simd128 (node);
#   3. browser: the site builds with Trunk, and the app's components run in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

echo "== native tests"
cargo test -p convplay-compute -p convplay-cli

echo "== wasm32: compute builds, SIMD kernels match the scalar reference under simd128"
# The pure-CPU build: the wasm32 GPU (WebGPU) tests are not wired into CI yet.
cargo build --target wasm32-unknown-unknown -p convplay-compute --no-default-features
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test --target wasm32-unknown-unknown -p convplay-compute --no-default-features --lib

echo "== browser: the site builds with Trunk; app components in headless Chromium"
bash scripts/build-web.sh
bash scripts/test-browser.sh
