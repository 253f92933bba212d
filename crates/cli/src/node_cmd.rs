//! `fedhe serve`, `fedhe client` and `fedhe committee`: the participants of
//! a deployed federation as separate processes, each from a TOML file
//! (`crates/config/examples/`).
//!
//! Keys are sealed files from `fedhe keys`; their passphrase comes from the
//! environment variable or file the configuration names. The committee's
//! public key and the members' indices come from the ceremony transcript,
//! verified (with every member's committee certificate) at start.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use fedhe_config::{DataConfig, Identity, MemberConfig};
use fedhe_keys::dkg::{self, KeyShareMeta};
use fedhe_keys::sealed::{self, Passphrase, SealedKind};
use fedhe_learn::{ModelSpec, Partition, Samples, TrainConfig};
use fedhe_node::client::{self, ClientOptions, Connect, MemberOptions, PeerNotice};
use fedhe_node::federation::Federation;
use fedhe_node::metrics::{Metrics, serve_metrics};
use fedhe_node::server::{self, ServerNotice, ServerOptions};
use fedhe_node::sim::DpTarget;
use fedhe_node::tls::{Credentials, Trust};
use fedhe_protocols::round::{EncoderCache, MemberPolicy};
use serde_json::json;
use tokio::sync::{mpsc, watch};

use crate::train::{Source, load_federated, source_from};

/// `--config FILE`.
#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// The TOML configuration (see crates/config/examples/).
    #[arg(long)]
    config: PathBuf,
}

fn read(p: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(p).with_context(|| format!("reading {}", p.display()))
}

fn name(p: &Path) -> String {
    p.display().to_string()
}

fn passphrase(id: &Identity) -> anyhow::Result<Passphrase> {
    if let Some(f) = &id.passphrase_file {
        return Ok(Passphrase::new(read(f)?)?);
    }
    if let Some(v) = &id.passphrase_env {
        let p = std::env::var(v).with_context(|| {
            format!(
                "environment variable {v} (the passphrase of {}) is not set",
                id.key.display()
            )
        })?;
        return Ok(Passphrase::new(p.into_bytes())?);
    }
    bail!("{}: no passphrase source", id.key.display())
}

fn trust(id: &Identity) -> anyhow::Result<Trust> {
    Ok(Trust::new(
        &name(&id.ca),
        &read(&id.ca)?,
        &name(&id.roster),
        &read(&id.roster)?,
    )?)
}

fn federation(name_: &str, id: &Identity, transcript: &Path) -> anyhow::Result<Arc<Federation>> {
    let t = trust(id)?;
    Ok(Arc::new(
        Federation::from_transcript(name_, t, &name(transcript), &read(transcript)?)
            .with_context(|| format!("the federation from {}", transcript.display()))?,
    ))
}

/// A participant key (`fedhe keys cert issue`).
fn participant_credentials(id: &Identity) -> anyhow::Result<Credentials> {
    let p = passphrase(id)?;
    let (_, pkcs8) = sealed::open(
        &name(&id.key),
        &read(&id.key)?,
        SealedKind::ParticipantKey,
        &p,
    )?;
    Ok(Credentials::from_pkcs8(
        &name(&id.cert),
        &read(&id.cert)?,
        &name(&id.key),
        &pkcs8,
    )?)
}

/// A member's ceremony key (`member.key`) with its committee certificate,
/// and its key share.
fn member_parts(
    m: &MemberConfig,
    fed: &Federation,
    transcript: &Path,
) -> anyhow::Result<(Credentials, fedhe_he::KeyShare)> {
    let p = passphrase(&m.identity)?;
    let (_, secret) = sealed::open(
        &name(&m.identity.key),
        &read(&m.identity.key)?,
        SealedKind::MemberKey,
        &p,
    )?;
    let keys = dkg::MemberKeys::from_secret_bytes(&name(&m.identity.key), &secret)?;
    let seed = zeroize::Zeroizing::new(<[u8; 32]>::try_from(&keys.to_secret_bytes()[..32])?);
    let creds = Credentials::from_seed(&name(&m.identity.cert), &read(&m.identity.cert)?, &seed)?;
    let (t, _) = dkg::verify_transcript(&name(transcript), &read(transcript)?, None)?;
    let (header, bytes) = sealed::open(
        &name(&m.key_share),
        &read(&m.key_share)?,
        SealedKind::KeyShare,
        &p,
    )?;
    let meta = KeyShareMeta::check(&name(&m.key_share), &header.metadata, &t)?;
    let share =
        fedhe_he::KeyShare::from_bytes(&fed.ctx, &bytes).with_context(|| name(&m.key_share))?;
    if share.member().get() != meta.member {
        bail!(
            "{}: the share's member index differs from its header",
            name(&m.key_share)
        );
    }
    Ok((creds, share))
}

