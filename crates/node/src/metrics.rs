//! Operational metrics of a fedhe server, in the Prometheus text exposition
//! format 0.0.4, and a minimal loopback HTTP endpoint serving them.
//!
//! [`Metrics`] is a cheaply clonable handle (an `Arc` of atomics) that the
//! runtime updates from any task or thread; [`Metrics::render`] produces
//! the text exposition and [`Metrics::snapshot`] a JSON object for the run
//! report. Floating-point gauges are `f64` bit patterns in `AtomicU64`s.
//!
//! Labelled series take `&'static str` label values, so their cardinality
//! is bounded by the program text; the reasons in [`refuse`] and
//! [`conn_refuse`] are pre-registered (exported as 0 from the start).
//!
//! [`serve_metrics`] serves `GET /metrics` on a loopback address only,
//! with hand-written HTTP/1.1 parsing of the request line: requests larger
//! than 8 KiB or connections slower than 5 s are closed, at most 16
//! connections are handled at once (further ones wait in the listen
//! backlog).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// Reasons for `fedhe_submissions_refused_total{reason}`.
pub mod refuse {
    /// A second submission of a sender in the round.
    pub const DUPLICATE: &str = "duplicate";
    /// A submission for a round that is not the open one.
    pub const WRONG_ROUND: &str = "wrong_round";
    /// A submission after collection closed.
    pub const CLOSED: &str = "closed";
    /// A frame that does not decode or fails its checks.
    pub const MALFORMED: &str = "malformed";
    /// A sender that is not on the roster or not sampled.
    pub const UNAUTHORIZED: &str = "unauthorized";
    /// The server is at its in-flight limit.
    pub const OVERLOADED: &str = "overloaded";
    /// The store refused or failed to persist it.
    pub const STORAGE: &str = "storage";
    /// All reasons, pre-registered at zero.
    pub const ALL: [&str; 7] = [
        DUPLICATE,
        WRONG_ROUND,
        CLOSED,
        MALFORMED,
        UNAUTHORIZED,
        OVERLOADED,
        STORAGE,
    ];
}

/// Reasons for `fedhe_connections_refused_total{reason}`.
pub mod conn_refuse {
    /// TLS handshake or certificate validation failed.
    pub const TLS: &str = "tls";
    /// The peer is revoked or not on the roster.
    pub const REVOKED: &str = "revoked";
    /// Too many connections.
    pub const LIMIT: &str = "limit";
    /// Protocol violation (bad version, bad first frame, …).
    pub const PROTOCOL: &str = "protocol";
    /// All reasons, pre-registered at zero.
    pub const ALL: [&str; 4] = [TLS, REVOKED, LIMIT, PROTOCOL];
}

/// Phases of a round timed by `fedhe_phase_seconds{phase}` (last round).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    Collect,
    Aggregate,
    Decrypt,
    Decode,
    Evaluate,
    /// The whole round.
    Round,
}

impl Phase {
    /// All phases in exposition order.
    pub const ALL: [Phase; 6] = [
        Phase::Collect,
        Phase::Aggregate,
        Phase::Decrypt,
        Phase::Decode,
        Phase::Evaluate,
        Phase::Round,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Collect => "collect",
            Phase::Aggregate => "aggregate",
            Phase::Decrypt => "decrypt",
            Phase::Decode => "decode",
            Phase::Evaluate => "evaluate",
            Phase::Round => "round",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// An `f64` gauge stored as bits.
#[derive(Debug)]
struct F64Gauge(AtomicU64);

impl F64Gauge {
    fn new(v: f64) -> F64Gauge {
        F64Gauge(AtomicU64::new(v.to_bits()))
    }
    fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }
    fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

#[derive(Debug)]
struct Inner {
    submissions_accepted: AtomicU64,
    submissions_refused: Mutex<BTreeMap<&'static str, u64>>,
    rounds_completed: AtomicU64,
    rounds_failed: AtomicU64,
    decryption_requests: AtomicU64,
    bytes_received: AtomicU64,
    connections_refused: Mutex<BTreeMap<&'static str, u64>>,
    round: AtomicU64,
    round_contributors: AtomicU64,
    epsilon_spent: F64Gauge,
    model_accuracy: F64Gauge,
    model_loss: F64Gauge,
    inflight_submissions: AtomicI64,
    connected_peers: AtomicI64,
    dropouts: AtomicU64,
    phases: [F64Gauge; 6],
}

/// The metrics registry. Clones share the same values.
#[derive(Debug, Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Decrements on drop; see [`Metrics::inflight_guard`] and [`Metrics::peer_guard`].
#[derive(Debug)]
#[must_use = "the gauge is decremented when the guard is dropped"]
pub struct GaugeGuard {
    metrics: Metrics,
    peers: bool,
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        let g = if self.peers {
            &self.metrics.inner.connected_peers
        } else {
            &self.metrics.inner.inflight_submissions
        };
        g.fetch_sub(1, Ordering::Relaxed);
    }
}

type Labelled = BTreeMap<&'static str, u64>;

fn lock<'a>(m: &'a Mutex<Labelled>) -> std::sync::MutexGuard<'a, Labelled> {
    // The map holds plain counters: a panic elsewhere cannot leave it inconsistent.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn preset(labels: &[&'static str]) -> Mutex<BTreeMap<&'static str, u64>> {
    Mutex::new(labels.iter().map(|l| (*l, 0)).collect())
}

