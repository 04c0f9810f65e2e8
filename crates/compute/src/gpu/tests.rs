//! Every GPU primitive against the CPU reference over awkward shapes (smaller than a tile,
//! 7×7×7, 123×255×72, batch 1, stride 2, groups, odd sizes): max |gpu − cpu| ≤ 1e-4·max(1, |cpu|).
//! Natively on whatever adapter wgpu finds (lavapipe here); in headless Chromium on WebGPU
//! (see [`super::testing`]). A missing adapter fails every test: it never silently skips.

use super::ops;
use super::testing::{assert_close, down, gpu_test, run, up};
use super::{GpuBuffer, GpuContext};
use crate::ops::conv2d::{Conv2dGeom, reference as conv_ref};
use crate::ops::dense::{DenseGeom, reference as dense_ref};
use crate::ops::pool::{self, PoolGeom};
use crate::ops::testing::random;
use crate::ops::{GradWrite, Padding, add, concat, dropout, gap, relu, softmax_ce};
use crate::optim::{Optimizer, OptimizerSpec};
use crate::rng::Rng;

/// (n, c_in, h, w, c_out, kernel, stride, padding, groups)
type ConvCase = (
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    Padding,
    usize,
);

const CONV_CASES: [ConvCase; 14] = [
    // Smaller than a tile in every direction.
    (1, 1, 3, 3, 1, 1, 1, Padding::Valid, 1),
    // 7×7×7.
    (2, 7, 7, 7, 7, 3, 1, Padding::Same, 1),
    // Batch 1, stride 2, groups, odd sizes.
    (1, 4, 9, 11, 6, 3, 2, Padding::Same, 2),
    (3, 3, 13, 11, 5, 5, 2, Padding::Valid, 1),
    // Depthwise.
    (2, 6, 8, 8, 6, 3, 1, Padding::Same, 6),
    // Wider than one tile in M and N, several K slabs.
    (2, 20, 17, 15, 72, 3, 1, Padding::Same, 1),
    // cnn-gap's first layer: a long weight-gradient reduction, split.
    (4, 1, 64, 64, 32, 3, 1, Padding::Valid, 1),
    // 1×1 with stride 2.
    (2, 8, 10, 10, 12, 1, 2, Padding::Valid, 4),
    // Stride 1 with kernels wider than the strip kernels' 4-tap block: 5×5, and 7×7 wider than
    // the 6-pixel output; 4×4 pads unevenly (1 before, 2 after).
    (2, 3, 12, 9, 10, 5, 1, Padding::Same, 1),
    (1, 2, 11, 6, 3, 7, 1, Padding::Same, 1),
    (1, 2, 6, 17, 9, 4, 1, Padding::Same, 1),
    // PyTorch's explicit padding: AlexNet's 11×11 / 4 with 2, ResNet's 7×7 / 2 with 3, and a
    // depthwise 3×3 / 2 with 1 (MobileNet v2).
    (1, 3, 35, 31, 8, 11, 4, Padding::Explicit(2), 1),
    (2, 3, 20, 18, 8, 7, 2, Padding::Explicit(3), 1),
    (2, 8, 9, 10, 8, 3, 2, Padding::Explicit(1), 8),
];

/// Weights `wt` and bias `b` in one buffer at awkward offsets, as in a model's flat parameter
/// buffer: `wt` at `w_off`, `b` `gap` elements after it, `fill` around them. Returns the buffer
/// and the bias offset.
fn flat_params(wt: &[f32], b: &[f32], w_off: usize, gap: usize, fill: f32) -> (Vec<f32>, usize) {
    let b_off = w_off + wt.len() + gap;
    let mut wb = vec![fill; b_off + b.len() + 2];
    wb[w_off..b_off - gap].copy_from_slice(wt);
    wb[b_off..b_off + b.len()].copy_from_slice(b);
    (wb, b_off)
}

/// Both GEMM bodies: the adapter's own, then the other one on the same device.
async fn conv2d_all_passes_match_reference(ctx: &GpuContext) {
    conv2d_passes_match_reference(ctx).await;
    conv2d_passes_match_reference(&ctx.with_gemm(ctx.gemm().other())).await;
}

/// A weight gradient summed over more pixels than 64 chunks of 65,535: lavapipe ends any
/// invocation's loops after 65,535 iterations, so no chunk may be that long.
async fn conv2d_weight_gradient_over_millions_of_pixels(ctx: &GpuContext) {
    let mut rng = Rng::new(12);
    let g = Conv2dGeom::new([1, 2050, 2050], 2, 3, 1, Padding::Valid, 1).unwrap();
    let (x, dout) = (random(g.in_len(), &mut rng), random(g.out_len(), &mut rng));
    let mut dw = vec![0.0; g.weight_len()];
    crate::ops::conv2d::conv2d_backward_weight(&mut dw, None, &dout, &x, &g, 1).unwrap();
    let gw = GpuBuffer::zeros(ctx, "dw", g.weight_len());
    let part = GpuBuffer::zeros(ctx, "part", ops::conv2d_weight_scratch(&g, 1));
    let [d1, d2] =
        ops::conv2d_backward_weight(ctx, &gw, &part, &up(ctx, &dout), &up(ctx, &x), 0, &g, 1)
            .unwrap();
    run(ctx, &[&d1, &d2]);
    assert_close(
        "weight gradient over 4.2M pixels",
        &down(ctx, &gw).await,
        &dw,
    );
}
gpu_test!(
    conv2d_weight_gradient_over_millions_of_pixels_matches_reference,
    conv2d_weight_gradient_over_millions_of_pixels
);

