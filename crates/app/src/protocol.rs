//! The messages between the page and the worker, both directions, and their encoding.
//!
//! Both sides link this one file, so a message cannot mean one thing to the page and another to
//! the worker. Messages cross `postMessage` as plain JS values made by `serde-wasm-bindgen`.

use convplay_compute::model::Summary;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use wasm_bindgen::JsValue;

/// What the page asks of the worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ToWorker {
    /// Build the preset with this name and describe it, layer by layer.
    Summarize(String),
}

/// What the worker tells the page. `Ready` comes first, before the worker reads any command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum FromWorker {
    Ready(BackendInfo),
    /// The answer to `Summarize`: the table, or why the preset could not be built.
    Summary {
        preset: String,
        summary: Result<Summary, String>,
    },
    /// Something went wrong outside any one command: a message that could not be read, a panic.
    Error(String),
}

/// Where the worker's arithmetic runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackendInfo {
    /// `"wasm-simd128"` or `"wasm-scalar"`.
    pub backend: String,
    /// The instruction set the compute crate's CPU kernels use, from `cpu::simd::active_isa()`.
    pub isa: String,
}

/// Turns a message into the JS value that `postMessage` carries. 64-bit integers (multiply-adds)
/// become BigInts, so no count is rounded on the way.
pub fn encode<T: Serialize>(message: &T) -> Result<JsValue, String> {
    let serializer =
        serde_wasm_bindgen::Serializer::new().serialize_large_number_types_as_bigints(true);
    message
        .serialize(&serializer)
        .map_err(|e| format!("cannot encode message: {e}"))
}

/// Reads a message back from a `MessageEvent`'s data.
pub fn decode<T: DeserializeOwned>(data: JsValue) -> Result<T, String> {
    serde_wasm_bindgen::from_value(data).map_err(|e| format!("cannot decode message: {e}"))
}
