//! Distributed differential privacy for fedhe.
//!
//! What this crate does:
//! * exact integer samplers for the discrete Gaussian and Skellam noise
//!   ([`sampler`]), driven by a CSPRNG, with no floating point in any
//!   acceptance decision, and an exact table (inverse-CDF) sampler for a
//!   fixed discrete Gaussian variance with rigorous interval bounds ([`cdt`]);
//! * the distributed discrete Gaussian (DDGauss) client encoder and server
//!   decoder of Kairouz, Liu, Steinke (ICML 2021) ([`ddgauss`]), including the
//!   randomized Walsh–Hadamard rotation ([`rotation`]);
//! * a planner that derives the granularity γ and the local noise σ from the
//!   deployment and refuses plans that would wrap around the modulus
//!   ([`planner`]);
//! * an RDP accountant matching Google's `dp_accounting` for the subsampled
//!   Gaussian, plus DDGauss and Skellam accounting ([`accountant`]);
//! * an append-only privacy ledger and a budget that refuses rounds
//!   ([`ledger`]).
//!
//! What it does not do: encryption, secure aggregation, networking or
//! persistence. It does not depend on the other fedhe crates; the caller
//! passes the HE plaintext bit width to the planner. Its samplers are not
//! constant time (see [`sampler`]).
#![forbid(unsafe_code)]

pub mod accountant;
pub mod cdt;
pub mod ddgauss;
mod error;
pub mod ledger;
pub mod planner;
pub mod rotation;
pub mod sampler;

pub use error::{Error, Result};

/// A fresh CSPRNG for DP noise: ChaCha20 seeded from the operating system.
///
/// Noise draws its own generator instance, separate from key material and
/// encryption randomness. Never seed it from anything else in production.
pub fn noise_rng() -> Result<rand_chacha::ChaCha20Rng> {
    use rand_core::SeedableRng;
    rand_chacha::ChaCha20Rng::try_from_rng(&mut rand::rngs::SysRng)
        .map_err(|e| Error::Rng(e.to_string()))
}
