#![no_main]
//! Fuzz target `key_sealed_share`: invariants in `fuzz/README.md` and
//! `fedhe_keys::fuzzing`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fedhe_fuzz::run("key_sealed_share", data);
});
