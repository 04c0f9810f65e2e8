//! The lecture's first half: LeNet-5, AlexNet, VGG, Network-in-Network, and the lecture's Keras
//! Inception example, each scaled to 28×28 / 64×64 digits.

use super::*;

/// LeNet-5 (LeCun 1998) as Keras tutorials write it: 5×5 convolutions and 2×2 average-pool
/// subsampling, 120-84-10 dense layers. ReLU replaces tanh and the subsampling layers have no
/// trainable coefficient (LeNet's had one per map), so it trains with the same Adam settings as
/// every other preset.
pub fn lenet5() -> Vec<LayerSpec> {
    vec![
        conv("conv1", 6, 5, Padding::Same),
        avg_pool("pool1"),
        conv("conv2", 16, 5, Padding::Valid),
        avg_pool("pool2"),
        flatten("flatten"),
        dense("fc1", 120, Activation::Relu),
        dense("fc2", 84, Activation::Relu),
        output("output"),
    ]
}

/// AlexNet's traits at 1/30 scale: a large strided first kernel, overlapping 3×3 stride-2
/// max-pools, five ReLU convolutions, two dropout-regularised dense layers. Local response
/// normalisation is left out (later work found it does little). Pools use `same` padding so a
/// 28×28 input survives three of them.
pub fn alexnet_mini() -> Vec<LayerSpec> {
    let overlap = |name: &str| pool(name, 3, 2, Padding::Same);
    vec![
        conv_full("conv1", 32, 5, 2, Padding::Same, 1, Activation::Relu, true),
        overlap("pool1"),
        conv("conv2", 64, 3, Padding::Same),
        overlap("pool2"),
        conv("conv3", 96, 3, Padding::Same),
        conv("conv4", 96, 3, Padding::Same),
        conv("conv5", 64, 3, Padding::Same),
        overlap("pool3"),
        flatten("flatten"),
        dropout("dropout1", 0.5),
        dense("fc1", 128, Activation::Relu),
        dropout("dropout2", 0.5),
        dense("fc2", 128, Activation::Relu),
        output("output"),
    ]
}

/// VGG's idea: only 3×3 convolutions, two per stage, channels doubling as 2×2 max-pools halve the
/// map; two dense layers.
pub fn vgg_mini() -> Vec<LayerSpec> {
    let mut l = Vec::new();
    for (stage, filters) in [(1, 16), (2, 32), (3, 64)] {
        l.push(conv(&format!("conv{stage}_1"), filters, 3, Padding::Same));
        l.push(conv(&format!("conv{stage}_2"), filters, 3, Padding::Same));
        l.push(max_pool(&format!("pool{stage}")));
    }
    l.extend([
        flatten("flatten"),
        dense("fc1", 128, Activation::Relu),
        dropout("dropout1", 0.5),
        dense("fc2", 128, Activation::Relu),
        dropout("dropout2", 0.5),
        output("output"),
    ]);
    l
}

/// Network-in-Network (Lin 2013): mlpconv blocks (a spatial conv followed by two 1×1 convs, a
/// tiny MLP at every position), and no dense head: the last 1×1 conv has one map per class and
/// global average pooling turns each map into its class score. The last conv is linear so the
/// scores can be negative.
pub fn nin_mini() -> Vec<LayerSpec> {
    vec![
        conv("conv1", 32, 5, Padding::Same),
        conv("cccp1", 32, 1, Padding::Valid),
        conv("cccp2", 32, 1, Padding::Valid),
        max_pool("pool1"),
        dropout("dropout1", 0.5),
        conv("conv2", 64, 3, Padding::Same),
        conv("cccp3", 64, 1, Padding::Valid),
        conv("cccp4", 64, 1, Padding::Valid),
        max_pool("pool2"),
        dropout("dropout2", 0.5),
        conv("conv3", 64, 3, Padding::Same),
        conv("cccp5", 64, 1, Padding::Valid),
        conv_full(
            "cccp6",
            10,
            1,
            1,
            Padding::Valid,
            1,
            Activation::Linear,
            true,
        ),
        gap("gap"),
    ]
}

/// The lecture's Keras Inception example on 32×32×3 input: conv 3×3×32 `same`, max-pool, one
/// Inception module (1×1; 1×1 → 3×3; 1×1 → 5×5; 3×3 max-pool → 1×1), GAP, dropout, dense 10.
/// 78,218 parameters.
pub fn inception_lecture() -> Vec<LayerSpec> {
    vec![
        conv("conv", 32, 3, Padding::Same),
        max_pool("max_pool"),
        LayerSpec::Branches {
            name: "concat".into(),
            branches: vec![
                vec![conv("conv_1_1", 32, 1, Padding::Same)],
                vec![
                    conv("conv_2_1", 64, 1, Padding::Same),
                    conv("conv_2_2", 32, 3, Padding::Same),
                ],
                vec![
                    conv("conv_3_1", 64, 1, Padding::Same),
                    conv("conv_3_2", 32, 5, Padding::Same),
                ],
                vec![
                    pool("mp_4_1", 3, 1, Padding::Same),
                    conv("conv_4_1", 32, 1, Padding::Same),
                ],
            ],
        },
        gap("gap"),
        dropout("dropout", 0.5),
        output("dense"),
    ]
}
