//! In-memory datasets: labelled samples, train/test datasets, federated
//! datasets (one training set per client and a pooled test set), and
//! standardisation.

use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::seq::SliceRandom;

use crate::error::{Error, Result};
use crate::rng::{stream, tag};

/// Upper bound on the number of classes a dataset may declare. Labels read
/// from files are checked against it so that a corrupt label cannot make the
/// model allocate a huge output layer.
pub const MAX_CLASSES: usize = 10_000;

/// Labelled examples: one row of `x` per example, `y[i] < n_classes`.
///
/// The invariants (`x.nrows() == y.len()`, every label below `n_classes`)
/// are checked by [`Samples::new`] and kept by every method, so models can
/// trust them.
#[derive(Debug, Clone, PartialEq)]
pub struct Samples {
    x: Array2<f32>,
    y: Vec<usize>,
    n_classes: usize,
}

impl Samples {
    /// Checks the invariants and builds the set.
    ///
    /// # Errors
    /// [`Error::Shape`] if `x` and `y` disagree on the number of examples,
    /// [`Error::InvalidConfig`] if a label is `>= n_classes` or `n_classes`
    /// is 0 or above [`MAX_CLASSES`].
    pub fn new(x: Array2<f32>, y: Vec<usize>, n_classes: usize) -> Result<Self> {
        if x.nrows() != y.len() {
            return Err(Error::Shape {
                context: "Samples::new (labels vs rows)",
                expected: x.nrows(),
                got: y.len(),
            });
        }
        if n_classes == 0 || n_classes > MAX_CLASSES {
            return Err(Error::config(
                "n_classes",
                format!("must be in 1..={MAX_CLASSES}, got {n_classes}"),
            ));
        }
        if let Some((i, &l)) = y.iter().enumerate().find(|&(_, &l)| l >= n_classes) {
            return Err(Error::config(
                "labels",
                format!("label {l} at example {i} is not below n_classes = {n_classes}"),
            ));
        }
        Ok(Self { x, y, n_classes })
    }

    /// Features, one row per example.
    #[must_use]
    pub fn x(&self) -> ArrayView2<'_, f32> {
        self.x.view()
    }

    /// Labels, one per example.
    #[must_use]
    pub fn y(&self) -> &[usize] {
        &self.y
    }

    /// Number of examples.
    #[must_use]
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether there are no examples.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Number of features per example.
    #[must_use]
    pub fn n_features(&self) -> usize {
        self.x.ncols()
    }

    /// Size of the label space (not necessarily all present here).
    #[must_use]
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Number of examples of each class.
    #[must_use]
    pub fn class_counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.n_classes];
        for &l in &self.y {
            if let Some(slot) = c.get_mut(l) {
                *slot += 1;
            }
        }
        c
    }

    /// The examples at `idx`, in that order.
    ///
    /// # Errors
    /// [`Error::Shape`] if an index is out of range.
    pub fn subset(&self, idx: &[usize]) -> Result<Self> {
        if let Some(&bad) = idx.iter().find(|&&i| i >= self.len()) {
            return Err(Error::Shape {
                context: "Samples::subset (index)",
                expected: self.len(),
                got: bad,
            });
        }
        let x = self.x.select(Axis(0), idx);
        let y = idx.iter().filter_map(|&i| self.y.get(i).copied()).collect();
        Ok(Self {
            x,
            y,
            n_classes: self.n_classes,
        })
    }

    /// Concatenates sets with the same feature and label spaces.
    ///
    /// # Errors
    /// [`Error::Shape`] if feature counts or label spaces differ, or `parts`
    /// is empty.
    pub fn concat(parts: &[&Self]) -> Result<Self> {
        let first = parts.first().ok_or(Error::Shape {
            context: "Samples::concat (parts)",
            expected: 1,
            got: 0,
        })?;
        for p in parts {
            if p.n_features() != first.n_features() {
                return Err(Error::Shape {
                    context: "Samples::concat (features)",
                    expected: first.n_features(),
                    got: p.n_features(),
                });
            }
            if p.n_classes != first.n_classes {
                return Err(Error::Shape {
                    context: "Samples::concat (classes)",
                    expected: first.n_classes,
                    got: p.n_classes,
                });
            }
        }
        let views: Vec<_> = parts.iter().map(|p| p.x.view()).collect();
        let x = ndarray::concatenate(Axis(0), &views).map_err(|_| Error::Shape {
            context: "Samples::concat",
            expected: first.n_features(),
            got: 0,
        })?;
        let y = parts.iter().flat_map(|p| p.y.iter().copied()).collect();
        Ok(Self {
            x,
            y,
            n_classes: first.n_classes,
        })
    }

    /// Applies `f` to the features in place (used by standardisation).
    fn map_x(&mut self, f: impl FnOnce(&mut Array2<f32>)) {
        f(&mut self.x);
    }
}

