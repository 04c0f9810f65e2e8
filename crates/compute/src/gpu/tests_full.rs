//! The full-size presets on the GPU: one training forward and backward of each (small inputs,
//! batch 4) gives the CPU's logits and every parameter's gradient, through explicit padding,
//! ReLU6, adaptive pooling, conv + batch-norm shortcuts and DenseNet's identity branches.

use std::sync::Arc;

use super::model::GpuModel;
use super::testing::{down, gpu_test};
use super::{GpuContext, GpuTrainer};
use crate::model::graph::NodeOp;
use crate::model::{LayerSpec, Mode, Model, ModelSpec, Workspace, full_size};
use crate::ops::testing::random;
use crate::optim::OptimizerSpec;
use crate::rng::Rng;
use crate::train::{TrainSpec, Trainer};

/// `spec` without dropout (each backend draws its own masks; dropout has its own tests).
fn without_dropout(mut spec: ModelSpec) -> ModelSpec {
    fn strip(layers: &mut [LayerSpec]) {
        for l in layers {
            match l {
                LayerSpec::Dropout { rate, .. } => *rate = 0.0,
                LayerSpec::Residual { body, shortcut, .. } => {
                    strip(body);
                    strip(shortcut);
                }
                LayerSpec::Branches { branches, .. } => branches.iter_mut().for_each(|b| strip(b)),
                _ => {}
            }
        }
    }
    strip(&mut spec.layers);
    spec
}

/// The largest magnitude in `v`.
fn largest(v: &[f32]) -> f32 {
    v.iter().fold(0.0f32, |m, x| m.max(x.abs()))
}

/// Where |gpu − cpu| is largest (a NaN counts as the largest), and that difference.
fn worst(gpu: &[f32], cpu: &[f32]) -> (usize, f32) {
    gpu.iter()
        .zip(cpu)
        .map(|(g, c)| (g - c).abs())
        .enumerate()
        .fold((0, 0.0f32), |(bi, be), (i, e)| {
            if e.is_nan() || e > be {
                (i, e)
            } else {
                (bi, be)
            }
        })
}

/// max |gpu − cpu| ≤ max(tol · max |cpu|, floor) over one tensor (gradients of deep networks are
/// summed in different orders on the two backends; a tensor-wide scale keeps tiny entries from
/// failing).
#[track_caller]
fn assert_tensor_close(what: &str, gpu: &[f32], cpu: &[f32], tol: f32, floor: f32) {
    assert_eq!(gpu.len(), cpu.len(), "{what}: lengths");
    let scale = largest(cpu).max(1e-12);
    let (i, err) = worst(gpu, cpu);
    assert!(
        err <= (tol * scale).max(floor),
        "{what}: gpu {} vs cpu {} at {i} (error {err}, largest |cpu| {scale}, floor {floor})",
        gpu[i],
        cpu[i]
    );
}

