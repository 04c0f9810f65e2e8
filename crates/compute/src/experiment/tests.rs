use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::link::{WireExperiment, WireModel};
use super::*;
use crate::backend::now;
use crate::data::toy_dataset;
use crate::data::{CanvasPlacement, Dataset};
use crate::model::LayerSpec;
use crate::train::Trainer;
use crate::train::evaluate;

/// Two models on the 28×28 canvas, 36 training images × 2 epochs, 30 test images.
pub(crate) fn small() -> Experiment {
    let models = ["cnn-flatten", "cnn-gap"]
        .iter()
        .map(|n| preset_for(n, 28).unwrap())
        .collect();
    Experiment {
        models,
        data: DataSpec {
            dataset: DatasetKind::Mnist,
            test_limit: Some(30),
            shift_seed: 5,
        },
        train: TrainSpec {
            epochs: 2,
            batch: 8,
            limit: Some(36),
            canvas: 28,
            seed: 11,
            ..TrainSpec::default()
        },
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[test]
fn default_experiment_is_valid_and_round_trips_compactly() {
    let e = Experiment::default();
    e.validate().unwrap();
    let f = e.to_fragment();
    assert!(f.starts_with("e=1."), "{f}");
    // Presets travel as names: the whole default experiment fits in a short link.
    assert!(f.len() < 300, "{} chars: {f}", f.len());
    assert_eq!(Experiment::from_link(&f).unwrap(), e);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[test]
fn reads_urls_fragments_and_bare_parameters() {
    let e = small();
    let f = e.to_fragment();
    for link in [
        f.clone(),
        format!("#{f}"),
        format!("http://127.0.0.1:8080/#{f}"),
        format!("https://example.org/convplay/index.html?x=1#a=2&{f}&b=3"),
        format!("  {f}\n"),
    ] {
        assert_eq!(Experiment::from_link(&link).unwrap(), e, "{link}");
    }
    assert!(e.cli_command().starts_with("convplay run --link '#e=1."));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[test]
fn an_edited_model_travels_as_its_spec() {
    let mut e = Experiment::default();
    if let LayerSpec::Conv2d { filters, .. } = &mut e.models[1].layers[0] {
        *filters = 48;
    } else {
        panic!("cnn-gap starts with a conv");
    }
    let back = Experiment::from_link(&e.to_fragment()).unwrap();
    assert_eq!(back, e);
    assert_ne!(back.models[1], preset_for("cnn-gap", 64).unwrap());
}

fn packed(json: &str) -> String {
    let z = miniz_oxide::deflate::compress_to_vec(json.as_bytes(), 6);
    format!("e=1.{}", URL_SAFE_NO_PAD.encode(z))
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[test]
fn bad_links_say_what_is_wrong() {
    let err = |s: &str| Experiment::from_link(s).unwrap_err();
    assert_eq!(err(""), LinkError::Missing);
    assert_eq!(err("http://127.0.0.1:8080/#x=1"), LinkError::Missing);
    assert!(matches!(err("#e=abc.xyz"), LinkError::BadVersion(_)));
    assert_eq!(err("#e=7.AAAA"), LinkError::UnsupportedVersion(7));
    assert!(matches!(err("#e=1"), LinkError::Damaged(_)));
    assert!(matches!(err("#e=1.***"), LinkError::Damaged(_)));
    assert!(matches!(err("#e=1.AAAAAAAA"), LinkError::Damaged(_)));
    assert!(matches!(
        err(&"#e=1.".repeat(20_000)),
        LinkError::TooLong(_)
    ));
    // Valid compression, wrong contents.
    assert!(matches!(err(&packed("[1,2,3]")), LinkError::Invalid(_)));
    let mut json = serde_json::to_value(WireExperiment {
        models: vec![WireModel::Preset("cnn-gap".into())],
        data: DataSpec::default(),
        train: TrainSpec::default(),
    })
    .unwrap();
    json["models"][0] = "no-such-net".into();
    let e = err(&packed(&json.to_string()));
    assert!(
        e.to_string().contains("unknown preset \"no-such-net\""),
        "{e}"
    );
    // A 64×64 model on a 28×28 canvas.
    json["models"][0] = "cnn-gap".into();
    json["train"]["canvas"] = 28.into();
    json["models"][0] = serde_json::to_value(preset_for("cnn-gap", 64).unwrap()).unwrap();
    let e = err(&packed(&json.to_string()));
    assert!(e.to_string().contains("canvas is 28×28"), "{e}");
    json["models"] = serde_json::json!([]);
    let e = err(&packed(&json.to_string()));
    assert!(e.to_string().contains("1 to 4 models"), "{e}");
    // A decompression bomb: 4 MiB of spaces deflate to a few KiB.
    let bomb = format!("{}{}", " ".repeat(4 << 20), json);
    let e = err(&packed(&bomb));
    assert!(e.to_string().contains("larger than 1024 KiB"), "{e}");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[test]
fn impossible_experiments_are_refused_before_allocating() {
    let mut e = Experiment::default();
    if let LayerSpec::Conv2d { filters, .. } = &mut e.models[0].layers[2] {
        *filters = 100_000;
    }
    let msg = e.validate().unwrap_err().to_string();
    assert!(msg.contains("model 1 (cnn-flatten)"), "{msg}");
    let mut e = Experiment::default();
    e.train.batch = 4096;
    e.models[0].layers.truncate(1);
    assert!(e.validate().is_err());
}

/// Drives a run to the end, collecting its events.
fn drive(exp: &Experiment, train: &Dataset, test: &Dataset) -> (Run, Vec<RunEvent>) {
    let mut run = Run::new(exp, train).unwrap();
    let mut events = Vec::new();
    for _ in 0..10_000 {
        if run.is_done() {
            break;
        }
        events.extend(run.step(train, test).unwrap());
    }
    assert!(run.is_done());
    (run, events)
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[test]
fn a_run_trains_every_model_exactly_like_the_trainer() {
    let (train, test) = (toy_dataset(40), toy_dataset(50));
    let exp = small();
    let (run, events) = drive(&exp, &train, &test);
    assert_eq!(events.last(), Some(&RunEvent::Finished));
    for (i, spec) in exp.models.iter().enumerate() {
        // The same model trained by the plain loop ends with bit-identical weights.
        let mut t = Trainer::new(spec.clone(), exp.train.clone()).unwrap();
        for _ in 0..exp.train.epochs {
            t.train_epoch(&train, |_| true).unwrap();
        }
        assert_eq!(run.models()[i].params, t.model.params, "model {i}");
        let evals: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                RunEvent::Evaluated {
                    model,
                    epoch,
                    centered,
                    shifted,
                } if *model == i => Some((*epoch, centered.clone(), shifted.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(evals.iter().map(|e| e.0).collect::<Vec<_>>(), [1, 2]);
        let sub = test.subset(30);
        let c = now(evaluate(&mut t.infer(), &sub, CanvasPlacement::Centered, 7))
            .unwrap()
            .unwrap();
        let (_, centered, shifted) = evals.last().unwrap();
        assert_eq!(centered.confusion, c.confusion);
        assert_eq!(centered.confusion.total(), 30);
        assert!((centered.loss - c.loss).abs() < 1e-5);
        assert_eq!(shifted.placement, CanvasPlacement::Shifted { seed: 5 });
        // Steps: 36 images / batch 8 = 5 steps per epoch; logged at step 5 (epoch end).
        let steps: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                RunEvent::Step {
                    model,
                    epoch,
                    step,
                    steps_per_epoch,
                    images,
                    ..
                } if *model == i => Some((*epoch, *step, *steps_per_epoch, *images)),
                _ => None,
            })
            .collect();
        assert_eq!(steps, [(1, 5, 5, 36), (2, 5, 5, 72)]);
        assert!(events.contains(&RunEvent::ModelFinished { model: i }));
    }
    // Models take turns: model 1's first step comes before model 0's second.
    assert!(run.trainers().all(|t| t.epoch == 2));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[test]
fn the_same_link_gives_the_same_run() {
    let (train, test) = (toy_dataset(40), toy_dataset(30));
    let exp = small();
    let back = Experiment::from_link(&exp.to_fragment()).unwrap();
    let (_, a) = drive(&exp, &train, &test);
    let (_, b) = drive(&back, &train, &test);
    assert_eq!(a, b);
    let mut other = exp.clone();
    other.train.seed += 1;
    let (_, c) = drive(&other, &train, &test);
    assert_ne!(a, c);
}

#[cfg(not(target_arch = "wasm32"))]
mod properties {
    use super::*;
    use crate::model::PRESETS;
    use crate::optim::OptimizerSpec;
    use proptest::prelude::*;

    fn experiment() -> impl Strategy<Value = Experiment> {
        let names = prop::sample::subsequence(PRESETS.to_vec(), 1..=PRESETS.len().min(4));
        (
            names,
            prop::bool::ANY,
            prop::option::of(1usize..200),
            (1usize..50, 1usize..300, 1e-6f32..1.0, any::<u64>()),
            (prop::option::of(1usize..70_000), prop::bool::ANY),
            (prop::option::of(1usize..10_000), any::<u64>(), 0usize..10),
            (prop::bool::ANY, 0.0f32..0.99),
        )
            .prop_map(
                |(
                    names,
                    big,
                    filters,
                    (epochs, batch, lr, seed),
                    (limit, fashion),
                    (tl, ss, shift),
                    (sgd, m),
                )| {
                    let canvas = if big { 64 } else { 28 };
                    let mut models: Vec<ModelSpec> = names
                        .iter()
                        .map(|n| preset_for(n, canvas).unwrap())
                        .collect();
                    if let (Some(f), Some(LayerSpec::Conv2d { filters, .. })) =
                        (filters, models[0].layers.first_mut())
                    {
                        *filters = f;
                    }
                    Experiment {
                        models,
                        data: DataSpec {
                            dataset: if fashion {
                                DatasetKind::FashionMnist
                            } else {
                                DatasetKind::Mnist
                            },
                            test_limit: tl,
                            shift_seed: ss,
                        },
                        train: TrainSpec {
                            epochs,
                            batch,
                            optimizer: if sgd {
                                OptimizerSpec::Sgd {
                                    lr,
                                    momentum: m,
                                    weight_decay: 0.0,
                                    nesterov: false,
                                }
                            } else {
                                OptimizerSpec::adam(lr)
                            },
                            seed,
                            limit,
                            canvas,
                            train_shift: shift,
                            shards: 1,
                        },
                    }
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn encode_then_decode_is_the_identity(e in experiment()) {
            prop_assume!(e.validate().is_ok());
            prop_assert_eq!(Experiment::from_link(&e.to_fragment()).unwrap(), e);
        }

        #[test]
        fn arbitrary_strings_never_panic(s in ".{0,300}") {
            let _ = Experiment::from_link(&s);
            let _ = Experiment::from_link(&format!("#e=1.{s}"));
        }

        #[test]
        fn arbitrary_payloads_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let _ = Experiment::from_link(&format!("e=1.{}", URL_SAFE_NO_PAD.encode(&bytes)));
            let z = miniz_oxide::deflate::compress_to_vec(&bytes, 1);
            let _ = Experiment::from_link(&format!("e=1.{}", URL_SAFE_NO_PAD.encode(z)));
        }

        #[test]
        fn damaged_links_never_panic(e in experiment(), cut in 0usize..1000, flip in 0usize..1000) {
            let f = e.to_fragment();
            let _ = Experiment::from_link(&f[..cut.min(f.len())]);
            let mut b = f.into_bytes();
            let i = 4 + flip % (b.len() - 4);
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            let _ = Experiment::from_link(&String::from_utf8(b).unwrap());
        }
    }
}
