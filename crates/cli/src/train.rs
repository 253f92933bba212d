//! `fedhe train`: the plaintext FedAvg / FedProx baseline.
//!
//! Raw flags are validated into a [`RunConfig`] before any data is loaded;
//! errors name the flag and what was expected. Progress goes to stderr
//! (indicatif), per-round lines to stdout (stderr with `--json`), and with
//! `--json` a single JSON summary to stdout.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use fedhe_learn::{
    Dataset, FedAvgConfig, FederatedData, ModelSpec, Partition, RoundMetrics, SyntheticKind,
    TrainConfig, Weighting, fedavg,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Plaintext federated training (FedAvg, or FedProx with `--prox`).
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Dataset: digits | mnist | fashion | synthetic:A,B | csv:PATH.
    #[arg(long, default_value = "digits")]
    dataset: String,
    /// Number of clients K (for synthetic: devices; default 10, synthetic 30).
    #[arg(long)]
    clients: Option<usize>,
    /// Clients sampled per round M (default: all K).
    #[arg(long)]
    clients_per_round: Option<usize>,
    /// Partition of the training set: iid | dirichlet:A | shards:S (S labels
    /// per client, FedProx-style). Not used with synthetic data.
    #[arg(long)]
    partition: Option<String>,
    /// Number of rounds R.
    #[arg(long, default_value_t = 50)]
    rounds: usize,
    /// Local epochs E per round.
    #[arg(long, default_value_t = 1)]
    local_epochs: usize,
    /// Model: softmax | mlp:H | mlp:H1,H2.
    #[arg(long, default_value = "softmax")]
    model: String,
    /// FedProx proximal coefficient μ (0 = FedAvg).
    #[arg(long, default_value_t = 0.0)]
    prox: f32,
    /// Run seed (data partition, initialisation, sampling, minibatches).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print a JSON summary on stdout (per-round lines go to stderr).
    #[arg(long)]
    json: bool,
    /// Local SGD learning rate.
    #[arg(long, default_value_t = 0.05)]
    lr: f32,
    /// Local minibatch size.
    #[arg(long, default_value_t = 10)]
    batch_size: usize,
    /// L2 weight decay in local SGD.
    #[arg(long, default_value_t = 0.0)]
    weight_decay: f32,
    /// Directory of the IDX files for mnist (required unless
    /// /usr/share/datasets/mnist exists) and fashion (default
    /// /usr/share/datasets/fashion-mnist).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Label column (name or 0-based index) for csv:PATH.
    #[arg(long, default_value = "label")]
    label_col: String,
    /// Averaging of client updates: samples (FedAvg) | uniform (as the private path).
    #[arg(long, default_value = "samples")]
    weighting: String,
    /// Per-feature standardisation fitted on the training split: auto (on
    /// for digits and csv; off for mnist/fashion, whose [0, 1] pixels train
    /// better raw, and for synthetic, as in the FedProx paper) | on | off.
    #[arg(long, default_value = "auto")]
    standardize: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Source {
    Digits,
    Mnist(PathBuf),
    Fashion(PathBuf),
    Synthetic { alpha: f64, beta: f64 },
    Csv { path: PathBuf, label_col: String },
}

/// The validated configuration of a run.
#[derive(Debug, Clone, PartialEq)]
struct RunConfig {
    source: Source,
    partition: Option<Partition>,
    clients: usize,
    fedavg: FedAvgConfig,
    json: bool,
    standardize: bool,
}

const MNIST_DEFAULT_DIR: &str = "/usr/share/datasets/mnist";

fn parse_source(a: &TrainArgs) -> anyhow::Result<Source> {
    source_from(&a.dataset, a.data_dir.as_ref(), &a.label_col)
}

/// Parses `--dataset` (with `--data-dir` and `--label-col`).
pub(crate) fn source_from(
    dataset: &str,
    data_dir: Option<&PathBuf>,
    label_col: &str,
) -> anyhow::Result<Source> {
    let d = dataset;
    Ok(match d.split_once(':') {
        None if d == "digits" => Source::Digits,
        None if d == "mnist" => match data_dir {
            Some(p) => Source::Mnist(p.clone()),
            None if Path::new(MNIST_DEFAULT_DIR).is_dir() => {
                Source::Mnist(PathBuf::from(MNIST_DEFAULT_DIR))
            }
            None => bail!(
                "--dataset mnist: pass --data-dir DIR (a directory with train-images-idx3-ubyte[.gz] and the other three IDX files)"
            ),
        },
        None if d == "fashion" => Source::Fashion(
            data_dir
                .cloned()
                .unwrap_or_else(|| PathBuf::from(fedhe_learn::FASHION_MNIST_DEFAULT_DIR)),
        ),
        Some(("synthetic", ab)) => {
            let parsed = ab.split_once(',').and_then(|(x, y)| {
                Some((x.trim().parse::<f64>().ok()?, y.trim().parse::<f64>().ok()?))
            });
            match parsed {
                Some((alpha, beta))
                    if alpha.is_finite() && beta.is_finite() && alpha >= 0.0 && beta >= 0.0 =>
                {
                    Source::Synthetic { alpha, beta }
                }
                _ => bail!("--dataset synthetic:A,B needs two non-negative numbers, got '{ab}'"),
            }
        }
        Some(("csv", p)) if !p.is_empty() => Source::Csv {
            path: PathBuf::from(p),
            label_col: label_col.to_owned(),
        },
        _ => bail!(
            "--dataset: expected digits, mnist, fashion, synthetic:A,B or csv:PATH, got '{d}'"
        ),
    })
}

