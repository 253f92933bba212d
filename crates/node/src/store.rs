//! Durable state of a fedhe node in one SQLite file ([`DB_FILE`] in the
//! node's data directory).
//!
//! # What is stored
//!
//! | table         | contents                                                                 |
//! |---------------|--------------------------------------------------------------------------|
//! | `rounds`      | every round ever opened: id, start time, the runtime's encoded round record, collection-close time, outcome (`open`, `completed`, `failed`), summary JSON or failure reason |
//! | `submissions` | the accepted client frames of the open round, in acceptance order, at most one per sender; deleted when the round completes or fails |
//! | `shares`      | decryption-share frames the server received for the open round; deleted with the submissions |
//! | `models`      | the model registry: version, parent, producing round, BLAKE3 digest, creation time, cumulative ε, metrics and hyperparameter JSON, the parameters as a little-endian `f32` blob |
//! | `ledger`      | the privacy ledger: one JSON record per completed round that spent privacy |
//! | `answered`    | (committee member stores) the `(round, aggregate digest)` pairs this member answered |
//! | `meta`        | named `u64` counters of the runtime (e.g. a member's decryption budget used) |
//! | `audit`       | an append-only hash chain of every state change |
//!
//! Frames, round records and ledger entries are opaque bytes encoded by the
//! runtime; the store never interprets them. The JSON *text* columns
//! (`metrics_json`, `hyperparams_json`, `summary_json`) are checked to be
//! JSON on write because readers (the CLI) parse them.
//!
//! # Durability
//!
//! The database runs with `journal_mode=WAL` and `synchronous=FULL`: every
//! commit appends to the write-ahead log and fsyncs it before `COMMIT`
//! returns (with `synchronous=NORMAL` a WAL commit could be lost on power
//! failure; `FULL` closes that gap). Every write method of [`Store`] is
//! exactly one `BEGIN IMMEDIATE … COMMIT` transaction, and returns `Ok` only
//! after the commit. A runtime that acknowledges a submission (or answers a
//! decryption request) only after the corresponding method returned `Ok`
//! therefore never acknowledges state a crash could lose, and an error
//! leaves the database exactly as before the call (the transaction is
//! rolled back). Completing a round — storing the model, appending the
//! ledger entry, marking the round, deleting its frames and appending the
//! audit entry — is one transaction, so a crash leaves either all of it or
//! none of it.
//!
//! # Encodings
//!
//! Integers are little-endian; `u64` values must fit in SQLite's signed
//! 64-bit integers (larger values are refused with
//! [`StoreError::OutOfRange`]).
//!
//! **Model digest** ([`model_params_digest`]):
//! `BLAKE3(b"fedhe model v1" || version: u64 LE || n_params: u64 LE || params as f32 LE bytes)`.
//! It is stored with the model and verified on every read of the
//! parameters ([`Store::model`], [`Store::latest_model`]).
//!
//! **Audit chain** ([`audit_entry_hash`]): entry `seq` (1, 2, …) stores
//! `prev` (the hash of entry `seq - 1`, 32 zero bytes for the first entry)
//! and
//! `hash = BLAKE3(b"fedhe audit v1" || seq: u64 LE || at_ms: i64 LE || len(kind): u64 LE || kind || len(payload): u64 LE || payload || prev)`
//! where `kind` and `payload` are the stored UTF-8 texts (the payload is
//! compact JSON). Triggers abort any `UPDATE` or `DELETE` of audit rows, so
//! the log is append-only for anything going through SQLite; someone
//! editing the file directly (or dropping the triggers) can still change
//! it, which [`Store::verify_audit`] detects as a gap in `seq`, a wrong
//! `prev` or a wrong `hash`. Truncating the *tail* of the chain cannot be
//! detected from the file alone: compare the head returned by
//! `verify_audit` with a head recorded elsewhere (e.g. in a run report).
//!
//! Audit entry kinds written by the store: `round_opened`,
//! `submission_accepted` (sender and BLAKE3 digest of the frame, never the
//! frame), `collection_closed`, `share_received`, `round_completed` (model
//! version, digest, ε), `round_failed`, `initial_model`, `answered`, `meta_set`; the
//! runtime may append its own with [`Store::append_audit`].
//!
//! The schema version is SQLite's `user_version` ([`SCHEMA_VERSION`]) and
//! the file is marked with `application_id` [`APPLICATION_ID`]; a file of
//! another application or of a newer schema is refused.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension as _, TransactionBehavior, params};
use serde_json::{Value, json};

/// File name of the store inside a node's data directory.
pub const DB_FILE: &str = "fedhe.sqlite";

/// The schema version this code reads and writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 1;

/// `PRAGMA application_id` of a fedhe store (ASCII "fedh").
pub const APPLICATION_ID: i64 = 0x6665_6468;

/// How long a write waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const MODEL_DOMAIN: &[u8] = b"fedhe model v1";
const AUDIT_DOMAIN: &[u8] = b"fedhe audit v1";

