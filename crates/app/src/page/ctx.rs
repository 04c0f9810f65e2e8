//! The context every component shares ([`Ctx`]): the experiment, the page state, the drawing and
//! the worker handle. It takes in the worker's messages: the page state's reducer decides, and
//! [`Ctx`] carries out the effects. Components import it from here; `app.rs` only composes them.

use leptos::prelude::*;

use crate::experiment::Experiment;
use crate::page::drawing::Drawing;
use crate::page::handle::WorkerHandle;
use crate::page::state::{Effect, PageState};
use crate::page::weights_io;
use crate::protocol::{FromWorker, ToWorker};

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

    /// Takes in one message from the worker: the page state's reducer
    /// ([`PageState::apply`]) changes the state, and what it asks beyond that is done here.
    pub(crate) fn receive(&self, message: FromWorker) {
        let effects = self
            .exp
            .with_untracked(|exp| self.play.try_update(|p| p.apply(message, exp)))
            .unwrap_or_default();
        for effect in effects {
            self.carry_out(effect);
        }
    }

    fn carry_out(&self, effect: Effect) {
        match effect {
            Effect::Send(command) => self.worker.send(command),
            Effect::SetExperiment(exp) => self.exp.set(exp),
            Effect::Draw(image) => self.drawing.set(Drawing::centred(&image)),
            Effect::Predict => self.predict(),
            Effect::Predicted => self.predicted(),
            Effect::Inspect => self.inspect(),
            Effect::Download { name, bytes } => weights_io::download(&name, &bytes),
        }
    }
}
