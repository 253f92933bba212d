//! `fedhe-learn`: the learning engine of fedhe.
//!
//! What it does:
//! * **Datasets** ([`io`]): the sklearn digits embedded in the crate (with
//!   the project's fixed 1347/450 split), MNIST and Fashion-MNIST from a
//!   directory of IDX files, CSV and `.npy` files; standardisation fitted on
//!   the training split only ([`Dataset::standardize`]).
//! * **Federated data** ([`mod@partition`], [`mod@synthetic`]): IID, per-class
//!   Dirichlet(α) label skew, FedProx label shards, and the FedProx
//!   Synthetic(α, β) generator with its 90/10 per-device split.
//! * **Models** ([`model`]): multinomial logistic regression and a ReLU MLP
//!   behind one [`Model`] trait whose parameters are one flat `f32` vector,
//!   with hand-written backpropagation of softmax cross-entropy.
//! * **Local training** ([`train`]): minibatch SGD with weight decay and the
//!   FedProx proximal term, returning the flat update Δw and the sample count.
//! * **The plaintext FedAvg/FedProx baseline** ([`fedavg()`]).
//!
//! What it does not: no encryption, clipping, quantisation or noise (that is
//! `fedhe-he`/`fedhe-dp` and the private training path, which call
//! [`local_train`] and average updates themselves), no networking, no files
//! written, no GPU. It depends on no other fedhe crate.
//!
//! ## Determinism
//! Every random choice draws from a ChaCha8 stream derived from the run seed
//! and a domain tag ([`rng`]). Gradients are reduced over fixed chunks in a
//! fixed order and clients are aggregated in ascending order, so the same
//! seed gives bit-identical weights on any number of rayon threads.
//!
//! ## For the private path
//! Per sampled client: `local_train(&spec, &global, &clients[k], &cfg,
//! client_seed(seed, round, k))` → [`LocalUpdate`] `{ delta, n_samples }`.
//! The server then applies the *unweighted* mean of the clipped, noised
//! updates (see [`Weighting`]), and evaluates with [`evaluate_params`].
#![forbid(unsafe_code)]

pub mod data;
pub mod error;
pub mod fedavg;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod io;
pub mod model;
pub mod partition;
pub mod rng;
pub mod synthetic;
pub mod train;

pub use data::{Dataset, FederatedData, Samples, Standardizer};
pub use error::{Error, Result};
pub use fedavg::{
    FedAvgConfig, FedAvgRun, RoundMetrics, Weighting, aggregate, client_seed, evaluate_params,
    fedavg, sample_clients, train_centralized,
};
pub use io::{
    FASHION_MNIST_DEFAULT_DIR, digits, load_csv, load_fashion_dir, load_mnist_dir, load_npy,
    read_idx,
};
pub use model::{Metrics, Mlp, Model, ModelSpec, SoftmaxRegression};
pub use partition::{Partition, partition};
pub use synthetic::{SyntheticKind, synthetic, synthetic_devices};
pub use train::{LocalUpdate, TrainConfig, local_train, sgd};
