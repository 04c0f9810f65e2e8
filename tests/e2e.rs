//! The built playground (dist/) served on 127.0.0.1 and driven in headless Chromium over
//! WebDriver: it loads without console errors, its worker opens WebGPU (SwiftShader) and offers
//! it without making a software adapter the default, both models train on a small subset with two
//! data-parallel workers and beat chance, the share link restores the experiment in a fresh
//! page, a drawn stroke gets a prediction, a garbage link shows its error and the defaults, and
//! no main-thread task takes 50 ms or more while the page mounts or while it trains. Screenshots
//! of every view land in target/e2e/ (1280×800).
//!
//! Needs `bash scripts/build-web.sh` first (scripts/test.sh does that).

use std::time::Duration;

use convplay_compute::experiment::Experiment;
use convplay_tests::{
    Browser, LONGEST_TASK, R, StaticServer, accuracy, dist, errors, longest_task, set, shots,
    state, text, train, value, wait_for_run_end, wait_for_workers, watch_long_tasks,
};
use serde_json::json;

const SETTINGS: [&str; 10] = [
    "#epochs",
    "#train-limit",
    "#test-limit",
    "#batch",
    "#lr",
    "#seed",
    "#dataset",
    "#optimizer",
    "#canvas",
    "#train-shift",
];

