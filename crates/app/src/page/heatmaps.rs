//! Accuracy by shift: per model, a grid over the digit's (dx, dy) placements on the canvas,
//! computed in the worker after training, or on request during it.

use convplay_compute::metrics::ShiftMap;
use leptos::prelude::*;

use crate::page::charts::{accuracy_colour, model_colour};
use crate::page::ctx::Ctx;
use crate::protocol::ToWorker;

/// Grid step and test images per offset used after training.
pub const DEFAULT: (usize, usize) = (6, 100);

#[component]
pub fn Heatmaps() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let step = RwSignal::new(DEFAULT.0.to_string());
    let images = RwSignal::new(DEFAULT.1.to_string());
    let error = RwSignal::new(None::<String>);
    let compute = move |_| {
        let parsed = step.get_untracked().trim().parse::<usize>();
        let count = images.get_untracked().trim().parse::<usize>();
        match (parsed, count) {
            (Ok(s), Ok(n)) if (1..=36).contains(&s) && (1..=10_000).contains(&n) => {
                error.set(None);
                ctx.worker.send(ToWorker::ShiftMaps { step: s, images: n });
            }
            _ => error.set(Some(
                "Use a step of 1 to 36 pixels and 1 to 10,000 images.".into(),
            )),
        }
    };
    let progress = move || {
        ctx.play
            .with(|p| p.shift_maps.as_ref().map(|(d, t, _)| (*d, *t)))
    };
    let names = move || {
        ctx.exp
            .with(|e| e.models.iter().map(|m| m.name.clone()).collect::<Vec<_>>())
    };
    view! {
        <p class="lede">
            "Each cell is the accuracy with every test digit placed at that offset (dx, dy) of the "
            "canvas; the centre cell is where the models trained. Computed after training; refresh "
            "it any time, also while training."
        </p>
        <div class="controls">
            <div class="field">
                <label for="heatmap-step">"Grid step (px)"</label>
                <input id="heatmap-step" type="text" inputmode="numeric" prop:value=move || step.get()
                    on:input=move |ev| step.set(event_target_value(&ev)) />
            </div>
            <div class="field">
                <label for="heatmap-images">"Test images per offset"</label>
                <input id="heatmap-images" type="text" inputmode="numeric" prop:value=move || images.get()
                    on:input=move |ev| images.set(event_target_value(&ev)) />
            </div>
            <button id="compute-heatmaps" type="button" on:click=compute>"Compute heatmaps"</button>
            <span role="status">
                {move || error.get()}
                {move || progress().filter(|(d, t)| d < t).map(|(d, t)| format!("{d} of {t} cells…"))}
            </span>
        </div>
        <div class="heatmaps">
            {move || {
                let maps = ctx.play.with(|p| p.shift_maps.as_ref().map(|(_, _, m)| m.clone())).unwrap_or_default();
                if maps.is_empty() {
                    return view! { <p class="pending">"Train the models (or press Compute) to see the maps."</p> }.into_any();
                }
                let names = names();
                let done = progress().map_or(0, |(d, _)| d);
                let per_map = maps.first().map_or(0, |m| m.accuracy.len());
                maps.into_iter()
                    .enumerate()
                    .map(|(i, map)| {
                        let name = names.get(i).cloned().unwrap_or_default();
                        let computed = done.saturating_sub(i * per_map).min(per_map);
                        view! { <Heatmap index=i name map computed /> }
                    })
                    .collect_view()
                    .into_any()
            }}
        </div>
    }
}

/// One model's map as a grid of coloured cells with the accuracy in each; the first `computed`
/// cells (row by row) are known, the others still pending.
#[component]
fn Heatmap(index: usize, name: String, map: ShiftMap, computed: usize) -> impl IntoView {
    let n = map.offsets.len();
    let known = &map.accuracy[..computed.min(map.accuracy.len())];
    let mean = if computed == map.accuracy.len() {
        format!(" mean {:.1}%", map.mean() * 100.0)
    } else {
        format!(" {} of {} offsets so far", known.len(), map.accuracy.len())
    };
    let cells = (0..n)
        .flat_map(|yi| (0..n).map(move |xi| (xi, yi)))
        .map(|(xi, yi)| {
            if yi * n + xi >= computed {
                return view! { <div class="cell pending" aria-label="not computed yet"></div> }.into_any();
            }
            let acc = map.get(xi, yi).unwrap_or(0.0);
            let title = format!("dx {}, dy {}: {:.1}%", map.offsets[xi], map.offsets[yi], acc * 100.0);
            view! {
                <div class="cell" style=format!("background:{}", accuracy_colour(acc)) title=title.clone() aria-label=title>
                    {format!("{:.0}", acc * 100.0)}
                </div>
            }
            .into_any()
        })
        .collect_view();
    view! {
        <figure class="heatmap" data-model=index>
            <figcaption>
                <span class="swatch" style=format!("background:{}", model_colour(index))></span>
                <code>{name}</code>
                {mean}
            </figcaption>
            <div class="grid" style=format!("grid-template-columns:repeat({n}, 1fr)")>{cells}</div>
            <p class="axis-note">{format!("dx → 0…{}, dy ↓ 0…{}", map.offsets.last().unwrap_or(&0), map.offsets.last().unwrap_or(&0))}</p>
        </figure>
    }
}
