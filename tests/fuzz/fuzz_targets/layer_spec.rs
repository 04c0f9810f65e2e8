#![no_main]
//! libFuzzer target: [`convplay_fuzz::layer_spec`]; run with `bash scripts/fuzz.sh SECONDS`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    convplay_fuzz::layer_spec(data);
});
