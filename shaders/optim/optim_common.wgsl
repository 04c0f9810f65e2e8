// Shared by sgd_update and adam_update, one thread per parameter of the flat buffer: the
// gradients and the parameters (bindings 0 and 1; each kernel binds its state and its uniform P
// after them, P starting with len and holding weight_decay), and the gradient with L2 weight
// decay, PyTorch's rule for both optimizers.

@group(0) @binding(0) var<storage, read> grads: array<f32>;
@group(0) @binding(1) var<storage, read_write> params: array<f32>;

fn elements() -> u32 {
    return P.len;
}

// The gradient of parameter i, whose value is p, with the weight decay added.
fn decayed_grad(i: u32, p: f32) -> f32 {
    var g = grads[i];
    if (P.weight_decay != 0.0) {
        g += P.weight_decay * p;
    }
    return g;
}