/// Errors of the store. No database content makes the store panic: content
/// it cannot make sense of is reported as [`StoreError::Corrupt`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A filesystem operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The store file does not exist (read-only open never creates one).
    #[error("store {path} does not exist")]
    NotFound { path: PathBuf },
    /// The file is an SQLite database of some other application.
    #[error("{path} is not a fedhe store (application_id {found:#x}, user_version {user_version})")]
    NotAStore {
        path: PathBuf,
        found: i64,
        user_version: i64,
    },
    /// SQLite failed while doing `op`.
    #[error("sqlite error while {op}: {source}")]
    Sqlite {
        op: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    /// The database holds something that cannot be right.
    #[error("store is corrupt: {what}")]
    Corrupt { what: String },
    /// Something asked for does not exist.
    #[error("not found: {what}")]
    Missing { what: String },
    /// The file has a schema this code does not know (e.g. written by a newer version).
    #[error("store schema version {found}, this build reads version {expected}")]
    SchemaVersion { found: i64, expected: i64 },
    /// The audit hash chain does not verify; `seq` is the first bad entry.
    #[error("audit chain broken at entry {seq}: {reason}")]
    AuditBroken { seq: u64, reason: String },
    /// `open_round` while another round is open.
    #[error("round {open} is still open; it must complete or fail before round {requested} opens")]
    RoundAlreadyOpen { open: u64, requested: u64 },
    /// `open_round` with an id not greater than every earlier round's.
    #[error("round {requested} is not greater than the last round {last}")]
    RoundNotIncreasing { requested: u64, last: u64 },
    /// An operation on a round that is not the open one.
    #[error("round {round} is not the open round (open: {open:?})")]
    NotOpenRound { round: u64, open: Option<u64> },
    /// A submission after the round's collection closed.
    #[error("collection of round {round} is closed")]
    CollectionClosed { round: u64 },
    /// A second submission of a sender in a round.
    #[error("sender {sender} already has a submission in round {round}")]
    DuplicateSubmission { round: u64, sender: u32 },
    /// A second identical share of a member for the same aggregate.
    #[error("member {member} already sent a share for this aggregate in round {round}")]
    DuplicateShare { round: u64, member: u32 },
    /// A model version that cannot be added (not increasing, unknown parent, …).
    #[error("model version {version}: {reason}")]
    ModelVersion { version: u64, reason: String },
    /// An argument the store refuses (non-finite ε, text that is not JSON, …).
    #[error("invalid {what}")]
    Invalid { what: String },
    /// A `u64` that does not fit SQLite's signed 64-bit integers.
    #[error("{what} = {value} does not fit a signed 64-bit integer")]
    OutOfRange { what: &'static str, value: u64 },
}

/// Result of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

trait Op<T> {
    fn op(self, op: &'static str) -> Result<T>;
}

impl<T> Op<T> for rusqlite::Result<T> {
    fn op(self, op: &'static str) -> Result<T> {
        self.map_err(|source| StoreError::Sqlite { op, source })
    }
}

fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt { what: what.into() }
}

fn to_i64(value: u64, what: &'static str) -> Result<i64> {
    i64::try_from(value).map_err(|_| StoreError::OutOfRange { what, value })
}

fn to_u64(value: i64, what: &str) -> Result<u64> {
    u64::try_from(value).map_err(|_| corrupt(format!("{what} is negative ({value})")))
}

fn to_u32(value: i64, what: &str) -> Result<u32> {
    u32::try_from(value).map_err(|_| corrupt(format!("{what} is out of range ({value})")))
}

fn to_digest(bytes: &[u8], what: &str) -> Result<[u8; 32]> {
    <[u8; 32]>::try_from(bytes)
        .map_err(|_| corrupt(format!("{what} has {} bytes, not 32", bytes.len())))
}

fn check_json(text: &str, what: &str) -> Result<()> {
    serde_json::from_str::<Value>(text)
        .map(|_| ())
        .map_err(|e| StoreError::Invalid {
            what: format!("{what}: not JSON ({e})"),
        })
}

/// Lower-case hex of bytes (digests in audit payloads and the CLI).
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// BLAKE3 digest of a model's parameters, bound to its version:
/// `BLAKE3(b"fedhe model v1" || version u64 LE || len u64 LE || params f32 LE)`.
pub fn model_params_digest(version: u64, params: &[f32]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(MODEL_DOMAIN);
    h.update(&version.to_le_bytes());
    h.update(&(params.len() as u64).to_le_bytes());
    for p in params {
        h.update(&p.to_le_bytes());
    }
    *h.finalize().as_bytes()
}

/// Hash of one audit entry (see the module docs for the encoding).
pub fn audit_entry_hash(
    seq: u64,
    at_ms: i64,
    kind: &str,
    payload: &str,
    prev: &[u8; 32],
) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(AUDIT_DOMAIN);
    h.update(&seq.to_le_bytes());
    h.update(&at_ms.to_le_bytes());
    h.update(&(kind.len() as u64).to_le_bytes());
    h.update(kind.as_bytes());
    h.update(&(payload.len() as u64).to_le_bytes());
    h.update(payload.as_bytes());
    h.update(prev);
    *h.finalize().as_bytes()
}

/// Milliseconds since the Unix epoch (0 if the clock is before it), for
/// the audit entries of methods that take no time argument.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn params_to_blob(params: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(params.len() * 4);
    for p in params {
        out.extend_from_slice(&p.to_le_bytes());
    }
    out
}

