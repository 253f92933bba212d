//! `fedhe params`: a parameter set's security, correctness and flooding margins.

use anyhow::{Context, Result};
use fedhe_he::params::PRESETS;
use fedhe_he::{Committee, Params, Preset};

/// Print a parameter set with its security level, failure probability and flooding.
#[derive(Debug, clap::Args)]
pub struct ParamsArgs {
    /// Preset name (see `--list`).
    #[arg(long, default_value = "default")]
    pub preset: String,
    /// Contributors per aggregate (default: the preset's maximum).
    #[arg(long)]
    pub clients: Option<u32>,
    /// Committee as T/N, e.g. 3/5 (default: the preset's).
    #[arg(long, value_parser = parse_committee)]
    pub committee: Option<Committee>,
    /// List the presets and exit.
    #[arg(long)]
    pub list: bool,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// Parses `T/N` with `1 ≤ T ≤ N`.
pub fn parse_committee(s: &str) -> std::result::Result<Committee, String> {
    let (t, n) = s
        .split_once('/')
        .ok_or_else(|| format!("committee {s:?}: expected T/N, e.g. 3/5"))?;
    let t: u16 = t
        .trim()
        .parse()
        .map_err(|_| format!("committee threshold {t:?}: expected an integer 1..=N"))?;
    let n: u16 = n
        .trim()
        .parse()
        .map_err(|_| format!("committee size {n:?}: expected an integer >= T"))?;
    if t == 0 || t > n {
        return Err(format!("committee {t}/{n}: expected 1 <= T <= N"));
    }
    Ok(Committee {
        threshold: t,
        members: n,
    })
}

/// The validated deployment parameters a `--preset/--clients/--committee` triple names.
pub fn deployment(
    preset: &str,
    clients: Option<u32>,
    committee: Option<Committee>,
) -> Result<(Preset, Params)> {
    let preset = Preset::by_name(preset)?;
    let params = preset
        .deployment(
            clients.unwrap_or(preset.max_contributors),
            committee.unwrap_or(preset.committee),
        )
        .with_context(|| format!("--clients/--committee do not fit preset {}", preset.name))?;
    Ok((preset, params))
}

pub fn run(a: ParamsArgs) -> Result<()> {
    if a.list {
        if a.json {
            let list: Vec<_> = PRESETS
                .iter()
                .map(|p| {
                    serde_json::json!({"name": p.name, "summary": p.summary, "degree": p.degree,
                    "plaintext_bits": p.plaintext_bits, "max_contributors": p.max_contributors,
                    "max_committee": p.max_committee})
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&list)?);
        } else {
            for p in PRESETS {
                println!("{:<10} {}", p.name, p.summary);
            }
        }
        return Ok(());
    }
    let (preset, params) = deployment(&a.preset, a.clients, a.committee)?;
    let an = params.validate().with_context(|| {
        format!(
            "preset {} with {} contributors and committee {}/{} is refused",
            preset.name,
            params.max_contributors,
            params.committee.threshold,
            params.committee.members
        )
    })?;
    if a.json {
        let v = serde_json::json!({
            "preset": preset.name,
            "degree": an.degree,
            "moduli": params.moduli,
            "moduli_bits": an.moduli_bits,
            "log2_q": an.log2_q,
            "plaintext_bits": an.plaintext_bits,
            "contributors": params.max_contributors,
            "committee": {"threshold": params.committee.threshold, "members": params.committee.members},
            "security_bits": an.security_bits,
            "max_log2_q_for_128_bits": an.max_log2_q_128,
            "error_sigma": an.error_sigma,
            "fresh_noise_variance": an.fresh_noise_variance,
            "aggregate_noise_bound": an.aggregate_noise_bound,
            "flooding_sigma": an.flooding_sigma,
            "log2_flooding_sigma": an.log2_flooding_sigma,
            "flooding_argument": an.flooding,
            "decryption_noise_sigma": an.decryption_noise_sigma,
            "margin_sigmas": an.margin_sigmas,
            "log2_failure_probability": an.log2_failure_probability,
            "bytes_per_value": an.bytes_per_value,
            "params_digest": hex(&params.digest()),
            "ntt_roots": fedhe_ring::RingContext::new(params.degree, &params.moduli)?.ntt_roots(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "preset                  {} ({})",
        preset.name, preset.summary
    );
    println!("ring degree N           {}", an.degree);
    println!(
        "moduli                  {:?} ({:?} bits)",
        params.moduli, an.moduli_bits
    );
    println!(
        "log2 Q                  {:.2} (128-bit bound at this N: {})",
        an.log2_q,
        an.max_log2_q_128
            .map_or("none".to_string(), |b| b.to_string())
    );
    println!("plaintext modulus       T = 2^{}", an.plaintext_bits);
    println!(
        "security                {} bits (HomomorphicEncryption.org table, ternary secret)",
        an.security_bits.unwrap_or(0)
    );
    println!("contributors per sum    {}", params.max_contributors);
    println!(
        "committee               {}-of-{}",
        params.committee.threshold, params.committee.members
    );
    println!(
        "error                   CBD(η={}), σ = {:.2}",
        params.error_eta, an.error_sigma
    );
    println!(
        "aggregate noise bound   B_agg = {:.3e} (9.49 σ of {} contributions)",
        an.aggregate_noise_bound,
        params.max_contributors + params.max_rerandomizations
    );
    println!(
        "flooding                σ_f = κ·√M·B_agg = {:.3e} = 2^{:.1} (κ = {}, M = 2^{:.0})",
        an.flooding_sigma,
        an.log2_flooding_sigma,
        an.flooding.kappa,
        (an.flooding.max_decrypted_coefficients as f64).log2()
    );
    println!(
        "flooding argument       Rényi order {}: log2 RD = {:.2}, {:.1} bits remain for the search problem",
        an.flooding.renyi_order,
        an.flooding.log2_renyi_divergence,
        an.flooding.security_after_flooding_bits
    );
    println!(
        "decryption noise        σ = {:.3e}; headroom {} σ to ⌊Δ/2⌋",
        an.decryption_noise_sigma,
        num(an.margin_sigmas)
    );
    println!(
        "failure probability     2^{} per coefficient (limit 2^-64)",
        num(an.log2_failure_probability)
    );
    println!(
        "wire cost               {} bytes per value",
        an.bytes_per_value
    );
    Ok(())
}

/// A number for people: fixed point when moderate, scientific when huge.
fn num(x: f64) -> String {
    if x.abs() < 1e6 {
        format!("{x:.1}")
    } else {
        format!("{x:.3e}")
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
