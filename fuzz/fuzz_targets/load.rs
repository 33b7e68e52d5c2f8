//! Coverage-guided: any bytes, as a runbook, through load, validate, plan
//! and render. A panic, an abort or a hang (libFuzzer's -timeout) is a bug.
//! Run with `scripts/fuzz.sh` (seeded from examples/ and runbooks/).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The loader reads files as UTF-8 and rejects anything else up front.
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = relctl::fuzz::load_validate_plan(text);
    }
});
