//! The dedicated Web Worker. It decodes each command from the page, answers it with
//! `convplay_app::worker::engine::Engine`, fetches the datasets from its own origin with progress, and
//! trains in slices of about 30 ms between which it yields to its event loop, so Pause, Stop
//! and Predict are handled within one training step. It says `Ready` once it listens; the page
//! holds its commands until then, since a wasm worker misses messages sent while it loads.
//! Then it opens WebGPU if the browser has it; a run on the GPU is awaited a unit at a time
//! (a burst of steps, or an evaluation), and the worker answers the page meanwhile.
//!
//! Started under the name `shards::HELPER_NAME` (by a training worker, `convplay_app::worker::pool`),
//! the same binary is a gradient worker instead: it computes the shards it is sent.

use std::cell::{Cell, RefCell};

use std::sync::Arc;

use convplay_app::experiment::Experiment;
use convplay_app::protocol::{self, DataStatus, FromWorker, GpuStatus, RunState, ToWorker};
use convplay_app::worker::engine::{Data, Engine, PendingStep, Work, backend_info};
use convplay_app::worker::error::WorkerError;
use convplay_app::worker::pool::Pool;
use convplay_app::worker::shards::{self, FromHelper, HELPER_NAME, Helper};
use convplay_compute::data::{Dataset, DatasetKind};
use convplay_compute::gpu::GpuContext;
use js_sys::{Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use wasm_bindgen_futures::{JsFuture, spawn_local};
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent, ReadableStreamDefaultReader, Response};

/// Work done between two yields to the event loop, in seconds.
const SLICE: f64 = 0.03;

/// Seconds between two `Memory` reports while the worker works.
const MEMORY_EVERY: f64 = 1.0;

thread_local! {
    static ENGINE: RefCell<Engine> = RefCell::new(Engine::default());
    static LOOP_RUNNING: Cell<bool> = const { Cell::new(false) };
    static LOADING: Cell<Option<DatasetKind>> = const { Cell::new(None) };
    /// A `Start` that waits for its dataset.
    static PENDING: RefCell<Option<Experiment>> = const { RefCell::new(None) };
    static POOL: Pool = Pool::new(|message| post(&message));
    /// A worker count asked for, applied between training steps.
    static WANTED: Cell<Option<usize>> = const { Cell::new(None) };
    static HELPER: RefCell<Helper> = RefCell::new(Helper::default());
}

fn main() {
    if scope().name() == HELPER_NAME {
        return helper_main();
    }
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        post(&FromWorker::Error(format!("the worker panicked: {info}")));
    }));
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(|event: MessageEvent| {
        match protocol::decode::<ToWorker>(event.data()) {
            Ok(command) => handle(command),
            Err(e) => post(&FromWorker::Error(e)),
        }
    });
    scope().set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The handler lives as long as the worker does.
    on_message.forget();
    post(&FromWorker::Ready(backend_info()));
    spawn_local(open_gpu());
}

/// Asks the browser for a WebGPU adapter and device (kernels compile when a run needs them); the page
/// learns what came of it (`Gpu`) and where runs train by default (`Device`).
async fn open_gpu() {
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).unwrap_or_default();
    if !Reflect::has(&navigator, &"gpu".into()).unwrap_or(false) {
        let why = "this browser offers no WebGPU (navigator.gpu); training runs on the CPU";
        return post(&FromWorker::Gpu(GpuStatus::Unavailable(why.into())));
    }
    match GpuContext::new().await {
        Ok(ctx) => {
            // One thread: the context is shared by reference counting, never sent.
            #[allow(clippy::arc_with_non_send_sync)]
            let ctx = Arc::new(ctx);
            with_engine(|e| e.set_gpu(ctx)).iter().for_each(post);
        }
        Err(e) => post(&FromWorker::Gpu(GpuStatus::Unavailable(format!(
            "{e}; training runs on the CPU"
        )))),
    }
}

/// The gradient worker: answers each shard with its gradients, or says what failed.
fn helper_main() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        post_helper(FromHelper::Failed(format!("panicked: {info}")));
    }));
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(|event: MessageEvent| {
        let answered = shards::decode_to_helper(event.data())
            .and_then(|incoming| HELPER.with(|h| h.borrow_mut().answer(incoming)));
        match answered {
            Ok(Some((message, transfer))) => {
                if let Err(e) = scope().post_message_with_transfer(&message, &transfer) {
                    post_helper(FromHelper::Failed(format!("postMessage failed: {e:?}")));
                }
            }
            Ok(None) => {}
            Err(e) => post_helper(FromHelper::Failed(e)),
        }
    });
    scope().set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    post_helper(FromHelper::Ready);
}

fn post_helper(message: FromHelper) {
    let sent = shards::encode_plain(&message).and_then(|m| {
        scope()
            .post_message(&m)
            .map_err(|e| format!("postMessage failed: {e:?}"))
    });
    if let Err(e) = sent {
        web_sys::console::error_1(&e.into());
    }
}

fn with_engine<T>(f: impl FnOnce(&mut Engine) -> T) -> T {
    ENGINE.with(|e| f(&mut e.borrow_mut()))
}

