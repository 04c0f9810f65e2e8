//! The page: the experiment in one sentence, the worker's backend, and the two models compared,
//! each as its layer-by-layer summary computed in the worker.

use leptos::prelude::*;

use crate::protocol::ToWorker;
use crate::state::Playground;
use crate::summary_table::SummaryTable;
use crate::worker::use_worker;

/// A model the page compares: its preset name in convplay-compute and the head that sets it apart.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Compared {
    pub preset: &'static str,
    pub head: &'static str,
}

/// The lecture's two models, in the order the page shows them.
pub const COMPARED: [Compared; 2] = [
    Compared {
        preset: "cnn-flatten",
        head: "Flatten + dense head",
    },
    Compared {
        preset: "cnn-gap",
        head: "Global average pooling head",
    },
];

#[component]
pub fn App() -> impl IntoView {
    let playground = RwSignal::new(Playground::default());
    provide_context(playground);
    let worker = use_worker(move |message| playground.update(|p| p.apply(message)));
    for model in COMPARED {
        worker.send(ToWorker::Summarize(model.preset.to_string()));
    }

    view! {
        <header class="masthead">
            <h1>"convplay — flatten vs global average pooling"</h1>
            <BackendBadge />
        </header>
        <main>
            <p class="lede">
                "Two CNNs are trained on MNIST digits centred on a 64×64 canvas, one ending in "
                "flatten + dense layers and the other in global average pooling, then tested on "
                "centred and on shifted digits: in the lecture, flatten scored 99.36% centred but "
                "11.03% shifted, GAP 99.34% and 99.06%."
            </p>
            <Errors />
            <div class="models">
                {COMPARED.into_iter().map(|model| view! { <ModelCard model /> }).collect::<Vec<_>>()}
            </div>
        </main>
    }
}

/// Where the worker computes, once it has said so.
#[component]
pub fn BackendBadge() -> impl IntoView {
    let playground = expect_context::<RwSignal<Playground>>();
    move || match playground.with(|p| p.backend().cloned()) {
        Some(info) => view! {
            <p class="badge" data-state="ready" title="Where the worker computes">
                <span class="badge-backend">{info.backend}</span>
                <span class="badge-isa">{format!("ISA {}", info.isa)}</span>
            </p>
        }
        .into_any(),
        None => view! {
            <p class="badge" data-state="starting">"Starting the worker…"</p>
        }
        .into_any(),
    }
}

/// One compared model: its name, its head, and its summary once the worker has sent it.
#[component]
pub fn ModelCard(model: Compared) -> impl IntoView {
    let playground = expect_context::<RwSignal<Playground>>();
    let body = move || match playground.with(|p| p.summary(model.preset).cloned()) {
        Some(Ok(summary)) => view! { <SummaryTable summary /> }.into_any(),
        Some(Err(error)) => view! { <p class="error">{error}</p> }.into_any(),
        None => view! { <p class="pending">"Computing the summary in the worker…"</p> }.into_any(),
    };
    view! {
        <section class="model" aria-labelledby=format!("model-{}", model.preset)>
            <h2 id=format!("model-{}", model.preset)>
                <code>{model.preset}</code>
                <span class="head">{model.head}</span>
            </h2>
            {body}
        </section>
    }
}

/// Failures that belong to no one model: the worker failing to start, a panic, a bad message.
#[component]
pub fn Errors() -> impl IntoView {
    let playground = expect_context::<RwSignal<Playground>>();
    let errors = move || playground.with(|p| p.errors().to_vec());
    view! {
        <Show when=move || !errors().is_empty()>
            <ul class="errors" role="alert">
                {move || errors().into_iter().map(|e| view! { <li>{e}</li> }).collect::<Vec<_>>()}
            </ul>
        </Show>
    }
}
