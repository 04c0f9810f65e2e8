//! What the worker computes for one drawing: class probabilities, the feature maps of each conv
//! layer, the first layer's filters and the class activation map. Plain functions over a
//! `Model`, so they are tested without a browser.

use convplay_compute::metrics::argmax;
use convplay_compute::model::graph::NodeOp;
use convplay_compute::model::{Mode, Model, Workspace};
use convplay_compute::{Error, Result};

use crate::protocol::{Cam, FeatureMaps, Filters, Image, Inspection};

/// Channels shown per conv layer.
pub const SHOWN_CHANNELS: usize = 16;

/// `image` bilinearly resampled to `side × side` (a copy when the sides agree).
pub fn resample(image: &Image, side: usize) -> Result<Vec<f32>> {
    let from = image.side;
    // A side whose square overflows (a message from anywhere) cannot match the pixels.
    if from == 0 || from.checked_mul(from) != Some(image.pixels.len()) {
        return Err(Error::ShapeMismatch {
            op: "resample",
            expected: format!("{from}×{from} pixels"),
            got: format!("{} pixels", image.pixels.len()),
        });
    }
    if from == side {
        return Ok(image.pixels.clone());
    }
    let scale = from as f32 / side as f32;
    let at = |x: usize, y: usize| image.pixels[y.min(from - 1) * from + x.min(from - 1)];
    let mut out = Vec::with_capacity(side * side);
    for y in 0..side {
        let fy = ((y as f32 + 0.5) * scale - 0.5).max(0.0);
        let (y0, ty) = (fy as usize, fy.fract());
        for x in 0..side {
            let fx = ((x as f32 + 0.5) * scale - 0.5).max(0.0);
            let (x0, tx) = (fx as usize, fx.fract());
            let top = at(x0, y0) * (1.0 - tx) + at(x0 + 1, y0) * tx;
            let bottom = at(x0, y0 + 1) * (1.0 - tx) + at(x0 + 1, y0 + 1) * tx;
            out.push(top * (1.0 - ty) + bottom * ty);
        }
    }
    Ok(out)
}

/// Softmax of `logits`, computed stably.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|&l| (l - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
}

/// Runs `model` on `image` (dropout off); the activations stay in `ws`.
fn run(model: &mut Model, ws: &mut Workspace, image: &Image) -> Result<()> {
    let side = model.graph.input[1];
    let x = resample(image, side)?;
    model.forward(ws, &x, 1, Mode::Eval)
}

/// The class probabilities of `model` for `image`.
pub fn predict(model: &mut Model, image: &Image) -> Result<Vec<f32>> {
    let mut ws = Workspace::new();
    run(model, &mut ws, image)?;
    Ok(softmax(ws.logits()))
}

/// Feature maps, filters and CAM of model number `index` for `image`.
pub fn inspect(model: &mut Model, index: usize, image: &Image) -> Result<Inspection> {
    let mut ws = Workspace::new();
    run(model, &mut ws, image)?;
    let graph = &model.graph;
    let layers = graph
        .nodes
        .iter()
        .filter(|node| matches!(node.op, NodeOp::Conv2d { .. }))
        .map(|node| {
            let [c, h, w] = graph.values[node.output];
            let shown = c.min(SHOWN_CHANNELS);
            let values = &ws.value(node.output)[..shown * h * w];
            FeatureMaps {
                layer: node.layer.clone(),
                channels: c,
                side: h.max(w),
                maps: values.chunks(h * w).flat_map(to_bytes).collect(),
            }
        })
        .collect();
    let class = argmax(ws.logits());
    Ok(Inspection {
        model: index,
        layers,
        filters: first_filters(model),
        cam: cam(model, &ws, class),
    })
}

/// One map as bytes, scaled by its own maximum (all zero when the map is).
fn to_bytes(map: &[f32]) -> Vec<u8> {
    let max = map.iter().copied().fold(0.0f32, f32::max);
    map.iter()
        .map(|&v| {
            if max > 0.0 {
                (v.max(0.0) / max * 255.0).round() as u8
            } else {
                0
            }
        })
        .collect()
}

