//! The experiment's settings as a form, and the share link. Each input changes one field of the
//! `Experiment`; a value that does not parse or that the experiment refuses is shown as an error
//! beside its input and changes nothing.

use convplay_compute::data::DatasetKind;
use convplay_compute::model::{ModelSpec, ZOO, preset_for};
use convplay_compute::optim::OptimizerSpec;
use leptos::prelude::*;

use crate::experiment::Experiment;
use crate::page::link;

/// The preset a model spec is, on its canvas: its name when the spec equals the preset. The
/// page offers the single-channel presets (the zoo); `inception-lecture` is a 32×32 RGB model.
pub fn preset_name(spec: &ModelSpec) -> Option<&'static str> {
    ZOO.iter()
        .copied()
        .find(|&name| preset_for(name, spec.input[1]).is_ok_and(|p| p == *spec))
}

/// `spec` moved to a `side × side` canvas: the preset rebuilt when it is one, else the same
/// layers with the new input.
pub fn on_canvas(spec: &ModelSpec, side: usize) -> ModelSpec {
    match preset_name(spec).and_then(|name| preset_for(name, side).ok()) {
        Some(p) => p,
        None => ModelSpec {
            input: [spec.input[0], side, side],
            ..spec.clone()
        },
    }
}

/// A settings field: how the form reads it from and writes it into an experiment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Epochs,
    TrainLimit,
    TestLimit,
    Batch,
    Lr,
    Seed,
    Dataset,
    Optimizer,
    Canvas,
    TrainShift,
}

impl Field {
    pub const ALL: [Field; 10] = [
        Field::Dataset,
        Field::TrainLimit,
        Field::TestLimit,
        Field::Epochs,
        Field::Batch,
        Field::Optimizer,
        Field::Lr,
        Field::Seed,
        Field::Canvas,
        Field::TrainShift,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Field::Epochs => "epochs",
            Field::TrainLimit => "train-limit",
            Field::TestLimit => "test-limit",
            Field::Batch => "batch",
            Field::Lr => "lr",
            Field::Seed => "seed",
            Field::Dataset => "dataset",
            Field::Optimizer => "optimizer",
            Field::Canvas => "canvas",
            Field::TrainShift => "train-shift",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Field::Epochs => "Epochs",
            Field::TrainLimit => "Training images",
            Field::TestLimit => "Test images",
            Field::Batch => "Batch size",
            Field::Lr => "Learning rate",
            Field::Seed => "Seed",
            Field::Dataset => "Dataset",
            Field::Optimizer => "Optimizer",
            Field::Canvas => "Canvas (px)",
            Field::TrainShift => "Train-time shift (px)",
        }
    }

    /// The field's value in `exp`, as the input shows it.
    pub fn read(self, exp: &Experiment) -> String {
        let t = &exp.train;
        match self {
            Field::Epochs => t.epochs.to_string(),
            Field::TrainLimit => t.limit.map_or(String::new(), |l| l.to_string()),
            Field::TestLimit => exp.data.test_limit.map_or(String::new(), |l| l.to_string()),
            Field::Batch => t.batch.to_string(),
            Field::Lr => t.optimizer.lr().to_string(),
            Field::Seed => t.seed.to_string(),
            Field::Dataset => exp.data.dataset.dir().to_string(),
            Field::Optimizer => match t.optimizer {
                OptimizerSpec::Adam { .. } => "adam".into(),
                OptimizerSpec::Sgd { .. } => "sgd".into(),
            },
            Field::Canvas => t.canvas.to_string(),
            Field::TrainShift => t.train_shift.to_string(),
        }
    }

    /// `exp` with this field set from `text`, or what is wrong with `text`.
    pub fn write(self, exp: &Experiment, text: &str) -> Result<Experiment, String> {
        let text = text.trim();
        let number = |what: &str| {
            text.parse::<usize>()
                .map_err(|_| format!("{what} must be a whole number"))
        };
        let limit = |what: &str| {
            if text.is_empty() {
                Ok(None)
            } else {
                number(what).map(Some)
            }
        };
        let mut e = exp.clone();
        match self {
            Field::Epochs => e.train.epochs = number("epochs")?,
            Field::TrainLimit => e.train.limit = limit("the training-set size")?,
            Field::TestLimit => e.data.test_limit = limit("the test-set size")?,
            Field::Batch => e.train.batch = number("the batch size")?,
            Field::Lr => {
                let lr: f32 = text
                    .parse()
                    .map_err(|_| "the learning rate must be a number such as 0.001".to_string())?;
                e.train.optimizer = match e.train.optimizer {
                    OptimizerSpec::Adam { .. } => OptimizerSpec::adam(lr),
                    OptimizerSpec::Sgd { .. } => OptimizerSpec::sgd(lr),
                };
            }
            Field::Seed => {
                e.train.seed = text
                    .parse()
                    .map_err(|_| "the seed must be a whole number".to_string())?
            }
            Field::Dataset => e.data.dataset = text.parse::<DatasetKind>()?,
            Field::Optimizer => {
                let lr = e.train.optimizer.lr();
                e.train.optimizer = match text {
                    "adam" => OptimizerSpec::adam(lr),
                    "sgd" => OptimizerSpec::sgd(lr),
                    other => return Err(format!("unknown optimizer {other:?}")),
                };
            }
            Field::Canvas => {
                let side = number("the canvas")?;
                if !(28..=128).contains(&side) {
                    return Err("the canvas must be between 28 and 128 pixels".into());
                }
                e.train.canvas = side;
                e.models = e.models.iter().map(|m| on_canvas(m, side)).collect();
            }
            Field::TrainShift => e.train.train_shift = number("the train-time shift")?,
        }
        e.validate().map_err(|err| err.to_string())?;
        Ok(e)
    }

    fn options(self) -> Option<&'static [(&'static str, &'static str)]> {
        match self {
            Field::Dataset => Some(&[
                ("mnist", "MNIST digits"),
                ("fashion-mnist", "Fashion-MNIST"),
            ]),
            Field::Optimizer => Some(&[("adam", "Adam"), ("sgd", "SGD (momentum 0.9)")]),
            _ => None,
        }
    }

    fn hint(self) -> &'static str {
        match self {
            Field::TrainLimit => "empty = all 60,000",
            Field::TestLimit => "empty = all 10,000",
            Field::TrainShift => "0 = centred only",
            _ => "",
        }
    }
}