fn blob_to_params(blob: &[u8], n_params: u64, version: u64) -> Result<Vec<f32>> {
    if !blob.len().is_multiple_of(4) || blob.len() as u64 / 4 != n_params {
        return Err(corrupt(format!(
            "model {version}: parameter blob of {} bytes for {n_params} parameters",
            blob.len()
        )));
    }
    Ok(blob
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

const SCHEMA: &str = "
CREATE TABLE rounds (
    round         INTEGER PRIMARY KEY CHECK (round >= 0),
    started_at_ms INTEGER NOT NULL,
    record        BLOB    NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('open', 'completed', 'failed')),
    closed_at_ms  INTEGER,
    ended_at_ms   INTEGER,
    summary_json  TEXT,
    fail_reason   TEXT
);
CREATE UNIQUE INDEX rounds_one_open ON rounds(state) WHERE state = 'open';
CREATE TABLE submissions (
    id     INTEGER PRIMARY KEY,
    round  INTEGER NOT NULL REFERENCES rounds(round),
    sender INTEGER NOT NULL,
    frame  BLOB    NOT NULL,
    UNIQUE (round, sender)
);
CREATE TABLE shares (
    id               INTEGER PRIMARY KEY,
    round            INTEGER NOT NULL REFERENCES rounds(round),
    member           INTEGER NOT NULL,
    aggregate_digest BLOB    NOT NULL,
    frame            BLOB    NOT NULL,
    UNIQUE (round, member, aggregate_digest)
);
CREATE TABLE models (
    version          INTEGER PRIMARY KEY CHECK (version >= 0),
    parent           INTEGER REFERENCES models(version),
    round            INTEGER REFERENCES rounds(round),
    digest           BLOB    NOT NULL,
    created_at_ms    INTEGER NOT NULL,
    epsilon_spent    REAL    NOT NULL,
    metrics_json     TEXT    NOT NULL,
    hyperparams_json TEXT    NOT NULL,
    n_params         INTEGER NOT NULL,
    params           BLOB    NOT NULL
);
CREATE TABLE ledger (
    round INTEGER PRIMARY KEY REFERENCES rounds(round),
    entry BLOB NOT NULL
);
CREATE TABLE answered (
    round            INTEGER NOT NULL,
    aggregate_digest BLOB    NOT NULL,
    at_ms            INTEGER NOT NULL,
    PRIMARY KEY (round, aggregate_digest)
);
CREATE TABLE meta (
    key   TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE audit (
    seq     INTEGER PRIMARY KEY,
    at_ms   INTEGER NOT NULL,
    kind    TEXT    NOT NULL,
    payload TEXT    NOT NULL,
    prev    BLOB    NOT NULL,
    hash    BLOB    NOT NULL
);
";

/// Re-created on every read-write open, so dropping them does not outlive a restart.
const AUDIT_TRIGGERS: &str = "
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
";

const TABLES: [&str; 8] = [
    "rounds",
    "submissions",
    "shares",
    "models",
    "ledger",
    "answered",
    "meta",
    "audit",
];

/// The open (not yet completed or failed) round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRound {
    pub round: u64,
    pub started_at_ms: i64,
    /// The runtime's encoded round parameters, as given to [`Store::open_round`].
    pub record: Vec<u8>,
    /// When collection closed ([`Store::mark_collection_closed`]), if it did.
    pub closed_at_ms: Option<i64>,
}

/// A decryption share received by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredShare {
    pub member: u32,
    pub aggregate_digest: [u8; 32],
    pub frame: Vec<u8>,
}

/// A model version to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewModel {
    pub version: u64,
    pub parent: Option<u64>,
    pub params: Vec<f32>,
    /// JSON object, e.g. `{"accuracy": 0.91, "loss": 0.3}`.
    pub metrics_json: String,
    /// JSON of the hyperparameters that produced the model.
    pub hyperparams_json: String,
}

/// Everything [`Store::complete_round`] writes in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundCompletion {
    pub round: u64,
    pub completed_at_ms: i64,
    pub model: NewModel,
    /// JSON of the DP ledger record of this round (`None` if it spent no privacy).
    pub ledger_entry: Option<Vec<u8>>,
    /// Cumulative ε spent up to and including this round (stored with the model).
    pub epsilon_spent: f64,
    /// JSON summary of the round (kept with the round).
    pub summary_json: String,
}

/// Identifies a stored model version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModelVersionId {
    pub version: u64,
    pub digest: [u8; 32],
}

/// A model version without its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSummary {
    pub version: u64,
    pub parent: Option<u64>,
    /// The round that produced it (`None` for the initial model).
    pub round: Option<u64>,
    pub digest: [u8; 32],
    pub created_at_ms: i64,
    pub epsilon_spent: f64,
    pub metrics_json: String,
    pub hyperparams_json: String,
    pub n_params: u64,
}

/// A model version with its parameters (digest verified).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelVersion {
    pub summary: ModelSummary,
    pub params: Vec<f32>,
}

/// Result of a successful [`Store::verify_audit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditSummary {
    /// Number of entries.
    pub entries: u64,
    /// Hash of the last entry (32 zero bytes for an empty log).
    pub head: [u8; 32],
}

/// One audit entry, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub seq: u64,
    pub at_ms: i64,
    pub kind: String,
    /// Compact JSON text.
    pub payload: String,
    pub prev: [u8; 32],
    pub hash: [u8; 32],
}

/// The node's durable state: one SQLite connection. `Send`, not `Sync`:
/// the async runtime owns it from one blocking thread at a time.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    read_only: bool,
}

type ModelRow = (
    i64,
    Option<i64>,
    Option<i64>,
    Vec<u8>,
    i64,
    f64,
    String,
    String,
    i64,
);

const MODEL_COLUMNS: &str = "version, parent, round, digest, created_at_ms, epsilon_spent, \
     metrics_json, hyperparams_json, n_params";

fn model_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ModelRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

fn model_summary(row: ModelRow) -> Result<ModelSummary> {
    let (version, parent, round, digest, created_at_ms, eps, metrics, hyper, n) = row;
    let version = to_u64(version, "model version")?;
    Ok(ModelSummary {
        version,
        parent: parent.map(|p| to_u64(p, "model parent")).transpose()?,
        round: round.map(|r| to_u64(r, "model round")).transpose()?,
        digest: to_digest(&digest, &format!("digest of model {version}"))?,
        created_at_ms,
        epsilon_spent: eps,
        metrics_json: metrics,
        hyperparams_json: hyper,
        n_params: to_u64(n, "model parameter count")?,
    })
}