/// The first conv layer's filters when it reads one channel, scaled so the largest magnitude is 1.
fn first_filters(model: &Model) -> Option<Filters> {
    let graph = &model.graph;
    let (node, geom, weight) = graph.nodes.iter().find_map(|node| match &node.op {
        NodeOp::Conv2d { geom, weight, .. } => Some((node, geom, *weight)),
        _ => None,
    })?;
    if geom.c_in / geom.groups != 1 || geom.kh != geom.kw {
        return None;
    }
    let w = &model.params[graph.params[weight].range()];
    let max = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    Some(Filters {
        layer: node.layer.clone(),
        kernel: geom.kh,
        weights: w
            .iter()
            .map(|v| if max > 0.0 { v / max } else { 0.0 })
            .collect(),
    })
}

/// The class activation map of `class`: the last global-average-pooled feature maps `A_k`,
/// weighted by the gradient of the class logit with respect to the pooled value `g_k`, summed
/// over `k`. With a single dense layer after GAP this is Zhou et al.'s CAM exactly; with a
/// dense head it is its linearisation at this image (what Grad-CAM computes for a GAP model).
pub fn cam(model: &Model, ws: &Workspace, class: usize) -> Result<Cam, String> {
    let graph = &model.graph;
    let gap = graph
        .nodes
        .iter()
        .rposition(|node| matches!(node.op, NodeOp::GlobalAvgPool { .. }))
        .ok_or("the model has no global average pooling layer")?;
    // d logit[class] / d value, walked back from the logits to the GAP output.
    let mut grad = vec![0.0f32; graph.classes];
    grad[class] = 1.0;
    let mut value = graph.output;
    for node in graph.nodes[gap + 1..].iter().rev() {
        if node.output != value {
            return Err(format!(
                "layer {} is not on the path from GAP to the output",
                node.layer
            ));
        }
        let out = ws.value(node.output);
        let relu_mask = |grad: &mut Vec<f32>| {
            grad.iter_mut()
                .zip(out)
                .for_each(|(g, &o)| *g = if o > 0.0 { *g } else { 0.0 })
        };
        match &node.op {
            NodeOp::Dense {
                geom, weight, relu, ..
            } => {
                if *relu {
                    relu_mask(&mut grad);
                }
                // weight: [outputs, inputs]
                let w = &model.params[graph.params[*weight].range()];
                let mut input_grad = vec![0.0f32; geom.inputs];
                for (row, &g) in w.chunks_exact(geom.inputs).zip(&grad) {
                    input_grad
                        .iter_mut()
                        .zip(row)
                        .for_each(|(d, &w)| *d += g * w);
                }
                grad = input_grad;
            }
            NodeOp::Relu => relu_mask(&mut grad),
            NodeOp::Dropout { .. } | NodeOp::Flatten => {}
            _ => {
                return Err(format!(
                    "layer {} after GAP is not dense, dropout or ReLU: no CAM",
                    node.layer
                ));
            }
        }
        value = node.inputs[0];
    }
    let node = &graph.nodes[gap];
    let [c, h, w] = graph.values[node.inputs[0]];
    let maps = ws.value(node.inputs[0]);
    let mut map = vec![0.0f32; h * w];
    for (channel, &g) in maps.chunks_exact(h * w).zip(&grad).take(c) {
        map.iter_mut().zip(channel).for_each(|(m, &a)| *m += g * a);
    }
    let max = map.iter().copied().fold(0.0f32, f32::max);
    map.iter_mut()
        .for_each(|m| *m = if max > 0.0 { m.max(0.0) / max } else { 0.0 });
    Ok(Cam {
        class,
        side: h,
        map,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use convplay_compute::model::preset_for;

    fn digit(side: usize) -> Image {
        let mut pixels = vec![0.0; side * side];
        for y in side / 3..2 * side / 3 {
            pixels[y * side + side / 2] = 1.0;
        }
        Image { side, pixels }
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn resample_keeps_equal_sides_and_averages_when_halving() {
        let img = Image {
            side: 2,
            pixels: vec![0.0, 1.0, 1.0, 0.0],
        };
        assert_eq!(resample(&img, 2).unwrap(), img.pixels);
        let big = resample(&img, 4).unwrap();
        assert_eq!(big.len(), 16);
        assert_eq!(big[0], 0.0);
        assert_eq!(big[3], 1.0);
        let bad = Image {
            side: 3,
            pixels: vec![0.0; 4],
        };
        assert!(resample(&bad, 2).is_err());
        // A side whose square wraps to the pixel count (0 here) is refused, not resampled.
        let wraps = Image {
            side: 1 << (usize::BITS / 2),
            pixels: Vec::new(),
        };
        assert!(resample(&wraps, 2).is_err());
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let p = softmax(&[1.0, 3.0, 2.0, 10.0]);
        assert!(softmax(&[0.0, 1000.0]).iter().all(|v| v.is_finite()));
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(argmax(&p), 3);
        assert!(p[1] > p[2] && p[2] > p[0]);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn inspect_gap_model_gives_maps_filters_and_a_cam() {
        let mut model = Model::new(preset_for("cnn-gap", 28).unwrap(), 1).unwrap();
        let probs = predict(&mut model, &digit(64)).unwrap();
        let ins = inspect(&mut model, 1, &digit(28)).unwrap();
        assert_eq!(probs.len(), 10);
        assert_eq!(ins.model, 1);
        let names: Vec<&str> = ins.layers.iter().map(|l| l.layer.as_str()).collect();
        assert_eq!(names, ["conv1", "conv2", "conv3"]);
        assert_eq!(ins.layers[0].channels, 32);
        assert_eq!(ins.layers[0].side, 26);
        assert_eq!(ins.layers[0].maps.len(), SHOWN_CHANNELS * 26 * 26);
        let filters = ins.filters.unwrap();
        assert_eq!((filters.kernel, filters.weights.len()), (3, 32 * 9));
        assert!(filters.weights.iter().any(|w| w.abs() == 1.0));
        let cam = ins.cam.unwrap();
        assert_eq!(cam.class, argmax(&probs_for(&mut model)));
        assert_eq!(cam.map.len(), cam.side * cam.side);
        assert!(cam.map.iter().all(|v| (0.0..=1.0).contains(v)));
    }

    fn probs_for(model: &mut Model) -> Vec<f32> {
        predict(model, &digit(28)).unwrap()
    }

    /// With GAP straight into the output layer, CAM is Zhou et al.'s: Σ_k w[class, k] · A_k,
    /// checked here against that formula computed by hand.
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn cam_with_gap_then_output_is_the_weighted_sum_of_maps() {
        let mut spec = preset_for("cnn-gap", 28).unwrap();
        spec.layers
            .retain(|l| !matches!(l.name(), "dropout1" | "classifier" | "dropout2"));
        let mut model = Model::new(spec, 3).unwrap();
        let mut ws = Workspace::new();
        run(&mut model, &mut ws, &digit(28)).unwrap();
        let cam = cam(&model, &ws, 4).unwrap();
        let conv3 = model
            .graph
            .nodes
            .iter()
            .find(|n| n.layer == "conv3")
            .unwrap();
        let [c, h, w] = model.graph.values[conv3.output];
        let a = ws.value(conv3.output);
        let wout = model.tensor("output.weight").unwrap();
        let mut expected: Vec<f32> = (0..h * w)
            .map(|p| (0..c).map(|k| wout[4 * c + k] * a[k * h * w + p]).sum())
            .collect();
        let max = expected.iter().copied().fold(0.0f32, f32::max);
        expected.iter_mut().for_each(|v| *v = v.max(0.0) / max);
        for (got, want) in cam.map.iter().zip(&expected) {
            assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        }
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn flatten_model_has_no_cam_and_says_why() {
        let mut model = Model::new(preset_for("cnn-flatten", 28).unwrap(), 1).unwrap();
        let ins = inspect(&mut model, 0, &digit(28)).unwrap();
        assert!(ins.cam.unwrap_err().contains("no global average pooling"));
    }
}