#[test]
fn the_playground_end_to_end() -> R<()> {
    let server = StaticServer::start(dist())?;
    let b = Browser::start()?;
    let base = server.url();

    // 1. Loads, with the backend named and no console error.
    b.open(&base)?;
    let badge = text(&b, "#backend-badge")?;
    assert!(
        badge.contains("WebGPU") || badge.contains("wasm SIMD"),
        "badge: {badge}"
    );
    // This Chromium has wasm relaxed SIMD: the loader started the worker's relaxed build
    // (dist/relaxed/, scripts/build-relaxed-worker.sh), whose kernels say so.
    assert!(
        badge.contains("ISA simd128+relaxed"),
        "the worker's relaxed-SIMD build did not load: {badge}"
    );
    // The worker looks for WebGPU (this Chromium has it, on SwiftShader): found in the worker,
    // offered by the Train-on select, not the default on a software adapter.
    let hint = b.wait_for(
        "the worker's WebGPU answer",
        "const h = document.querySelector('#device-hint'); return h && !h.textContent.includes('looking') ? h.textContent : null;",
        Duration::from_secs(60),
    )?;
    let hint = hint.as_str().unwrap_or_default().to_string();
    assert!(
        hint.starts_with("WebGPU: "),
        "the worker found no WebGPU: {hint}"
    );
    assert!(
        b.js("return !document.querySelector('#device option[value=gpu]').disabled && document.querySelector('#device').value === 'cpu';", vec![])? == json!(true),
        "WebGPU is offered, and a software adapter is not the default: {hint}"
    );
    let errs = errors(&b)?;
    assert!(errs.is_empty(), "console errors on load: {errs:?}");
    // No main-thread task of 50 ms or more from the page's start to the worker's answer.
    let mount = watch_long_tasks(&b)?;
    println!("longest main-thread task while mounting: {mount:.0} ms (0: none of 50 ms or more)");
    assert!(
        mount < LONGEST_TASK,
        "a main-thread task took {mount} ms while the page mounted"
    );
    assert!(
        b.js("return document.querySelector('#link-error') === null || document.querySelector('#link-error').offsetParent === null;", vec![])? == json!(true),
        "a link error shows on a plain load"
    );
    let default_link = value(&b, "#share-link")?;
    assert_eq!(
        Experiment::from_link(&default_link).map_err(|e| e.to_string())?,
        Experiment::default(),
        "a plain load shows the default experiment"
    );

    // 2. A small experiment: 28×28 canvas, 2,000 images, 1 epoch, two workers.
    for (css, v) in [
        ("#canvas", "28"),
        ("#train-limit", "2000"),
        ("#test-limit", "300"),
        ("#epochs", "1"),
        ("#seed", "7"),
        ("#workers", "2"),
    ] {
        set(&b, css, v)?;
    }
    let link = b.wait_for(
        "the share link to follow the settings",
        "const v = document.querySelector('#share-link').value; return v.includes('#e=') ? v : null;",
        Duration::from_secs(5),
    )?;
    let link = link.as_str().unwrap_or_default().to_string();
    let exp = Experiment::from_link(&link).map_err(|e| format!("the page's own link: {e}"))?;
    assert_eq!(exp.train.canvas, 28);
    assert_eq!(exp.train.limit, Some(2000));
    assert_eq!(exp.data.test_limit, Some(300));
    assert_eq!(exp.train.epochs, 1);
    assert_eq!(exp.train.seed, 7);
    assert_eq!(
        exp.train.shards, 1,
        "without batch norm the worker count stays out of the link"
    );
    assert_eq!(exp.models.len(), 2);
    assert!(exp.models.iter().all(|m| m.input == [1, 28, 28]));
    let command = text(&b, "#run-command")?;
    assert!(command.starts_with("convplay run --link '"), "{command}");
    assert_eq!(
        Experiment::from_link(
            command
                .trim_start_matches("convplay run --link ")
                .trim_matches('\'')
        )
        .map_err(|e| e.to_string())?,
        exp
    );

    // 3. Trains both models on two workers; both beat chance (10%) on the centred test set.
    wait_for_workers(&b, 2)?;
    longest_task(&b, true)?;
    train(&b, Duration::from_secs(30))?;
    wait_for_run_end(&b, Duration::from_secs(600))?;
    assert_eq!(state(&b)?, json!("done"));
    // Nor while two workers train and the page draws their progress.
    let (longest, count) = longest_task(&b, false)?;
    println!("longest main-thread task while training: {longest:.0} ms ({count} of 50 ms or more)");
    assert!(
        longest < LONGEST_TASK,
        "a main-thread task took {longest} ms while training ({count} of 50 ms or more)"
    );
    assert_eq!(
        text(&b, "#badge-workers")?,
        "2 workers",
        "both workers trained to the end"
    );
    for i in 0..2 {
        for test in ["centered", "shifted"] {
            let acc = accuracy(&b, i, test)?;
            assert!((0.0..=100.0).contains(&acc), "model {i}, {test}: {acc}");
            if test == "centered" {
                assert!(
                    acc > 15.0,
                    "model {i} centred accuracy {acc}% is not above chance"
                );
            }
        }
    }
    let errs = errors(&b)?;
    assert!(errs.is_empty(), "console errors while training: {errs:?}");

    // 4. A drawn stroke gets a prediction from both models.
    b.js(
        "document.querySelector('#draw-canvas').scrollIntoView({block: 'center'});",
        vec![],
    )?;
    let r = b.js(
        "const r = document.querySelector('#draw-canvas').getBoundingClientRect();
         return [r.left, r.top, r.width, r.height];",
        vec![],
    )?;
    let f = |k: usize| r[k].as_f64().unwrap_or(0.0);
    let (x0, y0, w, h) = (f(0), f(1), f(2), f(3));
    assert!(w >= 64.0 && h >= 64.0, "the drawing canvas is {w}×{h} px");
    let p = |fx: f64, fy: f64| ((x0 + fx * w) as i64, (y0 + fy * h) as i64);
    b.stroke(&[
        p(0.45, 0.3),
        p(0.5, 0.4),
        p(0.5, 0.5),
        p(0.5, 0.6),
        p(0.52, 0.7),
    ])?;
    for i in 0..2 {
        let class = b.wait_for(
            "a prediction for the drawing",
            &format!(
                "const e = document.querySelector('#prediction-{i}'); return e && e.getAttribute('data-class');"
            ),
            Duration::from_secs(20),
        )?;
        let class: usize = class
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("prediction-{i}: {class}"))?;
        assert!(class < 10);
    }

    // 5. Screenshots of every view.
    for view in [
        "experiment",
        "training",
        "results",
        "heatmaps",
        "playground",
        "inspect",
        "editor",
    ] {
        b.js(
            "const e = document.getElementById(arguments[0]); if (e) e.scrollIntoView(); return !!e;",
            vec![json!(view)],
        )
        .and_then(|v| if v == json!(true) { Ok(()) } else { Err(format!("no #{view} section")) })?;
        std::thread::sleep(Duration::from_millis(300));
        b.screenshot(&shots().join(format!("{view}.png")))?;
    }

    // 6. The share link, opened in a fresh page, restores the same experiment.
    let before: Vec<String> = SETTINGS.iter().map(|s| value(&b, s)).collect::<R<_>>()?;
    b.open(&link)?;
    let after: Vec<String> = SETTINGS.iter().map(|s| value(&b, s)).collect::<R<_>>()?;
    assert_eq!(before, after, "settings {SETTINGS:?}");
    let restored = value(&b, "#share-link")?;
    assert_eq!(
        Experiment::from_link(&restored).map_err(|e| e.to_string())?,
        exp,
        "the restored page's experiment"
    );
    for i in 0..2 {
        assert_eq!(
            value(&b, &format!("#model-{i}-preset"))?,
            exp.models[i].name
        );
    }
    let errs = errors(&b)?;
    assert!(
        errs.is_empty(),
        "console errors on the shared link: {errs:?}"
    );

    // 7. A garbage fragment: the error is shown, with the defaults.
    b.open(&format!("{base}#e=1.%%%not-a-link"))?;
    let msg = b.wait_for(
        "the link error",
        "const e = document.querySelector('#link-error'); return e && e.offsetParent !== null && e.textContent.trim();",
        Duration::from_secs(10),
    )?;
    assert!(
        msg.as_str().unwrap_or_default().len() > 10,
        "link error text: {msg}"
    );
    b.screenshot(&shots().join("bad-link.png"))?;
    let shown = value(&b, "#share-link")?;
    assert_eq!(
        Experiment::from_link(&shown).map_err(|e| e.to_string())?,
        Experiment::default(),
        "a bad link falls back to the defaults"
    );
    Ok(())
}
