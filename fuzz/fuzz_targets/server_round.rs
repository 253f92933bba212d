#![no_main]
//! Fuzz target `server_round`: invariants in `fuzz/README.md` and
//! `fedhe_protocols::fuzzing`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fedhe_fuzz::run("server_round", data);
});
