//! The lectures' full-size networks exactly as torchvision defines them: the same layers, shapes,
//! padding and parameter names (`features.0.weight`, `layer1.0.downsample.1.running_mean`, …), so
//! a weights file saved here loads into `torchvision.models.<name>()` with `strict=True` and
//! back. Only the last layer depends on the number of classes.
//!
//! Each takes `channels × height × width` input (3×224×224 as published; any size the
//! architecture's strides allow, since AlexNet and VGG end their features in an adaptive average
//! pool as torchvision does).

use super::*;

/// The full-size presets, in the lecture's order.
pub const FULL_SIZE: [&str; 7] = [
    "alexnet",
    "vgg11",
    "vgg16",
    "resnet18",
    "resnet50",
    "mobilenet_v2",
    "densenet121",
];

/// A torchvision convolution: square kernel, explicit padding, He-initialised.
fn tconv(
    name: &str,
    filters: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    groups: usize,
    bias: bool,
) -> LayerSpec {
    conv_full(
        name,
        filters,
        kernel,
        stride,
        Padding::Explicit(padding),
        groups,
        Activation::Linear,
        bias,
    )
}

/// A convolution with bias and a fused ReLU (AlexNet, VGG).
fn conv_relu(
    name: &str,
    filters: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> LayerSpec {
    conv_full(
        name,
        filters,
        kernel,
        stride,
        Padding::Explicit(padding),
        1,
        Activation::Relu,
        true,
    )
}

fn tpool(name: &str, size: usize, stride: usize, padding: usize) -> LayerSpec {
    LayerSpec::MaxPool {
        name: name.into(),
        size,
        stride: Some(stride),
        padding: Padding::Explicit(padding),
    }
}

fn adaptive(name: &str, side: usize) -> LayerSpec {
    LayerSpec::AdaptiveAvgPool {
        name: name.into(),
        size: [side, side],
    }
}

fn linear(name: &str, units: usize, relu: bool) -> LayerSpec {
    LayerSpec::Dense {
        name: name.into(),
        units,
        activation: if relu {
            Activation::Relu
        } else {
            Activation::Linear
        },
        bias: true,
        init: Init::HeUniform,
    }
}

fn relu6(name: &str) -> LayerSpec {
    LayerSpec::Relu6 { name: name.into() }
}

/// AlexNet's classifier over `features` flattened: dropout, 4096, dropout, 4096, classes (VGG's
/// puts the dropouts after the ReLUs).
fn classifier_4096(vgg: bool, classes: usize) -> Vec<LayerSpec> {
    let mut l = vec![flatten("flatten")];
    if vgg {
        l.extend([
            linear("classifier.0", 4096, true),
            dropout("classifier.2", 0.5),
            linear("classifier.3", 4096, true),
            dropout("classifier.5", 0.5),
        ]);
    } else {
        l.extend([
            dropout("classifier.0", 0.5),
            linear("classifier.1", 4096, true),
            dropout("classifier.3", 0.5),
            linear("classifier.4", 4096, true),
        ]);
    }
    l.push(linear("classifier.6", classes, false));
    l
}

/// `torchvision.models.alexnet`: 61,100,840 parameters at 1000 classes.
pub fn alexnet(classes: usize) -> Vec<LayerSpec> {
    let mut l = vec![
        conv_relu("features.0", 64, 11, 4, 2),
        tpool("features.2", 3, 2, 0),
        conv_relu("features.3", 192, 5, 1, 2),
        tpool("features.5", 3, 2, 0),
        conv_relu("features.6", 384, 3, 1, 1),
        conv_relu("features.8", 256, 3, 1, 1),
        conv_relu("features.10", 256, 3, 1, 1),
        tpool("features.12", 3, 2, 0),
        adaptive("avgpool", 6),
    ];
    l.extend(classifier_4096(false, classes));
    l
}

/// `torchvision.models.vgg11` (configuration A) and `vgg16` (D), without batch norm: 3×3
/// convolutions with ReLU, 2×2 max pools (`0` in `config`), a 7×7 adaptive pool and the
/// 4096-wide classifier.
fn vgg(config: &[usize], classes: usize) -> Vec<LayerSpec> {
    let mut l = Vec::new();
    let mut i = 0;
    for &c in config {
        if c == 0 {
            l.push(tpool(&format!("features.{i}"), 2, 2, 0));
            i += 1;
        } else {
            l.push(conv_relu(&format!("features.{i}"), c, 3, 1, 1));
            i += 2;
        }
    }
    l.push(adaptive("avgpool", 7));
    l.extend(classifier_4096(true, classes));
    l
}

/// 132,863,336 parameters at 1000 classes.
pub fn vgg11(classes: usize) -> Vec<LayerSpec> {
    vgg(
        &[64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
        classes,
    )
}

/// 138,357,544 parameters at 1000 classes.
pub fn vgg16(classes: usize) -> Vec<LayerSpec> {
    vgg(
        &[
            64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0,
        ],
        classes,
    )
}

/// torchvision's `downsample`: a strided 1×1 convolution without bias and a batch norm.
fn downsample(block: &str, filters: usize, stride: usize) -> Vec<LayerSpec> {
    vec![
        tconv(
            &format!("{block}.downsample.0"),
            filters,
            1,
            stride,
            0,
            1,
            false,
        ),
        bn(&format!("{block}.downsample.1")),
    ]
}

/// One ResNet block named `layer{stage}.{index}`: basic (two 3×3) or bottleneck (1×1, strided
/// 3×3, 1×1 to 4× the width), then the sum with the shortcut, then ReLU.
fn resnet_block(
    name: &str,
    in_c: usize,
    width: usize,
    stride: usize,
    bottleneck: bool,
) -> ([LayerSpec; 2], usize) {
    let p = |s: &str| format!("{name}.{s}");
    let (body, out_c) = if bottleneck {
        (
            vec![
                tconv(&p("conv1"), width, 1, 1, 0, 1, false),
                bn(&p("bn1")),
                relu(&p("relu1")),
                tconv(&p("conv2"), width, 3, stride, 1, 1, false),
                bn(&p("bn2")),
                relu(&p("relu2")),
                tconv(&p("conv3"), 4 * width, 1, 1, 0, 1, false),
                bn(&p("bn3")),
            ],
            4 * width,
        )
    } else {
        (
            vec![
                tconv(&p("conv1"), width, 3, stride, 1, 1, false),
                bn(&p("bn1")),
                relu(&p("relu1")),
                tconv(&p("conv2"), width, 3, 1, 1, 1, false),
                bn(&p("bn2")),
            ],
            width,
        )
    };
    let shortcut = if stride != 1 || in_c != out_c {
        downsample(name, out_c, stride)
    } else {
        vec![]
    };
    let block = LayerSpec::Residual {
        name: name.into(),
        body,
        projection: None,
        shortcut,
    };
    ([block, relu(&p("relu"))], out_c)
}

/// `torchvision.models.resnet18` (basic blocks 2-2-2-2: 11,689,512 parameters) and `resnet50`
/// (bottlenecks 3-4-6-3: 25,557,032).
fn resnet(blocks: [usize; 4], bottleneck: bool, classes: usize) -> Vec<LayerSpec> {
    let mut l = vec![
        tconv("conv1", 64, 7, 2, 3, 1, false),
        bn("bn1"),
        relu("relu"),
        tpool("maxpool", 3, 2, 1),
    ];
    let mut c = 64;
    for (stage, &n) in blocks.iter().enumerate() {
        let width = 64 << stage;
        for i in 0..n {
            let stride = if stage > 0 && i == 0 { 2 } else { 1 };
            let (block, out) = resnet_block(
                &format!("layer{}.{i}", stage + 1),
                c,
                width,
                stride,
                bottleneck,
            );
            l.extend(block);
            c = out;
        }
    }
    l.extend([gap("avgpool"), linear("fc", classes, false)]);
    l
}

pub fn resnet18(classes: usize) -> Vec<LayerSpec> {
    resnet([2, 2, 2, 2], false, classes)
}

pub fn resnet50(classes: usize) -> Vec<LayerSpec> {
    resnet([3, 4, 6, 3], true, classes)
}

/// torchvision's `Conv2dNormActivation` with ReLU6: `{name}.0` conv (no bias, padding k/2),
/// `{name}.1` batch norm, then ReLU6.
fn conv_bn_relu6(
    name: &str,
    filters: usize,
    kernel: usize,
    stride: usize,
    groups: usize,
) -> [LayerSpec; 3] {
    [
        tconv(
            &format!("{name}.0"),
            filters,
            kernel,
            stride,
            (kernel - 1) / 2,
            groups,
            false,
        ),
        bn(&format!("{name}.1")),
        relu6(&format!("{name}.2")),
    ]
}

/// `torchvision.models.mobilenet_v2` (width 1.0): 3,504,872 parameters at 1000 classes. Inverted
/// residuals (1×1 expansion by t, 3×3 depthwise, linear 1×1 projection), with the identity
/// shortcut where stride is 1 and the width stays.
pub fn mobilenet_v2(classes: usize) -> Vec<LayerSpec> {
    // (expansion t, channels c, repeats n, first stride s)
    const SETTING: [(usize, usize, usize, usize); 7] = [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ];
    let mut l: Vec<LayerSpec> = conv_bn_relu6("features.0", 32, 3, 2, 1).into();
    let (mut c, mut index) = (32, 1);
    for (t, out, n, s) in SETTING {
        for i in 0..n {
            let stride = if i == 0 { s } else { 1 };
            let name = format!("features.{index}");
            let hidden = c * t;
            let mut body = Vec::new();
            let mut k = 0;
            if t != 1 {
                body.extend(conv_bn_relu6(&format!("{name}.conv.0"), hidden, 1, 1, 1));
                k = 1;
            }
            body.extend(conv_bn_relu6(
                &format!("{name}.conv.{k}"),
                hidden,
                3,
                stride,
                hidden,
            ));
            body.push(tconv(
                &format!("{name}.conv.{}", k + 1),
                out,
                1,
                1,
                0,
                1,
                false,
            ));
            body.push(bn(&format!("{name}.conv.{}", k + 2)));
            if stride == 1 && c == out {
                l.push(LayerSpec::Residual {
                    name,
                    body,
                    projection: None,
                    shortcut: vec![],
                });
            } else {
                l.extend(body);
            }
            c = out;
            index += 1;
        }
    }
    l.extend(conv_bn_relu6(&format!("features.{index}"), 1280, 1, 1, 1));
    l.extend([
        gap("avgpool"),
        dropout("classifier.0", 0.2),
        linear("classifier.1", classes, false),
    ]);
    l
}

/// `torchvision.models.densenet121` (growth 32, blocks 6-12-24-16, bottleneck width 4·32, 64
/// initial features, compression ½): 7,978,856 parameters at 1000 classes. Each dense layer
/// concatenates its 32 new channels onto its input (a branch that is the input itself, beside
/// the layer's own).
pub fn densenet121(classes: usize) -> Vec<LayerSpec> {
    const GROWTH: usize = 32;
    let mut l = vec![
        tconv("features.conv0", 64, 7, 2, 3, 1, false),
        bn("features.norm0"),
        relu("features.relu0"),
        tpool("features.pool0", 3, 2, 1),
    ];
    let mut c = 64;
    let blocks = [6, 12, 24, 16];
    for (b, &layers) in blocks.iter().enumerate() {
        let block = format!("features.denseblock{}", b + 1);
        for j in 1..=layers {
            let p = format!("{block}.denselayer{j}");
            l.push(LayerSpec::Branches {
                name: p.clone(),
                branches: vec![
                    vec![],
                    vec![
                        bn(&format!("{p}.norm1")),
                        relu(&format!("{p}.relu1")),
                        tconv(&format!("{p}.conv1"), 4 * GROWTH, 1, 1, 0, 1, false),
                        bn(&format!("{p}.norm2")),
                        relu(&format!("{p}.relu2")),
                        tconv(&format!("{p}.conv2"), GROWTH, 3, 1, 1, 1, false),
                    ],
                ],
            });
            c += GROWTH;
        }
        if b + 1 < blocks.len() {
            let t = format!("features.transition{}", b + 1);
            c /= 2;
            l.extend([
                bn(&format!("{t}.norm")),
                relu(&format!("{t}.relu")),
                tconv(&format!("{t}.conv"), c, 1, 1, 0, 1, false),
                LayerSpec::AvgPool {
                    name: format!("{t}.pool"),
                    size: 2,
                    stride: Some(2),
                    padding: Padding::Valid,
                },
            ]);
        }
    }
    l.extend([
        bn("features.norm5"),
        relu("features.relu5"),
        gap("avgpool"),
        linear("classifier", classes, false),
    ]);
    l
}

/// The full-size preset `name` for `input` and `classes`, or `None` if `name` is not one.
pub fn layers(name: &str, classes: usize) -> Option<Vec<LayerSpec>> {
    Some(match name {
        "alexnet" => alexnet(classes),
        "vgg11" => vgg11(classes),
        "vgg16" => vgg16(classes),
        "resnet18" => resnet18(classes),
        "resnet50" => resnet50(classes),
        "mobilenet_v2" => mobilenet_v2(classes),
        "densenet121" => densenet121(classes),
        _ => return None,
    })
}
