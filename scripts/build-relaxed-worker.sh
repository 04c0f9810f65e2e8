#!/usr/bin/env bash
# Trunk's post_build hook (Trunk.toml): the second build of the training worker, with the
# relaxed-simd feature (the matrix multiply's kernel multiply-adds with f32x4.relaxed_madd), into
# relaxed/ of the staged site. web/convplay-worker-loader.js loads it where the engine validates
# relaxed SIMD, else the first build. Same target directory as Trunk's build: only
# convplay-compute and convplay-app compile again (the other crates' features are the same), and
# the next plain build takes its own artifacts back.
set -euo pipefail
: "${TRUNK_STAGING_DIR:?run by trunk (Trunk.toml [[hooks]])}"
cd "${TRUNK_SOURCE_DIR:-$(dirname "$0")/..}"

profile=()
dir=debug
if [ "${TRUNK_PROFILE:-debug}" = release ]; then
  profile=(--release)
  dir=release
fi
# --offline: as Trunk's own build (offline = true), the crates are already fetched.
cargo build --offline "${profile[@]}" --target wasm32-unknown-unknown \
  -p convplay-app --bin convplay-worker --features relaxed-simd
# As Trunk runs wasm-bindgen for the first build's worker link (index.html), with the same CLI.
wasm-bindgen --target=no-modules --no-typescript --out-name=convplay-worker \
  --out-dir="$TRUNK_STAGING_DIR/relaxed" \
  "target/wasm32-unknown-unknown/$dir/convplay-worker.wasm"
