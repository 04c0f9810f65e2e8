//! The training worker's gradient workers: nested dedicated workers that run the same wasm under
//! the name [`HELPER_NAME`] (see [`crate::worker::shards`]). [`Pool`] starts and stops them, hands out a
//! step's shards, and gathers the answers. Any failure (a worker that does not load, panics,
//! answers with an error or not at all) stops every gradient worker: the step's missing shards
//! are computed by the training worker itself, which trains alone from then on, and the page
//! hears why.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use convplay_compute::model::ModelSpec;
use convplay_compute::train::ShardGradients;
use js_sys::Promise;
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Event, MessageEvent, Worker, WorkerOptions};

use crate::protocol::{self, FromWorker, WORKER_SCRIPT};
use crate::worker::engine::{Engine, PendingStep};
use crate::worker::shards::{self, FromHelper, HELPER_NAME, ToHelper};

/// Most workers a run trains with, whatever a message asks for: each is a browser thread with
/// its own copy of the models.
pub const MAX_WORKERS: usize = 16;

/// The gradient workers, shared by the training worker's event handlers.
#[derive(Clone)]
pub struct Pool {
    inner: Rc<RefCell<Inner>>,
}

type Report = Rc<dyn Fn(FromWorker)>;

struct Slot {
    worker: Worker,
    ready: bool,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(Event)>,
}

struct Inner {
    slots: Vec<Slot>,
    /// Stopped workers whose handlers may still be on the stack; dropped at the next resize.
    retired: Vec<Slot>,
    specs: Option<Vec<ModelSpec>>,
    next_id: u64,
    /// Jobs sent and not answered: job id → shard index.
    waiting: HashMap<u64, usize>,
    answers: Vec<ShardGradients>,
    failure: Option<String>,
    /// Resolves the promise `collect` waits on.
    wake: Option<js_sys::Function>,
    /// Counts waits, so a timer of an earlier wait does nothing.
    wait: u64,
    report: Report,
}

impl Pool {
    /// No gradient workers yet; `report` tells the page how many workers train, and failures.
    pub fn new(report: impl Fn(FromWorker) + 'static) -> Pool {
        Pool {
            inner: Rc::new(RefCell::new(Inner {
                slots: Vec::new(),
                retired: Vec::new(),
                specs: None,
                next_id: 0,
                waiting: HashMap::new(),
                answers: Vec::new(),
                failure: None,
                wake: None,
                wait: 0,
                report: Rc::new(report),
            })),
        }
    }

    /// Workers that train now: this one and the gradient workers that are ready.
    pub fn workers(&self) -> usize {
        1 + self.inner.borrow().slots.iter().filter(|s| s.ready).count()
    }

    /// Trains with `workers` workers (at most [`MAX_WORKERS`]) from now on: starts or stops
    /// gradient workers.
    pub fn resize(&self, workers: usize) {
        let helpers = workers.clamp(1, MAX_WORKERS) - 1;
        let mut inner = self.inner.borrow_mut();
        inner.retired.clear();
        while inner.slots.len() > helpers {
            if let Some(slot) = inner.slots.pop() {
                stop(&slot.worker);
            }
        }
        let start = inner.slots.len();
        drop(inner);
        for i in start..helpers {
            match self.spawn(i) {
                Ok(slot) => self.inner.borrow_mut().slots.push(slot),
                Err(e) => {
                    self.fail(format!("cannot start gradient worker {}: {e}", i + 1));
                    return;
                }
            }
        }
        self.announce();
    }

    /// The models of a new run, for every gradient worker (now, or once it is ready).
    pub fn setup(&self, specs: Vec<ModelSpec>) {
        let failed = {
            let mut inner = self.inner.borrow_mut();
            let message = shards::encode_plain_to_helper(&ToHelper::Setup(specs.clone()));
            inner.specs = Some(specs);
            match message {
                Ok(message) => inner
                    .slots
                    .iter()
                    .filter(|s| s.ready)
                    .find_map(|s| s.worker.post_message(&message).err()),
                Err(e) => Some(JsValue::from_str(&e)),
            }
        };
        if let Some(e) = failed {
            self.fail(format!(
                "cannot set up the gradient workers: {}",
                describe(&e)
            ));
        }
    }

