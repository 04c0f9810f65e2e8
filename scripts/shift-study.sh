#!/usr/bin/env bash
# The shift study: cnn-flatten and cnn-gap, each as the lecture defines it (valid padding), with
# BlurPool (Zhang 2019), with `same` zero padding and with `same` circular padding (Kayhan & van
# Gemert 2020). Every model trains on the same budget; each is tested on centred and randomly
# shifted digits, and its accuracy-by-shift map is measured on a grid of offsets.
#   bash scripts/shift-study.sh [OUT_DIR] [TRAIN_IMAGES] [EPOCHS] [CANVAS]
# Writes OUT_DIR/<variant>/experiment.json, <model>.safetensors and <model>.map.json, then a
# summary table (scripts/shift-study-table.py).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-study}
limit=${2:-20000}
epochs=${3:-2}
canvas=${4:-64}
cargo build --release -p convplay-cli
bin=./target/release/convplay
for variant in baseline blurpool same-zeros same-circular; do
  case $variant in
    baseline) flags=() ;;
    blurpool) flags=(--blurpool) ;;
    same-zeros) flags=(--padding zeros) ;;
    same-circular) flags=(--padding circular) ;;
  esac
  dir=$out/$variant
  mkdir -p "$dir"
  "$bin" shift-experiment --limit "$limit" --epochs "$epochs" --test-limit 2000 --canvas "$canvas" \
    --backend cpu --out-dir "$dir" --json "${flags[@]}" > "$dir/experiment.json"
  for weights in "$dir"/*.safetensors; do
    "$bin" shift-map --weights "$weights" --step 2 --limit 300 --backend cpu --json > "${weights%.safetensors}.map.json"
  done
  echo "$variant done"
done
python3 scripts/shift-study-table.py "$out"
