//! The privacy ledger and budget (`dp-reference.md` section E).
//!
//! [`Ledger`] is an append-only, versioned list of what each decrypted
//! aggregate cost: round, mechanism with the noise that was **actually** in
//! the sum (decrypted contributors minus assumed colluders), sensitivities,
//! and the per-round RDP vector on the ledger's stored order grid. Nothing is
//! ever removed or edited; a ledger read back from JSON is checked entry by
//! entry (each RDP vector is recomputed from its mechanism).
//!
//! [`Budget`] wraps a ledger with a target `(ε, δ)`. Before a round the
//! protocol calls [`Budget::admit`] with the *planned* round; after
//! decryption is possible and the true contributor count `n′` is known, it
//! calls [`Budget::record`] with the actual round, which recomputes the cost
//! with `n′` and refuses (without recording) if the budget would be crossed.
//! A refused record means the aggregate must not be released.

use serde::{Deserialize, Serialize};

use crate::accountant::{DdgRound, SkellamRound, epsilon_from_rdp, rdp_poisson_gaussian};
use crate::error::{Error, Result, invalid};
use crate::sampler::Rational;

/// Version of the serialized ledger format.
pub const LEDGER_FORMAT_VERSION: u32 = 1;

/// The mechanism of one round, with the noise actually in the sum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Mechanism {
    /// Distributed discrete Gaussian; `contributors` = decrypted − colluders.
    DdGauss(DdgRound),
    /// Distributed Skellam; `contributors` = decrypted − colluders.
    Skellam(SkellamRound),
    /// Central Poisson-subsampled Gaussian with noise multiplier `z`.
    Gaussian {
        /// Noise std divided by L2 sensitivity.
        noise_multiplier: f64,
        /// Poisson sampling rate.
        sampling_rate: f64,
    },
}

impl Mechanism {
    /// Per-round RDP on `orders`.
    pub fn rdp(&self, orders: &[f64]) -> Result<Vec<f64>> {
        match self {
            Self::DdGauss(r) => r.rdp(orders),
            Self::Skellam(r) => r.rdp(orders),
            Self::Gaussian {
                noise_multiplier,
                sampling_rate,
            } => rdp_poisson_gaussian(*sampling_rate, *noise_multiplier, orders),
        }
    }

    fn sensitivities(&self) -> (f64, Option<f64>) {
        match self {
            Self::DdGauss(r) => (r.l2_sensitivity(), Some(r.l1_sensitivity())),
            Self::Skellam(r) => {
                let as_ddg = DdgRound {
                    gamma: r.gamma,
                    local_sigma: r.local_sigma,
                    contributors: r.contributors,
                    clip: r.clip,
                    beta: r.beta,
                    dim: r.dim,
                    sampling_rate: r.sampling_rate,
                };
                (as_ddg.l2_sensitivity(), Some(as_ddg.l1_sensitivity()))
            }
            // Sensitivity 1: the noise multiplier is relative to it.
            Self::Gaussian { .. } => (1.0, None),
        }
    }

    fn accounted_contributors(&self) -> Option<u64> {
        match self {
            Self::DdGauss(r) => Some(r.contributors),
            Self::Skellam(r) => Some(r.contributors),
            Self::Gaussian { .. } => None,
        }
    }
}

/// What the protocol reports about one decrypted aggregate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundRecord {
    /// Round number; strictly increasing along the ledger.
    pub round: u64,
    /// Contributors the round was planned for.
    pub expected_contributors: u64,
    /// Contributors whose vectors are in the decrypted sum (`n′`).
    pub decrypted_contributors: u64,
    /// Contributors assumed to collude with the server (`t`).
    pub colluders: u64,
    /// Per-client noise variance `σ²/γ²` as sampled (scaled units), if discrete.
    pub noise_sigma2: Option<Rational>,
    /// The mechanism; for DDGauss/Skellam its `contributors` must be `n′ − t`.
    pub mechanism: Mechanism,
}

