//! Optimizers over the model's flat parameter buffer: SGD (momentum, weight decay, Nesterov) and
//! Adam, with PyTorch's semantics (weight decay is L2 added to the gradient). One step is one
//! SIMD loop over every parameter.

use serde::{Deserialize, Serialize};

use crate::cpu::elementwise;
use crate::error::{Error, Result};
use crate::par;

fn beta1() -> f32 {
    0.9
}
fn beta2() -> f32 {
    0.999
}
fn adam_eps() -> f32 {
    1e-8
}
fn is_zero(v: &f32) -> bool {
    *v == 0.0
}
fn is_false(v: &bool) -> bool {
    !*v
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerSpec {
    Adam {
        lr: f32,
        #[serde(default = "beta1")]
        beta1: f32,
        #[serde(default = "beta2")]
        beta2: f32,
        #[serde(default = "adam_eps")]
        eps: f32,
        #[serde(default, skip_serializing_if = "is_zero")]
        weight_decay: f32,
    },
    Sgd {
        lr: f32,
        #[serde(default, skip_serializing_if = "is_zero")]
        momentum: f32,
        #[serde(default, skip_serializing_if = "is_zero")]
        weight_decay: f32,
        #[serde(default, skip_serializing_if = "is_false")]
        nesterov: bool,
    },
}

impl OptimizerSpec {
    /// Adam with PyTorch's defaults and learning rate `lr`.
    pub fn adam(lr: f32) -> Self {
        OptimizerSpec::Adam {
            lr,
            beta1: beta1(),
            beta2: beta2(),
            eps: adam_eps(),
            weight_decay: 0.0,
        }
    }

    /// SGD with momentum 0.9.
    pub fn sgd(lr: f32) -> Self {
        OptimizerSpec::Sgd {
            lr,
            momentum: 0.9,
            weight_decay: 0.0,
            nesterov: false,
        }
    }

    pub fn lr(&self) -> f32 {
        match *self {
            OptimizerSpec::Adam { lr, .. } | OptimizerSpec::Sgd { lr, .. } => lr,
        }
    }

    pub fn validate(&self) -> Result<()> {
        let ok = |v: f32, lo: f32, hi: f32| v.is_finite() && v >= lo && v < hi;
        let valid = match *self {
            OptimizerSpec::Adam {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
            } => {
                ok(lr, 0.0, 10.0)
                    && ok(beta1, 0.0, 1.0)
                    && ok(beta2, 0.0, 1.0)
                    && eps.is_finite()
                    && eps > 0.0
                    && ok(weight_decay, 0.0, 1.0)
            }
            OptimizerSpec::Sgd {
                lr,
                momentum,
                weight_decay,
                nesterov,
            } => {
                ok(lr, 0.0, 10.0)
                    && ok(momentum, 0.0, 1.0)
                    && ok(weight_decay, 0.0, 1.0)
                    && (!nesterov || momentum > 0.0)
            }
        };
        if valid && self.lr() > 0.0 {
            Ok(())
        } else {
            Err(Error::InvalidTrainSpec(format!(
                "optimizer {self:?}: need 0 < lr < 10, betas and momentum in [0, 1), finite eps > 0, weight decay in [0, 1), Nesterov only with momentum"
            )))
        }
    }
}

/// An optimizer and its state for one model.
#[derive(Clone, Debug)]
pub struct Optimizer {
    pub spec: OptimizerSpec,
    /// Steps taken so far.
    pub steps: u32,
    /// Adam's first moment, or SGD's velocity.
    m: Vec<f32>,
    /// Adam's second moment (empty for SGD).
    v: Vec<f32>,
}

impl Optimizer {
    pub fn new(spec: OptimizerSpec, params: usize) -> Result<Self> {
        spec.validate()?;
        let v = match spec {
            OptimizerSpec::Adam { .. } => vec![0.0; params],
            OptimizerSpec::Sgd { .. } => Vec::new(),
        };
        Ok(Self {
            spec,
            steps: 0,
            m: vec![0.0; params],
            v,
        })
    }

    /// One update of `params` from `grads`.
    pub fn step(&mut self, params: &mut [f32], grads: &[f32]) -> Result<()> {
        if params.len() != self.m.len() || grads.len() != params.len() {
            return Err(Error::ShapeMismatch {
                op: "optimizer step",
                expected: format!("{} parameters", self.m.len()),
                got: format!("params {}, grads {}", params.len(), grads.len()),
            });
        }
        self.steps += 1;
        match self.spec {
            OptimizerSpec::Adam {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
            } => par::for_each_span3_mut(params, &mut self.m, &mut self.v, |at, p, m, v| {
                let g = &grads[at..at + p.len()];
                elementwise::adam_update(
                    p,
                    g,
                    m,
                    v,
                    lr,
                    beta1,
                    beta2,
                    eps,
                    self.steps,
                    weight_decay,
                )
            }),
            OptimizerSpec::Sgd {
                lr,
                momentum,
                weight_decay,
                nesterov,
            } => par::for_each_chunk_pair_mut(
                params,
                par::SPAN,
                &mut self.m,
                par::SPAN,
                |c, p, m| {
                    let at = c * par::SPAN;
                    let g = &grads[at..at + p.len()];
                    elementwise::sgd_update(p, g, m, lr, momentum, weight_decay, nesterov)
                },
            ),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Minimises f(p) = Σ (p_i − t_i)² and checks both optimizers get there.
    fn converges(spec: OptimizerSpec, steps: usize) -> f32 {
        let target = [1.0f32, -2.0, 0.5, 3.0, -0.25];
        let mut p = vec![0.0f32; 5];
        let mut opt = Optimizer::new(spec, 5).unwrap();
        for _ in 0..steps {
            let g: Vec<f32> = p.iter().zip(&target).map(|(a, t)| 2.0 * (a - t)).collect();
            opt.step(&mut p, &g).unwrap();
        }
        p.iter()
            .zip(&target)
            .map(|(a, t)| (a - t).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn adam_and_sgd_minimise_a_quadratic() {
        assert!(converges(OptimizerSpec::adam(0.05), 2000) < 1e-3);
        assert!(converges(OptimizerSpec::sgd(0.05), 500) < 1e-4);
        assert!(
            converges(
                OptimizerSpec::Sgd {
                    lr: 0.05,
                    momentum: 0.9,
                    weight_decay: 0.0,
                    nesterov: true
                },
                500
            ) < 1e-4
        );
    }

    #[test]
    fn adam_first_step_moves_each_parameter_by_lr() {
        let mut p = vec![0.0f32; 3];
        let mut opt = Optimizer::new(OptimizerSpec::adam(0.01), 3).unwrap();
        opt.step(&mut p, &[5.0, -0.001, 100.0]).unwrap();
        for (v, s) in p.iter().zip([-1.0f32, 1.0, -1.0]) {
            assert!((v - 0.01 * s).abs() < 1e-5, "{v}");
        }
    }

    #[test]
    fn invalid_optimizer_settings_are_rejected() {
        assert!(OptimizerSpec::adam(0.0).validate().is_err());
        assert!(OptimizerSpec::adam(f32::NAN).validate().is_err());
        // An infinite eps (JSON "eps": 1e39 reads as f32 infinity) was accepted, and the link of
        // such an experiment did not read back: JSON writes infinity as null (the round trip the
        // share_link_json fuzz target checks).
        let inf_eps = OptimizerSpec::Adam {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: f32::INFINITY,
            weight_decay: 0.0,
        };
        assert!(inf_eps.validate().unwrap_err().to_string().contains("eps"));
        assert!(
            OptimizerSpec::Sgd {
                lr: 0.1,
                momentum: 0.0,
                weight_decay: 0.0,
                nesterov: true
            }
            .validate()
            .is_err()
        );
        assert!(
            Optimizer::new(OptimizerSpec::sgd(0.1), 3)
                .unwrap()
                .step(&mut [0.0; 2], &[0.0; 2])
                .is_err()
        );
    }
}
