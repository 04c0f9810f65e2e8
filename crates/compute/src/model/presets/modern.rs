//! The lecture's second half, small: Inception (1×1 bottlenecks, parallel branches, an auxiliary
//! classifier), ResNet (basic and bottleneck blocks with batch-norm), ResNeXt (grouped 3×3),
//! DenseNet (dense blocks, a transition) and MobileNet (depthwise separable convolutions).
//!
//! Blocks that use batch-norm put it after every bias-free convolution (conv → BN → ReLU). Each
//! network starts with a stem that halves the input, as the full-size ones do, so 64×64 input
//! costs no more than the lecture's cnn-gap.

use super::*;

/// One Inception module: 1×1; 1×1 → 3×3; 1×1 → 5×5; 3×3 max-pool → 1×1, concatenated.
fn inception(name: &str, [b1, r3, b3, r5, b5, bp]: [usize; 6]) -> LayerSpec {
    let c = |suffix: &str, filters, kernel| {
        conv(&format!("{name}_{suffix}"), filters, kernel, Padding::Same)
    };
    LayerSpec::Branches {
        name: name.into(),
        branches: vec![
            vec![c("1x1", b1, 1)],
            vec![c("3x3_reduce", r3, 1), c("3x3", b3, 3)],
            vec![c("5x5_reduce", r5, 1), c("5x5", b5, 5)],
            vec![
                pool(&format!("{name}_pool"), 3, 1, Padding::Same),
                c("pool_proj", bp, 1),
            ],
        ],
    }
}

/// GoogLeNet in miniature: stem, two Inception modules (64 and 128 channels) with a max-pool
/// between, an auxiliary classifier (1×1 conv, GAP, dense; loss weight 0.3 as GoogLeNet) after the
/// first module, GAP, dropout 0.4, dense 10.
pub fn inception_mini() -> Vec<LayerSpec> {
    vec![
        conv("conv1", 32, 3, Padding::Same),
        max_pool("pool1"),
        inception("inc_a", [16, 16, 24, 8, 8, 16]),
        max_pool("pool2"),
        LayerSpec::AuxHead {
            name: "aux".into(),
            weight: 0.3,
            layers: vec![
                conv("aux_conv", 32, 1, Padding::Valid),
                gap("aux_gap"),
                output("aux_output"),
            ],
        },
        inception("inc_b", [32, 24, 48, 8, 16, 32]),
        gap("gap"),
        dropout("dropout", 0.4),
        output("output"),
    ]
}

/// conv 3×3 (no bias) → BN → ReLU → 2×2 max-pool: the stem of the ResNet-style presets.
fn bn_stem(filters: usize) -> Vec<LayerSpec> {
    vec![
        conv_bn("conv1", filters, 3, 1, 1),
        bn("bn1"),
        relu("relu1"),
        max_pool("pool1"),
    ]
}

/// ResNet's basic block: 3×3 → BN → ReLU → 3×3 → BN, plus the shortcut (a strided 1×1
/// projection when the shape changes), then ReLU.
fn basic_block(name: &str, in_c: usize, filters: usize, stride: usize) -> [LayerSpec; 2] {
    let p = |s: &str| format!("{name}_{s}");
    let projection = (in_c != filters || stride != 1).then_some((filters, stride));
    [
        residual(
            name,
            vec![
                conv_bn(&p("conv1"), filters, 3, stride, 1),
                bn(&p("bn1")),
                relu(&p("relu1")),
                conv_bn(&p("conv2"), filters, 3, 1, 1),
                bn(&p("bn2")),
            ],
            projection,
        ),
        relu(&p("relu")),
    ]
}

