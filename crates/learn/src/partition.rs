//! Partitions of a training set among clients: per-client index lists.
//!
//! * [`Partition::Iid`]: shuffle, then cut into `K` near-equal parts.
//! * [`Partition::Dirichlet`]: the **per-class Dirichlet split** (variant (b)
//!   in `notes/fl-data.md`: Yurochkin et al. 2019, NIID-Bench
//!   `noniid-labeldir`). For each class a Dir(α·1_K) vector splits that
//!   class's examples among clients, with the "balance" step (clients
//!   already holding `≥ n/K` examples get no more) and the retry loop until
//!   every client holds at least `min(10, n/K)` examples.
//! * [`Partition::Shards`]: the FedProx MNIST split (`generate_niid.py` of
//!   github.com/litian96/FedProx) generalised to `S` labels per client:
//!   client `k` holds labels `k, k+1, …, k+S−1 (mod C)`, first 5 examples of
//!   each of its labels, then each label's remaining examples are shared
//!   among its (client, label) slots in proportion to LogNormal(0, 2) draws
//!   (so client sizes follow a heavy-tailed power law). With `S = 2` and
//!   1000 clients this is the paper's MNIST setup, except that we partition
//!   the 60 000 training images and evaluate on the standard 10 000 test
//!   images, where the paper pooled all 70 000 and split 90/10 per device.

use std::fmt;
use std::str::FromStr;

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma, LogNormal};

use crate::error::{Error, Result};
use crate::rng::{stream, tag};

/// How a training set is split among clients.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Partition {
    /// Uniformly at random, equal sizes (±1).
    Iid,
    /// Per-class Dirichlet(α) label skew (NIID-Bench `noniid-labeldir`).
    Dirichlet {
        /// Concentration; small α = strong skew. 0.5 is the common default.
        alpha: f64,
    },
    /// FedProx-style label shards: each client holds `labels_per_client`
    /// consecutive labels with LogNormal(0, 2)-distributed amounts.
    Shards {
        /// Labels per client (2 in the FedProx paper).
        labels_per_client: usize,
    },
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Iid => write!(f, "iid"),
            Self::Dirichlet { alpha } => write!(f, "dirichlet:{alpha}"),
            Self::Shards { labels_per_client } => write!(f, "shards:{labels_per_client}"),
        }
    }
}

impl FromStr for Partition {
    type Err = Error;

    /// Parses `iid`, `dirichlet:A` (A > 0) or `shards:S` (S ≥ 1).
    fn from_str(s: &str) -> Result<Self> {
        let bad = |what: String| Error::config("partition", what);
        match s.split_once(':') {
            None if s == "iid" => Ok(Self::Iid),
            Some(("dirichlet", a)) => {
                let alpha: f64 = a
                    .parse()
                    .map_err(|_| bad(format!("'{a}' is not a number in dirichlet:A")))?;
                if alpha.is_finite() && alpha > 0.0 {
                    Ok(Self::Dirichlet { alpha })
                } else {
                    Err(bad(format!("dirichlet alpha must be > 0, got {a}")))
                }
            }
            Some(("shards", n)) => match n.parse::<usize>() {
                Ok(labels_per_client) if labels_per_client >= 1 => {
                    Ok(Self::Shards { labels_per_client })
                }
                _ => Err(bad(format!("shards:S needs an integer S >= 1, got '{n}'"))),
            },
            _ => Err(bad(format!(
                "expected iid, dirichlet:A or shards:S, got '{s}'"
            ))),
        }
    }
}

/// Minimum client size the Dirichlet split retries for (NIID-Bench's
/// `min_require_size`), lowered to `n / K` when there is too little data.
const DIRICHLET_MIN_SIZE: usize = 10;
/// Retries before the Dirichlet split gives up.
const DIRICHLET_MAX_TRIES: usize = 10_000;
/// Examples each (client, label) slot gets before the power-law share.
const SHARD_BASE: usize = 5;

/// Splits the examples with labels `labels` (each `< n_classes`) among
/// `n_clients` clients. Returns one index list per client; together they
/// cover each index at most once (IID and Dirichlet cover all of them; the
/// shard split may leave a few over because it rounds each share down).
///
/// Deterministic in `seed`.
///
/// # Errors
/// [`Error::InvalidConfig`] if `n_clients` is 0 or larger than the number of
/// examples, if `labels_per_client > n_classes`, or if the Dirichlet split
/// cannot meet its minimum size.
pub fn partition(
    p: Partition,
    labels: &[usize],
    n_classes: usize,
    n_clients: usize,
    seed: u64,
) -> Result<Vec<Vec<usize>>> {
    if n_clients == 0 {
        return Err(Error::config("clients", "need at least one client"));
    }
    if n_clients > labels.len() {
        return Err(Error::config(
            "clients",
            format!(
                "{n_clients} clients but only {} training examples",
                labels.len()
            ),
        ));
    }
    let mut rng = stream(seed, tag::PARTITION, 0, 0);
    let mut parts = match p {
        Partition::Iid => iid(labels.len(), n_clients, &mut rng),
        Partition::Dirichlet { alpha } => dirichlet(labels, n_classes, n_clients, alpha, &mut rng)?,
        Partition::Shards { labels_per_client } => {
            shards(labels, n_classes, n_clients, labels_per_client, &mut rng)?
        }
    };
    for part in &mut parts {
        part.shuffle(&mut rng);
    }
    Ok(parts)
}

