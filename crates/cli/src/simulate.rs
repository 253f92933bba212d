//! `fedhe simulate`: a whole private federated training run on one machine.
//!
//! `--transport quic` (the default) runs the server, every client and every
//! committee member as tasks of one process talking real QUIC with mutual
//! TLS over loopback, with certificates issued on the fly by the
//! key-ceremony code, the server's SQLite store in a temporary (or
//! `--data-dir-server`) directory, and optional Prometheus metrics
//! (`fedhe_node::quic_sim`). `--transport memory` drives the same state
//! machines over an in-memory transport with simulated time
//! (`fedhe_node::sim`). Per
//! round it prints accuracy, loss, ε spent, contributors, bytes uploaded and
//! time per phase (with a progress bar on stderr); at the end it writes a
//! JSON report and a PNG plot of accuracy and ε per round.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use fedhe_he::{HeContext, Preset};
use fedhe_learn::{ModelSpec, Partition, TrainConfig};
use fedhe_node::quic_sim::QuicOptions;
use fedhe_node::report::{write_json, write_plot};
use fedhe_node::sim::{DpTarget, RoundReport, Sampling, SimConfig, run};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::params::parse_committee;
use crate::train::{load_federated, source_from};

/// A whole federated run with distributed DP and threshold HE on one machine.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// Transport: quic (server, clients and committee over loopback QUIC
    /// with mutual TLS) | memory (one process, simulated time).
    #[arg(long, default_value = "quic")]
    transport: String,
    /// QUIC: keep the server's SQLite store (rounds, model registry,
    /// ledger, audit log) in this directory instead of a temporary one.
    #[arg(long)]
    server_dir: Option<PathBuf>,
    /// QUIC: serve Prometheus metrics on this loopback address (e.g.
    /// 127.0.0.1:9464).
    #[arg(long)]
    metrics_listen: Option<std::net::SocketAddr>,
    /// QUIC: collection deadline of a round, seconds.
    #[arg(long, default_value_t = 30)]
    deadline_secs: u64,
    /// Dataset: digits (embedded) | mnist | fashion | csv:PATH.
    #[arg(long, default_value = "digits")]
    dataset: String,
    /// Directory of the IDX files for mnist/fashion.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Label column for csv:PATH.
    #[arg(long, default_value = "label")]
    label_col: String,
    /// Clients in the population.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Expected clients per round (Poisson sampling at rate M/K).
    #[arg(long, default_value_t = 200)]
    clients_per_round: usize,
    /// Fewest contributors a round decrypts for (and the DP plan assumes);
    /// default 3/4 of the expected clients per round.
    #[arg(long)]
    min_clients: Option<usize>,
    /// Partition: iid | dirichlet:A | shards:S.
    #[arg(long, default_value = "iid")]
    partition: String,
    /// Rounds.
    #[arg(long, default_value_t = 30)]
    rounds: usize,
    /// Model: softmax | mlp:H | mlp:H1,H2.
    #[arg(long, default_value = "softmax")]
    model: String,
    /// Local SGD learning rate.
    #[arg(long, default_value_t = 0.5)]
    lr: f32,
    /// Local minibatch size.
    #[arg(long, default_value_t = 10)]
    batch_size: usize,
    /// Local epochs.
    #[arg(long, default_value_t = 1)]
    local_epochs: usize,
    /// Server learning rate on the mean update.
    #[arg(long, default_value_t = 1.0)]
    server_lr: f32,
    /// L2 clip norm of a client's update.
    #[arg(long, default_value_t = 1.0)]
    clip: f64,
    /// Modulus bits of the DDGauss sum (default: the parameter set's
    /// plaintext bits).
    #[arg(long)]
    bits: Option<u32>,
    /// Target ε over the whole run.
    #[arg(long, default_value_t = 8.0)]
    epsilon: f64,
    /// Target δ.
    #[arg(long, default_value_t = 1e-5)]
    delta: f64,
    /// Turn the DP noise off (updates are still clipped and quantized).
    #[arg(long)]
    no_dp: bool,
    /// Turn the encryption off (sum in the clear).
    #[arg(long)]
    no_he: bool,
    /// HE parameter preset: default | compact.
    #[arg(long, default_value = "default")]
    preset: String,
    /// Committee T/N, drawn from the clients.
    #[arg(long, default_value = "3/5")]
    committee: String,
    /// Probability that a sampled client drops out.
    #[arg(long, default_value_t = 0.0)]
    client_dropout: f64,
    /// Probability that a member of a decrypting set vanishes when asked.
    #[arg(long, default_value_t = 0.0)]
    committee_dropout: f64,
    /// Public run seed (partition, sampling, dropouts, initialisation).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Standardize features: auto (digits and csv) | on | off.
    #[arg(long, default_value = "auto")]
    standardize: String,
    /// Where to write the JSON report.
    #[arg(long, default_value = "fedhe-simulate.json")]
    report: PathBuf,
    /// Where to write the PNG plot.
    #[arg(long, default_value = "fedhe-simulate.png")]
    plot: PathBuf,
    /// Print the JSON report on stdout (round lines go to stderr).
    #[arg(long)]
    json: bool,
}

