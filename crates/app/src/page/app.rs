//! The page: the experiment (two models side by side), training, results, shift heatmaps, the
//! drawing playground, the look inside, and the layer editor, one section each. This file
//! composes the sections; the state they share and the worker are in [`crate::page::ctx::Ctx`].

use leptos::prelude::*;

use crate::page::ctx::Ctx;

use crate::experiment::Experiment;
use crate::page::editor::Editor;
use crate::page::handle::use_worker;
use crate::page::heatmaps::Heatmaps;
use crate::page::inspect_view::Inspect;
use crate::page::link;
use crate::page::playground::Playground;
use crate::page::results::Results;
use crate::page::settings::{Settings, ShareLink};
use crate::page::state::{PageState, Status};
use crate::page::summary_table::SummaryTable;
use crate::page::training::Training;
use crate::protocol::{DataStatus, Device, FromWorker, GpuStatus, ToWorker};

#[component]
pub fn App() -> impl IntoView {
    let opened = link::open(&link::current_fragment());
    let exp = RwSignal::new(opened.experiment);
    let link_error = RwSignal::new(opened.error);
    let play = RwSignal::new(PageState::default());
    let ctx_cell = StoredValue::new(None::<Ctx>);
    let worker = use_worker(move |message| {
        if let Some(ctx) = ctx_cell.get_value() {
            ctx.receive(message);
        } else if let FromWorker::Error(e) = message {
            play.update(|p| p.worker_failed(e));
        }
    });
    let ctx = Ctx::new(exp, play, worker);
    ctx_cell.set_value(Some(ctx));
    ctx.provide();
    provide_context(Reveals::new());

    // A link pasted into the address bar of the open page changes only the fragment.
    let _ = window_event_listener(leptos::ev::hashchange, move |_| {
        let fragment = link::current_fragment();
        if fragment.trim_start_matches('#') == exp.with_untracked(|e| e.to_fragment()) {
            return;
        }
        let opened = link::open(&fragment);
        link_error.set(opened.error);
        if opened.experiment.train.shards > 1 {
            ctx.workers.set(opened.experiment.train.shards);
        }
        exp.set(opened.experiment);
    });

    // Fresh models for predictions, and the dataset, follow the experiment.
    let dataset = Memo::new(move |_| exp.with(|e| e.data.dataset));
    Effect::new(move |first: Option<()>| {
        let kind = dataset.get();
        if first.is_some() {
            worker.send(ToWorker::Load(kind));
        }
    });
    Effect::new(move |first: Option<()>| {
        let e = exp.get();
        if first.is_some() {
            worker.send(ToWorker::Prepare(e));
            ctx.predict();
        }
    });
    crate::page::parallel::follow(ctx);

    view! {
        <header class="masthead">
            <h1>"convplay — flatten vs global average pooling"</h1>
            <div class="status-line">
                <BackendBadge />
                <RunStatus />
            </div>
        </header>
        <nav class="sections" aria-label="Sections">
            <a href="#experiment" on:click=jump("experiment")>"Experiment"</a>
            <a href="#training" on:click=jump("training")>"Training"</a>
            <a href="#results" on:click=jump("results")>"Results"</a>
            <a href="#heatmaps" on:click=jump("heatmaps")>"Shift heatmaps"</a>
            <a href="#playground" on:click=jump("playground")>"Draw"</a>
            <a href="#inspect" on:click=jump("inspect")>"Inside"</a>
            <a href="#editor" on:click=jump("editor")>"Edit models"</a>
        </nav>
        <main>
            {move || link_error.get().map(|e| view! { <p id="link-error" class="link-error" role="alert">{e}</p> })}
            <Errors />
            <DataProgress />
            <section id="experiment" aria-labelledby="experiment-title">
                <h2 id="experiment-title">"The experiment"</h2>
                <p class="lede">
                    "Two CNNs train on digits centred on a 64×64 canvas: one ends in flatten + dense "
                    "layers, the other in global average pooling. Both are then tested on centred and on "
                    "shifted digits. In the lecture flatten scored 99.36% centred but 11.03% shifted, "
                    "GAP 99.34% and 99.06%."
                </p>
                <Later name="models"><ModelCards /></Later>
                <Later name="settings"><Settings /></Later>
                <Later name="share"><ShareLink /></Later>
            </section>
            <section id="training" aria-labelledby="training-title">
                <h2 id="training-title">"Training"</h2>
                <Later name="training"><Training /></Later>
            </section>
            <section id="results" aria-labelledby="results-title">
                <h2 id="results-title">"Results"</h2>
                <Later name="results"><Results /></Later>
            </section>
            <section id="heatmaps" aria-labelledby="heatmaps-title">
                <h2 id="heatmaps-title">"Accuracy by shift"</h2>
                <Later name="heatmaps"><Heatmaps /></Later>
            </section>
            <section id="playground" aria-labelledby="playground-title">
                <h2 id="playground-title">"Draw a digit"</h2>
                <Later name="playground"><Playground /></Later>
            </section>
            <section id="inspect" aria-labelledby="inspect-title">
                <h2 id="inspect-title">"Inside the models"</h2>
                <Later name="inspect"><Inspect /></Later>
            </section>
            <section id="editor" aria-labelledby="editor-title">
                <h2 id="editor-title">"Edit the models"</h2>
                <Later name="editor"><Editor /></Later>
            </section>
        </main>
    }
}

