//! The FedProx Synthetic(α, β) generator (Li et al., MLSys 2020, §5.1 and
//! App. C.1), ported from `data/synthetic_*/generate_synthetic.py` and
//! `generate_iid.py` of github.com/litian96/FedProx (MIT).
//!
//! This is *not* LEAF's cluster-based synthetic generator. For device k:
//!
//! * `n_k = ⌊LogNormal(4, 2)⌋ + 50` examples;
//! * `u_k ~ N(0, α)`, `B_k ~ N(0, β)` (α and β are *standard deviations*,
//!   as numpy's `scale` in the reference code);
//! * `W_k ~ N(u_k, 1)^{60×10}`, `b_k ~ N(u_k, 1)^{10}` (the same `u_k`);
//! * `v_k ~ N(B_k, 1)^{60}`, `x ~ N(v_k, Σ)` with `Σ = diag(j^{-1.2})`, j = 1..60;
//! * `y = argmax(x W_k + b_k)` (softmax is monotone, so it is skipped);
//! * the device's pairs are shuffled and the first `⌊0.9 n_k⌋` are its
//!   training set, the rest its test set.
//!
//! The IID variant uses one global `W, b ~ N(0, 1)` and `x ~ N(0, Σ)` on
//! every device, with the same sample counts. With α = β = 0 the data are
//! still non-IID: each device draws its own `W_k`, `b_k` and `v_k`.
//!
//! Numbers match the paper's only statistically: numpy's MT19937 stream is
//! not reproduced; we draw from ChaCha8 seeded by the run seed.

use ndarray::{Array1, Array2};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Normal, StandardNormal};

use crate::data::{FederatedData, Samples};
use crate::error::{Error, Result};
use crate::rng::{stream, tag};

/// Input dimension of the FedProx synthetic data.
pub const SYNTHETIC_DIM: usize = 60;
/// Number of classes of the FedProx synthetic data.
pub const SYNTHETIC_CLASSES: usize = 10;
/// Number of devices in the paper.
pub const SYNTHETIC_DEVICES: usize = 30;

/// One device's local data.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceData {
    /// The first `⌊0.9 n_k⌋` shuffled examples.
    pub train: Samples,
    /// The remaining examples.
    pub test: Samples,
}

/// Which generator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SyntheticKind {
    /// Synthetic(α, β): per-device models and input means.
    AlphaBeta {
        /// Standard deviation of the per-device model means `u_k`.
        alpha: f64,
        /// Standard deviation of the per-device input means `B_k`.
        beta: f64,
    },
    /// `synthetic_iid`: one global model, `x ~ N(0, Σ)` everywhere.
    Iid,
}

fn normal(mean: f64, sd: f64) -> Result<Normal<f64>> {
    Normal::new(mean, sd).map_err(|e| Error::config("synthetic", format!("N({mean}, {sd}): {e}")))
}

/// Generates the per-device data of the FedProx synthetic benchmark.
///
/// # Errors
/// [`Error::InvalidConfig`] if α or β is negative or not finite, or
/// `n_devices` is 0.
pub fn synthetic_devices(
    kind: SyntheticKind,
    n_devices: usize,
    seed: u64,
) -> Result<Vec<DeviceData>> {
    if n_devices == 0 {
        return Err(Error::config("devices", "need at least one device"));
    }
    let (alpha, beta, iid) = match kind {
        SyntheticKind::AlphaBeta { alpha, beta } => (alpha, beta, false),
        SyntheticKind::Iid => (0.0, 0.0, true),
    };
    if !(alpha.is_finite() && alpha >= 0.0 && beta.is_finite() && beta >= 0.0) {
        return Err(Error::config(
            "synthetic",
            format!("alpha and beta must be finite and >= 0, got {alpha}, {beta}"),
        ));
    }
    let mut rng: ChaCha8Rng = stream(seed, tag::SYNTHETIC, 0, 0);
    let d = SYNTHETIC_DIM;
    let c = SYNTHETIC_CLASSES;

    let lognormal =
        LogNormal::new(4.0, 2.0).map_err(|e| Error::config("synthetic", e.to_string()))?;
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "numpy's int(): truncation of a positive float; capped to keep memory sane"
    )]
    let n_per: Vec<usize> = (0..n_devices)
        .map(|_| (f64::min(lognormal.sample(&mut rng), 1e7) as usize) + 50)
        .collect();
    let mean_w: Vec<f64> = (0..n_devices)
        .map(|_| normal(0.0, alpha).map(|n| n.sample(&mut rng)))
        .collect::<Result<_>>()?;
    let big_b: Vec<f64> = (0..n_devices)
        .map(|_| normal(0.0, beta).map(|n| n.sample(&mut rng)))
        .collect::<Result<_>>()?;
    #[expect(clippy::cast_precision_loss, reason = "j <= 60")]
    let sd_x: Vec<f64> = (0..d).map(|j| ((j + 1) as f64).powf(-1.2).sqrt()).collect();
    let mean_x: Vec<Vec<f64>> = big_b
        .iter()
        .map(|&bk| {
            if iid {
                Ok(vec![0.0; d])
            } else {
                normal(bk, 1.0).map(|n| (0..d).map(|_| n.sample(&mut rng)).collect())
            }
        })
        .collect::<Result<_>>()?;
    let global = if iid {
        let w: Vec<f64> = (0..d * c)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let b: Vec<f64> = (0..c).map(|_| StandardNormal.sample(&mut rng)).collect();
        Some((w, b))
    } else {
        None
    };

    let mut out = Vec::with_capacity(n_devices);
    for k in 0..n_devices {
        let (w, b) = match &global {
            Some((w, b)) => (w.clone(), b.clone()),
            None => {
                let nw = normal(mean_w[k], 1.0)?;
                let w: Vec<f64> = (0..d * c).map(|_| nw.sample(&mut rng)).collect();
                let b: Vec<f64> = (0..c).map(|_| nw.sample(&mut rng)).collect();
                (w, b)
            }
        };
        let n = n_per[k];
        let mut x = Array2::<f64>::zeros((n, d));
        for mut row in x.rows_mut() {
            for ((v, &m), &s) in row.iter_mut().zip(&mean_x[k]).zip(&sd_x) {
                let z: f64 = StandardNormal.sample(&mut rng);
                *v = m + z * s;
            }
        }
        // W is (60 × 10) row-major, as numpy's normal(.., (60, 10)).
        let wm = Array2::from_shape_vec((d, c), w)
            .map_err(|e| Error::config("synthetic", e.to_string()))?;
        let logits = x.dot(&wm) + &Array1::from(b);
        let y: Vec<usize> = logits
            .rows()
            .into_iter()
            .map(|r| {
                r.iter()
                    .enumerate()
                    .fold((0, f64::NEG_INFINITY), |best, (i, &v)| {
                        if v > best.1 { (i, v) } else { best }
                    })
                    .0
            })
            .collect();
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rng);
        let n_train = n * 9 / 10;
        #[expect(
            clippy::cast_possible_truncation,
            reason = "features are stored as f32 by design"
        )]
        let all = Samples::new(x.mapv(|v| v as f32), y, c)?;
        let (tr, te) = order.split_at(n_train);
        out.push(DeviceData {
            train: all.subset(tr)?,
            test: all.subset(te)?,
        });
    }
    Ok(out)
}

