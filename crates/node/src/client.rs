//! Clients and committee members over QUIC (`fedhe client`, `fedhe
//! committee`).
//!
//! Both connect to the server, authenticate it (a `server` certificate of
//! the federation, for the server id on the roster), and keep reconnecting
//! with backoff when the connection drops, so a restarted server finds its
//! clients again.
//!
//! A **client** runs one [`ClientRound`] per round: it trains on its local
//! data when a round opens for it, DP-encodes, encrypts and signs the
//! update, and keeps the submission's frame until the server's signed
//! receipt arrives; if the server restarts before the receipt, the same
//! frame goes out again when the round is reopened (the server takes it
//! once).
//!
//! A **committee member** runs one [`CommitteeMember`] for the life of its
//! key. Before its share leaves, the aggregate it answers is written to its
//! own SQLite store, so a restarted member keeps refusing every ciphertext
//! it has already decrypted, and its decryption budget survives restarts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fedhe_he::{DecryptionBudget, KeyShare};
use fedhe_keys::pki::Role;
use fedhe_learn::{ModelSpec, Samples, TrainConfig, local_train};
use fedhe_protocols::round::{
    ClientEvent, ClientRound, CommitteeMember, EncoderCache, Identity, MemberEvent, MemberPolicy,
};
use fedhe_protocols::{Digest, Limits, Message, RoundId, SigningKey};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tokio::sync::{mpsc, watch};

use crate::federation::Federation;
use crate::store::Store;
use crate::tls::{self, Credentials, TransportLimits};
use crate::wire;