async fn conv2d_passes_match_reference(ctx: &GpuContext) {
    let mut rng = Rng::new(11);
    for &(n, c_in, h, w, c_out, k, stride, padding, groups) in &CONV_CASES {
        let g = Conv2dGeom::new([c_in, h, w], c_out, k, stride, padding, groups).unwrap();
        let case = format!("{:?} conv {g:?} n={n}", ctx.gemm());
        let x = random(n * g.in_len(), &mut rng);
        let wt = random(g.weight_len(), &mut rng);
        let b = random(c_out, &mut rng);
        let dout = random(n * g.out_len(), &mut rng);
        let w_off = 3;
        let (wb, b_off) = flat_params(&wt, &b, w_off, 1, 0.5);

        let mut out = vec![0.0; n * g.out_len()];
        conv_ref::conv2d_forward(&mut out, &x, &wt, Some(&b), &g, n);
        let (gx, gwb, gout) = (
            up(ctx, &x),
            up(ctx, &wb),
            GpuBuffer::zeros(ctx, "out", out.len()),
        );
        for relu in [false, true] {
            let d = ops::conv2d_forward(ctx, &gout, &gx, &gwb, w_off, Some(b_off), &g, n, relu)
                .unwrap();
            run(ctx, &[&d]);
            let want: Vec<f32> = if relu {
                out.iter().map(|v| v.max(0.0)).collect()
            } else {
                out.clone()
            };
            assert_close(
                &format!("{case} forward relu={relu}"),
                &down(ctx, &gout).await,
                &want,
            );
        }

        // Backward input accumulates onto what dx held.
        let dx0 = random(n * g.in_len(), &mut rng);
        let mut dx = dx0.clone();
        conv_ref::conv2d_backward_input(&mut dx, &dout, &wt, &g, n);
        let (gdx, gdout) = (up(ctx, &dx0), up(ctx, &dout));
        let d = ops::conv2d_backward_input(ctx, &gdx, &gdout, &gwb, w_off, &g, n).unwrap();
        run(ctx, &[&d]);
        assert_close(
            &format!("{case} backward input"),
            &down(ctx, &gdx).await,
            &dx,
        );

        let mut grads = random(wb.len(), &mut rng);
        let gg = up(ctx, &grads);
        let part = GpuBuffer::zeros(ctx, "part", ops::conv2d_weight_scratch(&g, n));
        let [d1, d2] =
            ops::conv2d_backward_weight(ctx, &gg, &part, &gdout, &gx, w_off, &g, n).unwrap();
        let d3 = ops::bias_backward(ctx, &gg, &gdout, b_off, c_out, g.h_out * g.w_out, n).unwrap();
        run(ctx, &[&d1, &d2, &d3]);
        let (head, tail) = grads.split_at_mut(b_off);
        conv_ref::conv2d_backward_weight(
            &mut head[w_off..w_off + g.weight_len()],
            Some(&mut tail[..c_out]),
            &dout,
            &x,
            &g,
            n,
        );
        assert_close(
            &format!("{case} backward weight"),
            &down(ctx, &gg).await,
            &grads,
        );
    }
}
gpu_test!(
    conv2d_all_passes_match_reference_on_awkward_shapes,
    conv2d_all_passes_match_reference
);

