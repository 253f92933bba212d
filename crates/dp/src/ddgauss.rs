//! The distributed discrete Gaussian (DDGauss) encoder and decoder
//! (Kairouz, Liu, Steinke, ICML 2021, Algorithms 1 and 2; `dp-reference.md` A.1–A.2).
//!
//! Client, per round ([`DdgEncoder::encode`]):
//! 1. clip to L2 norm `c`;
//! 2. zero-pad to `d = 2^k`;
//! 3. rotate `x ← H·D_ξ·x` with signs from the round seed ([`crate::rotation`]);
//! 4. scale by `1/γ`;
//! 5. conditional randomized rounding: round every coordinate up with
//!    probability equal to its fractional part, re-drawing the whole vector
//!    until `‖x̃‖₂ ≤ B(β)`;
//! 6. add `N_Z(0, σ²/γ²)` per coordinate with the exact sampler;
//! 7. reduce mod `2^b` into `u64` residues.
//!
//! Server, after the residues of `n` clients were summed mod `2^b`
//! ([`DdgEncoder::decode`]): centre into `[−2^{b−1}, 2^{b−1})`, unscale,
//! invert the rotation, drop the padding and divide by the number of
//! contributors. Coordinates whose centred value lies in the outer
//! [`WRAP_MARGIN`] of the range are counted as suspected wrap-arounds.
//!
//! The rounding step compares the fractional part with a 32-bit uniform (its
//! bias is below 2^−32 per coordinate, which affects utility only: privacy
//! rests on the enforced norm bound `B(β)` and the exact noise). Only the
//! noise is drawn by the exact integer sampler.
//!
//! Steps 5–7 run on rayon's pool in chunks of 2^14 values, each with a
//! ChaCha20 generator seeded from the caller's CSPRNG in chunk order, so a
//! seeded encoding is reproducible and the threads never share a generator.
//!
//! The noise of step 6 comes from the exact table sampler
//! [`crate::cdt::DiscreteGaussianTable`] when `σ²/γ² ≤ 2^30`: one random
//! word and usually one table load per coordinate. The table is built on the
//! first noisy [`DdgEncoder::encode`] of a configuration (tens of
//! milliseconds at σ = 6650) and shared through [`crate::cdt::shared_table`]
//! by later configurations with the same variance. Larger variances use the
//! CKS sampler [`crate::sampler::DiscreteGaussian`] (about 100 ns per value
//! at σ = 6650 against a few ns for the table). Both are exact; see
//! `benches/benches/dp.rs` for the costs at d = 2^20.

use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, Rng as _, SeedableRng};
use rayon::prelude::*;
use std::sync::{Arc, OnceLock};

use crate::accountant::rounded_l2_bound;
use crate::cdt::{DiscreteGaussianTable, shared_table};
use crate::error::{Error, Result, invalid};
use crate::rotation::{apply_signs, fwht_unnormalized, sign_mask};
use crate::sampler::{BitSource, DiscreteGaussian, Rational};

/// A centred aggregate coordinate with `|v| ≥ (1 − WRAP_MARGIN)·2^{b−1}` is
/// counted as a suspected wrap-around. A plan from [`crate::planner`] puts
/// the range edge at ≥ 5 sub-Gaussian standard deviations, so honest values
/// land in the outer 1/16 with negligible probability, while a wrapped value
/// enters from the opposite edge.
pub const WRAP_MARGIN: f64 = 1.0 / 16.0;

/// Largest modulus exponent `b` (residues and centred values fit in `i64`).
pub const MAX_BITS: u32 = 62;

/// Parameters of one round's DDGauss encoding, shared by clients and server.
#[derive(Debug, Clone)]
pub struct DdgConfig {
    dim: usize,
    padded: usize,
    clip: f64,
    gamma: f64,
    beta: f64,
    bits: u32,
    noise: Option<DiscreteGaussian>,
    /// The table sampler for `noise`, built on first use (`None` inside
    /// when σ² is beyond the table bound).
    table: OnceLock<Option<Arc<DiscreteGaussianTable>>>,
    max_attempts: u32,
}