fn by_class(labels: &[usize], n_classes: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<usize>> {
    let mut classes = vec![Vec::new(); n_classes];
    for (i, &l) in labels.iter().enumerate() {
        if let Some(c) = classes.get_mut(l) {
            c.push(i);
        }
    }
    for c in &mut classes {
        c.shuffle(rng);
    }
    classes
}

fn iid(n: usize, k: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<usize>> {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(rng);
    (0..k)
        .map(|j| idx[j * n / k..(j + 1) * n / k].to_vec())
        .collect()
}

fn dirichlet(
    labels: &[usize],
    n_classes: usize,
    k: usize,
    alpha: f64,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<Vec<usize>>> {
    let gamma = Gamma::new(alpha, 1.0)
        .map_err(|e| Error::config("partition", format!("dirichlet alpha {alpha}: {e}")))?;
    let n = labels.len();
    let min_size = DIRICHLET_MIN_SIZE.min(n / k);
    #[expect(
        clippy::cast_precision_loss,
        reason = "dataset sizes are far below 2^52"
    )]
    let cap = n as f64 / k as f64;
    for _ in 0..DIRICHLET_MAX_TRIES {
        let mut batch: Vec<Vec<usize>> = vec![Vec::new(); k];
        for idx_k in by_class(labels, n_classes, rng) {
            // Dir(α·1) as normalised Gamma(α, 1) draws; works for α < 1.
            let mut p: Vec<f64> = (0..k).map(|_| gamma.sample(rng)).collect();
            #[expect(clippy::cast_precision_loss, reason = "client sizes are small")]
            for (pj, bj) in p.iter_mut().zip(&batch) {
                if bj.len() as f64 >= cap {
                    *pj = 0.0; // the balance step
                }
            }
            let total: f64 = p.iter().sum();
            if !(total > 0.0 && total.is_finite()) {
                p.iter_mut().for_each(|x| *x = 1.0);
            }
            let total: f64 = p.iter().sum();
            // cuts = floor(cumsum(p) · n_k), the last cut being n_k itself.
            let mut acc = 0.0;
            let mut start = 0;
            for (j, pj) in p.iter().enumerate() {
                acc += pj / total;
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    clippy::cast_precision_loss,
                    reason = "0 <= acc <= 1 (up to rounding), clamped"
                )]
                let end = if j + 1 == k {
                    idx_k.len()
                } else {
                    ((acc * idx_k.len() as f64) as usize).clamp(start, idx_k.len())
                };
                if let (Some(dst), Some(src)) = (batch.get_mut(j), idx_k.get(start..end)) {
                    dst.extend_from_slice(src);
                }
                start = end;
            }
        }
        if batch.iter().all(|b| b.len() >= min_size.max(1)) {
            return Ok(batch);
        }
    }
    Err(Error::config(
        "partition",
        format!(
            "dirichlet:{alpha} could not give every one of {k} clients {min_size} examples in {DIRICHLET_MAX_TRIES} tries"
        ),
    ))
}

