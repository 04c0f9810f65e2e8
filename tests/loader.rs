//! The worker's loader (`web/convplay-worker-loader.js`) in node, with `importScripts` and
//! `wasm_bindgen` recorded: it picks the relaxed-SIMD build (`relaxed/`) exactly where the engine
//! validates relaxed SIMD, and falls back to the plain build when `relaxed/` is missing.
//!
//! The probe module is checked on a real engine: node's V8 validates it with
//! `--experimental-wasm-relaxed-simd` (node 20's V8 11.3 predates relaxed SIMD by default, and
//! refuses it without the flag: "simd opcode not available"). So are the two builds of the
//! worker in the built site (`bash scripts/build-web.sh` first; scripts/test.sh does that).

use std::path::PathBuf;
use std::process::Command;

/// Whether node's V8 validates relaxed SIMD without a flag: on by default from V8 11.4 (Chrome
/// 114); Debian's node 20 has 11.3.
fn relaxed_by_default() -> bool {
    let v8 = Command::new("node")
        .args(["-p", "process.versions.v8"])
        .output()
        .expect("node runs (scripts/setup.sh installs nodejs)");
    let v8 = String::from_utf8_lossy(&v8.stdout);
    let mut parts = v8.trim().split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (11, 4)
}

/// Runs the loader in a fresh node context and returns what it loaded, one line per
/// `importScripts` and `wasm_bindgen` call. `validate`: `"real"` (node's `WebAssembly`), or
/// `"no"` (an engine without relaxed SIMD). `missing`: a script path whose import throws.
fn run_loader(node_flags: &[&str], validate: &str, missing: &str) -> String {
    let loader = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web/convplay-worker-loader.js");
    let harness = r#"
const fs = require("fs");
const vm = require("vm");
const [loader, validate, missing] = process.argv.slice(-3);
const log = [];
const wasm = validate === "real"
  ? WebAssembly
  : { validate: () => false };
const sandbox = {
  WebAssembly: wasm,
  importScripts: (path) => {
    if (path === missing) throw new Error("NetworkError: " + path);
    log.push("script " + path);
  },
  wasm_bindgen: (opts) => {
    log.push("wasm " + opts.module_or_path);
    return Promise.resolve();
  },
  setTimeout,
};
vm.runInNewContext(fs.readFileSync(loader, "utf8"), sandbox);
console.log(log.join("\n"));
"#;
    let out = Command::new("node")
        .args(node_flags)
        .arg("-e")
        .arg(harness)
        .arg("--")
        .arg(&loader)
        .arg(validate)
        .arg(missing)
        .output()
        .expect("node runs (scripts/setup.sh installs nodejs)");
    assert!(
        out.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

const PLAIN: &str = "script ./convplay-worker.js\nwasm ./convplay-worker_bg.wasm";
const RELAXED: &str = "script ./relaxed/convplay-worker.js\nwasm ./relaxed/convplay-worker_bg.wasm";

#[test]
fn an_engine_with_relaxed_simd_loads_the_relaxed_build() {
    assert_eq!(
        run_loader(&["--experimental-wasm-relaxed-simd"], "real", ""),
        RELAXED
    );
}

#[test]
fn an_engine_without_relaxed_simd_loads_the_plain_build() {
    assert_eq!(run_loader(&[], "no", ""), PLAIN);
}

#[test]
fn the_probe_is_refused_where_relaxed_simd_is_off() {
    // A probe that any SIMD engine validated would load the relaxed build where it cannot run.
    if relaxed_by_default() {
        eprintln!("this node validates relaxed SIMD by default: the refusal is not testable here");
        return;
    }
    assert_eq!(run_loader(&[], "real", ""), PLAIN);
}

#[test]
fn a_site_without_the_relaxed_build_loads_the_plain_one() {
    assert_eq!(
        run_loader(
            &["--experimental-wasm-relaxed-simd"],
            "real",
            "./relaxed/convplay-worker.js"
        ),
        PLAIN
    );
}

/// Whether node validates each file, with `node_flags`.
fn validates(node_flags: &[&str], files: &[PathBuf]) -> Vec<bool> {
    let out = Command::new("node")
        .args(node_flags)
        .arg("-e")
        .arg(
            "const fs = require('fs'); for (const f of process.argv.slice(1)) \
             console.log(WebAssembly.validate(fs.readFileSync(f)));",
        )
        .args(files)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim() == "true")
        .collect()
}

#[test]
fn the_site_holds_a_plain_worker_and_a_relaxed_one() {
    let dist = convplay_tests::dist();
    let plain = dist.join("convplay-worker_bg.wasm");
    let relaxed = dist.join("relaxed/convplay-worker_bg.wasm");
    for f in [&plain, &relaxed] {
        assert!(
            f.exists(),
            "{} is missing: bash scripts/build-web.sh",
            f.display()
        );
    }
    let files = [plain, relaxed];
    // With relaxed SIMD on, both load.
    assert_eq!(
        validates(&["--experimental-wasm-relaxed-simd"], &files),
        [true, true]
    );
    if relaxed_by_default() {
        return;
    }
    // Without it, only the plain one: it carries no relaxed instruction, the other does.
    assert_eq!(validates(&[], &files), [true, false]);
}
