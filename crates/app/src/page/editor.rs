//! The layer editor: per model, add, remove, reorder and change layers (conv, pooling, GAP,
//! flatten, dense, dropout, batch-norm, ReLU), or edit the spec as JSON. Every keystroke
//! recompiles the draft; a draft that compiles becomes the experiment's model (and so the share
//! link), one that does not shows its error beside the layer at fault.

use convplay_compute::model::{Activation, Init, LayerSpec, ModelSpec, preset_for};
use convplay_compute::ops::Padding;
use convplay_compute::ops::pad::PadMode;
use leptos::prelude::*;

use crate::experiment::Experiment;
use crate::page::app::Later;
use crate::page::charts::model_colour;
use crate::page::ctx::Ctx;
use crate::page::summary_table::SummaryTable;

/// The layer types the editor offers: `(value, label)`.
pub const KINDS: [(&str, &str); 10] = [
    ("conv2d", "Conv2D"),
    ("max_pool", "MaxPooling2D"),
    ("avg_pool", "AveragePooling2D"),
    ("global_avg_pool", "GlobalAveragePooling2D"),
    ("flatten", "Flatten"),
    ("dense", "Dense"),
    ("dropout", "Dropout"),
    ("batch_norm", "BatchNormalization"),
    ("relu", "ReLU"),
    ("relu6", "ReLU6"),
];

/// The editor's name for a layer's type (`None` for blocks it cannot edit field by field).
pub fn kind_of(layer: &LayerSpec) -> Option<&'static str> {
    Some(match layer {
        LayerSpec::Conv2d { .. } => "conv2d",
        LayerSpec::MaxPool { .. } => "max_pool",
        LayerSpec::AvgPool { .. } => "avg_pool",
        LayerSpec::GlobalAvgPool { .. } => "global_avg_pool",
        LayerSpec::Flatten { .. } => "flatten",
        LayerSpec::Dense { .. } => "dense",
        LayerSpec::Dropout { .. } => "dropout",
        LayerSpec::BatchNorm { .. } => "batch_norm",
        LayerSpec::Relu { .. } => "relu",
        LayerSpec::Relu6 { .. } => "relu6",
        LayerSpec::AdaptiveAvgPool { .. }
        | LayerSpec::Residual { .. }
        | LayerSpec::Branches { .. }
        | LayerSpec::BlurPool { .. }
        | LayerSpec::DenseBlock { .. }
        | LayerSpec::AuxHead { .. } => return None,
    })
}

/// A fresh layer of type `kind` called `name`, with the lecture's usual settings.
pub fn new_layer(kind: &str, name: String) -> Option<LayerSpec> {
    Some(match kind {
        "conv2d" => LayerSpec::Conv2d {
            name,
            filters: 32,
            kernel: 3,
            stride: 1,
            padding: Padding::Valid,
            padding_mode: PadMode::Zeros,
            groups: 1,
            activation: Activation::Relu,
            bias: true,
            init: Init::GlorotUniform,
        },
        "max_pool" => LayerSpec::MaxPool {
            name,
            size: 2,
            stride: None,
            padding: Padding::Valid,
        },
        "avg_pool" => LayerSpec::AvgPool {
            name,
            size: 2,
            stride: None,
            padding: Padding::Valid,
        },
        "global_avg_pool" => LayerSpec::GlobalAvgPool { name },
        "flatten" => LayerSpec::Flatten { name },
        "dense" => LayerSpec::Dense {
            name,
            units: 64,
            activation: Activation::Relu,
            bias: true,
            init: Init::GlorotUniform,
        },
        "dropout" => LayerSpec::Dropout { name, rate: 0.5 },
        "batch_norm" => LayerSpec::BatchNorm {
            name,
            eps: 1e-5,
            momentum: 0.1,
        },
        "relu" => LayerSpec::Relu { name },
        "relu6" => LayerSpec::Relu6 { name },
        _ => return None,
    })
}

/// `stem1`, `stem2`, … : the first name with this stem not used in `spec`.
pub fn fresh_name(spec: &ModelSpec, stem: &str) -> String {
    let taken = |n: &str| spec.layers.iter().any(|l| l.name() == n);
    (1..)
        .map(|i| format!("{stem}{i}"))
        .find(|n| !taken(n))
        .expect("some index is free")
}