/// Renders its children after the page's first render, when [`Reveals`] comes to it: the
/// sections below the first render come one per frame, each in a short task of its own, so no
/// main-thread task while mounting holds the whole page's DOM, style and layout. Outside the
/// page (a component mounted on its own) it renders at once.
#[component]
pub fn Later(#[prop(into)] name: String, children: ChildrenFn) -> impl IntoView {
    let shown = RwSignal::new(false);
    match use_context::<Reveals>() {
        Some(reveals) => reveals.push(name, shown),
        None => shown.set(true),
    }
    move || shown.get().then(|| children())
}

/// The sections waiting to render, in page order. Each renders in the task after a frame (the
/// one that laid out the section before it), or after 100 ms where no frame comes (a tab in
/// the background). Each render is a performance entry `convplay-render:NAME`, for profiles;
/// the document element's `data-sections` is `rendering` while any waits, then `rendered`.
#[derive(Clone, Copy)]
struct Reveals(StoredValue<RevealQueue>);

#[derive(Default)]
struct RevealQueue {
    waiting: std::collections::VecDeque<(String, RwSignal<bool>)>,
    pumping: bool,
}

impl Reveals {
    fn new() -> Self {
        Reveals(StoredValue::new(RevealQueue::default()))
    }

    fn push(self, name: String, shown: RwSignal<bool>) {
        let start = self
            .0
            .try_update_value(|q| {
                q.waiting.push_back((name, shown));
                !std::mem::replace(&mut q.pumping, true)
            })
            .unwrap_or(false);
        if start {
            sections_state("rendering");
            self.after_next_frame();
        }
    }

    fn after_next_frame(self) {
        let fired = std::rc::Rc::new(std::cell::Cell::new(false));
        let step = move || {
            if !fired.replace(true) {
                self.reveal_one();
            }
        };
        let on_frame = step.clone();
        request_animation_frame(move || set_timeout(on_frame, std::time::Duration::ZERO));
        set_timeout(step, std::time::Duration::from_millis(100));
    }