fn shards(
    labels: &[usize],
    n_classes: usize,
    k: usize,
    s: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<Vec<usize>>> {
    if s > n_classes {
        return Err(Error::config(
            "partition",
            format!("shards:{s} but the dataset has only {n_classes} classes"),
        ));
    }
    let classes = by_class(labels, n_classes, rng);
    // slots[l] = clients holding label l, in client order.
    let mut slots: Vec<Vec<usize>> = vec![Vec::new(); n_classes];
    for client in 0..k {
        for j in 0..s {
            if let Some(v) = slots.get_mut((client + j) % n_classes) {
                v.push(client);
            }
        }
    }
    let lognormal =
        LogNormal::new(0.0, 2.0).map_err(|e| Error::config("partition", e.to_string()))?;
    let mut parts: Vec<Vec<usize>> = vec![Vec::new(); k];
    for (idx_l, holders) in classes.iter().zip(&slots) {
        if holders.is_empty() {
            continue;
        }
        let base = SHARD_BASE.min(idx_l.len() / holders.len());
        let mut next = 0;
        for &c in holders {
            if let (Some(dst), Some(src)) = (parts.get_mut(c), idx_l.get(next..next + base)) {
                dst.extend_from_slice(src);
            }
            next += base;
        }
        let remaining = idx_l.len() - next;
        let props: Vec<f64> = holders.iter().map(|_| lognormal.sample(rng)).collect();
        let total: f64 = props.iter().sum();
        for (&c, pr) in holders.iter().zip(&props) {
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss,
                reason = "share of a count, in [0, remaining]"
            )]
            let take = ((pr / total) * remaining as f64) as usize;
            let end = (next + take).min(idx_l.len());
            if let (Some(dst), Some(src)) = (parts.get_mut(c), idx_l.get(next..end)) {
                dst.extend_from_slice(src);
            }
            next = end;
        }
    }
    if let Some(c) = parts.iter().position(Vec::is_empty) {
        return Err(Error::config(
            "partition",
            format!(
                "shards:{s}: client {c} received no examples (too many clients for this dataset)"
            ),
        ));
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n: usize, c: usize) -> Vec<usize> {
        (0..n).map(|i| (i * 7 + i / 3) % c).collect()
    }

    fn check_disjoint(parts: &[Vec<usize>], n: usize, full: bool) {
        let mut seen = vec![false; n];
        for p in parts {
            for &i in p {
                assert!(!seen[i], "index {i} twice");
                seen[i] = true;
            }
        }
        if full {
            assert!(seen.iter().all(|&s| s));
        }
    }

    #[test]
    fn parse() {
        assert_eq!("iid".parse::<Partition>().ok(), Some(Partition::Iid));
        assert_eq!(
            "dirichlet:0.5".parse::<Partition>().ok(),
            Some(Partition::Dirichlet { alpha: 0.5 })
        );
        assert_eq!(
            "shards:2".parse::<Partition>().ok(),
            Some(Partition::Shards {
                labels_per_client: 2
            })
        );
        for bad in [
            "",
            "dirichlet:",
            "dirichlet:-1",
            "dirichlet:x",
            "shards:0",
            "foo:1",
            "iid:3",
        ] {
            assert!(bad.parse::<Partition>().is_err(), "{bad}");
        }
    }

    #[test]
    fn iid_and_dirichlet_cover_everything() -> Result<()> {
        let y = labels(1000, 10);
        let p = partition(Partition::Iid, &y, 10, 7, 1)?;
        check_disjoint(&p, 1000, true);
        assert!(p.iter().all(|c| c.len() == 142 || c.len() == 143));
        for alpha in [0.1, 0.5, 100.0] {
            let p = partition(Partition::Dirichlet { alpha }, &y, 10, 10, 1)?;
            check_disjoint(&p, 1000, true);
            assert!(p.iter().all(|c| c.len() >= 10));
        }
        assert_eq!(
            partition(Partition::Dirichlet { alpha: 0.5 }, &y, 10, 10, 9)?,
            partition(Partition::Dirichlet { alpha: 0.5 }, &y, 10, 10, 9)?
        );
        Ok(())
    }

    #[test]
    fn dirichlet_skew_grows_as_alpha_shrinks() -> Result<()> {
        // Mean over clients of the largest class share.
        let y = labels(5000, 10);
        let skew = |alpha| -> Result<f64> {
            let p = partition(Partition::Dirichlet { alpha }, &y, 10, 20, 3)?;
            let mut s = 0.0;
            for c in &p {
                let mut cnt = [0usize; 10];
                c.iter().for_each(|&i| cnt[y[i]] += 1);
                #[expect(clippy::cast_precision_loss, reason = "small counts")]
                let m = *cnt.iter().max().unwrap_or(&0) as f64 / c.len() as f64;
                s += m;
            }
            Ok(s / 20.0)
        };
        let (lo, hi) = (skew(100.0)?, skew(0.1)?);
        assert!(lo < 0.2 && hi > 0.5, "{lo} {hi}");
        Ok(())
    }

    #[test]
    fn shards_give_two_labels_each() -> Result<()> {
        let y = labels(60_000, 10);
        let p = partition(
            Partition::Shards {
                labels_per_client: 2,
            },
            &y,
            10,
            1000,
            1,
        )?;
        check_disjoint(&p, 60_000, false);
        for (k, c) in p.iter().enumerate() {
            let mut ls: Vec<usize> = c.iter().map(|&i| y[i]).collect();
            ls.sort_unstable();
            ls.dedup();
            assert!(ls.len() <= 2 && !ls.is_empty());
            assert!(ls.iter().all(|&l| l == k % 10 || l == (k + 1) % 10));
            assert!(c.len() >= 10);
        }
        let used: usize = p.iter().map(Vec::len).sum();
        assert!(used > 59_000, "{used}");
        Ok(())
    }
}