/// A sample value in the exposition format (`NaN`, `+Inf`, `-Inf` spelled as Prometheus expects).
fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

fn json_f64(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// Escapes a label value (backslash, double quote, newline).
fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

impl Metrics {
    /// A registry with every counter at 0, gauges at 0 and the model
    /// accuracy/loss and phase timings unknown (NaN).
    pub fn new() -> Metrics {
        Metrics {
            inner: Arc::new(Inner {
                submissions_accepted: AtomicU64::new(0),
                submissions_refused: preset(&refuse::ALL),
                rounds_completed: AtomicU64::new(0),
                rounds_failed: AtomicU64::new(0),
                decryption_requests: AtomicU64::new(0),
                bytes_received: AtomicU64::new(0),
                connections_refused: preset(&conn_refuse::ALL),
                round: AtomicU64::new(0),
                round_contributors: AtomicU64::new(0),
                epsilon_spent: F64Gauge::new(0.0),
                model_accuracy: F64Gauge::new(f64::NAN),
                model_loss: F64Gauge::new(f64::NAN),
                inflight_submissions: AtomicI64::new(0),
                connected_peers: AtomicI64::new(0),
                dropouts: AtomicU64::new(0),
                phases: std::array::from_fn(|_| F64Gauge::new(f64::NAN)),
            }),
        }
    }

    // ---------------------------------------------------------------- counters

    /// A submission was accepted (after it was stored).
    pub fn inc_accepted(&self) {
        self.inner
            .submissions_accepted
            .fetch_add(1, Ordering::Relaxed);
    }

    /// A submission was refused; `reason` is normally one of [`refuse`].
    pub fn inc_refused(&self, reason: &'static str) {
        *lock(&self.inner.submissions_refused)
            .entry(reason)
            .or_insert(0) += 1;
    }

    /// A round completed.
    pub fn inc_rounds_completed(&self) {
        self.inner.rounds_completed.fetch_add(1, Ordering::Relaxed);
    }

    /// A round failed.
    pub fn inc_rounds_failed(&self) {
        self.inner.rounds_failed.fetch_add(1, Ordering::Relaxed);
    }

    /// A decryption request was sent to a committee member.
    pub fn inc_decryption_requests(&self) {
        self.inner
            .decryption_requests
            .fetch_add(1, Ordering::Relaxed);
    }

    /// `n` bytes were received from peers.
    pub fn add_bytes_received(&self, n: u64) {
        self.inner.bytes_received.fetch_add(n, Ordering::Relaxed);
    }

    /// A connection was refused; `reason` is normally one of [`conn_refuse`].
    pub fn inc_connections_refused(&self, reason: &'static str) {
        *lock(&self.inner.connections_refused)
            .entry(reason)
            .or_insert(0) += 1;
    }

    // ---------------------------------------------------------------- gauges

    /// The current round id.
    pub fn set_round(&self, round: u64) {
        self.inner.round.store(round, Ordering::Relaxed);
    }

    /// Contributors (accepted submissions) of the current or last round.
    pub fn set_round_contributors(&self, n: u64) {
        self.inner.round_contributors.store(n, Ordering::Relaxed);
    }

    /// Cumulative ε spent.
    pub fn set_epsilon_spent(&self, eps: f64) {
        self.inner.epsilon_spent.set(eps);
    }

    /// Accuracy and loss of the latest model (NaN for unknown).
    pub fn set_model_quality(&self, accuracy: f64, loss: f64) {
        self.inner.model_accuracy.set(accuracy);
        self.inner.model_loss.set(loss);
    }

    /// Sampled clients that did not contribute to the last round.
    pub fn set_dropouts(&self, n: u64) {
        self.inner.dropouts.store(n, Ordering::Relaxed);
    }

    /// Duration of `phase` in the last round, in seconds.
    pub fn set_phase(&self, phase: Phase, secs: f64) {
        self.inner.phases[phase.index()].set(secs);
    }

    /// Counts one in-flight submission until the guard is dropped.
    pub fn inflight_guard(&self) -> GaugeGuard {
        self.inner
            .inflight_submissions
            .fetch_add(1, Ordering::Relaxed);
        GaugeGuard {
            metrics: self.clone(),
            peers: false,
        }
    }

    /// Counts one connected peer until the guard is dropped.
    pub fn peer_guard(&self) -> GaugeGuard {
        self.inner.connected_peers.fetch_add(1, Ordering::Relaxed);
        GaugeGuard {
            metrics: self.clone(),
            peers: true,
        }
    }

    // ---------------------------------------------------------------- reading

    /// Submissions accepted so far.
    pub fn submissions_accepted(&self) -> u64 {
        self.inner.submissions_accepted.load(Ordering::Relaxed)
    }

    /// Submissions refused so far for `reason`.
    pub fn submissions_refused(&self, reason: &str) -> u64 {
        lock(&self.inner.submissions_refused)
            .get(reason)
            .copied()
            .unwrap_or(0)
    }

    /// Connected peers now.
    pub fn connected_peers(&self) -> i64 {
        self.inner.connected_peers.load(Ordering::Relaxed)
    }

    /// In-flight submissions now.
    pub fn inflight_submissions(&self) -> i64 {
        self.inner.inflight_submissions.load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let i = &*self.inner;
        let ld = |a: &AtomicU64| a.load(Ordering::Relaxed).to_string();
        let ldi = |a: &AtomicI64| a.load(Ordering::Relaxed).to_string();
        let mut out = String::with_capacity(4096);
        let head = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
        };
        let simple = |out: &mut String, name: &str, kind: &str, help: &str, v: String| {
            head(out, name, kind, help);
            let _ = writeln!(out, "{name} {v}");
        };
        simple(
            &mut out,
            "fedhe_submissions_accepted_total",
            "counter",
            "Client submissions accepted and stored durably.",
            ld(&i.submissions_accepted),
        );
        labelled(
            &mut out,
            "fedhe_submissions_refused_total",
            "Client submissions refused, by reason.",
            "reason",
            &lock(&i.submissions_refused),
        );
        simple(
            &mut out,
            "fedhe_rounds_completed_total",
            "counter",
            "Rounds completed with a new model.",
            ld(&i.rounds_completed),
        );
        simple(
            &mut out,
            "fedhe_rounds_failed_total",
            "counter",
            "Rounds that failed.",
            ld(&i.rounds_failed),
        );
        simple(
            &mut out,
            "fedhe_decryption_requests_total",
            "counter",
            "Decryption requests sent to committee members.",
            ld(&i.decryption_requests),
        );
        simple(
            &mut out,
            "fedhe_bytes_received_total",
            "counter",
            "Bytes received from peers.",
            ld(&i.bytes_received),
        );
        labelled(
            &mut out,
            "fedhe_connections_refused_total",
            "Connections refused, by reason.",
            "reason",
            &lock(&i.connections_refused),
        );
        simple(
            &mut out,
            "fedhe_round",
            "gauge",
            "Current round id.",
            ld(&i.round),
        );
        simple(
            &mut out,
            "fedhe_round_contributors",
            "gauge",
            "Contributors of the current or last round.",
            ld(&i.round_contributors),
        );
        simple(
            &mut out,
            "fedhe_epsilon_spent",
            "gauge",
            "Cumulative differential-privacy epsilon spent.",
            fmt_f64(i.epsilon_spent.get()),
        );
        simple(
            &mut out,
            "fedhe_model_accuracy",
            "gauge",
            "Test accuracy of the latest model (NaN if unknown).",
            fmt_f64(i.model_accuracy.get()),
        );
        simple(
            &mut out,
            "fedhe_model_loss",
            "gauge",
            "Test loss of the latest model (NaN if unknown).",
            fmt_f64(i.model_loss.get()),
        );
        simple(
            &mut out,
            "fedhe_inflight_submissions",
            "gauge",
            "Submissions being received or stored now.",
            ldi(&i.inflight_submissions),
        );
        simple(
            &mut out,
            "fedhe_connected_peers",
            "gauge",
            "Peers connected now.",
            ldi(&i.connected_peers),
        );
        simple(
            &mut out,
            "fedhe_dropouts",
            "gauge",
            "Sampled clients that did not contribute to the last round.",
            ld(&i.dropouts),
        );
        head(
            &mut out,
            "fedhe_phase_seconds",
            "gauge",
            "Duration of each phase of the last round in seconds (NaN if not yet measured).",
        );
        for p in Phase::ALL {
            let _ = writeln!(
                out,
                "fedhe_phase_seconds{{phase=\"{}\"}} {}",
                p.as_str(),
                fmt_f64(i.phases[p.index()].get())
            );
        }
        out
    }

    /// All values as a JSON object (NaN becomes `null`), for the run report.
    pub fn snapshot(&self) -> Value {
        let i = &*self.inner;
        let ld = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let refused: serde_json::Map<String, Value> = lock(&i.submissions_refused)
            .iter()
            .map(|(k, v)| ((*k).to_string(), json!(v)))
            .collect();
        let conn: serde_json::Map<String, Value> = lock(&i.connections_refused)
            .iter()
            .map(|(k, v)| ((*k).to_string(), json!(v)))
            .collect();
        let phases: serde_json::Map<String, Value> = Phase::ALL
            .iter()
            .map(|p| (p.as_str().to_string(), json_f64(i.phases[p.index()].get())))
            .collect();
        json!({
            "submissions_accepted_total": ld(&i.submissions_accepted),
            "submissions_refused_total": refused,
            "rounds_completed_total": ld(&i.rounds_completed),
            "rounds_failed_total": ld(&i.rounds_failed),
            "decryption_requests_total": ld(&i.decryption_requests),
            "bytes_received_total": ld(&i.bytes_received),
            "connections_refused_total": conn,
            "round": ld(&i.round),
            "round_contributors": ld(&i.round_contributors),
            "epsilon_spent": json_f64(i.epsilon_spent.get()),
            "model_accuracy": json_f64(i.model_accuracy.get()),
            "model_loss": json_f64(i.model_loss.get()),
            "inflight_submissions": i.inflight_submissions.load(Ordering::Relaxed),
            "connected_peers": i.connected_peers.load(Ordering::Relaxed),
            "dropouts": ld(&i.dropouts),
            "phase_seconds": phases,
        })
    }
}

