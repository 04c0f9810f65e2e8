#![no_main]
//! libFuzzer target: [`convplay_fuzz::share_link_json`]; run with `bash scripts/fuzz.sh SECONDS`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    convplay_fuzz::share_link_json(data);
});
