//! The dedicated Web Worker. It moves messages: each command from the page is decoded, answered
//! by `convplay_app::respond`, and the answer posted back. It says `Ready` once it listens; the
//! page holds its commands until then, since a wasm worker misses messages sent while it loads.

use convplay_app::protocol::{self, FromWorker, ToWorker};
use convplay_app::respond::{backend_info, respond};
use wasm_bindgen::{JsCast, closure::Closure};
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

fn main() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        post(&FromWorker::Error(format!("the worker panicked: {info}")));
    }));
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(|event: MessageEvent| {
        let answer = match protocol::decode::<ToWorker>(event.data()) {
            Ok(command) => respond(command),
            Err(e) => FromWorker::Error(e),
        };
        post(&answer);
    });
    scope().set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The handler lives as long as the worker does.
    on_message.forget();
    post(&FromWorker::Ready(backend_info()));
}

fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

/// Posts `message` to the page; if it cannot be encoded, posts why instead.
fn post(message: &FromWorker) {
    let sent = protocol::encode(message)
        .or_else(|e| protocol::encode(&FromWorker::Error(e)))
        .and_then(|value| {
            scope()
                .post_message(&value)
                .map_err(|e| format!("postMessage failed: {e:?}"))
        });
    if let Err(e) = sent {
        web_sys::console::error_1(&e.into());
    }
}
