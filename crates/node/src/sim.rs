//! A whole private federated training run in one process, driving the
//! round state machines of `fedhe-protocols` over an in-memory transport.
//!
//! Every message is encoded to its frame bytes and handed to the receiver's
//! `handle_frame`, exactly as a network transport would; the clock is
//! simulated (deadlines pass instantly when nothing else can happen), so
//! client dropouts cost no wall time. What the run uses:
//!
//! - the learning engine's dataset, partition, model and local SGD;
//! - DDGauss ([`fedhe_dp`]) planned for the target `(ε, δ)` over the whole
//!   run, with the accountant and a privacy ledger recording the true
//!   number of contributors of every decrypted aggregate;
//! - threshold HE: a `t`-of-`n` committee drawn from the clients holds the
//!   key shares (dealt in-process here; the key ceremony is `fedhe keys`);
//! - Poisson client sampling, client dropouts (a sampled client that never
//!   submits) and committee dropouts (a member that vanishes when asked to
//!   decrypt, forcing a new set and a re-randomized aggregate).
//!
//! `dp: None` turns the noise off (updates are still clipped and quantized
//! for the HE sum), and `he: false` sums the DDGauss residues in the clear
//! (or, with DP off too, averages the float updates: plaintext FedAvg with
//! uniform weighting, the baseline the private path is compared with).
//!
//! All randomness for keys, noise and encryption comes from a ChaCha20
//! generator seeded by the operating system, unless a test passes
//! [`SimConfig::crypto_seed`]. The run seed drives only what is public:
//! sampling, dropouts, model initialisation and minibatch order.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fedhe_dp::accountant::default_orders;
use fedhe_dp::ddgauss::{DdgEncoder, add_mod};
use fedhe_dp::ledger::{Budget, RoundRecord};
use fedhe_dp::planner::Plan;
use fedhe_he::{DealtCommittee, DecryptionBudget, HeContext, PublicKey};
use fedhe_learn::{FederatedData, ModelSpec, TrainConfig, local_train};
use fedhe_protocols::round::{
    ClientEvent, ClientRound, CommitteeMember, EncoderCache, Identity, MemberEvent, MemberPolicy,
    Roster, ServerEvent, ServerRound, ServerRoundConfig,
};
use fedhe_protocols::{
    FederationId, Kind, Message, Model, ParticipantId, RoundConfig, RoundId, SigningKey,
    model_digest,
};
use rand::RngExt as _;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng as _, SeedableRng};
use rayon::prelude::*;
use serde::Serialize;
use zeroize::Zeroizing;

/// Errors of a simulation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// A configuration value is out of range.
    #[error("invalid simulation setting `{field}`: {what}")]
    Config {
        /// The setting.
        field: &'static str,
        /// What was expected.
        what: String,
    },
    /// Learning engine.
    #[error(transparent)]
    Learn(#[from] fedhe_learn::Error),
    /// DP planning, encoding or accounting.
    #[error(transparent)]
    Dp(#[from] fedhe_dp::Error),
    /// HE.
    #[error(transparent)]
    He(#[from] fedhe_he::Error),
    /// A state machine's host call.
    #[error(transparent)]
    Round(#[from] fedhe_protocols::round::RoundError),
    /// Wire encoding.
    #[error(transparent)]
    Protocol(#[from] fedhe_protocols::Error),
    /// The operating system's random generator.
    #[error("operating system randomness: {0}")]
    Rng(String),
}

fn config_err(field: &'static str, what: impl Into<String>) -> SimError {
    SimError::Config {
        field,
        what: what.into(),
    }
}

/// How clients are chosen each round.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sampling {
    /// Each client independently with probability `rate` (what the
    /// accountant's amplification by subsampling assumes).
    Poisson {
        /// Inclusion probability.
        rate: f64,
    },
    /// Exactly `per_round` clients, uniformly without replacement (as
    /// `fedhe train`; for comparisons with the plaintext baseline).
    Fixed {
        /// Clients per round.
        per_round: usize,
    },
}

/// Target privacy of the whole run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DpTarget {
    /// ε over all rounds.
    pub epsilon: f64,
    /// δ.
    pub delta: f64,
}

/// A simulation.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// HE context: parameter set and committee `(t, n)`.
    pub ctx: Arc<HeContext>,
    /// Model architecture.
    pub model: ModelSpec,
    /// Local training of each client.
    pub local: TrainConfig,
    /// Rounds.
    pub rounds: usize,
    /// Client sampling.
    pub sampling: Sampling,
    /// Fewest contributors a round decrypts for (and the DP plan assumes).
    pub min_clients: usize,
    /// L2 clip norm of an update.
    pub clip: f64,
    /// Modulus bits of the DDGauss sum (at most the plaintext modulus').
    pub bits: u32,
    /// DP target, or `None` for no noise.
    pub dp: Option<DpTarget>,
    /// Whether updates are encrypted and decrypted by the committee.
    pub he: bool,
    /// Probability that a sampled client never submits.
    pub client_dropout: f64,
    /// Probability that a member of a decrypting set vanishes when asked.
    pub committee_dropout: f64,
    /// Server step size on the decoded mean update.
    pub server_lr: f32,
    /// Public run seed (sampling, dropouts, initialisation, minibatches).
    pub seed: u64,
    /// Tests only: seed the cryptographic generators instead of the
    /// operating system (never exposed by the CLI).
    pub crypto_seed: Option<u64>,
}

/// Wall-clock seconds per phase of a round.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct PhaseTimes {
    /// Local training, all clients (parallel wall time).
    pub train_s: f64,
    /// DP encoding and encryption, all clients (parallel wall time).
    pub encode_encrypt_s: f64,
    /// Server: checking, verifying and adding submissions.
    pub aggregate_s: f64,
    /// Committee partial decryptions, combination and decoding.
    pub decrypt_s: f64,
    /// Evaluating the new global model on the test set.
    pub evaluate_s: f64,
    /// The whole round.
    pub round_s: f64,
}