/// Synthetic data as a [`FederatedData`]: one client per device, evaluated on
/// the union of the devices' test sets.
///
/// # Errors
/// As [`synthetic_devices`].
pub fn synthetic(kind: SyntheticKind, n_devices: usize, seed: u64) -> Result<FederatedData> {
    let devices = synthetic_devices(kind, n_devices, seed)?;
    let tests: Vec<&Samples> = devices.iter().map(|d| &d.test).collect();
    let test = Samples::concat(&tests)?;
    let name = match kind {
        SyntheticKind::AlphaBeta { alpha, beta } => format!("synthetic({alpha},{beta})"),
        SyntheticKind::Iid => "synthetic_iid".to_owned(),
    };
    Ok(FederatedData {
        name,
        clients: devices.into_iter().map(|d| d.train).collect(),
        test,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invariants() -> Result<()> {
        let devs = synthetic_devices(
            SyntheticKind::AlphaBeta {
                alpha: 1.0,
                beta: 1.0,
            },
            30,
            7,
        )?;
        assert_eq!(devs.len(), 30);
        for d in &devs {
            let n = d.train.len() + d.test.len();
            assert!(n >= 50);
            assert_eq!(d.train.len(), n * 9 / 10);
            assert_eq!(d.train.n_features(), 60);
        }
        let again = synthetic_devices(
            SyntheticKind::AlphaBeta {
                alpha: 1.0,
                beta: 1.0,
            },
            30,
            7,
        )?;
        assert_eq!(devs, again);
        Ok(())
    }

    #[test]
    fn sample_counts_follow_lognormal_4_2() -> Result<()> {
        // median of floor(LogNormal(4,2)) + 50 is about e^4 + 50 ≈ 104.6.
        let devs = synthetic_devices(SyntheticKind::Iid, 2001, 3)?;
        let mut n: Vec<usize> = devs.iter().map(|d| d.train.len() + d.test.len()).collect();
        n.sort_unstable();
        let med = n[n.len() / 2];
        assert!((90..=120).contains(&med), "median {med}");
        Ok(())
    }

    #[test]
    fn alpha_beta_zero_means_zero_offsets_but_non_iid() -> Result<()> {
        // With α = β = 0 the x means are v_k ~ N(0, 1): the per-device
        // feature means differ (non-IID) but average to 0 over devices.
        let devs = synthetic_devices(
            SyntheticKind::AlphaBeta {
                alpha: 0.0,
                beta: 0.0,
            },
            200,
            5,
        )?;
        let means: Vec<f32> = devs
            .iter()
            .map(|d| d.train.x().column(0).mean().unwrap_or(0.0))
            .collect();
        #[expect(clippy::cast_precision_loss, reason = "small counts")]
        let grand = means.iter().sum::<f32>() / means.len() as f32;
        assert!(grand.abs() < 0.25, "{grand}");
        let spread = means.iter().map(|m| (m - grand).powi(2)).sum::<f32>() / 200.0;
        assert!(spread > 0.5, "{spread}");
        Ok(())
    }
}