    fn reveal_one(self) {
        let Some((next, more)) = self
            .0
            .try_update_value(|q| {
                let next = q.waiting.pop_front();
                q.pumping = !q.waiting.is_empty();
                next.map(|n| (n, q.pumping))
            })
            .flatten()
        else {
            return;
        };
        let (name, shown) = next;
        let performance = window().performance();
        let start = format!("convplay-render-start:{name}");
        if let Some(p) = &performance {
            let _ = p.mark(&start);
        }
        shown.set(true);
        // The render runs in the effect that `set` queued; this task is queued behind it.
        leptos::task::spawn_local(async move {
            if let Some(p) = &performance {
                let _ = p.measure_with_start_mark(&format!("convplay-render:{name}"), &start);
            }
        });
        if more {
            self.after_next_frame();
        } else if self.0.try_with_value(|q| !q.pumping).unwrap_or(false) {
            // (A render that queued sections of its own has started the queue again.)
            sections_state("rendered");
        }
    }
}

fn sections_state(state: &str) {
    if let Some(root) = document().document_element() {
        let _ = root.set_attribute("data-sections", state);
    }
}

/// A section link that scrolls without changing the fragment, which holds the experiment.
fn jump(id: &'static str) -> impl Fn(leptos::ev::MouseEvent) {
    move |ev| {
        ev.prevent_default();
        if let Some(el) = document().get_element_by_id(id) {
            el.scroll_into_view();
        }
    }
}

/// Where the worker computes, once it has said so: WebGPU or wasm SIMD, the CPU's instruction
/// set and the training workers.
#[component]
pub fn BackendBadge() -> impl IntoView {
    let play = expect_context::<RwSignal<PageState>>();
    let title = move || {
        let gpu = match play.with(|p| p.gpu.clone()) {
            None => "Looking for a WebGPU adapter.".to_string(),
            Some(GpuStatus::Ready { adapter, .. }) => format!("WebGPU adapter: {adapter}."),
            Some(GpuStatus::Unavailable(why)) => format!("No WebGPU: {why}"),
        };
        format!(
            "Training runs in a Web Worker, on WebGPU or on the CPU with WebAssembly SIMD (see Train on). {gpu}"
        )
    };
    move || {
        match play.with(|p| p.backend().cloned()) {
        Some(info) => view! {
            <p id="backend-badge" class="badge" data-state="ready" title=title>
                <span class="badge-backend" id="badge-device">{move || play.with(PageState::device_label)}</span>
                " "
                <span class="badge-isa">{format!("ISA {}", info.isa)}</span>
                " "
                <span class="badge-workers" id="badge-workers">
                    {move || {
                        play.with(|p| {
                            let cpu = p.running_on.unwrap_or(p.device) == Device::Cpu;
                            p.workers.filter(|_| cpu).map(crate::page::parallel::label)
                        })
                    }}
                </span>
            </p>
        }
        .into_any(),
        None => view! {
            <p id="backend-badge" class="badge" data-state="starting">"Starting the worker…"</p>
        }
        .into_any(),
    }
    }
}

/// `#device`: train the next run on WebGPU or on the CPU; says what the worker found.
#[component]
pub fn DeviceInput() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let play = ctx.play;
    let on_change = move |ev| {
        let device = match event_target_value(&ev).as_str() {
            "gpu" => Device::Gpu,
            _ => Device::Cpu,
        };
        ctx.worker.send(ToWorker::Device(device));
    };
    let value = move || match play.with(|p| p.device) {
        Device::Gpu => "gpu",
        Device::Cpu => "cpu",
    };
    let hint = move || match play.with(|p| p.gpu.clone()) {
        None => "looking for a WebGPU adapter…".to_string(),
        Some(GpuStatus::Ready {
            adapter,
            software: true,
        }) => format!("WebGPU: {adapter}; software, so slower than wasm SIMD here"),
        Some(GpuStatus::Ready { adapter, .. }) => format!("WebGPU: {adapter}"),
        Some(GpuStatus::Unavailable(why)) => format!("no WebGPU: {why}"),
    };
    view! {
        <div class="field">
            <label for="device">"Train on"</label>
            <select id="device" prop:value=value on:change=on_change>
                <option value="cpu" selected=move || value() == "cpu">"CPU (wasm SIMD)"</option>
                <option value="gpu" selected=move || value() == "gpu" disabled=move || !play.with(PageState::gpu_ready)>
                    "GPU (WebGPU)"
                </option>
            </select>
            <span class="hint" id="device-hint">{hint}</span>
        </div>
    }
}

