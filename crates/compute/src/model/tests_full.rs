//! The full-size presets: torchvision's parameter counts exactly, its parameter names and
//! shapes, `classes` changing only the last layer, and a training step on the CPU at small
//! inputs; finite differences through the ops they added (explicit padding, ReLU6, adaptive
//! average pooling, a conv + batch-norm shortcut, an identity branch).

use super::*;
use crate::ops::testing::{check_gradient_with, random, weighted_sum};
use crate::rng::Rng;

const IMAGENET: [usize; 3] = [3, 224, 224];

/// `sum(p.numel() for p in torchvision.models.<name>().parameters())`, as torchvision's model
/// documentation lists them.
const TORCHVISION_PARAMS: [(&str, usize); 7] = [
    ("alexnet", 61_100_840),
    ("vgg11", 132_863_336),
    ("vgg16", 138_357_544),
    ("resnet18", 11_689_512),
    ("resnet50", 25_557_032),
    ("mobilenet_v2", 3_504_872),
    ("densenet121", 7_978_856),
];

#[test]
fn every_full_size_preset_has_torchvisions_parameter_count() {
    assert_eq!(TORCHVISION_PARAMS.map(|(n, _)| n), FULL_SIZE);
    for (name, params) in TORCHVISION_PARAMS {
        let s = full_size(name, IMAGENET, 1000).unwrap().summary().unwrap();
        assert_eq!(s.trainable_params, params, "{name}");
        // 10 classes changes only the last layer: (1000 − 10) · (inputs + 1) fewer.
        let g = compile(&full_size(name, IMAGENET, 1000).unwrap()).unwrap();
        let last = &g.params[g.params.len() - 2];
        let inputs = last.shape[1];
        let ten = compile(&full_size(name, IMAGENET, 10).unwrap()).unwrap();
        assert_eq!(ten.param_len, params - 990 * (inputs + 1), "{name}");
        assert_eq!(ten.classes, 10);
        assert_eq!(g.params.len(), ten.params.len());
    }
}

/// State-dict entries: (name, shape).
type Entries = &'static [(&'static str, &'static [usize])];

/// A few of each network's torchvision state-dict entries with their shapes, and the number of
/// tensors (parameters and batch-norm running statistics, without `num_batches_tracked`).
#[test]
fn full_size_presets_use_torchvisions_names_and_shapes() {
    let cases: [(&str, Entries, usize); 7] = [
        (
            "alexnet",
            &[
                ("features.0.weight", &[64, 3, 11, 11]),
                ("features.10.bias", &[256]),
                ("classifier.1.weight", &[4096, 9216]),
                ("classifier.6.weight", &[1000, 4096]),
            ],
            16,
        ),
        (
            "vgg16",
            &[
                ("features.28.weight", &[512, 512, 3, 3]),
                ("classifier.0.weight", &[4096, 25088]),
                ("classifier.3.bias", &[4096]),
            ],
            32,
        ),
        ("vgg11", &[("features.18.weight", &[512, 512, 3, 3])], 22),
        (
            "resnet18",
            &[
                ("conv1.weight", &[64, 3, 7, 7]),
                ("bn1.running_var", &[64]),
                ("layer1.1.conv2.weight", &[64, 64, 3, 3]),
                ("layer2.0.downsample.0.weight", &[128, 64, 1, 1]),
                ("layer4.0.downsample.1.running_mean", &[512]),
                ("fc.weight", &[1000, 512]),
            ],
            // 20 convs, 20 BNs × 4, fc weight and bias
            20 + 80 + 2,
        ),
        (
            "resnet50",
            &[
                ("layer1.0.downsample.0.weight", &[256, 64, 1, 1]),
                ("layer3.5.conv3.weight", &[1024, 256, 1, 1]),
                ("layer4.2.bn3.weight", &[2048]),
                ("fc.weight", &[1000, 2048]),
            ],
            53 + 53 * 4 + 2,
        ),
        (
            "mobilenet_v2",
            &[
                ("features.0.0.weight", &[32, 3, 3, 3]),
                ("features.1.conv.0.0.weight", &[32, 1, 3, 3]),
                ("features.1.conv.1.weight", &[16, 32, 1, 1]),
                ("features.1.conv.2.running_mean", &[16]),
                ("features.2.conv.1.0.weight", &[96, 1, 3, 3]),
                ("features.17.conv.2.weight", &[320, 960, 1, 1]),
                ("features.18.0.weight", &[1280, 320, 1, 1]),
                ("classifier.1.weight", &[1000, 1280]),
            ],
            52 + 52 * 4 + 2,
        ),
        (
            "densenet121",
            &[
                ("features.conv0.weight", &[64, 3, 7, 7]),
                ("features.denseblock1.denselayer1.norm1.weight", &[64]),
                (
                    "features.denseblock1.denselayer6.conv1.weight",
                    &[128, 224, 1, 1],
                ),
                (
                    "features.denseblock4.denselayer16.conv2.weight",
                    &[32, 128, 3, 3],
                ),
                ("features.transition3.conv.weight", &[512, 1024, 1, 1]),
                ("features.norm5.running_var", &[1024]),
                ("classifier.weight", &[1000, 1024]),
            ],
            120 + 121 * 4 + 2,
        ),
    ];
    for (name, entries, tensors) in cases {
        let g = compile(&full_size(name, IMAGENET, 1000).unwrap()).unwrap();
        let all: Vec<&ParamInfo> = g.params.iter().chain(&g.buffers).collect();
        for (key, shape) in entries {
            let t = all
                .iter()
                .find(|p| p.name == *key)
                .unwrap_or_else(|| panic!("{name} has no {key}"));
            let got = if t.shape.len() == 1 {
                vec![t.len]
            } else {
                t.shape.clone()
            };
            assert_eq!(got, *shape, "{name} {key}");
        }
        assert_eq!(all.len(), tensors, "{name}: tensors");
    }
}

