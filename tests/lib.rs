//! What the browser end-to-end tests need, on std alone: a static file server for the built site
//! (`dist/`) on 127.0.0.1, and a small WebDriver client that starts chromedriver and drives
//! headless Chromium over HTTP/1.1 and JSON. No async runtime, no heavy crates: the test builds in
//! seconds on top of the workspace.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

pub type R<T> = Result<T, String>;

/// Serves the files under `root` on 127.0.0.1 (an ephemeral port) from a background thread.
pub struct StaticServer {
    pub port: u16,
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript",
        "wasm" => "application/wasm",
        "css" => "text/css",
        "json" => "application/json",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// Files served instead of the ones under the root: URL path (no leading slash) → body.
pub type Overrides = std::sync::Arc<Vec<(String, Vec<u8>)>>;

fn serve_one(mut stream: TcpStream, root: &Path, overrides: &Overrides) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("/");
    let path = target.split(['?', '#']).next().unwrap_or("/");
    let rel = path.trim_start_matches('/');
    let mut file = root.join(if rel.is_empty() { "index.html" } else { rel });
    if rel.split('/').any(|c| c == "..") {
        file = root.join("\0forbidden");
    }
    let body = match overrides.iter().find(|(p, _)| p == rel) {
        Some((_, body)) => Ok(body.clone()),
        None => std::fs::read(&file),
    };
    match body {
        Ok(body) => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
                content_type(&file),
                body.len()
            )?;
            stream.write_all(&body)?;
        }
        Err(_) => {
            let body = b"not found";
            write!(
                stream,
                "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            stream.write_all(body)?;
        }
    }
    stream.flush()
}

impl StaticServer {
    pub fn start(root: PathBuf) -> R<StaticServer> {
        Self::start_with(root, Vec::new())
    }

    /// Serves `root` with some files replaced: `(path, body)`, the path as in the URL without
    /// its leading slash. The fault tests serve a worker loader that breaks something on cue.
    pub fn start_with(root: PathBuf, overrides: Vec<(String, Vec<u8>)>) -> R<StaticServer> {
        let overrides: Overrides = std::sync::Arc::new(overrides);
        if !root.join("index.html").is_file() {
            return Err(format!(
                "{} has no index.html: build the site first (bash scripts/build-web.sh)",
                root.display()
            ));
        }
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let root = root.clone();
                let overrides = overrides.clone();
                std::thread::spawn(move || {
                    let _ = serve_one(stream, &root, &overrides);
                });
            }
        });
        Ok(StaticServer { port })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

fn free_port() -> R<u16> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// One HTTP/1.1 request with a JSON body; returns the parsed JSON response.
fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> R<Value> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(300)))
        .map_err(|e| e.to_string())?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    // chromedriver may keep the connection open: read exactly the announced body.
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    let split = loop {
        if let Some(p) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed before the response headers".into());
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let mut payload = raw[split + 4..].to_vec();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    let chunked = head.contains("transfer-encoding: chunked");
    loop {
        let complete = match length {
            Some(n) => payload.len() >= n,
            None if chunked => payload.ends_with(b"0\r\n\r\n"),
            None => false,
        };
        if complete {
            break;
        }
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        payload.extend_from_slice(&buf[..n]);
    }
    if chunked {
        let mut out = Vec::new();
        let mut rest = &payload[..];
        while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..eol]).trim(), 16)
                .map_err(|e| format!("bad chunk size: {e}"))?;
            if size == 0 {
                break;
            }
            let start = eol + 2;
            out.extend_from_slice(&rest[start..start + size]);
            rest = &rest[start + size + 2..];
        }
        payload = out;
    }
    serde_json::from_slice(&payload).map_err(|e| format!("{method} {path}: bad JSON: {e}"))
}

