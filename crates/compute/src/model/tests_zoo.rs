//! The architecture zoo: every preset's parameter count against a hand-computed value, the
//! lecture's Inception table exactly, both input sizes, the shift toggles, and finite-difference
//! checks through the new blocks (BlurPool, reflect / circular padding, dense block, auxiliary
//! head).

use super::tests::assert_table;
use super::transform::{antialias, with_padding};
use super::*;
use crate::ops::pad::PadMode;
use crate::ops::testing::{check_gradient_with, random, weighted_sum};

fn trainable(name: &str, side: usize) -> usize {
    compile(&preset_for(name, side).unwrap()).unwrap().param_len
}

#[test]
fn every_preset_has_its_hand_computed_parameter_count() {
    // (name, params at 28×28, params at 64×64). Conv: filters·(c_in/groups·k²) + bias; BN: 2·c
    // trainable; dense: in·out + out.
    let cases = [
        // 6·26 + 16·151 + fc1 (16·5·5 | 16·14·14)·120+120 + 120·84+84 + 84·10+10
        ("lenet5", 61_706, 156 + 2_416 + 376_440 + 10_164 + 850),
        // convs 32·26 + 64·289 + 96·577 + 96·865 + 64·865 = 213,120; fc1 (64·2·2 | 64·4·4)·128+128;
        // fc2 16,512; output 1,290
        (
            "alexnet-mini",
            213_120 + 32_896 + 16_512 + 1_290,
            213_120 + 131_200 + 16_512 + 1_290,
        ),
        // convs 16·10 + 16·145 + 32·145 + 32·289 + 64·289 + 64·577 = 71,792; fc1 (64·3·3 | 64·8·8)
        (
            "vgg-mini",
            71_792 + 73_856 + 16_512 + 1_290,
            71_792 + 524_416 + 16_512 + 1_290,
        ),
        // 32·26 + 2·32·33 + 64·289 + 2·64·65 + 64·577 + 64·65 + 10·65
        ("nin-mini", 71_498, 71_498),
        // stem 320; inc_a 528+528+3,480+264+1,608+528; aux 2,080+330;
        // inc_b 2,080+1,560+10,416+520+3,216+2,080; output 1,290
        ("inception-mini", 30_828, 30_828),
        // stem 144+32; res1 2·2,304+2·32; res2 4,608+9,216+2·64+512; res3 18,432+36,864+2·128+2,048;
        // output 650
        ("resnet-mini", 77_562, 77_562),
        // stem 176; res1 256+2,304+1,024+1,024 + BN 32+32+128; res2 2,048+9,216+4,096+8,192 +
        // BN 64+64+256; output 1,290
        ("resnet-bottleneck-mini", 30_202, 30_202),
        // res1 512 + 32·4·9 + 2,048 + 1,024 + BN 64+64+128; res2 4,096 + 64·8·9 + 8,192 + 8,192 +
        // BN 128+128+256
        ("resnext-mini", 32_058, 32_058),
        // stem 144; dense1 Σ_{c=16,24,32,40} (2c + 72c) + transition 96 + 24·48; dense2
        // Σ_{c=24,32,40,48} 74c; final BN 112; output 56·10+10
        ("densenet-mini", 21_018, 21_018),
        // stem 144+32; ds (dw c·9 + BN 2c + pw c·c' + BN 2c') for 16→32, 32→64, 64→64, 64→128,
        // 128→128; output 1,290
        ("mobilenet-mini", 36_874, 36_874),
    ];
    for (name, at28, at64) in cases {
        assert_eq!(trainable(name, 28), at28, "{name} at 28×28");
        assert_eq!(trainable(name, 64), at64, "{name} at 64×64");
    }
    assert_eq!(trainable("lenet5", 28), 61_706);
    // Batch-norm running statistics are counted in the summary's total, like Keras.
    let s = preset_for("resnet-mini", 28).unwrap().summary().unwrap();
    assert_eq!(
        s.total_params,
        77_562 + 2 * (16 + 16 + 16 + 32 + 32 + 64 + 64)
    );
}

