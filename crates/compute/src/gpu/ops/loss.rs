//! Softmax cross-entropy launchers: probabilities, per-step metrics and logit gradients.

use super::*;

/// probs = softmax(logits); metrics[2·slot] = mean loss, metrics[2·slot + 1] = correct count.
/// labels: `[n]` u32.
#[allow(clippy::too_many_arguments)]
pub fn softmax_ce_forward(
    ctx: &GpuContext,
    probs: &GpuBuffer,
    metrics: &GpuBuffer,
    logits: &GpuBuffer,
    labels: &GpuBuffer,
    n: usize,
    classes: usize,
    slot: usize,
) -> Result<Dispatch> {
    let binds = [
        ("probs", probs, n * classes),
        ("metrics", metrics, 2 * slot + 2),
        ("logits", logits, n * classes),
        ("labels", labels, n),
    ];
    let p = SoftmaxParams {
        n: u(n)?,
        classes: u(classes)?,
        slot: u(slot)?,
        scale: 1.0,
    };
    launch(ctx, Kernel::SoftmaxCeForward, &binds, &p, [1, 1, 1])
}

/// dlogits = scale · (probs − one_hot(labels)) / n. Overwrites dlogits. `scale` weighs an
/// auxiliary head's loss (1 for the main head).
#[allow(clippy::too_many_arguments)]
pub fn softmax_ce_backward(
    ctx: &GpuContext,
    dlogits: &GpuBuffer,
    probs: &GpuBuffer,
    labels: &GpuBuffer,
    n: usize,
    classes: usize,
    scale: f32,
) -> Result<Dispatch> {
    let binds = [
        ("dlogits", dlogits, n * classes),
        ("probs", probs, n * classes),
        ("labels", labels, n),
    ];
    let p = SoftmaxParams {
        n: u(n)?,
        classes: u(classes)?,
        slot: 0,
        scale,
    };
    let groups = grid(ctx, n * classes, WG)?;
    launch(ctx, Kernel::SoftmaxCeBackward, &binds, &p, groups)
}
