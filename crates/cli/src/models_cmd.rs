//! `fedhe models …`: the model registry of a server's store.
//!
//! - `list`: every version with digest, parent, round, accuracy/loss (from
//!   its metrics JSON, if present), ε spent and creation time;
//! - `show VERSION|latest`: one version in full, its digest verified
//!   against the stored parameters;
//! - `export VERSION|latest --out FILE.npy`: the parameters as a 1-D
//!   float32 `.npy` (digest verified first).
//!
//! The store is opened read-only (`DIR/fedhe.sqlite`).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use fedhe_node::store::{self, ModelSummary, ModelVersion, Store, StoreError};
use serde_json::{Value, json};

use crate::audit_cmd::open_store;

#[derive(Debug, clap::Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    command: ModelsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ModelsCommand {
    /// List the model versions.
    List(ListArgs),
    /// Show one model version (digest verified).
    Show(ShowArgs),
    /// Write a model version's parameters as a 1-D float32 .npy file.
    Export(ExportArgs),
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    /// The server's data directory (holding fedhe.sqlite).
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// A version number or `latest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Selector {
    Latest,
    Version(u64),
}

fn parse_selector(s: &str) -> Result<Selector, String> {
    if s.eq_ignore_ascii_case("latest") {
        return Ok(Selector::Latest);
    }
    s.parse::<u64>()
        .map(Selector::Version)
        .map_err(|_| format!("expected a model version number or `latest`, got {s:?}"))
}

