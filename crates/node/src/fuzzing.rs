//! Fuzzing entry point of the node's durable state (feature `fuzzing`,
//! which only adds this module): the `store` target of `fuzz/` and its
//! corpus replay in the normal test suite.
//!
//! A node reads its SQLite store back on every restart, and `fedhe audit
//! verify` and `fedhe models` read a store an auditor may have been handed
//! by someone else. So the input is a **tampered store**: a fixed template
//! (built once per process with the production writers: an initial model,
//! a completed round 1 with its shares, model v1 and ledger entry, an open
//! round 2 holding three valid signed submissions of the protocol's fuzzing
//! world, a committee member's answered record and counter, a runtime
//! audit entry) edited by a script of [`Edit`]s: SQL-level changes to any
//! column of any row (a new value, one flipped byte, one JSON field
//! replaced), deleted and inserted rows, changed pragmas, dropped tables
//! and triggers, then raw byte patches of the file image. The store is then
//!
//! 1. opened **read-only** the way `fedhe audit verify` and `fedhe models`
//!    open it, and every reader runs;
//! 2. opened **read-write** the way a restarting `fedhe serve` opens it,
//!    and the server's recovery runs: the latest model, the privacy ledger
//!    replayed into a budget ([`crate::server`]'s `replay_ledger`), the
//!    open round's record decoded (`decode_round_record`), its server
//!    machine rebuilt and every stored submission replayed into it;
//! 3. written to by a script of [`Write`]s.
//!
//! Invariants (asserted; a violation is a crash):
//! - nothing panics; every refusal is a typed error;
//! - a read-only open never changes the file's bytes;
//! - `verify_audit` accepts only a prefix of the genuine chain, with its head;
//! - a model that reads back matches its stored digest, and a model whose
//!   digest is a genuine one has the genuine parameters;
//! - a replayed ledger that is accepted spends a finite, non-negative ε;
//! - the rebuilt server accepts each sender at most once, only invited
//!   clients of the roster;
//! - a write never loses what is already stored: after a successful write
//!   an audit chain that verified still verifies, with the old entries
//!   unchanged and at least one more; a chain that was broken stays broken
//!   at the same entry (an append neither hides nor moves a break);
//! - an accepted submission reads back exactly once, and a second one of
//!   the same sender in the round is refused.
//!
//! Frames and records come from the INSECURE seeded parameter set of
//! [`fedhe_protocols::fuzzing`] (enabled by this feature): never enable it
//! in a production build.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use fedhe_dp::accountant::{DdgRound, default_orders};
use fedhe_dp::ledger::{Budget, Mechanism, RoundRecord};
use fedhe_protocols::fuzzing::{DIM, round_config, world};
use fedhe_protocols::round::ServerEvent;
use fedhe_protocols::{Message, ParticipantId, RoundId};
use rusqlite::types::Value as SqlValue;
use serde_json::{Value, json};

use crate::server::{RoundRecordFile, decode_round_record, replay_ledger};
use crate::store::{AuditEntry, NewModel, RoundCompletion, Store, StoreError, model_params_digest};

/// The fuzz targets of this module.
pub const TARGETS: [&str; 1] = ["store"];

/// Runs target `name` on `data`; `false` if `name` is not one of [`TARGETS`].
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "store" => {
            store(data);
            true
        }
        _ => false,
    }
}

/// The tables of a store and their columns (as the schema declares them).
const TABLES: [(&str, &[&str]); 8] = [
    (
        "rounds",
        &[
            "round",
            "started_at_ms",
            "record",
            "state",
            "closed_at_ms",
            "ended_at_ms",
            "summary_json",
            "fail_reason",
        ],
    ),
    ("submissions", &["id", "round", "sender", "frame"]),
    (
        "shares",
        &["id", "round", "member", "aggregate_digest", "frame"],
    ),
    (
        "models",
        &[
            "version",
            "parent",
            "round",
            "digest",
            "created_at_ms",
            "epsilon_spent",
            "metrics_json",
            "hyperparams_json",
            "n_params",
            "params",
        ],
    ),
    ("ledger", &["round", "entry"]),
    ("answered", &["round", "aggregate_digest", "at_ms"]),
    ("meta", &["key", "value"]),
    (
        "audit",
        &["seq", "at_ms", "kind", "payload", "prev", "hash"],
    ),
];

/// A committee member's counter in the template (any name works).
const META_KEY: &str = "decryption_budget_used";

/// The template store and what is genuine in it.
pub struct Template {
    /// The database file's bytes (WAL checkpointed, no side files).
    image: Vec<u8>,
    /// Its audit log.
    audit: Vec<AuditEntry>,
    /// Its models: version → (digest, parameters).
    models: BTreeMap<u64, ([u8; 32], Vec<f32>)>,
    /// Submission frames of each world client for rounds 1..=3.
    frames: BTreeMap<(u64, usize), Vec<u8>>,
    /// A decryption-share frame.
    share: Vec<u8>,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("image_len", &self.image.len())
            .finish_non_exhaustive()
    }
}

/// Path of this process's (and thread's) store file `name` (in tmpfs when there is one;
/// removed after each input, so a clean run leaves nothing behind).
fn work_file(name: &str) -> PathBuf {
    static D: OnceLock<PathBuf> = OnceLock::new();
    let base = D.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        }
    });
    // Per thread too: the unit tests run in parallel threads of one process.
    let thread = format!("{:?}", std::thread::current().id());
    let thread: String = thread.chars().filter(char::is_ascii_digit).collect();
    base.join(format!(
        "fedhe-fuzz-store-{}-{thread}-{name}",
        std::process::id()
    ))
}

