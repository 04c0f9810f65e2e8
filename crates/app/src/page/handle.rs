//! The page's side of the worker. This module alone owns the `web_sys::Worker`: [`use_worker`]
//! starts it, holds commands back until it has said `Ready`, hands every reply to a callback,
//! and terminates it when the component that started it goes away.

use std::rc::Rc;

use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use web_sys::{Event, MessageEvent, Worker};

use crate::protocol::{self, FromWorker, ToWorker, WORKER_SCRIPT};

/// A handle on the running worker. It is `Copy`, so event handlers can capture it.
#[derive(Clone, Copy)]
pub struct WorkerHandle {
    link: StoredValue<Link, LocalStorage>,
}

type Deliver = Rc<dyn Fn(FromWorker)>;

struct Link {
    worker: Option<Worker>,
    ready: bool,
    queued: Vec<ToWorker>,
    deliver: Deliver,
    handlers: Option<Handlers>,
}

/// The worker's event handlers, kept alive as long as the worker may call them.
struct Handlers {
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(Event)>,
}

/// Starts the worker. Every message it sends, and every failure to reach it, is passed to
/// `on_message`, which runs on the page's thread.
pub fn use_worker(on_message: impl Fn(FromWorker) + 'static) -> WorkerHandle {
    let deliver: Deliver = Rc::new(on_message);
    let link = StoredValue::new_local(Link {
        worker: None,
        ready: false,
        queued: Vec::new(),
        deliver: deliver.clone(),
        handlers: None,
    });
    match Worker::new(WORKER_SCRIPT) {
        Ok(worker) => {
            let on_reply = deliver.clone();
            let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                let message =
                    protocol::decode::<FromWorker>(event.data()).unwrap_or_else(FromWorker::Error);
                if matches!(message, FromWorker::Ready(_)) {
                    let failures = link.try_update_value(Link::flush).unwrap_or_default();
                    failures
                        .into_iter()
                        .for_each(|e| on_reply(FromWorker::Error(e)));
                }
                on_reply(message);
            });
            let on_failure = deliver;
            let on_error = Closure::<dyn FnMut(Event)>::new(move |event: Event| {
                let what = protocol::worker_error(&event);
                on_failure(FromWorker::Error(format!("worker: {what}")));
            });
            worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
            link.update_value(|link| {
                link.worker = Some(worker);
                link.handlers = Some(Handlers {
                    _on_message: on_message,
                    _on_error: on_error,
                });
            });
        }
        Err(e) => deliver(FromWorker::Error(format!(
            "cannot start the worker: {}",
            describe(&e)
        ))),
    }
    on_cleanup(move || link.update_value(Link::stop));
    WorkerHandle { link }
}

impl WorkerHandle {
    /// Sends `command` now if the worker is ready, else as soon as it is.
    pub fn send(&self, command: ToWorker) {
        let failure = self
            .link
            .try_update_value(|link| {
                if link.ready {
                    link.post(&command).err().map(|e| (link.deliver.clone(), e))
                } else {
                    link.queued.push(command);
                    None
                }
            })
            .flatten();
        if let Some((deliver, e)) = failure {
            deliver(FromWorker::Error(e));
        }
    }
}

impl Link {
    fn post(&self, command: &ToWorker) -> Result<(), String> {
        let worker = self.worker.as_ref().ok_or("the worker is not running")?;
        let value = protocol::encode(command)?;
        worker
            .post_message(&value)
            .map_err(|e| format!("cannot send to the worker: {}", describe(&e)))
    }

    /// Marks the worker ready and sends what was queued, in order. Returns what failed.
    fn flush(&mut self) -> Vec<String> {
        self.ready = true;
        let queued = std::mem::take(&mut self.queued);
        queued
            .iter()
            .filter_map(|command| self.post(command).err())
            .collect()
    }

    fn stop(&mut self) {
        if let Some(worker) = self.worker.take() {
            worker.set_onmessage(None);
            worker.set_onerror(None);
            worker.terminate();
        }
        self.handlers = None;
    }
}

fn describe(error: &JsValue) -> String {
    error
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .unwrap_or_else(|| format!("{error:?}"))
}
