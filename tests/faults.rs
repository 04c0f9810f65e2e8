//! Faults in the middle of a run, in headless Chromium against the built site: a malformed
//! message to either kind of worker, a gradient worker that dies mid-job, the WebGPU device lost
//! during a burst, and the tab put in the background. Each ends with the run kept (or stopped
//! with a clear message), the page answering, and no model state lost.
//!
//! The faults are real, not mocked: the test's server hands the browser a worker loader that
//! breaks something on cue before it starts the same wasm (a gradient worker that throws
//! instead of computing its fourth job; `GPUDevice.destroy()` on the thirtieth queue submission),
//! so nothing in the shipped code knows about them.
//!
//! Needs `bash scripts/build-web.sh` first (scripts/test.sh does that).

use std::time::Duration;

use base64::Engine as _;
use convplay_compute::experiment::Experiment;
use convplay_compute::train::initial_model;
use convplay_compute::weights;
use convplay_tests::{
    Browser, R, StaticServer, accuracy, dist, errors, set, shots, state, text, train, value,
    wait_for_run_end, wait_for_webgpu, wait_for_workers,
};
use serde_json::{Value, json};

const LOADER: &str = "convplay-worker-loader.js";
/// How long a run may take to start, and to end.
const START: Duration = Duration::from_secs(60);
const RUN: Duration = Duration::from_secs(600);

/// The site with its worker loader prefixed by `sabotage` (JavaScript run in every worker the
/// page or a training worker starts, before the wasm).
fn server_with(sabotage: &str) -> R<StaticServer> {
    let original = std::fs::read_to_string(dist().join(LOADER)).map_err(|e| {
        format!(
            "{}: {e} (build the site first)",
            dist().join(LOADER).display()
        )
    })?;
    StaticServer::start_with(
        dist(),
        vec![(
            LOADER.to_string(),
            format!("{sabotage}\n{original}").into_bytes(),
        )],
    )
}

/// A small run: 28×28 canvas, 2,000 training images, 1 epoch, both lecture models.
fn small_run(b: &Browser, workers: &str) -> R<()> {
    for (css, v) in [
        ("#canvas", "28"),
        ("#train-limit", "2000"),
        ("#test-limit", "300"),
        ("#epochs", "1"),
        ("#seed", "7"),
        ("#workers", workers),
    ] {
        set(b, css, v)?;
    }
    Ok(())
}

/// Waits up to `timeout` for a message in the page's error list that contains `what`; returns it.
fn wait_for_page_error(b: &Browser, what: &str, timeout: Duration) -> R<String> {
    let found = b.wait_for(
        &format!("the page to say {what:?}"),
        &format!(
            "return [...document.querySelectorAll('.errors li')].map(e => e.textContent).find(t => t.includes({})) || null;",
            json!(what)
        ),
        timeout,
    )?;
    Ok(found.as_str().unwrap_or_default().to_string())
}

/// The messages in the page's error list.
fn page_errors(b: &Browser) -> R<Vec<String>> {
    let v = b.js(
        "return [...document.querySelectorAll('.errors li')].map(e => e.textContent.trim());",
        vec![],
    )?;
    Ok(v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}

/// Console errors other than the ones the fault itself causes.
fn unexpected_console_errors(b: &Browser, expected: &[&str]) -> R<Vec<String>> {
    Ok(errors(b)?
        .into_iter()
        .filter(|m| !expected.iter().any(|e| m.contains(e)))
        .collect())
}

/// Clicks "Download weights" of model `i` and returns the file's bytes (the page's object URL
/// is caught on its way to the download).
fn download_weights(b: &Browser, i: usize) -> R<Vec<u8>> {
    b.js(
        "if (!window.__blobs) {
           window.__blobs = [];
           const create = URL.createObjectURL;
           URL.createObjectURL = (blob) => { window.__blobs.push(blob); return create(blob); };
         }
         window.__blobs.length = 0;",
        vec![],
    )?;
    b.click(&format!("#download-weights-{i}"))?;
    b.wait_for(
        "the weights file",
        "return window.__blobs.length > 0;",
        Duration::from_secs(30),
    )?;
    let encoded = b.js(
        "return window.__blobs[0].arrayBuffer().then((buffer) => {
           const bytes = new Uint8Array(buffer);
           let s = '';
           for (let i = 0; i < bytes.length; i += 0x8000) {
             s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
           }
           return btoa(s);
         });",
        vec![],
    )?;
    base64::engine::general_purpose::STANDARD
        .decode(encoded.as_str().unwrap_or_default())
        .map_err(|e| format!("weights file: {e}"))
}