fn stem(kind: &str) -> &str {
    match kind {
        "conv2d" => "conv",
        "max_pool" | "avg_pool" => "pool",
        "global_avg_pool" => "gap",
        "batch_norm" => "bn",
        other => other,
    }
}

/// A numeric field of a layer the editor can change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    Filters,
    Kernel,
    Stride,
    Size,
    Units,
    Rate,
}

impl Param {
    fn label(self) -> &'static str {
        match self {
            Param::Filters => "filters",
            Param::Kernel => "kernel",
            Param::Stride => "stride",
            Param::Size => "size",
            Param::Units => "units",
            Param::Rate => "rate",
        }
    }
}

/// The numeric fields of `layer`, with their current values as text.
pub fn params_of(layer: &LayerSpec) -> Vec<(Param, String)> {
    match layer {
        LayerSpec::Conv2d {
            filters,
            kernel,
            stride,
            ..
        } => vec![
            (Param::Filters, filters.to_string()),
            (Param::Kernel, kernel.to_string()),
            (Param::Stride, stride.to_string()),
        ],
        LayerSpec::MaxPool { size, .. } | LayerSpec::AvgPool { size, .. } => {
            vec![(Param::Size, size.to_string())]
        }
        LayerSpec::Dense { units, .. } => vec![(Param::Units, units.to_string())],
        LayerSpec::Dropout { rate, .. } => vec![(Param::Rate, rate.to_string())],
        _ => Vec::new(),
    }
}

/// `layer` with `param` set from `text`, or why `text` is not a valid value.
pub fn set_param(layer: &LayerSpec, param: Param, text: &str) -> Result<LayerSpec, String> {
    let text = text.trim();
    let whole = || {
        text.parse::<usize>()
            .ok()
            .filter(|&v| v >= 1)
            .ok_or_else(|| format!("{} must be a whole number ≥ 1", param.label()))
    };
    let mut l = layer.clone();
    match (&mut l, param) {
        (LayerSpec::Conv2d { filters, .. }, Param::Filters) => *filters = whole()?,
        (LayerSpec::Conv2d { kernel, .. }, Param::Kernel) => *kernel = whole()?,
        (LayerSpec::Conv2d { stride, .. }, Param::Stride) => *stride = whole()?,
        (LayerSpec::MaxPool { size, .. } | LayerSpec::AvgPool { size, .. }, Param::Size) => {
            *size = whole()?
        }
        (LayerSpec::Dense { units, .. }, Param::Units) => *units = whole()?,
        (LayerSpec::Dropout { rate, .. }, Param::Rate) => {
            *rate = text
                .parse::<f32>()
                .ok()
                .filter(|r| (0.0..1.0).contains(r))
                .ok_or("rate must be a number from 0 to below 1")?
        }
        _ => return Err(format!("this layer has no {}", param.label())),
    }
    Ok(l)
}

/// `layer` with its padding or activation changed (for the layers that have one).
pub fn set_choice(layer: &LayerSpec, what: &str, value: &str) -> LayerSpec {
    let mut l = layer.clone();
    let activation = match value {
        "relu" => Activation::Relu,
        "softmax" => Activation::Softmax,
        _ => Activation::Linear,
    };
    let pad = match value {
        "same" => Padding::Same,
        "valid" => Padding::Valid,
        // PyTorch-style padding (a number of cells) is kept as the spec gives it.
        _ => return l,
    };
    match (&mut l, what) {
        (LayerSpec::Conv2d { padding, .. }, "padding")
        | (LayerSpec::MaxPool { padding, .. }, "padding")
        | (LayerSpec::AvgPool { padding, .. }, "padding") => *padding = pad,
        (LayerSpec::Conv2d { activation: a, .. }, "activation")
        | (LayerSpec::Dense { activation: a, .. }, "activation") => *a = activation,
        _ => {}
    }
    l
}

/// The layer at fault in a compile error (`invalid model: layer conv2: …`).
pub fn faulty_layer(error: &str) -> Option<String> {
    let rest = error.split_once("layer ")?.1;
    let name: String = rest
        .chars()
        .take_while(|c| !matches!(c, ':' | ' ' | ','))
        .collect();
    (!name.is_empty()).then_some(name)
}