/// The Winograd F(2×2, 3×3) forward, input gradient and weight gradient against the reference: cnn-gap's two
/// 3×3 layers, odd sides (a last block half outside), channel counts that are not multiples of
/// 8 (the product's lanes clamp), `same` and `valid` padding, one image, and scratch too small
/// for the batch (several chunks). Any adapter: the passes are not tied to software ones.
async fn winograd_matches_reference(ctx: &GpuContext) {
    let mut rng = Rng::new(21);
    // (n, c_in, h, w, c_out, padding, scratch images)
    let cases = [
        (2, 32, 31, 31, 64, Padding::Valid, None),
        (2, 64, 14, 14, 128, Padding::Valid, None),
        (1, 8, 3, 3, 1, Padding::Valid, None),
        (3, 9, 7, 10, 13, Padding::Same, Some(1)),
        (5, 12, 9, 6, 8, Padding::Same, Some(2)),
        (7, 16, 5, 8, 20, Padding::Valid, Some(2)),
        // Only the input gradient applies (3 input channels): 3 destination lanes of 8.
        (2, 3, 7, 9, 16, Padding::Same, Some(1)),
        // Scratch for far more images than the batch, as a model's largest layer leaves it.
        (3, 8, 6, 6, 8, Padding::Same, Some(40)),
    ];
    for (n, c_in, h, w, c_out, padding, chunk) in cases {
        let g = Conv2dGeom::new([c_in, h, w], c_out, 3, 1, padding, 1).unwrap();
        let case = format!("Winograd {g:?} n={n}");
        let sizes = ops::winograd_scratch(&g, chunk.unwrap_or(n).max(1));
        let scratch = ops::WinogradScratch::new(ctx, sizes);
        let x = random(n * g.in_len(), &mut rng);
        let wt = random(g.weight_len(), &mut rng);
        let b = random(c_out, &mut rng);
        let w_off = 5;
        let (wb, b_off) = flat_params(&wt, &b, w_off, 2, 0.25);
        let mut out = vec![0.0; n * g.out_len()];
        conv_ref::conv2d_forward(&mut out, &x, &wt, Some(&b), &g, n);
        let (gx, gwb, gout) = (
            up(ctx, &x),
            up(ctx, &wb),
            GpuBuffer::zeros(ctx, "out", out.len()),
        );
        for relu in [false, true].into_iter().filter(|_| c_in >= 8) {
            let ds = ops::conv2d_forward_winograd(
                ctx,
                &gout,
                &gx,
                &gwb,
                &scratch,
                w_off,
                Some(b_off),
                &g,
                n,
                relu,
            )
            .unwrap();
            if chunk.is_some_and(|c| c < n) {
                assert!(ds.len() > 4, "{case}: one chunk");
            }
            run(ctx, &ds.iter().collect::<Vec<_>>());
            let want: Vec<f32> = out
                .iter()
                .map(|&v| if relu { v.max(0.0) } else { v })
                .collect();
            assert_close(
                &format!("{case} forward relu={relu}"),
                &down(ctx, &gout).await,
                &want,
            );
        }
        if c_in >= 8 && c_out >= 8 {
            // The weight gradient adds onto what the gradients held (at w_off).
            let dout = random(n * g.out_len(), &mut rng);
            let mut grads = random(wb.len(), &mut rng);
            let gg = up(ctx, &grads);
            let ds = ops::conv2d_backward_weight_winograd(
                ctx,
                &gg,
                &scratch,
                &up(ctx, &dout),
                &gx,
                w_off,
                &g,
                n,
            )
            .unwrap();
            if chunk.is_some_and(|c| c < n) {
                assert!(ds.len() > 4, "{case}: one chunk");
            }
            run(ctx, &ds.iter().collect::<Vec<_>>());
            conv_ref::conv2d_backward_weight(
                &mut grads[w_off..w_off + g.weight_len()],
                None,
                &dout,
                &x,
                &g,
                n,
            );
            assert_close(
                &format!("{case} backward weight"),
                &down(ctx, &gg).await,
                &grads,
            );
        }
        if c_out >= 8 {
            let dout = random(n * g.out_len(), &mut rng);
            let dx0 = random(n * g.in_len(), &mut rng);
            let mut dx = dx0.clone();
            conv_ref::conv2d_backward_input(&mut dx, &dout, &wt, &g, n);
            let gdx = up(ctx, &dx0);
            let ds = ops::conv2d_backward_input_winograd(
                ctx,
                &gdx,
                &up(ctx, &dout),
                &gwb,
                &scratch,
                w_off,
                &g,
                n,
            )
            .unwrap();
            if chunk.is_some_and(|c| c < n) {
                assert!(ds.len() > 4, "{case}: one chunk");
            }
            run(ctx, &ds.iter().collect::<Vec<_>>());
            assert_close(
                &format!("{case} backward input"),
                &down(ctx, &gdx).await,
                &dx,
            );
        }
    }
    // A layer whose one image would need more than 16 MB of blocks stays on the strip kernel.
    let huge = Conv2dGeom::new([64, 260, 260], 64, 3, 1, Padding::Same, 1).unwrap();
    assert_eq!(ops::winograd_scratch(&huge, 8), [0; 3]);
    // So does a layer whose transformed kernels would (1,100 × 1,100 channels).
    let wide = Conv2dGeom::new([1100, 4, 4], 1100, 3, 1, Padding::Same, 1).unwrap();
    assert_eq!(ops::winograd_scratch(&wide, 1), [0; 3]);
    // Where Winograd does not apply, scratch too small for its kernels, and scratch too small
    // for one image's blocks: clear errors.
    let b = GpuBuffer::zeros(ctx, "b", 4096);
    let tiny = ops::WinogradScratch::new(ctx, [1, 1, 1]);
    let g = Conv2dGeom::new([8, 6, 6], 8, 3, 2, Padding::Same, 1).unwrap();
    let e =
        ops::conv2d_forward_winograd(ctx, &b, &b, &b, &tiny, 0, None, &g, 1, false).unwrap_err();
    assert!(e.to_string().contains("stride 1"), "{e}");
    let g = Conv2dGeom::new([8, 6, 6], 8, 3, 1, Padding::Same, 1).unwrap();
    let e =
        ops::conv2d_forward_winograd(ctx, &b, &b, &b, &tiny, 0, None, &g, 1, false).unwrap_err();
    assert!(e.to_string().contains("Winograd weights"), "{e}");
    let kernels_only = ops::WinogradScratch::new(ctx, [16 * 8 * 8, 1, 1]);
    let e = ops::conv2d_forward_winograd(ctx, &b, &b, &b, &kernels_only, 0, None, &g, 1, false)
        .unwrap_err();
    assert!(e.to_string().contains("blocks of an image"), "{e}");
    // No images, no dispatches.
    let s = ops::WinogradScratch::new(ctx, ops::winograd_scratch(&g, 1));
    let ds = ops::conv2d_backward_weight_winograd(ctx, &b, &s, &b, &b, 0, &g, 0).unwrap();
    assert!(ds.is_empty(), "{} dispatches for no images", ds.len());
}
gpu_test!(
    winograd_convolutions_match_reference,
    winograd_matches_reference
);

