#![no_main]
//! Fuzz target `frame_reader`: invariants in `fuzz/README.md` and
//! `fedhe_protocols::fuzzing`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fedhe_fuzz::run("frame_reader", data);
});