fn remove_db(path: &Path) {
    for ext in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(ext);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

fn round_record(round: u64, model_version: u64) -> Vec<u8> {
    let rec = RoundRecordFile {
        round,
        seed: [7; 32],
        model_version,
        invited: world().client_ids().iter().map(|p| p.0).collect(),
        quorum: 4,
        config: round_config(),
    };
    serde_json::to_vec(&rec).expect("record")
}

fn ledger_record(round: u64) -> RoundRecord {
    RoundRecord {
        round,
        expected_contributors: 4,
        decrypted_contributors: 4,
        colluders: 0,
        noise_sigma2: None,
        mechanism: Mechanism::DdGauss(DdgRound {
            gamma: 1e-3,
            local_sigma: 0.5,
            contributors: 4,
            clip: 1.0,
            beta: 0.0,
            dim: DIM.next_power_of_two(),
            sampling_rate: 0.5,
        }),
    }
}

fn fresh_budget() -> Budget {
    Budget::new(1e3, 1e-5, default_orders()).expect("budget")
}

fn params(version: u64) -> Vec<f32> {
    (0..DIM)
        .map(|i| (i as f32 - 20.0) * 0.01 + version as f32)
        .collect()
}

/// The template (built once per process).
pub fn template() -> &'static Template {
    static T: OnceLock<Template> = OnceLock::new();
    T.get_or_init(build_template)
}

fn build_template() -> Template {
    let w = world();
    let mut frames = BTreeMap::new();
    for round in 1..=3u64 {
        for i in 0..4 {
            let s = w.submission_for(i, RoundId(round)).expect("submission");
            frames.insert(
                (round, i),
                Message::Submission(s).encode().expect("submission frame"),
            );
        }
    }
    // Member 1's share of round 1 (see `World::frames`).
    let share = w.frames().get(6).cloned().expect("share frame");
    let path = work_file("template.sqlite");
    remove_db(&path);
    let t0 = 1_700_000_000_000i64;
    {
        let mut st = Store::open(&path).expect("template store");
        st.insert_initial_model(
            t0,
            &NewModel {
                version: 0,
                parent: None,
                params: params(0),
                metrics_json: "{}".into(),
                hyperparams_json: r#"{"model":"softmax"}"#.into(),
            },
        )
        .expect("initial model");
        st.open_round(1, t0 + 1, &round_record(1, 0))
            .expect("round 1");
        let batch: Vec<(u32, &[u8])> = (0..4)
            .map(|i| (w.client_ids()[i].0, frames[&(1, i)].as_slice()))
            .collect();
        st.add_submissions(1, &batch).expect("submissions 1");
        st.mark_collection_closed(1, t0 + 2).expect("close 1");
        st.add_share(1, 201, [9; 32], &share).expect("share");
        let mut budget = fresh_budget();
        let rec = ledger_record(1);
        let json = serde_json::to_vec(&rec).expect("ledger json");
        let eps = budget.record(rec).expect("ledger record").epsilon;
        st.complete_round(&RoundCompletion {
            round: 1,
            completed_at_ms: t0 + 3,
            model: NewModel {
                version: 1,
                parent: Some(0),
                params: params(1),
                metrics_json: r#"{"accuracy":0.5,"loss":1.0,"contributors":4}"#.into(),
                hyperparams_json: r#"{"model":"softmax"}"#.into(),
            },
            ledger_entry: Some(json),
            epsilon_spent: eps,
            summary_json: r#"{"round":1}"#.into(),
        })
        .expect("complete 1");
        st.open_round(2, t0 + 4, &round_record(2, 1))
            .expect("round 2");
        let batch: Vec<(u32, &[u8])> = (0..3)
            .map(|i| (w.client_ids()[i].0, frames[&(2, i)].as_slice()))
            .collect();
        st.add_submissions(2, &batch).expect("submissions 2");
        st.record_answered(1, [9; 32], t0 + 5).expect("answered");
        st.set_meta_u64(META_KEY, 40).expect("meta");
        st.append_audit(t0 + 6, "runtime_note", &json!({"note": "template"}))
            .expect("audit");
    }
    // The last connection closed: the WAL is checkpointed into the file.
    let image = std::fs::read(&path).expect("template image");
    let st = Store::open_read_only(&path).expect("template read-only");
    let audit = st.audit_entries(1, u32::MAX).expect("template audit");
    let mut models = BTreeMap::new();
    for m in st.models().expect("template models") {
        let full = st.model(m.version).expect("template model");
        models.insert(m.version, (m.digest, full.params));
    }
    drop(st);
    remove_db(&path);
    Template {
        image,
        audit,
        models,
        frames,
        share,
    }
}

/// A value written into a column.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// SQL `NULL`.
    Null,
    /// An integer.
    Int(i64),
    /// A float.
    Real(f64),
    /// Text.
    Text(String),
    /// A blob.
    Blob(Vec<u8>),
    /// The current value with one byte (or bit of an integer) flipped.
    Flip {
        /// Byte index (modulo the length).
        at: u16,
        /// XOR mask (0 is taken as 1).
        xor: u8,
    },
    /// The current value parsed as JSON, one field (or element) replaced.
    Json {
        /// Which field (modulo the count).
        field: u8,
        /// Its new value.
        value: JsonVal,
    },
}

/// A small JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonVal {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// An unsigned integer.
    UInt(u64),
    /// A float (non-finite ones become `null` in JSON).
    Float(f64),
    /// A string.
    Str(String),
    /// An array of integers.
    Ints(Vec<u32>),
}

impl JsonVal {
    fn to_json(&self) -> Value {
        match self {
            JsonVal::Null => Value::Null,
            JsonVal::Bool(b) => json!(b),
            JsonVal::Int(i) => json!(i),
            JsonVal::UInt(u) => json!(u),
            JsonVal::Float(f) => json!(f),
            JsonVal::Str(s) => json!(s),
            JsonVal::Ints(v) => json!(v),
        }
    }
}

