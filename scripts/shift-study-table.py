#!/usr/bin/env python3
"""Summarises a shift study (scripts/shift-study.sh OUT_DIR): one row per variant and model with
centred and randomly-shifted test accuracy, and the accuracy-by-shift map's mean, minimum and
spread (max - min) over the grid of offsets. Also writes OUT_DIR/summary.md."""
import json
import pathlib
import sys

out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "study")
rows = ["| variant | model | centred | shifted | map mean | map min | map spread | train s |",
        "|---|---|---|---|---|---|---|---|"]
for variant in ["baseline", "blurpool", "same-zeros", "same-circular"]:
    d = out / variant
    exp_path = d / "experiment.json"
    if not exp_path.is_file():
        continue
    exp = json.loads(exp_path.read_text())
    for name, m in exp["models"].items():
        map_path = d / f"{name}.map.json"
        acc = json.loads(map_path.read_text())["map"]["accuracy"] if map_path.is_file() else []
        mean = f"{100 * sum(acc) / len(acc):.2f}%" if acc else "-"
        low = f"{100 * min(acc):.2f}%" if acc else "-"
        spread = f"{100 * (max(acc) - min(acc)):.2f}" if acc else "-"
        rows.append(f"| {variant} | {name} | {100 * m['centered']['accuracy']:.2f}% | "
                    f"{100 * m['shifted']['accuracy']:.2f}% | {mean} | {low} | {spread} | "
                    f"{m['train_seconds']:.0f} |")
text = "\n".join(rows) + "\n"
(out / "summary.md").write_text(text)
print(text, end="")