#[component]
pub fn Editor() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    // A memo: the editors are built again when a model is added or removed, not on every edit
    // (each keeps its draft, which follows changes from elsewhere while it compiles).
    let count = Memo::new(move |_| ctx.exp.with(|e| e.models.len()));
    // The page's first render defers each editor to a frame of its own; later ones (a link
    // with another number of models) render at once, so the section does not empty meanwhile.
    let first = StoredValue::new(true);
    view! {
        <p class="lede">
            "Change a model layer by layer; shapes and parameter counts follow as you type. A model "
            "that does not compile keeps the last one that did, and says what is wrong."
        </p>
        <div class="editors">
            {move || {
                let deferred = first.try_update_value(|f| std::mem::replace(f, false)).unwrap_or(false);
                (0..count.get())
                    .map(|i| {
                        if deferred {
                            view! { <Later name=format!("editor-{i}")><ModelEditor index=i /></Later> }
                                .into_any()
                        } else {
                            view! { <ModelEditor index=i /> }.into_any()
                        }
                    })
                    .collect_view()
            }}
        </div>
    }
}

#[component]
fn ModelEditor(index: usize) -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let exp = ctx.exp;
    let committed = Memo::new(move |_| exp.with(|e| e.models.get(index).cloned()));
    let draft = RwSignal::new(committed.get_untracked());
    // The experiment changed from elsewhere (preset, link, canvas): start from it.
    Effect::new(move |_| {
        let c = committed.get();
        if draft.get_untracked() != c
            && draft.with_untracked(|d| d.as_ref().is_none_or(|d| d.summary().is_ok()))
        {
            draft.set(c);
        }
    });
    let summary = Memo::new(move |_| {
        draft.with(|d| d.as_ref().map(|d| d.summary().map_err(|e| e.to_string())))
    });
    let edit = move |f: &dyn Fn(&mut ModelSpec)| {
        let Some(mut spec) = draft.get_untracked() else {
            return;
        };
        f(&mut spec);
        commit(exp, index, &spec);
        draft.set(Some(spec));
    };
    let row_error = RwSignal::new(None::<(usize, String)>);
    let layers = move || draft.with(|d| d.as_ref().map(|d| d.layers.clone()).unwrap_or_default());
    let fault = move || {
        summary.with(|s| {
            s.as_ref()
                .and_then(|s| s.as_ref().err())
                .and_then(|e| faulty_layer(e))
        })
    };
    let add_kind = RwSignal::new("conv2d".to_string());
    let reset = move |_| {
        let side = exp.with_untracked(|e| e.train.canvas);
        let name = draft
            .with_untracked(|d| d.as_ref().map(|d| d.name.clone()))
            .unwrap_or_default();
        let spec = preset_for(&name, side).or_else(|_| preset_for("cnn-gap", side));
        if let Ok(spec) = spec {
            commit(exp, index, &spec);
            draft.set(Some(spec));
        }
    };
    view! {
        <section class="model-editor" data-model=index aria-labelledby=format!("editor-{index}-title")>
            <h3 id=format!("editor-{index}-title")>
                <span class="swatch" style=format!("background:{}", model_colour(index))></span>
                {format!("Model {}", index + 1)}
            </h3>
            <div class="field">
                <label for=format!("model-{index}-name")>"Name"</label>
                <input
                    id=format!("model-{index}-name")
                    type="text"
                    prop:value=move || draft.with(|d| d.as_ref().map(|d| d.name.clone()).unwrap_or_default())
                    on:input=move |ev| {
                        let name = event_target_value(&ev);
                        if !name.trim().is_empty() {
                            edit(&|s| s.name = name.trim().to_string());
                        }
                    }
                />
            </div>
            <ol class="layers">
                {move || {
                    layers()
                        .into_iter()
                        .enumerate()
                        .map(|(k, layer)| view! { <LayerRow index k layer draft edit row_error fault=Signal::derive(fault) /> })
                        .collect_view()
                }}
            </ol>
            <div class="add-layer">
                <label for=format!("model-{index}-add-kind")>"New layer"</label>
                <select id=format!("model-{index}-add-kind") on:change=move |ev| add_kind.set(event_target_value(&ev))>
                    {KINDS.iter().map(|&(v, l)| view! { <option value=v>{l}</option> }).collect_view()}
                </select>
                <button
                    type="button"
                    id=format!("model-{index}-add")
                    on:click=move |_| {
                        let kind = add_kind.get_untracked();
                        edit(&|s| {
                            let name = fresh_name(s, stem(&kind));
                            if let Some(layer) = new_layer(&kind, name) {
                                // Before the output layer, where new layers usually belong.
                                let at = s.layers.len().saturating_sub(1);
                                s.layers.insert(at, layer);
                            }
                        })
                    }
                >
                    "Add before the output layer"
                </button>
                <button type="button" on:click=reset>"Reset to preset"</button>
            </div>
            <div class="compile" role="status">
                {move || match summary.get() {
                    Some(Ok(summary)) => view! { <SummaryTable summary /> }.into_any(),
                    Some(Err(e)) => view! { <p class="error" id=format!("model-{index}-error")>{e}</p> }.into_any(),
                    None => ().into_any(),
                }}
            </div>
        </section>
    }
}