/// A dataset with a fixed train/test split.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Short name for logs and JSON (`digits`, `mnist`, a file name, ...).
    pub name: String,
    /// Training examples.
    pub train: Samples,
    /// Held-out test examples; the same label space as `train`.
    pub test: Samples,
}

impl Dataset {
    /// Builds a dataset, checking that both splits share the feature and
    /// label spaces.
    ///
    /// # Errors
    /// [`Error::Shape`] if they do not.
    pub fn new(name: impl Into<String>, train: Samples, test: Samples) -> Result<Self> {
        if train.n_features() != test.n_features() {
            return Err(Error::Shape {
                context: "Dataset::new (features)",
                expected: train.n_features(),
                got: test.n_features(),
            });
        }
        if train.n_classes() != test.n_classes() {
            return Err(Error::Shape {
                context: "Dataset::new (classes)",
                expected: train.n_classes(),
                got: test.n_classes(),
            });
        }
        Ok(Self {
            name: name.into(),
            train,
            test,
        })
    }

    /// Splits `all` into train/test by a boolean mask (`true` = test).
    ///
    /// # Errors
    /// [`Error::Shape`] if the mask length differs from the number of examples.
    pub fn from_mask(name: impl Into<String>, all: &Samples, is_test: &[bool]) -> Result<Self> {
        if is_test.len() != all.len() {
            return Err(Error::Shape {
                context: "Dataset::from_mask (mask)",
                expected: all.len(),
                got: is_test.len(),
            });
        }
        let (test_idx, train_idx): (Vec<usize>, Vec<usize>) =
            (0..all.len()).partition(|&i| is_test.get(i).copied().unwrap_or(false));
        Self::new(name, all.subset(&train_idx)?, all.subset(&test_idx)?)
    }

    /// Splits `all` at random: `round(test_fraction · n)` test examples,
    /// chosen by a ChaCha8 stream seeded with `seed`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if `test_fraction` is not in (0, 1).
    pub fn random_split(
        name: impl Into<String>,
        all: &Samples,
        test_fraction: f64,
        seed: u64,
    ) -> Result<Self> {
        if !(test_fraction > 0.0 && test_fraction < 1.0) {
            return Err(Error::config(
                "test_fraction",
                format!("must be in (0, 1), got {test_fraction}"),
            ));
        }
        let mut idx: Vec<usize> = (0..all.len()).collect();
        idx.shuffle(&mut stream(seed, tag::SPLIT, 0, 0));
        #[expect(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "dataset sizes are far below 2^52"
        )]
        let n_test = (test_fraction * all.len() as f64).round() as usize;
        let mut mask = vec![false; all.len()];
        for &i in idx.iter().take(n_test) {
            if let Some(m) = mask.get_mut(i) {
                *m = true;
            }
        }
        Self::from_mask(name, all, &mask)
    }

    /// Number of features.
    #[must_use]
    pub fn n_features(&self) -> usize {
        self.train.n_features()
    }

    /// Number of classes.
    #[must_use]
    pub fn n_classes(&self) -> usize {
        self.train.n_classes()
    }

    /// Fits a [`Standardizer`] on the training split only and applies it to
    /// both splits, so no test statistic leaks into training. Returns it
    /// (to apply to later data, e.g. a client's).
    ///
    /// # Errors
    /// None in practice: [`Dataset::new`] guarantees matching feature counts.
    pub fn standardize(&mut self) -> Result<Standardizer> {
        let s = Standardizer::fit(&self.train);
        s.apply(&mut self.train)?;
        s.apply(&mut self.test)?;
        Ok(s)
    }
}