async fn dense_all_passes_match_reference(ctx: &GpuContext) {
    dense_passes_match_reference(ctx).await;
    dense_passes_match_reference(&ctx.with_gemm(ctx.gemm().other())).await;
}

async fn dense_passes_match_reference(ctx: &GpuContext) {
    let mut rng = Rng::new(12);
    // (n, inputs, outputs): 1×1×1, 7×7×7, 123×255×72 (M×N×K of the forward), cnn-gap's head.
    for (n, inputs, outputs) in [
        (1, 1, 1),
        (7, 7, 7),
        (123, 72, 255),
        (64, 128, 64),
        (5, 3, 130),
    ] {
        let g = DenseGeom { inputs, outputs };
        let case = format!("{:?} dense n={n} in={inputs} out={outputs}", ctx.gemm());
        let x = random(n * inputs, &mut rng);
        let w = random(inputs * outputs, &mut rng);
        let b = random(outputs, &mut rng);
        let dy = random(n * outputs, &mut rng);
        let (w_off, b_off) = (1, 1 + inputs * outputs);
        let mut wb = vec![0.0; b_off + outputs];
        wb[w_off..b_off].copy_from_slice(&w);
        wb[b_off..].copy_from_slice(&b);
        let (gx, gwb, gdy) = (up(ctx, &x), up(ctx, &wb), up(ctx, &dy));

        let mut y = vec![0.0; n * outputs];
        dense_ref::dense_forward(&mut y, &x, &w, Some(&b), &g, n);
        let gy = GpuBuffer::zeros(ctx, "y", y.len());
        run(
            ctx,
            &[&ops::dense_forward(ctx, &gy, &gx, &gwb, w_off, Some(b_off), &g, n, false).unwrap()],
        );
        assert_close(&format!("{case} forward"), &down(ctx, &gy).await, &y);

        let dx0 = random(n * inputs, &mut rng);
        let mut dx = dx0.clone();
        dense_ref::dense_backward_input(&mut dx, &dy, &w, &g, n);
        let gdx = up(ctx, &dx0);
        run(
            ctx,
            &[&ops::dense_backward_input(ctx, &gdx, &gdy, &gwb, w_off, &g, n).unwrap()],
        );
        assert_close(
            &format!("{case} backward input"),
            &down(ctx, &gdx).await,
            &dx,
        );

        let mut grads = random(wb.len(), &mut rng);
        let gg = up(ctx, &grads);
        let d1 = ops::dense_backward_weight(ctx, &gg, &gdy, &gx, w_off, &g, n).unwrap();
        let d2 = ops::bias_backward(ctx, &gg, &gdy, b_off, outputs, 1, n).unwrap();
        run(ctx, &[&d1, &d2]);
        let (head, tail) = grads.split_at_mut(b_off);
        dense_ref::dense_backward_weight(&mut head[w_off..], Some(tail), &dy, &x, &g, n);
        assert_close(
            &format!("{case} backward weight"),
            &down(ctx, &gg).await,
            &grads,
        );
    }
}
gpu_test!(
    dense_all_passes_match_reference_on_awkward_shapes,
    dense_all_passes_match_reference
);

async fn pools_match_reference(ctx: &GpuContext) {
    let mut rng = Rng::new(13);
    // (n, c, h, w, size, stride, padding)
    let cases = [
        (1, 1, 2, 2, 2, 2, Padding::Valid),
        (2, 3, 7, 7, 2, 2, Padding::Valid),
        (1, 2, 9, 11, 3, 2, Padding::Same),
        (3, 4, 13, 10, 3, 1, Padding::Same),
        (2, 5, 62, 62, 2, 2, Padding::Valid),
        // Disjoint windows (the scatter kernel) clipped by the edge, and 3×3 at stride 3.
        (1, 2, 7, 9, 2, 2, Padding::Same),
        (2, 3, 10, 8, 3, 3, Padding::Same),
        // PyTorch's explicit padding: ResNet's 3×3 / 2 max pool with padding 1, and 2 with 5×5.
        (2, 3, 12, 9, 3, 2, Padding::Explicit(1)),
        (1, 2, 7, 6, 5, 1, Padding::Explicit(2)),
    ];
    for (n, c, h, w, size, stride, padding) in cases {
        let g = PoolGeom::new([c, h, w], size, stride, padding).unwrap();
        let case = format!("pool {g:?} n={n}");
        let x = random(n * g.in_len(), &mut rng);
        let dout = random(n * g.out_len(), &mut rng);
        let dx0 = random(n * g.in_len(), &mut rng);
        let (gx, gdout) = (up(ctx, &x), up(ctx, &dout));

        let mut out = vec![0.0; n * g.out_len()];
        let mut am = vec![0u32; out.len()];
        pool::max_pool_forward(&mut out, &mut am, &x, &g, n).unwrap();
        let (gout, gam) = (
            GpuBuffer::zeros(ctx, "out", out.len()),
            GpuBuffer::zeros(ctx, "am", out.len()),
        );
        run(
            ctx,
            &[&ops::max_pool_forward(ctx, &gout, &gam, &gx, &g, n).unwrap()],
        );
        assert_close(
            &format!("{case} max forward"),
            &down(ctx, &gout).await,
            &out,
        );
        assert_eq!(gam.read_u32(ctx).await.unwrap(), am, "{case} argmax");

        let mut dx = dx0.clone();
        pool::max_pool_backward(&mut dx, &dout, &am, &g, n, GradWrite::Add).unwrap();
        let gdx = up(ctx, &dx0);
        run(
            ctx,
            &[&ops::max_pool_backward(ctx, &gdx, &gdout, &gam, &g, n).unwrap()],
        );
        assert_close(&format!("{case} max backward"), &down(ctx, &gdx).await, &dx);

        pool::avg_pool_forward(&mut out, &x, &g, n).unwrap();
        run(
            ctx,
            &[&ops::planar(ctx, ops::Pass::Forward, &gout, &gx, &ops::AvgPool(&g), n).unwrap()],
        );
        assert_close(
            &format!("{case} avg forward"),
            &down(ctx, &gout).await,
            &out,
        );

        let mut dx = dx0.clone();
        pool::avg_pool_backward(&mut dx, &dout, &g, n, GradWrite::Add).unwrap();
        let gdx = up(ctx, &dx0);
        run(
            ctx,
            &[&ops::planar(ctx, ops::Pass::Backward, &gdx, &gdout, &ops::AvgPool(&g), n).unwrap()],
        );
        assert_close(&format!("{case} avg backward"), &down(ctx, &gdx).await, &dx);
    }
}
gpu_test!(
    max_and_avg_pool_match_reference_with_stride_and_padding,
    pools_match_reference
);

