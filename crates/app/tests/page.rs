//! The page's components mounted in a real browser. The worker script is not served by the test
//! runner, so these exercise the page's side alone: the DOM contract the end-to-end test relies
//! on, the settings form and share link, the results cells, the drawing canvas and the
//! prediction bars, fed with hand-made worker messages.

use convplay_app::experiment::Experiment;
use convplay_app::page::app::App;
use convplay_app::page::charts::{LineChart, Series};
use convplay_app::page::ctx::Ctx;
use convplay_app::page::handle::use_worker;
use convplay_app::page::link::SECTIONS;
use convplay_app::page::playground::Playground;
use convplay_app::page::results::Results;
use convplay_app::page::settings::{Settings, ShareLink};
use convplay_app::page::state::PageState;
use convplay_app::protocol::FromWorker;
use convplay_compute::data::CanvasPlacement;
use convplay_compute::metrics::ConfusionMatrix;
use convplay_compute::train::Evaluation;
use leptos::{mount::mount_to, prelude::*};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{
    Element, HtmlElement, HtmlInputElement, HtmlSelectElement, PointerEvent, PointerEventInit,
};

wasm_bindgen_test_configure!(run_in_browser);

/// Lets Leptos run its scheduled effects (rendering follows a signal change on the next task).
async fn tick() {
    for _ in 0..2 {
        let promise = js_sys::Promise::new(&mut |resolve, _| {
            window()
                .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0)
                .unwrap();
        });
        wasm_bindgen_futures::JsFuture::from(promise).await.unwrap();
    }
}

/// Waits until the page's sections below the first render have rendered (they come one per
/// frame: `data-sections` on the document element).
async fn rendered() {
    for _ in 0..200 {
        tick().await;
        let state = document()
            .document_element()
            .and_then(|root| root.get_attribute("data-sections"));
        if state.as_deref() == Some("rendered") {
            return;
        }
    }
    panic!("the page's sections did not all render");
}

/// A fresh host element in the body.
fn host() -> HtmlElement {
    let host = document().create_element("div").unwrap();
    document().body().unwrap().append_child(&host).unwrap();
    host.unchecked_into()
}

/// Mounts `view` with a fresh context; returns the host, the context and the mount handle.
fn mount_with_ctx<V: IntoView + 'static>(
    exp: Experiment,
    view: impl FnOnce() -> V + 'static,
) -> (HtmlElement, Ctx, impl Sized) {
    let host = host();
    let slot = std::rc::Rc::new(std::cell::RefCell::new(None));
    let out = slot.clone();
    let mounted = mount_to(host.clone(), move || {
        let exp = RwSignal::new(exp);
        let play = RwSignal::new(PageState::default());
        // The page state takes in what the real worker says; its effects are not carried out.
        let worker = use_worker(move |m| {
            exp.with_untracked(|e| play.update(|p| drop(p.apply(m, e))));
        });
        let ctx = Ctx::new(exp, play, worker);
        ctx.provide();
        *out.borrow_mut() = Some(ctx);
        view()
    });
    let ctx = slot.borrow().expect("mounted");
    (host, ctx, mounted)
}

/// The page state takes in `message` as from the worker (its effects are not carried out).
fn hear(ctx: &Ctx, message: FromWorker) {
    let exp = ctx.exp.get_untracked();
    ctx.play.update(|p| drop(p.apply(message, &exp)));
}

fn find(host: &Element, selector: &str) -> Element {
    host.query_selector(selector)
        .unwrap()
        .unwrap_or_else(|| panic!("no element matches {selector}"))
}

fn type_into(host: &Element, selector: &str, text: &str) {
    let input: HtmlInputElement = find(host, selector).unchecked_into();
    input.set_value(text);
    input
        .dispatch_event(&web_sys::Event::new("input").unwrap())
        .unwrap();
}

fn choose(host: &Element, selector: &str, value: &str) {
    let select: HtmlSelectElement = find(host, selector).unchecked_into();
    select.set_value(value);
    select
        .dispatch_event(&web_sys::Event::new("change").unwrap())
        .unwrap();
}

/// The ids of the settings form's inputs.
const SETTINGS: [&str; 12] = [
    "epochs",
    "train-limit",
    "test-limit",
    "batch",
    "lr",
    "seed",
    "dataset",
    "optimizer",
    "canvas",
    "train-shift",
    "model-0-preset",
    "model-1-preset",
];

fn text(host: &Element, selector: &str) -> String {
    find(host, selector).text_content().unwrap_or_default()
}

