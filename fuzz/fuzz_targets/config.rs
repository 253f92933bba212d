#![no_main]
//! Fuzz target `config`: invariants in `fuzz/README.md` and
//! `fuzz/src/config_target.rs`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fedhe_fuzz::run("config", data);
});
