//! The plaintext FedAvg / FedProx baseline (McMahan et al. 2017; Li et al.
//! 2020) that private runs are judged against.
//!
//! One round: sample `M` of the `K` clients uniformly without replacement
//! (a ChaCha8 stream seeded by run seed and round, so FedAvg and FedProx runs
//! with the same seed see the same clients), train them in parallel with
//! [`local_train`] from the current global parameters, average their
//! updates ([`aggregate`]), apply `w ← w + η_s · avg Δw`, evaluate on the
//! test set.
//!
//! ## Weighted or unweighted mean
//! [`Weighting::BySamples`] (FedAvg's and the FedProx code's default) weights
//! each update by its client's sample count. [`Weighting::Uniform`] takes the
//! plain mean over contributing clients: this is what the private path does,
//! because the server there sees only the *sum* of clipped, quantised,
//! noised updates and divides by the number of contributors; weighting by
//! sample counts would both leak the counts and break the per-client
//! sensitivity bound that DP relies on.

use rayon::prelude::*;

use crate::data::{Dataset, FederatedData};
use crate::error::{Error, Result};
use crate::model::{Metrics, ModelSpec};
use crate::rng::{derive_seed, stream, tag};
use crate::train::{LocalUpdate, TrainConfig, local_train};

/// How client updates are averaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Weighting {
    /// `Σ n_k Δ_k / Σ n_k` (FedAvg default).
    BySamples,
    /// `Σ Δ_k / |contributors|` (what the private path computes).
    Uniform,
}

/// Configuration of a whole plaintext run.
#[derive(Debug, Clone, PartialEq)]
pub struct FedAvgConfig {
    /// Architecture.
    pub model: ModelSpec,
    /// Number of rounds R.
    pub rounds: usize,
    /// Clients sampled per round M (≤ number of clients).
    pub clients_per_round: usize,
    /// Local training of each sampled client (μ > 0 makes it FedProx).
    pub local: TrainConfig,
    /// Averaging rule.
    pub weighting: Weighting,
    /// Server step size η_s applied to the averaged update (1 = FedAvg).
    pub server_lr: f32,
    /// Run seed: model initialisation, client sampling and every client's
    /// minibatch order derive from it.
    pub seed: u64,
}

/// Metrics after one round.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RoundMetrics {
    /// 1-based round number.
    pub round: usize,
    /// Test accuracy of the new global model.
    pub accuracy: f64,
    /// Test cross-entropy of the new global model.
    pub loss: f64,
    /// Sample-weighted mean of the clients' last-epoch training losses.
    pub train_loss: f64,
    /// Indices of the clients sampled this round (ascending).
    pub clients: Vec<usize>,
    /// Their total number of training examples.
    pub n_samples: usize,
}

/// Result of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct FedAvgRun {
    /// Per-round metrics.
    pub rounds: Vec<RoundMetrics>,
    /// Final global parameters.
    pub params: Vec<f32>,
    /// Test metrics of the final model.
    pub final_metrics: Metrics,
}

/// The clients taking part in `round`: `per_round` of `0..n_clients`,
/// uniformly without replacement, ascending.
#[must_use]
pub fn sample_clients(n_clients: usize, per_round: usize, seed: u64, round: usize) -> Vec<usize> {
    let mut rng = stream(seed, tag::SELECT, round as u64, 0);
    let mut v = rand::seq::index::sample(&mut rng, n_clients, per_round.min(n_clients)).into_vec();
    v.sort_unstable();
    v
}

/// The seed [`fedavg`] gives client `client` in round `round`.
#[must_use]
pub fn client_seed(seed: u64, round: usize, client: usize) -> u64 {
    derive_seed(seed, tag::LOCAL, round as u64, client as u64)
}

/// Plaintext average of the updates, summed in the given order in f64.
/// Clients with zero samples get zero weight under [`Weighting::BySamples`].
///
/// # Errors
/// [`Error::Shape`] if updates have different lengths;
/// [`Error::InvalidConfig`] if there is nothing to average.
pub fn aggregate(updates: &[LocalUpdate], weighting: Weighting) -> Result<Vec<f32>> {
    let p = updates.first().map_or(0, |u| u.delta.len());
    let mut acc = vec![0.0f64; p];
    let mut total = 0.0f64;
    for u in updates {
        if u.delta.len() != p {
            return Err(Error::Shape {
                context: "aggregate (update length)",
                expected: p,
                got: u.delta.len(),
            });
        }
        #[expect(
            clippy::cast_precision_loss,
            reason = "sample counts are far below 2^52"
        )]
        let w = match weighting {
            Weighting::BySamples => u.n_samples as f64,
            Weighting::Uniform => 1.0,
        };
        if w == 0.0 {
            continue;
        }
        total += w;
        acc.iter_mut()
            .zip(&u.delta)
            .for_each(|(a, &d)| *a += w * f64::from(d));
    }
    if total == 0.0 {
        return Err(Error::config(
            "aggregate",
            "no update with a non-zero weight",
        ));
    }
    #[expect(clippy::cast_possible_truncation, reason = "the model is f32")]
    Ok(acc.iter().map(|a| (a / total) as f32).collect())
}

