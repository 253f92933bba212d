//! `fedhe audit …`: checks of a node's durable store.
//!
//! `fedhe audit verify --data-dir DIR` opens `DIR/fedhe.sqlite` read-only
//! and recomputes the audit hash chain (see `fedhe_node::store`). A broken
//! chain is reported with the first bad entry and a non-zero exit code.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use fedhe_node::store::{self, Store, StoreError};
use serde_json::json;

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, clap::Subcommand)]
enum AuditCommand {
    /// Recompute the audit hash chain of a node's store and print its head.
    Verify(VerifyArgs),
}

#[derive(Debug, clap::Args)]
struct VerifyArgs {
    /// The node's data directory (holding fedhe.sqlite).
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: AuditArgs) -> anyhow::Result<()> {
    match args.command {
        AuditCommand::Verify(a) => verify(a),
    }
}

/// Opens `DIR/fedhe.sqlite` read-only, with errors naming `--data-dir`.
pub fn open_store(data_dir: &Path) -> anyhow::Result<Store> {
    if !data_dir.is_dir() {
        bail!(
            "--data-dir {}: not a directory (expected a node's data directory holding {})",
            data_dir.display(),
            store::DB_FILE
        );
    }
    let path = data_dir.join(store::DB_FILE);
    Store::open_read_only(&path)
        .with_context(|| format!("--data-dir {}: opening the store", data_dir.display()))
}

fn verify(a: VerifyArgs) -> anyhow::Result<()> {
    let s = open_store(&a.data_dir)?;
    match s.verify_audit() {
        Ok(sum) => {
            if a.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "ok": true,
                        "entries": sum.entries,
                        "head": store::hex(&sum.head),
                        "path": s.path().display().to_string(),
                    }))?
                );
            } else {
                println!(
                    "audit log of {} verified: {} entries, head {}",
                    s.path().display(),
                    sum.entries,
                    store::hex(&sum.head)
                );
            }
            Ok(())
        }
        Err(StoreError::AuditBroken { seq, reason }) => {
            if a.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "ok": false,
                        "seq": seq,
                        "reason": reason,
                        "path": s.path().display().to_string(),
                    }))?
                );
            }
            bail!(
                "audit log of {} is BROKEN at entry {seq}: {reason}",
                s.path().display()
            )
        }
        Err(e) => {
            Err(e).with_context(|| format!("verifying the audit log of {}", s.path().display()))
        }
    }
}