impl TryFrom<&TrainArgs> for RunConfig {
    type Error = anyhow::Error;

    fn try_from(a: &TrainArgs) -> anyhow::Result<Self> {
        let source = parse_source(a)?;
        let synthetic = matches!(source, Source::Synthetic { .. });
        let partition = match (&a.partition, synthetic) {
            (Some(_), true) => {
                bail!("--partition: synthetic data come already split by device; drop the flag")
            }
            (Some(p), false) => Some(p.parse::<Partition>().with_context(|| "--partition")?),
            (None, false) => Some(Partition::Iid),
            (None, true) => None,
        };
        let clients = a.clients.unwrap_or(if synthetic {
            fedhe_learn::synthetic::SYNTHETIC_DEVICES
        } else {
            10
        });
        if clients == 0 {
            bail!("--clients: must be at least 1");
        }
        let per_round = a.clients_per_round.unwrap_or(clients);
        if per_round == 0 || per_round > clients {
            bail!(
                "--clients-per-round: must be in 1..={clients} (the number of clients), got {per_round}"
            );
        }
        if a.rounds == 0 {
            bail!("--rounds: must be at least 1");
        }
        let model: ModelSpec = a.model.parse().with_context(|| "--model")?;
        let weighting = match a.weighting.as_str() {
            "samples" => Weighting::BySamples,
            "uniform" => Weighting::Uniform,
            w => bail!("--weighting: expected samples or uniform, got '{w}'"),
        };
        let local = TrainConfig {
            lr: a.lr,
            batch_size: a.batch_size,
            epochs: a.local_epochs,
            weight_decay: a.weight_decay,
            prox_mu: a.prox,
        };
        local.validate().map_err(|e| match e {
            fedhe_learn::Error::InvalidConfig { field, what } => {
                let flag = match field {
                    "lr" => "--lr",
                    "batch_size" => "--batch-size",
                    "epochs" => "--local-epochs",
                    "weight_decay" => "--weight-decay",
                    "prox_mu" => "--prox",
                    f => f,
                };
                anyhow::anyhow!("{flag}: {what}")
            }
            e => e.into(),
        })?;
        Ok(Self {
            standardize: match (a.standardize.as_str(), &source) {
                ("auto", Source::Digits | Source::Csv { .. }) | ("on", _) => true,
                ("auto" | "off", _) => false,
                (other, _) => bail!("--standardize: expected auto, on or off, got '{other}'"),
            },
            source,
            partition,
            clients,
            fedavg: FedAvgConfig {
                model,
                rounds: a.rounds,
                clients_per_round: per_round,
                local,
                weighting,
                server_lr: 1.0,
                seed: a.seed,
            },
            json: a.json,
        })
    }
}

fn load(cfg: &RunConfig) -> anyhow::Result<FederatedData> {
    load_federated(
        &cfg.source,
        cfg.standardize,
        cfg.partition,
        cfg.clients,
        cfg.fedavg.seed,
    )
}

/// Loads `source`, standardizes it if asked, and partitions it over
/// `clients` clients.
pub(crate) fn load_federated(
    source: &Source,
    standardize: bool,
    partition: Option<Partition>,
    clients: usize,
    seed: u64,
) -> anyhow::Result<FederatedData> {
    let ds: Dataset = match source {
        Source::Synthetic { alpha, beta } => {
            return Ok(fedhe_learn::synthetic(SyntheticKind::AlphaBeta { alpha: *alpha, beta: *beta }, clients, seed)?);
        }
        Source::Digits => fedhe_learn::digits()?,
        Source::Mnist(dir) => fedhe_learn::load_mnist_dir(dir).context("--dataset mnist (set --data-dir)")?,
        Source::Fashion(dir) => fedhe_learn::load_fashion_dir(dir)
            .context("--dataset fashion (install with `apt-get install dataset-fashion-mnist` or set --data-dir)")?,
        Source::Csv { path, label_col } => fedhe_learn::load_csv(path, label_col).context("--dataset csv")?,
    };
    let mut ds = ds;
    if standardize {
        ds.standardize()?;
    }
    let p = partition.unwrap_or(Partition::Iid);
    let parts = fedhe_learn::partition(p, ds.train.y(), ds.n_classes(), clients, seed)
        .context("--partition")?;
    Ok(FederatedData::from_partition(&ds, &parts)?)
}

#[derive(Debug, serde::Serialize)]
struct RoundJson {
    round: usize,
    accuracy: f64,
    loss: f64,
    train_loss: f64,
}