/// One ledger entry: the record plus what it cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// The round as reported.
    pub record: RoundRecord,
    /// L2 sensitivity after rounding, original units.
    pub l2_sensitivity: f64,
    /// L1 sensitivity after rounding, original units (`None` if not used).
    pub l1_sensitivity: Option<f64>,
    /// Per-round RDP on the ledger's order grid (`null` in JSON means `+∞`).
    pub rdp: Vec<Option<f64>>,
}

fn to_opt(v: &[f64]) -> Vec<Option<f64>> {
    v.iter().map(|x| x.is_finite().then_some(*x)).collect()
}

fn from_opt(v: &[Option<f64>]) -> Vec<f64> {
    v.iter().map(|x| x.unwrap_or(f64::INFINITY)).collect()
}

/// Append-only record of every decrypted aggregate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    version: u32,
    orders: Vec<f64>,
    entries: Vec<LedgerEntry>,
}

impl Ledger {
    /// An empty ledger on the order grid `orders` (use
    /// [`crate::accountant::integer_orders`] for DDGauss/Skellam).
    pub fn new(orders: Vec<f64>) -> Result<Self> {
        if orders.is_empty() || orders.iter().any(|a| !(a.is_finite() && *a > 1.0)) {
            return Err(invalid(
                "orders",
                "a non-empty list of finite orders > 1",
                format!("{orders:?}"),
            ));
        }
        Ok(Self {
            version: LEDGER_FORMAT_VERSION,
            orders,
            entries: Vec::new(),
        })
    }

    /// The stored order grid.
    pub fn orders(&self) -> &[f64] {
        &self.orders
    }

    /// All entries, oldest first.
    pub fn entries(&self) -> &[LedgerEntry] {
        &self.entries
    }

    /// Cumulative RDP (sum over entries) per order.
    pub fn total_rdp(&self) -> Vec<f64> {
        let mut total = vec![0.0; self.orders.len()];
        for e in &self.entries {
            for (t, r) in total.iter_mut().zip(&e.rdp) {
                *t += r.unwrap_or(f64::INFINITY);
            }
        }
        total
    }

    /// Checks a record and computes its entry without appending it.
    fn entry_for(&self, record: RoundRecord) -> Result<LedgerEntry> {
        if let Some(last) = self.entries.last()
            && record.round <= last.record.round
        {
            return Err(Error::Ledger(format!(
                "round {} is not after the last recorded round {}",
                record.round, last.record.round
            )));
        }
        if record.colluders > record.decrypted_contributors {
            return Err(Error::Ledger(
                "more colluders than decrypted contributors".into(),
            ));
        }
        if let Some(n) = record.mechanism.accounted_contributors()
            && n != record.decrypted_contributors - record.colluders
        {
            return Err(Error::Ledger(format!(
                "mechanism accounts for {n} contributors but the record says {} decrypted − {} colluding",
                record.decrypted_contributors, record.colluders
            )));
        }
        let rdp = record.mechanism.rdp(&self.orders)?;
        let (l2, l1) = record.mechanism.sensitivities();
        Ok(LedgerEntry {
            record,
            l2_sensitivity: l2,
            l1_sensitivity: l1,
            rdp: to_opt(&rdp),
        })
    }

    /// Serializes the ledger as JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| Error::Ledger(e.to_string()))
    }

    /// Reads a ledger from JSON and checks that it conforms: known version,
    /// a valid order grid, increasing rounds, and every RDP vector equal
    /// (to 1e-9 relative) to the one recomputed from its mechanism.
    pub fn from_json(s: &str) -> Result<Self> {
        let raw: Ledger = serde_json::from_str(s).map_err(|e| Error::Ledger(e.to_string()))?;
        if raw.version != LEDGER_FORMAT_VERSION {
            return Err(Error::Ledger(format!(
                "format version {} (expected {LEDGER_FORMAT_VERSION})",
                raw.version
            )));
        }
        let mut fresh = Ledger::new(raw.orders)?;
        for e in raw.entries {
            let expected = fresh.entry_for(e.record.clone())?;
            let same = expected.rdp.len() == e.rdp.len()
                && expected.rdp.iter().zip(&e.rdp).all(|(a, b)| match (a, b) {
                    (None, None) => true,
                    (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-300),
                    _ => false,
                });
            if !same {
                return Err(Error::Ledger(format!(
                    "round {}: stored RDP does not match its mechanism",
                    e.record.round
                )));
            }
            fresh.entries.push(expected);
        }
        Ok(fresh)
    }
}