async fn adaptive_pool_matches_reference(ctx: &GpuContext) {
    use crate::ops::adaptive_pool::{self, AdaptivePoolGeom};
    let mut rng = Rng::new(15);
    // (n, c, h, w, h_out, w_out): overlapping bins, one cell repeated, uneven, growing one axis.
    let cases = [
        (2, 3, 7, 7, 6, 6),
        (1, 4, 1, 1, 6, 6),
        (3, 2, 13, 10, 7, 7),
        (2, 1, 5, 3, 2, 4),
        (1, 5, 15, 15, 7, 7),
    ];
    for (n, c, h, w, ho, wo) in cases {
        let g = AdaptivePoolGeom::new([c, h, w], ho, wo).unwrap();
        let case = format!("adaptive pool {g:?} n={n}");
        let x = random(n * g.in_len(), &mut rng);
        let dout = random(n * g.out_len(), &mut rng);
        let dx0 = random(n * g.in_len(), &mut rng);
        let mut out = vec![0.0; n * g.out_len()];
        adaptive_pool::adaptive_avg_pool_forward(&mut out, &x, &g, n).unwrap();
        let (gx, gout) = (up(ctx, &x), GpuBuffer::zeros(ctx, "out", out.len()));
        run(
            ctx,
            &[&ops::planar(ctx, ops::Pass::Forward, &gout, &gx, &g, n).unwrap()],
        );
        assert_close(&format!("{case} forward"), &down(ctx, &gout).await, &out);

        let mut dx = dx0.clone();
        adaptive_pool::adaptive_avg_pool_backward(&mut dx, &dout, &g, n).unwrap();
        let (gdx, gdout) = (up(ctx, &dx0), up(ctx, &dout));
        run(
            ctx,
            &[&ops::planar(ctx, ops::Pass::Backward, &gdx, &gdout, &g, n).unwrap()],
        );
        assert_close(&format!("{case} backward"), &down(ctx, &gdx).await, &dx);
    }
}
gpu_test!(
    adaptive_avg_pool_matches_reference,
    adaptive_pool_matches_reference
);

