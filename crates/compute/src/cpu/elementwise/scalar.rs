//! Reference implementations: plain obvious loops, the ground truth the
//! SIMD kernels are tested against. Deliberately independent of the
//! `kernels!` machinery in the parent module (no shared code but
//! [`super::adam_bias_corrections`]).

/// `y = if x > 0 { x } else { 0 }` (NaN gives 0, -0.0 gives +0.0).
pub fn relu_forward(y: &mut [f32], x: &[f32]) {
    assert_eq!(y.len(), x.len());
    for (y, &x) in y.iter_mut().zip(x) {
        *y = if x > 0.0 { x } else { 0.0 };
    }
}

/// [`relu_forward`] in place.
pub fn relu_forward_inplace(x: &mut [f32]) {
    for x in x.iter_mut() {
        *x = if *x > 0.0 { *x } else { 0.0 };
    }
}

/// `dx += if y > 0 { dy } else { 0 }`.
pub fn relu_backward(dx: &mut [f32], dy: &[f32], y: &[f32]) {
    assert_eq!(dx.len(), dy.len());
    assert_eq!(dx.len(), y.len());
    for i in 0..dx.len() {
        dx[i] += if y[i] > 0.0 { dy[i] } else { 0.0 };
    }
}

/// `y += x`.
pub fn add_assign(y: &mut [f32], x: &[f32]) {
    assert_eq!(y.len(), x.len());
    for (y, &x) in y.iter_mut().zip(x) {
        *y += x;
    }
}

/// `y += a * x` (multiply, then add: no FMA).
pub fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    assert_eq!(y.len(), x.len());
    for (y, &x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// `y *= a`.
pub fn scale(y: &mut [f32], a: f32) {
    for y in y.iter_mut() {
        *y *= a;
    }
}

/// `y *= x`.
pub fn mul_assign(y: &mut [f32], x: &[f32]) {
    assert_eq!(y.len(), x.len());
    for (y, &x) in y.iter_mut().zip(x) {
        *y *= x;
    }
}

/// `Σ x`, summed in order.
pub fn sum(x: &[f32]) -> f32 {
    let mut s = 0.0;
    for &x in x {
        s += x;
    }
    s
}

/// `Σ a * b`, summed in order (multiply, then add).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let mut s = 0.0;
    for (&a, &b) in a.iter().zip(b) {
        s += a * b;
    }
    s
}

/// `max |x|`, 0 for an empty slice; NaNs are ignored.
pub fn max_abs(x: &[f32]) -> f32 {
    let mut m = 0.0f32;
    for &x in x {
        let a = x.abs();
        if a > m {
            m = a;
        }
    }
    m
}

/// `Σ (x - mean)²`.
pub fn sum_sq_dev(x: &[f32], mean: f32) -> f32 {
    let mut s = 0.0;
    for &x in x {
        let d = x - mean;
        s += d * d;
    }
    s
}

/// `y[c * spatial + i] += bias[c]`; `y.len() == bias.len() * spatial`.
pub fn bias_add_channels(y: &mut [f32], bias: &[f32], spatial: usize) {
    assert_eq!(y.len(), bias.len() * spatial);
    for (c, &b) in bias.iter().enumerate() {
        for i in 0..spatial {
            y[c * spatial + i] += b;
        }
    }
}

/// `y[c * spatial + i] = x[c * spatial + i] * scale[c] + shift[c]`
/// (multiply, then add).
pub fn affine_channels(y: &mut [f32], x: &[f32], scale: &[f32], shift: &[f32], spatial: usize) {
    assert_eq!(scale.len(), shift.len());
    assert_eq!(y.len(), scale.len() * spatial);
    assert_eq!(x.len(), y.len());
    for c in 0..scale.len() {
        for i in 0..spatial {
            let j = c * spatial + i;
            y[j] = x[j] * scale[c] + shift[c];
        }
    }
}

/// PyTorch `SGD` (dampening 0) for one tensor. `velocity` is the momentum
/// buffer (start it at zero; untouched when `momentum == 0`, where
/// `nesterov` is ignored). `weight_decay == 0` skips the decay term.
#[allow(clippy::too_many_arguments)]
pub fn sgd_update(
    param: &mut [f32],
    grad: &[f32],
    velocity: &mut [f32],
    lr: f32,
    momentum: f32,
    weight_decay: f32,
    nesterov: bool,
) {
    assert_eq!(param.len(), grad.len());
    assert_eq!(param.len(), velocity.len());
    for i in 0..param.len() {
        let p = param[i];
        let mut g = grad[i];
        if weight_decay != 0.0 {
            g += weight_decay * p;
        }
        let step = if momentum != 0.0 {
            let v = momentum * velocity[i] + g;
            velocity[i] = v;
            if nesterov { g + momentum * v } else { v }
        } else {
            g
        };
        param[i] = p - lr * step;
    }
}

/// PyTorch `Adam` (L2 `weight_decay` added to the gradient, no amsgrad)
/// for one tensor; `step` is 1-based. Formula (mathematically PyTorch's,
/// not its exact operation order):
/// `g = grad + wd*p; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
/// p -= lr * (m/bc1) / (sqrt(v/bc2) + eps)` with
/// `(bc1, bc2) =` [`super::adam_bias_corrections`].
#[allow(clippy::too_many_arguments)]
pub fn adam_update(
    param: &mut [f32],
    grad: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    step: u32,
    weight_decay: f32,
) {
    assert_eq!(param.len(), grad.len());
    assert_eq!(param.len(), m.len());
    assert_eq!(param.len(), v.len());
    assert!(step >= 1, "Adam step is 1-based");
    let (bc1, bc2) = super::adam_bias_corrections(beta1, beta2, step);
    let (one_minus_b1, one_minus_b2) = (1.0 - beta1, 1.0 - beta2);
    for i in 0..param.len() {
        let p = param[i];
        let mut g = grad[i];
        if weight_decay != 0.0 {
            g += weight_decay * p;
        }
        let mi = beta1 * m[i] + one_minus_b1 * g;
        let vi = beta2 * v[i] + one_minus_b2 * g * g;
        m[i] = mi;
        v[i] = vi;
        let m_hat = mi / bc1;
        let v_hat = vi / bc2;
        param[i] = p - lr * m_hat / (v_hat.sqrt() + eps);
    }
}
