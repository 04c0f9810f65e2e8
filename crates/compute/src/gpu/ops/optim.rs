//! Optimizer launchers: one SGD or Adam step over the flat parameter buffer.

use super::*;

/// The params of [`optimizer_update`] for 1-based step `step`.
pub fn adam_params(spec: &OptimizerSpec, len: usize, step: u32) -> Result<AdamParams> {
    match *spec {
        OptimizerSpec::Adam {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
        } => {
            let (bc1, bc2) =
                crate::cpu::elementwise::adam_bias_corrections(beta1, beta2, step.max(1));
            Ok(AdamParams {
                len: u(len)?,
                lr,
                beta1,
                beta2,
                eps,
                bc1,
                bc2,
                weight_decay,
            })
        }
        OptimizerSpec::Sgd { .. } => Err(Error::Gpu("adam_params of an SGD optimizer".into())),
    }
}

/// One optimizer step over `len` parameters: SGD uses `m` as its velocity, Adam `m` and `v`.
/// For Adam, the step count lives in the params: rewrite them each step with [`adam_params`].
#[allow(clippy::too_many_arguments)]
pub fn optimizer_update(
    ctx: &GpuContext,
    params: &GpuBuffer,
    grads: &GpuBuffer,
    m: &GpuBuffer,
    v: &GpuBuffer,
    len: usize,
    spec: &OptimizerSpec,
    step: u32,
) -> Result<Dispatch> {
    let groups = grid(ctx, len, WG)?;
    match *spec {
        OptimizerSpec::Adam { .. } => {
            let binds = [("params", params, len), ("grads", grads, len)];
            let state = [("m", m, len), ("v", v, len)];
            let p = adam_params(spec, len, step)?;
            launch(
                ctx,
                Kernel::AdamUpdate,
                &[binds, state].concat(),
                &p,
                groups,
            )
        }
        OptimizerSpec::Sgd {
            lr,
            momentum,
            weight_decay,
            nesterov,
        } => {
            let p = SgdParams {
                len: u(len)?,
                lr,
                momentum,
                weight_decay,
                nesterov: nesterov as u32,
                ..Default::default()
            };
            let binds = [
                ("params", params, len),
                ("grads", grads, len),
                ("velocity", m, len),
            ];
            launch(ctx, Kernel::SgdUpdate, &binds, &p, groups)
        }
    }
}