/// One round of a simulation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoundReport {
    /// 1-based round number.
    pub round: usize,
    /// Test accuracy after the round.
    pub accuracy: f64,
    /// Test loss after the round.
    pub loss: f64,
    /// ε spent so far (0 without DP).
    pub epsilon: f64,
    /// Clients sampled.
    pub sampled: usize,
    /// Clients whose update is in the decrypted sum, by index.
    pub contributors: Vec<usize>,
    /// Sampled clients that dropped out.
    pub dropped_clients: usize,
    /// Committee members that did not answer a request.
    pub unavailable_members: usize,
    /// Decryption requests (1 unless members dropped out).
    pub decryption_requests: usize,
    /// Whether the round failed (too few contributors or members).
    pub failed: Option<String>,
    /// Mean bytes one contributor uploaded (its submission frame).
    pub bytes_uploaded_per_client: f64,
    /// Suspected modular wrap-arounds in the decoded sum.
    pub suspected_wraps: usize,
    /// Time per phase.
    pub time: PhaseTimes,
}

/// The DP plan, as reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DpReport {
    /// Target.
    pub target: DpTarget,
    /// Granularity γ.
    pub gamma: f64,
    /// Per-client noise std, original units.
    pub local_sigma: f64,
    /// Central noise multiplier with the minimum contributors.
    pub noise_multiplier: f64,
    /// ε the plan reaches after all rounds with the minimum contributors.
    pub planned_epsilon: f64,
    /// Probability bound that a round's sum wraps.
    pub wrap_probability: f64,
}

/// A whole simulation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimReport {
    /// Dataset name.
    pub dataset: String,
    /// Model.
    pub model: String,
    /// Parameters of the model (the update length before padding).
    pub n_params: usize,
    /// Clients in the population.
    pub clients: usize,
    /// Sampling.
    pub sampling: Sampling,
    /// Minimum contributors per round.
    pub min_clients: usize,
    /// Committee threshold `t`.
    pub committee_threshold: u16,
    /// Committee size `n`.
    pub committee_members: u16,
    /// HE parameter set name.
    pub preset: String,
    /// Whether HE was on.
    pub he: bool,
    /// The DP plan (null without DP).
    pub dp: Option<DpReport>,
    /// Clip norm.
    pub clip: f64,
    /// Modulus bits.
    pub bits: u32,
    /// Quantization granularity γ.
    pub gamma: f64,
    /// Per-round reports.
    pub rounds: Vec<RoundReport>,
    /// Final test accuracy.
    pub final_accuracy: f64,
    /// Final test loss.
    pub final_loss: f64,
    /// ε spent over the run (0 without DP).
    pub epsilon_spent: f64,
    /// Bytes of a raw float32 update.
    pub raw_update_bytes: usize,
    /// Mean uploaded bytes per contributor and round over the run.
    pub bytes_uploaded_per_client: f64,
    /// Wall time of the whole run.
    pub elapsed_seconds: f64,
    /// `memory` or `quic`.
    pub transport: String,
    /// The server's metrics at the end (QUIC transport).
    pub metrics: Option<serde_json::Value>,
    /// The final global model.
    #[serde(skip)]
    pub params: Vec<f32>,
}

