//! How much memory training a graph takes at a batch size, per backend, by part: what
//! `convplay summary --batch` prints, and what the GPU checks against its limits before any
//! work (`gpu::model::check_limits`).

#[cfg(feature = "gpu")]
use crate::gpu::kernels::Gemm;
use crate::model::Graph;
use crate::model::walk::{Layout, StateKind};
use crate::optim::OptimizerSpec;

/// One part of the training memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    pub what: String,
    pub bytes: u64,
}

fn part(what: impl Into<String>, floats: usize) -> Part {
    Part {
        what: what.into(),
        bytes: floats as u64 * 4,
    }
}

/// Optimizer state per parameter: Adam's two moments, SGD's momentum.
fn optimizer_floats(optimizer: &OptimizerSpec) -> usize {
    match optimizer {
        OptimizerSpec::Adam { .. } => 2,
        OptimizerSpec::Sgd { .. } => 1,
    }
}

/// The CPU's training memory at batch `n` with `threads` workers: parameters, gradients,
/// optimizer state and running statistics; every layer's output and its gradient for the batch;
/// max-pool winners, dropout masks and batch-norm statistics; each thread's unfolded-input
/// (im2col) buffer for the largest convolution, and Winograd's buffers for the largest of the
/// convolutions that run it (`cpu::winograd`), if any. Largest first.
pub fn cpu(graph: &Graph, n: usize, optimizer: &OptimizerSpec, threads: usize) -> Vec<Part> {
    let layout = Layout::new(graph);
    let batch_floats: usize = layout.slot_len.iter().map(|l| n * l).sum();
    let state: usize = Layout::state(graph, n)
        .map(|s| match s.kind {
            StateKind::BatchStats => 2 * s.len,
            _ => s.len,
        })
        .sum();
    let col = graph
        .nodes
        .iter()
        .filter_map(|node| match &node.op {
            crate::model::graph::NodeOp::Conv2d { geom, .. } => {
                Some(geom.c_in_g() * geom.kh * geom.kw * geom.h_out * geom.w_out)
            }
            _ => None,
        })
        .max()
        .unwrap_or(0);
    let winograd = graph
        .nodes
        .iter()
        .filter_map(|node| match &node.op {
            crate::model::graph::NodeOp::Conv2d { geom, .. } => {
                crate::cpu::winograd::scratch_floats(geom)
            }
            _ => None,
        })
        .map(|(per_thread, once)| per_thread * threads.max(1) + once)
        .max();
    let mut parts = vec![
        part("parameters", graph.param_len),
        part("gradients", graph.param_len),
        part(
            "optimizer state",
            optimizer_floats(optimizer) * graph.param_len,
        ),
        part("running statistics", graph.buffer_len),
        part("activations", batch_floats),
        part("activation gradients", batch_floats),
        part("pooling winners, dropout masks, batch statistics", state),
        part(
            format!("im2col buffers ({} threads)", threads.max(1)),
            col * threads.max(1),
        ),
    ];
    if let Some(floats) = winograd {
        parts.push(part(
            format!("Winograd buffers ({} threads)", threads.max(1)),
            floats,
        ));
    }
    parts.sort_by_key(|p| std::cmp::Reverse(p.bytes));
    parts
}

/// The GPU's device buffers at batch `n` on an adapter whose GEMM body is `gemm`, largest first
/// (every buffer must also fit the device's per-buffer limits).
#[cfg(feature = "gpu")]
pub fn gpu(
    graph: &Graph,
    n: usize,
    optimizer: &OptimizerSpec,
    gemm: Gemm,
) -> crate::Result<Vec<Part>> {
    Ok(crate::gpu::model::needs(graph, n, optimizer, gemm)?
        .into_iter()
        .map(|need| part(need.what, need.floats))
        .collect())
}

/// The sum of `parts`.
pub fn total(parts: &[Part]) -> u64 {
    parts.iter().map(|p| p.bytes).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{compile, full_size};

    #[test]
    fn resnet18_training_memory_adds_up() {
        let g = compile(&full_size("resnet18", [3, 224, 224], 1000).unwrap()).unwrap();
        let adam = OptimizerSpec::adam(1e-3);
        let cpu = cpu(&g, 32, &adam, 2);
        let get = |what: &str| cpu.iter().find(|p| p.what.starts_with(what)).unwrap().bytes;
        // Parameters, gradients, Adam's m and v: 4 × 11,689,512 floats.
        assert_eq!(get("parameters"), 11_689_512 * 4);
        assert_eq!(get("optimizer state"), 2 * 11_689_512 * 4);
        // Activations grow with the batch, parameters do not.
        let one = super::cpu(&g, 1, &adam, 2);
        let acts = |p: &[Part]| p.iter().find(|p| p.what == "activations").unwrap().bytes;
        assert_eq!(acts(&cpu), 32 * acts(&one));
        // conv1's 3·7·7 × 112·112 unfolded input is the largest im2col buffer, one per thread.
        assert_eq!(get("im2col"), 2 * 147 * 112 * 112 * 4);
        // layer4's 3×3 layers (512 channels, 7×7: 16 tiles) take 16 images per Winograd
        // product: 16·(512 + 512)·256 transformed floats, 4·256 of the output transform's
        // sums, 16·512·512 gradient sums and 9·512·512 of them back per thread, the bits of a
        // chunk of 16 images' planes (7 rows 9 bits apart: 1 word an output-gradient plane, 3
        // an input plane with room for the shift) and a flag per plane, two floats a word; and
        // 16·512·512 transformed weights.
        let bits = 2 * (512 * 16 * (1 + 3) + 1024);
        let per_thread = 16 * 1024 * 256 + 4 * 256 + 16 * 512 * 512 + 9 * 512 * 512 + bits;
        assert_eq!(get("Winograd"), (2 * per_thread + 16 * 512 * 512) * 4);
        #[cfg(feature = "gpu")]
        {
            let gpu = gpu(&g, 32, &adam, Gemm::Registers).unwrap();
            assert!(total(&gpu) > 4 * 11_689_512 * 4 + acts(&cpu));
            assert!(gpu.windows(2).all(|w| w[0].bytes >= w[1].bytes));
        }
    }
}