/// One change to the template before it is opened.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// Sets column `column` of row `row` (both modulo the count) of `table`.
    Set {
        /// Table index (modulo 8).
        table: u8,
        /// Row (modulo the row count).
        row: u8,
        /// Column (modulo the column count).
        column: u8,
        /// New value.
        value: Val,
    },
    /// Deletes a row.
    Delete {
        /// Table index.
        table: u8,
        /// Row.
        row: u8,
    },
    /// Inserts a row of these values (missing ones `NULL`).
    Insert {
        /// Table index.
        table: u8,
        /// Values in column order.
        values: Vec<Val>,
    },
    /// Sets `PRAGMA user_version` (or `application_id`).
    Pragma {
        /// `user_version` if true, else `application_id`.
        user_version: bool,
        /// Value.
        value: i32,
    },
    /// Drops a table.
    DropTable {
        /// Table index.
        table: u8,
    },
    /// Patches the file image at `offset` (modulo its length) after the
    /// SQL edits.
    Raw {
        /// Offset.
        offset: u32,
        /// Bytes written there (cut at the end of the file).
        bytes: Vec<u8>,
    },
}

/// One write through the store after the read-write open.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// `append_audit`.
    AppendAudit(u8),
    /// `open_round(last + delta)`.
    OpenRound(u8),
    /// `add_submission` of world client `client` (modulo 4) to the open
    /// round, with its valid frame (or these bytes).
    AddSubmission {
        /// Client index.
        client: u8,
        /// Frame bytes instead of the valid frame.
        bytes: Option<Vec<u8>>,
    },
    /// `mark_collection_closed` of the open round.
    CloseCollection,
    /// `add_share` of `member` to the open round.
    AddShare {
        /// Member id.
        member: u8,
        /// Aggregate digest byte.
        digest: u8,
    },
    /// `complete_round` of the open round with a new model version.
    CompleteRound,
    /// `fail_round` of the open round.
    FailRound,
    /// `set_meta_u64`.
    SetMeta(u64),
    /// `record_answered`.
    RecordAnswered {
        /// Round.
        round: u8,
        /// Digest byte.
        digest: u8,
    },
}

/// The whole input of the `store` target.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// Edits (at most 16 are applied).
    pub edits: Vec<Edit>,
    /// Writes (at most 16 are applied).
    pub writes: Vec<Write>,
}

