//! Training controls, progress and the live loss and accuracy curves of every model.

use leptos::prelude::*;

use crate::page::charts::{LineChart, Series, model_colour};
use crate::page::ctx::Ctx;
use crate::page::state::{ModelRun, Status};
use crate::protocol::{ToWorker, WorkerMemory};

/// The curves of one chart: per model, its running training figure and the epoch-end test
/// figures on centred and shifted digits. `pick` chooses loss or accuracy.
pub fn curves(names: &[String], runs: &[ModelRun], accuracy: bool) -> Vec<Series> {
    let mut out = Vec::new();
    for (i, (name, run)) in names.iter().zip(runs).enumerate() {
        let train = run
            .train
            .iter()
            .map(|t| (t.x, if accuracy { t.accuracy * 100.0 } else { t.loss }))
            .collect();
        out.push(Series {
            label: format!("{name} train"),
            colour: model_colour(i),
            dash: None,
            dots: false,
            points: train,
        });
        let test = |shifted: bool| {
            run.evals
                .iter()
                .map(|e| {
                    let ev = if shifted { &e.shifted } else { &e.centered };
                    let y = if accuracy {
                        ev.metrics.accuracy as f32 * 100.0
                    } else {
                        ev.loss
                    };
                    (e.epoch as f32, y)
                })
                .collect()
        };
        out.push(Series {
            label: format!("{name} test, centred"),
            colour: model_colour(i),
            dash: Some("6 3"),
            dots: true,
            points: test(false),
        });
        out.push(Series {
            label: format!("{name} test, shifted"),
            colour: model_colour(i),
            dash: Some("2 3"),
            dots: true,
            points: test(true),
        });
    }
    out
}

/// `worker 41.2 MB · GPU 12.0 MB in 48 buffers` (the GPU part only while it holds any).
pub fn memory_text(m: &WorkerMemory) -> String {
    let mb = |b: u64| b as f64 / 1e6;
    let mut text = format!("worker {:.1} MB", mb(m.wasm_bytes));
    if m.gpu_buffers > 0 {
        text += &format!(
            " · GPU {:.1} MB in {} buffers",
            mb(m.gpu_bytes),
            m.gpu_buffers
        );
    }
    text
}

#[component]
pub fn Training() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let status = Memo::new(move |_| ctx.play.with(|p| p.status()));
    let names = Memo::new(move |_| {
        ctx.exp
            .with(|e| e.models.iter().map(|m| m.name.clone()).collect::<Vec<_>>())
    });
    let epochs = Signal::derive(move || ctx.exp.with(|e| e.train.epochs) as f32);
    let loss = Signal::derive(move || ctx.play.with(|p| curves(&names.get(), &p.models, false)));
    let accuracy = Signal::derive(move || ctx.play.with(|p| curves(&names.get(), &p.models, true)));
    let training = move || matches!(status.get(), Status::Training);
    let paused = move || matches!(status.get(), Status::Paused);
    let can_train = move || matches!(status.get(), Status::Idle | Status::Done);
    view! {
        <div class="controls" role="group" aria-label="Training controls">
            <button id="train" type="button" class="primary" disabled=move || !can_train() on:click=move |_| ctx.train()>
                "Train"
            </button>
            <button id="pause" type="button" disabled=move || !training() on:click=move |_| ctx.worker.send(ToWorker::Pause)>
                "Pause"
            </button>
            <button id="resume" type="button" disabled=move || !paused() on:click=move |_| ctx.worker.send(ToWorker::Resume)>
                "Resume"
            </button>
            <button id="stop" type="button" disabled=move || !(training() || paused()) on:click=move |_| ctx.worker.send(ToWorker::Stop)>
                "Stop"
            </button>
            <span class="throughput" id="images-per-second">
                {move || ctx.play.with(|p| p.images_per_second()).map(|r| format!("{r:.0} images/s"))}
            </span>
            {move || ctx.play.with(|p| p.memory).map(|m| view! {
                <span
                    class="memory"
                    id="worker-memory"
                    title="What the training worker holds: its wasm memory, and the buffers on its WebGPU device"
                    data-wasm-bytes=m.wasm_bytes.to_string()
                    data-gpu-buffers=m.gpu_buffers.to_string()
                    data-gpu-bytes=m.gpu_bytes.to_string()
                >
                    {memory_text(&m)}
                </span>
            })}
        </div>
        <div class="progress-list">
            {move || {
                names
                    .get()
                    .into_iter()
                    .enumerate()
                    .map(|(i, name)| {
                        let position = move || ctx.play.with(|p| p.models.get(i).and_then(|m| m.position));
                        let total = move || ctx.exp.with(|e| e.train.epochs);
                        let fraction = move || {
                            position().map_or(0.0, |(e, s, n)| {
                                ((e - 1) as f64 + s as f64 / n.max(1) as f64) / total().max(1) as f64
                            })
                        };
                        let id = format!("progress-{i}");
                        view! {
                            <div class="model-progress">
                                <label for=id.clone()>
                                    <span class="swatch" style=format!("background:{}", model_colour(i))></span>
                                    {name}
                                    " "
                                    {move || position().map(|(e, s, n)| format!("epoch {e}/{}, step {s}/{n}", total()))}
                                </label>
                                <progress id=id max="1" value=fraction></progress>
                            </div>
                        }
                    })
                    .collect_view()
            }}
        </div>
        <div class="charts">
            <LineChart title="Loss" x_label="epoch" series=loss x_max=epochs />
            <LineChart title="Accuracy (%)" x_label="epoch" series=accuracy x_max=epochs y_max=100.0 />
        </div>
    }
}
