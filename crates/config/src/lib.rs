//! # fedhe-config
//!
//! The TOML configuration files of `fedhe serve`, `fedhe client` and
//! `fedhe committee` (documented, with a commented example each, in
//! `crates/config/examples/`).
//!
//! Every table refuses unknown keys, every value is range-checked by
//! [`ServeConfig::validate`] (and the others) with an error that names the
//! key and says what was expected, and relative paths are resolved against
//! the directory of the file they appear in ([`load_serve`] and friends).
//! Secrets never appear in a configuration: keys are sealed files
//! (`fedhe keys …`) whose passphrase comes from an environment variable or a
//! file named here.
//!
//! This crate only parses and checks; `fedhe-node` turns a configuration
//! into a running participant.

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A configuration error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Not valid TOML, or a key of the wrong type, or an unknown key.
    #[error("{file}: {message}")]
    Parse {
        /// The file (or `<string>`).
        file: String,
        /// The TOML parser's message (with line and column).
        message: String,
    },
    /// A value out of range.
    #[error("{file}: `{key}`: expected {expected}")]
    Invalid {
        /// The file.
        file: String,
        /// The dotted key.
        key: String,
        /// What was expected (and what was found).
        expected: String,
    },
    /// The file cannot be read.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, ConfigError>;

/// Where a sealed key's passphrase comes from: exactly one of the two.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// The federation CA certificate (PEM).
    pub ca: PathBuf,
    /// The CA-signed roster (`roster.json`).
    pub roster: PathBuf,
    /// This participant's certificate (PEM) for the role it runs as.
    pub cert: PathBuf,
    /// The sealed private key of that certificate: a participant key from
    /// `fedhe keys cert issue`, or a committee member's `member.key`.
    pub key: PathBuf,
    /// Name of the environment variable holding the key's passphrase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase_env: Option<String>,
    /// File holding the key's passphrase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase_file: Option<PathBuf>,
}

impl Identity {
    fn validate(&self, file: &str, table: &str) -> Result<()> {
        match (&self.passphrase_env, &self.passphrase_file) {
            (Some(_), Some(_)) | (None, None) => Err(invalid(
                file,
                &format!("{table}.passphrase_env"),
                "exactly one of passphrase_env and passphrase_file",
            )),
            (Some(e), None) if e.is_empty() => Err(invalid(
                file,
                &format!("{table}.passphrase_env"),
                "a non-empty variable name",
            )),
            _ => Ok(()),
        }
    }

    fn resolve(&mut self, base: &Path) {
        for p in [
            &mut self.ca,
            &mut self.roster,
            &mut self.cert,
            &mut self.key,
        ] {
            *p = base.join(&*p);
        }
        if let Some(p) = &mut self.passphrase_file {
            *p = base.join(&*p);
        }
    }
}

/// Server limits (bounded concurrency; DESIGN.md §7).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Submissions being received, checked or written at once, over all
    /// peers (each is at most one frame, so memory is bounded by this
    /// times the largest frame).
    pub max_inflight_submissions: u32,
    /// Concurrent streams one peer may open.
    pub max_streams_per_peer: u32,
    /// Connections at once.
    pub max_connections: u32,
    /// Frames one peer may send per second (averaged; bursts up to 4×).
    pub max_frames_per_second: f64,
    /// A connection with no traffic for this long is closed.
    pub idle_timeout_secs: u64,
    /// KiB a peer may send on its connection before the server reads them
    /// (QUIC flow control, per connection and per stream). Data waiting for
    /// an in-flight permit is at most `max_connections ×` this; raise it
    /// for peers far away (it caps one upload at window ÷ RTT).
    pub receive_window_kib: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_inflight_submissions: 64,
            max_streams_per_peer: 4,
            max_connections: 10_000,
            max_frames_per_second: 20.0,
            idle_timeout_secs: 60,
            receive_window_kib: 128,
        }
    }
}

/// The model the federation trains.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// `softmax`, `mlp:H` or `mlp:H1,H2`.
    pub kind: String,
    /// Input features.
    pub features: usize,
    /// Classes.
    pub classes: usize,
    /// Seed of the initial weights (public).
    #[serde(default)]
    pub init_seed: u64,
}

