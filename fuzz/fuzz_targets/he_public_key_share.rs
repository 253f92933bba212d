#![no_main]
//! Fuzz target `he_public_key_share`: invariants in `fuzz/README.md` and
//! `fedhe_protocols::fuzzing`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fedhe_fuzz::run("he_public_key_share", data);
});