async fn elementwise_ops_match_reference(ctx: &GpuContext) {
    let mut rng = Rng::new(14);
    for len in [1usize, 7, 255, 256, 257, 100_003] {
        let a = random(len, &mut rng);
        let b = random(len, &mut rng);
        let d0 = random(len, &mut rng);
        let (ga, gb) = (up(ctx, &a), up(ctx, &b));

        let mut y = vec![0.0; len];
        relu::relu_forward(&mut y, &a).unwrap();
        let gy = GpuBuffer::zeros(ctx, "y", len);
        run(ctx, &[&ops::relu_forward(ctx, &gy, &ga, len).unwrap()]);
        assert_close("relu forward", &down(ctx, &gy).await, &y);

        let mut dx = d0.clone();
        relu::relu_backward(&mut dx, &b, &y, GradWrite::Add).unwrap();
        let gdx = up(ctx, &d0);
        run(
            ctx,
            &[&ops::relu_backward(ctx, &gdx, &gb, &gy, len).unwrap()],
        );
        assert_close("relu backward", &down(ctx, &gdx).await, &dx);

        let mut masked = b.clone();
        relu::relu_mask(&mut masked, &y).unwrap();
        let gm = up(ctx, &b);
        run(ctx, &[&ops::relu_mask(ctx, &gm, &gy, len).unwrap()]);
        assert_close("relu mask", &down(ctx, &gm).await, &masked);

        // ReLU6 over inputs that reach past 6.
        let wide: Vec<f32> = a.iter().map(|v| v * 9.0).collect();
        let gwide = up(ctx, &wide);
        let mut y6 = vec![0.0; len];
        relu::relu6_forward(&mut y6, &wide).unwrap();
        let gy6 = GpuBuffer::zeros(ctx, "y6", len);
        run(ctx, &[&ops::relu6_forward(ctx, &gy6, &gwide, len).unwrap()]);
        assert_close("relu6 forward", &down(ctx, &gy6).await, &y6);
        let mut dx = d0.clone();
        relu::relu6_backward(&mut dx, &b, &y6).unwrap();
        let gdx = up(ctx, &d0);
        run(
            ctx,
            &[&ops::relu6_backward(ctx, &gdx, &gb, &gy6, len).unwrap()],
        );
        assert_close("relu6 backward", &down(ctx, &gdx).await, &dx);

        add::add_forward(&mut y, &a, &b).unwrap();
        run(ctx, &[&ops::add_forward(ctx, &gy, &ga, &gb, len).unwrap()]);
        assert_close("add forward", &down(ctx, &gy).await, &y);

        let (mut da, mut db) = (d0.clone(), a.clone());
        add::add_backward(&mut da, &mut db, &b).unwrap();
        let (gda, gdb) = (up(ctx, &d0), up(ctx, &a));
        run(
            ctx,
            &[
                &ops::add_backward(ctx, &gda, &gb, len).unwrap(),
                &ops::add_backward(ctx, &gdb, &gb, len).unwrap(),
            ],
        );
        assert_close("add backward a", &down(ctx, &gda).await, &da);
        assert_close("add backward b", &down(ctx, &gdb).await, &db);

        // Dropout draws the CPU's mask from the same key.
        for rate in [0.0f32, 0.3, 0.5] {
            let mut mask = vec![0.0; len];
            let mut key_rng = Rng::new(len as u64);
            let key = key_rng.clone().next_u64();
            dropout::dropout_mask(&mut mask, rate, &mut key_rng);
            dropout::dropout_forward(&mut y, &a, &mask).unwrap();
            let gmask = GpuBuffer::zeros(ctx, "mask", len);
            run(
                ctx,
                &[&ops::dropout_forward(ctx, &gy, &gmask, &ga, len, rate, key).unwrap()],
            );
            assert_eq!(
                down(ctx, &gmask).await,
                mask,
                "dropout mask rate {rate} len {len}"
            );
            assert_close("dropout forward", &down(ctx, &gy).await, &y);
            let mut dx = d0.clone();
            dropout::dropout_backward(&mut dx, &b, &mask).unwrap();
            let gdx = up(ctx, &d0);
            run(
                ctx,
                &[&ops::dropout_backward(ctx, &gdx, &gb, &gmask, len).unwrap()],
            );
            assert_close("dropout backward", &down(ctx, &gdx).await, &dx);
        }
    }
}
gpu_test!(
    relu_add_dropout_match_reference,
    elementwise_ops_match_reference
);

async fn gap_and_concat_agree(ctx: &GpuContext) {
    let mut rng = Rng::new(15);
    // A software adapter's context pools planes up to 16,384 long with a thread each, a hardware
    // one with a workgroup each: the adapter's, then the other one.
    let other = ctx.with_gemm(ctx.gemm().other());
    for (ctx, (planes, plane)) in [ctx, &other]
        .into_iter()
        .flat_map(|c| [(1, 1), (7, 49), (128, 3600), (3, 100_000)].map(|s| (c, s)))
    {
        let x = random(planes * plane, &mut rng);
        let mut out = vec![0.0; planes];
        gap::gap_forward(&mut out, &x, plane).unwrap();
        let (gx, gout) = (up(ctx, &x), GpuBuffer::zeros(ctx, "out", planes));
        run(
            ctx,
            &[&ops::gap_forward(ctx, &gout, &gx, planes, plane).unwrap()],
        );
        let case = format!("gap forward {planes}×{plane} {:?}", ctx.gemm());
        assert_close(&case, &down(ctx, &gout).await, &out);
        let dout = random(planes, &mut rng);
        let mut dx = x.clone();
        gap::gap_backward(&mut dx, &dout, plane, GradWrite::Add).unwrap();
        run(
            ctx,
            &[&ops::gap_backward(ctx, &gx, &up(ctx, &dout), planes, plane).unwrap()],
        );
        assert_close("gap backward", &down(ctx, &gx).await, &dx);
    }
    let n = 3;
    let (la, lb) = (5, 17);
    let (a, b) = (random(n * la, &mut rng), random(n * lb, &mut rng));
    let mut y = vec![0.0; n * (la + lb)];
    concat::concat_forward(&mut y, &[&a, &b], n).unwrap();
    let (ga, gb, gy) = (
        up(ctx, &a),
        up(ctx, &b),
        GpuBuffer::zeros(ctx, "y", y.len()),
    );
    run(
        ctx,
        &[
            &ops::concat_forward(ctx, &gy, &ga, n, la, la + lb, 0).unwrap(),
            &ops::concat_forward(ctx, &gy, &gb, n, lb, la + lb, la).unwrap(),
        ],
    );
    assert_close("concat forward", &down(ctx, &gy).await, &y);
    let dy = random(y.len(), &mut rng);
    let (mut da, mut db) = (a.clone(), b.clone());
    concat::concat_backward(&mut [&mut da, &mut db], &dy, n).unwrap();
    let gdy = up(ctx, &dy);
    run(
        ctx,
        &[
            &ops::concat_backward(ctx, &ga, &gdy, n, la, la + lb, 0).unwrap(),
            &ops::concat_backward(ctx, &gb, &gdy, n, lb, la + lb, la).unwrap(),
        ],
    );
    assert_close("concat backward a", &down(ctx, &ga).await, &da);
    assert_close("concat backward b", &down(ctx, &gb).await, &db);
}
gpu_test!(gap_and_concat_match_reference, gap_and_concat_agree);

