#![no_main]
//! Fuzz target `committee_member`: invariants in `fuzz/README.md` and
//! `fedhe_protocols::fuzzing`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fedhe_fuzz::run("committee_member", data);
});
