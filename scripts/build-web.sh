#!/usr/bin/env bash
# Builds the web app into dist/ (release): the page and the worker as wasm, web/style.css, and
# web/data/ served at /data/. Uses the trunk, wasm-bindgen and wasm-opt that scripts/setup.sh
# installs; Trunk itself downloads nothing (--offline, and offline = true in Trunk.toml).
# Extra arguments go to `trunk build`.
set -euo pipefail
cd "$(dirname "$0")/.."

# index.html copies web/data/ into dist/; the build fails without it.
bash scripts/fetch-data.sh
# trunk --offline passes --offline to cargo, so the crates must already be here.
cargo fetch --quiet
# The worker's kernels use wasm SIMD: .cargo/config.toml turns on simd128 for wasm32 (setting it
# here as well would double the flag, and the tests' builds could not reuse this one).
trunk build --offline --release "$@"