/// `#run-status`: the page's state in a word, for people and for tests.
#[component]
pub fn RunStatus() -> impl IntoView {
    let play = expect_context::<RwSignal<PageState>>();
    let status = Memo::new(move |_| play.with(PageState::status));
    let text = move || match status.get() {
        Status::Loading => "Loading…",
        Status::Idle => "Ready",
        Status::Training => "Training",
        Status::Paused => "Paused",
        Status::Done => "Done",
        Status::Error => "Error",
    };
    view! {
        <p id="run-status" class="run-status" data-state=move || status.get().as_str() role="status">
            {text}
        </p>
    }
}

/// The dataset download: progress, or how to fix a missing file.
#[component]
fn DataProgress() -> impl IntoView {
    let play = expect_context::<RwSignal<PageState>>();
    move || match play.with(|p| p.data.clone()) {
        Some(DataStatus::Loading {
            file,
            received,
            total,
        }) => {
            let mb = |b: u64| format!("{:.1}", b as f64 / 1e6);
            let label = if total > 0 {
                format!("Loading {file}: {} of {} MB", mb(received), mb(total))
            } else {
                format!("Loading {file}: {} MB", mb(received))
            };
            view! {
                <div class="data-progress">
                    <label for="data-progress">{label}</label>
                    <progress id="data-progress" max=total.max(1).to_string() value=received.to_string()></progress>
                </div>
            }
            .into_any()
        }
        Some(DataStatus::Failed(e)) => {
            view! { <p class="data-error" role="alert" id="data-error">{e}</p> }.into_any()
        }
        _ => ().into_any(),
    }
}

/// The compared models side by side, each with its layer table.
#[component]
fn ModelCards() -> impl IntoView {
    let exp = expect_context::<RwSignal<Experiment>>();
    let specs = Memo::new(move |_| exp.with(|e| e.models.clone()));
    view! {
        <div class="models">
            {move || {
                specs
                    .get()
                    .into_iter()
                    .enumerate()
                    .map(|(i, spec)| {
                        let head = head_of(&spec);
                        let body = match spec.summary() {
                            Ok(summary) => view! { <SummaryTable summary /> }.into_any(),
                            Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                        };
                        view! {
                            <section class="model" data-model=i aria-labelledby=format!("model-{i}-title")>
                                <h3 id=format!("model-{i}-title")>
                                    <span class="swatch" style=format!("background:{}", crate::page::charts::model_colour(i))></span>
                                    <code>{spec.name.clone()}</code>
                                    <span class="head">{head}</span>
                                </h3>
                                {body}
                            </section>
                        }
                    })
                    .collect_view()
            }}
        </div>
    }
}

/// What sets a model apart in the comparison: its head.
fn head_of(spec: &convplay_compute::ModelSpec) -> &'static str {
    use convplay_compute::model::LayerSpec;
    if spec
        .layers
        .iter()
        .any(|l| matches!(l, LayerSpec::GlobalAvgPool { .. }))
    {
        "Global average pooling head"
    } else if spec
        .layers
        .iter()
        .any(|l| matches!(l, LayerSpec::Flatten { .. }))
    {
        "Flatten + dense head"
    } else {
        ""
    }
}

/// Failures: the worker failing to start, a panic, a command that could not be carried out.
#[component]
pub fn Errors() -> impl IntoView {
    let play = expect_context::<RwSignal<PageState>>();
    let errors = move || play.with(|p| p.errors().to_vec());
    view! {
        <Show when=move || !errors().is_empty()>
            <div class="errors" role="alert">
                <ul>{move || errors().into_iter().map(|e| view! { <li>{e}</li> }).collect_view()}</ul>
                <button type="button" on:click=move |_| play.update(PageState::dismiss_errors)>"Dismiss"</button>
            </div>
        </Show>
    }
}