    fn spawn(&self, index: usize) -> Result<Slot, String> {
        let options = WorkerOptions::new();
        options.set_name(HELPER_NAME);
        let worker = Worker::new_with_options(WORKER_SCRIPT, &options).map_err(|e| describe(&e))?;
        let pool = self.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            pool.receive(index, event.data());
        });
        let pool = self.clone();
        let on_error = Closure::<dyn FnMut(Event)>::new(move |event: Event| {
            // Handled here: uncancelled, the error would also be reported in this worker's own
            // scope and reach the page a second time as the training worker's.
            event.prevent_default();
            let what = protocol::worker_error(&event);
            pool.fail(format!("gradient worker {}: {what}", index + 1));
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Ok(Slot {
            worker,
            ready: false,
            _on_message: on_message,
            _on_error: on_error,
        })
    }

    fn receive(&self, index: usize, data: JsValue) {
        let (message, grads) = match shards::decode_from_helper(data) {
            Ok(decoded) => decoded,
            Err(e) => return self.fail(format!("gradient worker {}: {e}", index + 1)),
        };
        match message {
            FromHelper::Ready => {
                let sent = {
                    let mut inner = self.inner.borrow_mut();
                    let specs = inner.specs.clone();
                    let Some(slot) = inner.slots.get_mut(index) else {
                        return;
                    };
                    slot.ready = true;
                    match specs.map(|s| shards::encode_plain_to_helper(&ToHelper::Setup(s))) {
                        Some(Ok(m)) => slot.worker.post_message(&m).map_err(|e| describe(&e)),
                        Some(Err(e)) => Err(e),
                        None => Ok(()),
                    }
                };
                match sent {
                    Ok(()) => self.announce(),
                    Err(e) => self.fail(format!("gradient worker {}: {e}", index + 1)),
                }
            }
            FromHelper::Done { id, stats } => {
                let Some(grads) = grads else {
                    return self.fail(format!(
                        "gradient worker {} answered without gradients",
                        index + 1
                    ));
                };
                let mut inner = self.inner.borrow_mut();
                if inner.waiting.remove(&id) == Some(stats.index) {
                    inner.answers.push(ShardGradients { stats, grads });
                    if inner.waiting.is_empty()
                        && let Some(wake) = inner.wake.take()
                    {
                        let _ = wake.call0(&JsValue::NULL);
                    }
                }
            }
            FromHelper::Failed(e) => self.fail(format!("gradient worker {}: {e}", index + 1)),
        }
    }

    /// Sends each shard of `step` that a ready gradient worker can take to it (shard `i` to
    /// worker `i mod workers`, worker 0 being this one); returns the shards left to compute here.
    pub fn dispatch(&self, engine: &Engine, step: &PendingStep) -> Vec<usize> {
        let mut failure = None;
        let mut local = Vec::new();
        {
            let mut inner = self.inner.borrow_mut();
            inner.waiting.clear();
            inner.answers.clear();
            inner.failure = None;
            let ready: Vec<usize> = (0..inner.slots.len())
                .filter(|&i| inner.slots[i].ready)
                .collect();
            let params = engine.params(step.model).unwrap_or_default();
            for shard in &step.shards {
                let owner = shard.index % (ready.len() + 1);
                if owner == 0 || failure.is_some() {
                    local.push(shard.index);
                    continue;
                }
                inner.next_id += 1;
                let id = inner.next_id;
                let gathered = engine.gather(shard).map_err(|e| e.to_string());
                let sent = gathered.and_then(|(own, images)| {
                    let (message, transfer) =
                        shards::encode_job(id, step.model, own, &images, params)?;
                    inner.slots[ready[owner - 1]]
                        .worker
                        .post_message_with_transfer(&message, &transfer)
                        .map_err(|e| describe(&e))
                });
                match sent {
                    Ok(()) => {
                        inner.waiting.insert(id, shard.index);
                    }
                    Err(e) => {
                        failure = Some(format!("cannot send a shard: {e}"));
                        local.push(shard.index);
                    }
                }
            }
        }
        if let Some(e) = failure {
            self.fail(e);
        }
        local
    }

    /// The answers to the shards [`Pool::dispatch`] sent, once all are in; an error when a
    /// gradient worker failed or took longer than `timeout_ms`.
    pub async fn collect(&self, timeout_ms: i32) -> Result<Vec<ShardGradients>, String> {
        let wait = {
            let mut inner = self.inner.borrow_mut();
            inner.wait += 1;
            inner.wait
        };
        let mut timer_set = false;
        loop {
            let promise = {
                let mut inner = self.inner.borrow_mut();
                if let Some(e) = inner.failure.take() {
                    return Err(e);
                }
                if inner.waiting.is_empty() {
                    return Ok(std::mem::take(&mut inner.answers));
                }
                let mut wake = None;
                let promise = Promise::new(&mut |resolve, _| wake = Some(resolve));
                inner.wake = wake;
                promise
            };
            if !timer_set {
                timer_set = true;
                self.time_out(wait, timeout_ms);
            }
            let _ = JsFuture::from(promise).await;
        }
    }

    /// Fails the pool if wait `wait` still misses answers after `timeout_ms`.
    fn time_out(&self, wait: u64, timeout_ms: i32) {
        let pool = self.clone();
        let timer = Closure::once_into_js(move || {
            let late = {
                let inner = pool.inner.borrow();
                inner.wait == wait && !inner.waiting.is_empty()
            };
            if late {
                pool.fail(format!(
                    "a gradient worker did not answer within {} s",
                    timeout_ms / 1000
                ));
            }
        });
        let _ = scope().set_timeout_with_callback_and_timeout_and_arguments_0(
            timer.unchecked_ref(),
            timeout_ms,
        );
    }

    /// Stops every gradient worker after `why`, which the page hears with the new worker count.
    fn fail(&self, why: String) {
        let report = {
            let mut inner = self.inner.borrow_mut();
            let slots = std::mem::take(&mut inner.slots);
            slots.iter().for_each(|slot| stop(&slot.worker));
            inner.retired.extend(slots);
            inner.waiting.clear();
            inner.failure = Some(why.clone());
            if let Some(wake) = inner.wake.take() {
                let _ = wake.call0(&JsValue::NULL);
            }
            inner.report.clone()
        };
        report(FromWorker::Error(format!(
            "{why}. Training goes on in one worker."
        )));
        report(FromWorker::Workers(1));
    }

    fn announce(&self) {
        let report = self.inner.borrow().report.clone();
        report(FromWorker::Workers(self.workers()));
    }
}

fn stop(worker: &Worker) {
    worker.set_onmessage(None);
    worker.set_onerror(None);
    worker.terminate();
}

fn scope() -> web_sys::DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

fn describe(error: &JsValue) -> String {
    error
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| format!("{error:?}"))
}