/// `ε` a budget would reach, and at which order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Projection {
    /// ε at the budget's δ.
    pub epsilon: f64,
    /// Optimal order.
    pub order: f64,
}

/// A privacy budget `(ε, δ)` over a [`Ledger`].
#[derive(Debug, Clone)]
pub struct Budget {
    epsilon: f64,
    delta: f64,
    ledger: Ledger,
}

impl Budget {
    /// A budget with an empty ledger on `orders`.
    pub fn new(epsilon: f64, delta: f64, orders: Vec<f64>) -> Result<Self> {
        Self::with_ledger(epsilon, delta, Ledger::new(orders)?)
    }

    /// A budget continuing an existing ledger.
    pub fn with_ledger(epsilon: f64, delta: f64, ledger: Ledger) -> Result<Self> {
        if !(epsilon > 0.0 && epsilon.is_finite()) {
            return Err(invalid("epsilon", "a finite number > 0", epsilon));
        }
        if !(delta > 0.0 && delta < 1.0) {
            return Err(invalid("delta", "a number in (0, 1)", delta));
        }
        Ok(Self {
            epsilon,
            delta,
            ledger,
        })
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// ε spent so far at the budget's δ.
    pub fn spent(&self) -> Result<Projection> {
        let (epsilon, order) =
            epsilon_from_rdp(&self.ledger.orders, &self.ledger.total_rdp(), self.delta)?;
        Ok(Projection { epsilon, order })
    }

    /// ε after one more round of `mechanism` (nothing is recorded).
    pub fn project(&self, mechanism: &Mechanism) -> Result<Projection> {
        let add = mechanism.rdp(&self.ledger.orders)?;
        let total: Vec<f64> = self
            .ledger
            .total_rdp()
            .iter()
            .zip(&add)
            .map(|(a, b)| a + b)
            .collect();
        let (epsilon, order) = epsilon_from_rdp(&self.ledger.orders, &total, self.delta)?;
        Ok(Projection { epsilon, order })
    }

    /// Before a round: refuses with [`Error::BudgetExceeded`] if the planned
    /// round would cross the budget.
    pub fn admit(&self, planned: &Mechanism) -> Result<Projection> {
        let p = self.project(planned)?;
        if p.epsilon > self.epsilon {
            return Err(Error::BudgetExceeded {
                epsilon: p.epsilon,
                budget_epsilon: self.epsilon,
                delta: self.delta,
            });
        }
        Ok(p)
    }

    /// After a round, with the true contributors: appends the round and
    /// returns the new spent ε, or refuses (appending nothing) if it would
    /// cross the budget, in which case the aggregate must not be released.
    pub fn record(&mut self, actual: RoundRecord) -> Result<Projection> {
        let entry = self.ledger.entry_for(actual)?;
        let mut total = self.ledger.total_rdp();
        for (t, r) in total.iter_mut().zip(from_opt(&entry.rdp)) {
            *t += r;
        }
        let (epsilon, order) = epsilon_from_rdp(&self.ledger.orders, &total, self.delta)?;
        if epsilon > self.epsilon {
            return Err(Error::BudgetExceeded {
                epsilon,
                budget_epsilon: self.epsilon,
                delta: self.delta,
            });
        }
        self.ledger.entries.push(entry);
        Ok(Projection { epsilon, order })
    }
}