/// One labelled input (or select) of the form, with its error.
#[component]
fn SettingInput(field: Field) -> impl IntoView {
    let exp = expect_context::<RwSignal<Experiment>>();
    let error = RwSignal::new(None::<String>);
    let on_change = move |text: String| match field.write(&exp.get_untracked(), &text) {
        Ok(next) => {
            error.set(None);
            if next != exp.get_untracked() {
                exp.set(next);
            }
        }
        Err(e) => error.set(Some(e)),
    };
    let value = move || exp.with(|e| field.read(e));
    let error_id = format!("{}-error", field.id());
    let control = match field.options() {
        Some(options) => view! {
            <select
                id=field.id()
                prop:value=value
                on:change=move |ev| on_change(event_target_value(&ev))
            >
                {options
                    .iter()
                    .map(|&(v, label)| view! { <option value=v selected=move || value() == v>{label}</option> })
                    .collect_view()}
            </select>
        }
        .into_any(),
        None => view! {
            <input
                id=field.id()
                type="text"
                inputmode=if field == Field::Lr { "decimal" } else { "numeric" }
                placeholder=field.hint()
                prop:value=value
                aria-describedby=error_id.clone()
                aria-invalid=move || error.with(|e| e.is_some().to_string())
                on:input=move |ev| on_change(event_target_value(&ev))
            />
        }
        .into_any(),
    };
    view! {
        <div class="field">
            <label for=field.id()>{field.label()}</label>
            {control}
            <span class="field-error" id=error_id role="status">
                {move || error.get()}
            </span>
        </div>
    }
}

/// The model chooser of model `index`: a preset, or "custom" once the editor changed it.
#[component]
pub fn PresetSelect(index: usize) -> impl IntoView {
    let exp = expect_context::<RwSignal<Experiment>>();
    let current = move || {
        exp.with(|e| {
            e.models
                .get(index)
                .and_then(preset_name)
                .unwrap_or("custom")
                .to_string()
        })
    };
    let id = format!("model-{index}-preset");
    let problem = RwSignal::new(None::<String>);
    let on_change = move |ev| {
        let name = event_target_value(&ev);
        let side = exp.with_untracked(|e| e.train.canvas);
        match preset_for(&name, side) {
            Ok(spec) => {
                problem.set(None);
                exp.update(|e| {
                    if let Some(m) = e.models.get_mut(index) {
                        *m = spec;
                    }
                });
            }
            Err(e) => problem.set(Some(format!("{name} on a {side}×{side} canvas: {e}"))),
        }
    };
    view! {
        <label for=id.clone()>{format!("Model {}", index + 1)}</label>
        <select id=id prop:value=current on:change=on_change>
            {ZOO
                .iter()
                .map(|&name| view! { <option value=name selected=move || current() == name>{name}</option> })
                .collect_view()}
            <option value="custom" disabled=true selected=move || current() == "custom">
                "custom (edited)"
            </option>
        </select>
        {move || problem.get().map(|p| view! { <span class="error" role="alert">{p}</span> })}
    }
}

