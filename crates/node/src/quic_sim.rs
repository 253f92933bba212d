//! A whole federated run on one machine over real QUIC on loopback
//! (`fedhe simulate`, the default transport).
//!
//! Everything a deployment has, in one process: a federation CA, a server
//! certificate and one client certificate per client, issued and listed on
//! a CA-signed roster by the key-ceremony code (`fedhe-keys`) with fresh
//! keys from the operating system; the server with its SQLite store, its
//! limits and its metrics; every client and every committee member as its
//! own task with its own QUIC connection, mutual TLS and reconnection. The
//! committee's threshold key is *dealt* in-process (one process holds every
//! share for an instant, which a simulation may do; a deployment runs the
//! DKG of `fedhe keys dkg`). Committee members are clients too: each holds
//! a client certificate and a committee certificate for the same key, and
//! opens one connection per role.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fedhe_he::DealtCommittee;
use fedhe_keys::encoding::HexN;
use fedhe_keys::pki::{self, Ca, CaCert, IssueRequest, Role, Roster, RosterEntry};
use fedhe_learn::FederatedData;
use fedhe_protocols::round::{EncoderCache, MemberPolicy};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng as _, SeedableRng};
use tokio::sync::{mpsc, watch};
use zeroize::Zeroizing;

use crate::client::{self, ClientOptions, Connect, MemberOptions, PeerNotice};
use crate::federation::Federation;
use crate::metrics::Metrics;
use crate::server::{self, ServerNotice, ServerOptions};
use crate::sim::{DpReport, RoundReport, Sampling, SimConfig, SimError, SimReport};
use crate::tls::{Credentials, Trust};

/// Settings of the QUIC transport.
#[derive(Debug, Clone)]
pub struct QuicOptions {
    /// The server's data directory (a fresh temporary one if None; removed
    /// afterwards).
    pub data_dir: Option<PathBuf>,
    /// Prometheus metrics on this loopback address, if any.
    pub metrics_listen: Option<SocketAddr>,
    /// Collection deadline of a round.
    pub deadline: Duration,
    /// Share timeout.
    pub share_timeout: Duration,
}

impl Default for QuicOptions {
    fn default() -> Self {
        Self {
            data_dir: None,
            metrics_listen: None,
            deadline: Duration::from_secs(30),
            share_timeout: Duration::from_secs(10),
        }
    }
}

async fn futures_join(tasks: Vec<tokio::task::JoinHandle<Result<(), crate::client::ClientError>>>) {
    for t in tasks {
        if let Ok(Err(e)) = t.await {
            tracing::warn!("participant ended with: {e}");
        }
    }
}

/// Name of the simulated federation.
pub const FEDERATION: &str = "fedhe-simulation";

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn err(field: &'static str, what: impl std::fmt::Display) -> SimError {
    SimError::Config {
        field,
        what: what.to_string(),
    }
}

/// The PKI of a simulated federation: every participant's credentials.
struct Pki {
    trust: Trust,
    server: Credentials,
    clients: Vec<Credentials>,
    members: Vec<Credentials>,
}

fn seed(rng: &mut ChaCha20Rng) -> Zeroizing<[u8; 32]> {
    let mut s = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(s.as_mut());
    s
}

fn make_pki(
    population: usize,
    committee: &[usize],
    rng: &mut ChaCha20Rng,
) -> Result<Pki, SimError> {
    let k = |e: fedhe_keys::Error| err("pki", e);
    let t = |e: crate::tls::TlsError| err("pki", e);
    let now = now_s();
    let (ca_pem, ca_key) = pki::ca_generate(FEDERATION, now - 3600, 2, rng).map_err(k)?;
    let ca = Ca::open("ca.crt", ca_pem.as_bytes(), &ca_key).map_err(k)?;
    let ca_cert = CaCert::from_pem("ca.crt", ca_pem.as_bytes()).map_err(k)?;
    let mut entries = Vec::new();
    let issue =
        |id: u32, role: Role, dns: Vec<String>, s: &Zeroizing<[u8; 32]>, rng: &mut ChaCha20Rng| {
            let public = ed25519_dalek::SigningKey::from_bytes(s)
                .verifying_key()
                .to_bytes();
            let req = IssueRequest {
                id,
                role,
                not_before: now - 3600,
                days: 2,
                dns_names: dns,
            };
            let pem = ca.issue_for_key(&req, &public, rng).map_err(k)?;
            let c = Credentials::from_seed("cert", pem.as_bytes(), s).map_err(t)?;
            Ok::<_, SimError>((c, public))
        };
    let server_seed = seed(rng);
    let (server, sk) = issue(0, Role::Server, vec!["localhost".into()], &server_seed, rng)?;
    entries.push(RosterEntry {
        id: 0,
        role: Role::Server,
        key: Some(HexN(sk)),
    });
    let mut seeds = Vec::with_capacity(population);
    let mut clients = Vec::with_capacity(population);
    for i in 0..population {
        let s = seed(rng);
        let id = 1 + i as u32;
        let (c, key) = issue(id, Role::Client, vec![], &s, rng)?;
        entries.push(RosterEntry {
            id,
            role: Role::Client,
            key: Some(HexN(key)),
        });
        clients.push(c);
        seeds.push(s);
    }
    let mut members = Vec::new();
    for &i in committee {
        let id = 1 + i as u32;
        let (c, key) = issue(id, Role::Committee, vec![], &seeds[i], rng)?;
        entries.push(RosterEntry {
            id,
            role: Role::Committee,
            key: Some(HexN(key)),
        });
        members.push(c);
    }
    entries.sort_by_key(|e| (e.id, e.role));
    let mut body = Roster::empty_body(FEDERATION, &ca_cert, now);
    body.participants = entries;
    let roster = ca.sign_roster(body).map_err(k)?;
    let trust = Trust::new(
        "ca.crt",
        ca_pem.as_bytes(),
        "roster.json",
        &roster.to_file(),
    )
    .map_err(t)?;
    Ok(Pki {
        trust,
        server,
        clients,
        members,
    })
}

