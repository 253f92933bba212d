//! The aggregation server over QUIC (`fedhe serve`).
//!
//! One task, the *driver*, owns the round's [`ServerRound`] and the
//! [`Store`]; connection tasks authenticate peers and turn their streams
//! into frames for it. What the driver does with a frame:
//!
//! 1. the transport role check: a `client` connection may send submissions
//!    and refusals, a `committee` connection decryption shares and
//!    refusals, nothing else (the state machine then checks the roster
//!    roles, ids, signatures and the round);
//! 2. `handle_frame`; an accepted submission is written to SQLite (one
//!    committed transaction, `synchronous=FULL`) and only then
//!    acknowledged, which queues the signed receipt; a decryption share
//!    the machine took is written too;
//! 3. the machine's messages go out, each on its own stream.
//!
//! **Bounded resources.** At most `max_connections` connections; each may
//! have `max_streams_per_peer` streams open (a QUIC transport parameter),
//! and frames beyond `max_frames_per_second` (a token bucket, bursts of 4
//! seconds) are refused. A stream's body is read only after a permit from
//! the server-wide `max_inflight_submissions` semaphore, and the frame
//! header is checked against the round's size limits (the exact size of a
//! submission for this model, not the codec's 64 MiB) before a byte of the
//! body is allocated. So the memory in flight is at most
//! `max_inflight_submissions` frames, whatever the number of clients.
//!
//! **Recovery.** The round record (its id, seed, invited clients, model
//! version and configuration) is written before the round opens. A server
//! restarted on the same data directory rebuilds the same `ServerRound`
//! with the original start time, replays every stored submission (so every
//! acknowledged one is in the sum), re-sends receipts and the round open
//! to clients as they reconnect, and reuses the decryption shares it had
//! stored instead of asking a member again (a member refuses an aggregate
//! it already answered).
//!
//! Clients are sampled from the clients *connected* when a round opens,
//! each with probability `sampling_rate` (Poisson sampling; the privacy
//! accountant's amplification assumes it over the roster's clients, which
//! is exact when every client stays connected).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use fedhe_dp::accountant::default_orders;
use fedhe_dp::ledger::{Budget, Mechanism, RoundRecord};
use fedhe_keys::pki::Role;
use fedhe_learn::{ModelSpec, Samples};
use fedhe_protocols::round::{EncoderCache, ServerEvent, ServerRound, ServerRoundConfig};
use fedhe_protocols::{
    Kind, Limits, Message, Model, ParticipantId, RoundConfig, RoundId, SigningKey, model_digest,
};
use rand::RngExt as _;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng as _, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, mpsc, watch};

use crate::federation::{Federation, RoundPlan, plan_rounds};
use crate::metrics::{Metrics, Phase};
use crate::sim::{DpTarget, PhaseTimes, RoundReport};
use crate::store::{NewModel, RoundCompletion, Store};
use crate::tls::{self, Credentials, TransportLimits};
use crate::wire::{self, WireError};

