// Starts the convplay-worker bin inside a classic Web Worker: first its wasm-bindgen glue
// (the no-modules target defines `wasm_bindgen`), then its wasm. crates/app/src/page/handle.rs
// creates the worker from this file. A wasm that fails to load is rethrown outside the promise,
// so the page's `onerror` hears of it.
importScripts("./convplay-worker.js");
wasm_bindgen({ module_or_path: "./convplay-worker_bg.wasm" }).catch((error) => {
  setTimeout(() => {
    throw error;
  });
});
