#!/usr/bin/env bash
# Sets up a fresh Debian machine (scripts/setup.sh) and runs every test:
#   1. native: convplay-compute (ops, finite-difference gradients, SIMD vs scalar, models, data,
#      training, weights) and the convplay CLI end to end on real MNIST;
#   2. wasm32 in headless Chromium: the compute crate's unit tests, built with the gpu feature:
#      the SIMD kernels against the scalar reference under wasm simd128, and every GPU primitive
#      and a few training steps against the CPU on WebGPU (SwiftShader); then the CPU tests again
#      in the build with relaxed SIMD as well (the page's worker loads that one where it can);
#   3. browser: the site builds with Trunk, and the app's components and engine (its WebGPU run
#      too) run in headless Chromium;
#   4. end to end: the worker's loader picks its build (in node); the built site, served on
#      127.0.0.1, driven in headless Chromium over WebDriver
#      (loads clean, trains, share link round trip, drawing, bad link), and faults mid-run (malformed
#      worker messages, a gradient worker that dies, the WebGPU device lost in a burst, the tab in
#      the background); screenshots in target/e2e/.
# Not here, for their length: bash scripts/fuzz.sh SECONDS (the fuzz targets; their seed corpus
# runs in phase 1) and bash scripts/soak.sh (10,000 training steps in the page).
set -euo pipefail
cd "$(dirname "$0")/.."

# Each phase prints the seconds so far, so a slow CI run shows where its minutes went.
phase() { printf '\n== [%4d s] %s\n' "$SECONDS" "$*"; }

bash scripts/setup.sh --system
# wasm-bindgen-cli and trunk compile (minutes on a fresh machine) while the native tests do.
mkdir -p target
bash scripts/setup.sh --tools > target/setup-tools.log 2>&1 &
tools=$!

# Mesa's Vulkan drivers (lavapipe runs the GPU tests) complain on stderr without a session dir.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"

phase "native tests"
cargo test -p convplay-compute -p convplay-cli

phase "waiting for wasm-bindgen-cli and trunk"
wait "$tools" || { cat target/setup-tools.log; exit 1; }

phase "wasm32 in headless Chromium: SIMD kernels match the scalar reference; GPU kernels and training match the CPU on WebGPU"
# The browser's flags (WebGPU on) are in crates/compute/webdriver.json. The runner gives the whole
# page 20 s unless told otherwise; SwiftShader needs minutes.
CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_USE_BROWSER=1 WASM_BINDGEN_TEST_TIMEOUT=1200 \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test --target wasm32-unknown-unknown -p convplay-compute --lib

phase "wasm32 with relaxed SIMD as well (the page's second worker build) in headless Chromium: the CPU kernels match the scalar reference"
# The feature of scripts/build-relaxed-worker.sh; without the gpu feature (the GPU code has no
# SIMD kernels, and the phase above ran it).
CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_USE_BROWSER=1 WASM_BINDGEN_TEST_TIMEOUT=1200 \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test --target wasm32-unknown-unknown -p convplay-compute --lib --no-default-features \
  --features relaxed-simd

phase "browser: the site builds with Trunk; app components in headless Chromium"
bash scripts/build-web.sh
# The app's tests build in the release profile, after Trunk's release build and with the same
# features (see crates/app/Cargo.toml), so only convplay-app and wasm-bindgen-test compile (about
# a minute); the test profile compiled everything again (11.8 min on 2 cores).
bash scripts/test-browser.sh --release

phase "end to end: the built site in headless Chromium, and faults mid-run"
# Named with the native phase's packages, cargo resolves the same features and reuses that build
# (convplay-compute, gemm, wgpu); on its own it compiled them again (3 min). One browser at a
# time: two would share the machine's two cores with two training workers each.
cargo test -p convplay-compute -p convplay-cli -p convplay-tests --test e2e --test faults --test loader -- --test-threads 1

phase "all tests passed"
