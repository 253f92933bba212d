#![no_main]
//! Fuzz target `key_current`: invariants in `fuzz/README.md` and
//! `fedhe_keys::fuzzing`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fedhe_fuzz::run("key_current", data);
});
