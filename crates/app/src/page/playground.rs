//! The drawing canvas and the live class probabilities of every model.
//!
//! Drawing and moving happen on the page's thread (a 64×64 buffer); each change asks the worker
//! for predictions, at most one request in flight, the latest drawing sent when it answers.

use leptos::html::Canvas;
use leptos::prelude::*;
use wasm_bindgen::{Clamped, JsCast};
use web_sys::{CanvasRenderingContext2d, ImageData, KeyboardEvent, PointerEvent};

use crate::page::charts::model_colour;
use crate::page::ctx::Ctx;
use crate::page::drawing::{Drawing, SIDE};
use crate::protocol::ToWorker;
use convplay_compute::data::DatasetKind;

/// Class names of a dataset, by label.
pub fn class_names(kind: DatasetKind) -> [&'static str; 10] {
    match kind {
        DatasetKind::Mnist => ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
        DatasetKind::FashionMnist => [
            "T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
            "Boot",
        ],
    }
}

/// Whether a drag on the canvas draws or moves the digit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tool {
    Draw,
    Move,
}

/// Paints `drawing` onto `canvas` (64×64 backing pixels).
pub fn paint(canvas: &web_sys::HtmlCanvasElement, drawing: &Drawing) {
    let Ok(Some(ctx)) = canvas.get_context("2d") else {
        return;
    };
    let ctx: CanvasRenderingContext2d = ctx.unchecked_into();
    let rgba = drawing.rgba();
    if let Ok(data) =
        ImageData::new_with_u8_clamped_array_and_sh(Clamped(&rgba), SIDE as u32, SIDE as u32)
    {
        let _ = ctx.put_image_data(&data, 0.0, 0.0);
    }
}

/// The pointer's position in canvas pixels.
fn canvas_point(canvas: &web_sys::HtmlCanvasElement, ev: &PointerEvent) -> (f32, f32) {
    let rect = canvas.get_bounding_client_rect();
    let sx = SIDE as f64 / rect.width().max(1.0);
    let sy = SIDE as f64 / rect.height().max(1.0);
    (
        ((ev.client_x() as f64 - rect.left()) * sx) as f32,
        ((ev.client_y() as f64 - rect.top()) * sy) as f32,
    )
}

#[component]
pub fn Playground() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let canvas_ref = NodeRef::<Canvas>::new();
    let tool = RwSignal::new(Tool::Draw);
    // The last pointer position while a button is down, and the drawing when a move began.
    let last = StoredValue::new(None::<(f32, f32)>);
    let moving_from = StoredValue::new(None::<((f32, f32), Drawing)>);

    Effect::new(move |_| {
        let drawing = ctx.drawing.get();
        if let Some(canvas) = canvas_ref.get() {
            paint(&canvas, &drawing);
        }
    });

    let on_down = move |ev: PointerEvent| {
        let Some(canvas) = canvas_ref.get_untracked() else {
            return;
        };
        ev.prevent_default();
        let _ = canvas.set_pointer_capture(ev.pointer_id());
        let p = canvas_point(&canvas, &ev);
        match tool.get_untracked() {
            Tool::Draw => {
                last.set_value(Some(p));
                ctx.change_drawing(|d| d.stroke(p, p));
            }
            Tool::Move => moving_from.set_value(Some((p, ctx.drawing.get_untracked()))),
        }
    };
    let on_move = move |ev: PointerEvent| {
        let Some(canvas) = canvas_ref.get_untracked() else {
            return;
        };
        let p = canvas_point(&canvas, &ev);
        if let Some(from) = last.get_value() {
            last.set_value(Some(p));
            ctx.change_drawing(|d| d.stroke(from, p));
        } else if let Some((start, original)) = moving_from.get_value() {
            let (dx, dy) = ((p.0 - start.0).round(), (p.1 - start.1).round());
            ctx.change_drawing(|d| *d = original.shifted(dx as i32, dy as i32));
        }
    };
    let on_up = move |_: PointerEvent| {
        let was_active = last.get_value().is_some() || moving_from.get_value().is_some();
        last.set_value(None);
        moving_from.set_value(None);
        if was_active {
            ctx.inspect();
        }
    };
    let on_key = move |ev: KeyboardEvent| {
        let (dx, dy) = match ev.key().as_str() {
            "ArrowLeft" => (-1, 0),
            "ArrowRight" => (1, 0),
            "ArrowUp" => (0, -1),
            "ArrowDown" => (0, 1),
            _ => return,
        };
        ev.prevent_default();
        ctx.change_drawing(|d| *d = d.shifted(dx, dy));
        ctx.inspect();
    };
    let clear = move |_| {
        ctx.change_drawing(Drawing::clear);
        ctx.play.update(|p| p.inspection.clear());
    };
    let random = move |_| ctx.worker.send(ToWorker::RandomDigit);

    let tool_button = move |t: Tool, id: &'static str, label: &'static str| {
        view! {
            <button
                id=id
                type="button"
                aria-pressed=move || (tool.get() == t).to_string()
                on:click=move |_| tool.set(t)
            >
                {label}
            </button>
        }
    };

    view! {
        <div class="playground">
            <div class="draw">
                <div class="draw-frame">
                    <canvas
                        id="draw-canvas"
                        node_ref=canvas_ref
                        width=SIDE
                        height=SIDE
                        tabindex="0"
                        aria-label="Drawing canvas, 64 by 64 pixels: draw a digit with the mouse, a finger or a pen; in Move mode, or with the arrow keys, move it"
                        class:moving=move || tool.get() == Tool::Move
                        on:pointerdown=on_down
                        on:pointermove=on_move
                        on:pointerup=on_up
                        on:pointercancel=on_up
                        on:keydown=on_key
                    ></canvas>
                    <div class="guide" aria-hidden="true" title="Training digits are 28×28, centred here"></div>
                </div>
                <div class="draw-tools" role="group" aria-label="Drawing tools">
                    {tool_button(Tool::Draw, "tool-draw", "Draw")}
                    {tool_button(Tool::Move, "tool-move", "Move")}
                    <button id="clear-drawing" type="button" on:click=clear>"Clear"</button>
                    <button id="random-digit" type="button" on:click=random>"Random test digit"</button>
                </div>
                <p class="hint">
                    "The dashed square is where training digits sit (28×28, centred). Drag the digit elsewhere "
                    "and compare the two models."
                    {move || ctx.play.with(|p| p.digit_label).map(|label| {
                        let names = class_names(ctx.exp.with(|e| e.data.dataset));
                        format!(" Test digit label: {}.", names[label as usize % 10])
                    })}
                </p>
            </div>
            <Predictions />
        </div>
    }
}