/// Rounds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundsConfig {
    /// Rounds to run (the DP plan covers exactly these).
    pub count: u64,
    /// Each connected client is invited with this probability (Poisson
    /// sampling, which the privacy accountant assumes).
    pub sampling_rate: f64,
    /// The fewest contributions a round decrypts (and the DP plan assumes).
    pub min_clients: u32,
    /// Collection closes when this many invited clients have submitted
    /// (default: all invited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum: Option<u32>,
    /// Collection closes at the latest this long after the round opens.
    pub deadline_secs: u64,
    /// A committee member that has not answered after this long is
    /// replaced.
    pub share_timeout_secs: u64,
    /// Before each round, wait up to this long for `min_clients` connected
    /// clients.
    #[serde(default = "default_wait")]
    pub wait_for_clients_secs: u64,
    /// L2 clip norm of an update.
    pub clip: f64,
    /// Modulus bits of the DDGauss sum.
    #[serde(default = "default_bits")]
    pub bits: u32,
    /// Server step size on the mean update.
    #[serde(default = "default_server_lr")]
    pub server_lr: f64,
}

fn default_wait() -> u64 {
    60
}
fn default_bits() -> u32 {
    28
}
fn default_server_lr() -> f64 {
    1.0
}

/// The DP target of the whole run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DpConfig {
    /// ε over all rounds.
    pub epsilon: f64,
    /// δ.
    pub delta: f64,
}

/// Data a participant reads: an embedded or on-disk dataset, and which part
/// of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// `digits` (embedded), `mnist`, `fashion` or `csv`.
    pub dataset: String,
    /// Directory (mnist, fashion) or file (csv).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// For `csv`: the label column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_col: Option<String>,
    /// The dataset is split into this many parts…
    #[serde(default = "one")]
    pub parts: usize,
    /// …and this participant holds part `index` (0-based).
    #[serde(default)]
    pub index: usize,
    /// `iid`, `dirichlet:ALPHA` or `shards:K`.
    #[serde(default = "iid")]
    pub partition: String,
    /// Seed of the split (public; equal on every participant).
    #[serde(default)]
    pub seed: u64,
}

fn softmax() -> String {
    "softmax".into()
}
fn one() -> usize {
    1
}
fn iid() -> String {
    "iid".into()
}

/// A client's local training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingConfig {
    /// The federation's model: `softmax`, `mlp:H` or `mlp:H1,H2` (as the
    /// server's `model.kind`).
    #[serde(default = "softmax")]
    pub model: String,
    /// Local epochs.
    pub epochs: usize,
    /// Minibatch size.
    pub batch_size: usize,
    /// Learning rate.
    pub lr: f64,
}

/// `fedhe serve --config FILE`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Federation name (as in the roster).
    pub federation: String,
    /// UDP address to listen on.
    pub listen: SocketAddr,
    /// Directory of the server's SQLite database.
    pub data_dir: PathBuf,
    /// Loopback address for Prometheus metrics (`GET /metrics`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
    /// The server's certificate and key.
    pub identity: Identity,
    /// The committee's key: the ceremony transcript (`dkg finalize`).
    pub transcript: PathBuf,
    /// The model.
    pub model: ModelConfig,
    /// Rounds.
    pub rounds: RoundsConfig,
    /// Differential privacy; absent = no noise (updates are still clipped,
    /// quantized and encrypted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dp: Option<DpConfig>,
    /// A public test set the server evaluates each new model on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<DataConfig>,
    /// Limits.
    #[serde(default)]
    pub limits: Limits,
}

/// The committee role of a participant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberConfig {
    /// The committee certificate and the sealed `member.key`.
    pub identity: Identity,
    /// The sealed key share (`dkg accept`), same passphrase as `member.key`.
    pub key_share: PathBuf,
    /// Refuse to decrypt an aggregate of fewer distinct contributions.
    pub min_contributors: u32,
    /// Refuse to decrypt more rounds than this (the privacy plan's rounds).
    pub max_rounds: u64,
}

