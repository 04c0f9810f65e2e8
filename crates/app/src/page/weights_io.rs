//! Weights as `.safetensors` files: download what the worker exports, upload a file for it to
//! load. The files are the CLI's (`convplay train --out`), both ways.

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Blob, BlobPropertyBag, HtmlAnchorElement, HtmlInputElement, Url};

use crate::page::ctx::Ctx;
use crate::protocol::ToWorker;

/// Saves `bytes` as a file called `name` through a temporary object URL.
pub fn download(name: &str, bytes: &[u8]) {
    let array = js_sys::Uint8Array::from(bytes);
    let parts = js_sys::Array::of1(&array);
    let options = BlobPropertyBag::new();
    options.set_type("application/octet-stream");
    let Ok(blob) = Blob::new_with_u8_array_sequence_and_options(&parts, &options) else {
        return;
    };
    let Ok(url) = Url::create_object_url_with_blob(&blob) else {
        return;
    };
    if let Ok(a) = document().create_element("a") {
        let a: HtmlAnchorElement = a.unchecked_into();
        a.set_href(&url);
        a.set_download(name);
        a.click();
    }
    let _ = Url::revoke_object_url(&url);
}

/// "Download weights" and "Upload weights" for model `index`.
#[component]
pub fn WeightsButtons(index: usize) -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let upload_id = format!("upload-weights-{index}");
    let on_file = move |ev: leptos::ev::Event| {
        let input: HtmlInputElement = event_target(&ev);
        let Some(file) = input.files().and_then(|f| f.get(0)) else {
            return;
        };
        let worker = ctx.worker;
        leptos::task::spawn_local(async move {
            match wasm_bindgen_futures::JsFuture::from(file.array_buffer()).await {
                Ok(buffer) => {
                    let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
                    worker.send(ToWorker::ImportWeights { index, bytes });
                }
                Err(_) => ctx
                    .play
                    .update(|p| p.error(format!("cannot read {}", file.name()))),
            }
        });
        input.set_value("");
    };
    view! {
        <div class="weights">
            <button
                type="button"
                id=format!("download-weights-{index}")
                on:click=move |_| ctx.worker.send(ToWorker::ExportWeights { index })
            >
                "Download weights (.safetensors)"
            </button>
            <label class="upload" for=upload_id.clone()>"Upload weights"</label>
            <input id=upload_id type="file" accept=".safetensors" on:change=on_file />
        </div>
    }
}
