//! `fedhe privacy`: RDP accounting, calibration and DDGauss planning.
//!
//! Arguments are validated by `fedhe-dp` before any work starts; errors name
//! the argument and what was expected.

use anyhow::Context as _;
use fedhe_dp::{accountant, planner};

/// Plaintext bits of the default HE preset, the largest modulus the DDGauss
/// sum may use (`fedhe-dp` does not depend on `fedhe-he`, so the number is
/// passed here).
const HE_PLAINTEXT_BITS: u32 = 28;

#[derive(Debug, clap::Args)]
pub struct PrivacyArgs {
    #[command(subcommand)]
    command: PrivacyCommand,
}

#[derive(Debug, clap::Subcommand)]
enum PrivacyCommand {
    /// ε of T rounds of the Poisson-subsampled Gaussian (RDP accountant,
    /// dp_accounting's default orders).
    Epsilon(EpsilonArgs),
    /// Smallest noise multiplier meeting a target ε.
    Calibrate(CalibrateArgs),
    /// Plan a distributed discrete Gaussian deployment: γ, σ, ε, wrap probability.
    Ddgauss(DdgaussArgs),
}

#[derive(Debug, clap::Args)]
struct EpsilonArgs {
    /// Noise std divided by the L2 sensitivity.
    #[arg(long)]
    noise_multiplier: f64,
    /// Poisson sampling rate q in [0, 1].
    #[arg(long)]
    sampling_rate: f64,
    /// Number of rounds T.
    #[arg(long)]
    rounds: u64,
    /// Target δ.
    #[arg(long)]
    delta: f64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct CalibrateArgs {
    /// Target ε.
    #[arg(long)]
    epsilon: f64,
    /// Poisson sampling rate q in [0, 1].
    #[arg(long)]
    sampling_rate: f64,
    /// Number of rounds T.
    #[arg(long)]
    rounds: u64,
    /// Target δ.
    #[arg(long)]
    delta: f64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct DdgaussArgs {
    /// Clients expected per round.
    #[arg(long)]
    clients: u64,
    /// Fewest contributors the committee will decrypt for.
    #[arg(long)]
    min_clients: u64,
    /// Clients assumed to collude with the server.
    #[arg(long, default_value_t = 0)]
    colluders: u64,
    /// Vector dimension (padded to a power of two).
    #[arg(long)]
    dim: usize,
    /// L2 clip norm.
    #[arg(long)]
    clip: f64,
    /// Modulus bits of the aggregate (at most the HE plaintext bits, 28).
    #[arg(long)]
    bits: u32,
    /// Target ε over all rounds.
    #[arg(long)]
    epsilon: f64,
    /// Target δ.
    #[arg(long)]
    delta: f64,
    /// Number of rounds T.
    #[arg(long)]
    rounds: u64,
    /// Poisson sampling rate q.
    #[arg(long)]
    sampling_rate: f64,
    /// Conditional-rounding parameter β (default e^{-1/2}).
    #[arg(long, default_value_t = planner::DEFAULT_BETA)]
    beta: f64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: PrivacyArgs) -> anyhow::Result<()> {
    match args.command {
        PrivacyCommand::Epsilon(a) => epsilon(a),
        PrivacyCommand::Calibrate(a) => calibrate(a),
        PrivacyCommand::Ddgauss(a) => ddgauss(a),
    }
}

fn epsilon(a: EpsilonArgs) -> anyhow::Result<()> {
    let (eps, order) =
        accountant::gaussian_epsilon(a.noise_multiplier, a.sampling_rate, a.rounds, a.delta)
            .context("computing epsilon")?;
    if a.json {
        let v = serde_json::json!({
            "epsilon": eps,
            "order": order,
            "noise_multiplier": a.noise_multiplier,
            "sampling_rate": a.sampling_rate,
            "rounds": a.rounds,
            "delta": a.delta,
            "accountant": "rdp-poisson-gaussian (dp_accounting 0.6.0 default orders)",
        });
        println!("{v}");
    } else {
        println!("Poisson-subsampled Gaussian, RDP accountant");
        println!("  noise multiplier  {}", a.noise_multiplier);
        println!("  sampling rate     {}", a.sampling_rate);
        println!("  rounds            {}", a.rounds);
        println!("  delta             {:e}", a.delta);
        println!("  epsilon           {eps:.6}");
        println!("  optimal order     {order}");
    }
    Ok(())
}

fn calibrate(a: CalibrateArgs) -> anyhow::Result<()> {
    let z = accountant::calibrate_noise_multiplier(a.epsilon, a.sampling_rate, a.rounds, a.delta)
        .context("calibrating the noise multiplier")?;
    let (eps, order) = accountant::gaussian_epsilon(z, a.sampling_rate, a.rounds, a.delta)?;
    if a.json {
        let v = serde_json::json!({
            "noise_multiplier": z,
            "epsilon": eps,
            "order": order,
            "target_epsilon": a.epsilon,
            "sampling_rate": a.sampling_rate,
            "rounds": a.rounds,
            "delta": a.delta,
        });
        println!("{v}");
    } else {
        println!("Smallest noise multiplier for epsilon <= {}", a.epsilon);
        println!("  sampling rate     {}", a.sampling_rate);
        println!("  rounds            {}", a.rounds);
        println!("  delta             {:e}", a.delta);
        println!("  noise multiplier  {z:.6}");
        println!("  epsilon reached   {eps:.6} (order {order})");
    }
    Ok(())
}

fn ddgauss(a: DdgaussArgs) -> anyhow::Result<()> {
    let mut input = planner::PlanInput::new(
        a.clients,
        a.min_clients,
        a.dim,
        a.clip,
        a.bits,
        a.epsilon,
        a.delta,
        a.rounds,
        a.sampling_rate,
        HE_PLAINTEXT_BITS,
    );
    input.colluders = a.colluders;
    input.beta = a.beta;
    let plan = planner::plan_ddgauss(&input).context("planning DDGauss")?;
    if a.json {
        let v = serde_json::json!({
            "gamma": plan.gamma,
            "sigma": plan.local_sigma,
            "epsilon": plan.epsilon,
            "wrap_probability": plan.wrap_probability,
            "order": plan.order,
            "noise_sigma2_scaled": plan.noise_sigma2.to_string(),
            "noise_multiplier": plan.noise_multiplier,
            "accounted_contributors": plan.accounted_contributors,
            "padded_dim": plan.padded_dim,
            "bits": a.bits,
            "max_bits": HE_PLAINTEXT_BITS,
            "k_stddevs": plan.k_stddevs,
            "l2_sensitivity": plan.l2_sensitivity,
            "tau": plan.tau,
            "delta": a.delta,
            "rounds": a.rounds,
            "sampling_rate": a.sampling_rate,
        });
        println!("{v}");
    } else {
        println!(
            "DDGauss plan (noise calibrated to {} contributors)",
            plan.accounted_contributors
        );
        println!("  padded dimension     {}", plan.padded_dim);
        println!(
            "  bits / HE max        {} / {HE_PLAINTEXT_BITS} (default HE preset plaintext)",
            a.bits
        );
        println!("  gamma                {:.6e}", plan.gamma);
        println!("  local sigma          {:.6e}", plan.local_sigma);
        println!(
            "  sigma^2/gamma^2      {} (sampled exactly)",
            plan.noise_sigma2
        );
        println!("  noise multiplier     {:.6}", plan.noise_multiplier);
        println!("  L2 sensitivity       {:.6}", plan.l2_sensitivity);
        println!(
            "  epsilon              {:.6} at delta {:e} (order {})",
            plan.epsilon, a.delta, plan.order
        );
        println!(
            "  wrap probability     {:.3e} (k = {:.2} std)",
            plan.wrap_probability, plan.k_stddevs
        );
    }
    Ok(())
}
