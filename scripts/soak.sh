#!/usr/bin/env bash
# The 10,000-step soak (a test that can fail, ignored by the default test command for its length):
# builds the site, then trains cnn-gap in headless Chromium for 10,000 steps on wasm SIMD with two
# workers and 2,000 on WebGPU (SwiftShader here), printing every 500 steps the page's JS heap,
# the worker's wasm memory, the WebGPU buffers it holds and the longest main-thread task; fails
# if they grow after warm-up or a task reaches 50 ms (tests/soak.rs). About 8 minutes on 2 cores,
# after the build.
#   bash scripts/soak.sh            build the site, then soak
#   bash scripts/soak.sh --no-build soak the site already in dist/
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "${1:-}" != "--no-build" ]; then
  bash scripts/build-web.sh
fi
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
# Named with the native tests' packages, cargo reuses their build (see scripts/test.sh).
cargo test -p convplay-compute -p convplay-cli -p convplay-tests --test soak -- --ignored --nocapture