/// Posts the engine's answer, or what went wrong: the engine's errors become messages here.
fn answer(result: Result<FromWorker, WorkerError>) {
    post(&result.unwrap_or_else(|e| FromWorker::Error(e.to_string())));
}

fn handle(command: ToWorker) {
    match command {
        ToWorker::Load(kind) => load(kind),
        ToWorker::Prepare(exp) => {
            if let Err(e) = with_engine(|e| e.prepare(&exp)) {
                post(&FromWorker::Error(e.to_string()));
            }
        }
        ToWorker::Start(exp) => {
            let kind = exp.data.dataset;
            PENDING.with(|p| *p.borrow_mut() = Some(exp));
            if with_engine(|e| e.data_kind()) == Some(kind) {
                start_pending();
            } else {
                load(kind);
            }
        }
        ToWorker::Pause => control(RunState::Paused),
        ToWorker::Resume => control(RunState::Training),
        ToWorker::Stop => {
            PENDING.with(|p| p.borrow_mut().take());
            control(RunState::Stopped)
        }
        ToWorker::Predict(image) => post(&with_engine(|e| e.predict(&image))),
        ToWorker::Inspect(image) => post(&with_engine(|e| e.inspect(&image))),
        ToWorker::ShiftMaps { step, images } => {
            answer(with_engine(|e| e.start_shift_maps(step, images)));
            ensure_loop();
        }
        ToWorker::RandomDigit => {
            let seed = (js_sys::Math::random() * u32::MAX as f64) as u64;
            answer(with_engine(|e| e.random_digit(seed)));
        }
        ToWorker::ExportWeights { index } => answer(with_engine(|e| e.export(index))),
        ToWorker::ImportWeights { index, bytes } => {
            match with_engine(|e| e.import(index, &bytes)) {
                Ok(messages) => messages.iter().for_each(post),
                Err(e) => post(&FromWorker::Error(e.to_string())),
            }
        }
        ToWorker::Device(device) => answer(with_engine(|e| e.set_device(device))),
        ToWorker::Workers(n) => {
            WANTED.set(Some(n.max(1)));
            if !LOOP_RUNNING.get() {
                apply_workers();
            }
        }
    }
}

/// Starts or stops gradient workers to match the count last asked for.
fn apply_workers() {
    if let Some(n) = WANTED.take() {
        POOL.with(|p| p.resize(n));
    }
}

fn control(to: RunState) {
    if let Some(message) = with_engine(|e| e.control(to)) {
        post(&message);
    }
    ensure_loop();
}

fn start_pending() {
    let Some(exp) = PENDING.with(|p| p.borrow_mut().take()) else {
        return;
    };
    match with_engine(|e| e.start(&exp)) {
        Ok(()) => {
            POOL.with(|p| p.setup(exp.models.clone()));
            post(&FromWorker::Run(RunState::Training))
        }
        Err(e) => post(&FromWorker::Error(e.to_string())),
    }
    ensure_loop();
}

/// Runs the engine's work in slices until it has none, yielding between slices.
fn ensure_loop() {
    if LOOP_RUNNING.get() || !with_engine(|e| e.busy()) {
        return;
    }
    LOOP_RUNNING.set(true);
    spawn_local(async {
        let mut reported = now();
        loop {
            if now() - reported >= MEMORY_EVERY {
                reported = now();
                report_memory();
            }
            let start = now();
            while with_engine(|e| e.busy()) && now() - start < SLICE {
                apply_workers();
                let workers = POOL.with(Pool::workers);
                match with_engine(|e| e.begin(&now, workers)) {
                    Work::Done(messages) => messages.iter().for_each(post),
                    Work::Step(step) => train_step(step).await.iter().for_each(post),
                    Work::Gpu(job) => {
                        // The page is answered while the device works.
                        let done = job.run().await;
                        with_engine(|e| e.finish_gpu(done, &now))
                            .iter()
                            .for_each(post);
                    }
                }
            }
            if !with_engine(|e| e.busy()) {
                break;
            }
            yield_now().await;
        }
        apply_workers();
        report_memory();
        LOOP_RUNNING.set(false);
    });
}

/// Tells the page what the worker holds: its wasm memory and its WebGPU buffers.
fn report_memory() {
    #[cfg(target_arch = "wasm32")]
    let wasm_bytes = core::arch::wasm32::memory_size::<0>() as u64 * 65536;
    #[cfg(not(target_arch = "wasm32"))]
    let wasm_bytes = 0;
    post(&FromWorker::Memory(with_engine(|e| e.memory(wasm_bytes))));
}