fn validate(data: &FederatedData, cfg: &FedAvgConfig) -> Result<()> {
    cfg.local.validate()?;
    if cfg.rounds == 0 {
        return Err(Error::config("rounds", "must be >= 1"));
    }
    if data.clients.is_empty() {
        return Err(Error::config(
            "clients",
            "the federated dataset has no clients",
        ));
    }
    if cfg.clients_per_round == 0 || cfg.clients_per_round > data.clients.len() {
        return Err(Error::config(
            "clients_per_round",
            format!(
                "must be in 1..={}, got {}",
                data.clients.len(),
                cfg.clients_per_round
            ),
        ));
    }
    if !(cfg.server_lr.is_finite() && cfg.server_lr > 0.0) {
        return Err(Error::config(
            "server_lr",
            format!("must be finite and > 0, got {}", cfg.server_lr),
        ));
    }
    for (k, c) in data.clients.iter().enumerate() {
        if c.n_features() != data.n_features() || c.n_classes() != data.n_classes() {
            return Err(Error::config(
                "clients",
                format!("client {k} has a different feature or label space than the test set"),
            ));
        }
    }
    Ok(())
}

/// Runs plaintext FedAvg (FedProx when `cfg.local.prox_mu > 0`) and calls
/// `on_round` after every round. Deterministic in `cfg.seed`, whatever the
/// rayon pool: clients train in parallel but their updates are aggregated in
/// ascending client order.
///
/// # Errors
/// [`Error::InvalidConfig`] for an invalid configuration.
pub fn fedavg(
    data: &FederatedData,
    cfg: &FedAvgConfig,
    mut on_round: impl FnMut(&RoundMetrics),
) -> Result<FedAvgRun> {
    validate(data, cfg)?;
    let mut model = cfg
        .model
        .build(data.n_features(), data.n_classes(), cfg.seed)?;
    let mut global = model.params().to_vec();
    let mut rounds = Vec::with_capacity(cfg.rounds);
    for r in 1..=cfg.rounds {
        let selected = sample_clients(data.clients.len(), cfg.clients_per_round, cfg.seed, r);
        let updates = selected
            .par_iter()
            .map(|&k| {
                let client = data.clients.get(k).ok_or(Error::Shape {
                    context: "fedavg (client index)",
                    expected: data.clients.len(),
                    got: k,
                })?;
                local_train(
                    &cfg.model,
                    &global,
                    client,
                    &cfg.local,
                    client_seed(cfg.seed, r, k),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let avg = aggregate(&updates, cfg.weighting)?;
        global
            .iter_mut()
            .zip(&avg)
            .for_each(|(w, d)| *w += cfg.server_lr * d);
        model.set_params(&global)?;
        let m = model.evaluate(&data.test)?;
        let n_samples: usize = updates.iter().map(|u| u.n_samples).sum();
        #[expect(
            clippy::cast_precision_loss,
            reason = "sample counts are far below 2^52"
        )]
        let train_loss = updates
            .iter()
            .map(|u| f64::from(u.train_loss) * u.n_samples as f64)
            .sum::<f64>()
            / n_samples.max(1) as f64;
        let rm = RoundMetrics {
            round: r,
            accuracy: m.accuracy,
            loss: m.loss,
            train_loss,
            clients: selected,
            n_samples,
        };
        on_round(&rm);
        rounds.push(rm);
    }
    let final_metrics = model.evaluate(&data.test)?;
    Ok(FedAvgRun {
        rounds,
        params: global,
        final_metrics,
    })
}

/// Centralized SGD baseline: `local.epochs` passes over the whole training
/// set, evaluated after each. It computes exactly what [`fedavg`] computes
/// with one client holding all the data and one epoch per round (same
/// seeds, same arithmetic), without copying the data into a
/// [`FederatedData`].
///
/// # Errors
/// As [`fedavg`].
pub fn train_centralized(
    ds: &Dataset,
    model: &ModelSpec,
    local: &TrainConfig,
    seed: u64,
    mut on_epoch: impl FnMut(&RoundMetrics),
) -> Result<FedAvgRun> {
    local.validate()?;
    let mut m = model.build(ds.n_features(), ds.n_classes(), seed)?;
    let mut global = m.params().to_vec();
    let epoch = TrainConfig {
        epochs: 1,
        ..*local
    };
    let mut rounds = Vec::with_capacity(local.epochs);
    for r in 1..=local.epochs {
        let u = local_train(model, &global, &ds.train, &epoch, client_seed(seed, r, 0))?;
        global.iter_mut().zip(&u.delta).for_each(|(w, d)| *w += d);
        m.set_params(&global)?;
        let e = m.evaluate(&ds.test)?;
        let rm = RoundMetrics {
            round: r,
            accuracy: e.accuracy,
            loss: e.loss,
            train_loss: f64::from(u.train_loss),
            clients: vec![0],
            n_samples: u.n_samples,
        };
        on_epoch(&rm);
        rounds.push(rm);
    }
    let final_metrics = m.evaluate(&ds.test)?;
    Ok(FedAvgRun {
        rounds,
        params: global,
        final_metrics,
    })
}

/// Test metrics of a flat parameter vector.
///
/// # Errors
/// [`Error::Shape`] if `params` does not fit `spec` on this data.
pub fn evaluate_params(
    spec: &ModelSpec,
    params: &[f32],
    test: &crate::data::Samples,
) -> Result<Metrics> {
    let mut m = spec.build(test.n_features(), test.n_classes(), 0)?;
    m.set_params(params)?;
    m.evaluate(test)
}