/// `fedhe client --config FILE`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// The server's address.
    pub server: SocketAddr,
    /// The name in the server's certificate.
    pub server_name: String,
    /// Federation name.
    pub federation: String,
    /// Directory of this participant's state.
    pub data_dir: PathBuf,
    /// The committee's key: the ceremony transcript.
    pub transcript: PathBuf,
    /// The client certificate and key.
    pub identity: Identity,
    /// Local data.
    pub data: DataConfig,
    /// Local training.
    pub training: TrainingConfig,
    /// Also serve as a committee member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committee: Option<MemberConfig>,
}

/// `fedhe committee --config FILE`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitteeConfig {
    /// The server's address.
    pub server: SocketAddr,
    /// The name in the server's certificate.
    pub server_name: String,
    /// Federation name.
    pub federation: String,
    /// Directory of this member's records (answered aggregates).
    pub data_dir: PathBuf,
    /// The committee's key: the ceremony transcript.
    pub transcript: PathBuf,
    /// The member.
    pub member: MemberConfig,
}

fn invalid(file: &str, key: &str, expected: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        file: file.into(),
        key: key.into(),
        expected: expected.into(),
    }
}

fn parse<T: serde::de::DeserializeOwned>(file: &str, text: &str) -> Result<T> {
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        file: file.into(),
        message: e.to_string().trim_end().to_owned(),
    })
}

fn serialize<T: Serialize>(v: &T) -> String {
    // Every type here serializes (no maps with non-string keys, no
    // non-finite floats after validation); a failure is a bug we report
    // in-band rather than panic on.
    toml::to_string_pretty(v).unwrap_or_else(|e| format!("# not serializable: {e}\n"))
}

fn check_range<T: PartialOrd + std::fmt::Display>(
    file: &str,
    key: &str,
    v: T,
    lo: T,
    hi: T,
) -> Result<()> {
    if v < lo || v > hi {
        return Err(invalid(file, key, format!("in {lo}..={hi}, got {v}")));
    }
    Ok(())
}

fn check_finite_pos(file: &str, key: &str, v: f64) -> Result<()> {
    if !(v.is_finite() && v > 0.0) {
        return Err(invalid(file, key, format!("finite and > 0, got {v}")));
    }
    Ok(())
}

fn check_name(file: &str, key: &str, v: &str) -> Result<()> {
    if v.is_empty() || v.len() > 255 || v.chars().any(char::is_control) {
        return Err(invalid(file, key, "1 to 255 printable characters"));
    }
    Ok(())
}

impl DataConfig {
    fn validate(&self, file: &str, table: &str) -> Result<()> {
        match self.dataset.as_str() {
            "digits" => {}
            "mnist" | "fashion" | "csv" => {
                if self.path.is_none() {
                    return Err(invalid(
                        file,
                        &format!("{table}.path"),
                        format!("a path for dataset {:?}", self.dataset),
                    ));
                }
            }
            other => {
                return Err(invalid(
                    file,
                    &format!("{table}.dataset"),
                    format!("digits, mnist, fashion or csv, got {other:?}"),
                ));
            }
        }
        check_range(file, &format!("{table}.parts"), self.parts, 1, 1_000_000)?;
        if self.index >= self.parts {
            return Err(invalid(
                file,
                &format!("{table}.index"),
                format!("below parts ({}), got {}", self.parts, self.index),
            ));
        }
        let p = self.partition.as_str();
        let ok = p == "iid"
            || p.strip_prefix("dirichlet:")
                .and_then(|a| a.parse::<f64>().ok())
                .is_some_and(|a| a.is_finite() && a > 0.0)
            || p.strip_prefix("shards:")
                .and_then(|k| k.parse::<usize>().ok())
                .is_some_and(|k| k > 0);
        if !ok {
            return Err(invalid(
                file,
                &format!("{table}.partition"),
                format!("iid, dirichlet:ALPHA (ALPHA > 0) or shards:K (K ≥ 1), got {p:?}"),
            ));
        }
        Ok(())
    }

