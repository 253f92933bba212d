#![no_main]
//! Fuzz target `server_round`: invariants in `fuzz/README.md` and
//! `fedhe_protocols::fuzzing`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = fedhe_protocols::fuzzing::run("server_round", data);
});