const FEDERATION: FederationId = FederationId(*b"fedhe-simulation");
const SERVER: ParticipantId = ParticipantId(0);
/// Simulated time the server waits for submissions and for shares.
const DEADLINE: Duration = Duration::from_secs(600);
const SHARE_TIMEOUT: Duration = Duration::from_secs(60);
/// Wrap-around margin (in sub-Gaussian standard deviations) used to choose
/// γ when there is no DP plan.
const NO_DP_STDDEVS: f64 = 8.0;

fn participant(k: usize) -> ParticipantId {
    ParticipantId(1 + k as u32)
}

/// Granularity without noise: the half-range covers `NO_DP_STDDEVS`
/// sub-Gaussian standard deviations of `n` clipped, rotated, rounded
/// vectors: `(n·c/γ)²/d + n/4 ≤ (2^{b−1}/k)²`.
pub(crate) fn gamma_without_noise(
    n: usize,
    clip: f64,
    d: usize,
    bits: u32,
) -> Result<f64, SimError> {
    let h = 2f64.powi(bits as i32 - 1) / NO_DP_STDDEVS;
    let room = h * h - n as f64 / 4.0;
    if room <= 0.0 {
        return Err(config_err(
            "bits",
            format!("{bits} bits cannot hold the sum of {n} rounded vectors"),
        ));
    }
    Ok(n as f64 * clip / ((d as f64).sqrt() * room.sqrt()))
}

struct Setup {
    roster: Arc<Roster>,
    server_seed: Zeroizing<[u8; 32]>,
    client_seeds: Vec<Zeroizing<[u8; 32]>>,
    members: BTreeMap<ParticipantId, CommitteeMember>,
    pk: Arc<PublicKey>,
}

fn signing(seed: &Zeroizing<[u8; 32]>) -> SigningKey {
    SigningKey::from_seed(seed)
}

fn identity(
    seed: &Zeroizing<[u8; 32]>,
    id: ParticipantId,
    server_seed: &Zeroizing<[u8; 32]>,
) -> Identity {
    Identity {
        federation: FEDERATION,
        id,
        key: signing(seed),
        server: SERVER,
        server_key: signing(server_seed).verifying_key(),
    }
}

fn random_seed(rng: &mut ChaCha20Rng) -> Zeroizing<[u8; 32]> {
    let mut s = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(s.as_mut());
    s
}

fn setup(cfg: &SimConfig, population: usize, crypto: &mut ChaCha20Rng) -> Result<Setup, SimError> {
    let ctx = &cfg.ctx;
    let committee = ctx.params().committee;
    let server_seed = random_seed(crypto);
    let client_seeds: Vec<_> = (0..population).map(|_| random_seed(crypto)).collect();
    let mut roster = Roster::new();
    roster.add_server(SERVER, signing(&server_seed).verifying_key())?;
    for (k, s) in client_seeds.iter().enumerate() {
        roster.add_client(participant(k), signing(s).verifying_key())?;
    }
    // The committee: n distinct clients chosen by the public seed.
    let mut pick = ChaCha20Rng::seed_from_u64(cfg.seed ^ 0xc0_ff_ee);
    let chosen =
        rand::seq::index::sample(&mut pick, population, usize::from(committee.members)).into_vec();
    for (i, &k) in chosen.iter().enumerate() {
        roster.add_member(
            participant(k),
            i as u16 + 1,
            signing(&client_seeds[k]).verifying_key(),
        )?;
    }
    let roster = Arc::new(roster);
    let dealt = DealtCommittee::deal(ctx, crypto)?;
    let pk = Arc::new(dealt.public_key.clone());
    let mut members = BTreeMap::new();
    for (share, &k) in dealt.key_shares.into_iter().zip(&chosen) {
        let id = participant(k);
        let m = CommitteeMember::new(
            ctx.clone(),
            share,
            pk.digest(),
            identity(&client_seeds[k], id, &server_seed),
            roster.clone(),
            MemberPolicy {
                min_contributors: cfg.min_clients,
                max_rounds: Some(cfg.rounds as u64),
            },
            std::iter::empty(),
            DecryptionBudget::new(ctx),
            ChaCha20Rng::from_seed(*random_seed(crypto)),
        );
        members.insert(id, m);
    }
    Ok(Setup {
        roster,
        server_seed,
        client_seeds,
        members,
        pk,
    })
}