fn table(i: u8) -> (&'static str, &'static [&'static str]) {
    TABLES[usize::from(i) % TABLES.len()]
}

fn row_clause(t: &str) -> String {
    format!("rowid = (SELECT rowid FROM {t} ORDER BY rowid LIMIT 1 OFFSET ?1)")
}

fn flipped(v: SqlValue, at: u16, xor: u8) -> SqlValue {
    let xor = if xor == 0 { 1 } else { xor };
    let flip = |mut b: Vec<u8>| {
        if !b.is_empty() {
            let i = usize::from(at) % b.len();
            b[i] ^= xor;
        }
        b
    };
    match v {
        SqlValue::Null => SqlValue::Null,
        SqlValue::Integer(i) => SqlValue::Integer(i ^ (i64::from(xor) << (at % 56))),
        SqlValue::Real(f) => {
            SqlValue::Real(f64::from_bits(f.to_bits() ^ (u64::from(xor) << (at % 56))))
        }
        SqlValue::Text(s) => match String::from_utf8(flip(s.into_bytes())) {
            Ok(s) => SqlValue::Text(s),
            Err(e) => SqlValue::Blob(e.into_bytes()),
        },
        SqlValue::Blob(b) => SqlValue::Blob(flip(b)),
    }
}

fn json_patched(v: SqlValue, field: u8, value: &JsonVal) -> Option<SqlValue> {
    let (mut j, text) = match &v {
        SqlValue::Text(s) => (serde_json::from_str::<Value>(s).ok()?, true),
        SqlValue::Blob(b) => (serde_json::from_slice::<Value>(b).ok()?, false),
        _ => return None,
    };
    let new = value.to_json();
    match &mut j {
        Value::Object(m) if !m.is_empty() => {
            let k = m.keys().nth(usize::from(field) % m.len())?.clone();
            m.insert(k, new);
        }
        Value::Array(a) if !a.is_empty() => {
            let n = a.len();
            a[usize::from(field) % n] = new;
        }
        _ => j = new,
    }
    let s = serde_json::to_string(&j).ok()?;
    Some(if text {
        SqlValue::Text(s)
    } else {
        SqlValue::Blob(s.into_bytes())
    })
}

fn value_of(conn: &rusqlite::Connection, t: &str, c: &str, row: u8, v: &Val) -> Option<SqlValue> {
    let current = || -> Option<SqlValue> {
        conn.query_row(
            &format!("SELECT {c} FROM {t} WHERE {}", row_clause(t)),
            [i64::from(row)],
            |r| r.get::<_, SqlValue>(0),
        )
        .ok()
    };
    Some(match v {
        Val::Null => SqlValue::Null,
        Val::Int(i) => SqlValue::Integer(*i),
        Val::Real(f) => SqlValue::Real(*f),
        Val::Text(s) => SqlValue::Text(s.clone()),
        Val::Blob(b) => SqlValue::Blob(b.clone()),
        Val::Flip { at, xor } => flipped(current()?, *at, *xor),
        Val::Json { field, value } => json_patched(current()?, *field, value)?,
    })
}

fn plain(v: &Val) -> SqlValue {
    match v {
        Val::Int(i) => SqlValue::Integer(*i),
        Val::Real(f) => SqlValue::Real(*f),
        Val::Text(s) => SqlValue::Text(s.clone()),
        Val::Blob(b) => SqlValue::Blob(b.clone()),
        _ => SqlValue::Null,
    }
}

/// Applies the SQL edits (errors just leave an edit out) and returns the
/// raw patches for the image.
fn apply_sql(path: &Path, edits: &[Edit]) -> Vec<(u32, Vec<u8>)> {
    let mut raw = Vec::new();
    let Ok(conn) = rusqlite::Connection::open(path) else {
        return raw;
    };
    // Someone editing the file directly is not stopped by the triggers.
    let _ = conn.execute_batch(
        "DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS audit_no_delete;",
    );
    for e in edits {
        match e {
            Edit::Set {
                table: ti,
                row,
                column,
                value,
            } => {
                let (t, cols) = table(*ti);
                let c = cols[usize::from(*column) % cols.len()];
                if let Some(v) = value_of(&conn, t, c, *row, value) {
                    let _ = conn.execute(
                        &format!("UPDATE {t} SET {c} = ?2 WHERE {}", row_clause(t)),
                        rusqlite::params![i64::from(*row), v],
                    );
                }
            }
            Edit::Delete { table: ti, row } => {
                let (t, _) = table(*ti);
                let _ = conn.execute(
                    &format!("DELETE FROM {t} WHERE {}", row_clause(t)),
                    [i64::from(*row)],
                );
            }
            Edit::Insert { table: ti, values } => {
                let (t, cols) = table(*ti);
                let vals: Vec<SqlValue> = (0..cols.len())
                    .map(|i| values.get(i).map_or(SqlValue::Null, plain))
                    .collect();
                let marks = vec!["?"; cols.len()].join(", ");
                let _ = conn.execute(
                    &format!("INSERT INTO {t} VALUES ({marks})"),
                    rusqlite::params_from_iter(vals),
                );
            }
            Edit::Pragma {
                user_version,
                value,
            } => {
                let name = if *user_version {
                    "user_version"
                } else {
                    "application_id"
                };
                let _ = conn.pragma_update(None, name, value);
            }
            Edit::DropTable { table: ti } => {
                let _ = conn.execute_batch(&format!("DROP TABLE {}", table(*ti).0));
            }
            Edit::Raw { offset, bytes } => raw.push((*offset, bytes.clone())),
        }
    }
    raw
}

/// Builds the tampered image: the template, the SQL edits, the raw patches.
fn tampered(script: &Script) -> Vec<u8> {
    let t = template();
    let path = work_file("edit.sqlite");
    remove_db(&path);
    std::fs::write(&path, &t.image).expect("write image");
    let edits: Vec<Edit> = script.edits.iter().take(16).cloned().collect();
    let raw = apply_sql(&path, &edits);
    let mut image = std::fs::read(&path).unwrap_or_else(|_| t.image.clone());
    remove_db(&path);
    let len = image.len();
    for (offset, bytes) in raw {
        if len == 0 {
            break;
        }
        let at = offset as usize % len;
        let n = bytes.len().min(len - at);
        image[at..at + n].copy_from_slice(&bytes[..n]);
    }
    image
}

/// The `store` target: see the module docs.
pub fn store(data: &[u8]) {
    store_script(&Script::decode(data));
}

/// The `store` target on a decoded script.
pub fn store_script(script: &Script) {
    let t = template();
    let image = tampered(script);

    // 1. Read-only, as `fedhe audit verify` and `fedhe models` open it.
    let ro = work_file("ro.sqlite");
    remove_db(&ro);
    std::fs::write(&ro, &image).expect("write image");
    if let Ok(st) = Store::open_read_only(&ro) {
        read_everything(&st, t);
    }
    let after = std::fs::read(&ro).expect("read image back");
    assert!(after == image, "a read-only open changed the store file");
    remove_db(&ro);

    // 2. Read-write, as a restarting `fedhe serve` opens it.
    let rw = work_file("rw.sqlite");
    remove_db(&rw);
    std::fs::write(&rw, &image).expect("write image");
    if let Ok(mut st) = Store::open(&rw) {
        read_everything(&st, t);
        let _ = recover(&st);
        writes(&mut st, t, script);
    }
    remove_db(&rw);
}

/// Every reader; asserts the reader invariants.
fn read_everything(st: &Store, t: &Template) {
    if let Ok(summary) = st.verify_audit() {
        let entries = st
            .audit_entries(1, u32::MAX)
            .expect("a verified audit log reads back");
        let n = usize::try_from(summary.entries).expect("entries");
        assert_eq!(entries.len(), n, "verify_audit and audit_entries disagree");
        assert!(
            n <= t.audit.len() && entries[..] == t.audit[..n],
            "verify_audit accepted a log that is not a prefix of the genuine one"
        );
        let head = entries.last().map_or([0; 32], |e| e.hash);
        assert_eq!(
            summary.head, head,
            "verify_audit's head is not the last hash"
        );
    }
    let _ = st.audit_entries(3, 2);
    let check_model = |m: &crate::store::ModelVersion| {
        let v = m.summary.version;
        assert_eq!(m.params.len() as u64, m.summary.n_params);
        assert!(
            model_params_digest(v, &m.params) == m.summary.digest,
            "model {v} read back with parameters that do not match its digest"
        );
        if let Some((d, p)) = t.models.get(&v)
            && *d == m.summary.digest
        {
            assert!(
                p.iter()
                    .map(|x| x.to_bits())
                    .eq(m.params.iter().map(|x| x.to_bits())),
                "model {v} with its genuine digest read back other parameters"
            );
        }
    };
    if let Ok(ms) = st.models() {
        for s in ms.iter().take(8) {
            if let Ok(m) = st.model(s.version) {
                check_model(&m);
            }
        }
    }
    for v in 0..3 {
        if let Ok(m) = st.model(v) {
            check_model(&m);
        }
    }
    if let Ok(Some(m)) = st.latest_model() {
        check_model(&m);
    }
    if let Ok(entries) = st.ledger() {
        let mut b = fresh_budget();
        if let Ok(eps) = replay_ledger(&mut b, &entries) {
            assert!(
                eps.is_finite() && eps >= 0.0,
                "a replayed ledger spent ε = {eps}"
            );
        }
    }
    let _ = st.last_round();
    let open = st.current_round();
    for r in [1, 2, 3] {
        let _ = st.submissions(r);
        let _ = st.shares(r);
    }
    if let Ok(Some(o)) = open {
        let _ = st.submissions(o.round);
        let _ = st.shares(o.round);
    }
    let _ = st.answered();
    let _ = st.meta_u64(META_KEY);
}

/// The server's recovery of the open round (see `server::serve` and
/// `Driver::round`): record, model, machine, replayed submissions.
/// Returns how many stored submissions the machine accepted.
fn recover(st: &Store) -> usize {
    let Ok(Some(open)) = st.current_round() else {
        return 0;
    };
    let Ok(rec) = decode_round_record(open.round, &open.record) else {
        return 0;
    };
    let Ok(model) = st.model(rec.model_version) else {
        return 0;
    };
    let w = world();
    let now = Instant::now();
    let invited: Vec<ParticipantId> = rec.invited.iter().map(|&i| ParticipantId(i)).collect();
    let Ok(mut server) = w.server_for(
        now,
        RoundId(rec.round),
        fedhe_protocols::Model {
            version: rec.model_version,
            parameters: model.params,
        },
        rec.config.clone(),
        rec.seed,
        invited.clone(),
        rec.quorum,
    ) else {
        return 0;
    };
    let clients: BTreeSet<ParticipantId> = w.client_ids().into_iter().collect();
    let invited: BTreeSet<ParticipantId> = invited.into_iter().collect();
    let mut accepted = BTreeSet::new();
    let _ = st.for_each_submission(open.round, |sender, frame| {
        server.handle_frame(now, ParticipantId(sender), frame);
        while let Some(e) = server.poll_event() {
            if let ServerEvent::Accepted { sender, .. } = e {
                assert!(
                    accepted.insert(sender),
                    "the recovered server accepted {sender:?} twice"
                );
                assert!(
                    invited.contains(&sender) && clients.contains(&sender),
                    "the recovered server accepted {sender:?}, not an invited client"
                );
                server.acknowledge(sender);
            }
        }
        while server.poll_transmit().is_some() {}
    });
    accepted.len()
}

/// The audit state a write must preserve.
enum Chain {
    Verified(Vec<AuditEntry>),
    Broken(u64),
    Unreadable,
}

fn chain(st: &Store) -> Chain {
    match st.verify_audit() {
        Ok(_) => match st.audit_entries(1, u32::MAX) {
            Ok(e) => Chain::Verified(e),
            Err(_) => Chain::Unreadable,
        },
        Err(StoreError::AuditBroken { seq, .. }) => Chain::Broken(seq),
        Err(_) => Chain::Unreadable,
    }
}

fn writes(st: &mut Store, t: &Template, script: &Script) {
    let w = world();
    let ids = w.client_ids();
    for (k, wr) in script.writes.iter().take(16).enumerate() {
        let before = chain(st);
        let open = st.current_round().ok().flatten().map(|o| o.round);
        // Every successful write appends an audit entry, except the
        // idempotent ones: a counter set to its value, an answer recorded
        // again.
        // (Unknown when the store cannot say what it holds.)
        let appends = match wr {
            Write::SetMeta(v) => st.meta_u64(META_KEY).ok().map(|m| m != Some(*v)),
            Write::RecordAnswered { round, digest } => st
                .answered()
                .ok()
                .map(|a| !a.contains(&(u64::from(*round), [*digest; 32]))),
            _ => Some(true),
        };
        let now = 1_800_000_000_000i64 + k as i64;
        let ok = match wr {
            Write::AppendAudit(n) => st.append_audit(now, "fuzz", &json!({ "n": n })).is_ok(),
            Write::OpenRound(d) => {
                let last = st.last_round().ok().flatten().unwrap_or(0);
                let r = last.saturating_add(u64::from(*d));
                let ok = st.open_round(r, now, &round_record(r, 1)).is_ok();
                if ok {
                    let cur = st.current_round().expect("current round after open");
                    assert_eq!(cur.map(|o| o.round), Some(r), "opened round not current");
                }
                ok
            }
            Write::AddSubmission { client, bytes } => {
                let Some(round) = open else { continue };
                let i = usize::from(*client) % ids.len();
                let sender = ids[i].0;
                let frame = match bytes {
                    Some(b) => b.clone(),
                    None => t
                        .frames
                        .get(&(round, i))
                        .cloned()
                        .unwrap_or_else(|| t.frames[&(1, i)].clone()),
                };
                let had = st
                    .submissions(round)
                    .map(|s| s.iter().any(|(s, _)| *s == sender));
                let res = st.add_submission(round, sender, &frame);
                if res.is_ok() {
                    assert!(
                        !matches!(had, Ok(true)),
                        "a second submission of {sender} in round {round} was stored"
                    );
                    if let Ok(subs) = st.submissions(round) {
                        let n = subs
                            .iter()
                            .filter(|(s, f)| *s == sender && *f == frame)
                            .count();
                        assert_eq!(n, 1, "an accepted submission did not read back once");
                    }
                    assert!(
                        st.add_submission(round, sender, &frame).is_err(),
                        "the same sender's second submission was accepted"
                    );
                }
                res.is_ok()
            }
            Write::CloseCollection => {
                let Some(round) = open else { continue };
                st.mark_collection_closed(round, now).is_ok()
            }
            Write::AddShare { member, digest } => {
                let Some(round) = open else { continue };
                st.add_share(round, u32::from(*member), [*digest; 32], &t.share)
                    .is_ok()
            }
            Write::CompleteRound => {
                let Some(round) = open else { continue };
                let next = st
                    .models()
                    .ok()
                    .and_then(|m| m.last().map(|m| m.version + 1))
                    .unwrap_or(1);
                st.complete_round(&RoundCompletion {
                    round,
                    completed_at_ms: now,
                    model: NewModel {
                        version: next,
                        parent: Some(next - 1),
                        params: params(next),
                        metrics_json: "{}".into(),
                        hyperparams_json: "{}".into(),
                    },
                    ledger_entry: Some(
                        serde_json::to_vec(&ledger_record(round)).expect("ledger json"),
                    ),
                    epsilon_spent: 1.0,
                    summary_json: "{}".into(),
                })
                .is_ok()
            }
            Write::FailRound => {
                let Some(round) = open else { continue };
                st.fail_round(round, now, "fuzz").is_ok()
            }
            Write::SetMeta(v) => st.set_meta_u64(META_KEY, *v).is_ok(),
            Write::RecordAnswered { round, digest } => st
                .record_answered(u64::from(*round), [*digest; 32], now)
                .is_ok(),
        };
        let after = chain(st);
        match (&before, &after) {
            (Chain::Verified(old), Chain::Verified(new)) => {
                assert!(
                    new.len() >= old.len() && new[..old.len()] == old[..],
                    "a write changed or dropped verified audit entries"
                );
                if ok && appends == Some(true) {
                    assert!(
                        new.len() > old.len(),
                        "a successful write appended no audit entry"
                    );
                }
            }
            (Chain::Verified(_), _) => {
                panic!("a write broke an audit chain that verified (ok = {ok})")
            }
            (Chain::Broken(a), Chain::Broken(b)) => {
                assert_eq!(a, b, "a write moved the first break of the audit chain");
            }
            (Chain::Broken(a), Chain::Verified(_)) => {
                panic!("a write healed an audit chain broken at entry {a}")
            }
            _ => {}
        }
    }
}

/// Seed scripts for the corpus: no edit; each table's column edited;
/// the recovery's records with a field replaced; writes of every kind.
pub fn seed_scripts() -> Vec<Script> {
    let all_writes = vec![
        Write::AppendAudit(1),
        Write::AddSubmission {
            client: 3,
            bytes: None,
        },
        Write::AddSubmission {
            client: 3,
            bytes: None,
        },
        Write::AddShare {
            member: 202,
            digest: 4,
        },
        Write::CloseCollection,
        Write::CompleteRound,
        Write::OpenRound(1),
        Write::AddSubmission {
            client: 0,
            bytes: Some(vec![1, 2, 3]),
        },
        Write::FailRound,
        Write::SetMeta(41),
        Write::RecordAnswered {
            round: 2,
            digest: 5,
        },
    ];
    let mut out = vec![
        Script {
            edits: vec![],
            writes: vec![],
        },
        Script {
            edits: vec![],
            writes: all_writes.clone(),
        },
    ];
    for (ti, (_, cols)) in TABLES.iter().enumerate() {
        for ci in 0..cols.len() {
            out.push(Script {
                edits: vec![Edit::Set {
                    table: ti as u8,
                    row: 0,
                    column: ci as u8,
                    value: Val::Flip { at: 3, xor: 1 },
                }],
                writes: vec![Write::AppendAudit(2)],
            });
        }
        out.push(Script {
            edits: vec![Edit::Delete {
                table: ti as u8,
                row: 1,
            }],
            writes: vec![Write::AppendAudit(3)],
        });
    }
    // The open round's record (rounds row 1, column `record`) and the
    // ledger entry with each JSON field replaced.
    for field in 0..6 {
        for value in [
            JsonVal::UInt(0),
            JsonVal::UInt(u64::MAX),
            JsonVal::Float(f64::NAN),
            JsonVal::Ints(vec![100, 100, 7]),
        ] {
            out.push(Script {
                edits: vec![Edit::Set {
                    table: 0,
                    row: 1,
                    column: 2,
                    value: Val::Json {
                        field,
                        value: value.clone(),
                    },
                }],
                writes: vec![],
            });
            out.push(Script {
                edits: vec![Edit::Set {
                    table: 4,
                    row: 0,
                    column: 1,
                    value: Val::Json { field, value },
                }],
                writes: vec![],
            });
        }
    }
    // A long script (so libFuzzer's length limit starts high enough for
    // many edits, inserted rows and raw patches).
    out.push(Script {
        edits: vec![
            Edit::Insert {
                table: 7,
                values: vec![
                    Val::Int(100),
                    Val::Int(1),
                    Val::Text("round_opened".into()),
                    Val::Text(r#"{"round":9}"#.into()),
                    Val::Blob(vec![0; 32]),
                    Val::Blob(vec![1; 32]),
                ],
            },
            Edit::Insert {
                table: 1,
                values: vec![
                    Val::Null,
                    Val::Int(2),
                    Val::Int(103),
                    Val::Blob(vec![0x46, 0x48, 0x50, 1, 2, 0, 0, 0, 0]),
                ],
            },
            Edit::Insert {
                table: 4,
                values: vec![Val::Int(2), Val::Text(r#"{"round":2}"#.into())],
            },
            Edit::Set {
                table: 3,
                row: 1,
                column: 8,
                value: Val::Int(41),
            },
            Edit::Set {
                table: 0,
                row: 1,
                column: 2,
                value: Val::Json {
                    field: 3,
                    value: JsonVal::Ints(vec![100, 101, 102, 103, 104, 201]),
                },
            },
            Edit::Set {
                table: 5,
                row: 0,
                column: 1,
                value: Val::Text("not a digest".into()),
            },
            Edit::Set {
                table: 6,
                row: 0,
                column: 1,
                value: Val::Real(-1.5),
            },
            Edit::Delete { table: 7, row: 20 },
            Edit::Raw {
                offset: 4096,
                bytes: vec![0x0d, 0, 0, 0, 1, 0x0f, 0xf0],
            },
            Edit::Raw {
                offset: 28,
                bytes: vec![0, 0, 0, 0x40],
            },
        ],
        writes: vec![
            Write::AddSubmission {
                client: 3,
                bytes: Some(vec![0x46; 64]),
            },
            Write::OpenRound(0),
            Write::CloseCollection,
            Write::AddShare {
                member: 203,
                digest: 9,
            },
            Write::CompleteRound,
            Write::OpenRound(2),
            Write::RecordAnswered {
                round: 1,
                digest: 9,
            },
            Write::SetMeta(40),
        ],
    });
    out.push(Script {
        edits: vec![
            Edit::Pragma {
                user_version: true,
                value: 2,
            },
            Edit::Raw {
                offset: 100,
                bytes: vec![0xff; 8],
            },
        ],
        writes: all_writes,
    });
    out
}

// ------------------------------------------------------------ input format
//
// A script is read from the fuzzer's bytes with a small format of its own
// (so the seed corpus can be written by `Script::encode`, which
// `Script::decode` reads back to the same script): a count byte (modulo 17)
// of edits, each a tag byte (modulo the variant count) and its fields, then
// a count byte of writes likewise. Integers are little-endian; text, blobs
// and lists carry a length prefix (`u16` for text and blobs, `u8` for the
// rest). Input that ends early ends the script there.

struct Reader<'a> {
    data: &'a [u8],
}

impl Reader<'_> {
    fn bytes(&mut self, n: usize) -> Option<&[u8]> {
        if self.data.len() < n {
            return None;
        }
        let (a, b) = self.data.split_at(n);
        self.data = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.bytes(1).map(|b| b[0])
    }
    fn arr<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.bytes(N).and_then(|b| b.try_into().ok())
    }
    fn u16(&mut self) -> Option<u16> {
        self.arr().map(u16::from_le_bytes)
    }
    fn vec16(&mut self) -> Option<Vec<u8>> {
        let n = usize::from(self.u16()?);
        self.bytes(n).map(<[u8]>::to_vec)
    }
    fn vec8(&mut self) -> Option<Vec<u8>> {
        let n = usize::from(self.u8()?);
        self.bytes(n).map(<[u8]>::to_vec)
    }
    fn json(&mut self) -> Option<JsonVal> {
        Some(match self.u8()? % 7 {
            0 => JsonVal::Null,
            1 => JsonVal::Bool(self.u8()? & 1 == 1),
            2 => JsonVal::Int(i64::from_le_bytes(self.arr()?)),
            3 => JsonVal::UInt(u64::from_le_bytes(self.arr()?)),
            4 => JsonVal::Float(f64::from_le_bytes(self.arr()?)),
            5 => JsonVal::Str(String::from_utf8_lossy(&self.vec8()?).into_owned()),
            _ => {
                let n = self.u8()?;
                let mut v = Vec::new();
                for _ in 0..n {
                    v.push(u32::from_le_bytes(self.arr()?));
                }
                JsonVal::Ints(v)
            }
        })
    }
    fn val(&mut self) -> Option<Val> {
        Some(match self.u8()? % 7 {
            0 => Val::Null,
            1 => Val::Int(i64::from_le_bytes(self.arr()?)),
            2 => Val::Real(f64::from_le_bytes(self.arr()?)),
            3 => Val::Text(String::from_utf8_lossy(&self.vec16()?).into_owned()),
            4 => Val::Blob(self.vec16()?),
            5 => Val::Flip {
                at: self.u16()?,
                xor: self.u8()?,
            },
            _ => Val::Json {
                field: self.u8()?,
                value: self.json()?,
            },
        })
    }
    fn edit(&mut self) -> Option<Edit> {
        Some(match self.u8()? % 6 {
            0 => Edit::Set {
                table: self.u8()?,
                row: self.u8()?,
                column: self.u8()?,
                value: self.val()?,
            },
            1 => Edit::Delete {
                table: self.u8()?,
                row: self.u8()?,
            },
            2 => {
                let table = self.u8()?;
                let n = self.u8()? % 12;
                let mut values = Vec::new();
                for _ in 0..n {
                    values.push(self.val()?);
                }
                Edit::Insert { table, values }
            }
            3 => Edit::Pragma {
                user_version: self.u8()? & 1 == 1,
                value: i32::from_le_bytes(self.arr()?),
            },
            4 => Edit::DropTable { table: self.u8()? },
            _ => Edit::Raw {
                offset: u32::from_le_bytes(self.arr()?),
                bytes: self.vec8()?,
            },
        })
    }
    fn write(&mut self) -> Option<Write> {
        Some(match self.u8()? % 9 {
            0 => Write::AppendAudit(self.u8()?),
            1 => Write::OpenRound(self.u8()?),
            2 => Write::AddSubmission {
                client: self.u8()?,
                bytes: if self.u8()? & 1 == 1 {
                    Some(self.vec16()?)
                } else {
                    None
                },
            },
            3 => Write::CloseCollection,
            4 => Write::AddShare {
                member: self.u8()?,
                digest: self.u8()?,
            },
            5 => Write::CompleteRound,
            6 => Write::FailRound,
            7 => Write::SetMeta(u64::from_le_bytes(self.arr()?)),
            _ => Write::RecordAnswered {
                round: self.u8()?,
                digest: self.u8()?,
            },
        })
    }
}

fn put16(out: &mut Vec<u8>, b: &[u8]) {
    let n = b.len().min(usize::from(u16::MAX));
    out.extend((n as u16).to_le_bytes());
    out.extend(&b[..n]);
}

fn put8(out: &mut Vec<u8>, b: &[u8]) {
    let n = b.len().min(255);
    out.push(n as u8);
    out.extend(&b[..n]);
}

impl JsonVal {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            JsonVal::Null => out.push(0),
            JsonVal::Bool(b) => out.extend([1, u8::from(*b)]),
            JsonVal::Int(i) => {
                out.push(2);
                out.extend(i.to_le_bytes());
            }
            JsonVal::UInt(u) => {
                out.push(3);
                out.extend(u.to_le_bytes());
            }
            JsonVal::Float(f) => {
                out.push(4);
                out.extend(f.to_le_bytes());
            }
            JsonVal::Str(s) => {
                out.push(5);
                put8(out, s.as_bytes());
            }
            JsonVal::Ints(v) => {
                out.push(6);
                let v = &v[..v.len().min(255)];
                out.push(v.len() as u8);
                for x in v {
                    out.extend(x.to_le_bytes());
                }
            }
        }
    }
}