/// Per-feature affine map `x ↦ (x − mean) / std`, fitted on training data.
///
/// Features whose training standard deviation is below [`Standardizer::MIN_STD`]
/// (e.g. MNIST's always-black border pixels) are only centred: dividing by a
/// near-zero spread would turn a single unusual test pixel into a huge input.
#[derive(Debug, Clone, PartialEq)]
pub struct Standardizer {
    /// Per-feature training mean.
    pub mean: Array1<f32>,
    /// Per-feature divisor (the training standard deviation, or 1).
    pub scale: Array1<f32>,
}

impl Standardizer {
    /// Spread below which a feature is treated as constant.
    pub const MIN_STD: f32 = 1e-3;

    /// Fits mean and standard deviation per feature (computed in f64).
    #[must_use]
    pub fn fit(train: &Samples) -> Self {
        let x = train.x().mapv(f64::from);
        let mean = x
            .mean_axis(Axis(0))
            .unwrap_or_else(|| Array1::zeros(x.ncols()));
        let var = x.var_axis(Axis(0), 0.0);
        #[expect(
            clippy::cast_possible_truncation,
            reason = "statistics of f32 data fit in f32"
        )]
        let scale = var.mapv(|v| {
            let s = v.sqrt() as f32;
            if s < Self::MIN_STD { 1.0 } else { s }
        });
        #[expect(
            clippy::cast_possible_truncation,
            reason = "statistics of f32 data fit in f32"
        )]
        let mean = mean.mapv(|m| m as f32);
        Self { mean, scale }
    }

    /// Standardises `s` in place.
    ///
    /// # Errors
    /// [`Error::Shape`] if `s` has another feature count than the fitted data.
    pub fn apply(&self, s: &mut Samples) -> Result<()> {
        if s.n_features() != self.mean.len() {
            return Err(Error::Shape {
                context: "Standardizer::apply (features)",
                expected: self.mean.len(),
                got: s.n_features(),
            });
        }
        s.map_x(|x| {
            for mut row in x.rows_mut() {
                ndarray::Zip::from(&mut row)
                    .and(&self.mean)
                    .and(&self.scale)
                    .for_each(|v, &m, &sd| *v = (*v - m) / sd);
            }
        });
        Ok(())
    }
}

/// A federated dataset: one training set per client and one test set on
/// which the global model is evaluated.
///
/// For partitioned centralized datasets the test set is the dataset's own
/// test split; for the Synthetic(α, β) generator it is the union of the
/// devices' local test sets (so accuracy is Σ correct / Σ test samples, as
/// in the FedProx paper).
#[derive(Debug, Clone, PartialEq)]
pub struct FederatedData {
    /// Name for logs.
    pub name: String,
    /// Per-client training data.
    pub clients: Vec<Samples>,
    /// Pooled test data.
    pub test: Samples,
}

impl FederatedData {
    /// Builds a federated dataset from a centralized one and per-client
    /// index lists into its training split.
    ///
    /// # Errors
    /// [`Error::Shape`] if an index is out of range.
    pub fn from_partition(ds: &Dataset, parts: &[Vec<usize>]) -> Result<Self> {
        let clients = parts
            .iter()
            .map(|p| ds.train.subset(p))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            name: ds.name.clone(),
            clients,
            test: ds.test.clone(),
        })
    }

    /// Number of features.
    #[must_use]
    pub fn n_features(&self) -> usize {
        self.test.n_features()
    }

    /// Number of classes.
    #[must_use]
    pub fn n_classes(&self) -> usize {
        self.test.n_classes()
    }

    /// Total number of training examples over all clients.
    #[must_use]
    pub fn n_train(&self) -> usize {
        self.clients.iter().map(Samples::len).sum()
    }
}
