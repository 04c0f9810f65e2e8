//! Benchmark (ignored by default; prints figures, asserts only that training ran): cnn-gap's
//! training images/s as the page shows it (`#images-per-second`) at batch 64 on the 64×64
//! canvas, with 1, 2, … data-parallel workers, in headless Chromium over WebDriver.
//!
//! `bash scripts/build-web.sh`, then
//! `cargo test --release -p convplay-tests --test workers_bench -- --ignored --nocapture`.
//! `CONVPLAY_WORKERS=1,2` picks the counts, `CONVPLAY_SECONDS=60` how long each trains.
//!
//! Also ignored, `page_mount_long_tasks`: `CONVPLAY_LOADS` (5) fresh loads of the page, each
//! with its long tasks (50 ms or more, the observer the e2e uses) and, from Chromium's trace,
//! its six longest main-thread tasks of any length and when each section rendered. The browser
//! records a trace (light: the toplevel category), so its tasks run a little longer than the
//! e2e's.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use convplay_compute::experiment::Experiment;
use convplay_compute::model::preset_for;
use convplay_tests::{Browser, R, StaticServer, wait_for_workers};
use serde_json::json;

fn dist() -> PathBuf {
    std::env::var("CONVPLAY_DIST").map_or_else(
        |_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist"),
        PathBuf::from,
    )
}

/// The images/s readout, once the page shows one.
fn rate(b: &Browser) -> R<Option<f64>> {
    let t = b.js(
        "const e = document.querySelector('#images-per-second'); return e ? e.textContent : '';",
        vec![],
    )?;
    Ok(t.as_str()
        .and_then(|t| t.trim().strip_suffix(" images/s"))
        .and_then(|n| n.parse().ok()))
}

#[test]
#[ignore = "a benchmark: minutes of training; run with --ignored"]
fn cnn_gap_images_per_second_by_worker_count() -> R<()> {
    let counts: Vec<usize> = std::env::var("CONVPLAY_WORKERS")
        .unwrap_or_else(|_| "1,2".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let seconds: u64 = std::env::var("CONVPLAY_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let mut exp = Experiment {
        models: vec![preset_for("cnn-gap", 64).map_err(|e| e.to_string())?],
        ..Experiment::default()
    };
    exp.train.batch = 64;
    exp.train.limit = Some(60_000);
    exp.data.test_limit = Some(100);
    let server = StaticServer::start(dist())?;
    let b = Browser::start()?;
    let url = format!("{}#{}", server.url(), exp.to_fragment());
    for workers in counts {
        b.open(&url)?;
        b.js(
            "const e = document.querySelector('#workers'); e.value = arguments[0];
             e.dispatchEvent(new Event('change', {bubbles: true}));",
            vec![json!(workers.to_string())],
        )?;
        wait_for_workers(&b, workers)?;
        b.click("#train")?;
        let start = Instant::now();
        std::thread::sleep(Duration::from_secs(seconds));
        let r = rate(&b)?.ok_or("no images/s readout after training")?;
        b.click("#stop")?;
        println!(
            "cnn-gap batch 64, {workers} worker(s): {r:.1} img/s (page readout after {:.0} s)",
            start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

#[test]
#[ignore = "a measurement: prints the page's long main-thread tasks; run with --ignored"]
fn page_mount_long_tasks() -> R<()> {
    let loads: usize = std::env::var("CONVPLAY_LOADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let server = StaticServer::start(dist())?;
    // The lightest trace that times every main-thread task, plus the page's own entries.
    let b = Browser::start_traced("toplevel,blink.user_timing")?;
    for run in 1..=loads {
        b.goto("about:blank")?;
        b.trace_events()?;
        b.open(&server.url())?;
        // Long tasks are buffered from the page's start (up to 200 of them).
        b.js(
            "window.__longTasks = null;
             new PerformanceObserver((list, obs) => {
               window.__longTasks = list.getEntries().map(e => [Math.round(e.startTime), Math.round(e.duration)]);
               obs.disconnect();
             }).observe({type: 'longtask', buffered: true});
             return true;",
            vec![],
        )?;
        let tasks = b
            .wait_for(
                "the long-task entries",
                "return window.__longTasks;",
                Duration::from_secs(5),
            )
            .unwrap_or(json!([]));
        b.goto("about:blank")?;
        let events = b.trace_events()?;
        println!(
            "load {run}: long tasks [start ms, duration ms] {tasks}; {}",
            main_thread_tasks(&events)
        );
    }
    Ok(())
}

/// The page's longest main-thread tasks (ms, and when, in ms from the mount's start) from its
/// trace, and when each section rendered.
fn main_thread_tasks(events: &[serde_json::Value]) -> String {
    let name = |e: &serde_json::Value| e["name"].as_str().unwrap_or("").to_string();
    let Some(mount) = events.iter().find(|e| name(e) == "convplay-mount") else {
        return "no convplay-mount in the trace".into();
    };
    let (pid, tid) = (mount["pid"].clone(), mount["tid"].clone());
    let t0 = mount["ts"].as_f64().unwrap_or(0.0);
    let mut tasks: Vec<(f64, f64)> = events
        .iter()
        .filter(|e| e["pid"] == pid && e["tid"] == tid)
        .filter(|e| name(e) == "ThreadControllerImpl::RunTask")
        .filter_map(|e| Some((e["dur"].as_f64()? / 1e3, (e["ts"].as_f64()? - t0) / 1e3)))
        .filter(|&(_, at)| at > -300.0)
        .collect();
    tasks.sort_by(|a, b| b.0.total_cmp(&a.0));
    let longest: Vec<String> = tasks
        .iter()
        .take(6)
        .map(|(d, at)| format!("{d:.0}@{at:.0}"))
        .collect();
    let renders: Vec<String> = events
        .iter()
        .filter(|e| e["pid"] == pid && e["ph"] == "b")
        .filter_map(|e| {
            let n = name(e);
            let section = n.strip_prefix("convplay-render:")?;
            Some(format!("{section}@{:.0}", (e["ts"].as_f64()? - t0) / 1e3))
        })
        .collect();
    format!(
        "main-thread tasks, longest first [ms@ms from mount]: {}; sections rendered at: {}",
        longest.join(" "),
        renders.join(" ")
    )
}