fn round_line(r: &RoundReport, total: usize) -> String {
    let t = &r.time;
    let status = match &r.failed {
        Some(f) => format!("  FAILED {f}"),
        None => String::new(),
    };
    format!(
        "round {:>4}/{total}  acc {:.4}  loss {:.4}  eps {:.3}  contributors {:>4}/{:<4}  up {:.1} KiB/client  time train {:.2}s enc {:.2}s agg {:.2}s dec {:.2}s eval {:.2}s round {:.2}s{status}",
        r.round,
        r.accuracy,
        r.loss,
        r.epsilon,
        r.contributors.len(),
        r.sampled,
        r.bytes_uploaded_per_client / 1024.0,
        t.train_s,
        t.encode_encrypt_s,
        t.aggregate_s,
        t.decrypt_s,
        t.evaluate_s,
        t.round_s,
    )
}

/// Runs `fedhe simulate`.
pub fn run_cmd(a: SimulateArgs) -> anyhow::Result<()> {
    crate::node_cmd::log_init();
    let quic = match a.transport.as_str() {
        "quic" => true,
        "memory" => false,
        other => bail!("--transport: expected quic or memory, got '{other}'"),
    };
    if quic && a.no_he {
        bail!("--no-he: the QUIC transport always encrypts; add --transport memory");
    }
    if let Some(m) = a.metrics_listen
        && !m.ip().is_loopback()
    {
        bail!(
            "--metrics-listen: expected a loopback address (metrics are not authenticated), got {m}"
        );
    }
    if !(1..=86_400).contains(&a.deadline_secs) {
        bail!(
            "--deadline-secs: expected 1..=86400, got {}",
            a.deadline_secs
        );
    }
    let source = source_from(&a.dataset, a.data_dir.as_ref(), &a.label_col)?;
    if matches!(source, crate::train::Source::Synthetic { .. }) {
        bail!(
            "--dataset: synthetic data are not supported by simulate; use digits, mnist, fashion or csv:PATH"
        );
    }
    let partition: Partition = a.partition.parse().with_context(|| "--partition")?;
    let model: ModelSpec = a.model.parse().with_context(|| "--model")?;
    let committee =
        parse_committee(&a.committee).map_err(|e| anyhow::anyhow!("--committee: {e}"))?;
    let preset = Preset::by_name(&a.preset).map_err(|e| anyhow::anyhow!("--preset: {e}"))?;
    if a.clients == 0 {
        bail!("--clients: must be at least 1");
    }
    if a.clients_per_round == 0 || a.clients_per_round > a.clients {
        bail!(
            "--clients-per-round: must be in 1..={} (--clients), got {}",
            a.clients,
            a.clients_per_round
        );
    }
    let contributors = u32::try_from(a.clients)
        .ok()
        .filter(|&c| c <= preset.max_contributors)
        .map_or(preset.max_contributors, |c| c);
    let params = preset
        .deployment(contributors, committee)
        .map_err(|e| anyhow::anyhow!("--preset/--committee: {e}"))?;
    let ctx = HeContext::new(params).map_err(|e| anyhow::anyhow!("--preset: {e}"))?;
    let bits = a.bits.unwrap_or(ctx.params().plaintext_bits);
    let standardize = match (a.standardize.as_str(), &source) {
        ("auto", crate::train::Source::Digits | crate::train::Source::Csv { .. }) | ("on", _) => {
            true
        }
        ("auto" | "off", _) => false,
        (other, _) => bail!("--standardize: expected auto, on or off, got '{other}'"),
    };
    let local = TrainConfig {
        lr: a.lr,
        batch_size: a.batch_size,
        epochs: a.local_epochs,
        weight_decay: 0.0,
        prox_mu: 0.0,
    };
    local
        .validate()
        .with_context(|| "--lr/--batch-size/--local-epochs")?;
    let min_clients = a
        .min_clients
        .unwrap_or_else(|| (a.clients_per_round * 3 / 4).max(1));
    let cfg = SimConfig {
        ctx,
        model,
        local,
        rounds: a.rounds,
        sampling: Sampling::Poisson {
            rate: a.clients_per_round as f64 / a.clients as f64,
        },
        min_clients,
        clip: a.clip,
        bits,
        dp: (!a.no_dp).then_some(DpTarget {
            epsilon: a.epsilon,
            delta: a.delta,
        }),
        he: !a.no_he,
        client_dropout: a.client_dropout,
        committee_dropout: a.committee_dropout,
        server_lr: a.server_lr,
        seed: a.seed,
        crypto_seed: None,
    };
    let start = Instant::now();
    let data = load_federated(&source, standardize, Some(partition), a.clients, a.seed)?;
    let pb = ProgressBar::with_draw_target(Some(a.rounds as u64), ProgressDrawTarget::stderr());
    pb.set_style(ProgressStyle::with_template(
        "{bar:40} {pos}/{len} rounds {msg} [{elapsed_precise}, eta {eta}]",
    )?);
    let json = a.json;
    let line = |s: String| {
        pb.suspend(|| {
            if json {
                eprintln!("{s}");
            } else {
                println!("{s}");
            }
        });
    };
    line(format!(
        "simulate over {}: {} ({} clients, ~{} per round, min {min_clients}), model {}, {} rounds, HE {} (preset {}, committee {}/{}), DP {}",
        a.transport,
        data.name,
        data.clients.len(),
        a.clients_per_round,
        a.model,
        a.rounds,
        if cfg.he { "on" } else { "off" },
        a.preset,
        committee.threshold,
        committee.members,
        match cfg.dp {
            Some(t) => format!("eps {} delta {:e}", t.epsilon, t.delta),
            None => "off".into(),
        }
    ));
    let rounds = a.rounds;
    let mut each = |r: &RoundReport| {
        line(round_line(r, rounds));
        pb.set_message(format!("acc {:.4} eps {:.3}", r.accuracy, r.epsilon));
        pb.inc(1);
    };
    let report = if quic {
        let opts = QuicOptions {
            data_dir: a.server_dir.clone(),
            metrics_listen: a.metrics_listen,
            deadline: std::time::Duration::from_secs(a.deadline_secs),
            ..QuicOptions::default()
        };
        fedhe_node::quic_sim::run(&data, &cfg, &opts, &mut each)?
    } else {
        run(&data, &cfg, |r, _| each(r))?
    };
    pb.finish_and_clear();
    write_json(&report, &a.report)?;
    write_plot(&report, &a.plot)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    let msg = format!(
        "final accuracy {:.4}  loss {:.4}  eps {:.3}  upload {:.1} KiB/client/round (raw float32 {:.1} KiB, ratio {:.2})  {:.1} s\nreport {}  plot {}",
        report.final_accuracy,
        report.final_loss,
        report.epsilon_spent,
        report.bytes_uploaded_per_client / 1024.0,
        report.raw_update_bytes as f64 / 1024.0,
        report.bytes_uploaded_per_client / report.raw_update_bytes as f64,
        start.elapsed().as_secs_f64(),
        a.report.display(),
        a.plot.display()
    );
    if json {
        eprintln!("{msg}");
    } else {
        println!("{msg}");
    }
    Ok(())
}