fn source(d: &DataConfig) -> anyhow::Result<(Source, bool)> {
    let s = match d.dataset.as_str() {
        "csv" => {
            let p = d.path.clone().context("data.path")?;
            source_from(
                &format!("csv:{}", p.display()),
                None,
                d.label_col.as_deref().unwrap_or("label"),
            )?
        }
        other => source_from(other, d.path.as_ref(), "label")?,
    };
    let standardize = matches!(s, Source::Digits | Source::Csv { .. });
    Ok((s, standardize))
}

fn partition(d: &DataConfig) -> anyhow::Result<Partition> {
    d.partition.parse().with_context(|| "data.partition")
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

pub(crate) fn log_init() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FEDHE_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
}

/// `fedhe serve --config FILE`.
pub fn serve(a: ConfigArgs) -> anyhow::Result<()> {
    log_init();
    let c = fedhe_config::load_serve(&a.config)?;
    let fed = federation(&c.federation, &c.identity, &c.transcript)?;
    let credentials = participant_credentials(&c.identity)?;
    let model: ModelSpec = c.model.kind.parse().context("model.kind")?;
    let evaluation: Option<Samples> = match &c.evaluation {
        Some(d) => {
            let (s, std_) = source(d)?;
            let data = load_federated(&s, std_, Some(partition(d)?), 1, d.seed)?;
            if data.n_features() != c.model.features || data.n_classes() != c.model.classes {
                bail!(
                    "evaluation: the dataset has {} features and {} classes, model.features/classes say {} and {}",
                    data.n_features(),
                    data.n_classes(),
                    c.model.features,
                    c.model.classes
                );
            }
            Some(data.test)
        }
        None => None,
    };
    let metrics = Metrics::new();
    let rt = runtime()?;
    rt.block_on(async move {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let server = server::start(
            ServerOptions {
                federation: fed,
                credentials,
                listen: c.listen,
                data_dir: c.data_dir.clone(),
                model,
                features: c.model.features,
                classes: c.model.classes,
                init_seed: c.model.init_seed,
                rounds: c.rounds.count,
                sampling_rate: c.rounds.sampling_rate,
                min_clients: c.rounds.min_clients as usize,
                quorum: c.rounds.quorum.map(|q| q as usize),
                deadline: Duration::from_secs(c.rounds.deadline_secs),
                share_timeout: Duration::from_secs(c.rounds.share_timeout_secs),
                wait_for_clients: Duration::from_secs(c.rounds.wait_for_clients_secs),
                target_clients: None,
                clip: c.rounds.clip,
                bits: c.rounds.bits,
                server_lr: c.rounds.server_lr as f32,
                dp: c.dp.as_ref().map(|d| DpTarget {
                    epsilon: d.epsilon,
                    delta: d.delta,
                }),
                evaluation,
                limits: c.limits.clone(),
                metrics: metrics.clone(),
            },
            tx,
        )
        .await?;
        let metrics_addr = match c.metrics_listen {
            Some(m) => Some(serve_metrics(m, metrics.clone()).await.with_context(|| format!("metrics_listen {m}"))?.0),
            None => None,
        };
        println!(
            "{}",
            json!({"event": "listening", "addr": server.addr.to_string(), "metrics": metrics_addr.map(|a| a.to_string()), "data_dir": name(&c.data_dir)})
        );
        let stop = server.shutdown_handle();
        let mut join = server.join;
        let outcome = loop {
            tokio::select! {
                n = rx.recv() => match n {
                    Some(ServerNotice::RoundOpened { round, invited, recovered }) => {
                        println!("{}", json!({"event": "round_opened", "round": round, "invited": invited, "recovered": recovered}));
                    }
                    Some(ServerNotice::RoundDone(r)) => {
                        println!("{}", json!({"event": "round_done", "round": r.round, "accuracy": r.accuracy, "loss": r.loss,
                            "epsilon": r.epsilon, "contributors": r.contributors.len(), "invited": r.sampled,
                            "decryption_requests": r.decryption_requests, "failed": r.failed, "seconds": r.time.round_s}));
                    }
                    Some(ServerNotice::CollectionClosed { round, accepted }) => {
                        println!("{}", json!({"event": "collection_closed", "round": round, "accepted": accepted}));
                    }
                    Some(ServerNotice::DecryptionRequested { round, set, rerandomized }) => {
                        println!("{}", json!({"event": "decryption_requested", "round": round, "set": set, "rerandomized": rerandomized}));
                    }
                    Some(ServerNotice::Refused { peer, reason }) => {
                        println!("{}", json!({"event": "refused", "peer": peer, "reason": reason}));
                    }
                    None => {}
                },
                r = &mut join => break r,
                _ = tokio::signal::ctrl_c() => {
                    server_shutdown(&stop);
                }
            }
        };
        let o = outcome??;
        println!(
            "{}",
            json!({"event": "finished", "model_version": o.version, "epsilon": o.epsilon, "metrics": metrics.snapshot()})
        );
        anyhow::Ok(())
    })
}