impl Val {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Val::Null => out.push(0),
            Val::Int(i) => {
                out.push(1);
                out.extend(i.to_le_bytes());
            }
            Val::Real(f) => {
                out.push(2);
                out.extend(f.to_le_bytes());
            }
            Val::Text(s) => {
                out.push(3);
                put16(out, s.as_bytes());
            }
            Val::Blob(b) => {
                out.push(4);
                put16(out, b);
            }
            Val::Flip { at, xor } => {
                out.push(5);
                out.extend(at.to_le_bytes());
                out.push(*xor);
            }
            Val::Json { field, value } => {
                out.extend([6, *field]);
                value.encode(out);
            }
        }
    }
}

impl Script {
    /// Reads a script from fuzzer bytes (see the format above).
    pub fn decode(data: &[u8]) -> Script {
        let mut r = Reader { data };
        let mut s = Script {
            edits: Vec::new(),
            writes: Vec::new(),
        };
        let Some(n) = r.u8() else { return s };
        for _ in 0..n % 17 {
            match r.edit() {
                Some(e) => s.edits.push(e),
                None => return s,
            }
        }
        let Some(n) = r.u8() else { return s };
        for _ in 0..n % 17 {
            match r.write() {
                Some(w) => s.writes.push(w),
                None => return s,
            }
        }
        s
    }