impl DdgConfig {
    /// Configuration for vectors of length `dim`, clip norm `clip`,
    /// granularity `gamma`, rounding parameter `beta ∈ [0,1)`, modulus `2^bits`
    /// (`2 ≤ bits ≤ 62`) and per-client noise variance `noise_sigma2 = σ²/γ²`
    /// in scaled (integer) units; `None` adds no noise (tests, or the
    /// secure-aggregation-only baseline).
    pub fn new(
        dim: usize,
        clip: f64,
        gamma: f64,
        beta: f64,
        bits: u32,
        noise_sigma2: Option<Rational>,
    ) -> Result<Self> {
        if dim == 0 || dim > 1 << 30 {
            return Err(invalid("dim", "between 1 and 2^30", dim));
        }
        if !(clip > 0.0 && clip.is_finite()) {
            return Err(invalid("clip", "a finite number > 0", clip));
        }
        if !(gamma > 0.0 && gamma.is_finite()) {
            return Err(invalid("gamma", "a finite number > 0", gamma));
        }
        if !(0.0..1.0).contains(&beta) {
            return Err(invalid("beta", "a number in [0, 1)", beta));
        }
        if !(2..=MAX_BITS).contains(&bits) {
            return Err(invalid("bits", "between 2 and 62", bits));
        }
        let noise = noise_sigma2.map(DiscreteGaussian::new).transpose()?;
        Ok(Self {
            dim,
            padded: dim.next_power_of_two(),
            clip,
            gamma,
            beta,
            bits,
            noise,
            table: OnceLock::new(),
            max_attempts: 1000,
        })
    }

    /// Original dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }
    /// Padded dimension `2^⌈log₂ dim⌉`.
    pub fn padded_dim(&self) -> usize {
        self.padded
    }
    /// Clip norm.
    pub fn clip(&self) -> f64 {
        self.clip
    }
    /// Granularity γ.
    pub fn gamma(&self) -> f64 {
        self.gamma
    }
    /// Rounding parameter β.
    pub fn beta(&self) -> f64 {
        self.beta
    }
    /// Modulus exponent `b`.
    pub fn bits(&self) -> u32 {
        self.bits
    }
    /// Per-client noise variance in scaled units, if any.
    pub fn noise_sigma2(&self) -> Option<Rational> {
        self.noise.as_ref().map(DiscreteGaussian::sigma2)
    }
    /// The exact table sampler used for the noise, if `σ²` is within
    /// [`DiscreteGaussianTable::MAX_SIGMA2`] (built on the first call, then
    /// shared).
    pub fn noise_table(&self) -> Option<Arc<DiscreteGaussianTable>> {
        self.table
            .get_or_init(|| self.noise.as_ref().and_then(|dg| shared_table(dg.sigma2())))
            .clone()
    }

    /// The rounded-norm bound `B(β)` in scaled units.
    pub fn norm_bound(&self) -> f64 {
        rounded_l2_bound(self.clip / self.gamma, self.beta, self.padded)
    }
}

/// What happened while encoding one client vector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EncodeReport {
    /// L2 norm of the input.
    pub input_norm: f64,
    /// Whether the input was scaled down to the clip norm.
    pub clipped: bool,
    /// L2 norm after clipping.
    pub clipped_norm: f64,
    /// Rounding attempts rejected by the norm bound before one was accepted.
    pub rounding_retries: u32,
    /// L2 norm of the accepted rounded vector, scaled units.
    pub rounded_norm: f64,
}

/// What the decoder saw in one aggregate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecodeReport {
    /// Coordinates whose centred value is within [`WRAP_MARGIN`] of ±2^{b−1}.
    pub suspected_wraps: usize,
    /// Largest `|centred value|`, scaled units.
    pub max_abs_centred: u64,
    /// Contributors divided by.
    pub contributors: u64,
}

/// Encoder/decoder for one configuration.
#[derive(Debug, Clone)]
pub struct DdgEncoder {
    config: DdgConfig,
}

/// Values per parallel chunk (each with its own child CSPRNG).
const PAR_CHUNK: usize = 1 << 14;

/// Values per block of random bytes in the rounding step.
const ROUND_BLOCK: usize = 1024;

/// One 32-byte seed per chunk of `PAR_CHUNK` values, drawn in order.
fn chunk_seeds<R: CryptoRng + ?Sized>(rng: &mut R, d: usize) -> Vec<[u8; 32]> {
    (0..d.div_ceil(PAR_CHUNK))
        .map(|_| {
            let mut s = [0u8; 32];
            rng.fill_bytes(&mut s);
            s
        })
        .collect()
}

