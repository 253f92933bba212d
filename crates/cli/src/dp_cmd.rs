//! `fedhe dp sample`: raw draws from the exact noise samplers, one integer
//! per line, for external statistical tests.
//!
//! `--sigma` is parsed as an exact decimal, so `σ² = σ·σ` is an exact
//! rational. `--seed` makes the output reproducible and exists **only** for
//! statistical testing: it replaces the OS-seeded generator with ChaCha20
//! seeded from the given number, which is never acceptable for real noise.

use std::io::Write as _;

use anyhow::{Context as _, bail};
use fedhe_dp::sampler::{DiscreteGaussian, Rational, Skellam};
use rand::SeedableRng as _;

#[derive(Debug, clap::Args)]
pub struct DpArgs {
    #[command(subcommand)]
    command: DpCommand,
}

#[derive(Debug, clap::Subcommand)]
enum DpCommand {
    /// Print samples of a noise distribution, one integer per line.
    Sample(SampleArgs),
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum MechanismArg {
    /// Exact discrete Gaussian N_Z(0, σ²) (Canonne–Kamath–Steinke sampler).
    Dgauss,
    /// Exact discrete Gaussian N_Z(0, σ²) from the table sampler the DDGauss
    /// encoder uses (σ² ≤ 2^30).
    DgaussTable,
    /// Skellam: difference of two Poisson(σ²/2).
    Skellam,
}

#[derive(Debug, clap::Args)]
struct SampleArgs {
    /// Noise distribution.
    #[arg(long, value_enum)]
    mechanism: MechanismArg,
    /// Standard-deviation parameter σ, an exact decimal such as 0.5, 1000 or 1e6.
    #[arg(long)]
    sigma: String,
    /// Number of samples.
    #[arg(long)]
    count: u64,
    /// Seed ChaCha20 with this number instead of the OS (reproducible
    /// statistical tests only, never for real noise).
    #[arg(long)]
    seed: Option<u64>,
}

/// Parses a non-negative decimal `digits[.digits][e[+-]digits]` exactly as `m/10^k`.
fn parse_decimal(s: &str) -> anyhow::Result<(u128, u32)> {
    let (mant, exp) = match s.find(['e', 'E']) {
        Some(i) => (
            &s[..i],
            s[i + 1..]
                .parse::<i32>()
                .context("exponent is not an integer")?,
        ),
        None => (s, 0),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() && frac.is_empty()
        || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit())
    {
        bail!("expected a decimal number such as 0.5 or 1e6");
    }
    let digits = format!("{int}{frac}");
    let mut m: u128 = digits.parse().context("too many digits")?;
    let mut k = frac.len() as i32 - exp;
    while k < 0 {
        m = m.checked_mul(10).context("value too large")?;
        k += 1;
    }
    Ok((m, k as u32))
}

fn sigma2_of(sigma: &str) -> anyhow::Result<Rational> {
    let (m, k) = parse_decimal(sigma).with_context(|| format!("--sigma {sigma:?}"))?;
    let num = m.checked_mul(m).context("--sigma has too many digits")?;
    let den = 10u128
        .checked_pow(2 * k)
        .context("--sigma has too many decimal places")?;
    Ok(Rational::new(num, den)?)
}

pub fn run(args: DpArgs) -> anyhow::Result<()> {
    let DpCommand::Sample(a) = args.command;
    let sigma2 = sigma2_of(&a.sigma)?;
    let mut rng = match a.seed {
        Some(seed) => rand_chacha::ChaCha20Rng::seed_from_u64(seed),
        None => fedhe_dp::noise_rng()?,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match a.mechanism {
        MechanismArg::Dgauss => {
            let dg = DiscreteGaussian::new(sigma2).context("--sigma")?;
            let mut buf = vec![0i64; 4096];
            let mut left = a.count;
            while left > 0 {
                let n = left.min(buf.len() as u64) as usize;
                let chunk = &mut buf[..n];
                dg.fill(&mut rng, chunk);
                for v in chunk.iter() {
                    writeln!(out, "{v}")?;
                }
                left -= n as u64;
            }
        }
        MechanismArg::DgaussTable => {
            let table = fedhe_dp::cdt::DiscreteGaussianTable::new(sigma2)
                .context("--sigma (the table sampler takes σ² up to 2^30)")?;
            let mut buf = vec![0i64; 4096];
            let mut left = a.count;
            while left > 0 {
                let n = left.min(buf.len() as u64) as usize;
                let chunk = &mut buf[..n];
                table.fill(&mut rng, chunk);
                for v in chunk.iter() {
                    writeln!(out, "{v}")?;
                }
                left -= n as u64;
            }
        }
        MechanismArg::Skellam => {
            let sk = Skellam::new(sigma2).context("--sigma")?;
            for _ in 0..a.count {
                writeln!(out, "{}", sk.sample(&mut rng)?)?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_parse_exactly() -> anyhow::Result<()> {
        assert_eq!(parse_decimal("0.5")?, (5, 1));
        assert_eq!(parse_decimal("1e6")?, (1_000_000, 0));
        assert_eq!(parse_decimal("1.25e-2")?, (125, 4));
        assert_eq!(parse_decimal("1000")?, (1000, 0));
        assert!(parse_decimal("-1").is_err());
        assert!(parse_decimal("abc").is_err());
        assert!(parse_decimal(".").is_err());
        let s = sigma2_of("0.5")?;
        assert_eq!((s.num(), s.den()), (1, 4));
        Ok(())
    }
}