/// Runs a simulation over QUIC on loopback; `on_round` sees every round.
pub fn run(
    data: &FederatedData,
    cfg: &SimConfig,
    opts: &QuicOptions,
    mut on_round: impl FnMut(&RoundReport),
) -> Result<SimReport, SimError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| err("runtime", e))?;
    rt.block_on(run_async(data, cfg, opts, &mut on_round))
}

struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn run_async(
    data: &FederatedData,
    cfg: &SimConfig,
    opts: &QuicOptions,
    on_round: &mut impl FnMut(&RoundReport),
) -> Result<SimReport, SimError> {
    let start = Instant::now();
    let population = crate::sim::validate(cfg, data)?;
    if !cfg.he {
        return Err(err(
            "transport",
            "the QUIC transport always encrypts; use --transport memory for runs without HE",
        ));
    }
    if cfg.crypto_seed.is_some() {
        return Err(err(
            "crypto seed",
            "the QUIC transport always draws keys from the operating system",
        ));
    }
    let mut rng = ChaCha20Rng::try_from_rng(&mut rand::rngs::SysRng)
        .map_err(|e| SimError::Rng(e.to_string()))?;
    let ctx = cfg.ctx.clone();
    let committee = ctx.params().committee;
    let mut pick = ChaCha20Rng::seed_from_u64(cfg.seed ^ 0xc0_ff_ee);
    let chosen =
        rand::seq::index::sample(&mut pick, population, usize::from(committee.members)).into_vec();
    let pki = make_pki(population, &chosen, &mut rng)?;
    tracing::info!("pki: {:.2}s", start.elapsed().as_secs_f64());
    let dealt = DealtCommittee::deal(&ctx, &mut rng)?;
    let members: Vec<(u16, u32)> = chosen
        .iter()
        .enumerate()
        .map(|(i, &k)| (i as u16 + 1, 1 + k as u32))
        .collect();
    let fed = Arc::new(
        Federation::new(
            FEDERATION,
            pki.trust,
            ctx.clone(),
            Arc::new(dealt.public_key.clone()),
            &members,
        )
        .map_err(|e| err("federation", e))?,
    );
    let (data_dir, _tmp) = match &opts.data_dir {
        Some(d) => (d.clone(), None),
        None => {
            let d = std::env::temp_dir().join(format!(
                "fedhe-simulate-{}-{}",
                std::process::id(),
                rand::RngExt::random::<u64>(&mut rng)
            ));
            (d.clone(), Some(TempDir(d)))
        }
    };
    let rate = match cfg.sampling {
        Sampling::Poisson { rate } => rate,
        Sampling::Fixed { per_round } => per_round as f64 / population as f64,
    };
    let metrics = Metrics::new();
    let (ntx, mut nrx) = mpsc::unbounded_channel();
    let limits = fedhe_config::Limits {
        max_connections: (population + members.len() + 64) as u32,
        max_inflight_submissions: 64,
        max_streams_per_peer: 4,
        max_frames_per_second: 50.0,
        idle_timeout_secs: 60,
        ..fedhe_config::Limits::default()
    };
    let model_probe = cfg
        .model
        .build(data.n_features(), data.n_classes(), cfg.seed)?;
    let dim = model_probe.params().len();
    drop(model_probe);
    let server = server::start(
        ServerOptions {
            federation: fed.clone(),
            credentials: pki.server,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.join("server"),
            model: cfg.model.clone(),
            features: data.n_features(),
            classes: data.n_classes(),
            init_seed: cfg.seed,
            rounds: cfg.rounds as u64,
            sampling_rate: rate,
            min_clients: cfg.min_clients,
            quorum: None,
            deadline: opts.deadline,
            share_timeout: opts.share_timeout,
            wait_for_clients: Duration::from_secs(120),
            target_clients: Some(population),
            clip: cfg.clip,
            bits: cfg.bits,
            server_lr: cfg.server_lr,
            dp: cfg.dp,
            evaluation: Some(data.test.clone()),
            limits,
            metrics: metrics.clone(),
        },
        ntx,
    )
    .await
    .map_err(|e| err("server", e))?;
    let metrics_task = match opts.metrics_listen {
        Some(a) => Some(
            crate::metrics::serve_metrics(a, metrics.clone())
                .await
                .map_err(|e| err("metrics listen", e))?,
        ),
        None => None,
    };
    let connect = Connect {
        addr: server.addr,
        name: "localhost".into(),
        idle_timeout: Duration::from_secs(60),
        max_attempts: Some(50),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ptx, mut prx) = mpsc::unbounded_channel::<PeerNotice>();
    let endpoint = client::client_endpoint(server.addr).map_err(|e| err("client endpoint", e))?;
    let encoders = Arc::new(EncoderCache::new());
    let mut tasks = Vec::new();
    for (k, creds) in pki.clients.into_iter().enumerate() {
        let o = ClientOptions {
            federation: fed.clone(),
            connect: connect.clone(),
            credentials: creds,
            data: data.clients[k].clone(),
            model: cfg.model.clone(),
            train: cfg.local,
            seed: cfg.seed,
            dropout: cfg.client_dropout,
        };
        // Staggered starts (2 ms apart): a thousand simultaneous
        // handshakes overflow the loopback socket buffers and wait for
        // QUIC's loss timers.
        let delay = Duration::from_millis(2 * k as u64);
        let (enc, stop, tx, ep) = (
            encoders.clone(),
            stop_rx.clone(),
            ptx.clone(),
            endpoint.clone(),
        );
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            client::run_client(o, enc, stop, tx, ep).await
        }));
    }
    for ((creds, share), (_, id)) in pki.members.into_iter().zip(dealt.key_shares).zip(&members) {
        let o = MemberOptions {
            federation: fed.clone(),
            connect: connect.clone(),
            credentials: creds,
            share,
            policy: MemberPolicy {
                min_contributors: cfg.min_clients,
                max_rounds: Some(cfg.rounds as u64),
            },
            data_dir: data_dir.join(format!("member-{id}")),
            vanish: cfg.committee_dropout,
        };
        tasks.push(tokio::spawn(client::run_member(
            o,
            stop_rx.clone(),
            ptx.clone(),
            endpoint.clone(),
        )));
    }
    drop(ptx);
    tracing::info!(
        "participants started: {:.2}s",
        start.elapsed().as_secs_f64()
    );
    // Peer notices are for logs here.
    let drain = tokio::spawn(async move {
        let mut refused = 0usize;
        while let Some(n) = prx.recv().await {
            if let PeerNotice::Refused(why) = n {
                refused += 1;
                tracing::info!("peer: {why}");
            }
        }
        refused
    });
    let mut rounds = Vec::new();
    let mut join = server.join;
    let outcome = loop {
        tokio::select! {
            n = nrx.recv() => match n {
                Some(ServerNotice::RoundDone(r)) => {
                    let mut r = *r;
                    r.contributors = r.contributors.iter().map(|&id| id.saturating_sub(1)).collect();
                    on_round(&r);
                    rounds.push(r);
                }
                Some(ServerNotice::RoundOpened { round, invited, .. }) => {
                    tracing::info!("round {round} opened with {invited} invited: {:.2}s", start.elapsed().as_secs_f64());
                }
                Some(_) => {}
                None => {}
            },
            r = &mut join => break r,
        }
    };
    let _ = stop_tx.send(true);
    let all = futures_join(tasks);
    if tokio::time::timeout(Duration::from_secs(10), all)
        .await
        .is_err()
    {
        tracing::warn!("some participants did not stop within 10 s");
    }
    let _ = drain.await;
    endpoint.close(0u32.into(), b"done");
    if let Some((_, h)) = metrics_task {
        h.abort();
    }
    let outcome = outcome
        .map_err(|e| err("server", format!("task: {e}")))?
        .map_err(|e| err("server", e))?;
    let mut model = cfg
        .model
        .build(data.n_features(), data.n_classes(), cfg.seed)?;
    model.set_params(&outcome.params)?;
    let fin = model.evaluate(&data.test)?;
    let uploads: Vec<f64> = rounds
        .iter()
        .filter(|r| r.bytes_uploaded_per_client > 0.0)
        .map(|r| r.bytes_uploaded_per_client)
        .collect();
    let plan = &outcome.plan;
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
        he: true,
        dp: plan.plan.as_ref().zip(cfg.dp).map(|(p, t)| DpReport {
            target: t,
            gamma: p.gamma,
            local_sigma: p.local_sigma,
            noise_multiplier: p.noise_multiplier,
            planned_epsilon: p.epsilon,
            wrap_probability: p.wrap_probability,
        }),
        clip: cfg.clip,
        bits: cfg.bits,
        gamma: plan.config.gamma,
        final_accuracy: fin.accuracy,
        final_loss: fin.loss,
        epsilon_spent: outcome.epsilon,
        raw_update_bytes: 4 * dim,
        bytes_uploaded_per_client: if uploads.is_empty() {
            0.0
        } else {
            uploads.iter().sum::<f64>() / uploads.len() as f64
        },
        elapsed_seconds: start.elapsed().as_secs_f64(),
        rounds,
        params: outcome.params,
        transport: "quic".into(),
        metrics: Some(metrics.snapshot()),
    })
}
