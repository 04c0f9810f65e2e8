#!/usr/bin/env bash
# Forward parity with PyTorch (not part of the default test command: it downloads ~3 GB).
# Installs torch, torchvision and safetensors from PyPI into target/torch-venv, then for every
# preset: `convplay forward` (seeded weights with random running statistics, a seeded input,
# convplay's logits) and `convplay export --torch`; scripts/torch_parity.py loads the weights
# into the exported module (strict=True), and into torchvision's model where there is one, and
# compares logits within 1e-4 relative.
#
#   bash scripts/torch-parity.sh            # every preset; full-size ones at 3×64×64
#   FULL=1 bash scripts/torch-parity.sh     # the full-size ones at 3×224×224 too
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
venv=target/torch-venv
if ! "$venv/bin/python" -c "import torch, torchvision, safetensors" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q torch==2.15.0 torchvision safetensors numpy
fi
cargo build --release -q -p convplay-cli
bin=target/release/convplay
out=target/torch-parity
rm -rf "$out"
mkdir -p "$out"
full=(alexnet vgg11 vgg16 resnet18 resnet50 mobilenet_v2 densenet121)
mini="cnn-flatten cnn-gap lenet5 alexnet-mini vgg-mini nin-mini inception-mini inception-lecture
      resnet-mini resnet-bottleneck-mini resnext-mini densenet-mini mobilenet-mini"
dirs=()
for m in $mini; do
    "$bin" forward "$m" --out-dir "$out/$m" --batch 2 2>/dev/null
    "$bin" export --torch "$m" "$out/$m/model.py" 2>/dev/null
    dirs+=("$out/$m")
done
for m in "${full[@]}"; do
    "$bin" forward "$m" --input 3x64x64 --classes 10 --out-dir "$out/$m" --batch 2 2>/dev/null
    "$bin" export --torch "$out/$m/weights.safetensors" "$out/$m/model.py" 2>/dev/null
    dirs+=("$out/$m")
done
if [ "${FULL:-0}" = 1 ]; then
    for m in "${full[@]}"; do
        d="$out/224/$m"
        "$bin" forward "$m" --input 3x224x224 --classes 1000 --out-dir "$d" --batch 2 2>/dev/null
        "$bin" export --torch "$d/weights.safetensors" "$d/model.py" 2>/dev/null
        dirs+=("$d")
    done
fi
"$venv/bin/python" scripts/torch_parity.py "${dirs[@]}"
echo "torch-parity: $(( $(date +%s) - start )) s"