/// Randomized rounding of one chunk; returns its squared norm.
fn round_chunk(vc: &[f64], oc: &mut [u64], seed: &[u8; 32]) -> u128 {
    let mut rng = ChaCha20Rng::from_seed(*seed);
    let mut bytes = [0u8; ROUND_BLOCK * 4];
    let mut norm2: u128 = 0;
    for (vb, ob) in vc.chunks(ROUND_BLOCK).zip(oc.chunks_mut(ROUND_BLOCK)) {
        let buf = &mut bytes[..vb.len() * 4];
        rng.fill_bytes(buf);
        for ((val, o), b) in vb.iter().zip(ob.iter_mut()).zip(buf.chunks_exact(4)) {
            let mut w = [0u8; 4];
            w.copy_from_slice(b);
            let u = f64::from(u32::from_le_bytes(w)) * (1.0 / 4_294_967_296.0);
            // floor without a libm call (no SSE4.1 in the baseline target):
            // truncate, then step down for negative non-integers.
            let tr = *val as i64;
            let fl = tr - i64::from((tr as f64) > *val);
            let frac = val - fl as f64;
            let r = fl + i64::from(u < frac);
            norm2 += u128::from(r.unsigned_abs()) * u128::from(r.unsigned_abs());
            *o = r as u64;
        }
    }
    norm2
}

impl DdgEncoder {
    /// An encoder for `config`.
    pub fn new(config: DdgConfig) -> Self {
        Self { config }
    }

    /// The configuration.
    pub fn config(&self) -> &DdgConfig {
        &self.config
    }

    /// Encodes one client vector (steps 1–7 above) into `padded_dim` residues
    /// mod `2^bits`. `round_seed` must be the same for all clients and the
    /// server of the round; `rng` must be a CSPRNG reserved for DP noise.
    pub fn encode<R: CryptoRng + ?Sized>(
        &self,
        round_seed: &[u8; 32],
        x: &[f64],
        rng: &mut R,
    ) -> Result<(Vec<u64>, EncodeReport)> {
        let cfg = &self.config;
        if x.len() != cfg.dim {
            return Err(Error::LengthMismatch {
                name: "x",
                expected: cfg.dim,
                got: x.len(),
            });
        }
        if let Some(pos) = x.iter().position(|v| !v.is_finite()) {
            return Err(invalid(
                "x",
                "finite values",
                format!("non-finite value at index {pos}"),
            ));
        }
        let input_norm = x.iter().map(|v| v * v).sum::<f64>().sqrt();
        let clipped = input_norm > cfg.clip;
        let factor = if clipped { cfg.clip / input_norm } else { 1.0 };

        // 1–4: clip, pad, rotate, scale. The 1/√d of H and 1/γ are one multiply.
        let d = cfg.padded;
        let mut v = vec![0.0f64; d];
        for (o, &xi) in v.iter_mut().zip(x) {
            *o = xi * factor;
        }
        let mask = sign_mask(round_seed, d);
        apply_signs(&mut v, &mask);
        fwht_unnormalized(&mut v);
        let s = 1.0 / (cfg.gamma * (d as f64).sqrt());
        v.iter_mut().for_each(|t| *t *= s);

        // 5–7 run over chunks in parallel (rayon). Each chunk gets its own
        // ChaCha20 generator seeded with 32 bytes drawn, in chunk order, from
        // the caller's CSPRNG, so the output is a deterministic function of
        // that generator's stream and independent of the thread schedule.
        let bound = cfg.norm_bound();
        let bound2 = bound * bound;
        let mut out = vec![0u64; d];
        let mut retries = 0u32;
        let rounded_norm = loop {
            // 5: conditional randomized rounding.
            let seeds = chunk_seeds(rng, d);
            let norm2: u128 = v
                .par_chunks(PAR_CHUNK)
                .zip(out.par_chunks_mut(PAR_CHUNK))
                .zip(seeds.par_iter())
                .map(|((vc, oc), seed)| round_chunk(vc, oc, seed))
                .sum();
            let norm2 = norm2 as f64;
            if norm2 <= bound2 {
                break norm2.sqrt();
            }
            retries += 1;
            if retries >= cfg.max_attempts {
                return Err(Error::RoundingExhausted { attempts: retries });
            }
        };

        // 6–7: exact discrete Gaussian noise (table sampler, or CKS beyond
        // the table bound), then reduce mod 2^b. Two's
        // complement wrapping then masking is reduction mod 2^b since 2^b | 2^64.
        let m = (1u64 << cfg.bits) - 1;
        if let Some(dg) = &cfg.noise {
            let table = cfg.noise_table();
            let seeds = chunk_seeds(rng, d);
            out.par_chunks_mut(PAR_CHUNK)
                .zip(seeds.par_iter())
                .for_each(|(oc, seed)| {
                    let mut chunk_rng = ChaCha20Rng::from_seed(*seed);
                    if let Some(t) = &table {
                        for o in oc.iter_mut() {
                            let e = t.sample(&mut chunk_rng);
                            *o = (*o as i64).wrapping_add(e) as u64 & m;
                        }
                    } else {
                        let mut bits = BitSource::new(&mut chunk_rng);
                        for o in oc.iter_mut() {
                            let e = dg.sample_bits(&mut bits);
                            *o = (*o as i64).wrapping_add(e) as u64 & m;
                        }
                    }
                });
        } else {
            out.iter_mut().for_each(|o| *o &= m);
        }
        Ok((
            out,
            EncodeReport {
                input_norm,
                clipped,
                clipped_norm: input_norm * factor,
                rounding_retries: retries,
                rounded_norm,
            },
        ))
    }