pub(crate) fn validate(cfg: &SimConfig, data: &FederatedData) -> Result<usize, SimError> {
    let k = data.clients.len();
    if k == 0 {
        return Err(config_err("clients", "at least one client"));
    }
    if cfg.rounds == 0 {
        return Err(config_err("rounds", "at least 1"));
    }
    let per_round = match cfg.sampling {
        Sampling::Poisson { rate } => {
            if !(rate > 0.0 && rate <= 1.0) {
                return Err(config_err(
                    "sampling rate",
                    format!("in (0, 1], got {rate}"),
                ));
            }
            rate * k as f64
        }
        Sampling::Fixed { per_round } => {
            if per_round == 0 || per_round > k {
                return Err(config_err(
                    "clients per round",
                    format!("in 1..={k}, got {per_round}"),
                ));
            }
            per_round as f64
        }
    };
    if cfg.min_clients == 0 || cfg.min_clients as f64 > per_round {
        return Err(config_err(
            "min clients",
            format!(
                "in 1..={per_round:.0} (the expected clients per round), got {}",
                cfg.min_clients
            ),
        ));
    }
    if !(0.0..1.0).contains(&cfg.client_dropout) {
        return Err(config_err(
            "client dropout",
            format!("a probability in [0, 1), got {}", cfg.client_dropout),
        ));
    }
    if !(0.0..1.0).contains(&cfg.committee_dropout) {
        return Err(config_err(
            "committee dropout",
            format!("a probability in [0, 1), got {}", cfg.committee_dropout),
        ));
    }
    if !(cfg.clip.is_finite() && cfg.clip > 0.0) {
        return Err(config_err(
            "clip",
            format!("finite and > 0, got {}", cfg.clip),
        ));
    }
    if !(cfg.server_lr.is_finite() && cfg.server_lr > 0.0) {
        return Err(config_err(
            "server lr",
            format!("finite and > 0, got {}", cfg.server_lr),
        ));
    }
    let max_bits = cfg.ctx.params().plaintext_bits;
    if cfg.bits < 2 || cfg.bits > max_bits {
        return Err(config_err(
            "bits",
            format!(
                "in 2..={max_bits} (the parameter set's plaintext bits), got {}",
                cfg.bits
            ),
        ));
    }
    cfg.local.validate()?;
    Ok(k)
}

/// The most clients a round can sum (for wrap-around bounds).
pub(crate) fn max_per_round(sampling: Sampling, population: usize) -> usize {
    match sampling {
        Sampling::Fixed { per_round } => per_round,
        Sampling::Poisson { rate } => {
            let m = rate * population as f64;
            ((m + 6.0 * m.sqrt() + 6.0).ceil() as usize).min(population)
        }
    }
}

fn sample_round(cfg: &SimConfig, population: usize, round: usize) -> Vec<usize> {
    match cfg.sampling {
        Sampling::Fixed { per_round } => {
            fedhe_learn::sample_clients(population, per_round, cfg.seed, round)
        }
        Sampling::Poisson { rate } => {
            let mut r = fedhe_learn::rng::stream(cfg.seed, 0x5a3d, round as u64, 0);
            (0..population).filter(|_| r.random_bool(rate)).collect()
        }
    }
}

/// What one round produced.
struct Outcome {
    mean_update: Option<Vec<f64>>,
    contributors: Vec<usize>,
    dropped: usize,
    unavailable: usize,
    requests: usize,
    failed: Option<String>,
    bytes_up: Vec<usize>,
    wraps: usize,
    time: PhaseTimes,
}