#[derive(Debug, clap::Args)]
struct ShowArgs {
    /// Model version number, or `latest`.
    #[arg(value_name = "VERSION", value_parser = parse_selector)]
    version: Selector,
    /// The server's data directory (holding fedhe.sqlite).
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct ExportArgs {
    /// Model version number, or `latest`.
    #[arg(value_name = "VERSION", value_parser = parse_selector)]
    version: Selector,
    /// The server's data directory (holding fedhe.sqlite).
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// Output file (.npy, 1-D float32).
    #[arg(long, value_name = "FILE.npy")]
    out: PathBuf,
    /// Overwrite FILE if it exists.
    #[arg(long)]
    force: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: ModelsArgs) -> anyhow::Result<()> {
    match args.command {
        ModelsCommand::List(a) => list(a),
        ModelsCommand::Show(a) => show(a),
        ModelsCommand::Export(a) => export(a),
    }
}

/// Days since 1970-01-01 → (year, month, day) (Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Milliseconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`.
fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// Parsed JSON text, or the text itself if it does not parse.
fn json_text(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

fn metric(m: &ModelSummary, key: &str) -> Option<f64> {
    serde_json::from_str::<Value>(&m.metrics_json)
        .ok()?
        .get(key)?
        .as_f64()
}

fn summary_json(m: &ModelSummary) -> Value {
    json!({
        "version": m.version,
        "parent": m.parent,
        "round": m.round,
        "digest": store::hex(&m.digest),
        "created_at_ms": m.created_at_ms,
        "created": utc(m.created_at_ms),
        "epsilon_spent": m.epsilon_spent,
        "accuracy": metric(m, "accuracy"),
        "loss": metric(m, "loss"),
        "n_params": m.n_params,
    })
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn list(a: ListArgs) -> anyhow::Result<()> {
    let s = open_store(&a.data_dir)?;
    let models = s
        .models()
        .with_context(|| format!("reading the model registry of {}", s.path().display()))?;
    if a.json {
        let v: Vec<Value> = models.iter().map(summary_json).collect();
        println!("{}", serde_json::to_string_pretty(&json!({ "models": v }))?);
        return Ok(());
    }
    if models.is_empty() {
        println!("no model versions in {}", s.path().display());
        return Ok(());
    }
    println!(
        "{:>7}  {:>6}  {:>6}  {:<16}  {:>8}  {:>9}  {:>8}  {:>9}  created (UTC)",
        "version", "parent", "round", "digest", "accuracy", "loss", "epsilon", "params"
    );
    for m in &models {
        println!(
            "{:>7}  {:>6}  {:>6}  {:<16}  {:>8}  {:>9}  {:>8.4}  {:>9}  {}",
            m.version,
            opt(m.parent),
            opt(m.round),
            &store::hex(&m.digest)[..16],
            opt(metric(m, "accuracy").map(|x| format!("{x:.4}"))),
            opt(metric(m, "loss").map(|x| format!("{x:.4}"))),
            m.epsilon_spent,
            m.n_params,
            utc(m.created_at_ms)
        );
    }
    Ok(())
}

/// The selected version, its digest verified, with errors naming VERSION.
fn load(s: &Store, sel: Selector) -> anyhow::Result<ModelVersion> {
    let path = s.path().display();
    match sel {
        Selector::Latest => s
            .latest_model()
            .with_context(|| format!("reading the latest model of {path}"))?
            .with_context(|| format!("VERSION latest: {path} holds no model version")),
        Selector::Version(v) => match s.model(v) {
            Ok(m) => Ok(m),
            Err(StoreError::Missing { .. }) => {
                let known: Vec<String> = s
                    .models()
                    .map(|ms| ms.iter().map(|m| m.version.to_string()).collect())
                    .unwrap_or_default();
                bail!(
                    "VERSION {v}: no such model version in {path} (versions: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )
            }
            Err(e) => Err(e).with_context(|| format!("reading model version {v} of {path}")),
        },
    }
}

fn param_stats(p: &[f32]) -> Value {
    let finite: Vec<f64> = p
        .iter()
        .filter(|x| x.is_finite())
        .map(|x| f64::from(*x))
        .collect();
    let min = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let l2 = finite.iter().map(|x| x * x).sum::<f64>().sqrt();
    json!({
        "min": if finite.is_empty() { None } else { Some(min) },
        "max": if finite.is_empty() { None } else { Some(max) },
        "l2_norm": l2,
        "non_finite": p.len() - finite.len(),
    })
}

fn show(a: ShowArgs) -> anyhow::Result<()> {
    let s = open_store(&a.data_dir)?;
    let m = load(&s, a.version)?;
    let mut v = summary_json(&m.summary);
    if let Value::Object(o) = &mut v {
        o.insert("digest_verified".into(), Value::Bool(true));
        o.insert("metrics".into(), json_text(&m.summary.metrics_json));
        o.insert("hyperparams".into(), json_text(&m.summary.hyperparams_json));
        o.insert("params".into(), param_stats(&m.params));
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let sm = &m.summary;
    println!("model version  {}", sm.version);
    println!("parent         {}", opt(sm.parent));
    println!("round          {}", opt(sm.round));
    println!("digest         {} (verified)", store::hex(&sm.digest));
    println!("created (UTC)  {}", utc(sm.created_at_ms));
    println!("epsilon spent  {}", sm.epsilon_spent);
    println!("parameters     {}", sm.n_params);
    println!(
        "metrics        {}",
        serde_json::to_string_pretty(&json_text(&sm.metrics_json))?
    );
    println!(
        "hyperparams    {}",
        serde_json::to_string_pretty(&json_text(&sm.hyperparams_json))?
    );
    Ok(())
}

/// Writes `params` to `out` through a temporary file in the same directory
/// and a rename, so that a failure never leaves a partial FILE.
fn write_npy_atomic(out: &Path, params: Vec<f32>, force: bool) -> anyhow::Result<()> {
    let name = out
        .file_name()
        .with_context(|| format!("--out {}: not a file name", out.display()))?;
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        bail!(
            "--out {}: directory {} does not exist",
            out.display(),
            dir.display()
        );
    }
    if out.exists() && !force {
        bail!(
            "--out {}: file exists (pass --force to overwrite)",
            out.display()
        );
    }
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = dir.join(tmp_name);
    let arr = ndarray::Array1::from(params);
    let written = ndarray_npy::write_npy(&tmp, &arr)
        .with_context(|| format!("--out {}: writing {}", out.display(), tmp.display()));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if !force && out.exists() {
        let _ = std::fs::remove_file(&tmp);
        bail!(
            "--out {}: file appeared meanwhile (pass --force to overwrite)",
            out.display()
        );
    }
    std::fs::rename(&tmp, out).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow::anyhow!("--out {}: {e}", out.display())
    })
}

fn export(a: ExportArgs) -> anyhow::Result<()> {
    if a.out.exists() && !a.force {
        bail!(
            "--out {}: file exists (pass --force to overwrite)",
            a.out.display()
        );
    }
    let s = open_store(&a.data_dir)?;
    let m = load(&s, a.version)?;
    let n = m.params.len();
    let sm = m.summary;
    write_npy_atomic(&a.out, m.params, a.force)?;
    let v = json!({
        "path": a.out.display().to_string(),
        "version": sm.version,
        "digest": store::hex(&sm.digest),
        "n_params": n,
        "dtype": "float32",
    });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "wrote {} ({n} float32 parameters of model version {}, digest {})",
            a.out.display(),
            sm.version,
            store::hex(&sm.digest)
        );
    }
    Ok(())
}