/// Errors of a client or member.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A setting.
    #[error("{0}")]
    Config(String),
    /// TLS set-up.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The local endpoint.
    #[error("QUIC endpoint: {0}")]
    Endpoint(std::io::Error),
    /// Storage.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A state machine refused a host call.
    #[error(transparent)]
    Round(#[from] fedhe_protocols::round::RoundError),
    /// Wire encoding.
    #[error(transparent)]
    Protocol(#[from] fedhe_protocols::Error),
    /// Training.
    #[error(transparent)]
    Learn(#[from] fedhe_learn::Error),
    /// The server is not who the roster says.
    #[error("the server's certificate: {0}")]
    ServerIdentity(String),
    /// Operating-system randomness.
    #[error("operating system randomness: {0}")]
    Rng(String),
}

fn os_rng() -> Result<ChaCha20Rng, ClientError> {
    ChaCha20Rng::try_from_rng(&mut rand::rngs::SysRng).map_err(|e| ClientError::Rng(e.to_string()))
}

fn unix_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Where and how to reach the server.
#[derive(Debug, Clone)]
pub struct Connect {
    /// Its address.
    pub addr: SocketAddr,
    /// The DNS name in its certificate.
    pub name: String,
    /// Idle timeout.
    pub idle_timeout: Duration,
    /// Give up after this many failed connection attempts in a row (None:
    /// never).
    pub max_attempts: Option<u32>,
}

/// What a client or member reports to its host.
#[derive(Debug, Clone)]
pub enum PeerNotice {
    /// Connected (again).
    Connected,
    /// A submission was receipted.
    Receipted {
        /// Round.
        round: u64,
    },
    /// A round's result arrived.
    Result {
        /// Round.
        round: u64,
        /// New model version.
        version: u64,
    },
    /// The member released a share.
    ShareReleased {
        /// Round.
        round: u64,
    },
    /// Something was refused (by us or by the server).
    Refused(String),
    /// Disconnected; reconnecting.
    Disconnected(String),
}

/// Connects (again) to the server and checks its identity.
async fn connect(
    endpoint: &quinn::Endpoint,
    cfg: &quinn::ClientConfig,
    fed: &Federation,
    to: &Connect,
) -> Result<quinn::Connection, String> {
    let conn = endpoint
        .connect_with(cfg.clone(), to.addr, &to.name)
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    let p = fed
        .trust
        .identify(
            tls::peer_chain(&conn).as_deref(),
            unix_s(),
            Some(Role::Server),
        )
        .map_err(|e| e.to_string())?;
    if p.id != fed.server.0 {
        conn.close(1u32.into(), b"not the federation's server");
        return Err(format!(
            "participant {} is not the roster's server {}",
            p.id, fed.server.0
        ));
    }
    Ok(conn)
}

/// A client endpoint on an ephemeral port of the server address' family.
pub fn client_endpoint(server: SocketAddr) -> Result<quinn::Endpoint, ClientError> {
    let bind: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let bind = if server.ip().is_loopback() {
        SocketAddr::new(server.ip(), 0)
    } else {
        bind
    };
    quinn::Endpoint::client(bind).map_err(ClientError::Endpoint)
}

/// Runs `session` on a connection, reconnecting with exponential backoff
/// (0.2 s to 5 s) until `stop` or `max_attempts` failures in a row.
async fn reconnecting<F, Fut>(
    endpoint: &quinn::Endpoint,
    cfg: &quinn::ClientConfig,
    fed: &Federation,
    to: &Connect,
    mut stop: watch::Receiver<bool>,
    notices: &mpsc::UnboundedSender<PeerNotice>,
    mut session: F,
) -> Result<(), ClientError>
where
    F: FnMut(quinn::Connection) -> Fut,
    Fut: std::future::Future<Output = Result<(), ClientError>>,
{
    let mut backoff = Duration::from_millis(200);
    let mut failures = 0u32;
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        match connect(endpoint, cfg, fed, to).await {
            Ok(conn) => {
                failures = 0;
                backoff = Duration::from_millis(200);
                let _ = notices.send(PeerNotice::Connected);
                tokio::select! {
                    r = session(conn.clone()) => {
                        r?;
                        if let Some(quinn::ConnectionError::ApplicationClosed(c)) = conn.close_reason()
                            && c.error_code == crate::server::RUN_COMPLETE.into()
                        {
                            return Ok(());
                        }
                        let why = conn.close_reason().map(|r| r.to_string()).unwrap_or_default();
                        let _ = notices.send(PeerNotice::Disconnected(why));
                    }
                    _ = stop.changed() => {
                        conn.close(0u32.into(), b"stopping");
                        return Ok(());
                    }
                }
            }
            Err(e) => {
                failures += 1;
                if to.max_attempts.is_some_and(|m| failures >= m) {
                    return Err(ClientError::Config(format!(
                        "could not connect to {} after {failures} attempts: {e}",
                        to.addr
                    )));
                }
                tracing::debug!("connecting to {}: {e}", to.addr);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return Ok(()),
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

fn transport(idle: Duration) -> TransportLimits {
    TransportLimits {
        max_streams: 16,
        idle_timeout: idle,
        receive_window: TransportLimits::PEER_RECEIVE_WINDOW,
    }
}

/// A client.
#[derive(Debug)]
pub struct ClientOptions {
    /// Federation.
    pub federation: Arc<Federation>,
    /// The server.
    pub connect: Connect,
    /// Client certificate and key (the key signs submissions).
    pub credentials: Credentials,
    /// Local training data.
    pub data: Samples,
    /// Model architecture.
    pub model: ModelSpec,
    /// Local training.
    pub train: TrainConfig,
    /// Seed of local minibatch order (public).
    pub seed: u64,
    /// Simulations only: the probability that this client skips a round
    /// it was invited to (decided from the public seed per round).
    pub dropout: f64,
}

struct Current {
    machine: ClientRound,
    round: u64,
    submission: Option<Arc<Vec<u8>>>,
    receipted: bool,
    done: Option<u64>,
}

/// Runs a client until `stop`.
pub async fn run_client(
    o: ClientOptions,
    encoders: Arc<EncoderCache>,
    stop: watch::Receiver<bool>,
    notices: mpsc::UnboundedSender<PeerNotice>,
    endpoint: quinn::Endpoint,
) -> Result<(), ClientError> {
    let fed = o.federation.clone();
    let cfg = tls::client_config(
        &fed.trust,
        &o.credentials,
        transport(o.connect.idle_timeout),
    )?;
    let me = ClientIdentity {
        seed: o.credentials.signing_seed().clone(),
        id: o.credentials_id()?,
    };
    let state = Arc::new(tokio::sync::Mutex::new(ClientState {
        current: None,
        last_done: None,
    }));
    let o = Arc::new(o);
    reconnecting(
        &endpoint,
        &cfg,
        &fed,
        &o.connect.clone(),
        stop,
        &notices.clone(),
        |conn| {
            let o = o.clone();
            let state = state.clone();
            let notices = notices.clone();
            let encoders = encoders.clone();
            let me = me.clone();
            async move { client_session(conn, o, me, state, encoders, notices).await }
        },
    )
    .await
}

#[derive(Clone)]
struct ClientIdentity {
    seed: zeroize::Zeroizing<[u8; 32]>,
    id: u32,
}

struct ClientState {
    current: Option<Current>,
    last_done: Option<u64>,
}

impl ClientOptions {
    fn credentials_id(&self) -> Result<u32, ClientError> {
        let p = self
            .federation
            .trust
            .identify(
                Some(&[rustls::pki_types::CertificateDer::from(
                    self.credentials.cert_der.clone(),
                )]),
                unix_s(),
                Some(Role::Client),
            )
            .map_err(|e| ClientError::Config(format!("our own certificate: {e}")))?;
        Ok(p.id)
    }
}

fn identity(fed: &Federation, seed: &zeroize::Zeroizing<[u8; 32]>, id: u32) -> Identity {
    Identity {
        federation: fed.id,
        id: fedhe_protocols::ParticipantId(id),
        key: SigningKey::from_seed(seed),
        server: fed.server,
        server_key: fed.server_key,
    }
}

async fn client_session(
    conn: quinn::Connection,
    o: Arc<ClientOptions>,
    me: ClientIdentity,
    state: Arc<tokio::sync::Mutex<ClientState>>,
    encoders: Arc<EncoderCache>,
    notices: mpsc::UnboundedSender<PeerNotice>,
) -> Result<(), ClientError> {
    let fed = o.federation.clone();
    let limits = Limits::DEFAULT;
    while let Ok(mut recv) = conn.accept_uni().await {
        let (_, frame) = match wire::read_frame(&mut recv, &limits).await {
            Ok(f) => f,
            Err(e) => {
                let _ = notices.send(PeerNotice::Refused(format!("from the server: {e}")));
                continue;
            }
        };
        let msg = match Message::decode(&frame, &limits) {
            Ok(m) => m,
            Err(e) => {
                let _ = notices.send(PeerNotice::Refused(format!("from the server: {e}")));
                continue;
            }
        };
        let mut st = state.lock().await;
        if let Message::RoundOpen(open) = &msg {
            let r = open.round.0;
            if let Some(c) = &st.current
                && c.round == r
            {
                // The round reopened after a server restart: our
                // submission again if it was never receipted.
                if !c.receipted
                    && let Some(f) = &c.submission
                {
                    let _ = wire::send_frame(&conn, f).await;
                }
                continue;
            }
            if st.last_done.is_some_and(|d| r <= d) {
                continue;
            }
            let after = st
                .current
                .as_ref()
                .map(|c| c.round)
                .max(st.last_done)
                .map(RoundId);
            st.current = Some(Current {
                machine: ClientRound::new(
                    fed.ctx.clone(),
                    fed.public_key.clone(),
                    identity(&fed, &me.seed, me.id),
                    encoders.clone(),
                    after,
                    os_rng()?,
                ),
                round: r,
                submission: None,
                receipted: false,
                done: None,
            });
        }
        let Some(cur) = st.current.as_mut() else {
            continue;
        };
        // Each frame has its own stream, so the result of the round before
        // can arrive after the next round's open: it is late, not stale,
        // and not worth a refusal to the server.
        if let Message::RoundResult(r) = &msg
            && r.round.0 < cur.round
        {
            tracing::debug!(
                "the result of round {} arrived after round {} opened",
                r.round.0,
                cur.round
            );
            continue;
        }
        cur.machine.handle_message(Instant::now(), fed.server, msg);
        let mut train = None;
        while let Some(e) = cur.machine.poll_event() {
            match e {
                ClientEvent::Train { model, .. } => train = Some(model),
                ClientEvent::Receipted { round } => {
                    cur.receipted = true;
                    let _ = notices.send(PeerNotice::Receipted { round: round.0 });
                }
                ClientEvent::Refused { reason, detail, .. } => {
                    let _ = notices.send(PeerNotice::Refused(format!("{reason:?}: {detail}")));
                }
                ClientEvent::Result(r) => {
                    cur.done = Some(r.round.0);
                    let _ = notices.send(PeerNotice::Result {
                        round: r.round.0,
                        version: r.model_version,
                    });
                }
                _ => {}
            }
        }
        if train.is_some() && o.dropout > 0.0 {
            let mut r = fedhe_learn::rng::stream(o.seed, 0xd207, cur.round, u64::from(me.id));
            if rand::RngExt::random_bool(&mut r, o.dropout.clamp(0.0, 1.0)) {
                train = None;
            }
        }
        if let Some(model) = train {
            // Train and encrypt off the async threads.
            let o2 = o.clone();
            let round = cur.round;
            let me_id = me.id;
            let params = model.parameters;
            let update = tokio::task::spawn_blocking(move || {
                local_train(
                    &o2.model,
                    &params,
                    &o2.data,
                    &o2.train,
                    fedhe_learn::client_seed(o2.seed, round as usize, me_id as usize),
                )
                .map(|u| u.delta)
            })
            .await
            .map_err(|e| ClientError::Config(format!("training task: {e}")))??;
            let mut machine = std::mem::replace(
                &mut cur.machine,
                ClientRound::new(
                    fed.ctx.clone(),
                    fed.public_key.clone(),
                    identity(&fed, &me.seed, me.id),
                    encoders.clone(),
                    None,
                    os_rng()?,
                ),
            );
            let machine = tokio::task::spawn_blocking(move || {
                machine
                    .submit_update(Instant::now(), &update)
                    .map(|()| machine)
            })
            .await
            .map_err(|e| ClientError::Config(format!("encryption task: {e}")))??;
            cur.machine = machine;
            while cur.machine.poll_event().is_some() {}
        }
        while let Some(t) = cur.machine.poll_transmit() {
            let f = Arc::new(t.message.encode()?);
            if matches!(t.message, Message::Submission(_)) {
                cur.submission = Some(f.clone());
            }
            let _ = wire::send_frame(&conn, &f).await;
        }
        if let Some(done) = cur.done {
            st.last_done = Some(done);
        }
    }
    Ok(())
}

/// A committee member.
#[derive(Debug)]
pub struct MemberOptions {
    /// Federation.
    pub federation: Arc<Federation>,
    /// The server.
    pub connect: Connect,
    /// Committee certificate and key (the member's ceremony key).
    pub credentials: Credentials,
    /// The member's key share.
    pub share: KeyShare,
    /// Its policy.
    pub policy: MemberPolicy,
    /// Directory of its store.
    pub data_dir: PathBuf,
    /// Simulations only: the probability that the member ignores a
    /// decryption request (a member that vanishes).
    pub vanish: f64,
}

/// Key of the stored decryption budget.
const BUDGET_KEY: &str = "decryption_budget_used";

/// Runs a committee member until `stop`.
pub async fn run_member(
    o: MemberOptions,
    stop: watch::Receiver<bool>,
    notices: mpsc::UnboundedSender<PeerNotice>,
    endpoint: quinn::Endpoint,
) -> Result<(), ClientError> {
    let fed = o.federation.clone();
    let p = fed
        .trust
        .identify(
            Some(&[rustls::pki_types::CertificateDer::from(
                o.credentials.cert_der.clone(),
            )]),
            unix_s(),
            Some(Role::Committee),
        )
        .map_err(|e| ClientError::Config(format!("our own certificate: {e}")))?;
    let index = fed
        .roster
        .member_index(fedhe_protocols::ParticipantId(p.id))
        .ok_or_else(|| {
            ClientError::Config(format!("participant {} is not in the committee", p.id))
        })?;
    if index != o.share.member().get() {
        return Err(ClientError::Config(format!(
            "the key share is member {}'s, the transcript gives participant {} index {index}",
            o.share.member().get(),
            p.id
        )));
    }
    std::fs::create_dir_all(&o.data_dir).map_err(|e| {
        ClientError::Config(format!("data directory {}: {e}", o.data_dir.display()))
    })?;
    let store = Store::open(&o.data_dir.join(crate::store::DB_FILE))?;
    let answered: Vec<(RoundId, Digest)> = store
        .answered()?
        .into_iter()
        .map(|(r, d)| (RoundId(r), d as Digest))
        .collect();
    let used = store.meta_u64(BUDGET_KEY)?.unwrap_or(0);
    let machine = CommitteeMember::new(
        fed.ctx.clone(),
        o.share,
        fed.public_key.digest(),
        identity(&fed, o.credentials.signing_seed(), p.id),
        fed.roster.clone(),
        o.policy,
        answered,
        DecryptionBudget::with_used(&fed.ctx, used),
        os_rng()?,
    );
    let cfg = tls::client_config(
        &fed.trust,
        &o.credentials,
        transport(o.connect.idle_timeout),
    )?;
    let state = Arc::new(tokio::sync::Mutex::new((machine, store)));
    let fed2 = fed.clone();
    let vanish = o.vanish.clamp(0.0, 1.0);
    reconnecting(
        &endpoint,
        &cfg,
        &fed,
        &o.connect,
        stop,
        &notices.clone(),
        |conn| {
            let state = state.clone();
            let notices = notices.clone();
            let fed = fed2.clone();
            async move { member_session(conn, fed, state, notices, vanish).await }
        },
    )
    .await
}

async fn member_session(
    conn: quinn::Connection,
    fed: Arc<Federation>,
    state: Arc<tokio::sync::Mutex<(CommitteeMember, Store)>>,
    notices: mpsc::UnboundedSender<PeerNotice>,
    vanish: f64,
) -> Result<(), ClientError> {
    let limits = Limits::DEFAULT;
    let mut rng = os_rng()?;
    while let Ok(mut recv) = conn.accept_uni().await {
        let (kind, frame) = match wire::read_frame(&mut recv, &limits).await {
            Ok(f) => f,
            Err(e) => {
                let _ = notices.send(PeerNotice::Refused(format!("from the server: {e}")));
                continue;
            }
        };
        if kind == fedhe_protocols::Kind::DecryptRequest
            && vanish > 0.0
            && rand::RngExt::random_bool(&mut rng, vanish)
        {
            continue;
        }
        let state = state.clone();
        let server = fed.server;
        // Partial decryption is CPU work: off the async threads.
        let (out, events) = tokio::task::spawn_blocking(move || {
            let mut g = state.blocking_lock();
            let (machine, store) = &mut *g;
            machine.handle_frame(Instant::now(), server, &frame);
            let mut events = Vec::new();
            while let Some(e) = machine.poll_event() {
                if let MemberEvent::PersistAnswered {
                    round,
                    aggregate_digest,
                    budget_used,
                    ..
                } = &e
                {
                    // Durable before the share can leave.
                    let at = unix_s() * 1000;
                    store.record_answered(round.0, *aggregate_digest, at)?;
                    store.set_meta_u64(BUDGET_KEY, *budget_used)?;
                    machine.persisted(aggregate_digest);
                }
                events.push(e);
            }
            while let Some(e) = machine.poll_event() {
                events.push(e);
            }
            let mut out = Vec::new();
            while let Some(t) = machine.poll_transmit() {
                out.push(t.message.encode()?);
            }
            Ok::<_, ClientError>((out, events))
        })
        .await
        .map_err(|e| ClientError::Config(format!("decryption task: {e}")))??;
        for e in events {
            match e {
                MemberEvent::ShareReleased { round, .. } => {
                    let _ = notices.send(PeerNotice::ShareReleased { round: round.0 });
                }
                MemberEvent::Refused { reason, detail, .. } => {
                    let _ = notices.send(PeerNotice::Refused(format!("{reason:?}: {detail}")));
                }
                _ => {}
            }
        }
        for f in out {
            let _ = wire::send_frame(&conn, &f).await;
        }
    }
    Ok(())
}