/// Puts `spec` into the experiment when the experiment accepts it.
fn commit(exp: RwSignal<Experiment>, index: usize, spec: &ModelSpec) {
    let mut next = exp.get_untracked();
    if let Some(m) = next.models.get_mut(index) {
        *m = spec.clone();
    }
    if next.validate().is_ok() && next != exp.get_untracked() {
        exp.set(next);
    }
}

#[component]
fn LayerRow(
    index: usize,
    k: usize,
    layer: LayerSpec,
    draft: RwSignal<Option<ModelSpec>>,
    edit: impl Fn(&dyn Fn(&mut ModelSpec)) + Copy + Send + Sync + 'static,
    row_error: RwSignal<Option<(usize, String)>>,
    fault: Signal<Option<String>>,
) -> impl IntoView {
    let name = layer.name().to_string();
    let id = format!("model-{index}-layer-{k}");
    let is_fault = {
        let name = name.clone();
        move || fault.get().as_deref() == Some(name.as_str())
    };
    let Some(kind) = kind_of(&layer) else {
        return view! {
            <li class="layer block">
                <code>{name}</code>
                {format!(" {} block (edit it in the spec JSON with the CLI)", layer.kind())}
            </li>
        }
        .into_any();
    };
    let replace = move |new: LayerSpec| {
        edit(&move |s: &mut ModelSpec| {
            if let Some(l) = s.layers.get_mut(k) {
                *l = new.clone();
            }
        })
    };
    let layer_for_kind = layer.clone();
    let change_kind = move |ev: leptos::ev::Event| {
        let kind = event_target_value(&ev);
        if let Some(new) = new_layer(&kind, layer_for_kind.name().to_string()) {
            replace(new);
        }
    };
    let params = params_of(&layer)
        .into_iter()
        .map(|(param, value)| {
            let layer = layer.clone();
            let pid = format!("{id}-{}", param.label());
            view! {
                <span class="layer-field">
                    <label for=pid.clone()>{param.label()}</label>
                    <input
                        id=pid
                        type="text"
                        inputmode="decimal"
                        size="4"
                        value=value
                        on:input=move |ev| match set_param(&layer, param, &event_target_value(&ev)) {
                            Ok(new) => {
                                row_error.set(None);
                                replace(new);
                            }
                            Err(e) => row_error.set(Some((k, e))),
                        }
                    />
                </span>
            }
        })
        .collect_view();
    let choice = |what: &'static str, options: &'static [&'static str], current: &'static str| {
        let layer = layer.clone();
        let cid = format!("{id}-{what}");
        view! {
            <span class="layer-field">
                <label for=cid.clone()>{what}</label>
                <select id=cid on:change=move |ev| replace(set_choice(&layer, what, &event_target_value(&ev)))>
                    {options.iter().map(|&o| view! { <option value=o selected=o == current>{o}</option> }).collect_view()}
                </select>
            </span>
        }
    };
    let act = |a: &Activation| match a {
        Activation::Relu => "relu",
        Activation::Softmax => "softmax",
        Activation::Linear => "linear",
    };
    let pad = |p: &Padding| match p {
        Padding::Same => "same",
        Padding::Valid => "valid",
        Padding::Explicit(_) => "explicit",
    };
    // A spec's PyTorch-style padding shows as such; the editor offers Keras's two.
    let pads = |p: &Padding| -> &'static [&'static str] {
        match p {
            Padding::Explicit(_) => &["valid", "same", "explicit"],
            _ => &["valid", "same"],
        }
    };
    let choices = match &layer {
        LayerSpec::Conv2d {
            padding,
            activation,
            ..
        } => vec![
            choice("padding", pads(padding), pad(padding)).into_any(),
            choice("activation", &["relu", "linear"], act(activation)).into_any(),
        ],
        LayerSpec::MaxPool { padding, .. } | LayerSpec::AvgPool { padding, .. } => {
            vec![choice("padding", pads(padding), pad(padding)).into_any()]
        }
        LayerSpec::Dense { activation, .. } => {
            vec![
                choice(
                    "activation",
                    &["relu", "linear", "softmax"],
                    act(activation),
                )
                .into_any(),
            ]
        }
        _ => Vec::new(),
    };
    let len = move || draft.with(|d| d.as_ref().map_or(0, |d| d.layers.len()));
    let kind_id = format!("{id}-kind");
    view! {
        <li class="layer" class:fault=is_fault>
            <code class="layer-name">{name.clone()}</code>
            <span class="layer-field">
                <label for=kind_id.clone() class="visually-hidden">{format!("Type of {name}")}</label>
                <select id=kind_id on:change=change_kind>
                    {KINDS.iter().map(|&(v, l)| view! { <option value=v selected=v == kind>{l}</option> }).collect_view()}
                </select>
            </span>
            {params}
            {choices}
            <span class="layer-actions">
                <button type="button" aria-label=format!("Move {name} up") disabled=k == 0
                    on:click=move |_| edit(&|s| if k > 0 { s.layers.swap(k - 1, k) })>"↑"</button>
                <button type="button" aria-label=format!("Move {name} down") disabled=move || { k + 1 >= len() }
                    on:click=move |_| edit(&|s| if k + 1 < s.layers.len() { s.layers.swap(k, k + 1) })>"↓"</button>
                <button type="button" aria-label=format!("Remove {name}")
                    on:click=move |_| edit(&|s| { if k < s.layers.len() { s.layers.remove(k); } })>"✕"</button>
            </span>
            <span class="field-error" role="status">
                {move || row_error.get().filter(|(row, _)| *row == k).map(|(_, e)| e)}
            </span>
        </li>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn every_kind_makes_a_layer_of_that_kind() {
        for (kind, label) in KINDS {
            let layer = new_layer(kind, "x1".into()).unwrap();
            assert_eq!(kind_of(&layer), Some(kind));
            assert_eq!(layer.kind(), label);
        }
        assert_eq!(new_layer("lstm", "x".into()), None);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn fresh_names_do_not_clash() {
        let spec = preset_for("cnn-gap", 64).unwrap();
        assert_eq!(fresh_name(&spec, "conv"), "conv4");
        assert_eq!(fresh_name(&spec, "bn"), "bn1");
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn params_are_checked_and_set() {
        let conv = new_layer("conv2d", "c".into()).unwrap();
        let wider = set_param(&conv, Param::Filters, "48").unwrap();
        assert_eq!(params_of(&wider)[0], (Param::Filters, "48".into()));
        assert!(
            set_param(&conv, Param::Kernel, "0")
                .unwrap_err()
                .contains("kernel")
        );
        assert!(set_param(&conv, Param::Units, "3").is_err());
        let drop = new_layer("dropout", "d".into()).unwrap();
        assert!(set_param(&drop, Param::Rate, "1.5").is_err());
        assert_eq!(
            params_of(&set_param(&drop, Param::Rate, "0.25").unwrap()),
            [(Param::Rate, "0.25".into())]
        );
        let same = set_choice(&conv, "padding", "same");
        assert!(matches!(
            same,
            LayerSpec::Conv2d {
                padding: Padding::Same,
                ..
            }
        ));
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn a_compile_error_names_the_layer_at_fault() {
        let mut spec = preset_for("cnn-gap", 64).unwrap();
        if let LayerSpec::Conv2d { kernel, .. } = &mut spec.layers[4] {
            *kernel = 40;
        }
        let err = spec.summary().unwrap_err().to_string();
        assert_eq!(faulty_layer(&err).as_deref(), Some("conv3"), "{err}");
        assert_eq!(faulty_layer("something else"), None);
    }
}