/// Errors of the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A setting is out of range.
    #[error("{0}")]
    Config(String),
    /// The QUIC endpoint.
    #[error("QUIC endpoint on {addr}: {source}")]
    Endpoint {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// TLS.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// Storage.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Planning.
    #[error(transparent)]
    Federation(#[from] crate::federation::FederationError),
    /// A state machine refused a host call.
    #[error(transparent)]
    Round(#[from] fedhe_protocols::round::RoundError),
    /// Wire encoding of our own message.
    #[error(transparent)]
    Protocol(#[from] fedhe_protocols::Error),
    /// Learning engine.
    #[error(transparent)]
    Learn(#[from] fedhe_learn::Error),
    /// DP accounting.
    #[error(transparent)]
    Dp(#[from] fedhe_dp::Error),
    /// The stored round record cannot be read.
    #[error("stored round record: {0}")]
    Record(String),
    /// Operating-system randomness.
    #[error("operating system randomness: {0}")]
    Rng(String),
}

/// Everything `fedhe serve` runs with.
#[derive(Debug)]
pub struct ServerOptions {
    /// The federation.
    pub federation: Arc<Federation>,
    /// The server's certificate and key (its key signs receipts).
    pub credentials: Credentials,
    /// UDP address.
    pub listen: SocketAddr,
    /// Directory of the SQLite database.
    pub data_dir: PathBuf,
    /// Model architecture.
    pub model: ModelSpec,
    /// Input features.
    pub features: usize,
    /// Classes.
    pub classes: usize,
    /// Initial weights' seed.
    pub init_seed: u64,
    /// Rounds of the run (the DP plan covers them).
    pub rounds: u64,
    /// Poisson sampling rate of connected clients.
    pub sampling_rate: f64,
    /// Fewest contributions a round decrypts.
    pub min_clients: usize,
    /// Close collection at this many submissions (default all invited).
    pub quorum: Option<usize>,
    /// Collection deadline.
    pub deadline: Duration,
    /// Share timeout.
    pub share_timeout: Duration,
    /// Before each round, wait up to this long for `target_clients`
    /// connected clients and `t` connected committee members.
    pub wait_for_clients: Duration,
    /// Clients to wait for (default: `min_clients / sampling_rate`, at
    /// most the roster's clients).
    pub target_clients: Option<usize>,
    /// Clip norm.
    pub clip: f64,
    /// DDGauss modulus bits.
    pub bits: u32,
    /// Server step size.
    pub server_lr: f32,
    /// DP target (None = no noise).
    pub dp: Option<DpTarget>,
    /// Public evaluation set.
    pub evaluation: Option<Samples>,
    /// Limits.
    pub limits: fedhe_config::Limits,
    /// Metrics registry.
    pub metrics: Metrics,
}

/// The stored record of an open round: what rebuilds its [`ServerRound`].
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RoundRecordFile {
    pub(crate) round: u64,
    pub(crate) seed: [u8; 32],
    pub(crate) model_version: u64,
    pub(crate) invited: Vec<u32>,
    pub(crate) quorum: usize,
    pub(crate) config: RoundConfig,
}

/// Decodes the record of the open round `round` as the store gave it back
/// (refused if it is the record of another round).
pub(crate) fn decode_round_record(
    round: u64,
    bytes: &[u8],
) -> Result<RoundRecordFile, ServerError> {
    let rec: RoundRecordFile =
        serde_json::from_slice(bytes).map_err(|e| ServerError::Record(e.to_string()))?;
    if rec.round != round {
        return Err(ServerError::Record(format!(
            "the store's open round {round} holds the record of round {}",
            rec.round
        )));
    }
    Ok(rec)
}

/// Replays the stored privacy ledger (`(round, JSON record)` in round
/// order) into `budget`; returns the ε spent after the last entry.
pub(crate) fn replay_ledger(
    budget: &mut Budget,
    entries: &[(u64, Vec<u8>)],
) -> Result<f64, ServerError> {
    let mut epsilon = 0.0;
    for (_, json) in entries {
        let rec: RoundRecord = serde_json::from_slice(json)
            .map_err(|e| ServerError::Record(format!("ledger entry: {e}")))?;
        epsilon = budget.record(rec)?.epsilon;
    }
    Ok(epsilon)
}

/// What the server tells its host as it runs.
#[derive(Debug, Clone)]
pub enum ServerNotice {
    /// A round opened.
    RoundOpened {
        /// Round.
        round: u64,
        /// Invited clients.
        invited: usize,
        /// Whether it was recovered from the store.
        recovered: bool,
    },
    /// Collection closed.
    CollectionClosed {
        /// Round.
        round: u64,
        /// Accepted submissions.
        accepted: usize,
    },
    /// A decryption request went to a set of members.
    DecryptionRequested {
        /// Round.
        round: u64,
        /// The set's Shamir indices.
        set: Vec<u16>,
        /// Whether the aggregate was re-randomized (not the first request).
        rerandomized: bool,
    },
    /// A round ended (completed or failed).
    RoundDone(Box<RoundReport>),
    /// A peer or a frame was refused.
    Refused {
        /// The peer (if identified).
        peer: Option<u32>,
        /// Short reason.
        reason: String,
    },
}

/// A running server.
#[derive(Debug)]
pub struct RunningServer {
    /// The bound address.
    pub addr: SocketAddr,
    /// Ends with the run's final model parameters.
    pub join: tokio::task::JoinHandle<Result<ServerOutcome, ServerError>>,
    shutdown: watch::Sender<bool>,
}

impl RunningServer {
    /// Asks the server to stop (it finishes the current step, closes its
    /// connections and returns).
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
    }

    /// A handle that stops the server when sent `true`.
    pub fn shutdown_handle(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }
}

/// Longest a peer may take to send one frame once its stream is open.
const FRAME_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Most accepted submissions made durable in one transaction.
const GROUP_COMMIT: usize = 64;
/// Longest an accepted submission waits for its batch's commit.
const GROUP_COMMIT_DELAY: Duration = Duration::from_millis(20);

/// The application close code with which the server ends every connection
/// once the run's last round is done (clients then exit).
pub const RUN_COMPLETE: u32 = 10;

/// The server's result.
#[derive(Debug, Clone)]
pub struct ServerOutcome {
    /// Whether every round of the run is done (false: stopped early).
    pub complete: bool,
    /// The final model.
    pub params: Vec<f32>,
    /// Its version.
    pub version: u64,
    /// ε spent.
    pub epsilon: f64,
    /// The plan the rounds used.
    pub plan: RoundPlan,
}

enum Inbound {
    Connected {
        id: u32,
        role: Role,
    },
    Disconnected {
        id: u32,
        role: Role,
    },
    Frame {
        id: u32,
        role: Role,
        kind: Kind,
        frame: Vec<u8>,
        permit: Permit,
    },
    Refused {
        id: Option<u32>,
        label: &'static str,
        detail: String,
    },
}

type Peers = Arc<Mutex<BTreeMap<(u32, Role), quinn::Connection>>>;

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn unix_s() -> i64 {
    unix_ms() / 1000
}

fn os_rng() -> Result<ChaCha20Rng, ServerError> {
    ChaCha20Rng::try_from_rng(&mut rand::rngs::SysRng).map_err(|e| ServerError::Rng(e.to_string()))
}

/// Which kinds a connection of `role` may send.
pub fn allowed(role: Role, kind: Kind) -> bool {
    matches!(
        (role, kind),
        (Role::Client, Kind::Submission | Kind::Refusal)
            | (Role::Committee, Kind::DecryptShare | Kind::Refusal)
    )
}

/// The frame limits of a run: control frames 64 KiB; bulk frames the size
/// of one full ciphertext list of this model plus 64 KiB.
pub fn frame_limits(fed: &Federation, dim: usize) -> Limits {
    let values = dim.next_power_of_two().max(1);
    let ct = fedhe_he::CiphertextList::zero(&fed.ctx, values)
        .to_bytes()
        .len();
    let bulk = (ct + (64 << 10)).max(4 * dim + (64 << 10));
    Limits {
        bulk: u32::try_from(bulk)
            .unwrap_or(u32::MAX)
            .min(Limits::DEFAULT.bulk),
        control: Limits::DEFAULT.control,
    }
}

struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(rate: f64) -> Self {
        Self {
            rate,
            burst: (rate * 4.0).max(4.0),
            tokens: (rate * 4.0).max(4.0),
            last: Instant::now(),
        }
    }
    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

struct ConnShared {
    fed: Arc<Federation>,
    peers: Peers,
    inbound: mpsc::UnboundedSender<Inbound>,
    inflight: Arc<Semaphore>,
    connections: Arc<Semaphore>,
    limits: Limits,
    frame_rate: f64,
    metrics: Metrics,
}

/// Starts the server: binds, then runs the rounds in a task.
pub async fn start(
    opts: ServerOptions,
    notices: mpsc::UnboundedSender<ServerNotice>,
) -> Result<RunningServer, ServerError> {
    if opts.min_clients == 0 {
        return Err(ServerError::Config("min_clients must be at least 1".into()));
    }
    let fed = opts.federation.clone();
    let tl = TransportLimits {
        max_streams: opts.limits.max_streams_per_peer,
        idle_timeout: Duration::from_secs(opts.limits.idle_timeout_secs),
        receive_window: opts.limits.receive_window_kib.saturating_mul(1024),
    };
    let sc = tls::server_config(&fed.trust, &opts.credentials, tl)?;
    let endpoint =
        quinn::Endpoint::server(sc, opts.listen).map_err(|source| ServerError::Endpoint {
            addr: opts.listen,
            source,
        })?;
    let addr = endpoint
        .local_addr()
        .map_err(|source| ServerError::Endpoint {
            addr: opts.listen,
            source,
        })?;
    let (tx, rx) = mpsc::unbounded_channel();
    let (shutdown, shutdown_rx) = watch::channel(false);
    let dim = opts
        .model
        .build(opts.features, opts.classes, opts.init_seed)?
        .params()
        .len();
    let shared = Arc::new(ConnShared {
        fed: fed.clone(),
        peers: Arc::new(Mutex::new(BTreeMap::new())),
        inbound: tx,
        inflight: Arc::new(Semaphore::new(
            opts.limits.max_inflight_submissions as usize,
        )),
        connections: Arc::new(Semaphore::new(opts.limits.max_connections as usize)),
        limits: frame_limits(&fed, dim),
        frame_rate: opts.limits.max_frames_per_second,
        metrics: opts.metrics.clone(),
    });
    let acceptor = {
        let shared = shared.clone();
        let endpoint = endpoint.clone();
        tokio::spawn(async move {
            while let Some(incoming) = endpoint.accept().await {
                let shared = shared.clone();
                tokio::spawn(connection(incoming, shared));
            }
        })
    };
    let join = tokio::spawn(async move {
        let r = drive(opts, shared, rx, shutdown_rx, notices).await;
        match &r {
            Ok(o) if o.complete => endpoint.close(RUN_COMPLETE.into(), b"run complete"),
            _ => endpoint.close(0u32.into(), b"server stopping"),
        }
        acceptor.abort();
        // Let the close frames go out; do not wait for every peer.
        let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
        r
    });
    Ok(RunningServer {
        addr,
        join,
        shutdown,
    })
}

async fn connection(incoming: quinn::Incoming, shared: Arc<ConnShared>) {
    let refuse = |id: Option<u32>, label: &'static str, detail: String| {
        shared.metrics.inc_connections_refused(label);
        let _ = shared.inbound.send(Inbound::Refused { id, label, detail });
    };
    if !incoming.remote_address_validated() {
        // Address validation first: a spoofed source gets nothing but a
        // retry token.
        let _ = incoming.retry();
        return;
    }
    let Ok(slot) = shared.connections.clone().try_acquire_owned() else {
        refuse(
            None,
            "too_many_connections",
            "connection limit reached".into(),
        );
        incoming.refuse();
        return;
    };
    let remote = incoming.remote_address();
    let conn = match incoming.await {
        Ok(c) => c,
        Err(e) => {
            refuse(
                None,
                "handshake",
                format!("{remote}: TLS handshake failed: {e}"),
            );
            return;
        }
    };
    let p = match shared
        .fed
        .trust
        .identify(tls::peer_chain(&conn).as_deref(), unix_s(), None)
    {
        Ok(p) => p,
        Err(e) => {
            refuse(None, "certificate", format!("{remote}: {e}"));
            conn.close(1u32.into(), b"certificate refused");
            return;
        }
    };
    if !matches!(p.role, Role::Client | Role::Committee) {
        refuse(
            Some(p.id),
            "role",
            format!("participant {} connected as {}", p.id, p.role),
        );
        conn.close(1u32.into(), b"role not served here");
        return;
    }
    let key = (p.id, p.role);
    let old = shared
        .peers
        .lock()
        .map(|mut m| m.insert(key, conn.clone()))
        .unwrap_or(None);
    if let Some(old) = old {
        old.close(2u32.into(), b"replaced by a new connection");
    }
    let _ = shared.inbound.send(Inbound::Connected {
        id: p.id,
        role: p.role,
    });
    let _peer = shared.metrics.peer_guard();
    let mut bucket = TokenBucket::new(shared.frame_rate);
    while let Ok(mut recv) = conn.accept_uni().await {
        if !bucket.take() {
            let _ = recv.stop(3u32.into());
            refuse(
                Some(p.id),
                "rate_limited",
                format!("participant {} over {} frames/s", p.id, shared.frame_rate),
            );
            continue;
        }
        let Ok(permit) = shared.inflight.clone().acquire_owned().await else {
            break;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let guard = shared.metrics.inflight_guard();
            // A peer that opens a stream and stalls gives its permit back.
            let r = match tokio::time::timeout(
                FRAME_READ_TIMEOUT,
                wire::read_frame(&mut recv, &shared.limits),
            )
            .await
            {
                Ok(r) => r,
                Err(_) => Err(WireError::Read(format!(
                    "no complete frame within {FRAME_READ_TIMEOUT:?}"
                ))),
            };
            drop(guard);
            match r {
                Ok((kind, frame)) => {
                    shared.metrics.add_bytes_received(frame.len() as u64);
                    let _ = shared.inbound.send(Inbound::Frame {
                        id: p.id,
                        role: p.role,
                        kind,
                        frame,
                        permit,
                    });
                }
                Err(e) => {
                    if matches!(
                        e,
                        WireError::Header(_) | WireError::Trailing | WireError::Read(_)
                    ) {
                        let _ = recv.stop(4u32.into());
                    }
                    shared.metrics.inc_refused(e.label());
                    let _ = shared.inbound.send(Inbound::Refused {
                        id: Some(p.id),
                        label: e.label(),
                        detail: format!("participant {}: {e}", p.id),
                    });
                }
            }
        });
    }
    let current = shared
        .peers
        .lock()
        .map(|mut m| {
            if m.get(&key)
                .is_some_and(|c| c.stable_id() == conn.stable_id())
            {
                m.remove(&key);
                true
            } else {
                false
            }
        })
        .unwrap_or(false);
    if current {
        let _ = shared.inbound.send(Inbound::Disconnected {
            id: p.id,
            role: p.role,
        });
    }
    drop(slot);
}

/// Sends `frame` to `to`: decryption requests on its committee connection,
/// everything else on its client connection (or its committee one).
fn send(peers: &Peers, to: ParticipantId, kind: Kind, frame: Bytes) -> bool {
    send_via(peers, to, kind, false, frame)
}

/// [`send`], choosing the committee connection first when `committee` (a
/// round's result to a member that was not among its invited clients:
/// its client side would refuse a result for a round it was not in).
fn send_via(peers: &Peers, to: ParticipantId, kind: Kind, committee: bool, frame: Bytes) -> bool {
    let conn = peers.lock().ok().and_then(|m| {
        let c = m.get(&(to.0, Role::Committee)).cloned();
        let k = m.get(&(to.0, Role::Client)).cloned();
        if kind == Kind::DecryptRequest {
            c
        } else if committee {
            c.or(k)
        } else {
            k.or(c)
        }
    });
    match conn {
        Some(conn) => {
            tokio::spawn(async move {
                if let Err(e) = wire::send_frame_shared(&conn, frame).await {
                    tracing::debug!("sending to {}: {e}", to.0);
                }
            });
            true
        }
        None => false,
    }
}

/// A slot of `max_inflight_submissions`.
type Permit = tokio::sync::OwnedSemaphorePermit;

fn block<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

struct Driver {
    opts: ServerOptions,
    shared: Arc<ConnShared>,
    rx: mpsc::UnboundedReceiver<Inbound>,
    shutdown: watch::Receiver<bool>,
    notices: mpsc::UnboundedSender<ServerNotice>,
    store: Store,
    connected: BTreeSet<u32>,
    members: BTreeSet<u32>,
    encoders: EncoderCache,
    plan: RoundPlan,
    budget: Option<Budget>,
    epsilon: f64,
    model: Box<dyn fedhe_learn::Model>,
    params: Vec<f32>,
    version: u64,
    signing: zeroize::Zeroizing<[u8; 32]>,
    last_ledger: Option<Vec<u8>>,
}

async fn drive(
    opts: ServerOptions,
    shared: Arc<ConnShared>,
    rx: mpsc::UnboundedReceiver<Inbound>,
    shutdown: watch::Receiver<bool>,
    notices: mpsc::UnboundedSender<ServerNotice>,
) -> Result<ServerOutcome, ServerError> {
    let fed = opts.federation.clone();
    std::fs::create_dir_all(&opts.data_dir).map_err(|e| {
        ServerError::Config(format!("data directory {}: {e}", opts.data_dir.display()))
    })?;
    let mut store = block(|| Store::open(&opts.data_dir.join(crate::store::DB_FILE)))?;
    let mut model = opts
        .model
        .build(opts.features, opts.classes, opts.init_seed)?;
    let dim = model.params().len();
    let plan = plan_rounds(
        &fed.ctx,
        crate::federation::max_per_round(
            &fed.ctx,
            fed.clients,
            opts.sampling_rate,
            opts.min_clients,
        ),
        opts.sampling_rate,
        opts.min_clients,
        dim,
        opts.clip,
        opts.bits,
        opts.dp,
        opts.rounds,
        opts.deadline.as_millis() as u64,
    )?;
    let hyper = hyperparams(&opts, &plan);
    let latest = block(|| store.latest_model())?;
    let (params, version) = match latest {
        Some(m) => {
            if m.params.len() != dim {
                return Err(ServerError::Config(format!(
                    "the stored model has {} parameters, the configured model {dim}",
                    m.params.len()
                )));
            }
            (m.params, m.summary.version)
        }
        None => {
            let p = model.params().to_vec();
            block(|| {
                store.insert_initial_model(
                    unix_ms(),
                    &NewModel {
                        version: 0,
                        parent: None,
                        params: p.clone(),
                        metrics_json: "{}".into(),
                        hyperparams_json: hyper.clone(),
                    },
                )
            })?;
            (p, 0)
        }
    };
    model.set_params(&params)?;
    // The privacy ledger, replayed.
    let mut budget = match (&plan.plan, opts.dp) {
        (Some(p), Some(t)) => Some(Budget::new(
            p.epsilon.max(t.epsilon) * (1.0 + 1e-9),
            t.delta,
            default_orders(),
        )?),
        _ => None,
    };
    let mut epsilon = 0.0;
    if let Some(b) = budget.as_mut() {
        epsilon = replay_ledger(b, &block(|| store.ledger())?)?;
    }
    opts.metrics.set_epsilon_spent(epsilon);
    let signing = opts.credentials.signing_seed().clone();
    let mut d = Driver {
        opts,
        shared,
        rx,
        shutdown,
        notices,
        store,
        connected: BTreeSet::new(),
        members: BTreeSet::new(),
        encoders: EncoderCache::new(),
        plan,
        budget,
        epsilon,
        model,
        params,
        version,
        signing,
        last_ledger: None,
    };
    d.run().await
}

fn hyperparams(o: &ServerOptions, plan: &RoundPlan) -> String {
    serde_json::json!({
        "model": o.model.to_string(),
        "rounds": o.rounds,
        "sampling_rate": o.sampling_rate,
        "min_clients": o.min_clients,
        "clip": o.clip,
        "bits": o.bits,
        "gamma": plan.config.gamma,
        "server_lr": o.server_lr,
        "dp": o.dp.map(|t| serde_json::json!({"epsilon": t.epsilon, "delta": t.delta})),
        "noise_multiplier": plan.plan.as_ref().map(|p| p.noise_multiplier),
        "preset": o.federation.ctx.params().preset,
    })
    .to_string()
}

enum Step {
    Next,
    Stop,
}

impl Driver {
    async fn run(&mut self) -> Result<ServerOutcome, ServerError> {
        let mut recovered = block(|| self.store.current_round())?;
        loop {
            if *self.shutdown.borrow() {
                break;
            }
            let last = block(|| self.store.last_round())?.unwrap_or(0);
            let (record, started_ms, is_recovery) = match recovered.take() {
                Some(open) => (
                    decode_round_record(open.round, &open.record)?,
                    open.started_at_ms,
                    true,
                ),
                None => {
                    if last >= self.opts.rounds {
                        break;
                    }
                    match self.new_round(last + 1).await? {
                        Some(r) => r,
                        None => break,
                    }
                }
            };
            match self.round(record, started_ms, is_recovery).await? {
                Step::Next => {}
                Step::Stop => break,
            }
        }
        let last = block(|| self.store.last_round())?.unwrap_or(0);
        let open = block(|| self.store.current_round())?;
        Ok(ServerOutcome {
            complete: last >= self.opts.rounds && open.is_none(),
            params: self.params.clone(),
            version: self.version,
            epsilon: self.epsilon,
            plan: self.plan.clone(),
        })
    }

    /// Handles connection bookkeeping and refusals that arrive outside a round.
    fn bookkeeping(&mut self, m: &Inbound) {
        match m {
            Inbound::Connected { id, role } => {
                if *role == Role::Client {
                    self.connected.insert(*id);
                } else {
                    self.members.insert(*id);
                }
            }
            Inbound::Disconnected { id, role } => {
                if *role == Role::Client {
                    self.connected.remove(id);
                } else {
                    self.members.remove(id);
                }
            }
            Inbound::Refused { id, label, detail } => {
                tracing::warn!("refused: {detail}");
                let _ = self.notices.send(ServerNotice::Refused {
                    peer: *id,
                    reason: format!("{label}: {detail}"),
                });
            }
            Inbound::Frame { .. } => {}
        }
    }

    /// Waits for clients, samples, and writes the round record.
    async fn new_round(
        &mut self,
        round: u64,
    ) -> Result<Option<(RoundRecordFile, i64, bool)>, ServerError> {
        let until = tokio::time::Instant::now() + self.opts.wait_for_clients;
        let fed = &self.opts.federation;
        let target = self
            .opts
            .target_clients
            .unwrap_or_else(|| {
                (self.opts.min_clients as f64 / self.opts.sampling_rate).ceil() as usize
            })
            .clamp(self.opts.min_clients.min(fed.clients), fed.clients);
        let t = usize::from(fed.ctx.params().committee.threshold);
        while self.connected.len() < target || self.members.len() < t {
            tokio::select! {
                m = self.rx.recv() => match m {
                    Some(m) => {
                        if let Inbound::Frame { id, kind, .. } = &m {
                            tracing::info!("frame {kind:?} from {id} between rounds dropped");
                        }
                        self.bookkeeping(&m);
                    }
                    None => return Ok(None),
                },
                _ = tokio::time::sleep_until(until) => break,
                _ = self.shutdown.changed() => return Ok(None),
            }
        }
        let mut rng = os_rng()?;
        let mut invited: Vec<u32> = self
            .connected
            .iter()
            .copied()
            .filter(|_| rng.random_bool(self.opts.sampling_rate))
            .collect();
        // Never more than the plan's bound (the HE parameters' contributor
        // limit): drop a uniformly random excess.
        while invited.len() > self.plan.max_per_round {
            let k = rng.random_range(0..invited.len());
            invited.swap_remove(k);
        }
        invited.sort_unstable();
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let quorum = self
            .opts
            .quorum
            .unwrap_or(invited.len())
            .min(invited.len())
            .max(1);
        let rec = RoundRecordFile {
            round,
            seed,
            model_version: self.version,
            invited,
            quorum,
            config: self.plan.config.clone(),
        };
        let started = unix_ms();
        let bytes = serde_json::to_vec(&rec).map_err(|e| ServerError::Record(e.to_string()))?;
        block(|| self.store.open_round(round, started, &bytes))?;
        Ok(Some((rec, started, false)))
    }

    async fn round(
        &mut self,
        rec: RoundRecordFile,
        started_ms: i64,
        recovered: bool,
    ) -> Result<Step, ServerError> {
        let fed = self.opts.federation.clone();
        let round = rec.round;
        let t_round = Instant::now();
        let mut time = PhaseTimes::default();
        let elapsed = Duration::from_millis(u64::try_from(unix_ms() - started_ms).unwrap_or(0));
        let start = Instant::now()
            .checked_sub(elapsed)
            .unwrap_or_else(Instant::now);
        let params = if rec.model_version == self.version {
            self.params.clone()
        } else {
            block(|| self.store.model(rec.model_version))?.params
        };
        self.shared.metrics.set_round(round);
        let _ = self.notices.send(ServerNotice::RoundOpened {
            round,
            invited: rec.invited.len(),
            recovered,
        });
        if rec.invited.is_empty() {
            return self
                .fail(
                    round,
                    "no connected client was sampled",
                    &rec,
                    time,
                    t_round,
                )
                .await;
        }
        let mut server = ServerRound::new(
            start,
            fed.ctx.clone(),
            fed.public_key.clone(),
            SigningKey::from_seed(&self.signing),
            fed.roster.clone(),
            ServerRoundConfig {
                federation: fed.id,
                round: RoundId(round),
                server: fed.server,
                model: Model {
                    version: rec.model_version,
                    parameters: params.clone(),
                },
                config: rec.config.clone(),
                seed: rec.seed,
                invited: rec.invited.iter().map(|&i| ParticipantId(i)).collect(),
                quorum: rec.quorum,
                share_timeout: self.opts.share_timeout,
            },
            &self.encoders,
            os_rng()?,
        )?;
        // The round open, kept to re-send to clients that (re)connect.
        let mut open_frame: Option<Bytes> = None;
        let mut pending_out = Vec::new();
        while let Some(t) = server.poll_transmit() {
            if matches!(t.message, Message::RoundOpen(_)) && open_frame.is_none() {
                open_frame = Some(Bytes::from(t.message.encode()?));
            }
            pending_out.push(t);
        }
        let open_frame = open_frame.ok_or_else(|| ServerError::Record("no round open".into()))?;
        let invited: BTreeSet<u32> = rec.invited.iter().copied().collect();
        for t in pending_out {
            send(
                &self.shared.peers,
                t.to,
                Kind::RoundOpen,
                open_frame.clone(),
            );
        }
        let mut stored_shares: HashMap<(u32, [u8; 32]), Vec<u8>> = HashMap::new();
        // What the replay of stored submissions raised besides their
        // acceptance (collection closed at quorum, the decryption request
        // that follows): handled by the loop below like any other event.
        let mut deferred: VecDeque<ServerEvent> = VecDeque::new();
        // Clients whose submission this round holds, to re-send a lost
        // receipt when they reconnect.
        let mut holding: BTreeSet<u32> = BTreeSet::new();
        if recovered {
            // Every stored (acknowledged or not yet acknowledged but
            // durable) submission goes back into the sum.
            // Streamed from the store: one stored frame in memory at a time.
            let store = &self.store;
            let replay_count = block(|| {
                store.for_each_submission(round, |sender, frame| {
                server.handle_frame(start, ParticipantId(sender), frame);
                while let Some(e) = server.poll_event() {
                    match e {
                        ServerEvent::Accepted { sender, .. } => {
                            holding.insert(sender.0);
                            server.acknowledge(sender);
                        }
                        ServerEvent::Refused {
                            from,
                            reason,
                            detail,
                        } => {
                            tracing::error!(
                                "stored submission of {} refused on replay: {reason:?} {detail}",
                                from.0
                            );
                        }
                        other => deferred.push_back(other),
                    }
                }
                })
            })?;
            for s in block(|| self.store.shares(round))? {
                stored_shares.insert((s.member, s.aggregate_digest), s.frame);
            }
            tracing::info!(
                "round {round} recovered: {replay_count} submissions, {} shares",
                stored_shares.len()
            );
        }
        let mut bytes_up: Vec<usize> = Vec::new();
        let mut requests = 0usize;
        let mut unavailable = 0usize;
        let mut contributors: Vec<usize> = Vec::new();
        let mut wraps = 0usize;
        let mut collect_closed: Option<Instant> = None;
        let mut request_digest: BTreeMap<u64, [u8; 32]> = BTreeMap::new();
        let mut failed: Option<String> = None;
        let mut decoded_update: Option<(Vec<f32>, u64)> = None;
        // The frame just handed to the machine, with its in-flight permit.
        let mut last_frame: Option<(u32, Kind, Vec<u8>, Option<Permit>)> = None;
        // Accepted, not yet durable: each keeps its permit until the group
        // commit, so received-but-not-durable submissions are bounded by
        // `max_inflight_submissions` (not twice that).
        let mut pending: Vec<(u32, Vec<u8>, Option<Permit>)> = Vec::new();
        let mut flush_at: Option<Instant> = None;
        let mut completed = false;
        // The decryption request each member has not answered yet, re-sent
        // when it (re)connects: a request that went out while the member
        // was away (a restart of either side) is not lost.
        let mut outstanding: HashMap<u32, Bytes> = HashMap::new();
        loop {
            // Events of what just happened.
            let mut replay: Vec<(u32, Vec<u8>)> = Vec::new();
            let mut refused_now: BTreeSet<u32> = BTreeSet::new();
            let mut mark_closed = false;
            while let Some(e) = deferred.pop_front().or_else(|| server.poll_event()) {
                match e {
                    ServerEvent::Accepted { sender, bytes, .. } => {
                        holding.insert(sender.0);
                        let (frame, permit) = match last_frame.take() {
                            Some((id, Kind::Submission, f, p)) if id == sender.0 => (f, p),
                            _ => {
                                return Err(ServerError::Record(
                                    "an accepted submission without its frame".into(),
                                ));
                            }
                        };
                        pending.push((sender.0, frame, permit));
                        bytes_up.push(bytes);
                    }
                    ServerEvent::Refused {
                        from,
                        reason,
                        detail,
                    } => {
                        refused_now.insert(from.0);
                        self.shared.metrics.inc_refused("protocol");
                        tracing::warn!("round {round}: refused {} ({reason:?}): {detail}", from.0);
                        let _ = self.notices.send(ServerNotice::Refused {
                            peer: Some(from.0),
                            reason: format!("{reason:?}: {detail}"),
                        });
                    }
                    ServerEvent::CollectionClosed { contributors, by } => {
                        collect_closed = Some(Instant::now());
                        time.train_s = t_round.elapsed().as_secs_f64();
                        tracing::info!(
                            "round {round}: collection closed with {contributors} ({by:?})"
                        );
                        mark_closed = true;
                        let _ = self.notices.send(ServerNotice::CollectionClosed {
                            round,
                            accepted: contributors,
                        });
                    }
                    ServerEvent::DecryptionRequested {
                        request,
                        set,
                        aggregate_digest,
                    } => {
                        requests += 1;
                        self.shared.metrics.inc_decryption_requests();
                        let _ = self.notices.send(ServerNotice::DecryptionRequested {
                            round,
                            set: set.clone(),
                            rerandomized: requests > 1,
                        });
                        request_digest.insert(request.0, aggregate_digest);
                        for m in set {
                            if let Some(p) = fed.roster.member(m)
                                && let Some(f) = stored_shares.remove(&(p.0, aggregate_digest))
                            {
                                replay.push((p.0, f));
                            }
                        }
                    }
                    ServerEvent::MembersUnavailable { members, .. } => unavailable += members.len(),
                    ServerEvent::Decoded {
                        mean_update,
                        contributors: who,
                        report,
                        ..
                    } => {
                        wraps = report.suspected_wraps;
                        contributors = who.iter().map(|p| p.0 as usize).collect();
                        let mut next = params.clone();
                        #[expect(clippy::cast_possible_truncation, reason = "the model is f32")]
                        next.iter_mut()
                            .zip(&mean_update)
                            .for_each(|(w, d)| *w += self.opts.server_lr * (*d as f32));
                        let v = rec.model_version + 1;
                        let eps = self.account(round, who.len() as u64)?;
                        server.finish(v, model_digest(v, &next), eps)?;
                        time.decrypt_s = collect_closed
                            .map(|c| c.elapsed().as_secs_f64())
                            .unwrap_or(0.0);
                        decoded_update = Some((next, v));
                    }
                    ServerEvent::Completed(_) => completed = true,
                    ServerEvent::Failed(f) => failed = Some(format!("{f:?}")),
                    _ => {}
                }
            }
            // Group commit: accepted submissions become durable in one
            // transaction, and only then are they acknowledged. Always
            // before any decryption request leaves, so that every aggregate
            // a member sees is the sum of stored submissions.
            if !pending.is_empty() && flush_at.is_none() {
                flush_at = Some(Instant::now() + GROUP_COMMIT_DELAY);
            }
            if !pending.is_empty()
                && (pending.len() >= GROUP_COMMIT
                    || collect_closed.is_some()
                    || flush_at.is_some_and(|t| Instant::now() >= t))
            {
                flush_at = None;
                let t = Instant::now();
                let batch: Vec<(u32, &[u8])> =
                    pending.iter().map(|(s, f, _)| (*s, f.as_slice())).collect();
                block(|| self.store.add_submissions(round, &batch))?;
                time.aggregate_s += t.elapsed().as_secs_f64();
                for (s, _, _permit) in pending.drain(..) {
                    self.shared.metrics.inc_accepted();
                    server.acknowledge(ParticipantId(s));
                }
            }
            if mark_closed {
                let closed = block(|| self.store.current_round())?.and_then(|o| o.closed_at_ms);
                if closed.is_none() {
                    block(|| self.store.mark_collection_closed(round, unix_ms()))?;
                }
            }
            // A decryption share the machine took (no refusal) is kept for
            // a restart.
            if let Some((id, Kind::DecryptShare | Kind::Refusal, _, _)) = &last_frame {
                // A member answered (or declined): nothing to re-send.
                outstanding.remove(id);
            }
            if let Some((id, Kind::DecryptShare, f, _)) = last_frame.take()
                && !refused_now.contains(&id)
                && let Some(d) = share_digest(&f, &request_digest)
            {
                block(|| self.store.add_share(round, id, d, &f))?;
            }
            // Messages out (decryption requests already answered before a
            // restart are answered from the store instead).
            while let Some(t) = server.poll_transmit() {
                if matches!(t.message, Message::DecryptRequest(_))
                    && replay.iter().any(|(m, _)| *m == t.to.0)
                {
                    continue;
                }
                let kind = t.message.kind();
                let frame = Bytes::from(t.message.encode()?);
                if kind == Kind::DecryptRequest {
                    outstanding.insert(t.to.0, frame.clone());
                }
                let committee = kind == Kind::RoundResult && !invited.contains(&t.to.0);
                send_via(&self.shared.peers, t.to, kind, committee, frame);
            }
            for (m, f) in replay {
                last_frame = None;
                server.handle_frame(Instant::now(), ParticipantId(m), &f);
            }
            if completed || failed.is_some() {
                break;
            }
            if server.is_finished() {
                break;
            }
            let deadline = match (server.poll_timeout(), flush_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                m = self.rx.recv() => {
                    let Some(m) = m else { return Ok(Step::Stop) };
                    match m {
                        Inbound::Frame { id, role, kind, frame, permit } => {
                            if !allowed(role, kind) {
                                self.shared.metrics.inc_refused("role");
                                let detail = format!("participant {id} sent a {kind:?} on its {role} connection");
                                tracing::warn!("round {round}: {detail}");
                                let _ = self.notices.send(ServerNotice::Refused { peer: Some(id), reason: format!("role: {detail}") });
                                continue;
                            }
                            let t = Instant::now();
                            server.handle_frame(Instant::now(), ParticipantId(id), &frame);
                            if collect_closed.is_none() {
                                time.aggregate_s += t.elapsed().as_secs_f64();
                            }
                            last_frame = Some((id, kind, frame, Some(permit)));
                        }
                        Inbound::Connected { id, role } => {
                            let m = Inbound::Connected { id, role };
                            self.bookkeeping(&m);
                            // The round open again: to an invited client while
                            // collection is open, and after it to one whose
                            // submission the round holds (it re-sends it if
                            // its receipt was lost, and gets the receipt).
                            if role == Role::Client
                                && invited.contains(&id)
                                && (collect_closed.is_none() || holding.contains(&id))
                            {
                                send(&self.shared.peers, ParticipantId(id), Kind::RoundOpen, open_frame.clone());
                            }
                            if role == Role::Committee
                                && let Some(f) = outstanding.get(&id)
                            {
                                tracing::info!("round {round}: decryption request re-sent to member {id}");
                                send(&self.shared.peers, ParticipantId(id), Kind::DecryptRequest, f.clone());
                            }
                        }
                        other => self.bookkeeping(&other),
                    }
                }
                _ = sleep => {
                    if server.poll_timeout().is_some_and(|t| t <= Instant::now()) {
                        server.handle_timeout(Instant::now());
                    }
                }
                _ = self.shutdown.changed() => return Ok(Step::Stop),
            }
        }
        if let Some(why) = failed {
            return self.fail(round, &why, &rec, time, t_round).await;
        }
        let Some((next, v)) = decoded_update else {
            return Ok(Step::Stop);
        };
        let t = Instant::now();
        self.model.set_params(&next)?;
        let m = match &self.opts.evaluation {
            Some(s) => Some(self.model.evaluate(s)?),
            None => None,
        };
        time.evaluate_s = t.elapsed().as_secs_f64();
        time.round_s = t_round.elapsed().as_secs_f64();
        let (accuracy, loss) = m
            .map(|m| (m.accuracy, m.loss))
            .unwrap_or((f64::NAN, f64::NAN));
        let report = RoundReport {
            round: round as usize,
            accuracy,
            loss,
            epsilon: self.epsilon,
            sampled: rec.invited.len(),
            dropped_clients: rec.invited.len().saturating_sub(contributors.len()),
            contributors,
            unavailable_members: unavailable,
            decryption_requests: requests,
            failed: None,
            bytes_uploaded_per_client: if bytes_up.is_empty() {
                0.0
            } else {
                bytes_up.iter().sum::<usize>() as f64 / bytes_up.len() as f64
            },
            suspected_wraps: wraps,
            time,
        };
        let ledger_entry = self.last_ledger.take();
        let completion = RoundCompletion {
            round,
            completed_at_ms: unix_ms(),
            model: NewModel {
                version: v,
                parent: Some(rec.model_version),
                params: next.clone(),
                metrics_json: serde_json::json!({
                    "accuracy": m.map(|m| m.accuracy),
                    "loss": m.map(|m| m.loss),
                    "contributors": report.contributors.len(),
                })
                .to_string(),
                hyperparams_json: hyperparams(&self.opts, &self.plan),
            },
            ledger_entry,
            epsilon_spent: self.epsilon,
            summary_json: serde_json::to_string(&report).unwrap_or_default(),
        };
        block(|| self.store.complete_round(&completion))?;
        self.params = next;
        self.version = v;
        let mx = &self.shared.metrics;
        mx.inc_rounds_completed();
        mx.set_round_contributors(report.contributors.len() as u64);
        mx.set_dropouts(report.dropped_clients as u64);
        mx.set_epsilon_spent(self.epsilon);
        if let Some(m) = m {
            mx.set_model_quality(m.accuracy, m.loss);
        }
        mx.set_phase(Phase::Collect, report.time.train_s);
        mx.set_phase(Phase::Aggregate, report.time.aggregate_s);
        mx.set_phase(Phase::Decrypt, report.time.decrypt_s);
        mx.set_phase(Phase::Evaluate, report.time.evaluate_s);
        mx.set_phase(Phase::Round, report.time.round_s);
        let _ = self.notices.send(ServerNotice::RoundDone(Box::new(report)));
        Ok(Step::Next)
    }

    /// Records the round in the privacy ledger; returns ε spent so far.
    fn account(&mut self, round: u64, n: u64) -> Result<f64, ServerError> {
        if let (Some(b), Some(p)) = (self.budget.as_mut(), &self.plan.plan) {
            let rec = RoundRecord {
                round,
                expected_contributors: self.opts.min_clients as u64,
                decrypted_contributors: n,
                colluders: 0,
                noise_sigma2: Some(p.noise_sigma2),
                mechanism: Mechanism::DdGauss(p.round(n)?),
            };
            let json = serde_json::to_vec(&rec).map_err(|e| ServerError::Record(e.to_string()))?;
            self.epsilon = b.record(rec)?.epsilon;
            self.last_ledger = Some(json);
        }
        Ok(self.epsilon)
    }

    async fn fail(
        &mut self,
        round: u64,
        why: &str,
        rec: &RoundRecordFile,
        mut time: PhaseTimes,
        t_round: Instant,
    ) -> Result<Step, ServerError> {
        tracing::warn!("round {round} failed: {why}");
        block(|| self.store.fail_round(round, unix_ms(), why))?;
        self.shared.metrics.inc_rounds_failed();
        time.round_s = t_round.elapsed().as_secs_f64();
        let report = RoundReport {
            round: round as usize,
            accuracy: f64::NAN,
            loss: f64::NAN,
            epsilon: self.epsilon,
            sampled: rec.invited.len(),
            contributors: vec![],
            dropped_clients: rec.invited.len(),
            unavailable_members: 0,
            decryption_requests: 0,
            failed: Some(why.into()),
            bytes_uploaded_per_client: 0.0,
            suspected_wraps: 0,
            time,
        };
        let _ = self.notices.send(ServerNotice::RoundDone(Box::new(report)));
        Ok(Step::Next)
    }
}

/// The aggregate digest a decryption-share frame answers, from its request id.
fn share_digest(frame: &[u8], requests: &BTreeMap<u64, [u8; 32]>) -> Option<[u8; 32]> {
    match Message::decode(frame, &Limits::DEFAULT).ok()? {
        Message::DecryptShare(s) => requests.get(&s.request.0).copied(),
        _ => None,
    }
}