    /// [`Self::encode`] for `f32` input (converted to `f64` first).
    pub fn encode_f32<R: CryptoRng + ?Sized>(
        &self,
        round_seed: &[u8; 32],
        x: &[f32],
        rng: &mut R,
    ) -> Result<(Vec<u64>, EncodeReport)> {
        let x: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        self.encode(round_seed, &x, rng)
    }

    /// Decodes the sum mod `2^bits` of `contributors` encoded vectors into
    /// their mean, in the original dimension.
    pub fn decode(
        &self,
        round_seed: &[u8; 32],
        sum: &[u64],
        contributors: u64,
    ) -> Result<(Vec<f64>, DecodeReport)> {
        let cfg = &self.config;
        let d = cfg.padded;
        if sum.len() != d {
            return Err(Error::LengthMismatch {
                name: "sum",
                expected: d,
                got: sum.len(),
            });
        }
        if contributors == 0 {
            return Err(invalid("contributors", "at least 1", contributors));
        }
        let modulus = 1u64 << cfg.bits;
        if let Some(pos) = sum.iter().position(|&s| s >= modulus) {
            return Err(invalid(
                "sum",
                "residues below 2^bits",
                format!("index {pos}"),
            ));
        }
        let half = modulus / 2;
        let threshold = (half as f64 * (1.0 - WRAP_MARGIN)).ceil() as u64;
        let mut suspected = 0usize;
        let mut max_abs = 0u64;
        let mut v: Vec<f64> = sum
            .iter()
            .map(|&s| {
                let c = if s >= half {
                    s as i64 - modulus as i64
                } else {
                    s as i64
                };
                let a = c.unsigned_abs();
                max_abs = max_abs.max(a);
                suspected += usize::from(a >= threshold);
                c as f64
            })
            .collect();
        fwht_unnormalized(&mut v);
        let s = cfg.gamma / (d as f64).sqrt();
        v.iter_mut().for_each(|t| *t *= s);
        apply_signs(&mut v, &sign_mask(round_seed, d));
        v.truncate(cfg.dim);
        let inv_n = 1.0 / contributors as f64;
        v.iter_mut().for_each(|t| *t *= inv_n);
        Ok((
            v,
            DecodeReport {
                suspected_wraps: suspected,
                max_abs_centred: max_abs,
                contributors,
            },
        ))
    }
}

/// Adds `b` into `acc` coordinate-wise mod `2^bits` (the plaintext stand-in
/// for what HE or secure aggregation computes).
pub fn add_mod(acc: &mut [u64], b: &[u64], bits: u32) -> Result<()> {
    if acc.len() != b.len() {
        return Err(Error::LengthMismatch {
            name: "b",
            expected: acc.len(),
            got: b.len(),
        });
    }
    if !(1..=64).contains(&bits) {
        return Err(invalid("bits", "between 1 and 64", bits));
    }
    let m = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    for (a, &x) in acc.iter_mut().zip(b) {
        *a = a.wrapping_add(x) & m;
    }
    Ok(())
}