fn labelled(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    values: &BTreeMap<&'static str, u64>,
) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} counter");
    for (k, v) in values {
        let _ = writeln!(out, "{name}{{{label}=\"{}\"}} {v}", escape_label(k));
    }
}

/// Largest request (line and headers) the endpoint reads.
const MAX_REQUEST: usize = 8 * 1024;
/// Longest a connection may take, from accept to the last byte written.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections handled at once.
const MAX_CONNECTIONS: usize = 16;

/// Serves `GET /metrics` on `addr`, which must be a loopback address (any
/// other is refused with [`std::io::ErrorKind::InvalidInput`]). Returns the
/// bound address (useful with port 0) and the accept loop's task; abort it
/// to stop serving.
pub async fn serve_metrics(
    addr: SocketAddr,
    metrics: Metrics,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    if !addr.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("metrics address {addr} is not a loopback address"),
        ));
    }
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let handle = tokio::spawn(async move {
        loop {
            // Waiting for a slot before accepting leaves excess connections in the backlog.
            let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            let stream = match listener.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics endpoint: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let m = metrics.clone();
            tokio::spawn(async move {
                let _permit = permit;
                if tokio::time::timeout(CONNECTION_TIMEOUT, handle_connection(stream, &m))
                    .await
                    .is_err()
                {
                    tracing::debug!("metrics endpoint: connection timed out");
                }
            });
        }
    });
    Ok((local, handle))
}