/// One training forward (batch statistics) and backward of `spec` at batch `n` on both
/// backends, from the same weights, input and logits gradient.
async fn agrees(ctx: &GpuContext, spec: ModelSpec, n: usize) {
    let name = spec.name.clone();
    let mut model = Model::new(without_dropout(spec), 7).unwrap();
    let classes = model.graph.classes;
    let x = random(n * model.input_len(), &mut Rng::new(1));
    let seeds = random(n * classes, &mut Rng::new(2));
    let mut gpu = GpuModel::new(ctx, &model, n, OptimizerSpec::adam(1e-3))
        .unwrap_or_else(|e| panic!("{name} on the GPU: {e}"));

    let mut ws = Workspace::new();
    model
        .forward(&mut ws, &x, n, Mode::Train(&mut Rng::new(3)))
        .unwrap();
    let logits = ws.logits().to_vec();
    model.zero_grad();
    model.backward(&mut ws, &seeds).unwrap();

    // Fresh buffers are zero, so one backward needs no clearing; the writes land before the pass.
    let output = gpu.graph.output;
    gpu.plan(ctx, n).unwrap();
    ctx.queue
        .write_buffer(&gpu.act(0).buf, 0, bytemuck::cast_slice(&x));
    ctx.queue
        .write_buffer(&gpu.dact(output).buf, 0, bytemuck::cast_slice(&seeds));
    let plan = gpu.plan(ctx, n).unwrap();
    let passes: Vec<_> = plan.forward_train.iter().chain(&plan.backward).collect();
    ctx.submit(&passes).unwrap();

    let debug = std::env::var("CONVPLAY_DEBUG_GRADS").is_ok();
    let got = down(ctx, gpu.act(output)).await;
    assert_tensor_close(
        &format!("{name} logits"),
        &got[..n * classes],
        &logits,
        1e-3,
        0.0,
    );
    let grads = down(ctx, &gpu.grads).await;

    // Where a ReLU's input sits at its kink, rounding can put an element on opposite sides on
    // the two backends: that element passes gradient on one and not the other. Such flips are
    // legitimate, and change every gradient computed after them in backward (the parameters of
    // that node and all before it). Count them per node.
    let mut last_flip = None;
    let mut flips_total = 0;
    for (k, node) in model.graph.nodes.iter().enumerate() {
        let clipped = match node.op {
            NodeOp::Relu | NodeOp::Relu6 => true,
            NodeOp::Conv2d { relu, .. } | NodeOp::Dense { relu, .. } => relu,
            _ => false,
        };
        if !clipped {
            continue;
        }
        let cpu = ws.value(node.output);
        let gpu_y = down(ctx, gpu.act(node.output)).await;
        let side = |v: f32| (v > 0.0, v < 6.0);
        let flips = cpu
            .iter()
            .zip(&gpu_y)
            .filter(|(c, g)| {
                let (a, b) = (side(**c), side(**g));
                if matches!(node.op, NodeOp::Relu6) {
                    a != b
                } else {
                    a.0 != b.0
                }
            })
            .count();
        if flips > 0 {
            last_flip = Some(k);
            flips_total += flips;
            if debug {
                eprintln!(
                    "{name} {}: {flips} of {} elements on the other side of the kink",
                    node.layer,
                    cpu.len()
                );
            }
        }
    }
    let values: usize = model
        .graph
        .nodes
        .iter()
        .map(|nd| n * model.graph.value_len(nd.output))
        .sum();
    assert!(
        flips_total * 10_000 <= values,
        "{name}: {flips_total} ReLU elements differ in sign between the backends (of {values})"
    );
    let global = largest(&model.grads);
    // The node each parameter belongs to.
    let mut owner = vec![0; model.graph.params.len()];
    for (k, node) in model.graph.nodes.iter().enumerate() {
        let ids: Vec<usize> = match &node.op {
            NodeOp::Conv2d { weight, bias, .. } | NodeOp::Dense { weight, bias, .. } => {
                std::iter::once(*weight).chain(*bias).collect()
            }
            NodeOp::BatchNorm { params, .. } => vec![params.gamma, params.beta],
            _ => vec![],
        };
        ids.into_iter().for_each(|p| owner[p] = k);
    }
    if debug {
        for p in &model.graph.params {
            let (g, c) = (&grads[p.range()], &model.grads[p.range()]);
            let (scale, (_, err)) = (largest(c).max(1e-12), worst(g, c));
            eprintln!(
                "{name} {} {:.2e} (largest {scale:.2e}; {:.2e} of the network's largest)",
                p.name,
                err / scale,
                err / global
            );
        }
    }
    for (id, p) in model.graph.params.iter().enumerate() {
        // After the last flip (in forward order) the two backwards see identical masks: 0.2%
        // of the tensor's largest entry. At or before it, one element's gradient apart, which a
        // batch norm spreads over its channel and the weight gradient of the convolution before
        // it over a whole row (DenseNet-121's conv1 of denselayer4: 10% of its largest entry from
        // one flipped element of 131,072): 25%, which still catches a wrong pass (a sign, a
        // missing term, a transposition: off by its whole size). The same ops are checked at
        // 0.2% after the flips and by the primitive tests. Either way, an error
        // below 2·10⁻⁴ of the network's largest gradient passes: a batch norm's β and γ
        // gradients can be sums that cancel to almost nothing (MobileNet's projection BNs feed
        // another BN, which removes the mean of their gradient: their β gradients are rounding
        // noise around 0 on both backends).
        let tol = if last_flip.is_some_and(|f| owner[id] <= f) {
            0.25
        } else {
            2e-3
        };
        assert_tensor_close(
            &format!("{name} gradient of {}", p.name),
            &grads[p.range()],
            &model.grads[p.range()],
            tol,
            2e-4 * global,
        );
    }
    let running = down(ctx, &gpu.running).await;
    assert_tensor_close(
        &format!("{name} running statistics"),
        &running,
        &model.buffers,
        1e-3,
        0.0,
    );
}

/// Each preset at 3×64×64 (AlexNet's three 3×3 / 2 pools after its 11×11 / 4 convolution need
/// 63 cells), 10 classes, batch 4.
async fn presets_agree(ctx: &GpuContext, names: &[&str]) {
    for &name in names {
        agrees(ctx, full_size(name, [3, 64, 64], 10).unwrap(), 4).await;
    }
}

/// The residual, depthwise and dense networks (3.5M to 25M parameters). Native only: the ops
/// themselves are checked in the browser by the primitive tests.
#[cfg(not(target_arch = "wasm32"))]
async fn residual_depthwise_dense_agree(ctx: &GpuContext) {
    presets_agree(
        ctx,
        &["resnet18", "mobilenet_v2", "densenet121", "resnet50"],
    )
    .await;
}
// Found with it: on lavapipe, ResNet-18 at 3×64×64, batch 4 agrees to 1e-5 in every gradient
// from the fc back to layer1.1.bn1's γ, while layer1.1.bn1's β was 2% off: exactly one of the
// 65,536 elements of layer1.1.relu1 sits at the kink, on opposite sides on the two backends. Hence
// the flip count above.
#[cfg(not(target_arch = "wasm32"))]
gpu_test!(
    full_size_resnets_mobilenet_densenet_train_on_the_gpu_as_on_the_cpu,
    residual_depthwise_dense_agree
);

