//! Rough per-stage timings of the DDGauss encoder at d = 2^20 (for tuning;
//! the criterion bench in `benches/benches/dp.rs` is the reference).
//! `cargo run --release -p fedhe-dp --example profile_encoder`
use std::time::Instant;

use fedhe_dp::ddgauss::{DdgConfig, DdgEncoder};
use fedhe_dp::sampler::{DiscreteGaussian, Rational};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

fn main() -> fedhe_dp::Result<()> {
    const D: usize = 1 << 20;
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let x: Vec<f64> = (0..D)
        .map(|i| ((i * 7919) % 1000) as f64 / 1000.0 - 0.5)
        .collect();
    let noise = Rational::from_f64_ceil(6650.0f64 * 6650.0, 0)?;
    let mut bytes = vec![0u8; 8 * D];
    for _ in 0..3 {
        let t = Instant::now();
        rng.fill_bytes(&mut bytes);
        let rng_ns = t.elapsed().as_secs_f64() * 1e9 / D as f64;
        let dg = DiscreteGaussian::new(noise)?;
        let mut out = vec![0i64; D];
        let t = Instant::now();
        dg.fill(&mut rng, &mut out);
        let noise_ns = t.elapsed().as_secs_f64() * 1e9 / D as f64;
        let enc = DdgEncoder::new(DdgConfig::new(D, 1.0, 1.4e-5, 0.6065, 20, None)?);
        let t = Instant::now();
        let (_, rep) = enc.encode(&[7; 32], &x, &mut rng)?;
        let plain_ns = t.elapsed().as_secs_f64() * 1e9 / D as f64;
        let enc = DdgEncoder::new(DdgConfig::new(D, 1.0, 1.4e-5, 0.6065, 20, Some(noise))?);
        let t = Instant::now();
        let _ = enc.encode(&[7; 32], &x, &mut rng)?;
        let full_ns = t.elapsed().as_secs_f64() * 1e9 / D as f64;
        println!(
            "ns/value: chacha20 8 bytes {rng_ns:.1}, dgauss {noise_ns:.1}, encode w/o noise {plain_ns:.1} (retries {}), encode {full_ns:.1}",
            rep.rounding_retries
        );
    }
    Ok(())
}