/// Appends one audit entry inside the caller's transaction.
fn append_audit_in(conn: &Connection, at_ms: i64, kind: &str, payload: &Value) -> Result<[u8; 32]> {
    let payload = serde_json::to_string(payload).map_err(|e| StoreError::Invalid {
        what: format!("audit payload ({e})"),
    })?;
    let last: Option<(i64, Vec<u8>)> = conn
        .query_row(
            "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .op("reading the audit head")?;
    let (seq, prev) = match last {
        None => (1u64, [0u8; 32]),
        Some((s, h)) => {
            let s = to_u64(s, "audit seq")?;
            let next = s
                .checked_add(1)
                .ok_or_else(|| corrupt("audit seq overflows"))?;
            (next, to_digest(&h, &format!("hash of audit entry {s}"))?)
        }
    };
    let hash = audit_entry_hash(seq, at_ms, kind, &payload, &prev);
    conn.execute(
        "INSERT INTO audit (seq, at_ms, kind, payload, prev, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            to_i64(seq, "audit seq")?,
            at_ms,
            kind,
            payload,
            &prev[..],
            &hash[..]
        ],
    )
    .op("appending an audit entry")?;
    Ok(hash)
}

/// The open round's id and whether its collection closed.
fn open_round_in(conn: &Connection) -> Result<Option<(u64, bool)>> {
    let row: Option<(i64, Option<i64>)> = conn
        .query_row(
            "SELECT round, closed_at_ms FROM rounds WHERE state = 'open'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .op("reading the open round")?;
    row.map(|(r, c)| Ok((to_u64(r, "round id")?, c.is_some())))
        .transpose()
}

fn require_open(conn: &Connection, round: u64) -> Result<bool> {
    match open_round_in(conn)? {
        Some((r, closed)) if r == round => Ok(closed),
        other => Err(StoreError::NotOpenRound {
            round,
            open: other.map(|(r, _)| r),
        }),
    }
}

fn check_model(conn: &Connection, m: &NewModel) -> Result<i64> {
    let version = to_i64(m.version, "model version")?;
    check_json(&m.metrics_json, "metrics_json")?;
    check_json(&m.hyperparams_json, "hyperparams_json")?;
    let max: Option<i64> = conn
        .query_row("SELECT MAX(version) FROM models", [], |r| r.get(0))
        .op("reading the latest model version")?;
    if let Some(max) = max
        && version <= max
    {
        return Err(StoreError::ModelVersion {
            version: m.version,
            reason: format!("not greater than the latest version {max}"),
        });
    }
    if let Some(p) = m.parent {
        let exists: Option<i64> = conn
            .query_row(
                "SELECT version FROM models WHERE version = ?1",
                [to_i64(p, "model parent")?],
                |r| r.get(0),
            )
            .optional()
            .op("looking up the parent model")?;
        if exists.is_none() {
            return Err(StoreError::ModelVersion {
                version: m.version,
                reason: format!("parent version {p} does not exist"),
            });
        }
    }
    Ok(version)
}

fn insert_model(
    conn: &Connection,
    m: &NewModel,
    round: Option<u64>,
    at_ms: i64,
    epsilon_spent: f64,
) -> Result<ModelVersionId> {
    let version = check_model(conn, m)?;
    let digest = model_params_digest(m.version, &m.params);
    conn.execute(
        "INSERT INTO models (version, parent, round, digest, created_at_ms, epsilon_spent, \
         metrics_json, hyperparams_json, n_params, params) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            version,
            m.parent.map(|p| to_i64(p, "model parent")).transpose()?,
            round.map(|r| to_i64(r, "round")).transpose()?,
            &digest[..],
            at_ms,
            epsilon_spent,
            m.metrics_json,
            m.hyperparams_json,
            to_i64(m.params.len() as u64, "parameter count")?,
            params_to_blob(&m.params),
        ],
    )
    .op("inserting a model version")?;
    Ok(ModelVersionId {
        version: m.version,
        digest,
    })
}

/// Deletes the round's submissions and shares; returns how many of each.
fn discard_frames(conn: &Connection, round: i64) -> Result<(usize, usize)> {
    let subs = conn
        .execute("DELETE FROM submissions WHERE round = ?1", [round])
        .op("deleting the round's submissions")?;
    let shares = conn
        .execute("DELETE FROM shares WHERE round = ?1", [round])
        .op("deleting the round's shares")?;
    Ok((subs, shares))
}