/// One training step: its shards sent to the gradient workers that are ready, the rest computed
/// here meanwhile, then the answers gathered. Shards a failed gradient worker owed are computed
/// here, so a failure changes nothing but the time.
async fn train_step(step: PendingStep) -> Vec<FromWorker> {
    let pool = POOL.with(Pool::clone);
    let local = with_engine(|e| pool.dispatch(e, &step));
    let started = now();
    let mut grads = Vec::with_capacity(step.shards.len());
    for &i in &local {
        match with_engine(|e| e.shard_gradients(&step, &step.shards[i])) {
            Ok(g) => grads.push(g),
            Err(e) => return with_engine(|engine| engine.fail_step(step, e)),
        }
    }
    // A gradient worker takes about as long as this one did; far longer means it is stuck.
    let own = ((now() - started) * 1000.0) as i32 / local.len().max(1) as i32;
    let timeout = own.saturating_mul(20).max(30_000);
    let remote = pool.collect(timeout).await;
    if !with_engine(|e| e.is_current(&step)) {
        return Vec::new();
    }
    grads.extend(remote.unwrap_or_default());
    for shard in &step.shards {
        if grads.iter().all(|g| g.stats.index != shard.index) {
            match with_engine(|e| e.shard_gradients(&step, shard)) {
                Ok(g) => grads.push(g),
                Err(e) => return with_engine(|engine| engine.fail_step(step, e)),
            }
        }
    }
    grads.sort_by_key(|g| g.stats.index);
    with_engine(|e| e.finish(step, grads, &now))
}

/// Lets the worker's event loop run (messages from the page) before the next slice.
async fn yield_now() {
    let promise = Promise::new(&mut |resolve, _| {
        let _ = scope().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0);
    });
    let _ = JsFuture::from(promise).await;
}

fn now() -> f64 {
    scope().performance().map_or(0.0, |p| p.now() / 1000.0)
}

/// Fetches both splits of `kind` unless they are loaded or loading, then starts a pending run.
fn load(kind: DatasetKind) {
    if LOADING.get() == Some(kind) {
        return;
    }
    if with_engine(|e| e.data_kind()) == Some(kind) {
        let ready = with_engine(|e| e.data_sizes());
        if let Some((train, test)) = ready {
            post(&FromWorker::Data(DataStatus::Ready { train, test }));
        }
        start_pending();
        return;
    }
    LOADING.set(Some(kind));
    spawn_local(async move {
        let loaded = load_data(kind).await;
        if LOADING.get() == Some(kind) {
            LOADING.set(None);
        }
        match loaded {
            Ok(data) => {
                let status = DataStatus::Ready {
                    train: data.train.len(),
                    test: data.test.len(),
                };
                with_engine(|e| e.set_data(data));
                post(&FromWorker::Data(status));
                let waiting = PENDING.with(|p| p.borrow().as_ref().map(|e| e.data.dataset));
                if waiting == Some(kind) {
                    start_pending();
                }
            }
            Err(e) => {
                PENDING.with(|p| p.borrow_mut().take());
                post(&FromWorker::Data(DataStatus::Failed(e)));
            }
        }
    });
}

async fn load_data(kind: DatasetKind) -> Result<Data, String> {
    let split = |train: bool| async move {
        let (images, labels) = DatasetKind::files(train);
        let images = fetch_file(kind, images).await?;
        let labels = fetch_file(kind, labels).await?;
        Dataset::from_idx(&images, &labels).map_err(|e| {
            format!(
                "data/{}/ is corrupt: {e}. Run `bash scripts/setup.sh` to fetch it again.",
                kind.dir()
            )
        })
    };
    let test = split(false).await?;
    let train = split(true).await?;
    Ok(Data { kind, train, test })
}

/// The bytes of `data/<kind>/<file>` from the page's origin, with progress messages.
async fn fetch_file(kind: DatasetKind, file: &str) -> Result<Vec<u8>, String> {
    let path = format!("data/{}/{file}", kind.dir());
    let missing = |why: String| {
        format!(
            "cannot load {path}: {why}. The datasets are not served: run `bash scripts/setup.sh` \
             (it puts them under web/data/), then rebuild the site with `bash scripts/build-web.sh`."
        )
    };
    let response: Response = JsFuture::from(scope().fetch_with_str(&path))
        .await
        .map_err(|e| missing(describe(&e)))?
        .unchecked_into();
    if !response.ok() {
        return Err(missing(format!("HTTP {}", response.status())));
    }
    let total = response
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let body = response
        .body()
        .ok_or_else(|| missing("empty response".into()))?;
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut bytes = Vec::with_capacity(total as usize);
    let mut reported = 0u64;
    loop {
        let chunk = JsFuture::from(reader.read())
            .await
            .map_err(|e| missing(describe(&e)))?;
        let done = Reflect::get(&chunk, &"done".into())
            .map(|d| d.is_truthy())
            .unwrap_or(true);
        if done {
            break;
        }
        if let Ok(value) = Reflect::get(&chunk, &"value".into()) {
            bytes.extend(value.unchecked_into::<Uint8Array>().to_vec());
        }
        let received = bytes.len() as u64;
        if received - reported >= 1 << 20 {
            reported = received;
            post(&FromWorker::Data(DataStatus::Loading {
                file: path.clone(),
                received,
                total,
            }));
        }
    }
    post(&FromWorker::Data(DataStatus::Loading {
        file: path.clone(),
        received: bytes.len() as u64,
        total,
    }));
    Ok(bytes)
}

fn describe(error: &JsValue) -> String {
    error
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .unwrap_or_else(|| format!("{error:?}"))
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