/// The experiment the page shows (its share link).
fn page_experiment(b: &Browser) -> R<Experiment> {
    Experiment::from_link(&value(b, "#share-link")?).map_err(|e| e.to_string())
}

/// Garbage posted straight to a fresh training worker and a fresh gradient worker (the shipped
/// loader, started from the page): every message that is not a command gets one error answer,
/// nothing panics, and each worker answers a valid message after.
#[test]
fn malformed_messages_to_either_worker_are_errors_and_the_worker_goes_on() -> R<()> {
    let server = StaticServer::start(dist())?;
    let b = Browser::start()?;
    b.open(&server.url())?;
    let talk = "
        const [name, bad, valid, answered] = arguments;
        const done = new Function('m', 'return ' + answered);
        const w = name ? new Worker('./convplay-worker-loader.js', {name}) : new Worker('./convplay-worker-loader.js');
        const got = [];
        const text = (v) => JSON.stringify(v, (k, x) => typeof x === 'bigint' ? Number(x) : x);
        return new Promise((resolve) => {
          let sent = false;
          const end = (why) => { w.terminate(); resolve({why, got}); };
          w.onerror = (e) => got.push(text({uncaught: String(e.message)}));
          w.onmessage = (e) => {
            got.push(text(e.data));
            if (!sent) {
              sent = true;
              for (const m of bad) w.postMessage(m);
              if (valid !== null) w.postMessage(valid);
            } else if (done(e.data)) {
              end('answered');
            }
          };
          setTimeout(() => end('timeout'), 30000);
        });";

    // The training worker: twelve messages that are not commands, then a valid Predict.
    let bad = json!([
        42,
        null,
        "Explode",
        {"Start": 7},
        {"Load": "Cifar"},
        {"Predict": {"side": 3, "pixels": "abc"}},
        {"ImportWeights": {"index": 0, "bytes": [1, 2, 3]}},
        {"ImportWeights": {"index": -1, "bytes": []}},
        {"ExportWeights": {"index": 99}},
        "RandomDigit",
        {"ShiftMaps": {"step": 0, "images": 5}},
        {"Workers": -5}
    ]);
    let n_bad = bad.as_array().map_or(0, Vec::len);
    let predict = json!({"Predict": {"side": 28, "pixels": vec![0.0; 784]}});
    let r = b.js(
        talk,
        vec![
            json!(""),
            bad,
            predict,
            json!("m && m.Prediction !== undefined"),
        ],
    )?;
    let got: Vec<String> = serde_json::from_value(r["got"].clone()).map_err(|e| e.to_string())?;
    assert_eq!(
        r["why"], "answered",
        "the training worker went silent: {got:#?}"
    );
    let errors_answered = got.iter().filter(|m| m.starts_with("{\"Error\"")).count();
    assert_eq!(
        errors_answered, n_bad,
        "one error per bad message: {got:#?}"
    );
    assert!(
        got.iter()
            .all(|m| !m.contains("panicked") && !m.contains("uncaught")),
        "{got:#?}"
    );

    // A gradient worker: its messages are arrays; each bad one is answered with Failed.
    let bad = json!([42, [42], [{"Shard": {"id": 1}}], [{"Setup": "x"}], "Setup", [null]]);
    let n_bad = bad.as_array().map_or(0, Vec::len);
    let r = b.js(
        talk,
        vec![
            json!("convplay-gradients"),
            bad,
            Value::Null,
            json!(format!(
                "(self.__failed = (self.__failed || 0) + (JSON.stringify(m).includes('Failed') ? 1 : 0)) >= {n_bad}"
            )),
        ],
    )?;
    let got: Vec<String> = serde_json::from_value(r["got"].clone()).map_err(|e| e.to_string())?;
    assert_eq!(
        r["why"], "answered",
        "the gradient worker went silent: {got:#?}"
    );
    assert_eq!(
        got.iter().filter(|m| m.contains("Failed")).count(),
        n_bad,
        "{got:#?}"
    );
    assert!(
        got.iter()
            .all(|m| !m.contains("panicked") && !m.contains("uncaught")),
        "{got:#?}"
    );
    let errs = unexpected_console_errors(&b, &[])?;
    assert!(errs.is_empty(), "console errors: {errs:?}");
    Ok(())
}