#[test]
fn inception_lecture_matches_the_lecture_table_exactly() {
    let want: Vec<(&str, Vec<usize>, usize)> = vec![
        ("conv", vec![32, 32, 32], 896),
        ("max_pool", vec![32, 16, 16], 0),
        ("conv_1_1", vec![32, 16, 16], 1_056),
        ("conv_2_1", vec![64, 16, 16], 2_112),
        ("conv_2_2", vec![32, 16, 16], 18_464),
        ("conv_3_1", vec![64, 16, 16], 2_112),
        ("conv_3_2", vec![32, 16, 16], 51_232),
        ("mp_4_1", vec![32, 16, 16], 0),
        ("conv_4_1", vec![32, 16, 16], 1_056),
        ("concat", vec![128, 16, 16], 0),
        ("gap", vec![128], 0),
        ("dropout", vec![128], 0),
        ("dense", vec![10], 1_290),
    ];
    assert_table("inception-lecture", &want);
    let s = preset("inception-lecture").unwrap().summary().unwrap();
    assert_eq!(s.total_params, 78_218);
    assert_eq!(s.input, [3, 32, 32]);
    // The summary also counts multiply-adds: conv_3_2 is 16·16·32 outputs × 64·5·5.
    assert_eq!(s.rows[6].macs, 16 * 16 * 32 * 64 * 25);
}

#[test]
fn every_preset_runs_forward_and_backward_on_28_and_64() {
    for name in ZOO {
        for side in [28, 64] {
            let mut m = Model::new(preset_for(name, side).unwrap(), 1).unwrap();
            let x = random(2 * m.input_len(), &mut Rng::new(2));
            let mut ws = Workspace::new();
            m.forward(&mut ws, &x, 2, Mode::Train(&mut Rng::new(3)))
                .unwrap();
            assert!(ws.logits().iter().all(|v| v.is_finite()), "{name} {side}");
            m.zero_grad();
            m.backward(&mut ws, &[0.1; 20]).unwrap();
            assert!(m.grads.iter().any(|g| *g != 0.0), "{name} {side}");
        }
    }
    for name in PRESETS {
        let spec = preset(name).unwrap();
        assert_eq!(ModelSpec::from_json(&spec.to_json()).unwrap(), spec);
    }
}

#[test]
fn blurpool_and_padding_toggles_keep_or_change_shapes_as_documented() {
    for name in ZOO {
        let spec = preset_for(name, 64).unwrap();
        let blurred = antialias(&spec);
        // BlurPool changes no output shape, so no parameter count.
        assert_eq!(
            compile(&blurred).unwrap().param_len,
            compile(&spec).unwrap().param_len,
            "{name}"
        );
        for mode in [PadMode::Zeros, PadMode::Reflect, PadMode::Circular] {
            compile(&with_padding(&spec, mode)).unwrap();
        }
    }
    let g = compile(&antialias(&preset("cnn-gap").unwrap())).unwrap();
    assert_eq!(
        g.nodes
            .iter()
            .filter(|n| matches!(n.op, graph::NodeOp::Blur(_)))
            .count(),
        2
    );
    // Same padding keeps every conv map at its input size: 64 → 32 → 16 before the GAP.
    let s = with_padding(&preset("cnn-flatten").unwrap(), PadMode::Circular)
        .summary()
        .unwrap();
    assert_eq!(s.name, "cnn-flatten+same-circular");
    let flatten = s.rows.iter().find(|r| r.name == "flatten").unwrap();
    assert_eq!(flatten.output_shape, vec![128 * 8 * 8]);
}

#[test]
fn circular_padding_makes_a_conv_stack_equivariant_to_cyclic_shifts() {
    let spec = ModelSpec::from_json(
        r#"{"name":"t","input":[1,8,8],"layers":[
            {"type":"conv2d","name":"c1","filters":3,"kernel":3,"padding":"same","padding_mode":"circular","activation":"relu"},
            {"type":"conv2d","name":"c2","filters":2,"kernel":5,"padding":"same","padding_mode":"circular"},
            {"type":"global_avg_pool","name":"g"},{"type":"dense","name":"o","units":2}]}"#,
    )
    .unwrap();
    let mut m = Model::new(spec, 3).unwrap();
    let x = random(64, &mut Rng::new(4));
    let rolled: Vec<f32> = (0..64)
        .map(|i| x[((i / 8 + 3) % 8) * 8 + (i % 8 + 5) % 8])
        .collect();
    let mut ws = Workspace::new();
    m.forward(&mut ws, &x, 1, Mode::Eval).unwrap();
    let a = ws.logits().to_vec();
    m.forward(&mut ws, &rolled, 1, Mode::Eval).unwrap();
    for (p, q) in a.iter().zip(ws.logits()) {
        assert!((p - q).abs() < 1e-5, "{a:?} vs {:?}", ws.logits());
    }
}