fn server_shutdown(h: &watch::Sender<bool>) {
    let _ = h.send(true);
}

fn print_peer(who: &str, n: &PeerNotice) {
    let line = match n {
        PeerNotice::Connected => json!({"event": "connected", "who": who}),
        PeerNotice::Receipted { round } => {
            json!({"event": "receipted", "who": who, "round": round})
        }
        PeerNotice::Result { round, version } => {
            json!({"event": "result", "who": who, "round": round, "model_version": version})
        }
        PeerNotice::ShareReleased { round } => {
            json!({"event": "share_released", "who": who, "round": round})
        }
        PeerNotice::Refused(r) => json!({"event": "refused", "who": who, "reason": r}),
        PeerNotice::Disconnected(r) => json!({"event": "disconnected", "who": who, "reason": r}),
    };
    println!("{line}");
}

async fn run_peers(
    tasks: Vec<(
        &'static str,
        tokio::task::JoinHandle<Result<(), client::ClientError>>,
    )>,
    mut rx: mpsc::UnboundedReceiver<(&'static str, PeerNotice)>,
    stop: watch::Sender<bool>,
) -> anyhow::Result<()> {
    let mut tasks = tasks;
    loop {
        tokio::select! {
            n = rx.recv() => if let Some((who, n)) = n { print_peer(who, &n) },
            _ = tokio::signal::ctrl_c() => { let _ = stop.send(true); }
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        if tasks.iter().all(|(_, t)| t.is_finished()) {
            break;
        }
    }
    while let Ok((who, n)) = rx.try_recv() {
        print_peer(who, &n);
    }
    let mut first_err = None;
    for (who, t) in tasks.drain(..) {
        match t.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                first_err.get_or_insert_with(|| anyhow::anyhow!("{who}: {e}"));
            }
            Err(e) => {
                first_err.get_or_insert_with(|| anyhow::anyhow!("{who}: {e}"));
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => {
            println!("{}", json!({"event": "finished"}));
            Ok(())
        }
    }
}

fn forward(
    tx: mpsc::UnboundedSender<(&'static str, PeerNotice)>,
    who: &'static str,
) -> mpsc::UnboundedSender<PeerNotice> {
    let (t, mut r) = mpsc::unbounded_channel::<PeerNotice>();
    tokio::spawn(async move {
        while let Some(n) = r.recv().await {
            let _ = tx.send((who, n));
        }
    });
    t
}

fn connect(addr: std::net::SocketAddr, name_: &str) -> Connect {
    Connect {
        addr,
        name: name_.into(),
        idle_timeout: Duration::from_secs(60),
        max_attempts: None,
    }
}

/// `fedhe client --config FILE`.
pub fn client(a: ConfigArgs) -> anyhow::Result<()> {
    log_init();
    let c = fedhe_config::load_client(&a.config)?;
    let fed = federation(&c.federation, &c.identity, &c.transcript)?;
    let credentials = participant_credentials(&c.identity)?;
    let (s, std_) = source(&c.data)?;
    let data = load_federated(
        &s,
        std_,
        Some(partition(&c.data)?),
        c.data.parts,
        c.data.seed,
    )?;
    let samples = data
        .clients
        .get(c.data.index)
        .cloned()
        .with_context(|| format!("data.index {} of {} parts", c.data.index, c.data.parts))?;
    let model: ModelSpec = c.training.model.parse().context("training.model")?;
    let train = TrainConfig {
        lr: c.training.lr as f32,
        batch_size: c.training.batch_size,
        epochs: c.training.epochs,
        weight_decay: 0.0,
        prox_mu: 0.0,
    };
    train.validate().context("training")?;
    let member = match &c.committee {
        Some(m) => Some((member_parts(m, &fed, &c.transcript)?, m.clone())),
        None => None,
    };
    let rt = runtime()?;
    rt.block_on(async move {
        let (stop_tx, stop_rx) = watch::channel(false);
        let (tx, rx) = mpsc::unbounded_channel();
        let endpoint = client::client_endpoint(c.server)?;
        let mut tasks = vec![(
            "client",
            tokio::spawn(client::run_client(
                ClientOptions {
                    federation: fed.clone(),
                    connect: connect(c.server, &c.server_name),
                    credentials,
                    data: samples,
                    model,
                    train,
                    seed: c.data.seed,
                    dropout: 0.0,
                },
                Arc::new(EncoderCache::new()),
                stop_rx.clone(),
                forward(tx.clone(), "client"),
                endpoint.clone(),
            )),
        )];
        if let Some(((creds, share), m)) = member {
            tasks.push((
                "committee",
                tokio::spawn(client::run_member(
                    MemberOptions {
                        federation: fed.clone(),
                        connect: connect(c.server, &c.server_name),
                        credentials: creds,
                        share,
                        policy: MemberPolicy {
                            min_contributors: m.min_contributors as usize,
                            max_rounds: Some(m.max_rounds),
                        },
                        data_dir: c.data_dir.join("committee"),
                        vanish: 0.0,
                    },
                    stop_rx.clone(),
                    forward(tx.clone(), "committee"),
                    endpoint.clone(),
                )),
            ));
        }
        drop(tx);
        run_peers(tasks, rx, stop_tx).await
    })
}

/// `fedhe committee --config FILE`.
pub fn committee(a: ConfigArgs) -> anyhow::Result<()> {
    log_init();
    let c = fedhe_config::load_committee(&a.config)?;
    let fed = federation(&c.federation, &c.member.identity, &c.transcript)?;
    let (creds, share) = member_parts(&c.member, &fed, &c.transcript)?;
    let rt = runtime()?;
    rt.block_on(async move {
        let (stop_tx, stop_rx) = watch::channel(false);
        let (tx, rx) = mpsc::unbounded_channel();
        let endpoint = client::client_endpoint(c.server)?;
        let tasks = vec![(
            "committee",
            tokio::spawn(client::run_member(
                MemberOptions {
                    federation: fed,
                    connect: connect(c.server, &c.server_name),
                    credentials: creds,
                    share,
                    policy: MemberPolicy {
                        min_contributors: c.member.min_contributors as usize,
                        max_rounds: Some(c.member.max_rounds),
                    },
                    data_dir: c.data_dir.clone(),
                    vanish: 0.0,
                },
                stop_rx,
                forward(tx.clone(), "committee"),
                endpoint,
            )),
        )];
        drop(tx);
        run_peers(tasks, rx, stop_tx).await
    })
}