/// A gradient worker that dies in the middle of its fourth job (an uncaught exception instead of
/// the answer): the page hears why, the run goes on in one worker (the lost shard is computed
/// again), and both models finish above chance.
#[test]
fn a_gradient_worker_that_dies_mid_job_leaves_the_run_to_finish_in_one_worker() -> R<()> {
    let server = server_with(
        "// Test fault: the gradient worker throws instead of computing its fourth job.
        if (self.name === 'convplay-gradients') {
          let jobs = 0, handler = null;
          Object.defineProperty(self, 'onmessage', {
            configurable: true,
            get() { return handler; },
            set(f) { handler = f; },
          });
          self.addEventListener('message', (e) => {
            jobs += 1;
            if (jobs >= 4) throw new Error('simulated crash of a gradient worker');
            if (handler) handler.call(self, e);
          });
        }",
    )?;
    let b = Browser::start()?;
    b.open(&server.url())?;
    small_run(&b, "2")?;
    wait_for_workers(&b, 2)?;
    train(&b, START)?;
    let why = wait_for_page_error(&b, "gradient worker", Duration::from_secs(120))?;
    assert!(
        why.contains("simulated crash") && why.contains("Training goes on in one worker"),
        "{why}"
    );
    wait_for_run_end(&b, RUN)?;
    assert_eq!(state(&b)?, json!("done"), "errors: {:?}", page_errors(&b)?);
    assert_eq!(text(&b, "#badge-workers")?, "1 worker");
    for i in 0..2 {
        let acc = accuracy(&b, i, "centered")?;
        assert!(acc > 15.0, "model {i}: {acc}% after the crash");
    }
    assert_eq!(
        page_errors(&b)?.len(),
        1,
        "one message for one crash: {:?}",
        page_errors(&b)?
    );
    let errs = unexpected_console_errors(&b, &["simulated crash"])?;
    assert!(errs.is_empty(), "console errors: {errs:?}");
    b.screenshot(&shots().join("fault-gradient-worker.png"))?;
    Ok(())
}

