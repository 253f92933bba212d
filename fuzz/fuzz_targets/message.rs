#![no_main]
//! Fuzz target `message`: invariants in `fuzz/README.md` and
//! `fedhe_protocols::fuzzing`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = fedhe_protocols::fuzzing::run("message", data);
});