/// Each model's probability per class as bars, with the predicted class marked.
#[component]
fn Predictions() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let models = move || {
        ctx.exp
            .with(|e| e.models.iter().map(|m| m.name.clone()).collect::<Vec<_>>())
    };
    view! {
        <div class="predictions">
            {move || {
                models()
                    .into_iter()
                    .enumerate()
                    .map(|(i, name)| {
                        let probs = move || {
                            if ctx.drawing.with(Drawing::is_empty) {
                                return None;
                            }
                            ctx.play.with(|p| p.prediction.as_ref().and_then(|all| all.get(i).cloned()))
                        };
                        let predicted = move || {
                            probs().map(|p| convplay_compute::metrics::argmax(&p).to_string())
                        };
                        let names = move || class_names(ctx.exp.with(|e| e.data.dataset));
                        view! {
                            <section
                                class="prediction"
                                id=format!("prediction-{i}")
                                data-class=predicted
                                aria-label=format!("Predictions of model {}", i + 1)
                            >
                                <h3>
                                    <span class="swatch" style=format!("background:{}", model_colour(i))></span>
                                    {name}
                                    <span class="predicted">
                                        {move || predicted().map(|c| {
                                            let c: usize = c.parse().unwrap_or(0);
                                            format!("→ {}", names()[c])
                                        }).unwrap_or_else(|| "draw a digit".into())}
                                    </span>
                                </h3>
                                <ol class="bars">
                                    {move || {
                                        let p = probs().unwrap_or_else(|| vec![0.0; 10]);
                                        let top = convplay_compute::metrics::argmax(&p);
                                        names()
                                            .into_iter()
                                            .zip(p)
                                            .enumerate()
                                            .map(|(c, (label, v))| {
                                                view! {
                                                    <li class:top=move || { c == top && v > 0.0 }>
                                                        <span class="bar-label">{label}</span>
                                                        <span class="bar">
                                                            <span class="fill" style=format!("width:{:.1}%;background:{}", v * 100.0, model_colour(i))></span>
                                                        </span>
                                                        <span class="bar-value">{format!("{:.1}%", v * 100.0)}</span>
                                                    </li>
                                                }
                                            })
                                            .collect_view()
                                    }}
                                </ol>
                            </section>
                        }
                    })
                    .collect_view()
            }}
        </div>
    }
}