async fn softmax_ce_matches_reference(ctx: &GpuContext) {
    let mut rng = Rng::new(16);
    for (n, classes) in [(1, 10), (7, 3), (300, 10)] {
        let logits: Vec<f32> = random(n * classes, &mut rng)
            .iter()
            .map(|v| v * 8.0)
            .collect();
        let labels: Vec<u16> = (0..n).map(|i| ((i * 7 + 3) % classes) as u16).collect();
        let mut probs = vec![0.0; n * classes];
        let out = softmax_ce::softmax_ce_forward(&mut probs, &logits, &labels, classes).unwrap();
        let mut dl = vec![0.0; n * classes];
        softmax_ce::softmax_ce_backward(&mut dl, &probs, &labels, classes).unwrap();

        let labels32: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
        let (glog, glab) = (
            up(ctx, &logits),
            GpuBuffer::from_u32(ctx, "labels", &labels32),
        );
        let (gp, gm, gdl) = (
            GpuBuffer::zeros(ctx, "p", probs.len()),
            GpuBuffer::zeros(ctx, "m", 8),
            GpuBuffer::zeros(ctx, "dl", dl.len()),
        );
        run(
            ctx,
            &[
                &ops::softmax_ce_forward(ctx, &gp, &gm, &glog, &glab, n, classes, 2).unwrap(),
                &ops::softmax_ce_backward(ctx, &gdl, &gp, &glab, n, classes, 1.0).unwrap(),
            ],
        );
        assert_close("softmax probs", &down(ctx, &gp).await, &probs);
        assert_close("softmax dlogits", &down(ctx, &gdl).await, &dl);
        let m = down(ctx, &gm).await;
        assert_close("softmax loss", &m[4..5], &[out.loss]);
        assert_eq!(m[5], out.correct as f32, "correct count");
    }
}
gpu_test!(
    softmax_ce_loss_correct_count_and_gradient_match_reference,
    softmax_ce_matches_reference
);

async fn optimizers_match_reference(ctx: &GpuContext) {
    let mut rng = Rng::new(17);
    let len = 1000;
    let specs = [
        OptimizerSpec::adam(1e-3),
        OptimizerSpec::Adam {
            lr: 0.01,
            beta1: 0.8,
            beta2: 0.99,
            eps: 1e-6,
            weight_decay: 0.01,
        },
        OptimizerSpec::sgd(0.05),
        OptimizerSpec::Sgd {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 1e-3,
            nesterov: true,
        },
        OptimizerSpec::Sgd {
            lr: 0.1,
            momentum: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        },
    ];
    for spec in specs {
        let mut p = random(len, &mut rng);
        let mut opt = Optimizer::new(spec, len).unwrap();
        let (gp, gm, gv) = (
            up(ctx, &p),
            GpuBuffer::zeros(ctx, "m", len),
            GpuBuffer::zeros(ctx, "v", len),
        );
        let gg = GpuBuffer::zeros(ctx, "g", len);
        let d = ops::optimizer_update(ctx, &gp, &gg, &gm, &gv, len, &spec, 1).unwrap();
        for step in 1..=5u32 {
            let g = random(len, &mut rng);
            opt.step(&mut p, &g).unwrap();
            gg.write_f32(ctx, &g);
            if let OptimizerSpec::Adam { .. } = spec {
                d.set_params(ctx, &ops::adam_params(&spec, len, step).unwrap());
            }
            run(ctx, &[&d]);
        }
        assert_close(&format!("{spec:?}"), &down(ctx, &gp).await, &p);
    }
}
gpu_test!(
    sgd_and_adam_steps_match_reference,
    optimizers_match_reference
);

async fn canvas_placement_matches_fill_batch(ctx: &GpuContext) {
    use crate::data::{Dataset, fill_batch};
    let n = 5;
    let images: Vec<u8> = (0..n * 784).map(|i| (i * 31 % 256) as u8).collect();
    let data = Dataset::new(images, (0..n as u8).collect()).unwrap();
    let indices = [4usize, 0, 2];
    let offsets = [(0usize, 36usize), (18, 18), (36, 0)];
    let (mut x, mut y) = (Vec::new(), Vec::new());
    fill_batch(&data, &indices, &offsets, 64, &mut x, &mut y).unwrap();
    let mut bytes: Vec<u8> = indices
        .iter()
        .flat_map(|&i| data.image(i).to_vec())
        .collect();
    bytes.resize(bytes.len().div_ceil(4) * 4, 0);
    let words: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let offs: Vec<u32> = offsets
        .iter()
        .flat_map(|&(dx, dy)| [dx as u32, dy as u32])
        .collect();
    let table: Vec<f32> = (0..256).map(|b| b as f32 / 255.0).collect();
    let out = GpuBuffer::zeros(ctx, "canvas", x.len());
    let d = ops::canvas_place(
        ctx,
        &out,
        &GpuBuffer::from_u32(ctx, "images", &words),
        &GpuBuffer::from_u32(ctx, "offsets", &offs),
        &up(ctx, &table),
        indices.len(),
        64,
    )
    .unwrap();
    run(ctx, &[&d]);
    assert_eq!(
        down(ctx, &out).await,
        x,
        "canvas placement is bit-identical"
    );
}
gpu_test!(
    canvas_placement_is_bit_identical_to_fill_batch,
    canvas_placement_matches_fill_batch
);

