//! The context every component shares ([`Ctx`]): the experiment, the page state, the drawing and
//! the worker handle, and how the page takes in the worker's messages. Components import it from
//! here; `app.rs` only composes them.

use leptos::prelude::*;

use crate::experiment::Experiment;
use crate::page::drawing::Drawing;
use crate::page::handle::WorkerHandle;
use crate::page::state::PageState;
use crate::page::weights_io;
use crate::protocol::{FromWorker, RunState, ToWorker};

/// At most one prediction in flight; a drawing changed meanwhile is sent when it answers.
#[derive(Default)]
struct Predictor {
    in_flight: bool,
    queued: bool,
}

/// Everything the components share.
#[derive(Clone, Copy)]
pub struct Ctx {
    pub exp: RwSignal<Experiment>,
    pub play: RwSignal<PageState>,
    /// Workers to train with (the setting; the worker says how many actually do).
    pub workers: RwSignal<usize>,
    pub drawing: RwSignal<Drawing>,
    pub worker: WorkerHandle,
    predictor: StoredValue<Predictor>,
}

impl Ctx {
    /// Shared state around `worker`, with an empty drawing and nothing heard from the worker yet.
    pub fn new(exp: RwSignal<Experiment>, play: RwSignal<PageState>, worker: WorkerHandle) -> Ctx {
        let workers = exp.with_untracked(|e| e.train.shards);
        let workers = if workers > 1 {
            workers
        } else {
            crate::page::parallel::default_count()
        };
        Ctx {
            exp,
            play,
            workers: RwSignal::new(workers),
            drawing: RwSignal::new(Drawing::default()),
            worker,
            predictor: StoredValue::new(Predictor::default()),
        }
    }

    /// Provides this context, and its experiment and playground signals, to child components.
    pub fn provide(self) {
        provide_context(self);
        provide_context(self.exp);
        provide_context(self.play);
        provide_context(self.workers);
    }

    /// Changes the drawing and asks for new predictions.
    pub fn change_drawing(&self, f: impl FnOnce(&mut Drawing)) {
        self.drawing.update(f);
        self.predict();
    }

    /// Asks the worker for the current drawing's predictions (or queues the request).
    pub fn predict(&self) {
        if self.drawing.with_untracked(Drawing::is_empty) {
            self.play.update(|p| p.prediction = None);
            return;
        }
        let send = self.predictor.try_update_value(|p| {
            if p.in_flight {
                p.queued = true;
                false
            } else {
                p.in_flight = true;
                true
            }
        });
        if send == Some(true) {
            let image = self.drawing.with_untracked(Drawing::image);
            self.worker.send(ToWorker::Predict(image));
        }
    }

    fn predicted(&self) {
        let again = self.predictor.try_update_value(|p| {
            p.in_flight = false;
            std::mem::take(&mut p.queued)
        });
        if again == Some(true) {
            self.predict();
        }
    }

    /// Asks the worker for feature maps and the CAM of the current drawing.
    pub fn inspect(&self) {
        if !self.drawing.with_untracked(Drawing::is_empty) {
            let image = self.drawing.with_untracked(Drawing::image);
            self.worker.send(ToWorker::Inspect(image));
        }
    }

    /// Starts training the current experiment.
    pub fn train(&self) {
        let exp = self.exp.get_untracked();
        self.play.update(|p| p.start_run(exp.models.len()));
        self.worker.send(ToWorker::Start(exp));
    }

    /// Takes in one message from the worker.
    pub(crate) fn receive(&self, message: FromWorker) {
        match &message {
            FromWorker::Ready(_) => {
                let exp = self.exp.get_untracked();
                self.worker.send(ToWorker::Load(exp.data.dataset));
                self.worker.send(ToWorker::Prepare(exp));
            }
            FromWorker::Prediction(_) => self.predicted(),
            FromWorker::Digit { image, .. } => {
                let image = image.clone();
                self.change_drawing(|d| *d = Drawing::centred(&image));
                self.inspect();
            }
            FromWorker::Run(RunState::Finished) => {
                let (step, images) = crate::page::heatmaps::DEFAULT;
                self.worker.send(ToWorker::ShiftMaps { step, images });
                self.predict();
                self.inspect();
            }
            FromWorker::Imported { spec, .. }
                if spec.input[1] != self.exp.with_untracked(|e| e.train.canvas) =>
            {
                let side = spec.input[1];
                self.exp.update(|e| {
                    e.train.canvas = side;
                    e.models = e
                        .models
                        .iter()
                        .map(|m| crate::page::settings::on_canvas(m, side))
                        .collect();
                });
            }
            _ => {}
        }
        let imported = match &message {
            FromWorker::Imported { index, spec } => Some((*index, spec.clone())),
            _ => None,
        };
        let weights = match &message {
            FromWorker::Weights { index, bytes } => Some((*index, bytes.clone())),
            _ => None,
        };
        self.play.update(|p| p.apply(message));
        if let Some((index, spec)) = imported {
            self.exp.update(|e| {
                if let Some(m) = e.models.get_mut(index) {
                    *m = spec;
                }
            });
            self.predict();
        }
        if let Some((index, bytes)) = weights {
            let name = self.exp.with_untracked(|e| {
                e.models
                    .get(index)
                    .map_or("model".into(), |m| m.name.clone())
            });
            weights_io::download(&format!("{name}.safetensors"), &bytes);
        }
    }
}
