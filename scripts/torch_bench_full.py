"""PyTorch's own speed on a torchvision model, for `convplay bench --input` beside it.

Usage: python scripts/torch_bench_full.py MODEL C H W BATCH STEPS THREADS
Random input and labels, Adam 1e-3, 2 warm-up steps, then STEPS timed training steps; then
evaluation-mode forwards. Prints one JSON line (images/s).
"""
import json
import sys
import time

import torch
import torchvision

name, c, h, w, batch, steps, threads = sys.argv[1], *map(int, sys.argv[2:8])
torch.set_num_threads(threads)
torch.manual_seed(0)
model = getattr(torchvision.models, name)(weights=None, num_classes=1000)
x = torch.rand(batch, c, h, w) * 2 - 1
y = torch.arange(batch) % 1000
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = torch.nn.CrossEntropyLoss()


def step():
    opt.zero_grad(set_to_none=True)
    loss_fn(model(x), y).backward()
    opt.step()


model.train()
for _ in range(2):
    step()
t0 = time.perf_counter()
for _ in range(steps):
    step()
train = steps * batch / (time.perf_counter() - t0)
model.eval()
with torch.inference_mode():
    model(x)
    t0 = time.perf_counter()
    n = max(3, min(steps, 10))
    for _ in range(n):
        model(x)
    infer = n * batch / (time.perf_counter() - t0)
print(json.dumps({"model": name, "torch": torch.__version__, "threads": torch.get_num_threads(),
                  "input": [c, h, w], "batch": batch, "steps": steps,
                  "train_images_per_sec": train, "infer_images_per_sec": infer}))