/// Runs a simulation; `on_round` sees every round's report and the new
/// global parameters.
pub fn run(
    data: &FederatedData,
    cfg: &SimConfig,
    mut on_round: impl FnMut(&RoundReport, &[f32]),
) -> Result<SimReport, SimError> {
    let start = Instant::now();
    let population = validate(cfg, data)?;
    let ctx = cfg.ctx.clone();
    let mut crypto = match cfg.crypto_seed {
        Some(s) => ChaCha20Rng::seed_from_u64(s),
        None => ChaCha20Rng::try_from_rng(&mut rand::rngs::SysRng)
            .map_err(|e| SimError::Rng(e.to_string()))?,
    };
    let mut model = cfg
        .model
        .build(data.n_features(), data.n_classes(), cfg.seed)?;
    let mut global = model.params().to_vec();
    let dim = global.len();
    let sampling_rate = match cfg.sampling {
        Sampling::Poisson { rate } => rate,
        Sampling::Fixed { per_round } => per_round as f64 / population as f64,
    };
    let max_n = max_per_round(cfg.sampling, population);
    let planned = crate::federation::plan_rounds(
        &ctx,
        max_n,
        sampling_rate,
        cfg.min_clients,
        dim,
        cfg.clip,
        cfg.bits,
        cfg.dp,
        cfg.rounds as u64,
        DEADLINE.as_millis() as u64,
    )
    .map_err(|e| match e {
        crate::federation::FederationError::Dp(e) => SimError::Dp(e),
        crate::federation::FederationError::Sim(e) => *e,
        other => config_err("plan", other.to_string()),
    })?;
    let plan: Option<Plan> = planned.plan;
    let round_config = planned.config;
    let gamma = round_config.gamma;
    let mut budget = match (&plan, cfg.dp) {
        (Some(p), Some(t)) => Some(Budget::new(
            // The plan's ε at the minimum contributors, with slack for the
            // recomputation's rounding.
            p.epsilon.max(t.epsilon) * (1.0 + 1e-9),
            t.delta,
            default_orders(),
        )?),
        _ => None,
    };
    let encoders = Arc::new(EncoderCache::new());
    let mut s = setup(cfg, population, &mut crypto)?;
    let committee = ctx.params().committee;

    let mut rounds = Vec::with_capacity(cfg.rounds);
    let mut epsilon = 0.0;
    let mut version = 0u64;
    for r in 1..=cfg.rounds {
        let round_start = Instant::now();
        let sampled = sample_round(cfg, population, r);
        let mut drop_rng = fedhe_learn::rng::stream(cfg.seed, 0xd207, r as u64, 0);
        let dropped: BTreeSet<usize> = sampled
            .iter()
            .copied()
            .filter(|_| drop_rng.random_bool(cfg.client_dropout))
            .collect();
        let round_seed = *random_seed(&mut crypto);
        let mut out = if cfg.he {
            protocol_round(
                cfg,
                data,
                &mut s,
                &encoders,
                &round_config,
                r,
                version,
                &global,
                &sampled,
                &dropped,
                round_seed,
                &mut crypto,
                &mut drop_rng,
            )?
        } else {
            plain_round(
                cfg,
                data,
                &encoders,
                &round_config,
                r,
                &global,
                &sampled,
                &dropped,
                round_seed,
                &mut crypto,
            )?
        };
        if let Some(update) = &out.mean_update {
            #[expect(clippy::cast_possible_truncation, reason = "the model is f32")]
            global
                .iter_mut()
                .zip(update)
                .for_each(|(w, d)| *w += cfg.server_lr * (*d as f32));
            version += 1;
            if let (Some(b), Some(p)) = (budget.as_mut(), &plan) {
                let n = out.contributors.len() as u64;
                let spent = b.record(RoundRecord {
                    round: r as u64,
                    expected_contributors: cfg.min_clients as u64,
                    decrypted_contributors: n,
                    colluders: 0,
                    noise_sigma2: Some(p.noise_sigma2),
                    mechanism: fedhe_dp::ledger::Mechanism::DdGauss(p.round(n)?),
                })?;
                epsilon = spent.epsilon;
            }
        }
        let t = Instant::now();
        model.set_params(&global)?;
        let m = model.evaluate(&data.test)?;
        out.time.evaluate_s = t.elapsed().as_secs_f64();
        out.time.round_s = round_start.elapsed().as_secs_f64();
        let bytes = if out.bytes_up.is_empty() {
            0.0
        } else {
            out.bytes_up.iter().sum::<usize>() as f64 / out.bytes_up.len() as f64
        };
        let rep = RoundReport {
            round: r,
            accuracy: m.accuracy,
            loss: m.loss,
            epsilon,
            sampled: sampled.len(),
            contributors: out.contributors,
            dropped_clients: out.dropped,
            unavailable_members: out.unavailable,
            decryption_requests: out.requests,
            failed: out.failed,
            bytes_uploaded_per_client: bytes,
            suspected_wraps: out.wraps,
            time: out.time,
        };
        on_round(&rep, &global);
        rounds.push(rep);
    }
    model.set_params(&global)?;
    let fin = model.evaluate(&data.test)?;
    let uploads: Vec<f64> = rounds
        .iter()
        .filter(|r| r.bytes_uploaded_per_client > 0.0)
        .map(|r| r.bytes_uploaded_per_client)
        .collect();
    Ok(SimReport {
        dataset: data.name.clone(),
        model: cfg.model.to_string(),
        n_params: dim,
        clients: population,
        sampling: cfg.sampling,
        min_clients: cfg.min_clients,
        committee_threshold: committee.threshold,
        committee_members: committee.members,
        preset: ctx.params().preset.clone(),
        he: cfg.he,
        dp: plan.as_ref().zip(cfg.dp).map(|(p, t)| DpReport {
            target: t,
            gamma: p.gamma,
            local_sigma: p.local_sigma,
            noise_multiplier: p.noise_multiplier,
            planned_epsilon: p.epsilon,
            wrap_probability: p.wrap_probability,
        }),
        clip: cfg.clip,
        bits: cfg.bits,
        gamma,
        final_accuracy: fin.accuracy,
        final_loss: fin.loss,
        epsilon_spent: epsilon,
        raw_update_bytes: 4 * dim,
        bytes_uploaded_per_client: if uploads.is_empty() {
            0.0
        } else {
            uploads.iter().sum::<f64>() / uploads.len() as f64
        },
        elapsed_seconds: start.elapsed().as_secs_f64(),
        transport: "memory".into(),
        metrics: None,
        rounds,
        params: global,
    })
}