#[wasm_bindgen_test]
async fn the_page_has_every_element_of_the_dom_contract() {
    let base = window().location().href().unwrap();
    let base = base.split('#').next().unwrap().to_string();
    let history = window().history().unwrap();
    history
        .replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&base))
        .unwrap();
    let host = host();
    let _mounted = mount_to(host.clone(), App);
    rendered().await;
    let controls = [
        "backend-badge",
        "run-status",
        "train",
        "pause",
        "resume",
        "stop",
        "copy-link",
        "random-digit",
        "clear-drawing",
        "share-link",
        "run-command",
        "draw-canvas",
        "prediction-0",
        "prediction-1",
    ];
    // The controls, the settings and the sections a link may jump to.
    for id in controls.into_iter().chain(SETTINGS).chain(SECTIONS) {
        assert!(
            host.query_selector(&format!("#{id}")).unwrap().is_some(),
            "#{id} is missing"
        );
    }
    // Every settings input has a label.
    for id in SETTINGS {
        assert!(
            host.query_selector(&format!("label[for={id}]"))
                .unwrap()
                .is_some(),
            "#{id} has no label"
        );
    }
    for model in 0..2 {
        for test in ["centered", "shifted"] {
            for metric in ["accuracy", "precision", "recall", "f1"] {
                let selector = format!(
                    r#"[data-model="{model}"][data-test="{test}"][data-metric="{metric}"]"#
                );
                assert!(
                    host.query_selector(&selector).unwrap().is_some(),
                    "{selector}"
                );
            }
        }
    }
    let status = find(&host, "#run-status")
        .get_attribute("data-state")
        .unwrap();
    assert!(["loading", "error"].contains(&status.as_str()), "{status}");
    assert!(
        host.query_selector("#link-error").unwrap().is_none(),
        "no bad link, no error, but: {} at {}",
        text(&host, "#link-error"),
        window().location().href().unwrap()
    );
    let draw: HtmlElement = find(&host, "#draw-canvas").unchecked_into();
    assert_eq!(draw.get_attribute("width").as_deref(), Some("64"));
}

#[wasm_bindgen_test]
async fn settings_change_the_experiment_and_the_share_link() {
    let (host, ctx, _m) = mount_with_ctx(
        Experiment::default(),
        || view! { <Settings /><ShareLink /> },
    );
    tick().await;
    let before: HtmlInputElement = find(&host, "#share-link").unchecked_into();
    let link_before = before.value();
    assert!(link_before.contains("#e="), "{link_before}");
    type_into(&host, "#epochs", "3");
    type_into(&host, "#seed", "99");
    choose(&host, "#optimizer", "sgd");
    choose(&host, "#dataset", "fashion-mnist");
    tick().await;
    let exp = ctx.exp.get_untracked();
    assert_eq!(exp.train.epochs, 3);
    assert_eq!(exp.train.seed, 99);
    assert_eq!(exp.data.dataset.dir(), "fashion-mnist");
    let link: HtmlInputElement = find(&host, "#share-link").unchecked_into();
    assert_ne!(link.value(), link_before);
    let fragment = link.value().split_once('#').unwrap().1.to_string();
    assert_eq!(Experiment::from_link(&fragment).unwrap(), exp);
    assert!(text(&host, "#run-command").starts_with("convplay run --link '"));
    assert!(text(&host, "#run-command").contains(&fragment));
}

#[wasm_bindgen_test]
async fn a_bad_setting_is_shown_beside_its_input_and_changes_nothing() {
    let (host, ctx, _m) = mount_with_ctx(Experiment::default(), || view! { <Settings /> });
    tick().await;
    type_into(&host, "#batch", "0");
    tick().await;
    assert_eq!(ctx.exp.get_untracked(), Experiment::default());
    assert!(
        text(&host, "#batch-error").contains("batch"),
        "{}",
        text(&host, "#batch-error")
    );
    type_into(&host, "#batch", "32");
    tick().await;
    assert_eq!(text(&host, "#batch-error"), "");
    assert_eq!(ctx.exp.get_untracked().train.batch, 32);
}

#[wasm_bindgen_test]
async fn choosing_a_preset_replaces_that_model() {
    let (host, ctx, _m) = mount_with_ctx(Experiment::default(), || view! { <Settings /> });
    tick().await;
    choose(&host, "#model-0-preset", "lenet5");
    let exp = ctx.exp.get_untracked();
    assert_eq!(exp.models[0].name, "lenet5");
    assert_eq!(exp.models[0].input, [1, 64, 64]);
    assert_eq!(exp.models[1].name, "cnn-gap");
}

fn evaluation(correct: usize, of: usize) -> Evaluation {
    let mut confusion = ConfusionMatrix::new(10);
    for i in 0..of {
        let truth = i % 10;
        let pred = if i < correct { truth } else { (truth + 1) % 10 };
        confusion.add(truth, pred).unwrap();
    }
    Evaluation {
        placement: CanvasPlacement::Centered,
        loss: 0.5,
        metrics: confusion.summary(),
        confusion,
    }
}