    fn resolve(&mut self, base: &Path) {
        if let Some(p) = &mut self.path {
            *p = base.join(&*p);
        }
    }
}

fn check_model_kind(file: &str, key: &str, kind: &str) -> Result<()> {
    let ok = kind == "softmax"
        || kind.strip_prefix("mlp:").is_some_and(|h| {
            let w: Vec<_> = h.split(',').map(|x| x.trim().parse::<usize>()).collect();
            (1..=2).contains(&w.len())
                && w.iter()
                    .all(|x| matches!(x, Ok(n) if *n >= 1 && *n <= 4096))
        });
    if !ok {
        return Err(invalid(
            file,
            key,
            format!("softmax, mlp:H or mlp:H1,H2 (widths 1..=4096), got {kind:?}"),
        ));
    }
    Ok(())
}

impl MemberConfig {
    fn validate(&self, file: &str, table: &str) -> Result<()> {
        self.identity.validate(file, &format!("{table}.identity"))?;
        check_range(
            file,
            &format!("{table}.min_contributors"),
            self.min_contributors,
            1,
            u32::MAX,
        )?;
        check_range(
            file,
            &format!("{table}.max_rounds"),
            self.max_rounds,
            1,
            1 << 32,
        )
    }
    fn resolve(&mut self, base: &Path) {
        self.identity.resolve(base);
        self.key_share = base.join(&self.key_share);
    }
}

impl ServeConfig {
    /// Parses (without resolving paths) and validates.
    pub fn from_toml(text: &str) -> Result<Self> {
        let c: Self = parse("<string>", text)?;
        c.validate("<string>")?;
        Ok(c)
    }

    /// The TOML form.
    pub fn to_toml(&self) -> String {
        serialize(self)
    }

    /// Checks every value; `file` names the source in errors.
    pub fn validate(&self, file: &str) -> Result<()> {
        check_name(file, "federation", &self.federation)?;
        self.identity.validate(file, "identity")?;
        if let Some(m) = self.metrics_listen
            && !m.ip().is_loopback()
        {
            return Err(invalid(
                file,
                "metrics_listen",
                format!("a loopback address (metrics are not authenticated), got {m}"),
            ));
        }
        check_model_kind(file, "model.kind", &self.model.kind)?;
        check_range(file, "model.features", self.model.features, 1, 1 << 20)?;
        check_range(file, "model.classes", self.model.classes, 2, 1 << 16)?;
        let r = &self.rounds;
        check_range(file, "rounds.count", r.count, 1, 1_000_000)?;
        if !(r.sampling_rate > 0.0 && r.sampling_rate <= 1.0) {
            return Err(invalid(
                file,
                "rounds.sampling_rate",
                format!("in (0, 1], got {}", r.sampling_rate),
            ));
        }
        check_range(file, "rounds.min_clients", r.min_clients, 1, 1_000_000)?;
        if let Some(q) = r.quorum {
            check_range(file, "rounds.quorum", q, r.min_clients, 1_000_000)?;
        }
        check_range(file, "rounds.deadline_secs", r.deadline_secs, 1, 86_400)?;
        check_range(
            file,
            "rounds.share_timeout_secs",
            r.share_timeout_secs,
            1,
            86_400,
        )?;
        check_range(
            file,
            "rounds.wait_for_clients_secs",
            r.wait_for_clients_secs,
            0,
            86_400,
        )?;
        check_finite_pos(file, "rounds.clip", r.clip)?;
        check_range(file, "rounds.bits", r.bits, 2, 62)?;
        check_finite_pos(file, "rounds.server_lr", r.server_lr)?;
        if let Some(dp) = &self.dp {
            check_finite_pos(file, "dp.epsilon", dp.epsilon)?;
            if !(dp.delta > 0.0 && dp.delta < 1.0) {
                return Err(invalid(
                    file,
                    "dp.delta",
                    format!("in (0, 1), got {}", dp.delta),
                ));
            }
        }
        if let Some(e) = &self.evaluation {
            e.validate(file, "evaluation")?;
        }
        let l = &self.limits;
        check_range(
            file,
            "limits.max_inflight_submissions",
            l.max_inflight_submissions,
            1,
            1 << 16,
        )?;
        check_range(
            file,
            "limits.max_streams_per_peer",
            l.max_streams_per_peer,
            1,
            1024,
        )?;
        check_range(
            file,
            "limits.max_connections",
            l.max_connections,
            1,
            1 << 20,
        )?;
        check_finite_pos(
            file,
            "limits.max_frames_per_second",
            l.max_frames_per_second,
        )?;
        check_range(
            file,
            "limits.idle_timeout_secs",
            l.idle_timeout_secs,
            1,
            86_400,
        )?;
        check_range(
            file,
            "limits.receive_window_kib",
            l.receive_window_kib,
            16,
            1 << 20,
        )
    }