/// The settings form: the models and the data and training fields.
#[component]
pub fn Settings() -> impl IntoView {
    let exp = expect_context::<RwSignal<Experiment>>();
    let models = move || exp.with(|e| e.models.len());
    view! {
        <div class="settings">
            <fieldset class="models-choice">
                <legend>"Models"</legend>
                {move || (0..models()).map(|i| view! { <div class="field"><PresetSelect index=i /></div> }).collect_view()}
            </fieldset>
            <fieldset>
                <legend>"Data and training"</legend>
                <div class="fields">
                    {Field::ALL.into_iter().map(|field| view! { <SettingInput field /> }).collect_view()}
                    <crate::page::app::DeviceInput />
                    <crate::page::parallel::WorkersInput />
                </div>
            </fieldset>
        </div>
    }
}

/// The share link (also kept in the address bar) and the same experiment as a CLI command.
#[component]
pub fn ShareLink() -> impl IntoView {
    let exp = expect_context::<RwSignal<Experiment>>();
    let base = link::page_address();
    let url = Memo::new(move |_| exp.with(|e| link::share_url(&base, e)));
    Effect::new(move |_| link::replace_address(&url.get()));
    let copied = RwSignal::new(None::<String>);
    let copy = move |_| {
        let text = url.get_untracked();
        let clipboard = window().navigator().clipboard();
        let done = clipboard.write_text(&text);
        leptos::task::spawn_local(async move {
            let outcome = wasm_bindgen_futures::JsFuture::from(done).await;
            copied.set(Some(match outcome {
                Ok(_) => "Link copied.".into(),
                Err(_) => "The browser refused the clipboard: select the link and copy it.".into(),
            }));
        });
    };
    view! {
        <div class="share">
            <label for="share-link">"Share link"</label>
            <div class="share-row">
                <input id="share-link" type="text" readonly=true prop:value=move || url.get() />
                <button id="copy-link" type="button" on:click=copy>"Copy link"</button>
            </div>
            <p class="copied" role="status">{move || copied.get()}</p>
            <p class="run-here">
                "Run this on your machine: "
                <code id="run-command">{move || exp.with(|e| e.cli_command())}</code>
            </p>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn every_field_reads_back_what_it_writes() {
        let exp = Experiment::default();
        for (field, text) in [
            (Field::Epochs, "3"),
            (Field::TrainLimit, "500"),
            (Field::TestLimit, "200"),
            (Field::Batch, "32"),
            (Field::Lr, "0.01"),
            (Field::Seed, "77"),
            (Field::Dataset, "fashion-mnist"),
            (Field::Optimizer, "sgd"),
            (Field::Canvas, "48"),
            (Field::TrainShift, "4"),
        ] {
            let written = field.write(&exp, text).unwrap();
            assert_eq!(field.read(&written), text, "{field:?}");
        }
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn bad_values_are_refused_with_a_reason() {
        let exp = Experiment::default();
        for (field, text, says) in [
            (Field::Epochs, "two", "whole number"),
            (Field::Epochs, "0", "epochs"),
            (Field::Batch, "0", "batch"),
            (Field::Lr, "fast", "learning rate"),
            (Field::Lr, "-1", "lr"),
            (Field::Dataset, "cifar", "unknown dataset"),
            (Field::Canvas, "20", "between 28 and 128"),
        ] {
            let err = field.write(&exp, text).unwrap_err();
            assert!(err.contains(says), "{field:?} {text}: {err}");
        }
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn canvas_change_moves_every_model_and_keeps_presets() {
        let exp = Field::Canvas.write(&Experiment::default(), "32").unwrap();
        assert!(exp.models.iter().all(|m| m.input == [1, 32, 32]));
        let names: Vec<_> = exp.models.iter().map(preset_name).collect();
        assert_eq!(names, [Some("cnn-flatten"), Some("cnn-gap")]);
        let mut custom = exp.models[1].clone();
        custom.layers.pop();
        assert_eq!(preset_name(&custom), None);
        assert_eq!(on_canvas(&custom, 40).input, [1, 40, 40]);
    }

    /// Every preset the chooser offers is a valid single-channel experiment model on the
    /// canvases a user is likely to pick, and is recognised as itself there.
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn every_offered_preset_fits_the_usual_canvases() {
        for side in [28, 40, 64] {
            for name in ZOO {
                let spec = preset_for(name, side).unwrap();
                assert_eq!(spec.input, [1, side, side], "{name} at {side}");
                spec.summary()
                    .unwrap_or_else(|e| panic!("{name} at {side}: {e}"));
                assert_eq!(preset_name(&spec), Some(name), "{name} at {side}");
            }
        }
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn optimizer_switch_keeps_the_learning_rate() {
        let exp = Field::Lr.write(&Experiment::default(), "0.005").unwrap();
        let exp = Field::Optimizer.write(&exp, "sgd").unwrap();
        assert_eq!(exp.train.optimizer, OptimizerSpec::sgd(0.005));
    }
}