#[test]
fn full_size_presets_reach_torchvisions_feature_maps_at_224() {
    // (name, the layer before the pooling head, its output)
    let cases = [
        ("alexnet", "features.12", vec![256, 6, 6]),
        ("vgg16", "features.30", vec![512, 7, 7]),
        ("resnet18", "layer4.1.relu", vec![512, 7, 7]),
        ("resnet50", "layer4.2.relu", vec![2048, 7, 7]),
        ("mobilenet_v2", "features.18.2", vec![1280, 7, 7]),
        ("densenet121", "features.relu5", vec![1024, 7, 7]),
    ];
    for (name, layer, shape) in cases {
        let s = full_size(name, IMAGENET, 1000).unwrap().summary().unwrap();
        let row = s
            .rows
            .iter()
            .find(|r| r.name == layer)
            .unwrap_or_else(|| panic!("{name}: no row {layer}"));
        assert_eq!(row.output_shape, shape, "{name} {layer}");
    }
    // ResNet-18 at 224: 1.81 G multiply-adds (torchvision lists 1.81 GFLOPS).
    let s = full_size("resnet18", IMAGENET, 1000)
        .unwrap()
        .summary()
        .unwrap();
    assert_eq!(s.total_macs / 10_000_000, 181, "{}", s.total_macs);
}

/// Small enough to train a step on the CPU in a test: each network's smallest comfortable input.
pub(crate) fn small_input(name: &str) -> [usize; 3] {
    match name {
        // Three 3×3 / 2 pools after an 11×11 / 4 convolution need 63 cells.
        "alexnet" => [3, 64, 64],
        _ => [3, 32, 32],
    }
}

#[test]
fn every_full_size_preset_trains_a_step_on_the_cpu_at_a_small_input() {
    for name in FULL_SIZE {
        let spec = full_size(name, small_input(name), 10).unwrap();
        let mut m = Model::new(spec, 1).unwrap();
        let n = 2;
        let x = random(n * m.input_len(), &mut Rng::new(2));
        let mut ws = Workspace::new();
        m.forward(&mut ws, &x, n, Mode::Train(&mut Rng::new(3)))
            .unwrap();
        assert_eq!(ws.logits().len(), n * 10, "{name}");
        assert!(ws.logits().iter().all(|v| v.is_finite()), "{name}");
        m.zero_grad();
        m.backward(&mut ws, &[0.1; 20]).unwrap();
        // The first layer's weights get a gradient: it flows through the whole network.
        let first = &m.graph.params[0];
        assert!(
            m.grads[first.range()].iter().any(|g| *g != 0.0),
            "{name}: no gradient reaches {}",
            first.name
        );
        assert!(m.grads.iter().all(|g| g.is_finite()), "{name}");
    }
}