/// BlurPool, reflect / circular same padding (strided too), a dense block with bottleneck and
/// transition, and an auxiliary head, all linear so the loss is smooth.
fn zoo_sink() -> ModelSpec {
    ModelSpec::from_json(
        r#"{"name":"zs","input":[2,10,10],"layers":[
            {"type":"conv2d","name":"c1","filters":4,"kernel":3,"padding":"same","padding_mode":"reflect"},
            {"type":"blur_pool","name":"bp","stride":2,"size":3},
            {"type":"aux_head","name":"aux","weight":0.5,"layers":[
                {"type":"global_avg_pool","name":"ag"},{"type":"dense","name":"ao","units":3}]},
            {"type":"conv2d","name":"c2","filters":4,"kernel":3,"stride":2,"padding":"same","padding_mode":"circular"},
            {"type":"dense_block","name":"db","layers":2,"growth":3,"bottleneck":true,"transition":4},
            {"type":"flatten","name":"f"},
            {"type":"dense","name":"out","units":3}]}"#,
    )
    .unwrap()
}

#[test]
fn backward_matches_finite_difference_through_blurpool_padding_dense_block_and_aux_head() {
    let mut model = Model::new(zoo_sink(), 5).unwrap();
    assert_eq!(model.graph.aux.len(), 1);
    let n = 3;
    let x = random(n * model.input_len(), &mut Rng::new(8));
    let r = random(n * 3, &mut Rng::new(9));
    let ra = random(n * 3, &mut Rng::new(10));
    let aux = model.graph.aux[0].value;
    // Loss = r·logits + ra·aux_logits; batch-norm in training mode (batch statistics).
    let loss = |m: &mut Model| {
        let mut ws = Workspace::new();
        m.forward(&mut ws, &x, n, Mode::Train(&mut Rng::new(1)))
            .unwrap();
        weighted_sum(ws.logits(), &r) + weighted_sum(ws.value(aux), &ra)
    };
    let mut ws = Workspace::new();
    model
        .forward(&mut ws, &x, n, Mode::Train(&mut Rng::new(1)))
        .unwrap();
    model.zero_grad();
    model
        .backward_seeded(&mut ws, &[(model.graph.output, &r), (aux, &ra)])
        .unwrap();
    let analytic = model.grads.clone();
    let params = model.params.clone();
    let mut probe = model.clone();
    check_gradient_with(
        "zoo sink params",
        &params,
        &analytic,
        |p| {
            probe.params.copy_from_slice(p);
            loss(&mut probe)
        },
        150,
        // The dense block's ReLUs follow batch-norm, so some inputs sit near the kink: a small
        // step keeps them on their side.
        1e-4,
        2e-2,
    );
}

#[test]
fn impossible_zoo_blocks_name_the_layer() {
    let cases = [
        (r#"{"type":"blur_pool","name":"bp","size":9}"#, "bp"),
        (
            r#"{"type":"dense_block","name":"db","layers":0,"growth":4}"#,
            "db",
        ),
        (
            r#"{"type":"aux_head","name":"ah","weight":0.3,"layers":[{"type":"global_avg_pool","name":"ag"},{"type":"dense","name":"ao","units":4}]}"#,
            "ah",
        ),
        (
            r#"{"type":"conv2d","name":"cc","filters":2,"kernel":5,"padding":"same","padding_mode":"reflect"}"#,
            "cc",
        ),
    ];
    for (layer, needle) in cases {
        let spec = ModelSpec::from_json(&format!(
            r#"{{"name":"t","input":[1,2,2],"layers":[{layer},{{"type":"flatten","name":"f"}},{{"type":"dense","name":"o","units":3}}]}}"#
        ))
        .unwrap();
        let err = compile(&spec).unwrap_err().to_string();
        assert!(err.contains(needle), "{layer}: {err}");
    }
}
