//! Model-level tests: the lecture's parameter tables, shape inference errors, spec JSON, and a
//! finite-difference check of backward through whole graphs (residual, branches, batch-norm).

use super::*;
use crate::ops::Padding;
use crate::ops::testing::{check_gradient_with, random, weighted_sum};

/// Asserts the preset's summary rows are exactly `expected` (name, output shape, params).
pub(super) fn assert_table(name: &str, expected: &[(&str, Vec<usize>, usize)]) {
    let got: Vec<(String, Vec<usize>, usize)> = preset(name)
        .unwrap()
        .summary()
        .unwrap()
        .rows
        .into_iter()
        .map(|r| (r.name, r.output_shape, r.params))
        .collect();
    let expected: Vec<(String, Vec<usize>, usize)> = expected
        .iter()
        .map(|(n, s, p)| (n.to_string(), s.clone(), *p))
        .collect();
    assert_eq!(got, expected);
}

/// The rows both lecture models share: three convolutions, each but the last pooled.
fn trunk() -> Vec<(&'static str, Vec<usize>, usize)> {
    vec![
        ("conv1", vec![32, 62, 62], 320),
        ("pool1", vec![32, 31, 31], 0),
        ("conv2", vec![64, 29, 29], 18_496),
        ("pool2", vec![64, 14, 14], 0),
        ("conv3", vec![128, 12, 12], 73_856),
    ]
}

#[test]
fn cnn_flatten_matches_the_lecture_table_layer_by_layer() {
    let mut expected = trunk();
    expected.extend([
        ("pool3", vec![128, 6, 6], 0),
        ("flatten", vec![4608], 0),
        ("dropout1", vec![4608], 0),
        ("classifier", vec![64], 294_976),
        ("dropout2", vec![64], 0),
        ("output", vec![10], 650),
    ]);
    assert_table("cnn-flatten", &expected);
    assert_eq!(
        preset("cnn-flatten")
            .unwrap()
            .summary()
            .unwrap()
            .total_params,
        388_298
    );
}

#[test]
fn cnn_gap_matches_the_lecture_table_layer_by_layer() {
    let mut expected = trunk();
    expected.extend([
        ("gpooling", vec![128], 0),
        ("dropout1", vec![128], 0),
        ("classifier", vec![64], 8_256),
        ("dropout2", vec![64], 0),
        ("output", vec![10], 650),
    ]);
    assert_table("cnn-gap", &expected);
    let s = preset("cnn-gap").unwrap().summary().unwrap();
    assert_eq!(s.total_params, 101_578);
    assert_eq!(
        Model::new(preset("cnn-gap").unwrap(), 0)
            .unwrap()
            .param_count(),
        101_578
    );
}

#[test]
fn lenet5_has_its_classic_parameter_count_on_28x28() {
    // conv1 6·(25+1)=156, conv2 16·(6·25+1)=2416, fc1 400·120+120=48120, fc2 120·84+84=10164,
    // output 84·10+10=850.
    let s = preset_for("lenet5", 28).unwrap().summary().unwrap();
    assert_eq!(s.total_params, 156 + 2416 + 48_120 + 10_164 + 850);
}

#[test]
fn multiply_adds_are_counted_per_conv_and_dense_layer() {
    let s = preset("cnn-gap").unwrap().summary().unwrap();
    let conv2 = s.rows.iter().find(|r| r.name == "conv2").unwrap();
    assert_eq!(conv2.macs, 64 * 29 * 29 * 32 * 9);
    assert_eq!(
        s.total_macs,
        1_107_072 + 15_501_312 + 10_616_832 + 8_192 + 640
    );
}

fn layers(json: &str) -> Result<Graph> {
    let spec = ModelSpec::from_json(&format!(
        r#"{{"name":"t","input":[1,28,28],"layers":{json}}}"#
    ))?;
    compile(&spec)
}