/// AlexNet and the VGGs: 57M to 128M parameters in one flat buffer (228 to 513 MB). On an
/// adapter whose storage bindings hold that, they must agree with the CPU; on one that does not
/// (lavapipe and WebGPU's default: 128 MiB), they are refused before any work, saying that no
/// batch helps and naming the CPU.
#[cfg(not(target_arch = "wasm32"))]
async fn alexnet_vgg_agree_or_are_refused(ctx: &GpuContext) {
    for name in ["alexnet", "vgg11", "vgg16"] {
        let spec = full_size(name, [3, 64, 64], 10).unwrap();
        let model = Model::new(spec.clone(), 7).unwrap();
        match GpuModel::new(ctx, &model, 4, OptimizerSpec::adam(1e-3)) {
            Ok(_) => agrees(ctx, spec, 4).await,
            Err(e) => {
                let msg = e.to_string();
                let max = ctx
                    .limits
                    .max_buffer_size
                    .min(ctx.limits.max_storage_buffer_binding_size);
                assert!(
                    (model.graph.param_len as u64 * 4) > max
                        && msg.contains("whatever the batch")
                        && msg.contains("--backend cpu"),
                    "{name}: {msg}"
                );
            }
        }
    }
}
#[cfg(not(target_arch = "wasm32"))]
gpu_test!(
    alexnet_and_vgg_train_on_the_gpu_as_on_the_cpu_or_are_refused,
    alexnet_vgg_agree_or_are_refused
);

/// `steps` seeded steps of `name` (3×`side`×`side`, 10 classes, batch 4) on image batches, on the
/// CPU and on the GPU through `train_on`: the same losses. Dropout included (both draw the same
/// keys), so the classifier heads are covered as trained.
async fn trains_on_images_as_on_cpu(ctx: &Arc<GpuContext>, name: &str, side: usize, steps: usize) {
    let spec = full_size(name, [3, side, side], 10).unwrap();
    // SGD: Adam's first steps are lr·sign(g), which turns rounding noise in a gradient that is
    // ~0 (a batch norm's β before another batch norm) into full steps of either sign.
    let train = TrainSpec {
        batch: 4,
        seed: 5,
        optimizer: crate::optim::OptimizerSpec::Sgd {
            lr: 1e-3,
            momentum: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        },
        ..TrainSpec::default()
    };
    let model = Model::new(spec, 5).unwrap();
    let mut cpu = Trainer::for_images(model.clone(), train.clone()).unwrap();
    let mut gpu = GpuTrainer::for_images(ctx.clone(), model, train)
        .await
        .unwrap_or_else(|e| panic!("{name} on the GPU: {e}"));
    let mut rng = Rng::new(9);
    for step in 0..steps {
        let x = random(4 * cpu.model.input_len(), &mut rng);
        let labels: Vec<u16> = (0..4).map(|i| ((step * 4 + i) % 10) as u16).collect();
        let c = cpu.train_on(&x, &labels).unwrap();
        gpu.train_on(&x, &labels).unwrap();
        let g = gpu.read_metrics().await.unwrap()[0];
        // The first step's loss is the forward's: 1e-4. Later ones follow updates through
        // batch norms over 16 values per channel (batch 4, 2×2 maps at the end), where a channel
        // with almost no variance multiplies a rounding difference by up to 1/√ε ≈ 316: 1%
        // (MobileNet v2 here: 0.2%; ResNet-18: 2·10⁻⁶). The gradients themselves are compared
        // element by element in the test above.
        let tol = if step == 0 { 1e-4 } else { 1e-2 };
        assert!(
            (c.loss - g.loss).abs() <= tol * c.loss.abs().max(1.0),
            "{name} step {}: cpu loss {} gpu loss {}",
            step + 1,
            c.loss,
            g.loss
        );
    }
}

/// Three steps of the smaller full-size networks on images. Native only (lavapipe).
#[cfg(not(target_arch = "wasm32"))]
async fn image_steps_agree(ctx: &Arc<GpuContext>) {
    // MobileNet v2 at 128×128: at 64×64 its last maps are 2×2, and with batch 4 its batch
    // norms there normalise 16 values per channel, some with almost no variance (its largest
    // gradient is near 10⁴): training itself is chaotic, and CPU and GPU part by 3% within three
    // steps. ResNet-50's first SGD steps at this scale raise its loss from 2.3 to 3.3 (large
    // gradients through 16 blocks without zero-initialised residual norms), and the two
    // backends part by 1–10% by the third step, even at 128×128: one step (its forward and
    // loss) here; its gradients are compared element by element in the test above.
    for (name, side, steps) in [
        ("resnet18", 64, 3),
        ("mobilenet_v2", 128, 3),
        ("densenet121", 64, 3),
        ("resnet50", 64, 1),
    ] {
        trains_on_images_as_on_cpu(ctx, name, side, steps).await;
    }
}
#[cfg(not(target_arch = "wasm32"))]
gpu_test!(
    full_size_presets_train_on_images_on_the_gpu_as_on_the_cpu,
    image_steps_agree
);
