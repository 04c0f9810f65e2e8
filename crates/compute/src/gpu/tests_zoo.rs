//! The architecture zoo's primitives on the GPU: explicit padding (zeros, reflect, circular) and
//! BlurPool's blur against the CPU reference (max |gpu − cpu| ≤ 1e-4·max(1, |cpu|)), and every
//! preset, with the shift-failure toggles and auxiliary heads, training on the GPU as on the CPU.

use super::GpuBuffer;
use super::GpuContext;
use super::ops;
use super::testing::{assert_close, down, gpu_test, run, up};
use crate::ops::blur::{self, BlurGeom};
use crate::ops::pad::{self, PadGeom, PadMode};
use crate::ops::testing::random;
use crate::rng::Rng;

async fn pad_matches_reference(ctx: &GpuContext) {
    let mut rng = Rng::new(21);
    // (n, [c, h, w], [top, bottom, left, right]): asymmetric pads, pads as large as each mode
    // allows (reflect: side − 1, circular: the side), a 1-cell image, odd sizes.
    let cases = [
        (1, [1, 1, 1], [2, 0, 0, 3]),
        (2, [3, 5, 7], [1, 1, 1, 1]),
        (1, [2, 4, 6], [3, 3, 5, 5]),
        (3, [4, 9, 2], [0, 2, 1, 0]),
        (2, [5, 13, 11], [4, 4, 4, 4]),
    ];
    for mode in [PadMode::Zeros, PadMode::Reflect, PadMode::Circular] {
        for (n, input, pads) in cases {
            let Ok(g) = PadGeom::new(input, pads, mode) else {
                continue;
            };
            let case = format!("pad {g:?} n={n}");
            let x = random(n * g.in_len(), &mut rng);
            let dy = random(n * g.out_len(), &mut rng);
            let dx0 = random(n * g.in_len(), &mut rng);

            let mut y = vec![0.0; n * g.out_len()];
            pad::pad_forward(&mut y, &x, &g, n).unwrap();
            let gy = GpuBuffer::zeros(ctx, "y", y.len());
            run(
                ctx,
                &[&ops::planar(ctx, ops::Pass::Forward, &gy, &up(ctx, &x), &g, n).unwrap()],
            );
            assert_close(&format!("{case} forward"), &down(ctx, &gy).await, &y);

            let mut dx = dx0.clone();
            pad::pad_backward(&mut dx, &dy, &g, n).unwrap();
            let gdx = up(ctx, &dx0);
            run(
                ctx,
                &[&ops::planar(ctx, ops::Pass::Backward, &gdx, &up(ctx, &dy), &g, n).unwrap()],
            );
            assert_close(&format!("{case} backward"), &down(ctx, &gdx).await, &dx);
        }
    }
}
gpu_test!(
    pad_forward_and_backward_match_reference,
    pad_matches_reference
);

async fn blur_matches_reference(ctx: &GpuContext) {
    let mut rng = Rng::new(22);
    // (n, [c, h, w], size, stride): every filter size, strides 1–3, odd sizes, a 1×1 output.
    let cases = [
        (1, [1, 3, 3], 3, 2),
        (2, [3, 8, 8], 3, 2),
        (1, [2, 9, 11], 2, 2),
        (3, [4, 7, 7], 5, 1),
        (2, [2, 13, 10], 4, 3),
        (1, [1, 7, 7], 7, 1),
        (2, [5, 6, 5], 1, 2),
        (1, [16, 31, 31], 3, 2),
    ];
    for (n, input, size, stride) in cases {
        let g = BlurGeom::new(input, size, stride).unwrap();
        let case = format!("blur {g:?} n={n}");
        let x = random(n * g.in_len(), &mut rng);
        let dout = random(n * g.out_len(), &mut rng);
        let dx0 = random(n * g.in_len(), &mut rng);

        let mut out = vec![0.0; n * g.out_len()];
        blur::blur_forward(&mut out, &x, &g, n).unwrap();
        let gout = GpuBuffer::zeros(ctx, "out", out.len());
        run(
            ctx,
            &[&ops::planar(ctx, ops::Pass::Forward, &gout, &up(ctx, &x), &g, n).unwrap()],
        );
        assert_close(&format!("{case} forward"), &down(ctx, &gout).await, &out);

        let mut dx = dx0.clone();
        blur::blur_backward(&mut dx, &dout, &g, n).unwrap();
        let gdx = up(ctx, &dx0);
        run(
            ctx,
            &[&ops::planar(ctx, ops::Pass::Backward, &gdx, &up(ctx, &dout), &g, n).unwrap()],
        );
        assert_close(&format!("{case} backward"), &down(ctx, &gdx).await, &dx);
    }
}
gpu_test!(
    blur_forward_and_backward_match_reference,
    blur_matches_reference
);

mod training {
    use std::sync::Arc;

    use super::super::testing::{digits, gpu_test};
    use super::super::{GpuContext, GpuTrainer};
    use crate::model::ModelSpec;
    use crate::model::transform::antialias;
    use crate::train::{TrainSpec, Trainer};

