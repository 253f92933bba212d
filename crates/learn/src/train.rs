//! Local training: minibatch SGD with weight decay and the FedProx
//! proximal term, returning the update `Δw = w_local − w_global`.

use ndarray::Axis;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::data::Samples;
use crate::error::{Error, Result};
use crate::model::{Model, ModelSpec};

/// Hyper-parameters of one client's local training.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct TrainConfig {
    /// SGD step size η.
    pub lr: f32,
    /// Minibatch size B (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Local epochs E (full passes over the client's data).
    pub epochs: usize,
    /// L2 weight decay λ on all parameters (biases included).
    pub weight_decay: f32,
    /// FedProx proximal coefficient μ (0 = plain FedAvg local SGD).
    pub prox_mu: f32,
}

impl Default for TrainConfig {
    /// The FedProx synthetic protocol: η = 0.01, B = 10, E = 1, no decay, μ = 0.
    fn default() -> Self {
        Self {
            lr: 0.01,
            batch_size: 10,
            epochs: 1,
            weight_decay: 0.0,
            prox_mu: 0.0,
        }
    }
}

impl TrainConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the field: `lr` must be finite and
    /// positive, `batch_size` and `epochs` at least 1, `weight_decay` and
    /// `prox_mu` finite and non-negative.
    pub fn validate(&self) -> Result<()> {
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::config(
                "lr",
                format!("must be a finite number > 0, got {}", self.lr),
            ));
        }
        if self.batch_size == 0 {
            return Err(Error::config("batch_size", "must be >= 1"));
        }
        if self.epochs == 0 {
            return Err(Error::config("epochs", "must be >= 1"));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(Error::config(
                "weight_decay",
                format!("must be finite and >= 0, got {}", self.weight_decay),
            ));
        }
        if !(self.prox_mu.is_finite() && self.prox_mu >= 0.0) {
            return Err(Error::config(
                "prox_mu",
                format!("must be finite and >= 0, got {}", self.prox_mu),
            ));
        }
        Ok(())
    }
}

/// What a client sends back after local training.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalUpdate {
    /// `w_local − w_global`, flat, in the model's parameter layout.
    pub delta: Vec<f32>,
    /// Number of local training examples (the FedAvg weight).
    pub n_samples: usize,
    /// Mean minibatch loss over the last local epoch (before each step).
    pub train_loss: f32,
}

/// Trains a copy of the global model on one client's data and returns the
/// update. Builds the model from `spec` with the data's feature count and
/// label space, loads `global_params`, and runs [`sgd`].
///
/// Deterministic in `seed`, whatever the rayon pool (see
/// [`crate::model`]).
///
/// # Errors
/// [`Error::InvalidConfig`] for a bad `cfg`; [`Error::Shape`] if
/// `global_params` does not fit `spec` on this data.
pub fn local_train(
    spec: &ModelSpec,
    global_params: &[f32],
    data: &Samples,
    cfg: &TrainConfig,
    seed: u64,
) -> Result<LocalUpdate> {
    let mut model = spec.build(data.n_features(), data.n_classes(), 0)?;
    sgd(model.as_mut(), global_params, data, cfg, seed)
}

/// Local SGD on an existing model (its parameters are overwritten with
/// `global_params` first). Each step on minibatch `B`:
///
/// `w ← w − η (∇ℓ_B(w) + λ w + μ (w − w_global))`,
///
/// the FedProx update of `flearn/optimizer/pgd.py` plus plain weight decay.
/// Minibatch order comes from a ChaCha8 stream seeded with `seed`,
/// reshuffled every epoch.
///
/// # Errors
/// As [`local_train`].
pub fn sgd(
    model: &mut dyn Model,
    global_params: &[f32],
    data: &Samples,
    cfg: &TrainConfig,
    seed: u64,
) -> Result<LocalUpdate> {
    cfg.validate()?;
    model.set_params(global_params)?;
    let n = data.len();
    let p = model.num_params();
    if n == 0 {
        return Ok(LocalUpdate {
            delta: vec![0.0; p],
            n_samples: 0,
            train_loss: 0.0,
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..n).collect();
    let mut grad = vec![0.0f32; p];
    let (x, y) = (data.x(), data.y());
    let mut last_epoch_loss = 0.0f64;
    for _ in 0..cfg.epochs {
        order.shuffle(&mut rng);
        let mut epoch_loss = 0.0f64;
        for batch in order.chunks(cfg.batch_size) {
            let xb = x.select(Axis(0), batch);
            let yb: Vec<usize> = batch.iter().filter_map(|&i| y.get(i).copied()).collect();
            let loss = model.loss_and_grad(xb.view(), &yb, &mut grad)?;
            #[expect(clippy::cast_precision_loss, reason = "batch sizes are small")]
            let bl = batch.len() as f64;
            epoch_loss += f64::from(loss) * bl;
            let (lr, wd, mu) = (cfg.lr, cfg.weight_decay, cfg.prox_mu);
            for ((w, g), w0) in model.params_mut().iter_mut().zip(&grad).zip(global_params) {
                *w -= lr * (g + wd * *w + mu * (*w - w0));
            }
        }
        last_epoch_loss = epoch_loss;
    }
    let delta = model
        .params()
        .iter()
        .zip(global_params)
        .map(|(w, w0)| w - w0)
        .collect();
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_precision_loss,
        reason = "mean loss fits f32"
    )]
    let train_loss = (last_epoch_loss / n as f64) as f32;
    Ok(LocalUpdate {
        delta,
        n_samples: n,
        train_loss,
    })
}
