//! Tight loop over the discrete Gaussian sampler, for `perf record`.
//! `cargo run --release -p fedhe-dp --example profile_sampler -- 6650`
use std::time::Instant;

use fedhe_dp::sampler::{DiscreteGaussian, Rational};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn main() -> fedhe_dp::Result<()> {
    let sigma: u128 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(6650);
    let dg = DiscreteGaussian::new(Rational::new(sigma * sigma, 1)?)?;
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut out = vec![0i64; 1 << 16];
    let t = Instant::now();
    let reps: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    for _ in 0..reps {
        dg.fill(&mut rng, &mut out);
    }
    let ns = t.elapsed().as_secs_f64() * 1e9 / (reps * out.len()) as f64;
    println!("σ = {sigma}: {ns:.1} ns/sample");
    Ok(())
}