#[wasm_bindgen_test]
async fn results_cells_fill_in_after_an_evaluation() {
    let (host, ctx, _m) = mount_with_ctx(Experiment::default(), || view! { <Results /> });
    tick().await;
    let cell = r#"[data-model="1"][data-test="shifted"][data-metric="accuracy"]"#;
    assert_eq!(text(&host, cell), "");
    hear(
        &ctx,
        FromWorker::Evaluated {
            model: 1,
            epoch: 1,
            centered: evaluation(95, 100),
            shifted: evaluation(40, 100),
        },
    );
    tick().await;
    assert_eq!(text(&host, cell), "40.00");
    assert_eq!(
        text(
            &host,
            r#"[data-model="1"][data-test="centered"][data-metric="accuracy"]"#
        ),
        "95.00"
    );
    let f1 = text(
        &host,
        r#"[data-model="1"][data-test="centered"][data-metric="f1"]"#,
    );
    assert!(f1.parse::<f64>().unwrap() > 90.0, "{f1}");
    assert_eq!(
        text(
            &host,
            r#"[data-model="0"][data-test="centered"][data-metric="accuracy"]"#
        ),
        ""
    );
    // Two confusion matrices of 10×10 counts for model 1.
    let panel = find(&host, r#".result-panel[data-model="1"]"#);
    assert_eq!(
        panel
            .query_selector_all(".confusion tbody tr")
            .unwrap()
            .length(),
        20
    );
}

fn pointer(kind: &str, x: f64, y: f64) -> PointerEvent {
    let init = PointerEventInit::new();
    init.set_client_x(x as i32);
    init.set_client_y(y as i32);
    init.set_bubbles(true);
    init.set_pointer_id(1);
    PointerEvent::new_with_event_init_dict(kind, &init).unwrap()
}

#[wasm_bindgen_test]
async fn a_stroke_inks_the_drawing_and_predictions_show_their_class() {
    let (host, ctx, _m) = mount_with_ctx(Experiment::default(), || view! { <Playground /> });
    tick().await;
    let canvas = find(&host, "#draw-canvas");
    assert!(
        find(&host, "#prediction-0")
            .get_attribute("data-class")
            .is_none()
    );
    let rect = canvas.get_bounding_client_rect();
    let (x0, y) = (
        rect.left() + rect.width() * 0.3,
        rect.top() + rect.height() * 0.5,
    );
    canvas
        .dispatch_event(&pointer("pointerdown", x0, y))
        .unwrap();
    canvas
        .dispatch_event(&pointer("pointermove", x0 + rect.width() * 0.3, y))
        .unwrap();
    canvas
        .dispatch_event(&pointer("pointerup", x0 + rect.width() * 0.3, y))
        .unwrap();
    assert!(
        !ctx.drawing.with_untracked(|d| d.is_empty()),
        "the stroke inked the drawing"
    );
    let mut probs = vec![vec![0.01; 10]; 2];
    probs[0][7] = 0.91;
    probs[1][1] = 0.91;
    hear(&ctx, FromWorker::Prediction(probs));
    tick().await;
    assert_eq!(
        find(&host, "#prediction-0")
            .get_attribute("data-class")
            .as_deref(),
        Some("7")
    );
    assert_eq!(
        find(&host, "#prediction-1")
            .get_attribute("data-class")
            .as_deref(),
        Some("1")
    );
    let top = find(&host, "#prediction-0 li.top");
    assert!(top.text_content().unwrap().contains("91.0%"));
    // Clearing empties the drawing and the predictions.
    let clear: HtmlElement = find(&host, "#clear-drawing").unchecked_into();
    clear.click();
    tick().await;
    assert!(ctx.drawing.with_untracked(|d| d.is_empty()));
    assert!(
        find(&host, "#prediction-0")
            .get_attribute("data-class")
            .is_none()
    );
}

#[wasm_bindgen_test]
async fn moving_the_digit_shifts_its_ink() {
    let (host, ctx, _m) = mount_with_ctx(Experiment::default(), || view! { <Playground /> });
    tick().await;
    ctx.drawing.update(|d| d.pixels[32 * 64 + 32] = 1.0);
    let move_tool: HtmlElement = find(&host, "#tool-move").unchecked_into();
    move_tool.click();
    tick().await;
    let canvas = find(&host, "#draw-canvas");
    let rect = canvas.get_bounding_client_rect();
    let px = rect.width() / 64.0;
    let (x, y) = (
        rect.left() + rect.width() / 2.0,
        rect.top() + rect.height() / 2.0,
    );
    canvas
        .dispatch_event(&pointer("pointerdown", x, y))
        .unwrap();
    canvas
        .dispatch_event(&pointer("pointermove", x + 5.0 * px, y - 3.0 * px))
        .unwrap();
    canvas
        .dispatch_event(&pointer("pointerup", x + 5.0 * px, y - 3.0 * px))
        .unwrap();
    let pixels = ctx.drawing.with_untracked(|d| d.pixels.clone());
    let inked: Vec<usize> = (0..pixels.len()).filter(|&i| pixels[i] > 0.0).collect();
    assert_eq!(inked, [29 * 64 + 37]);
}

#[wasm_bindgen_test]
async fn a_line_chart_draws_one_line_per_series_with_a_legend() {
    let host = host();
    let series = Signal::derive(|| {
        vec![
            Series {
                label: "a train".into(),
                colour: "#000",
                dash: None,
                dots: false,
                points: vec![(0.0, 1.0), (0.5, 0.5), (1.0, 0.25)],
            },
            Series {
                label: "a test".into(),
                colour: "#000",
                dash: Some("6 3"),
                dots: true,
                points: vec![(1.0, 0.3)],
            },
        ]
    });
    let _m = mount_to(host.clone(), move || {
        view! { <LineChart title="Loss" x_label="epoch" series x_max=Signal::derive(|| 1.0) /> }
    });
    tick().await;
    assert_eq!(host.query_selector_all("polyline").unwrap().length(), 2);
    assert_eq!(host.query_selector_all("circle").unwrap().length(), 1);
    assert_eq!(host.query_selector_all(".legend li").unwrap().length(), 2);
    assert_eq!(text(&host, "figcaption"), "Loss");
}

#[wasm_bindgen_test]
async fn a_garbage_fragment_shows_the_error_and_the_defaults() {
    let history = window().history().unwrap();
    let base = window().location().href().unwrap();
    let base = base.split('#').next().unwrap().to_string();
    history
        .replace_state_with_url(
            &wasm_bindgen::JsValue::NULL,
            "",
            Some(&format!("{base}#e=1.%%garbage")),
        )
        .unwrap();
    let host = host();
    let _mounted = mount_to(host.clone(), App);
    // The page read its fragment when it mounted; put the test page's address back.
    history
        .replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&base))
        .unwrap();
    rendered().await;
    let error = text(&host, "#link-error");
    assert!(error.contains("could not be opened"), "{error}");
    assert!(error.contains("default"), "{error}");
    let epochs: HtmlInputElement = find(&host, "#epochs").unchecked_into();
    assert_eq!(
        epochs.value(),
        Experiment::default().train.epochs.to_string()
    );
    // The address now holds the defaults' link, so a reload is not an error again.
    let link: HtmlInputElement = find(&host, "#share-link").unchecked_into();
    let fragment = link.value().split_once('#').unwrap().1.to_string();
    assert_eq!(
        Experiment::from_link(&fragment).unwrap(),
        Experiment::default()
    );
    history
        .replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&base))
        .unwrap();
}