    /// `steps` seeded steps of `spec` on the CPU and on the GPU: the same losses within `tol`.
    async fn tracks(ctx: &Arc<GpuContext>, spec: ModelSpec, batch: usize, steps: usize, tol: f32) {
        let data = digits(batch * steps);
        let train = TrainSpec {
            canvas: spec.input[1],
            batch,
            seed: 4,
            ..TrainSpec::default()
        };
        let name = spec.name.clone();
        let mut cpu = Trainer::new(spec.clone(), train.clone()).unwrap();
        let mut gpu = GpuTrainer::new(ctx.clone(), spec, train)
            .await
            .unwrap_or_else(|e| panic!("{name} on the GPU: {e}"));
        for step in 0..steps {
            let b: Vec<usize> = (step * batch..(step + 1) * batch).collect();
            let c = cpu.train_step(&data, &b).unwrap();
            gpu.train_step(&data, &b).unwrap();
            let g = gpu.read_metrics().await.unwrap()[0];
            assert!(
                (c.loss - g.loss).abs() <= tol * c.loss.abs().max(1.0),
                "{name} step {}: cpu loss {} gpu loss {}",
                step + 1,
                c.loss,
                g.loss
            );
            assert_eq!(c.correct, g.correct, "{name} step {}", step + 1);
        }
    }

    /// BlurPool, reflect and circular padding and a weighted auxiliary head in one model: the
    /// head's gradient must carry the aux loss's weight, or the second step's loss differs.
    async fn blurpool_padding_modes_and_aux_head_train_as_on_cpu(ctx: &Arc<GpuContext>) {
        let spec = ModelSpec::from_json(
            r#"{"name":"zoo-bits","input":[1,28,28],"layers":[
                {"type":"conv2d","name":"c1","filters":6,"kernel":3,"padding":"same","padding_mode":"reflect","activation":"relu"},
                {"type":"max_pool","name":"p1","size":2},
                {"type":"conv2d","name":"c2","filters":8,"kernel":3,"padding":"same","padding_mode":"circular","activation":"relu"},
                {"type":"aux_head","name":"aux","weight":0.3,"layers":[
                    {"type":"global_avg_pool","name":"ag"},{"type":"dense","name":"ao","units":10}]},
                {"type":"max_pool","name":"p2","size":2},
                {"type":"global_avg_pool","name":"g"},
                {"type":"dense","name":"out","units":10}]}"#,
        )
        .unwrap();
        tracks(ctx, antialias(&spec), 8, 4, 1e-4).await;
    }
    gpu_test!(
        blurpool_padding_modes_and_aux_head_train_on_gpu_as_on_cpu,
        blurpool_padding_modes_and_aux_head_train_as_on_cpu
    );

    /// A convolution's ReLU'd output read by a max pool and by another layer, the pool's branch
    /// first and last: the CPU fuses the pool with the convolution, forward and backward, only
    /// where that is exact (the GPU does not fuse), so the losses after the first step agree.
    async fn conv_output_pooled_and_read_again_trains_as_on_cpu(ctx: &Arc<GpuContext>) {
        let pool = r#"[{"type":"max_pool","name":"bp","size":3,"stride":1,"padding":1}]"#;
        let conv = r#"[{"type":"conv2d","name":"bc","filters":4,"kernel":1,"activation":"relu"}]"#;
        for (name, first, second) in [("pool-first", pool, conv), ("pool-last", conv, pool)] {
            let spec = ModelSpec::from_json(&format!(
                r#"{{"name":"{name}","input":[1,28,28],"layers":[
                    {{"type":"conv2d","name":"c1","filters":6,"kernel":3,"padding":"same","activation":"relu"}},
                    {{"type":"branches","name":"b","branches":[{first},{second}]}},
                    {{"type":"max_pool","name":"p2","size":2}},
                    {{"type":"conv2d","name":"c3","filters":8,"kernel":3,"activation":"relu"}},
                    {{"type":"max_pool","name":"p3","size":2}},
                    {{"type":"global_avg_pool","name":"g"}},
                    {{"type":"dense","name":"out","units":10}}]}}"#
            ))
            .unwrap();
            tracks(ctx, spec, 8, 4, 1e-4).await;
        }
    }
    gpu_test!(
        conv_output_pooled_and_read_again_trains_on_gpu_as_on_cpu,
        conv_output_pooled_and_read_again_trains_as_on_cpu
    );

    /// Every preset of the zoo, and cnn-gap with each shift toggle, trains its first steps on
    /// the GPU exactly as on the CPU (28×28, batch 4). Native only: minutes on SwiftShader; in
    /// the browser every kernel is compiled with the context and checked by the primitive tests.
    #[cfg(not(target_arch = "wasm32"))]
    async fn every_preset_and_toggle_train_as_on_cpu(ctx: &Arc<GpuContext>) {
        use crate::model::transform::with_padding;
        use crate::model::{ZOO, preset_for};
        use crate::ops::pad::PadMode;

        for name in ZOO {
            tracks(ctx, preset_for(name, 28).unwrap(), 4, 2, 1e-4).await;
        }
        let gap = preset_for("cnn-gap", 28).unwrap();
        tracks(ctx, antialias(&gap), 4, 2, 1e-4).await;
        tracks(ctx, with_padding(&gap, PadMode::Circular), 4, 2, 1e-4).await;
        tracks(ctx, with_padding(&gap, PadMode::Reflect), 4, 2, 1e-4).await;
    }
    #[cfg(not(target_arch = "wasm32"))]
    gpu_test!(
        every_preset_and_toggle_trains_on_gpu_as_on_cpu,
        every_preset_and_toggle_train_as_on_cpu
    );
}