/// Every op the full-size presets added, small and linear enough for finite differences:
/// explicit padding on a strided conv and a max pool, ReLU6, a conv + batch-norm shortcut, an
/// identity branch concatenated with a conv (DenseNet), adaptive average pooling to a larger
/// and to an uneven size.
fn torch_ops() -> ModelSpec {
    ModelSpec::from_json(
        r#"{"name":"torch-ops","input":[2,9,9],"layers":[
            {"type":"conv2d","name":"c1","filters":4,"kernel":3,"stride":2,"padding":1,"bias":false},
            {"type":"relu6","name":"r6"},
            {"type":"max_pool","name":"mp","size":3,"stride":1,"padding":1},
            {"type":"residual","name":"res","body":[
                {"type":"conv2d","name":"res.conv1","filters":6,"kernel":3,"stride":2,"padding":1}],
             "shortcut":[
                {"type":"conv2d","name":"res.downsample.0","filters":6,"kernel":1,"stride":2,"bias":false},
                {"type":"batch_norm","name":"res.downsample.1"}]},
            {"type":"branches","name":"dl","branches":[[],[
                {"type":"conv2d","name":"dl.conv","filters":3,"kernel":3,"padding":1}]]},
            {"type":"adaptive_avg_pool","name":"ap","size":[5,4]},
            {"type":"adaptive_avg_pool","name":"ap2","size":[3,2]},
            {"type":"flatten","name":"f"},
            {"type":"dense","name":"out","units":3}]}"#,
    )
    .unwrap()
}

#[test]
fn backward_matches_finite_difference_through_the_torchvision_ops() {
    let spec = torch_ops();
    let s = spec.summary().unwrap();
    let shape = |n: &str| {
        s.rows
            .iter()
            .find(|r| r.name == n)
            .unwrap()
            .output_shape
            .clone()
    };
    assert_eq!(shape("c1"), [4, 5, 5]);
    assert_eq!(shape("mp"), [4, 5, 5]);
    assert_eq!(shape("res"), [6, 3, 3]);
    assert_eq!(shape("dl"), [9, 3, 3]);
    assert_eq!(shape("ap"), [9, 5, 4]);
    assert_eq!(shape("ap2"), [9, 3, 2]);
    let mut model = Model::new(spec, 6).unwrap();
    // Scale the first conv so ReLU6 clips above 6 too.
    let c1 = model.graph.params[0].range();
    model.params[c1].iter_mut().for_each(|w| *w *= 12.0);
    let n = 2;
    let x = random(n * model.input_len(), &mut Rng::new(8));
    let r = random(n * 3, &mut Rng::new(9));
    let loss = |m: &mut Model| {
        let mut ws = Workspace::new();
        m.forward(&mut ws, &x, n, Mode::Train(&mut Rng::new(1)))
            .unwrap();
        weighted_sum(ws.logits(), &r)
    };
    let mut ws = Workspace::new();
    model
        .forward(&mut ws, &x, n, Mode::Train(&mut Rng::new(1)))
        .unwrap();
    let clipped = ws.value(2).iter().filter(|&&v| v == 6.0).count();
    assert!(
        clipped > 0,
        "ReLU6 never clipped: the test would not cover it"
    );
    model.zero_grad();
    model.backward(&mut ws, &r).unwrap();
    let analytic = model.grads.clone();
    let params = model.params.clone();
    let mut probe = model.clone();
    check_gradient_with(
        "torch ops params",
        &params,
        &analytic,
        |p| {
            probe.params.copy_from_slice(p);
            loss(&mut probe)
        },
        200,
        1e-3,
        3e-2,
    );
}

#[test]
fn impossible_torchvision_layers_name_the_layer() {
    let cases = [
        // A border as wide as the kernel, and one that no input fits.
        (
            r#"{"type":"conv2d","name":"wide","filters":2,"kernel":3,"padding":3}"#,
            "wide",
        ),
        (
            r#"{"type":"max_pool","name":"mp","size":2,"padding":2}"#,
            "mp",
        ),
        (
            r#"{"type":"adaptive_avg_pool","name":"ap","size":[0,3]}"#,
            "ap",
        ),
        (
            r#"{"type":"branches","name":"empty","branches":[[],[]]}"#,
            "empty",
        ),
        (
            r#"{"type":"residual","name":"both","body":[{"type":"relu","name":"r"}],"projection":{"filters":2},"shortcut":[{"type":"relu","name":"s"}]}"#,
            "both",
        ),
    ];
    for (layer, needle) in cases {
        let spec = ModelSpec::from_json(&format!(
            r#"{{"name":"t","input":[2,4,4],"layers":[{layer},{{"type":"flatten","name":"f"}},{{"type":"dense","name":"o","units":3}}]}}"#
        ))
        .unwrap();
        let err = compile(&spec).unwrap_err().to_string();
        assert!(err.contains(needle), "{layer}: {err}");
    }
    assert!(full_size("resnet19", IMAGENET, 10).is_err());
    // AlexNet's pools do not fit a 32×32 input: refused, not a panic.
    let err = compile(&full_size("alexnet", [3, 32, 32], 10).unwrap()).unwrap_err();
    assert!(err.to_string().contains("features."), "{err}");
}
