//! The lecture's table (accuracy, precision, recall, F1 × centred / shifted) and a confusion
//! matrix per model, from the last evaluation; weights download and upload.

use convplay_compute::metrics::{ClassificationMetrics, ConfusionMatrix};
use leptos::prelude::*;

use crate::page::charts::model_colour;
use crate::page::ctx::Ctx;
use crate::page::playground::class_names;
use crate::page::weights_io::WeightsButtons;

/// The four metrics in table order: `data-metric` value and column title.
pub const METRICS: [(&str, &str); 4] = [
    ("accuracy", "Accuracy"),
    ("precision", "Precision"),
    ("recall", "Recall"),
    ("f1", "F1"),
];

/// A metric in percent with two decimals: `0.97844` → `97.84`.
pub fn percent(v: f64) -> String {
    format!("{:.2}", v * 100.0)
}

fn metric(m: &ClassificationMetrics, name: &str) -> f64 {
    match name {
        "accuracy" => m.accuracy,
        "precision" => m.precision,
        "recall" => m.recall,
        _ => m.f1,
    }
}

#[component]
pub fn Results() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let names = Memo::new(move |_| {
        ctx.exp
            .with(|e| e.models.iter().map(|m| m.name.clone()).collect::<Vec<_>>())
    });
    view! {
        <div class="results">
            {move || names.get().into_iter().enumerate().map(|(i, name)| view! { <ModelResults index=i name /> }).collect_view()}
        </div>
    }
}

#[component]
fn ModelResults(index: usize, name: String) -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let eval = Memo::new(move |_| ctx.play.with(|p| p.last_eval(index).cloned()));
    let row = move |test: &'static str, title: &'static str| {
        view! {
            <tr>
                <th scope="row">{title}</th>
                {METRICS
                    .iter()
                    .map(|&(m, _)| {
                        let text = move || {
                            eval.with(|e| {
                                e.as_ref().map(|e| {
                                    let ev = if test == "centered" { &e.centered } else { &e.shifted };
                                    percent(metric(&ev.metrics, m))
                                })
                            })
                        };
                        view! { <td class="num" data-model=index data-test=test data-metric=m>{text}</td> }
                    })
                    .collect_view()}
            </tr>
        }
    };
    let epoch = move || eval.with(|e| e.as_ref().map(|e| format!("after epoch {}", e.epoch)));
    view! {
        <section class="result-panel" data-model=index aria-labelledby=format!("result-{index}-title")>
            <h3 id=format!("result-{index}-title")>
                <span class="swatch" style=format!("background:{}", model_colour(index))></span>
                <code>{name}</code>
                <span class="head">{epoch}</span>
            </h3>
            <table class="metrics">
                <caption class="visually-hidden">"Test metrics in percent (macro-averaged)"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Test set"</th>
                        {METRICS.iter().map(|&(_, title)| view! { <th scope="col" class="num">{title}</th> }).collect_view()}
                    </tr>
                </thead>
                <tbody>
                    {row("centered", "Centred")}
                    {row("shifted", "Shifted")}
                </tbody>
            </table>
            {move || eval.get().map(|e| view! {
                <div class="confusions">
                    <Confusion title="Centred" matrix=e.centered.confusion.clone() />
                    <Confusion title="Shifted" matrix=e.shifted.confusion.clone() />
                </div>
            })}
            <WeightsButtons index />
        </section>
    }
}

/// A confusion matrix as a table, rows = true class, shaded by each row's share.
#[component]
pub fn Confusion(#[prop(into)] title: String, matrix: ConfusionMatrix) -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let names = class_names(ctx.exp.with_untracked(|e| e.data.dataset));
    let n = matrix.classes();
    let header = (0..n)
        .map(|p| view! { <th scope="col">{names.get(p).copied().unwrap_or("?")}</th> })
        .collect_view();
    let rows = (0..n)
        .map(|t| {
            let row_total: u64 = (0..n).map(|p| matrix.count(t, p)).sum();
            let cells = (0..n)
                .map(|p| {
                    let c = matrix.count(t, p);
                    let share = if row_total > 0 {
                        c as f64 / row_total as f64
                    } else {
                        0.0
                    };
                    let hue = if t == p { 210 } else { 10 };
                    let style = format!("background:hsl({hue} 80% 50% / {:.2})", share);
                    view! { <td style=style class:diag=t == p>{c}</td> }
                })
                .collect_view();
            view! { <tr><th scope="row">{names.get(t).copied().unwrap_or("?")}</th>{cells}</tr> }
        })
        .collect_view();
    view! {
        <figure class="confusion">
            <figcaption>{title} " (rows: true class, columns: predicted)"</figcaption>
            <div class="table-scroll">
                <table>
                    <thead><tr><th></th>{header}</tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn percent_has_two_decimals() {
        assert_eq!(percent(0.97844), "97.84");
        assert_eq!(percent(1.0), "100.00");
        assert_eq!(percent(0.0), "0.00");
    }
}