#[test]
fn impossible_specs_name_the_layer_and_the_problem() {
    let cases = [
        (
            r#"[{"type":"conv2d","name":"big","filters":4,"kernel":29},{"type":"flatten","name":"f"},{"type":"dense","name":"o","units":10}]"#,
            "big",
        ),
        (r#"[{"type":"dense","name":"d","units":10}]"#, "flatten"),
        (
            r#"[{"type":"conv2d","name":"c","filters":4,"kernel":3}]"#,
            "class scores",
        ),
        (
            r#"[{"type":"conv2d","name":"c","filters":6,"kernel":3,"groups":4},{"type":"global_avg_pool","name":"g"}]"#,
            "groups",
        ),
        (
            r#"[{"type":"flatten","name":"x"},{"type":"dense","name":"x","units":10}]"#,
            "same name",
        ),
        (
            r#"[{"type":"dropout","name":"d","rate":1.5},{"type":"flatten","name":"f"},{"type":"dense","name":"o","units":10}]"#,
            "rate",
        ),
        (
            r#"[{"type":"max_pool","name":"p","size":2},{"type":"max_pool","name":"q","size":20},{"type":"flatten","name":"f"},{"type":"dense","name":"o","units":10}]"#,
            "q",
        ),
        (
            r#"[{"type":"conv2d","name":"c","filters":1000000,"kernel":3},{"type":"flatten","name":"f"},{"type":"dense","name":"o","units":10}]"#,
            "filters",
        ),
        (
            r#"[{"type":"flatten","name":"f"},{"type":"dense","name":"o","units":10,"activation":"softmax"},{"type":"dense","name":"p","units":10}]"#,
            "softmax",
        ),
        (
            r#"[{"type":"residual","name":"r","body":[{"type":"conv2d","name":"c","filters":4,"kernel":3}]},{"type":"flatten","name":"f"},{"type":"dense","name":"o","units":10}]"#,
            "projection",
        ),
    ];
    for (json, needle) in cases {
        let err = layers(json).unwrap_err().to_string();
        assert!(err.contains(needle), "{json}: {err}");
    }
    let unknown = ModelSpec::from_json(
        r#"{"name":"t","input":[1,28,28],"layers":[{"type":"warp","name":"w"}]}"#,
    );
    assert!(matches!(unknown, Err(Error::SpecJson(_))));
    let zero = ModelSpec::from_json(
        r#"{"name":"t","input":[0,28,28],"layers":[{"type":"flatten","name":"f"}]}"#,
    )
    .unwrap();
    assert!(compile(&zero).is_err());
    // An input whose size overflows usize is refused, not a panic (found by the parser properties).
    let huge = ModelSpec::from_json(&format!(
        r#"{{"name":"t","input":[{},2,1],"layers":[{{"type":"flatten","name":"f"}}]}}"#,
        usize::MAX
    ))
    .unwrap();
    assert!(compile(&huge).unwrap_err().to_string().contains("16M"));
}

/// A spec whose parameter count passes `usize`: 2^24 input channels, concatenated four times
/// (2^26), then 80 branches each a 65536-filter 255×255 convolution of that (same padding on
/// 1×1): 2^58 parameters a branch. Kept as a fuzz regression too.
fn param_overflow_spec() -> String {
    let relu = (0..4).map(|i| format!(r#"[{{"type":"relu","name":"r{i}"}}]"#));
    let conv = (0..80).map(|i| {
        format!(
            r#"[{{"type":"conv2d","name":"c{i}","filters":65536,"kernel":255,"padding":"same"}}]"#
        )
    });
    format!(
        r#"{{"name":"overflow","input":[16777216,1,1],"layers":[{{"type":"branches","name":"wide","branches":[{}]}},{{"type":"branches","name":"convs","branches":[{}]}},{{"type":"flatten","name":"f"}},{{"type":"dense","name":"o","units":2}}]}}"#,
        relu.collect::<Vec<_>>().join(","),
        conv.collect::<Vec<_>>().join(",")
    )
}

#[test]
fn parameter_counts_past_usize_are_refused_not_an_overflow() {
    // Adding up the parameters overflowed (a panic in debug builds, a wrapped count in release).
    let spec = ModelSpec::from_json(&param_overflow_spec()).unwrap();
    let err = compile(&spec).unwrap_err();
    assert!(err.to_string().contains("parameters is more than"), "{err}");
    assert!(spec.summary().is_err());
}

#[test]
fn a_layer_named_like_a_residual_projection_clashes() {
    // The projection's parameters are `<residual>.projection.weight`: a conv layer called
    // `r.projection` had the same names, and saving the model panicked inside safetensors.
    let err = layers(
        r#"[{"type":"conv2d","name":"r.projection","filters":4,"kernel":3,"padding":"same"},
            {"type":"residual","name":"r","body":[{"type":"conv2d","name":"c","filters":8,"kernel":3,"padding":"same"}],"projection":{"filters":8}},
            {"type":"global_avg_pool","name":"g"},{"type":"dense","name":"o","units":10}]"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("same name"), "{err}");
    assert!(err.to_string().contains("r.projection"), "{err}");
}

#[test]
fn spec_json_round_trips() {
    for name in PRESETS {
        let spec = preset(name).unwrap();
        assert_eq!(ModelSpec::from_json(&spec.to_json()).unwrap(), spec);
    }
}

/// A graph with every kind of block: conv (stride 2, same, groups, 1×1), BN, max-pool, residual
/// with projection, branches + concat, avg-pool, flatten, dense. With `activation` = ReLU the
/// loss has kinks, so the finite-difference check uses `Linear`; ReLU is checked by op tests and
/// by `fused_relu_matches_a_separate_relu_layer`.
fn kitchen_sink(activation: Activation) -> ModelSpec {
    let conv = |name: &str, filters, kernel, stride, padding, groups| LayerSpec::Conv2d {
        name: name.into(),
        filters,
        kernel,
        stride,
        padding,
        padding_mode: crate::ops::pad::PadMode::Zeros,
        groups,
        activation,
        bias: true,
        init: Init::HeUniform,
    };
    ModelSpec {
        name: "sink".into(),
        input: [2, 9, 9],
        layers: vec![
            conv("c1", 4, 3, 1, Padding::Same, 2),
            LayerSpec::BatchNorm {
                name: "bn1".into(),
                eps: 1e-5,
                momentum: 0.1,
            },
            // After batch-norm, not after a ReLU: ReLU zeros would tie in the max and make the
            // loss non-differentiable exactly where the check probes it.
            LayerSpec::MaxPool {
                name: "mp".into(),
                size: 2,
                stride: None,
                padding: Padding::Valid,
            },
            LayerSpec::Residual {
                name: "res".into(),
                body: vec![
                    conv("r1", 6, 3, 2, Padding::Same, 1),
                    conv("r2", 6, 1, 1, Padding::Valid, 1),
                ],
                projection: Some(Projection {
                    filters: 6,
                    stride: 2,
                }),
                shortcut: vec![],
            },
            LayerSpec::Branches {
                name: "inc".into(),
                branches: vec![
                    vec![conv("b1", 3, 1, 1, Padding::Valid, 1)],
                    vec![
                        LayerSpec::AvgPool {
                            name: "ap".into(),
                            size: 3,
                            stride: Some(1),
                            padding: Padding::Same,
                        },
                        conv("b2", 2, 3, 1, Padding::Same, 1),
                    ],
                ],
            },
            LayerSpec::Flatten {
                name: "flat".into(),
            },
            LayerSpec::Dense {
                name: "fc".into(),
                units: 7,
                activation,
                bias: true,
                init: Init::GlorotUniform,
            },
            LayerSpec::Dense {
                name: "out".into(),
                units: 3,
                activation: Activation::Linear,
                bias: true,
                init: Init::GlorotUniform,
            },
        ],
    }
}

#[test]
fn model_backward_matches_finite_difference_through_every_block() {
    let mut model = Model::new(kitchen_sink(Activation::Linear), 5).unwrap();
    let n = 3;
    let mut rng = Rng::new(8);
    let x = random(n * model.input_len(), &mut rng);
    let r = random(n * model.classes(), &mut rng);
    let mut ws = Workspace::new();
    let loss = |m: &mut Model, ws: &mut Workspace| {
        m.forward(ws, &x, n, Mode::Train(&mut Rng::new(1))).unwrap();
        weighted_sum(ws.logits(), &r)
    };
    loss(&mut model, &mut ws);
    model.zero_grad();
    model.backward(&mut ws, &r).unwrap();
    let analytic = model.grads.clone();
    let params = model.params.clone();
    let mut probe = model.clone();
    // A small step keeps max-pool switches out of the difference; the loss is a sum of O(1)
    // terms, so f32 rounding stays well under the tolerance.
    check_gradient_with(
        "model params",
        &params,
        &analytic,
        |p| {
            probe.params.copy_from_slice(p);
            loss(&mut probe, &mut Workspace::new())
        },
        150,
        1e-3,
        2e-2,
    );
}

#[test]
fn model_with_gap_and_dropout_trains_in_train_mode_and_is_deterministic_in_eval() {
    let mut model = Model::new(preset_for("cnn-gap", 28).unwrap(), 1).unwrap();
    let x = random(2 * 784, &mut Rng::new(2));
    let mut ws = Workspace::new();
    model.forward(&mut ws, &x, 2, Mode::Eval).unwrap();
    let a = ws.logits().to_vec();
    model.forward(&mut ws, &x, 2, Mode::Eval).unwrap();
    assert_eq!(a, ws.logits());
    model
        .forward(&mut ws, &x, 2, Mode::Train(&mut Rng::new(3)))
        .unwrap();
    assert_ne!(a, ws.logits(), "dropout is active in training");
    assert!(
        model.backward(&mut ws, &[0.0; 19]).is_err(),
        "dlogits of the wrong size"
    );
}

/// Splits every ReLU activation of a spec into its own `relu` layer (no fusion).
fn unfuse(layers: &[LayerSpec]) -> Vec<LayerSpec> {
    let mut out = Vec::new();
    for l in layers {
        let mut l = l.clone();
        let relu = match &mut l {
            LayerSpec::Conv2d { activation, .. } | LayerSpec::Dense { activation, .. }
                if *activation == Activation::Relu =>
            {
                *activation = Activation::Linear;
                true
            }
            LayerSpec::Residual { body, shortcut, .. } => {
                *body = unfuse(body);
                *shortcut = unfuse(shortcut);
                false
            }
            LayerSpec::Branches { branches, .. } => {
                for b in branches.iter_mut() {
                    *b = unfuse(b);
                }
                false
            }
            _ => false,
        };
        let name = format!("{}_relu", l.name());
        out.push(l);
        if relu {
            out.push(LayerSpec::Relu { name });
        }
    }
    out
}

/// `spec` (3 classes) and the same with each ReLU a layer of its own ([`unfuse`]), from the same
/// parameters, after one training forward and backward of the same `n` random images: `(fused,
/// split)`.
fn fused_and_split(spec: ModelSpec, n: usize) -> (Model, Model) {
    let split_spec = ModelSpec {
        layers: unfuse(&spec.layers),
        ..spec.clone()
    };
    let (mut fused, mut split) = (
        Model::new(spec, 4).unwrap(),
        Model::new(split_spec, 4).unwrap(),
    );
    assert!(split.graph.nodes.len() > fused.graph.nodes.len());
    assert_eq!(fused.params, split.params);
    let x = random(n * fused.input_len(), &mut Rng::new(6));
    let r = random(n * 3, &mut Rng::new(7));
    for m in [&mut fused, &mut split] {
        let mut ws = Workspace::new();
        m.forward(&mut ws, &x, n, Mode::Train(&mut Rng::new(1)))
            .unwrap();
        m.zero_grad();
        m.backward(&mut ws, &r).unwrap();
    }
    (fused, split)
}

#[test]
fn fused_relu_matches_a_separate_relu_layer() {
    let (fused, split) = fused_and_split(kitchen_sink(Activation::Relu), 2);
    assert_eq!(fused.grads, split.grads);
}

/// A thin first layer under a fused ReLU and a max pool: the CPU backend sums its weight
/// gradient from the pool's windows and never writes its output gradient
/// (`conv2d_backward_weight_routed`); with the ReLU as a layer of its own the same model takes
/// the dense path (the pool's backward, the mask, the thin kernel). The gradients agree, and so
/// do the ones of every layer after it.
#[test]
fn a_routed_first_layer_matches_the_dense_path() {
    let conv = |name: &str, filters, activation| LayerSpec::Conv2d {
        name: name.into(),
        filters,
        kernel: 3,
        stride: 1,
        padding: Padding::Valid,
        padding_mode: crate::ops::pad::PadMode::Zeros,
        groups: 1,
        activation,
        bias: true,
        init: Init::HeUniform,
    };
    let pool = |name: &str| LayerSpec::MaxPool {
        name: name.into(),
        size: 2,
        stride: None,
        padding: Padding::Valid,
    };
    let fused_spec = ModelSpec {
        name: "routed".into(),
        input: [1, 14, 13],
        layers: vec![
            conv("c1", 5, Activation::Relu),
            pool("p1"),
            conv("c2", 4, Activation::Relu),
            LayerSpec::Flatten {
                name: "flat".into(),
            },
            LayerSpec::Dense {
                name: "out".into(),
                units: 3,
                activation: Activation::Linear,
                bias: true,
                init: Init::GlorotUniform,
            },
        ],
    };
    let (fused, split) = fused_and_split(fused_spec, 3);
    assert!(fused.grads.iter().any(|g| *g != 0.0));
    for (i, (a, b)) in fused.grads.iter().zip(&split.grads).enumerate() {
        assert!(
            (a - b).abs() <= 1e-5 * b.abs().max(1.0),
            "gradient {i}: {a} vs {b}"
        );
    }
    // c1's sums are the routed kernel's (f64, window by window), not the dense one's.
    assert_ne!(fused.grads, split.grads, "the first layer did not route");
}