    /// The bytes [`Script::decode`] reads back to this script (at most 16
    /// edits and 16 writes).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let edits = &self.edits[..self.edits.len().min(16)];
        out.push(edits.len() as u8);
        for e in edits {
            match e {
                Edit::Set {
                    table,
                    row,
                    column,
                    value,
                } => {
                    out.extend([0, *table, *row, *column]);
                    value.encode(&mut out);
                }
                Edit::Delete { table, row } => out.extend([1, *table, *row]),
                Edit::Insert { table, values } => {
                    let values = &values[..values.len().min(11)];
                    out.extend([2, *table, values.len() as u8]);
                    for v in values {
                        v.encode(&mut out);
                    }
                }
                Edit::Pragma {
                    user_version,
                    value,
                } => {
                    out.extend([3, u8::from(*user_version)]);
                    out.extend(value.to_le_bytes());
                }
                Edit::DropTable { table } => out.extend([4, *table]),
                Edit::Raw { offset, bytes } => {
                    out.push(5);
                    out.extend(offset.to_le_bytes());
                    put8(&mut out, bytes);
                }
            }
        }
        let writes = &self.writes[..self.writes.len().min(16)];
        out.push(writes.len() as u8);
        for w in writes {
            match w {
                Write::AppendAudit(n) => out.extend([0, *n]),
                Write::OpenRound(d) => out.extend([1, *d]),
                Write::AddSubmission { client, bytes } => {
                    out.extend([2, *client]);
                    match bytes {
                        Some(b) => {
                            out.push(1);
                            put16(&mut out, b);
                        }
                        None => out.push(0),
                    }
                }
                Write::CloseCollection => out.push(3),
                Write::AddShare { member, digest } => out.extend([4, *member, *digest]),
                Write::CompleteRound => out.push(5),
                Write::FailRound => out.push(6),
                Write::SetMeta(v) => {
                    out.push(7);
                    out.extend(v.to_le_bytes());
                }
                Write::RecordAnswered { round, digest } => out.extend([8, *round, *digest]),
            }
        }
        out
    }
}

