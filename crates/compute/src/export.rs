//! A model as a self-contained PyTorch module: `convplay export --torch` writes the Python source
//! of an `nn.Module` whose parameters and buffers carry the names of convplay's weights files,
//! so `model.load_state_dict(safetensors.torch.load_file(w), strict=True)` takes a convplay
//! file as it is, and the module trains anywhere PyTorch does (one GPU, or many under `torchrun`
//! with DistributedDataParallel; nothing in it is convplay-specific).
//!
//! The forward is written from the compiled graph, node by node, so it computes exactly what
//! convplay's walker does: TensorFlow-style `same` padding (the odd cell after) becomes an
//! explicit `F.pad`, average pooling never counts padding, and BlurPool's fixed filter is a
//! non-persistent buffer (it is not in the state dict). Auxiliary heads are built (their weights
//! load) but the forward returns only the main logits.

use std::fmt::Write;

use crate::error::{Error, Result};
use crate::model::graph::{Graph, NodeOp};
use crate::model::{ModelSpec, compile};
use crate::ops::blur::binomial;
use crate::ops::pad::PadMode;

fn module_of(graph: &Graph, param: usize) -> String {
    let name = &graph.params[param].name;
    name.strip_suffix(".weight").unwrap_or(name).to_string()
}

/// Python string literal (names use letters, digits, `_ - .` only, but quote safely anyway).
fn lit(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

/// The trailing pad a window op leaves implicit: cells past the input its last window covers.
fn trailing(len_in: usize, len_out: usize, kernel: usize, stride: usize, lead: usize) -> usize {
    ((len_out - 1) * stride + kernel).saturating_sub(len_in + lead)
}

/// Whether PyTorch's symmetric `padding=lead` gives the same windows along an axis: the same
/// output size (its trailing pad then only adds cells no window reaches).
fn symmetric(len_in: usize, len_out: usize, kernel: usize, stride: usize, lead: usize) -> bool {
    len_in + 2 * lead >= kernel && (len_in + 2 * lead - kernel) / stride + 1 == len_out
}

/// The Python source of a module computing `spec`.
pub fn torch_module(spec: &ModelSpec) -> Result<String> {
    let g = compile(spec)?;
    let mut init = String::new();
    let mut fwd = String::new();
    let v = |i: usize| format!("v{i}");
    for (k, node) in g.nodes.iter().enumerate() {
        let x = v(node.inputs[0]);
        let out = v(node.output);
        let [c_in, _, _] = g.values[node.inputs[0]];
        let expr = match &node.op {
            NodeOp::Conv2d {
                geom,
                weight,
                bias,
                relu,
            } => {
                let m = module_of(&g, *weight);
                let bottom = trailing(geom.h_in, geom.h_out, geom.kh, geom.stride, geom.pad_top);
                let right = trailing(geom.w_in, geom.w_out, geom.kw, geom.stride, geom.pad_left);
                let symmetric =
                    symmetric(geom.h_in, geom.h_out, geom.kh, geom.stride, geom.pad_top)
                        && symmetric(geom.w_in, geom.w_out, geom.kw, geom.stride, geom.pad_left);
                let padding = if symmetric {
                    format!("({}, {})", geom.pad_top, geom.pad_left)
                } else {
                    "0".into()
                };
                writeln!(
                    init,
                    "        _put(self, {}, nn.Conv2d({c_in}, {}, {}, stride={}, padding={padding}, groups={}, bias={}))",
                    lit(&m),
                    geom.c_out,
                    geom.kh,
                    geom.stride,
                    geom.groups,
                    if bias.is_some() { "True" } else { "False" }
                )
                .ok();
                let input = if symmetric {
                    x
                } else {
                    format!(
                        "F.pad({x}, ({}, {right}, {}, {bottom}))",
                        geom.pad_left, geom.pad_top
                    )
                };
                let call = format!("self._m({})({input})", lit(&m));
                if *relu {
                    format!("F.relu({call})")
                } else {
                    call
                }
            }
            NodeOp::Dense {
                geom,
                weight,
                bias,
                relu,
            } => {
                let m = module_of(&g, *weight);
                writeln!(
                    init,
                    "        _put(self, {}, nn.Linear({}, {}, bias={}))",
                    lit(&m),
                    geom.inputs,
                    geom.outputs,
                    if bias.is_some() { "True" } else { "False" }
                )
                .ok();
                let call = format!("self._m({})({x})", lit(&m));
                if *relu {
                    format!("F.relu({call})")
                } else {
                    call
                }
            }
            NodeOp::MaxPool(p) | NodeOp::AvgPool(p) => {
                let bottom = trailing(p.h_in, p.h_out, p.size, p.stride, p.pad_top);
                let right = trailing(p.w_in, p.w_out, p.size, p.stride, p.pad_left);
                let max = matches!(node.op, NodeOp::MaxPool(_));
                // PyTorch's own padding where it gives the same windows (it allows at most half
                // the window); else an explicit pad that no window counts.
                if symmetric(p.h_in, p.h_out, p.size, p.stride, p.pad_top)
                    && symmetric(p.w_in, p.w_out, p.size, p.stride, p.pad_left)
                    && 2 * p.pad_top.max(p.pad_left) <= p.size
                {
                    let pad = format!("({}, {})", p.pad_top, p.pad_left);
                    if max {
                        format!("F.max_pool2d({x}, {}, {}, {pad})", p.size, p.stride)
                    } else {
                        format!(
                            "F.avg_pool2d({x}, {}, {}, {pad}, count_include_pad=False)",
                            p.size, p.stride
                        )
                    }
                } else {
                    format!(
                        "_{}_pool({x}, {}, {}, ({}, {right}, {}, {bottom}))",
                        if max { "max" } else { "avg" },
                        p.size,
                        p.stride,
                        p.pad_left,
                        p.pad_top
                    )
                }
            }
            NodeOp::AdaptiveAvgPool(a) => {
                format!("F.adaptive_avg_pool2d({x}, ({}, {}))", a.h_out, a.w_out)
            }
            NodeOp::GlobalAvgPool { .. } => format!("{x}.mean((2, 3))"),
            NodeOp::Flatten => format!("torch.flatten({x}, 1)"),
            NodeOp::Relu => format!("F.relu({x})"),
            NodeOp::Relu6 => format!("F.relu6({x})"),
            NodeOp::Dropout { rate } => format!("F.dropout({x}, {rate}, self.training)"),
            NodeOp::BatchNorm { geom, params } => {
                let m = module_of(&g, params.gamma);
                let flat = g.flat[node.inputs[0]];
                writeln!(
                    init,
                    "        _put(self, {}, nn.BatchNorm{}d({}, eps={:e}, momentum={}))",
                    lit(&m),
                    if flat { 1 } else { 2 },
                    geom.c,
                    geom.eps,
                    geom.momentum
                )
                .ok();
                format!("self._m({})({x})", lit(&m))
            }
            NodeOp::Add => format!("{x} + {}", v(node.inputs[1])),
            NodeOp::Concat => {
                let parts: Vec<String> = node.inputs.iter().map(|&i| v(i)).collect();
                format!("torch.cat([{}], 1)", parts.join(", "))
            }
            NodeOp::Pad(p) => {
                let mode = match p.mode {
                    PadMode::Zeros => "constant",
                    PadMode::Reflect => "reflect",
                    PadMode::Circular => "circular",
                };
                format!(
                    "F.pad({x}, ({}, {}, {}, {}), mode={})",
                    p.left,
                    p.right,
                    p.top,
                    p.bottom,
                    lit(mode)
                )
            }
            NodeOp::Blur(b) => {
                let taps: Vec<String> = binomial(b.size).iter().map(|t| format!("{t:?}")).collect();
                let buf = format!("_blur{k}");
                writeln!(
                    init,
                    "        _f = torch.tensor([{}])\n        self.register_buffer({}, torch.outer(_f, _f).expand({}, 1, {}, {}).clone(), persistent=False)",
                    taps.join(", "),
                    lit(&buf),
                    b.c,
                    b.size,
                    b.size
                )
                .ok();
                format!(
                    "F.conv2d({x}, self.{buf}, stride={}, groups={})",
                    b.stride, b.c
                )
            }
        };
        writeln!(fwd, "        {out} = {expr}  # {}", node.layer).ok();
    }
    // Auxiliary heads' layers are in the graph (their modules above); only the main logits return.
    let [c, h, w] = g.input;
    let name = &spec.name;
    let class = "Net";
    let mut src = String::new();
    writeln!(
        src,
        r#""""{name} as a PyTorch module, written by `convplay export --torch`.

Input: float32 [N, {c}, {h}, {w}]. Output: [N, {classes}] logits (softmax is in the loss).
Parameter and buffer names are those of convplay's weights files:

    import safetensors.torch
    model = {class}()
    model.load_state_dict(safetensors.torch.load_file("weights.safetensors"), strict=True)

Self-contained: torch only. Trains as any nn.Module, e.g. under torchrun with
torch.nn.parallel.DistributedDataParallel.
"""

import torch
import torch.nn.functional as F
from torch import nn

SPEC = {spec_json}


def _put(root, path, module):
    """Adds `module` at the dotted `path`, making plain containers on the way."""
    *parents, leaf = path.split(".")
    for p in parents:
        if p not in root._modules:
            root.add_module(p, nn.Module())
        root = root._modules[p]
    root.add_module(leaf, module)


def _max_pool(x, size, stride, pads):
    """Max pooling; padded cells never win (pads: left, right, top, bottom)."""
    if any(pads):
        x = F.pad(x, pads, value=float("-inf"))
    return F.max_pool2d(x, size, stride)


def _avg_pool(x, size, stride, pads):
    """Average over each window's cells inside the input (padding is never counted)."""
    if not any(pads):
        return F.avg_pool2d(x, size, stride)
    ones = F.pad(torch.ones_like(x[:1, :1]), pads)
    total = F.avg_pool2d(F.pad(x, pads), size, stride)
    return total / F.avg_pool2d(ones, size, stride)


class {class}(nn.Module):
    def __init__(self):
        super().__init__()
{init}
    def _m(self, path):
        return self.get_submodule(path)

    def forward(self, v0):
{fwd}        return v{output}
"#,
        classes = g.classes,
        spec_json = lit(&spec.to_json()),
        output = g.output,
    )
    .map_err(|e| Error::InvalidModel {
        layer: "model".into(),
        message: e.to_string(),
    })?;
    Ok(src)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FULL_SIZE, PRESETS, full_size, preset};

    #[test]
    fn every_preset_exports_one_module_line_per_parameterised_layer() {
        for name in FULL_SIZE {
            let spec = full_size(name, [3, 224, 224], 1000).unwrap();
            let src = torch_module(&spec).unwrap();
            let g = compile(&spec).unwrap();
            // One `_put` per conv, dense and batch norm: as many as weight tensors.
            let weights = g
                .params
                .iter()
                .filter(|p| p.name.ends_with(".weight"))
                .count();
            assert_eq!(
                src.matches("\n        _put(self, ").count(),
                weights,
                "{name}"
            );
            assert!(src.contains("class Net(nn.Module)"), "{name}");
        }
        let src = torch_module(&full_size("resnet18", [3, 224, 224], 1000).unwrap()).unwrap();
        assert!(src.contains(r#"_put(self, "layer2.0.downsample.0", nn.Conv2d(64, 128, 1, stride=2, padding=(0, 0), groups=1, bias=False))"#), "{src}");
        assert!(src.contains(r#"_put(self, "fc", nn.Linear(512, 1000, bias=True))"#));
        assert!(src.contains("v4 = F.max_pool2d(v3, 3, 2, (1, 1))"), "{src}");
        assert!(src.contains(r#"_put(self, "conv1", nn.Conv2d(3, 64, 7, stride=2, padding=(3, 3), groups=1, bias=False))"#), "{src}");
        // TensorFlow-style `same` padding of the lecture's presets: explicit and asymmetric.
        for name in PRESETS {
            torch_module(&preset(name).unwrap()).unwrap();
        }
        let src = torch_module(&preset("resnet-mini").unwrap()).unwrap();
        assert!(src.contains("F.pad("), "{src}");
    }
}