impl Store {
    /// Opens (creating if missing, with its parent directory) the store at
    /// `path` for reading and writing, and creates or validates the schema.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                op: "creating directory",
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .op("opening the database")?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .op("setting the busy timeout")?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .op("setting journal_mode=WAL")?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(corrupt(format!(
                "journal_mode could not be set to WAL (got {mode})"
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .op("setting synchronous=FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .op("enabling foreign keys")?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
            read_only: false,
        };
        store.init_schema()?;
        Ok(store)
    }

    /// Opens an existing store read-only (never creates a file).
    pub fn open_read_only(path: &Path) -> Result<Store> {
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() => {}
            Ok(_) => {
                return Err(StoreError::Io {
                    op: "opening",
                    path: path.to_path_buf(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        "not a regular file",
                    ),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound {
                    path: path.to_path_buf(),
                });
            }
            Err(source) => {
                return Err(StoreError::Io {
                    op: "opening",
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .op("opening the database read-only")?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .op("setting the busy timeout")?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
            read_only: true,
        };
        let (app, version) = store.header()?;
        if app != APPLICATION_ID || version == 0 {
            return Err(StoreError::NotAStore {
                path: store.path.clone(),
                found: app,
                user_version: version,
            });
        }
        store.validate(version)?;
        Ok(store)
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this store was opened with [`Store::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn header(&self) -> Result<(i64, i64)> {
        let app: i64 = self
            .conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .op("reading application_id")?;
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .op("reading user_version")?;
        Ok((app, version))
    }

    fn validate(&self, version: i64) -> Result<()> {
        if version != SCHEMA_VERSION {
            return Err(StoreError::SchemaVersion {
                found: version,
                expected: SCHEMA_VERSION,
            });
        }
        for t in TABLES {
            let n: i64 = self
                .conn
                .query_row(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                    [t],
                    |r| r.get(0),
                )
                .op("checking the schema")?;
            if n != 1 {
                return Err(corrupt(format!("table {t} is missing")));
            }
        }
        Ok(())
    }

    fn init_schema(&mut self) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .op("beginning the schema transaction")?;
        let app: i64 = tx
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .op("reading application_id")?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .op("reading user_version")?;
        if app == 0 && version == 0 {
            let objects: i64 = tx
                .query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get(0))
                .op("inspecting the database")?;
            if objects != 0 {
                return Err(StoreError::NotAStore {
                    path: self.path.clone(),
                    found: app,
                    user_version: version,
                });
            }
            tx.execute_batch(SCHEMA).op("creating the schema")?;
            tx.pragma_update(None, "application_id", APPLICATION_ID)
                .op("setting application_id")?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .op("setting user_version")?;
        } else if app != APPLICATION_ID {
            return Err(StoreError::NotAStore {
                path: self.path.clone(),
                found: app,
                user_version: version,
            });
        }
        tx.execute_batch(AUDIT_TRIGGERS)
            .op("creating the audit triggers")?;
        tx.commit().op("committing the schema")?;
        let (_, version) = self.header()?;
        self.validate(version)
    }

    fn begin(&mut self) -> Result<rusqlite::Transaction<'_>> {
        self.conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .op("beginning a transaction")
    }

    // ------------------------------------------------------------ rounds

    /// Opens `round`. Refused if another round is open or `round` is not
    /// greater than every earlier round.
    pub fn open_round(&mut self, round: u64, started_at_ms: i64, record: &[u8]) -> Result<()> {
        let r = to_i64(round, "round")?;
        let tx = self.begin()?;
        if let Some((open, _)) = open_round_in(&tx)? {
            return Err(StoreError::RoundAlreadyOpen {
                open,
                requested: round,
            });
        }
        let last: Option<i64> = tx
            .query_row("SELECT MAX(round) FROM rounds", [], |row| row.get(0))
            .op("reading the last round")?;
        if let Some(last) = last
            && r <= last
        {
            return Err(StoreError::RoundNotIncreasing {
                requested: round,
                last: to_u64(last, "round id")?,
            });
        }
        tx.execute(
            "INSERT INTO rounds (round, started_at_ms, record, state) VALUES (?1, ?2, ?3, 'open')",
            params![r, started_at_ms, record],
        )
        .op("inserting the round")?;
        append_audit_in(
            &tx,
            started_at_ms,
            "round_opened",
            &json!({
                "round": round,
                "record_digest": hex(blake3::hash(record).as_bytes()),
            }),
        )?;
        tx.commit().op("committing the round opening")
    }

    /// The open round, if any.
    pub fn current_round(&self) -> Result<Option<OpenRound>> {
        let row: Option<(i64, i64, Vec<u8>, Option<i64>)> = self
            .conn
            .query_row(
                "SELECT round, started_at_ms, record, closed_at_ms FROM rounds WHERE state = 'open'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .op("reading the open round")?;
        row.map(|(round, started_at_ms, record, closed_at_ms)| {
            Ok(OpenRound {
                round: to_u64(round, "round id")?,
                started_at_ms,
                record,
                closed_at_ms,
            })
        })
        .transpose()
    }

    /// Records that collection of the open round `round` closed. Refused if
    /// `round` is not open or its collection already closed.
    pub fn mark_collection_closed(&mut self, round: u64, at_ms: i64) -> Result<()> {
        let r = to_i64(round, "round")?;
        let tx = self.begin()?;
        if require_open(&tx, round)? {
            return Err(StoreError::CollectionClosed { round });
        }
        tx.execute(
            "UPDATE rounds SET closed_at_ms = ?2 WHERE round = ?1",
            params![r, at_ms],
        )
        .op("closing collection")?;
        let submissions: i64 = tx
            .query_row(
                "SELECT COUNT(*) FROM submissions WHERE round = ?1",
                [r],
                |row| row.get(0),
            )
            .op("counting submissions")?;
        append_audit_in(
            &tx,
            at_ms,
            "collection_closed",
            &json!({ "round": round, "submissions": submissions }),
        )?;
        tx.commit().op("committing the collection close")
    }

    /// The highest round id ever opened (open, completed or failed).
    pub fn last_round(&self) -> Result<Option<u64>> {
        let last: Option<i64> = self
            .conn
            .query_row("SELECT MAX(round) FROM rounds", [], |r| r.get(0))
            .op("reading the last round")?;
        last.map(|l| to_u64(l, "round id")).transpose()
    }

    // ------------------------------------------------------------ submissions and shares

    /// Stores an accepted submission; durable when this returns `Ok`.
    /// Refused (nothing changed) if `round` is not the open round, its
    /// collection closed, or `sender` already submitted in it.
    pub fn add_submission(&mut self, round: u64, sender: u32, frame: &[u8]) -> Result<()> {
        self.add_submissions(round, &[(sender, frame)])
    }

    /// Several accepted submissions in one transaction (group commit: one
    /// `fsync` for the batch); all or none are stored. Durable on `Ok`.
    pub fn add_submissions(&mut self, round: u64, batch: &[(u32, &[u8])]) -> Result<()> {
        let r = to_i64(round, "round")?;
        let tx = self.begin()?;
        if require_open(&tx, round)? {
            return Err(StoreError::CollectionClosed { round });
        }
        for &(sender, frame) in batch {
            let dup: Option<i64> = tx
                .query_row(
                    "SELECT id FROM submissions WHERE round = ?1 AND sender = ?2",
                    params![r, sender],
                    |row| row.get(0),
                )
                .optional()
                .op("looking for an earlier submission")?;
            if dup.is_some() {
                return Err(StoreError::DuplicateSubmission { round, sender });
            }
            tx.execute(
                "INSERT INTO submissions (round, sender, frame) VALUES (?1, ?2, ?3)",
                params![r, sender, frame],
            )
            .op("inserting a submission")?;
            let at_ms = now_ms();
            append_audit_in(
                &tx,
                at_ms,
                "submission_accepted",
                &json!({
                    "round": round,
                    "sender": sender,
                    "frame_digest": hex(blake3::hash(frame).as_bytes()),
                    "frame_len": frame.len(),
                }),
            )?;
        }
        tx.commit().op("committing submissions")
    }

    /// The submissions of `round`, in acceptance order.
    pub fn submissions(&self, round: u64) -> Result<Vec<(u32, Vec<u8>)>> {
        let mut out = Vec::new();
        self.for_each_submission(round, |sender, frame| out.push((sender, frame.to_vec())))?;
        Ok(out)
    }

    /// Calls `f` with each stored submission of `round` (sender, frame),
    /// in acceptance order, one row in memory at a time: a recovery replay
    /// of hundreds of multi-MiB submissions does not hold them all.
    pub fn for_each_submission(&self, round: u64, mut f: impl FnMut(u32, &[u8])) -> Result<usize> {
        let r = to_i64(round, "round")?;
        let mut stmt = self
            .conn
            .prepare("SELECT sender, frame FROM submissions WHERE round = ?1 ORDER BY id")
            .op("preparing the submissions query")?;
        let mut rows = stmt.query([r]).op("reading submissions")?;
        let mut n = 0usize;
        while let Some(row) = rows.next().op("reading a submission")? {
            let sender: i64 = row.get(0).op("reading a submission's sender")?;
            let sender = to_u32(sender, "submission sender")?;
            let frame = row
                .get_ref(1)
                .op("reading a submission's frame")?
                .as_blob()
                .map_err(|e| StoreError::Corrupt {
                    what: format!("a submission's frame: {e}"),
                })?;
            f(sender, frame);
            n += 1;
        }
        Ok(n)
    }

    /// Stores a decryption share received for the open round `round`.
    /// Refused if the round is not open or the same member already sent a
    /// share for the same aggregate.
    pub fn add_share(
        &mut self,
        round: u64,
        member: u32,
        aggregate_digest: [u8; 32],
        frame: &[u8],
    ) -> Result<()> {
        let r = to_i64(round, "round")?;
        let tx = self.begin()?;
        require_open(&tx, round)?;
        let dup: Option<i64> = tx
            .query_row(
                "SELECT id FROM shares WHERE round = ?1 AND member = ?2 AND aggregate_digest = ?3",
                params![r, member, &aggregate_digest[..]],
                |row| row.get(0),
            )
            .optional()
            .op("looking for an earlier share")?;
        if dup.is_some() {
            return Err(StoreError::DuplicateShare { round, member });
        }
        tx.execute(
            "INSERT INTO shares (round, member, aggregate_digest, frame) VALUES (?1, ?2, ?3, ?4)",
            params![r, member, &aggregate_digest[..], frame],
        )
        .op("inserting a share")?;
        let at_ms = now_ms();
        append_audit_in(
            &tx,
            at_ms,
            "share_received",
            &json!({
                "round": round,
                "member": member,
                "aggregate_digest": hex(&aggregate_digest),
                "frame_digest": hex(blake3::hash(frame).as_bytes()),
            }),
        )?;
        tx.commit().op("committing a share")
    }

    /// The shares of `round`, in arrival order.
    pub fn shares(&self, round: u64) -> Result<Vec<StoredShare>> {
        let r = to_i64(round, "round")?;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT member, aggregate_digest, frame FROM shares WHERE round = ?1 ORDER BY id",
            )
            .op("preparing the shares query")?;
        let rows = stmt
            .query_map([r], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, Vec<u8>>(1)?,
                    row.get::<_, Vec<u8>>(2)?,
                ))
            })
            .op("reading shares")?;
        let mut out = Vec::new();
        for row in rows {
            let (member, digest, frame) = row.op("reading a share")?;
            out.push(StoredShare {
                member: to_u32(member, "share member")?,
                aggregate_digest: to_digest(&digest, "share aggregate digest")?,
                frame,
            });
        }
        Ok(out)
    }

    // ------------------------------------------------------------ completing rounds

    /// Completes the open round `c.round` in one transaction: stores the
    /// model version, appends the ledger entry, marks the round completed,
    /// deletes its submissions and shares and appends the audit entry.
    pub fn complete_round(&mut self, c: &RoundCompletion) -> Result<ModelVersionId> {
        let r = to_i64(c.round, "round")?;
        if !c.epsilon_spent.is_finite() || c.epsilon_spent < 0.0 {
            return Err(StoreError::Invalid {
                what: format!("epsilon_spent {}", c.epsilon_spent),
            });
        }
        check_json(&c.summary_json, "summary_json")?;
        let tx = self.begin()?;
        require_open(&tx, c.round)?;
        let id = insert_model(
            &tx,
            &c.model,
            Some(c.round),
            c.completed_at_ms,
            c.epsilon_spent,
        )?;
        if let Some(entry) = &c.ledger_entry {
            tx.execute(
                "INSERT INTO ledger (round, entry) VALUES (?1, ?2)",
                params![r, entry],
            )
            .op("appending the ledger entry")?;
        }
        tx.execute(
            "UPDATE rounds SET state = 'completed', ended_at_ms = ?2, summary_json = ?3 \
             WHERE round = ?1",
            params![r, c.completed_at_ms, c.summary_json],
        )
        .op("marking the round completed")?;
        let (subs, shares) = discard_frames(&tx, r)?;
        append_audit_in(
            &tx,
            c.completed_at_ms,
            "round_completed",
            &json!({
                "round": c.round,
                "model_version": c.model.version,
                "parent": c.model.parent,
                "model_digest": hex(&id.digest),
                "n_params": c.model.params.len(),
                "epsilon_spent": c.epsilon_spent,
                "ledger_entry_digest": c.ledger_entry.as_ref().map(|e| hex(blake3::hash(e).as_bytes())),
                "submissions_discarded": subs,
                "shares_discarded": shares,
            }),
        )?;
        tx.commit().op("committing the round completion")?;
        Ok(id)
    }

    /// Fails the open round `round` in one transaction: marks it failed with
    /// `reason`, deletes its submissions and shares, appends the audit entry.
    pub fn fail_round(&mut self, round: u64, at_ms: i64, reason: &str) -> Result<()> {
        let r = to_i64(round, "round")?;
        let tx = self.begin()?;
        require_open(&tx, round)?;
        tx.execute(
            "UPDATE rounds SET state = 'failed', ended_at_ms = ?2, fail_reason = ?3 WHERE round = ?1",
            params![r, at_ms, reason],
        )
        .op("marking the round failed")?;
        let (subs, shares) = discard_frames(&tx, r)?;
        append_audit_in(
            &tx,
            at_ms,
            "round_failed",
            &json!({
                "round": round,
                "reason": reason,
                "submissions_discarded": subs,
                "shares_discarded": shares,
            }),
        )?;
        tx.commit().op("committing the round failure")
    }

    /// Stores the initial model (version 0, no parent, no round, ε = 0) if
    /// the registry is empty. Returns `None` (and changes nothing) if any
    /// model already exists, e.g. on a restart.
    pub fn insert_initial_model(
        &mut self,
        at_ms: i64,
        model: &NewModel,
    ) -> Result<Option<ModelVersionId>> {
        if model.version != 0 || model.parent.is_some() {
            return Err(StoreError::ModelVersion {
                version: model.version,
                reason: "the initial model is version 0 without a parent".into(),
            });
        }
        let tx = self.begin()?;
        let n: i64 = tx
            .query_row("SELECT COUNT(*) FROM models", [], |r| r.get(0))
            .op("counting models")?;
        if n != 0 {
            return Ok(None);
        }
        let id = insert_model(&tx, model, None, at_ms, 0.0)?;
        append_audit_in(
            &tx,
            at_ms,
            "initial_model",
            &json!({
                "model_version": 0,
                "model_digest": hex(&id.digest),
                "n_params": model.params.len(),
            }),
        )?;
        tx.commit().op("committing the initial model")?;
        Ok(Some(id))
    }

    // ------------------------------------------------------------ model registry

    /// All model versions (without parameters), in version order.
    pub fn models(&self) -> Result<Vec<ModelSummary>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {MODEL_COLUMNS} FROM models ORDER BY version"
            ))
            .op("preparing the models query")?;
        let rows = stmt.query_map([], model_row).op("reading models")?;
        let mut out = Vec::new();
        for row in rows {
            out.push(model_summary(row.op("reading a model")?)?);
        }
        Ok(out)
    }

    fn model_where(
        &self,
        clause: &str,
        params: &[&dyn rusqlite::ToSql],
    ) -> Result<Option<ModelVersion>> {
        let row: Option<(ModelRow, Vec<u8>)> = self
            .conn
            .query_row(
                &format!("SELECT {MODEL_COLUMNS}, params FROM models {clause}"),
                params,
                |r| Ok((model_row(r)?, r.get(9)?)),
            )
            .optional()
            .op("reading a model version")?;
        let Some((row, blob)) = row else {
            return Ok(None);
        };
        let summary = model_summary(row)?;
        let params = blob_to_params(&blob, summary.n_params, summary.version)?;
        if model_params_digest(summary.version, &params) != summary.digest {
            return Err(corrupt(format!(
                "model {}: parameters do not match the stored digest",
                summary.version
            )));
        }
        Ok(Some(ModelVersion { summary, params }))
    }

    /// Model `version` with its parameters, verified against the stored digest.
    pub fn model(&self, version: u64) -> Result<ModelVersion> {
        let v = to_i64(version, "model version")?;
        self.model_where("WHERE version = ?1", &[&v])?
            .ok_or_else(|| StoreError::Missing {
                what: format!("model version {version}"),
            })
    }

    /// The highest model version, verified, if any.
    pub fn latest_model(&self) -> Result<Option<ModelVersion>> {
        self.model_where("ORDER BY version DESC LIMIT 1", &[])
    }

    // ------------------------------------------------------------ privacy ledger

    /// The privacy ledger: `(round, JSON record)` in round order.
    pub fn ledger(&self) -> Result<Vec<(u64, Vec<u8>)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT round, entry FROM ledger ORDER BY round")
            .op("preparing the ledger query")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
            .op("reading the ledger")?;
        let mut out = Vec::new();
        for row in rows {
            let (round, entry) = row.op("reading a ledger entry")?;
            out.push((to_u64(round, "ledger round")?, entry));
        }
        Ok(out)
    }

    // ------------------------------------------------------------ committee member

    /// Records that this member answered the decryption request for
    /// `(round, aggregate_digest)`; durable on `Ok`, idempotent for the
    /// same pair (the first time is kept, one audit entry).
    pub fn record_answered(
        &mut self,
        round: u64,
        aggregate_digest: [u8; 32],
        at_ms: i64,
    ) -> Result<()> {
        let r = to_i64(round, "round")?;
        let tx = self.begin()?;
        let n = tx
            .execute(
                "INSERT OR IGNORE INTO answered (round, aggregate_digest, at_ms) VALUES (?1, ?2, ?3)",
                params![r, &aggregate_digest[..], at_ms],
            )
            .op("recording an answer")?;
        if n == 1 {
            append_audit_in(
                &tx,
                at_ms,
                "answered",
                &json!({ "round": round, "aggregate_digest": hex(&aggregate_digest) }),
            )?;
        }
        tx.commit().op("committing an answer")
    }

    /// The `(round, aggregate digest)` pairs answered, in round order.
    pub fn answered(&self) -> Result<Vec<(u64, [u8; 32])>> {
        let mut stmt = self
            .conn
            .prepare("SELECT round, aggregate_digest FROM answered ORDER BY round, at_ms")
            .op("preparing the answered query")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
            .op("reading answered records")?;
        let mut out = Vec::new();
        for row in rows {
            let (round, digest) = row.op("reading an answered record")?;
            out.push((
                to_u64(round, "answered round")?,
                to_digest(&digest, "answered aggregate digest")?,
            ));
        }
        Ok(out)
    }

    // ------------------------------------------------------------ named counters

    /// The runtime's named counter `key`, if set.
    pub fn meta_u64(&self, key: &str) -> Result<Option<u64>> {
        let v: Option<i64> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .op("reading a named counter")?;
        v.map(|v| to_u64(v, key)).transpose()
    }

    /// Sets the named counter `key` (durable on `Ok`, with an audit entry
    /// `meta_set` when the value changes).
    pub fn set_meta_u64(&mut self, key: &str, value: u64) -> Result<()> {
        let v = to_i64(value, "counter value")?;
        let tx = self.begin()?;
        let old: Option<i64> = tx
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .op("reading a named counter")?;
        if old == Some(v) {
            return Ok(());
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, v],
        )
        .op("setting a named counter")?;
        append_audit_in(
            &tx,
            now_ms(),
            "meta_set",
            &json!({ "key": key, "value": value, "previous": old }),
        )?;
        tx.commit().op("committing a named counter")
    }

    // ------------------------------------------------------------ audit log

    /// Appends an audit entry of the runtime's own (one transaction);
    /// returns its hash, the new head of the chain.
    pub fn append_audit(&mut self, at_ms: i64, kind: &str, payload: &Value) -> Result<[u8; 32]> {
        let tx = self.begin()?;
        let h = append_audit_in(&tx, at_ms, kind, payload)?;
        tx.commit().op("committing an audit entry")?;
        Ok(h)
    }

    /// Up to `limit` audit entries from `from_seq` on, as stored (not verified).
    pub fn audit_entries(&self, from_seq: u64, limit: u32) -> Result<Vec<AuditEntry>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT seq, at_ms, kind, payload, prev, hash FROM audit \
                 WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
            )
            .op("preparing the audit query")?;
        let rows = stmt
            .query_map(params![to_i64(from_seq, "seq")?, limit], audit_row)
            .op("reading the audit log")?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, at_ms, kind, payload, prev, hash) = row.op("reading an audit entry")?;
            let seq = to_u64(seq, "audit seq")?;
            out.push(AuditEntry {
                seq,
                at_ms,
                kind: text_of(kind)
                    .ok_or_else(|| corrupt(format!("audit {seq}: kind is not text")))?,
                payload: text_of(payload)
                    .ok_or_else(|| corrupt(format!("audit {seq}: payload is not text")))?,
                prev: to_digest(&prev, &format!("audit {seq} prev"))?,
                hash: to_digest(&hash, &format!("audit {seq} hash"))?,
            });
        }
        Ok(out)
    }

    /// Recomputes the audit hash chain from the first entry; reports the
    /// first entry with a gap in `seq`, a wrong `prev` or a wrong `hash`.
    pub fn verify_audit(&self) -> Result<AuditSummary> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, at_ms, kind, payload, prev, hash FROM audit ORDER BY seq")
            .op("preparing the audit query")?;
        let rows = stmt.query_map([], audit_row).op("reading the audit log")?;
        let mut expected: u64 = 1;
        let mut head = [0u8; 32];
        let mut entries = 0u64;
        for row in rows {
            let (seq, at_ms, kind, payload, prev, hash) = row.op("reading an audit entry")?;
            let broken = |seq: u64, reason: String| StoreError::AuditBroken { seq, reason };
            let Ok(seq) = u64::try_from(seq) else {
                return Err(broken(expected, format!("entry with negative seq {seq}")));
            };
            if seq != expected {
                return Err(broken(
                    expected,
                    format!("entry {expected} is missing (next entry is {seq})"),
                ));
            }
            let kind = text_of(kind).ok_or_else(|| broken(seq, "kind is not UTF-8 text".into()))?;
            let payload =
                text_of(payload).ok_or_else(|| broken(seq, "payload is not UTF-8 text".into()))?;
            let prev = <[u8; 32]>::try_from(prev.as_slice())
                .map_err(|_| broken(seq, format!("prev has {} bytes, not 32", prev.len())))?;
            let hash = <[u8; 32]>::try_from(hash.as_slice())
                .map_err(|_| broken(seq, format!("hash has {} bytes, not 32", hash.len())))?;
            if prev != head {
                return Err(broken(
                    seq,
                    "prev is not the hash of the previous entry".into(),
                ));
            }
            if audit_entry_hash(seq, at_ms, &kind, &payload, &prev) != hash {
                return Err(broken(
                    seq,
                    "hash does not match the entry's contents".into(),
                ));
            }
            head = hash;
            entries += 1;
            expected = seq
                .checked_add(1)
                .ok_or_else(|| broken(seq, "seq overflows".into()))?;
        }
        Ok(AuditSummary { entries, head })
    }
}

type AuditRow = (
    i64,
    i64,
    rusqlite::types::Value,
    rusqlite::types::Value,
    Vec<u8>,
    Vec<u8>,
);

fn audit_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        blob_or_empty(r, 4)?,
        blob_or_empty(r, 5)?,
    ))
}

/// A BLOB column's bytes; any other type gives an empty vector (reported as
/// a wrong length by the caller instead of an SQL type error).
fn blob_or_empty(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Vec<u8>> {
    Ok(match r.get_ref(i)? {
        rusqlite::types::ValueRef::Blob(b) => b.to_vec(),
        _ => Vec::new(),
    })
}

fn text_of(v: rusqlite::types::Value) -> Option<String> {
    match v {
        rusqlite::types::Value::Text(s) => Some(s),
        _ => None,
    }
}
