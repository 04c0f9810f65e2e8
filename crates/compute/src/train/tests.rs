use super::*;
use crate::data::{CanvasPlacement, Dataset};
use crate::error::Error;
use crate::model::preset_for;
use crate::optim::OptimizerSpec;

fn toy_data() -> Dataset {
    crate::data::toy_dataset(40)
}

fn spec(seed: u64) -> TrainSpec {
    TrainSpec {
        epochs: 1,
        batch: 8,
        optimizer: OptimizerSpec::adam(1e-3),
        seed,
        limit: None,
        canvas: 28,
        train_shift: 0,
        shards: 1,
    }
}

fn run(seed: u64, steps: usize) -> (Vec<f32>, Vec<f32>) {
    run_model("cnn-gap", seed, steps)
}

fn run_model(model: &str, seed: u64, steps: usize) -> (Vec<f32>, Vec<f32>) {
    let data = toy_data();
    let mut t = Trainer::new(preset_for(model, 28).unwrap(), spec(seed)).unwrap();
    let mut losses = Vec::new();
    for s in 0..steps {
        let idx: Vec<usize> = (0..8).map(|i| (s * 8 + i) % 40).collect();
        losses.push(t.train_step(&data, &idx).unwrap().loss);
    }
    (losses, t.model.params)
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[test]
fn same_seed_gives_identical_losses_and_weights() {
    let (l1, p1) = run(42, 5);
    let (l2, p2) = run(42, 5);
    assert_eq!(l1, l2);
    assert_eq!(p1, p2);
    let (l3, _) = run(43, 5);
    assert_ne!(l1, l3);
}

#[cfg(not(target_arch = "wasm32"))]
#[test]
fn same_seed_gives_identical_results_on_one_and_two_threads() {
    // resnet-mini's 3×3 layers of 16 channels run Winograd's products (cpu::winograd).
    for model in ["cnn-gap", "resnet-mini"] {
        let on = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| run_model(model, 7, 4))
        };
        let (one, two) = (on(1), on(2));
        assert_eq!(one.0, two.0, "{model}");
        assert_eq!(one.1, two.1, "{model}");
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[test]
fn training_lowers_the_loss_on_a_learnable_toy_set() {
    let data = toy_data();
    let mut t = Trainer::new(
        preset_for("cnn-flatten", 28).unwrap(),
        TrainSpec {
            epochs: 30,
            ..spec(1)
        },
    )
    .unwrap();
    let first = t.train_epoch(&data, |_| true).unwrap();
    for _ in 1..30 {
        t.train_epoch(&data, |_| true).unwrap();
    }
    let e = crate::backend::now(evaluate(
        &mut t.infer(),
        &data,
        CanvasPlacement::Centered,
        16,
    ))
    .unwrap()
    .unwrap();
    assert!(e.loss < first.loss * 0.5, "{} → {}", first.loss, e.loss);
    assert!(e.metrics.accuracy > 0.9, "{:?}", e.metrics);
}

#[test]
fn mismatched_canvas_and_bad_settings_are_clear_errors() {
    let err = Trainer::new(preset_for("cnn-gap", 64).unwrap(), spec(0))
        .err()
        .unwrap();
    assert!(err.to_string().contains("canvas"), "{err}");
    assert!(
        Trainer::new(
            preset_for("cnn-gap", 28).unwrap(),
            TrainSpec {
                batch: 0,
                ..spec(0)
            }
        )
        .is_err()
    );
    assert!(
        Trainer::new(
            preset_for("cnn-gap", 28).unwrap(),
            TrainSpec {
                optimizer: OptimizerSpec::adam(-1.0),
                ..spec(0)
            }
        )
        .is_err()
    );
}

/// The gradient of one step on `indices` computed as `k` shards and summed, and the loss.
fn sharded_gradient(t: &mut Trainer, data: &Dataset, indices: &[usize], k: usize) -> Vec<f32> {
    let shards = t.plan_step(indices, k).unwrap();
    assert_eq!(shards.len(), k.min(indices.len()));
    let mut sum = vec![0.0f32; t.model.param_count()];
    for shard in &shards {
        let g = t.shard_gradients(data, shard).unwrap();
        sum.iter_mut().zip(&g.grads).for_each(|(s, g)| *s += g);
    }
    sum
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[test]
fn k_shards_gradients_sum_to_the_full_batch_gradient() {
    let data = toy_data();
    // cnn-gap has two dropout layers: the shards must draw the whole batch's masks. A
    // train-time shift makes the offsets random too. Batch 13 splits unevenly.
    let spec = TrainSpec {
        train_shift: 3,
        ..spec(5)
    };
    let indices: Vec<usize> = (0..13).map(|i| (i * 7) % 40).collect();
    let full = {
        let mut t = Trainer::new(preset_for("cnn-gap", 28).unwrap(), spec.clone()).unwrap();
        sharded_gradient(&mut t, &data, &indices, 1)
    };
    let scale = full.iter().fold(0.0f32, |m, g| m.max(g.abs()));
    assert!(scale > 1e-4, "the gradient is not trivially zero");
    for k in [2, 3, 5] {
        let mut t = Trainer::new(preset_for("cnn-gap", 28).unwrap(), spec.clone()).unwrap();
        let sharded = sharded_gradient(&mut t, &data, &indices, k);
        let worst = full
            .iter()
            .zip(&sharded)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(worst <= 1e-5 * scale, "k = {k}: off by {worst} of {scale}");
    }
    // Dropout drawn per shard from a fresh stream (not the batch's entries) is far off.
    let mut t = Trainer::new(preset_for("cnn-gap", 28).unwrap(), spec).unwrap();
    let mut shards = t.plan_step(&indices, 2).unwrap();
    shards[1].first = 0;
    let mut wrong = t.shard_gradients(&data, &shards[0]).unwrap().grads;
    let g1 = t.shard_gradients(&data, &shards[1]).unwrap().grads;
    wrong.iter_mut().zip(&g1).for_each(|(s, g)| *s += g);
    let worst = full
        .iter()
        .zip(&wrong)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        worst > 1e-3 * scale,
        "masks by shard position would go unnoticed"
    );
}

/// Losses and weights of `steps` steps of cnn-gap, each split into `k` shards.
fn sharded_run(seed: u64, k: usize, steps: usize) -> (Vec<f32>, Vec<f32>) {
    let data = toy_data();
    let mut t = Trainer::new(preset_for("cnn-gap", 28).unwrap(), spec(seed)).unwrap();
    let mut losses = Vec::new();
    for s in 0..steps {
        let idx: Vec<usize> = (0..8).map(|i| (s * 8 + i) % 40).collect();
        let shards = t.plan_step(&idx, k).unwrap();
        let grads = shards
            .iter()
            .map(|shard| t.shard_gradients(&data, shard).unwrap())
            .collect();
        losses.push(t.apply_gradients(grads).unwrap().loss);
    }
    (losses, t.model.params)
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[test]
fn a_k_shard_run_is_deterministic_and_tracks_one_shard() {
    let one = sharded_run(9, 1, 5);
    assert_eq!(one, run(9, 5), "one shard is exactly train_step");
    let two = sharded_run(9, 2, 5);
    assert_eq!(two, sharded_run(9, 2, 5));
    assert_ne!(two.0, sharded_run(10, 2, 5).0);
    for (a, b) in one.0.iter().zip(&two.0) {
        assert!((a - b).abs() <= 1e-4 * a.abs().max(1.0), "loss {a} vs {b}");
    }
    let worst = one
        .1
        .iter()
        .zip(&two.1)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(worst < 1e-4, "weights differ by {worst} after 5 steps");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[test]
fn batchnorm_models_split_as_their_spec_says_and_normalise_per_shard() {
    let data = toy_data();
    let bn = preset_for("resnet-mini", 28).unwrap();
    let spec2 = TrainSpec {
        shards: 2,
        ..spec(4)
    };
    let mut t = Trainer::new(bn.clone(), spec2.clone()).unwrap();
    assert!(t.model.has_batchnorm());
    assert_eq!([t.shards_for(1), t.shards_for(4)], [2, 2]);
    let plain = Trainer::new(preset_for("cnn-gap", 28).unwrap(), spec2.clone()).unwrap();
    assert_eq!([plain.shards_for(1), plain.shards_for(4)], [1, 4]);
    // Per-shard statistics: two shards of 8 are not one batch of 8.
    let idx: Vec<usize> = (0..8).collect();
    let halves = sharded_gradient(&mut t, &data, &idx, 2);
    let mut whole = Trainer::new(bn.clone(), spec2.clone()).unwrap();
    let whole = sharded_gradient(&mut whole, &data, &idx, 1);
    assert!(halves.iter().zip(&whole).any(|(a, b)| (a - b).abs() > 1e-4));
    // Running statistics follow shard 0 alone, whichever shards a model computed.
    let mut a = Trainer::new(bn.clone(), spec2.clone()).unwrap();
    let shards = a.plan_step(&idx, 2).unwrap();
    a.shard_gradients(&data, &shards[0]).unwrap();
    let mut b = Trainer::new(bn, spec2).unwrap();
    let shards = b.plan_step(&idx, 2).unwrap();
    b.shard_gradients(&data, &shards[1]).unwrap();
    b.shard_gradients(&data, &shards[0]).unwrap();
    assert_eq!(a.model.buffers, b.model.buffers);
    assert_ne!(
        a.model.buffers,
        Trainer::new(preset_for("resnet-mini", 28).unwrap(), spec(4))
            .unwrap()
            .model
            .buffers
    );
}

#[test]
fn a_spec_knows_whether_its_model_has_batchnorm() {
    for name in crate::model::PRESETS {
        let spec = preset_for(name, 64).unwrap();
        let model = Model::new(spec.clone(), 0).unwrap();
        assert_eq!(spec.has_batchnorm(), model.has_batchnorm(), "{name}");
    }
    assert!(preset_for("resnet-mini", 64).unwrap().has_batchnorm());
    assert!(!preset_for("cnn-gap", 64).unwrap().has_batchnorm());
}

#[test]
fn shards_must_come_complete_and_in_order() {
    let data = toy_data();
    let mut t = Trainer::new(preset_for("cnn-gap", 28).unwrap(), spec(2)).unwrap();
    let shards = t.plan_step(&[0, 1, 2, 3], 2).unwrap();
    let g0 = t.shard_gradients(&data, &shards[0]).unwrap();
    let g1 = t.shard_gradients(&data, &shards[1]).unwrap();
    let before = t.model.params.clone();
    assert!(t.apply_gradients(vec![g1.clone(), g0.clone()]).is_err());
    let mut short = g1.clone();
    short.grads.pop();
    assert!(t.apply_gradients(vec![g0.clone(), short]).is_err());
    assert_eq!(t.model.params, before);
    t.apply_gradients(vec![g0, g1]).unwrap();
    assert_eq!(t.steps, 1);
}

#[test]
fn nan_weights_report_divergence_instead_of_training_on() {
    let data = toy_data();
    let mut t = Trainer::new(preset_for("cnn-flatten", 28).unwrap(), spec(3)).unwrap();
    t.train_step(&data, &[0, 1, 2]).unwrap();
    let before = t.model.params.clone();
    t.model.params[0] = f32::NAN;
    let err = t.train_step(&data, &[0, 1, 2]).unwrap_err();
    assert!(matches!(err, Error::Diverged { step: 2, .. }), "{err}");
    // The refused step changed no other weight.
    assert_eq!(t.model.params[1..], before[1..]);
}