/// The seed corpus of the `store` target, as files' bytes.
pub fn seed_corpus() -> Vec<Vec<u8>> {
    seed_scripts().iter().map(Script::encode).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_decode_to_themselves_and_pass() {
        for s in seed_scripts() {
            let bytes = s.encode();
            assert_eq!(Script::decode(&bytes).encode(), bytes);
        }
        // The untouched template reads back whole and recovers.
        let t = template();
        assert!(t.audit.len() > 10 && t.models.len() == 2);
        eprintln!(
            "template: {} bytes, {} audit entries",
            t.image.len(),
            t.audit.len()
        );
        store(&Script::encode(&seed_scripts()[0]));
        store(&Script::encode(&seed_scripts()[1]));
    }

    #[test]
    fn a_tampered_audit_entry_is_refused_and_the_untouched_store_verifies() {
        let t = template();
        let path = work_file("unit.sqlite");
        let open = |script: &Script| {
            remove_db(&path);
            std::fs::write(&path, tampered(script)).expect("write");
            Store::open_read_only(&path).expect("open")
        };
        let none = Script {
            edits: vec![],
            writes: vec![],
        };
        let s = open(&none).verify_audit().expect("untouched verifies");
        assert_eq!(s.entries as usize, t.audit.len());
        let flip = Script {
            edits: vec![Edit::Set {
                table: 7,
                row: 2,
                column: 3,
                value: Val::Flip { at: 5, xor: 1 },
            }],
            writes: vec![],
        };
        assert!(matches!(
            open(&flip).verify_audit(),
            Err(StoreError::AuditBroken { seq: 3, .. })
        ));
        remove_db(&path);
    }

    #[test]
    fn the_recovery_replays_the_open_round() {
        let path = work_file("unit-recover.sqlite");
        remove_db(&path);
        std::fs::write(&path, &template().image).expect("write");
        let st = Store::open(&path).expect("open");
        let open = st.current_round().expect("read").expect("open round");
        assert_eq!(open.round, 2);
        let rec = decode_round_record(open.round, &open.record).expect("record");
        assert_eq!(rec.model_version, 1);
        assert_eq!(st.submissions(2).expect("subs").len(), 3);
        assert_eq!(recover(&st), 3, "the stored submissions replay");
        let mut b = fresh_budget();
        let eps = replay_ledger(&mut b, &st.ledger().expect("ledger")).expect("replay");
        assert!(eps > 0.0 && eps.is_finite());
        drop(st);
        remove_db(&path);
    }
}