async fn handle_connection(mut stream: TcpStream, metrics: &Metrics) {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        if let Some(pos) = find(&buf, b"\r\n\r\n") {
            break pos;
        }
        if buf.len() > MAX_REQUEST {
            return; // too large: close
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    if head_end > MAX_REQUEST {
        return;
    }
    let line_end = find(&buf, b"\r\n").unwrap_or(head_end);
    let (status, body) = match std::str::from_utf8(&buf[..line_end]) {
        Ok(line) => route(line, metrics),
        Err(_) => ("400 Bad Request", "bad request\n".to_string()),
    };
    let content_type = if status.starts_with("200") {
        "text/plain; version=0.0.4; charset=utf-8"
    } else {
        "text/plain; charset=utf-8"
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(response.as_bytes()).await.is_ok() {
        let _ = stream.shutdown().await;
    }
}

fn route(line: &str, metrics: &Metrics) -> (&'static str, String) {
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return ("400 Bad Request", "bad request\n".into());
    };
    if !version.starts_with("HTTP/1.") {
        return ("400 Bad Request", "bad request\n".into());
    }
    let path = target.split('?').next().unwrap_or(target);
    if method == "GET" && path == "/metrics" {
        ("200 OK", metrics.render())
    } else {
        ("404 Not Found", "not found\n".into())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