#[derive(Debug, serde::Serialize)]
struct Summary {
    dataset: String,
    model: String,
    n_params: usize,
    partition: String,
    clients: usize,
    clients_per_round: usize,
    n_train: usize,
    n_test: usize,
    local: TrainConfig,
    weighting: Weighting,
    seed: u64,
    final_accuracy: f64,
    final_loss: f64,
    elapsed_seconds: f64,
    rounds: Vec<RoundJson>,
}

/// Runs `fedhe train`.
pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let cfg = RunConfig::try_from(&args)?;
    let start = Instant::now();
    let data = load(&cfg)?;
    let fc = &cfg.fedavg;
    let n_params = fc.model.num_params(data.n_features(), data.n_classes());
    let partition = cfg
        .partition
        .map_or_else(|| "per-device".to_owned(), |p| p.to_string());
    let header = format!(
        "{}: {} clients ({} train, {} test examples), {} per round, partition {partition}, model {} ({n_params} params), lr {} batch {} E {} mu {}",
        data.name,
        data.clients.len(),
        data.n_train(),
        data.test.len(),
        fc.clients_per_round,
        fc.model,
        fc.local.lr,
        fc.local.batch_size,
        fc.local.epochs,
        fc.local.prox_mu
    );
    let pb = ProgressBar::with_draw_target(Some(fc.rounds as u64), ProgressDrawTarget::stderr());
    pb.set_style(ProgressStyle::with_template(
        "{bar:40} {pos}/{len} rounds {msg} [{elapsed_precise}, eta {eta}]",
    )?);
    let json = cfg.json;
    let line = |s: String| {
        pb.suspend(|| {
            if json {
                eprintln!("{s}")
            } else {
                println!("{s}")
            }
        });
    };
    line(header);
    let run = fedavg(&data, fc, |m: &RoundMetrics| {
        line(format!(
            "round {:>4}/{}  accuracy {:.4}  loss {:.4}  train_loss {:.4}",
            m.round, fc.rounds, m.accuracy, m.loss, m.train_loss
        ));
        pb.set_message(format!("acc {:.4}", m.accuracy));
        pb.inc(1);
    })?;
    pb.finish_and_clear();
    let elapsed = start.elapsed().as_secs_f64();
    if json {
        let summary = Summary {
            dataset: data.name.clone(),
            model: fc.model.to_string(),
            n_params,
            partition,
            clients: data.clients.len(),
            clients_per_round: fc.clients_per_round,
            n_train: data.n_train(),
            n_test: data.test.len(),
            local: fc.local,
            weighting: fc.weighting,
            seed: fc.seed,
            final_accuracy: run.final_metrics.accuracy,
            final_loss: run.final_metrics.loss,
            elapsed_seconds: elapsed,
            rounds: run
                .rounds
                .iter()
                .map(|r| RoundJson {
                    round: r.round,
                    accuracy: r.accuracy,
                    loss: r.loss,
                    train_loss: r.train_loss,
                })
                .collect(),
        };
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "final accuracy {:.4}  loss {:.4}  ({} rounds, {elapsed:.1} s)",
            run.final_metrics.accuracy, run.final_metrics.loss, fc.rounds
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Wrap {
        #[command(flatten)]
        a: TrainArgs,
    }

    fn cfg(args: &[&str]) -> anyhow::Result<RunConfig> {
        let w = Wrap::try_parse_from(std::iter::once("t").chain(args.iter().copied()))?;
        RunConfig::try_from(&w.a)
    }

    fn err(args: &[&str]) -> String {
        cfg(args)
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default()
    }

    #[test]
    fn validates_flags() -> anyhow::Result<()> {
        let c = cfg(&["--dataset", "synthetic:1,1", "--prox", "1"])?;
        assert_eq!(c.clients, 30);
        assert_eq!(
            c.source,
            Source::Synthetic {
                alpha: 1.0,
                beta: 1.0
            }
        );
        let c = cfg(&["--partition", "dirichlet:0.5", "--model", "mlp:64"])?;
        assert_eq!(c.partition, Some(Partition::Dirichlet { alpha: 0.5 }));
        assert!(err(&["--dataset", "foo"]).contains("--dataset"));
        assert!(err(&["--dataset", "synthetic:1"]).contains("synthetic:A,B"));
        assert!(err(&["--dataset", "synthetic:1,1", "--partition", "iid"]).contains("--partition"));
        assert!(err(&["--partition", "dirichlet:-1"]).contains("--partition"));
        assert!(err(&["--model", "mlp:0"]).contains("--model"));
        assert!(
            err(&["--clients", "5", "--clients-per-round", "6"]).contains("--clients-per-round")
        );
        assert!(err(&["--lr", "0"]).contains("--lr"));
        assert!(err(&["--batch-size", "0"]).contains("--batch-size"));
        assert!(err(&["--weighting", "x"]).contains("--weighting"));
        assert!(err(&["--rounds", "0"]).contains("--rounds"));
        assert!(err(&["--standardize", "x"]).contains("--standardize"));
        assert!(cfg(&[])?.standardize);
        assert!(!cfg(&["--dataset", "fashion"])?.standardize);
        Ok(())
    }
}