/// Local training of client `k` from `global`.
fn train(
    cfg: &SimConfig,
    data: &FederatedData,
    global: &[f32],
    round: usize,
    k: usize,
) -> Result<Vec<f32>, SimError> {
    let client = data
        .clients
        .get(k)
        .ok_or_else(|| config_err("clients", format!("client {k} out of range")))?;
    let seed = fedhe_learn::client_seed(cfg.seed, round, k);
    Ok(local_train(&cfg.model, global, client, &cfg.local, seed)?.delta)
}

/// Without HE: DDGauss residues summed in the clear, or (DP off too) the
/// plain float mean.
#[expect(clippy::too_many_arguments, reason = "one round's whole context")]
fn plain_round(
    cfg: &SimConfig,
    data: &FederatedData,
    encoders: &EncoderCache,
    rc: &RoundConfig,
    round: usize,
    global: &[f32],
    sampled: &[usize],
    dropped: &BTreeSet<usize>,
    seed: [u8; 32],
    crypto: &mut ChaCha20Rng,
) -> Result<Outcome, SimError> {
    let contributors: Vec<usize> = sampled
        .iter()
        .copied()
        .filter(|k| !dropped.contains(k))
        .collect();
    let mut time = PhaseTimes::default();
    let fail = |why: String, time| Outcome {
        mean_update: None,
        contributors: vec![],
        dropped: dropped.len(),
        unavailable: 0,
        requests: 0,
        failed: Some(why),
        bytes_up: vec![],
        wraps: 0,
        time,
    };
    if contributors.len() < cfg.min_clients {
        return Ok(fail(
            format!(
                "{} contributors, fewer than {}",
                contributors.len(),
                cfg.min_clients
            ),
            time,
        ));
    }
    let t = Instant::now();
    let updates = contributors
        .par_iter()
        .map(|&k| train(cfg, data, global, round, k))
        .collect::<Result<Vec<_>, _>>()?;
    time.train_s = t.elapsed().as_secs_f64();
    let n = contributors.len();
    if cfg.dp.is_none() {
        let t = Instant::now();
        let mut mean = vec![0.0f64; global.len()];
        for u in &updates {
            mean.iter_mut()
                .zip(u)
                .for_each(|(m, &v)| *m += f64::from(v));
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        time.aggregate_s = t.elapsed().as_secs_f64();
        return Ok(Outcome {
            mean_update: Some(mean),
            contributors,
            dropped: dropped.len(),
            unavailable: 0,
            requests: 0,
            failed: None,
            bytes_up: vec![4 * global.len(); n],
            wraps: 0,
            time,
        });
    }
    let enc: Arc<DdgEncoder> = encoders.get(&cfg.ctx, rc, global.len())?;
    let seeds: Vec<[u8; 32]> = (0..n).map(|_| *random_seed(crypto)).collect();
    let t = Instant::now();
    let encoded = updates
        .par_iter()
        .zip(&seeds)
        .map(|(u, s)| {
            let mut rng = ChaCha20Rng::from_seed(*s);
            enc.encode_f32(&seed, u, &mut rng).map(|(z, _)| z)
        })
        .collect::<Result<Vec<_>, _>>()?;
    time.encode_encrypt_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut sum = vec![0u64; enc.config().padded_dim()];
    for z in &encoded {
        add_mod(&mut sum, z, cfg.bits)?;
    }
    time.aggregate_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (mean, report) = enc.decode(&seed, &sum, n as u64)?;
    time.decrypt_s = t.elapsed().as_secs_f64();
    let packed = (enc.config().padded_dim() * cfg.bits as usize).div_ceil(8);
    Ok(Outcome {
        mean_update: Some(mean),
        contributors,
        dropped: dropped.len(),
        unavailable: 0,
        requests: 0,
        failed: None,
        bytes_up: vec![packed; n],
        wraps: report.suspected_wraps,
        time,
    })
}

/// One round through the state machines over the in-memory transport.
#[expect(clippy::too_many_arguments, reason = "one round's whole context")]
fn protocol_round(
    cfg: &SimConfig,
    data: &FederatedData,
    s: &mut Setup,
    encoders: &Arc<EncoderCache>,
    rc: &RoundConfig,
    round: usize,
    version: u64,
    global: &[f32],
    sampled: &[usize],
    dropped: &BTreeSet<usize>,
    seed: [u8; 32],
    crypto: &mut ChaCha20Rng,
    drop_rng: &mut impl rand_core::Rng,
) -> Result<Outcome, SimError> {
    let ctx = &cfg.ctx;
    let mut time = PhaseTimes::default();
    let mut now = Instant::now();
    let index_of: BTreeMap<ParticipantId, usize> =
        sampled.iter().map(|&k| (participant(k), k)).collect();
    let invited: Vec<ParticipantId> = sampled.iter().map(|&k| participant(k)).collect();
    if invited.is_empty() {
        return Ok(Outcome {
            mean_update: None,
            contributors: vec![],
            dropped: 0,
            unavailable: 0,
            requests: 0,
            failed: Some("no client sampled".into()),
            bytes_up: vec![],
            wraps: 0,
            time,
        });
    }
    let mut server = ServerRound::new(
        now,
        ctx.clone(),
        s.pk.clone(),
        signing(&s.server_seed),
        s.roster.clone(),
        ServerRoundConfig {
            federation: FEDERATION,
            round: RoundId(round as u64),
            server: SERVER,
            model: Model {
                version,
                parameters: global.to_vec(),
            },
            config: rc.clone(),
            seed,
            quorum: invited.len(),
            invited,
            share_timeout: SHARE_TIMEOUT,
        },
        encoders,
        ChaCha20Rng::from_seed(*random_seed(crypto)),
    )?;
    let mut clients: BTreeMap<ParticipantId, ClientRound> = BTreeMap::new();
    for &k in sampled {
        let id = participant(k);
        clients.insert(
            id,
            ClientRound::new(
                ctx.clone(),
                s.pk.clone(),
                identity(&s.client_seeds[k], id, &s.server_seed),
                encoders.clone(),
                round
                    .checked_sub(1)
                    .filter(|&p| p > 0)
                    .map(|p| RoundId(p as u64)),
                ChaCha20Rng::from_seed(*random_seed(crypto)),
            ),
        );
    }
    let mut queue: VecDeque<(ParticipantId, ParticipantId, Vec<u8>)> = VecDeque::new();
    let mut vanished: BTreeSet<ParticipantId> = BTreeSet::new();
    let mut bytes_up: BTreeMap<ParticipantId, usize> = BTreeMap::new();
    let mut outcome_update = None;
    let mut contributors = vec![];
    let mut failed = None;
    let mut unavailable = 0;
    let mut requests = 0;
    let mut wraps = 0;
    let mut finished = false;
    for _ in 0..1_000_000 {
        let mut busy = false;
        while let Some(t) = server.poll_transmit() {
            queue.push_back((SERVER, t.to, t.message.encode()?));
        }
        while let Some(e) = server.poll_event() {
            busy = true;
            match e {
                // The host's durable write happens here (crates/node's
                // QUIC server writes to SQLite first).
                ServerEvent::Accepted { sender, .. } => {
                    server.acknowledge(sender);
                }
                ServerEvent::DecryptionRequested { .. } => requests += 1,
                ServerEvent::MembersUnavailable { members, .. } => unavailable += members.len(),
                ServerEvent::Decoded {
                    mean_update,
                    contributors: who,
                    report,
                    ..
                } => {
                    wraps = report.suspected_wraps;
                    contributors = who
                        .iter()
                        .filter_map(|p| index_of.get(p).copied())
                        .collect();
                    outcome_update = Some(mean_update);
                    // The model digest the result announces is the new
                    // model's; the host computes it before finishing.
                    let mut next = global.to_vec();
                    if let Some(u) = &outcome_update {
                        #[expect(clippy::cast_possible_truncation, reason = "the model is f32")]
                        next.iter_mut()
                            .zip(u)
                            .for_each(|(w, d): (&mut f32, &f64)| *w += cfg.server_lr * (*d as f32));
                    }
                    server.finish(version + 1, model_digest(version + 1, &next), 0.0)?;
                }
                ServerEvent::Failed(f) => failed = Some(format!("{f:?}")),
                ServerEvent::Completed(_) => finished = true,
                _ => {}
            }
        }
        // Clients: the hosts train in parallel, then encode and encrypt.
        let mut to_train: Vec<(ParticipantId, &mut ClientRound)> = Vec::new();
        for (id, c) in clients.iter_mut() {
            let mut train_now = false;
            while let Some(e) = c.poll_event() {
                busy = true;
                if let ClientEvent::Train { .. } = e {
                    train_now = !dropped.contains(&index_of[id]);
                }
            }
            if train_now {
                to_train.push((*id, c));
            }
        }
        if !to_train.is_empty() {
            let t = Instant::now();
            let updates = to_train
                .par_iter()
                .map(|(id, _)| train(cfg, data, global, round, index_of[id]))
                .collect::<Result<Vec<_>, _>>()?;
            time.train_s += t.elapsed().as_secs_f64();
            let t = Instant::now();
            to_train
                .par_iter_mut()
                .zip(&updates)
                .try_for_each(|((_, c), u)| c.submit_update(now, u))?;
            time.encode_encrypt_s += t.elapsed().as_secs_f64();
        }
        for (id, c) in clients.iter_mut() {
            while c.poll_event().is_some() {}
            while let Some(t) = c.poll_transmit() {
                let frame = t.message.encode()?;
                if matches!(t.message, Message::Submission(_)) {
                    *bytes_up.entry(*id).or_default() += frame.len();
                }
                queue.push_back((*id, t.to, frame));
            }
        }
        for (id, m) in s.members.iter_mut() {
            while let Some(e) = m.poll_event() {
                busy = true;
                if let MemberEvent::PersistAnswered {
                    aggregate_digest, ..
                } = e
                {
                    // The member's durable write happens here.
                    m.persisted(&aggregate_digest);
                }
            }
            while let Some(t) = m.poll_transmit() {
                queue.push_back((*id, t.to, t.message.encode()?));
            }
        }
        while let Some((from, to, frame)) = queue.pop_front() {
            busy = true;
            if vanished.contains(&from) || vanished.contains(&to) {
                continue;
            }
            if to == SERVER {
                let t = Instant::now();
                let collecting = requests == 0;
                server.handle_frame(now, from, &frame);
                let dt = t.elapsed().as_secs_f64();
                if collecting {
                    time.aggregate_s += dt;
                } else {
                    time.decrypt_s += dt;
                }
            } else if let Some(c) = clients
                .get_mut(&to)
                .filter(|_| frame.get(4) != Some(&Kind::DecryptRequest.byte()))
            {
                // A participant with both roles runs both machines; frames
                // are demultiplexed by kind.
                c.handle_frame(now, from, &frame);
            } else if let Some(m) = s.members.get_mut(&to) {
                if frame.get(4) == Some(&Kind::DecryptRequest.byte())
                    && drop_rng.random_bool(cfg.committee_dropout)
                {
                    vanished.insert(to);
                    continue;
                }
                let t = Instant::now();
                m.handle_frame(now, from, &frame);
                time.decrypt_s += t.elapsed().as_secs_f64();
            }
        }
        if !busy {
            if finished || server.is_finished() {
                break;
            }
            match server.poll_timeout() {
                Some(t) => {
                    now = now.max(t);
                    server.handle_timeout(now);
                }
                None => break,
            }
        }
    }
    Ok(Outcome {
        mean_update: if failed.is_some() {
            None
        } else {
            outcome_update
        },
        contributors,
        dropped: dropped.len(),
        unavailable,
        requests,
        failed,
        bytes_up: bytes_up.into_values().collect(),
        wraps,
        time,
    })
}
