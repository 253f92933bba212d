//! `fedhe bench he`: end-to-end timing of the cryptographic core.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use fedhe_he::{
    CiphertextList, Committee, DealtCommittee, DecryptingSet, HeContext, MemberId, combine,
    partial_decrypt,
};
use indicatif::{ProgressBar, ProgressStyle};
use rand::Rng;

use crate::params::{deployment, parse_committee};

/// Benchmarks of the cryptographic core.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchWhat,
}

#[derive(Debug, clap::Subcommand)]
pub enum BenchWhat {
    /// Deal keys, encrypt K vectors, sum them, threshold-decrypt, check, time each step.
    He(HeBenchArgs),
}

#[derive(Debug, clap::Args)]
pub struct HeBenchArgs {
    /// Preset name (`fedhe params --list`).
    #[arg(long, default_value = "default")]
    pub preset: String,
    /// Values per client vector.
    #[arg(long, default_value_t = 100_000)]
    pub values: usize,
    /// Number of client vectors summed.
    #[arg(long, default_value_t = 10)]
    pub clients: u32,
    /// Committee as T/N.
    #[arg(long, value_parser = parse_committee)]
    pub committee: Option<Committee>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: BenchArgs) -> Result<()> {
    match a.what {
        BenchWhat::He(h) => run_he(h),
    }
}

fn per_mvalue(d: Duration, values: f64) -> f64 {
    d.as_secs_f64() / values * 1e6
}

fn run_he(a: HeBenchArgs) -> Result<()> {
    if a.values == 0 {
        bail!("--values must be at least 1");
    }
    if a.clients == 0 {
        bail!("--clients must be at least 1");
    }
    if a.threads == Some(0) {
        bail!("--threads must be at least 1");
    }
    let (preset, params) = deployment(&a.preset, Some(a.clients), a.committee)?;
    let ctx = HeContext::new(params).with_context(|| format!("preset {} refused", preset.name))?;
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    pool.install(|| bench(&ctx, &a, threads))
}

fn bench(ctx: &std::sync::Arc<HeContext>, a: &HeBenchArgs, threads: usize) -> Result<()> {
    let mut rng = fedhe_ring::os_rng()?;
    let mut data_rng = fedhe_ring::os_rng()?;
    let t0 = Instant::now();
    let committee = DealtCommittee::deal(ctx, &mut rng)?;
    let deal_time = t0.elapsed();
    let p = ctx.params();
    let mask = p.plaintext_modulus() - 1;
    let v = a.values;
    let k = a.clients as usize;

    let bar = ProgressBar::new(k as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:40}] {pos}/{len} clients {elapsed}")?
            .progress_chars("=> "),
    );
    bar.set_prefix("encrypt+add");
    let mut sum = CiphertextList::zero(ctx, v);
    let mut plain = vec![0u64; v];
    let (mut enc, mut add) = (Duration::ZERO, Duration::ZERO);
    let mut bytes = 0usize;
    let mut values = vec![0u64; v];
    for _ in 0..k {
        for x in values.iter_mut() {
            *x = data_rng.next_u64() & mask;
        }
        for (s, x) in plain.iter_mut().zip(&values) {
            *s = (*s + x) & mask;
        }
        let t = Instant::now();
        let ct = CiphertextList::encrypt(&committee.public_key, &values, &mut rng)?;
        enc += t.elapsed();
        if bytes == 0 {
            bytes = ct.to_bytes().len();
        }
        let t = Instant::now();
        sum.add_assign(&ct)?;
        add += t.elapsed();
        drop(ct);
        bar.inc(1);
    }
    bar.finish_and_clear();

    // A random qualified set.
    let n = p.committee.members;
    let mut ids: Vec<u16> = (1..=n).collect();
    for i in (1..ids.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        ids.swap(i, j);
    }
    ids.truncate(usize::from(p.committee.threshold));
    let members = ids
        .iter()
        .map(|&i| MemberId::new(i))
        .collect::<fedhe_he::Result<Vec<_>>>()?;
    let set = DecryptingSet::new(ctx, &members)?;
    // The server names the aggregate by its digest in the decryption request;
    // computing it is the server's cost, not a member's, so it happens here,
    // before the members' timing (a member decoding the request's bytes gets
    // the digest from that decoding).
    let t = Instant::now();
    let digest_time = {
        sum.digest();
        t.elapsed()
    };
    let mut shares = Vec::new();
    let mut partial = Vec::new();
    for m in set.members() {
        let key = &committee.key_shares[usize::from(m.get()) - 1];
        let t = Instant::now();
        shares.push(partial_decrypt(key, &set, &sum, &mut rng)?);
        partial.push(t.elapsed());
    }
    partial.sort();
    let partial_median = partial[partial.len() / 2];
    let t = Instant::now();
    let out = combine(&sum, &set, &shares)?;
    let comb = t.elapsed();
    let exact = out == plain;

    let total = (k * v) as f64;
    let bytes_per_value = bytes as f64 / v as f64;
    let report = serde_json::json!({
        "preset": p.preset,
        "degree": p.degree,
        "log2_q": ctx.analysis().log2_q,
        "plaintext_bits": p.plaintext_bits,
        "values": v,
        "clients": k,
        "committee": {"threshold": p.committee.threshold, "members": p.committee.members},
        "decrypting_set": set.members().iter().map(|m| m.get()).collect::<Vec<_>>(),
        "threads": threads,
        "keygen_s": deal_time.as_secs_f64(),
        "encrypt_s_per_mvalue": per_mvalue(enc, total),
        "add_s_per_mvalue": per_mvalue(add, total),
        "partial_decrypt_s_per_mvalue": per_mvalue(partial_median, v as f64),
        "combine_s_per_mvalue": per_mvalue(comb, v as f64),
        "digest_s_per_mvalue": per_mvalue(digest_time, v as f64),
        "bytes_per_value": bytes_per_value,
        "exact": exact,
    });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "preset {} (N = {}, log2 Q = {:.1}, T = 2^{}), {} clients x {} values, committee {}-of-{}, {} thread(s)",
            p.preset,
            p.degree,
            ctx.analysis().log2_q,
            p.plaintext_bits,
            k,
            v,
            p.committee.threshold,
            p.committee.members,
            threads
        );
        println!(
            "  key generation (whole committee)  {:>10.4} s",
            deal_time.as_secs_f64()
        );
        println!(
            "  encrypt                          {:>10.4} s per million values",
            per_mvalue(enc, total)
        );
        println!(
            "  add                              {:>10.4} s per million values",
            per_mvalue(add, total)
        );
        println!(
            "  partial decrypt (one member)     {:>10.4} s per million values",
            per_mvalue(partial_median, v as f64)
        );
        println!(
            "  combine                          {:>10.4} s per million values",
            per_mvalue(comb, v as f64)
        );
        println!(
            "  wire                             {:>10.3} bytes per value",
            bytes_per_value
        );
        println!("  exact                            {exact}");
    }
    if !exact {
        bail!("the decrypted sum differs from the plaintext sum");
    }
    Ok(())
}