/// ResNet's bottleneck block: 1×1 reduce to `width` → 3×3 (grouped for ResNeXt, strided) →
/// 1×1 expand to `out_c`, each followed by BN (ReLU but after the last), plus the shortcut.
fn bottleneck_block(
    name: &str,
    in_c: usize,
    width: usize,
    out_c: usize,
    stride: usize,
    groups: usize,
) -> [LayerSpec; 2] {
    let p = |s: &str| format!("{name}_{s}");
    let projection = (in_c != out_c || stride != 1).then_some((out_c, stride));
    [
        residual(
            name,
            vec![
                conv_bn(&p("conv1"), width, 1, 1, 1),
                bn(&p("bn1")),
                relu(&p("relu1")),
                conv_bn(&p("conv2"), width, 3, stride, groups),
                bn(&p("bn2")),
                relu(&p("relu2")),
                conv_bn(&p("conv3"), out_c, 1, 1, 1),
                bn(&p("bn3")),
            ],
            projection,
        ),
        relu(&p("relu")),
    ]
}

fn gap_head(mut l: Vec<LayerSpec>) -> Vec<LayerSpec> {
    l.extend([gap("gap"), output("output")]);
    l
}

/// ResNet-style: stem (16), three basic blocks of 16, 32 (stride 2) and 64 (stride 2) channels,
/// GAP, dense 10.
pub fn resnet_mini() -> Vec<LayerSpec> {
    let mut l = bn_stem(16);
    l.extend(basic_block("res1", 16, 16, 1));
    l.extend(basic_block("res2", 16, 32, 2));
    l.extend(basic_block("res3", 32, 64, 2));
    gap_head(l)
}

/// ResNet-50's block shape: stem (16), bottleneck 16→16→64, bottleneck 64→32→128 (stride 2).
pub fn resnet_bottleneck_mini() -> Vec<LayerSpec> {
    let mut l = bn_stem(16);
    l.extend(bottleneck_block("res1", 16, 16, 64, 1, 1));
    l.extend(bottleneck_block("res2", 64, 32, 128, 2, 1));
    gap_head(l)
}

/// ResNeXt: the bottleneck network with wider 3×3 convolutions split into 8 groups (cardinality
/// 8): 16→32(8×4)→64, 64→64(8×8)→128 (stride 2).
pub fn resnext_mini() -> Vec<LayerSpec> {
    let mut l = bn_stem(16);
    l.extend(bottleneck_block("res1", 16, 32, 64, 1, 8));
    l.extend(bottleneck_block("res2", 64, 64, 128, 2, 8));
    gap_head(l)
}

/// DenseNet: stem (16, no bias), max-pool, a dense block of 4 layers with growth 8 and a
/// transition to 24 channels (compression ½) with 2×2 average pooling, a second dense block of 4
/// layers, BN → ReLU → GAP, dense 10.
pub fn densenet_mini() -> Vec<LayerSpec> {
    let block = |name: &str, transition| LayerSpec::DenseBlock {
        name: name.into(),
        layers: 4,
        growth: 8,
        bottleneck: false,
        transition,
        padding_mode: PadMode::Zeros,
    };
    gap_head(vec![
        conv_bn("conv1", 16, 3, 1, 1),
        max_pool("pool1"),
        block("dense1", Some(24)),
        block("dense2", None),
        bn("bn_final"),
        relu("relu_final"),
    ])
}

/// MobileNet: a strided 3×3 stem, then depthwise separable blocks (3×3 depthwise → BN → ReLU →
/// 1×1 pointwise → BN → ReLU): 16→32, 32→64 (stride 2), 64→64, 64→128 (stride 2), 128→128.
pub fn mobilenet_mini() -> Vec<LayerSpec> {
    let mut l = vec![conv_bn("conv1", 16, 3, 2, 1), bn("bn1"), relu("relu1")];
    let blocks = [
        (16, 32, 1),
        (32, 64, 2),
        (64, 64, 1),
        (64, 128, 2),
        (128, 128, 1),
    ];
    for (i, (c_in, c_out, stride)) in blocks.into_iter().enumerate() {
        let p = |s: &str| format!("ds{}_{s}", i + 1);
        l.extend([
            conv_bn(&p("dw"), c_in, 3, stride, c_in),
            bn(&p("dw_bn")),
            relu(&p("dw_relu")),
            conv_bn(&p("pw"), c_out, 1, 1, 1),
            bn(&p("pw_bn")),
            relu(&p("pw_relu")),
        ]);
    }
    gap_head(l)
}
