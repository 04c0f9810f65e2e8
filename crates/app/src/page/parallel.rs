//! How many workers train: the setting (by default `min(navigator.hardwareConcurrency, 4)`),
//! its input, and the experiment's `train.shards`, which follows it only when a model has batch
//! norm. Data-parallel shards normalise with their own batch statistics, so for such a model
//! the worker count changes the numbers and travels in the share link; for any other model it
//! changes only float rounding and stays out of the link.

use convplay_compute::ModelSpec;
use leptos::prelude::*;

use crate::experiment::Experiment;
use crate::page::ctx::Ctx;
use crate::protocol::ToWorker;

/// The default never starts more workers than this, however many cores the browser offers.
pub const DEFAULT_MAX: usize = 4;

/// Logical cores the browser offers (`navigator.hardwareConcurrency`, at least 1).
pub fn cores() -> usize {
    (window().navigator().hardware_concurrency() as usize).max(1)
}

pub fn default_count() -> usize {
    cores().min(DEFAULT_MAX)
}

/// The badge's text for `n` training workers.
pub fn label(n: usize) -> String {
    if n == 1 {
        "1 worker".into()
    } else {
        format!("{n} workers")
    }
}

/// `train.shards` of `exp` trained by `workers` workers.
pub fn shards_for(exp: &Experiment, workers: usize) -> usize {
    if exp.models.iter().any(ModelSpec::has_batchnorm) {
        workers
    } else {
        1
    }
}

/// Tells the worker the count whenever it changes, and keeps `train.shards` in step.
pub fn follow(ctx: Ctx) {
    Effect::new(move |_| ctx.worker.send(ToWorker::Workers(ctx.workers.get())));
    Effect::new(move |_| {
        let workers = ctx.workers.get();
        let want = ctx.exp.with(|e| shards_for(e, workers));
        if ctx.exp.with_untracked(|e| e.train.shards) != want {
            ctx.exp.update(|e| e.train.shards = want);
        }
    });
}

/// The worker-count select: 1 to the browser's cores (or the link's count, if higher).
#[component]
pub fn WorkersInput() -> impl IntoView {
    let workers = expect_context::<RwSignal<usize>>();
    let most = cores().max(workers.get_untracked());
    let on_change = move |ev| {
        if let Ok(n) = event_target_value(&ev).parse::<usize>() {
            workers.set(n.clamp(1, most));
        }
    };
    view! {
        <div class="field">
            <label for="workers">"Workers"</label>
            <select id="workers" prop:value=move || workers.get().to_string() on:change=on_change>
                {(1..=most)
                    .map(|n| view! { <option value=n.to_string() selected=move || workers.get() == n>{n}</option> })
                    .collect_view()}
            </select>
            <span class="hint">{format!("data-parallel; this browser offers {} cores", cores())}</span>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use convplay_compute::model::preset_for;

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn only_batchnorm_models_put_the_worker_count_in_the_experiment() {
        let mut exp = Experiment::default();
        assert_eq!(shards_for(&exp, 3), 1);
        exp.models[1] = preset_for("resnet-mini", 64).unwrap();
        assert_eq!(shards_for(&exp, 3), 3);
        exp.train.shards = 3;
        let back = Experiment::from_link(&exp.to_fragment()).unwrap();
        assert_eq!(back.train.shards, 3);
        assert_eq!(label(1), "1 worker");
        assert_eq!(label(2), "2 workers");
    }
}
