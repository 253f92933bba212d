//! Seed derivation.
//!
//! Every random stream in a run (model initialisation, client sampling per
//! round, each client's minibatch order) gets its own ChaCha8 generator seeded
//! from the run seed and a domain tag. Streams never share state, so running
//! clients in parallel, or in a different order, cannot change any draw.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// SplitMix64 finaliser: a bijective 64-bit mixer (Steele et al. 2014).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Derives an independent 64-bit seed from a run seed, a domain tag and
/// two indices (e.g. round and client).
#[must_use]
pub fn derive_seed(seed: u64, tag: u64, a: u64, b: u64) -> u64 {
    mix(mix(mix(mix(seed) ^ tag) ^ a) ^ b)
}

/// A ChaCha8 generator for the stream `(seed, tag, a, b)`.
#[must_use]
pub fn stream(seed: u64, tag: u64, a: u64, b: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(derive_seed(seed, tag, a, b))
}

/// Domain tags, one per kind of random stream.
pub(crate) mod tag {
    pub const INIT: u64 = 1;
    pub const SELECT: u64 = 2;
    pub const LOCAL: u64 = 3;
    pub const PARTITION: u64 = 4;
    pub const SYNTHETIC: u64 = 5;
    pub const SPLIT: u64 = 6;
}
