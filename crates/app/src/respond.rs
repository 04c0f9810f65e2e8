//! What the worker answers to each command. Plain functions with no browser in them, so the
//! worker bin only moves messages and these can be tested natively.

use convplay_compute::{cpu::simd, model};

use crate::protocol::{BackendInfo, FromWorker, ToWorker};

/// The worker's backend: wasm with or without the simd128 instructions, as this binary was
/// compiled (`-C target-feature=+simd128`), and the instruction set the CPU kernels chose.
pub fn backend_info() -> BackendInfo {
    let backend = if cfg!(target_feature = "simd128") {
        "wasm-simd128"
    } else {
        "wasm-scalar"
    };
    BackendInfo {
        backend: backend.to_string(),
        isa: simd::active_isa().to_string(),
    }
}

/// The answer to one command. A bad request (an unknown preset) is an answer, not a panic.
pub fn respond(command: ToWorker) -> FromWorker {
    match command {
        ToWorker::Summarize(preset) => {
            let summary = model::preset(&preset)
                .and_then(|spec| spec.summary())
                .map_err(|e| e.to_string());
            FromWorker::Summary { preset, summary }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarize_answers_with_the_presets_summary() {
        let FromWorker::Summary { preset, summary } =
            respond(ToWorker::Summarize("cnn-gap".into()))
        else {
            panic!("Summarize must be answered with a Summary");
        };
        assert_eq!(preset, "cnn-gap");
        let summary = summary.expect("cnn-gap is a preset");
        assert_eq!(
            summary,
            model::preset("cnn-gap").unwrap().summary().unwrap()
        );
    }

    #[test]
    fn summarize_unknown_preset_is_an_error_answer() {
        let answer = respond(ToWorker::Summarize("no-such-net".into()));
        let FromWorker::Summary { preset, summary } = answer else {
            panic!("Summarize must be answered with a Summary");
        };
        assert_eq!(preset, "no-such-net");
        assert!(summary.unwrap_err().contains("no-such-net"));
    }

    #[test]
    fn backend_names_the_isa_the_kernels_use() {
        let info = backend_info();
        assert!(["wasm-simd128", "wasm-scalar"].contains(&info.backend.as_str()));
        assert_eq!(info.isa, simd::active_isa());
    }
}