async fn bad_sizes_are_errors(ctx: &GpuContext) {
    let small = GpuBuffer::zeros(ctx, "small", 3);
    let g = Conv2dGeom::new([1, 5, 5], 2, 3, 1, Padding::Valid, 1).unwrap();
    let err = ops::conv2d_forward(ctx, &small, &small, &small, 0, None, &g, 1, false).unwrap_err();
    // The kernel and the binding that did not fit, with the sizes.
    let err = err.to_string();
    assert!(
        err.contains("Conv2dForward") && err.contains("at least 25"),
        "{err}"
    );
}
gpu_test!(undersized_buffers_are_clear_errors, bad_sizes_are_errors);

async fn batchnorm_matches_reference(ctx: &GpuContext) {
    use crate::ops::batchnorm::{self, BatchNormGeom, ChannelStats};
    let mut rng = Rng::new(18);
    for (n, c, plane) in [(1, 1, 1), (2, 7, 49), (5, 3, 1), (4, 16, 300)] {
        let g = BatchNormGeom {
            c,
            plane,
            eps: 1e-3,
            momentum: 0.1,
        };
        let case = format!("batchnorm n={n} c={c} plane={plane}");
        let len = n * c * plane;
        let x: Vec<f32> = random(len, &mut rng)
            .iter()
            .map(|v| 3.0 * v + 1.0)
            .collect();
        let (gamma, beta) = (random(c, &mut rng), random(c, &mut rng));
        let dy = random(len, &mut rng);
        let dx0 = random(len, &mut rng);
        // Parameters: [pad, γ, β]; statistics: [pad, mean, var].
        let at = ops::BatchNormAt {
            gamma: 1,
            beta: 1 + c,
            mean: 2,
            var: 2 + c,
        };
        let mut params = vec![0.0; 1 + 2 * c];
        params[1..1 + c].copy_from_slice(&gamma);
        params[1 + c..].copy_from_slice(&beta);
        let (mut rm, mut rv) = (random(c, &mut rng), vec![1.5; c]);
        let mut running = vec![0.0; 2 + 2 * c];
        running[2..2 + c].copy_from_slice(&rm);
        running[2 + c..].copy_from_slice(&rv);
        let (gx, gp, grun) = (up(ctx, &x), up(ctx, &params), up(ctx, &running));
        let (gy, gstats, gsums) = (
            GpuBuffer::zeros(ctx, "y", len),
            GpuBuffer::zeros(ctx, "stats", 2 * c),
            GpuBuffer::zeros(ctx, "sums", 2 * c),
        );

        let mut y = vec![0.0; len];
        batchnorm::batchnorm_forward_eval(&mut y, &x, &gamma, &beta, &rm, &rv, &g, n).unwrap();
        run(
            ctx,
            &[
                &ops::batchnorm_forward_eval(ctx, &gy, &gstats, &grun, &gx, &gp, at, &g, n)
                    .unwrap(),
            ],
        );
        assert_close(&format!("{case} eval"), &down(ctx, &gy).await, &y);

        let mut stats = vec![ChannelStats::default(); c];
        batchnorm::batchnorm_forward_train(
            &mut y, &mut stats, &mut rm, &mut rv, &x, &gamma, &beta, &g, n,
        )
        .unwrap();
        let [d1, d2] =
            ops::batchnorm_forward_train(ctx, &gy, &gstats, &grun, &gx, &gp, at, &g, n).unwrap();
        run(ctx, &[&d1, &d2]);
        assert_close(&format!("{case} train"), &down(ctx, &gy).await, &y);
        let run_gpu = down(ctx, &grun).await;
        assert_close(&format!("{case} running mean"), &run_gpu[2..2 + c], &rm);
        assert_close(&format!("{case} running var"), &run_gpu[2 + c..], &rv);

        let mut dx = dx0.clone();
        let (mut dgamma, mut dbeta) = (vec![0.25; c], vec![-0.5; c]);
        batchnorm::batchnorm_backward(
            &mut dx,
            &mut dgamma,
            &mut dbeta,
            &dy,
            &x,
            &gamma,
            &stats,
            &g,
            n,
            GradWrite::Add,
        )
        .unwrap();
        let mut grads = vec![0.0; params.len()];
        grads[1..1 + c].fill(0.25);
        grads[1 + c..].fill(-0.5);
        let (gdx, gg, gdy) = (up(ctx, &dx0), up(ctx, &grads), up(ctx, &dy));
        let [d1, d2] =
            ops::batchnorm_backward(ctx, &gdx, &gg, &gsums, &gdy, &gx, &gp, &gstats, at, &g, n)
                .unwrap();
        run(ctx, &[&d1, &d2]);
        assert_close(&format!("{case} dx"), &down(ctx, &gdx).await, &dx);
        let gg = down(ctx, &gg).await;
        assert_close(&format!("{case} dgamma"), &gg[1..1 + c], &dgamma);
        assert_close(&format!("{case} dbeta"), &gg[1 + c..], &dbeta);
    }
}
gpu_test!(
    batchnorm_train_eval_and_backward_match_reference,
    batchnorm_matches_reference
);
