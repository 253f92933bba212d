#![no_main]
//! Fuzz target `dataset`: invariants in `fuzz/README.md` and
//! `fedhe_learn::fuzzing`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fedhe_fuzz::run("dataset", data);
});
