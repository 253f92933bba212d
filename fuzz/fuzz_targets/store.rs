#![no_main]
//! Fuzz target `store`: invariants in `fuzz/README.md` and
//! `fedhe_node::fuzzing`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fedhe_fuzz::run("store", data);
});