    fn resolve(&mut self, base: &Path) {
        self.data_dir = base.join(&self.data_dir);
        self.identity.resolve(base);
        self.transcript = base.join(&self.transcript);
        if let Some(e) = &mut self.evaluation {
            e.resolve(base);
        }
    }
}

impl ClientConfig {
    /// Parses (without resolving paths) and validates.
    pub fn from_toml(text: &str) -> Result<Self> {
        let c: Self = parse("<string>", text)?;
        c.validate("<string>")?;
        Ok(c)
    }

    /// The TOML form.
    pub fn to_toml(&self) -> String {
        serialize(self)
    }

    /// Checks every value.
    pub fn validate(&self, file: &str) -> Result<()> {
        check_name(file, "federation", &self.federation)?;
        check_name(file, "server_name", &self.server_name)?;
        self.identity.validate(file, "identity")?;
        self.data.validate(file, "data")?;
        check_model_kind(file, "training.model", &self.training.model)?;
        check_range(file, "training.epochs", self.training.epochs, 1, 1000)?;
        check_range(
            file,
            "training.batch_size",
            self.training.batch_size,
            1,
            1 << 20,
        )?;
        check_finite_pos(file, "training.lr", self.training.lr)?;
        if let Some(m) = &self.committee {
            m.validate(file, "committee")?;
        }
        Ok(())
    }

    fn resolve(&mut self, base: &Path) {
        self.data_dir = base.join(&self.data_dir);
        self.transcript = base.join(&self.transcript);
        self.identity.resolve(base);
        self.data.resolve(base);
        if let Some(m) = &mut self.committee {
            m.resolve(base);
        }
    }
}

impl CommitteeConfig {
    /// Parses (without resolving paths) and validates.
    pub fn from_toml(text: &str) -> Result<Self> {
        let c: Self = parse("<string>", text)?;
        c.validate("<string>")?;
        Ok(c)
    }

    /// The TOML form.
    pub fn to_toml(&self) -> String {
        serialize(self)
    }

    /// Checks every value.
    pub fn validate(&self, file: &str) -> Result<()> {
        check_name(file, "federation", &self.federation)?;
        check_name(file, "server_name", &self.server_name)?;
        self.member.validate(file, "member")
    }

    fn resolve(&mut self, base: &Path) {
        self.data_dir = base.join(&self.data_dir);
        self.transcript = base.join(&self.transcript);
        self.member.resolve(base);
    }
}

/// Largest configuration file read.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

