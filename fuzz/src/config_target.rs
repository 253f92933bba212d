//! Entry point of fuzz target `config` (the TOML configuration files of
//! `fedhe-config`). A plain module with no dependency on the fuzzing
//! harness: the fuzz crate compiles it, and the corpus replay of the normal
//! test suite (`tests/tests/fuzz_config_corpus.rs`) includes the same file.
//!
//! Invariants: arbitrary bytes, taken as UTF-8, never make
//! `ServeConfig::from_toml`, `ClientConfig::from_toml` or
//! `CommitteeConfig::from_toml` panic; a configuration one of them accepts,
//! written back with `to_toml`, parses (and validates) again to an equal
//! value. (TOML has many spellings of one value: comments, key order,
//! quoting, inline tables. So the invariant is on values, not on bytes.)

use fedhe_config::{ClientConfig, CommitteeConfig, ServeConfig};

/// The target's name.
pub const CONFIG_TARGET: &str = "config";

macro_rules! round_trip {
    ($ty:ty, $text:expr) => {
        if let Ok(c) = <$ty>::from_toml($text) {
            let written = c.to_toml();
            match <$ty>::from_toml(&written) {
                Ok(again) => assert_eq!(
                    again,
                    c,
                    "{}: to_toml then from_toml changed the value:\n{written}",
                    stringify!($ty)
                ),
                Err(e) => panic!(
                    "{}: an accepted configuration, written by to_toml, is refused: {e}\n{written}",
                    stringify!($ty)
                ),
            }
        }
    };
}

/// Runs the `config` target on `data`.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    round_trip!(ServeConfig, text);
    round_trip!(ClientConfig, text);
    round_trip!(CommitteeConfig, text);
}
