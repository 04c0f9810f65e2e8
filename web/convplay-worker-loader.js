// Starts the convplay-worker bin inside a classic Web Worker: first its wasm-bindgen glue
// (the no-modules target defines `wasm_bindgen`), then its wasm. crates/app/src/page/handle.rs
// creates the worker from this file. A wasm that fails to load is rethrown outside the promise,
// so the page's `onerror` hears of it.
//
// Two builds of the worker sit in dist/: ./ (wasm SIMD) and ./relaxed/ (wasm SIMD with relaxed
// SIMD as well: its kernels multiply-add in one instruction, about 11% faster training). An
// engine that does not know relaxed SIMD refuses the whole second module, so this asks it first:
// it validates a 37-byte module whose one function is `f32x4.relaxed_madd`. If relaxed/ is
// missing (a debug `trunk serve` builds only the first), the first build loads.
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
  0x01, 0x08, 0x01, 0x60, 0x03, 0x7b, 0x7b, 0x7b, 0x01, 0x7b, // type: (v128, v128, v128) -> v128
  0x03, 0x02, 0x01, 0x00, // function 0 has type 0
  0x0a, 0x0d, 0x01, 0x0b, 0x00, // code: one body of 11 bytes, no locals
  0x20, 0x00, 0x20, 0x01, 0x20, 0x02, // local.get 0, 1, 2
  0xfd, 0x85, 0x02, // f32x4.relaxed_madd (0xfd 0x105)
  0x0b, // end
]);

function relaxedSimd() {
  try {
    return WebAssembly.validate(RELAXED_PROBE);
  } catch (_) {
    return false;
  }
}

function start(dir) {
  importScripts(dir + "convplay-worker.js");
  return wasm_bindgen({ module_or_path: dir + "convplay-worker_bg.wasm" });
}

let started;
if (relaxedSimd()) {
  try {
    started = start("./relaxed/");
  } catch (_) {
    // importScripts threw: no relaxed/ build beside this file.
    started = start("./");
  }
} else {
  started = start("./");
}
started.catch((error) => {
  setTimeout(() => {
    throw error;
  });
});