fn read(path: &Path) -> Result<(String, String, PathBuf)> {
    let file = path.display().to_string();
    let io = |source| ConfigError::Io {
        file: file.clone(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(invalid(
            &file,
            "(file)",
            format!("at most {MAX_FILE_BYTES} bytes, got {}", meta.len()),
        ));
    }
    let bytes = std::fs::read(path).map_err(io)?;
    let text = String::from_utf8(bytes).map_err(|e| ConfigError::Parse {
        file: file.clone(),
        message: format!("not UTF-8: {e}"),
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok((file, text, base))
}

/// Reads, validates and resolves `fedhe serve`'s configuration.
pub fn load_serve(path: &Path) -> Result<ServeConfig> {
    let (file, text, base) = read(path)?;
    let mut c: ServeConfig = parse(&file, &text)?;
    c.validate(&file)?;
    c.resolve(&base);
    Ok(c)
}

/// Reads, validates and resolves `fedhe client`'s configuration.
pub fn load_client(path: &Path) -> Result<ClientConfig> {
    let (file, text, base) = read(path)?;
    let mut c: ClientConfig = parse(&file, &text)?;
    c.validate(&file)?;
    c.resolve(&base);
    Ok(c)
}

/// Reads, validates and resolves `fedhe committee`'s configuration.
pub fn load_committee(path: &Path) -> Result<CommitteeConfig> {
    let (file, text, base) = read(path)?;
    let mut c: CommitteeConfig = parse(&file, &text)?;
    c.validate(&file)?;
    c.resolve(&base);
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVE: &str = include_str!("../examples/serve.toml");
    const CLIENT: &str = include_str!("../examples/client.toml");
    const COMMITTEE: &str = include_str!("../examples/committee.toml");

    #[test]
    fn the_examples_parse_and_round_trip() {
        let s = ServeConfig::from_toml(SERVE).expect("serve example");
        assert_eq!(ServeConfig::from_toml(&s.to_toml()).expect("again"), s);
        let c = ClientConfig::from_toml(CLIENT).expect("client example");
        assert_eq!(ClientConfig::from_toml(&c.to_toml()).expect("again"), c);
        let m = CommitteeConfig::from_toml(COMMITTEE).expect("committee example");
        assert_eq!(CommitteeConfig::from_toml(&m.to_toml()).expect("again"), m);
    }

    fn err(text: &str) -> String {
        ServeConfig::from_toml(text)
            .expect_err("must be refused")
            .to_string()
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = err(&SERVE.replace("sampling_rate = 0.5", "sampling_rate = 1.5"));
        assert!(
            e.contains("rounds.sampling_rate") && e.contains("1.5"),
            "{e}"
        );
        let e = err(&SERVE.replace("epsilon = 8.0", "epsilon = -1.0"));
        assert!(e.contains("dp.epsilon"), "{e}");
        let e = err(&SERVE.replace("kind = \"softmax\"", "kind = \"cnn\""));
        assert!(e.contains("model.kind"), "{e}");
        let e = err(&SERVE.replace("receive_window_kib = 128", "receive_window_kib = 4"));
        assert!(e.contains("limits.receive_window_kib"), "{e}");
        let e = err(&SERVE.replace(
            "metrics_listen = \"127.0.0.1:9464\"",
            "metrics_listen = \"0.0.0.0:9464\"",
        ));
        assert!(
            e.contains("metrics_listen") && e.contains("loopback"),
            "{e}"
        );
        let e = err(&format!("{SERVE}\nsurprise = 1\n"));
        assert!(e.contains("surprise"), "{e}");
        let e = err(&SERVE.replace("passphrase_env = \"FEDHE_SERVER_PASSPHRASE\"", ""));
        assert!(e.contains("passphrase"), "{e}");
        let e = err("listen = [");
        assert!(e.contains("<string>"), "{e}");
    }

    #[test]
    fn client_partition_and_index_are_checked() {
        let e = ClientConfig::from_toml(&CLIENT.replace("index = 3", "index = 10"))
            .expect_err("index")
            .to_string();
        assert!(e.contains("data.index"), "{e}");
        let e = ClientConfig::from_toml(
            &CLIENT.replace("partition = \"iid\"", "partition = \"dirichlet:-1\""),
        )
        .expect_err("partition")
        .to_string();
        assert!(e.contains("data.partition"), "{e}");
    }

    #[test]
    fn paths_resolve_against_the_file() {
        let dir = std::env::temp_dir().join(format!("fedhe-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("serve.toml");
        std::fs::write(&p, SERVE).expect("write");
        let c = load_serve(&p).expect("load");
        assert_eq!(c.data_dir, dir.join("server"));
        assert_eq!(c.identity.ca, dir.join("ca/ca.crt"));
        let missing = load_serve(&dir.join("absent.toml")).expect_err("missing");
        assert!(missing.to_string().contains("absent.toml"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