/// A chromedriver process and one browser session.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    _profile: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The W3C key that marks an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    /// Starts `$CHROMEDRIVER` (default /usr/bin/chromedriver) and a headless Chromium session
    /// with WebGPU enabled (SwiftShader here), a fresh profile and a 1280×800 window.
    pub fn start() -> R<Browser> {
        Browser::start_with(None)
    }

    /// [`Browser::start`] with Chromium's trace of `categories` (comma-separated) recorded
    /// into the performance log, for [`Browser::trace_events`]. Tracing slows the page: for
    /// benchmarks, not for the tests' limits.
    pub fn start_traced(categories: &str) -> R<Browser> {
        Browser::start_with(Some(categories))
    }

    fn start_with(trace: Option<&str>) -> R<Browser> {
        let exe = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let port = free_port()?;
        let driver = Command::new(&exe)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {exe}: {e} (run bash scripts/setup.sh)"))?;
        let started = Instant::now();
        while http(port, "GET", "/status", None).is_err() {
            if started.elapsed() > Duration::from_secs(30) {
                return Err("chromedriver did not answer within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = TempDir(std::env::temp_dir().join(format!(
            "convplay-e2e-{}-{}",
            std::process::id(),
            port
        )));
        let mut caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--enable-unsafe-webgpu", "--window-size=1280,800",
                    format!("--user-data-dir={}", profile.0.display()),
                ]
            }
        }}});
        if let Some(categories) = trace {
            let always = &mut caps["capabilities"]["alwaysMatch"];
            always["goog:loggingPrefs"]["performance"] = json!("ALL");
            always["goog:chromeOptions"]["perfLoggingPrefs"] = json!({
                "enableNetwork": false,
                "enablePage": false,
                "traceCategories": categories,
            });
        }
        let v = http(port, "POST", "/session", Some(&caps))?;
        let session = v["value"]["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no session: {v}"))?
            .to_string();
        Ok(Browser {
            driver,
            port,
            session,
            _profile: profile,
        })
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> R<Value> {
        let v = http(
            self.port,
            method,
            &format!("/session/{}{path}", self.session),
            body.as_ref(),
        )?;
        if let Some(err) = v["value"].get("error") {
            return Err(format!(
                "{method} {path}: {err}: {}",
                v["value"]["message"].as_str().unwrap_or("")
            ));
        }
        Ok(v["value"].clone())
    }

    /// The trace events recorded since the last call (a session from
    /// [`Browser::start_traced`]; chromedriver ends the trace to hand it over and starts it again).
    pub fn trace_events(&self) -> R<Vec<Value>> {
        let log = self.cmd("POST", "/se/log", Some(json!({"type": "performance"})))?;
        let mut events = Vec::new();
        for entry in log.as_array().into_iter().flatten() {
            let Some(message) = entry["message"].as_str() else {
                continue;
            };
            let Ok(message) = serde_json::from_str::<Value>(message) else {
                continue;
            };
            let message = &message["message"];
            if message["method"] != "Tracing.dataCollected" {
                continue;
            }
            match message["params"].get("value").and_then(Value::as_array) {
                Some(values) => events.extend(values.iter().cloned()),
                None => events.push(message["params"].clone()),
            }
        }
        Ok(events)
    }

    pub fn goto(&self, url: &str) -> R<()> {
        self.cmd("POST", "/url", Some(json!({ "url": url })))
            .map(|_| ())
    }

    /// Opens the playground at `url` as a fresh document (not a same-page fragment change) and
    /// waits until it is idle: the worker ready, the data loaded and every section rendered.
    pub fn open(&self, url: &str) -> R<()> {
        self.goto("about:blank")?;
        self.goto(url)?;
        self.wait_for(
            "the page to be idle (worker ready, data loaded, every section rendered)",
            "const e = document.querySelector('#run-status'); return e && e.dataset.state === 'idle' && document.documentElement.dataset.sections === 'rendered';",
            Duration::from_secs(120),
        )?;
        Ok(())
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) and returns its value.
    pub fn js(&self, script: &str, args: Vec<Value>) -> R<Value> {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// Polls `script` every 200 ms until it returns a truthy value; returns that value.
    pub fn wait_for(&self, what: &str, script: &str, timeout: Duration) -> R<Value> {
        let started = Instant::now();
        loop {
            let v = self.js(script, vec![])?;
            let truthy =
                !matches!(&v, Value::Null | Value::Bool(false)) && v != json!("") && v != json!(0);
            if truthy {
                return Ok(v);
            }
            if started.elapsed() > timeout {
                return Err(format!("timed out after {timeout:?} waiting for {what}"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The handle of the current tab.
    pub fn tab(&self) -> R<String> {
        self.cmd("GET", "/window", None)?
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| "no window handle".into())
    }

    /// Opens a new tab in front (the current one goes to the background) and switches to it;
    /// returns its handle.
    pub fn new_tab(&self) -> R<String> {
        let v = self.cmd("POST", "/window/new", Some(json!({ "type": "tab" })))?;
        let handle = v["handle"]
            .as_str()
            .ok_or_else(|| format!("no new tab: {v}"))?
            .to_string();
        self.switch_to(&handle)?;
        Ok(handle)
    }

    /// Brings tab `handle` to the front.
    pub fn switch_to(&self, handle: &str) -> R<()> {
        self.cmd("POST", "/window", Some(json!({ "handle": handle })))
            .map(|_| ())
    }

    /// Closes the current tab (switch to another one after).
    pub fn close_tab(&self) -> R<()> {
        self.cmd("DELETE", "/window", None).map(|_| ())
    }

    pub fn element(&self, css: &str) -> R<Value> {
        let v = self.cmd(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        )?;
        Ok(json!({ ELEMENT: v[ELEMENT].clone() }))
    }

    /// Clicks the element as a user would, after scrolling it to the middle of the viewport (at
    /// the top, the page's sticky bar would take the click).
    pub fn click(&self, css: &str) -> R<()> {
        self.js(
            "const e = document.querySelector(arguments[0]); if (e) e.scrollIntoView({block: 'center'});",
            vec![json!(css)],
        )?;
        let e = self.element(css)?;
        let id = e[ELEMENT].as_str().ok_or("no element id")?.to_string();
        self.cmd("POST", &format!("/element/{id}/click"), Some(json!({})))
            .map(|_| ())
    }

    /// W3C pointer actions: a mouse pressed at the first viewport point, moved through the rest.
    pub fn stroke(&self, points: &[(i64, i64)]) -> R<()> {
        let mut actions = Vec::new();
        if let Some(&(x, y)) = points.first() {
            actions.push(
                json!({"type": "pointerMove", "duration": 0, "origin": "viewport", "x": x, "y": y}),
            );
            actions.push(json!({"type": "pointerDown", "button": 0}));
            for &(x, y) in &points[1..] {
                actions.push(json!({"type": "pointerMove", "duration": 30, "origin": "viewport", "x": x, "y": y}));
            }
            actions.push(json!({"type": "pointerUp", "button": 0}));
        }
        self.cmd(
            "POST",
            "/actions",
            Some(json!({"actions": [{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": actions}]})),
        )?;
        self.cmd("DELETE", "/actions", None).map(|_| ())
    }

    /// The browser console since the last call: `(level, message)`.
    pub fn console(&self) -> R<Vec<(String, String)>> {
        let v = self.cmd("POST", "/se/log", Some(json!({"type": "browser"})))?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        (
                            e["level"].as_str().unwrap_or("").to_string(),
                            e["message"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Saves a PNG of the viewport.
    pub fn screenshot(&self, path: &Path) -> R<()> {
        let v = self.cmd("GET", "/screenshot", None)?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().ok_or("no screenshot data")?)
            .map_err(|e| e.to_string())?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        std::fs::write(path, png).map_err(|e| format!("{}: {e}", path.display()))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = http(
            self.port,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

// What every browser test does to the page.

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The built site: `$CONVPLAY_DIST`, or dist/ at the repository root.
pub fn dist() -> PathBuf {
    std::env::var("CONVPLAY_DIST").map_or_else(|_| root().join("dist"), PathBuf::from)
}

/// Where screenshots go: target/e2e/.
pub fn shots() -> PathBuf {
    std::env::var("CARGO_TARGET_DIR")
        .map_or_else(|_| root().join("target"), PathBuf::from)
        .join("e2e")
}

/// Sets an input or select the way a user does, firing `input` and `change`.
pub fn set(b: &Browser, css: &str, value: &str) -> R<()> {
    let ok = b.js(
        "const e = document.querySelector(arguments[0]); if (!e) return false;
         e.value = arguments[1];
         e.dispatchEvent(new Event('input', {bubbles: true}));
         e.dispatchEvent(new Event('change', {bubbles: true}));
         return true;",
        vec![json!(css), json!(value)],
    )?;
    if ok != json!(true) {
        return Err(format!("no element {css}"));
    }
    Ok(())
}

pub fn value(b: &Browser, css: &str) -> R<String> {
    let v = b.js(
        "const e = document.querySelector(arguments[0]); return e ? e.value : null;",
        vec![json!(css)],
    )?;
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no element {css}"))
}

pub fn text(b: &Browser, css: &str) -> R<String> {
    let v = b.js(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;",
        vec![json!(css)],
    )?;
    v.as_str()
        .map(|s| s.trim().to_string())
        .ok_or_else(|| format!("no element {css}"))
}

/// `#run-status`'s `data-state`: loading, idle, training, paused, done or error.
pub fn state(b: &Browser) -> R<Value> {
    b.js(
        "const e = document.querySelector('#run-status'); return e ? e.dataset.state : null;",
        vec![],
    )
}

/// The browser console's SEVERE entries.
pub fn errors(b: &Browser) -> R<Vec<String>> {
    Ok(b.console()?
        .into_iter()
        .filter(|(level, _)| level == "SEVERE")
        .map(|(_, m)| m)
        .collect())
}

/// The Workers badge for `n` workers, as the page writes it.
pub fn workers_label(n: usize) -> String {
    if n == 1 {
        "1 worker".to_string()
    } else {
        format!("{n} workers")
    }
}

/// Waits until the page's `n` workers are ready (the badge counts them).
pub fn wait_for_workers(b: &Browser, n: usize) -> R<()> {
    b.wait_for(
        "the workers to be ready",
        &format!(
            "const e = document.querySelector('#badge-workers'); return e && e.textContent.trim() === '{}';",
            workers_label(n)
        ),
        Duration::from_secs(30),
    )
    .map(|_| ())
}

/// Waits until the worker has a WebGPU device and the page offers it.
pub fn wait_for_webgpu(b: &Browser) -> R<()> {
    b.wait_for(
        "the worker's WebGPU device",
        "const o = document.querySelector('#device option[value=gpu]'); return o && !o.disabled;",
        Duration::from_secs(60),
    )
    .map(|_| ())
}

/// Clicks Train and waits up to `timeout` for the run to start (or to be over already).
pub fn train(b: &Browser, timeout: Duration) -> R<()> {
    b.click("#train")?;
    b.wait_for(
        "training to start",
        "const s = document.querySelector('#run-status').dataset.state; return s === 'training' || s === 'done';",
        timeout,
    )
    .map(|_| ())
}

/// Waits until the run is over: done, failed, or stopped.
pub fn wait_for_run_end(b: &Browser, timeout: Duration) -> R<()> {
    b.wait_for(
        "training to end",
        "const s = document.querySelector('#run-status').dataset.state; return s === 'done' || s === 'error' || s === 'idle';",
        timeout,
    )
    .map(|_| ())
}

/// Model `i`'s accuracy on the `test` set ("centered" or "shifted") in the results table, in
/// percent.
pub fn accuracy(b: &Browser, i: usize, test: &str) -> R<f64> {
    let cell = format!("[data-model=\"{i}\"][data-test=\"{test}\"][data-metric=\"accuracy\"]");
    let t = text(b, &cell)?;
    t.trim_end_matches('%')
        .parse()
        .map_err(|_| format!("{cell}: {t:?} is not a percentage"))
}

/// The longest main-thread task allowed while the page mounts and while it trains, in ms.
pub const LONGEST_TASK: f64 = 50.0;

/// Starts watching the page's long main-thread tasks (a `PerformanceObserver` on `longtask`,
/// 50 ms or more) and returns the longest one so far (0 if none): the mount and the worker's
/// start-up, from the observer's buffer, and any since. The observer is proven on a task of
/// 80 ms of its own before it is trusted with zero; that task is not counted. [`longest_task`]
/// reads what follows.
pub fn watch_long_tasks(b: &Browser) -> R<f64> {
    b.js(
        "window.__lt = {longest: 0, count: 0, proven: false, proof: null};
         new PerformanceObserver((list) => {
           for (const e of list.getEntries()) {
             const p = window.__lt.proof;
             if (!window.__lt.proven && p !== null && e.startTime >= p - 1 && e.duration >= 80) {
               window.__lt.proven = true;
             } else {
               window.__lt.count += 1;
               window.__lt.longest = Math.max(window.__lt.longest, e.duration);
             }
           }
         }).observe({type: 'longtask', buffered: true});
         setTimeout(() => {
           window.__lt.proof = performance.now();
           const t = window.__lt.proof;
           while (performance.now() - t < 80) {}
         }, 0);
         return true;",
        vec![],
    )?;
    b.wait_for(
        "the long-task observer to see a task of 80 ms of its own",
        "return window.__lt.proven ? true : null;",
        Duration::from_secs(10),
    )?;
    Ok(longest_task(b, false)?.0)
}

/// The longest main-thread task since [`watch_long_tasks`] (or the last reset), in ms, and how
/// many tasks took 50 ms or more; `reset` starts the count again.
pub fn longest_task(b: &Browser, reset: bool) -> R<(f64, u64)> {
    let v = b.js(
        "const r = [window.__lt.longest, window.__lt.count];
         if (arguments[0]) { window.__lt.longest = 0; window.__lt.count = 0; }
         return r;",
        vec![json!(reset)],
    )?;
    Ok((v[0].as_f64().unwrap_or(0.0), v[1].as_u64().unwrap_or(0)))
}