/// The WebGPU device destroyed in the middle of a run (the browser reclaiming the GPU): the run
/// stops with a message that says so, the page offers the CPU only, the weights last read back
/// download and load (trained, not the initial ones), and the next run trains on the CPU.
#[test]
fn a_device_lost_during_a_burst_stops_the_run_and_keeps_the_weights() -> R<()> {
    let server = server_with(
        "// Test fault: the training worker's WebGPU device is destroyed at its 30th submission.
        if (self.name !== 'convplay-gradients' && self.GPUAdapter && self.GPUQueue) {
          let device = null, submits = 0;
          const request = GPUAdapter.prototype.requestDevice;
          GPUAdapter.prototype.requestDevice = async function (...a) {
            device = await request.apply(this, a);
            return device;
          };
          const submit = GPUQueue.prototype.submit;
          GPUQueue.prototype.submit = function (...a) {
            const r = submit.apply(this, a);
            submits += 1;
            if (submits === 30 && device) device.destroy();
            return r;
          };
        }",
    )?;
    let b = Browser::start()?;
    b.open(&server.url())?;
    wait_for_webgpu(&b)?;
    small_run(&b, "1")?;
    set(&b, "#device", "gpu")?;
    b.wait_for(
        "the GPU to be chosen",
        "return document.querySelector('#device').value === 'gpu';",
        Duration::from_secs(10),
    )?;
    let exp = page_experiment(&b)?;
    train(&b, START)?;
    let why = wait_for_page_error(&b, "training stopped", Duration::from_secs(300))?;
    assert!(why.to_lowercase().contains("lost"), "{why}");
    b.wait_for(
        "the run to end",
        "const s = document.querySelector('#run-status').dataset.state; return s !== 'training';",
        Duration::from_secs(60),
    )?;
    assert!(
        b.js(
            "const o = document.querySelector('#device option[value=gpu]'); return document.querySelector('#device').value === 'cpu' && (!o || o.disabled);",
            vec![]
        )? == json!(true),
        "after the loss the page offers the CPU only"
    );
    b.screenshot(&shots().join("fault-device-lost.png"))?;

    let mut trained = 0;
    for i in 0..2 {
        let bytes = download_weights(&b, i)?;
        let model = weights::load(&bytes).map_err(|e| format!("model {i}'s weights: {e}"))?;
        assert_eq!(model.spec, exp.models[i]);
        let initial =
            initial_model(exp.models[i].clone(), &exp.train).map_err(|e| e.to_string())?;
        assert!(model.params.iter().all(|p| p.is_finite()));
        if model.params != initial.params {
            trained += 1;
        }
    }
    assert!(
        trained >= 1,
        "the weights read back before the loss are kept"
    );

    // The next run trains on the CPU, to the end.
    train(&b, START)?;
    wait_for_run_end(&b, RUN)?;
    assert_eq!(state(&b)?, json!("done"), "errors: {:?}", page_errors(&b)?);
    for i in 0..2 {
        let acc = accuracy(&b, i, "centered")?;
        assert!(acc > 15.0, "model {i}: {acc}% on the CPU after the loss");
    }
    let errs = unexpected_console_errors(&b, &["destroy", "lost", "Device", "device"])?;
    assert!(errs.is_empty(), "console errors: {errs:?}");
    Ok(())
}

/// The tab goes to the background mid-run (another tab in front for 8 s): the worker trains on
/// meanwhile, the page takes in its messages, and the run ends as usual once the tab is back.
#[test]
fn a_tab_in_the_background_trains_on() -> R<()> {
    let server = StaticServer::start(dist())?;
    let b = Browser::start()?;
    b.open(&server.url())?;
    small_run(&b, "2")?;
    set(&b, "#train-limit", "6000")?;
    train(&b, START)?;
    b.wait_for(
        "the first steps",
        "return Number(document.querySelector('#progress-0').value) > 0;",
        Duration::from_secs(60),
    )?;
    b.js(
        "window.__seen = [];
         document.addEventListener('visibilitychange', () => window.__seen.push([
           document.visibilityState,
           Number(document.querySelector('#progress-0').value) + Number(document.querySelector('#progress-1').value),
         ]));",
        vec![],
    )?;
    let page = b.tab()?;
    b.new_tab()?;
    std::thread::sleep(Duration::from_secs(8));
    b.close_tab()?;
    b.switch_to(&page)?;
    let seen = b.wait_for(
        "the tab to be visible again",
        "const s = window.__seen; return s.length >= 2 && s[s.length - 1][0] === 'visible' ? s : null;",
        Duration::from_secs(10),
    )?;
    let seen = seen.as_array().cloned().unwrap_or_default();
    assert_eq!(
        seen[0][0], "hidden",
        "the tab went to the background: {seen:?}"
    );
    let progress = |i: usize| seen[i][1].as_f64().unwrap_or(0.0);
    assert!(
        progress(seen.len() - 1) > progress(0),
        "training went on while the tab was hidden: {seen:?}"
    );
    wait_for_run_end(&b, RUN)?;
    assert_eq!(state(&b)?, json!("done"), "errors: {:?}", page_errors(&b)?);
    assert!(page_errors(&b)?.is_empty(), "{:?}", page_errors(&b)?);
    for i in 0..2 {
        let acc = accuracy(&b, i, "centered")?;
        assert!(acc > 15.0, "model {i}: {acc}%");
    }
    let errs = unexpected_console_errors(&b, &[])?;
    assert!(errs.is_empty(), "console errors: {errs:?}");
    Ok(())
}