#[wasm_bindgen_test]
async fn the_device_select_offers_webgpu_once_the_worker_found_it() {
    use convplay_app::page::app::{BackendBadge, DeviceInput};
    use convplay_app::protocol::{BackendInfo, Device, GpuStatus};
    let (host, ctx, _m) = mount_with_ctx(Experiment::default(), || {
        view! { <BackendBadge /> <DeviceInput /> }
    });
    let say = |m: FromWorker| hear(&ctx, m);
    say(FromWorker::Ready(BackendInfo {
        backend: "wasm-simd128".into(),
        isa: "simd128".into(),
    }));
    tick().await;
    let gpu = || find(&host, "#device option[value=gpu]").has_attribute("disabled");
    assert!(gpu(), "no WebGPU yet: the GPU option is disabled");
    assert_eq!(text(&host, "#badge-device"), "wasm SIMD");
    assert!(text(&host, "#device-hint").contains("looking"));
    say(FromWorker::Gpu(GpuStatus::Ready {
        adapter: "SwiftShader".into(),
        software: true,
    }));
    tick().await;
    assert!(!gpu());
    assert!(
        text(&host, "#device-hint").contains("software, so slower"),
        "{}",
        text(&host, "#device-hint")
    );
    say(FromWorker::Device(Device::Gpu));
    tick().await;
    let select: HtmlSelectElement = find(&host, "#device").unchecked_into();
    assert_eq!(select.value(), "gpu");
    assert_eq!(text(&host, "#badge-device"), "WebGPU");
    say(FromWorker::Gpu(GpuStatus::Unavailable(
        "device lost".into(),
    )));
    say(FromWorker::Device(Device::Cpu));
    tick().await;
    assert!(gpu());
    assert_eq!(select.value(), "cpu");
    assert!(text(&host, "#device-hint").contains("device lost"));
}
