"""Checks convplay's forward against PyTorch: for each model directory written by
`convplay forward` (weights, input, logits) and `convplay export --torch` (model.py), loads the
weights into the exported module with strict=True and compares its evaluation-mode logits with
convplay's; where torchvision has the network, loads the same file into torchvision's model too.

Usage: python scripts/torch_parity.py DIR [DIR ...]  (each DIR named after its model)
"""

import importlib.util
import os
import sys
import time

import safetensors.torch
import torch

TORCHVISION = {"alexnet", "vgg11", "vgg16", "resnet18", "resnet50", "mobilenet_v2", "densenet121"}
TOL = 1e-4


def rel_err(got, want):
    return ((got - want).abs().max() / want.abs().max().clamp_min(1e-12)).item()


def load_module(path):
    spec = importlib.util.spec_from_file_location("exported", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.Net()


def main(dirs):
    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    failed = []
    for d in dirs:
        name = os.path.basename(os.path.normpath(d))
        start = time.time()
        weights = safetensors.torch.load_file(os.path.join(d, "weights.safetensors"))
        x = safetensors.torch.load_file(os.path.join(d, "input.safetensors"))["input"]
        want = safetensors.torch.load_file(os.path.join(d, "logits.safetensors"))["logits"]
        rows = []
        net = load_module(os.path.join(d, "model.py"))
        net.load_state_dict(weights, strict=True)
        net.eval()
        with torch.no_grad():
            rows.append(("exported", rel_err(net(x), want)))
        if name in TORCHVISION:
            import torchvision

            tv = getattr(torchvision.models, name)(weights=None, num_classes=want.shape[1])
            tv.load_state_dict(weights, strict=True)
            tv.eval()
            with torch.no_grad():
                rows.append(("torchvision", rel_err(tv(x), want)))
        for what, err in rows:
            ok = err <= TOL
            print(f"{name:<24} {what:<12} max relative error {err:.2e}  {'ok' if ok else 'FAIL'}"
                  f"  ({time.time() - start:.1f} s)")
            if not ok:
                failed.append(f"{name} ({what})")
    if failed:
        print("parity failed: " + ", ".join(failed))
        sys.exit(1)
    print(f"parity: {len(dirs)} models agree with PyTorch within {TOL} relative")


if __name__ == "__main__":
    main(sys.argv[1:])
