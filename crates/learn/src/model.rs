//! Models behind one trait whose parameters are one flat `f32` vector.
//!
//! Both models are feed-forward stacks of dense layers trained with softmax
//! cross-entropy; [`SoftmaxRegression`] has no hidden layer, [`Mlp`] one or
//! two ReLU hidden layers. Backpropagation is written by hand and checked
//! against finite differences in the tests.
//!
//! ## Parameter layout
//! Layer after layer, each layer's weight matrix `W` (`out × in`,
//! row-major) followed by its bias `b` (`out`). Softmax regression on `d`
//! features and `C` classes therefore has `C·d + C` parameters:
//! `[W (C×d) | b (C)]`. The crypto path sees exactly this vector.
//!
//! ## Determinism
//! A batch is cut into chunks whose length depends only on the batch length
//! ([`chunk_len`]), never on the number of threads. Chunks run in parallel
//! (rayon), each into its own gradient buffer, and the buffers are summed in
//! chunk order. Inside a chunk the matrix products are sequential
//! (`matrixmultiply` without threading). So the same parameters and batch
//! give bit-identical gradients on any rayon pool.

use std::fmt;
use std::str::FromStr;

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis};
use rand::RngExt;
use rayon::prelude::*;

use crate::data::Samples;
use crate::error::{Error, Result};
use crate::rng::{stream, tag};

/// Largest hidden-layer width accepted from a spec string.
pub const MAX_HIDDEN: usize = 65_536;
/// Rows per parallel chunk when evaluating.
const EVAL_CHUNK: usize = 512;

/// Length of the chunks a batch of `m` examples is cut into for the
/// parallel gradient: at least 16 examples (smaller chunks cost more in
/// per-chunk gradient buffers than they gain), at most 4 chunks. Depends
/// only on `m`, which is what makes gradients independent of the thread
/// count.
#[must_use]
pub fn chunk_len(m: usize) -> usize {
    m.div_ceil(4).max(16)
}

/// Accuracy and mean cross-entropy on a set of examples.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Metrics {
    /// Fraction of examples whose arg-max prediction is the label.
    pub accuracy: f64,
    /// Mean softmax cross-entropy (nats).
    pub loss: f64,
    /// Number of examples evaluated.
    pub n: usize,
}

/// A classifier with a flat `f32` parameter vector.
pub trait Model: Send + Sync + fmt::Debug {
    /// The architecture.
    fn spec(&self) -> &ModelSpec;
    /// Input dimension.
    fn n_features(&self) -> usize;
    /// Output dimension.
    fn n_classes(&self) -> usize;
    /// Length of the flat parameter vector.
    fn num_params(&self) -> usize {
        self.params().len()
    }
    /// The flat parameters (layout in the module docs).
    fn params(&self) -> &[f32];
    /// The flat parameters, mutable (for SGD steps).
    fn params_mut(&mut self) -> &mut [f32];
    /// Replaces the parameters.
    ///
    /// # Errors
    /// [`Error::Shape`] if `p.len() != self.num_params()`.
    fn set_params(&mut self, p: &[f32]) -> Result<()> {
        let dst = self.params_mut();
        if dst.len() != p.len() {
            return Err(Error::Shape {
                context: "Model::set_params",
                expected: dst.len(),
                got: p.len(),
            });
        }
        dst.copy_from_slice(p);
        Ok(())
    }
    /// Mean cross-entropy over the batch `(x, y)`; writes its gradient with
    /// respect to the parameters into `grad` (overwriting it).
    ///
    /// # Errors
    /// [`Error::Shape`] on mismatched dimensions or a label out of range.
    fn loss_and_grad(&self, x: ArrayView2<'_, f32>, y: &[usize], grad: &mut [f32]) -> Result<f32>;
    /// Pre-softmax scores, one row per example.
    ///
    /// # Errors
    /// [`Error::Shape`] if `x` has the wrong number of columns.
    fn logits(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>>;
    /// Arg-max class per example.
    ///
    /// # Errors
    /// As [`Model::logits`].
    fn predict(&self, x: ArrayView2<'_, f32>) -> Result<Vec<usize>> {
        Ok(self
            .logits(x)?
            .rows()
            .into_iter()
            .map(|r| argmax(r))
            .collect())
    }
    /// Accuracy and mean loss on `s` (parallel over fixed chunks, summed in
    /// order, so the result does not depend on the thread count).
    ///
    /// # Errors
    /// [`Error::Shape`] if `s` has a different feature count or label space.
    fn evaluate(&self, s: &Samples) -> Result<Metrics> {
        if s.n_classes() > self.n_classes() {
            return Err(Error::Shape {
                context: "Model::evaluate (classes)",
                expected: self.n_classes(),
                got: s.n_classes(),
            });
        }
        let x = s.x();
        let n = s.len();
        let parts: Vec<Result<(usize, f64)>> = (0..n.div_ceil(EVAL_CHUNK))
            .into_par_iter()
            .map(|c| {
                let (a, b) = (c * EVAL_CHUNK, ((c + 1) * EVAL_CHUNK).min(n));
                let logits = self.logits(x.slice_axis(Axis(0), ndarray::Slice::from(a..b)))?;
                let mut correct = 0;
                let mut loss = 0.0;
                for (row, &label) in logits
                    .rows()
                    .into_iter()
                    .zip(s.y().get(a..b).unwrap_or(&[]))
                {
                    if argmax(row) == label {
                        correct += 1;
                    }
                    loss += f64::from(log_sum_exp(row) - row.get(label).copied().unwrap_or(0.0));
                }
                Ok((correct, loss))
            })
            .collect();
        let (mut correct, mut loss) = (0usize, 0.0f64);
        for p in parts {
            let (c, l) = p?;
            correct += c;
            loss += l;
        }
        #[expect(
            clippy::cast_precision_loss,
            reason = "example counts are far below 2^52"
        )]
        let nf = n.max(1) as f64;
        #[expect(
            clippy::cast_precision_loss,
            reason = "example counts are far below 2^52"
        )]
        Ok(Metrics {
            accuracy: correct as f64 / nf,
            loss: loss / nf,
            n,
        })
    }
}

fn argmax(r: ArrayView1<'_, f32>) -> usize {
    r.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0
}

fn log_sum_exp(r: ArrayView1<'_, f32>) -> f32 {
    let m = r.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    m + r.iter().map(|&v| (v - m).exp()).sum::<f32>().ln()
}

/// An architecture, parsed from `softmax`, `mlp:H` or `mlp:H1,H2`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ModelSpec {
    /// Multinomial logistic regression.
    Softmax,
    /// ReLU MLP with one or two hidden layers of the given widths.
    Mlp {
        /// Hidden widths, input side first.
        hidden: Vec<usize>,
    },
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Softmax => write!(f, "softmax"),
            Self::Mlp { hidden } => {
                let h: Vec<String> = hidden.iter().map(ToString::to_string).collect();
                write!(f, "mlp:{}", h.join(","))
            }
        }
    }
}

impl FromStr for ModelSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = |what: String| Error::config("model", what);
        if s == "softmax" {
            return Ok(Self::Softmax);
        }
        let Some(h) = s.strip_prefix("mlp:") else {
            return Err(bad(format!(
                "expected softmax, mlp:H or mlp:H1,H2, got '{s}'"
            )));
        };
        let hidden = h
            .split(',')
            .map(|w| match w.trim().parse::<usize>() {
                Ok(v) if (1..=MAX_HIDDEN).contains(&v) => Ok(v),
                _ => Err(bad(format!(
                    "hidden width '{w}' must be an integer in 1..={MAX_HIDDEN}"
                ))),
            })
            .collect::<Result<Vec<_>>>()?;
        if hidden.is_empty() || hidden.len() > 2 {
            return Err(bad(format!(
                "an MLP has one or two hidden layers, got {}",
                hidden.len()
            )));
        }
        Ok(Self::Mlp { hidden })
    }
}

impl ModelSpec {
    /// Layer widths from input to output.
    fn dims(&self, n_features: usize, n_classes: usize) -> Vec<usize> {
        let mut d = vec![n_features];
        if let Self::Mlp { hidden } = self {
            d.extend_from_slice(hidden);
        }
        d.push(n_classes);
        d
    }

    /// Length of the flat parameter vector for this architecture.
    #[must_use]
    pub fn num_params(&self, n_features: usize, n_classes: usize) -> usize {
        self.dims(n_features, n_classes)
            .windows(2)
            .map(|w| w[1] * w[0] + w[1])
            .sum()
    }

    /// Builds the model with Glorot-uniform weights and zero biases (the
    /// TensorFlow dense-layer default the FedProx code used), drawn from a
    /// ChaCha8 stream seeded with `seed`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if a dimension is zero.
    pub fn build(&self, n_features: usize, n_classes: usize, seed: u64) -> Result<Box<dyn Model>> {
        let net = Dense::new(self.clone(), n_features, n_classes, seed)?;
        Ok(match self {
            Self::Softmax => Box::new(SoftmaxRegression { net }),
            Self::Mlp { .. } => Box::new(Mlp { net }),
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct Layer {
    n_in: usize,
    n_out: usize,
    w: usize, // offset of W in the flat vector
    b: usize, // offset of b
}

/// The shared dense-stack implementation.
#[derive(Debug, Clone)]
struct Dense {
    spec: ModelSpec,
    layers: Vec<Layer>,
    params: Vec<f32>,
}

impl Dense {
    fn new(spec: ModelSpec, n_features: usize, n_classes: usize, seed: u64) -> Result<Self> {
        if n_features == 0 || n_classes == 0 {
            return Err(Error::config(
                "model",
                format!("needs >= 1 feature and class, got {n_features} and {n_classes}"),
            ));
        }
        let dims = spec.dims(n_features, n_classes);
        let mut layers = Vec::new();
        let mut off = 0;
        for w in dims.windows(2) {
            let (n_in, n_out) = (w[0], w[1]);
            layers.push(Layer {
                n_in,
                n_out,
                w: off,
                b: off + n_in * n_out,
            });
            off += n_in * n_out + n_out;
        }
        let mut params = vec![0.0f32; off];
        let mut rng = stream(seed, tag::INIT, 0, 0);
        for l in &layers {
            #[expect(clippy::cast_precision_loss, reason = "layer widths are small")]
            let limit = (6.0 / (l.n_in + l.n_out) as f32).sqrt();
            for p in params.get_mut(l.w..l.b).unwrap_or(&mut []) {
                *p = (rng.random::<f32>() * 2.0 - 1.0) * limit;
            }
        }
        Ok(Self {
            spec,
            layers,
            params,
        })
    }

    fn n_features(&self) -> usize {
        self.layers.first().map_or(0, |l| l.n_in)
    }

    fn n_classes(&self) -> usize {
        self.layers.last().map_or(0, |l| l.n_out)
    }

    fn w(&self, l: &Layer) -> Result<ArrayView2<'_, f32>> {
        let sl = self.params.get(l.w..l.b).unwrap_or(&[]);
        ArrayView2::from_shape((l.n_out, l.n_in), sl).map_err(|_| Error::Shape {
            context: "Dense::w",
            expected: l.n_out * l.n_in,
            got: sl.len(),
        })
    }

    fn b(&self, l: &Layer) -> ArrayView1<'_, f32> {
        ArrayView1::from(self.params.get(l.b..l.b + l.n_out).unwrap_or(&[]))
    }

    fn check_x(&self, x: ArrayView2<'_, f32>) -> Result<()> {
        if x.ncols() == self.n_features() {
            Ok(())
        } else {
            Err(Error::Shape {
                context: "model input (features)",
                expected: self.n_features(),
                got: x.ncols(),
            })
        }
    }

    /// Forward pass: post-ReLU hidden activations and the output logits.
    fn forward(&self, x: ArrayView2<'_, f32>) -> Result<(Vec<Array2<f32>>, Array2<f32>)> {
        let m = x.nrows();
        let mut hidden: Vec<Array2<f32>> = Vec::with_capacity(self.layers.len().saturating_sub(1));
        let last = self.layers.len().saturating_sub(1);
        for (i, l) in self.layers.iter().enumerate() {
            let mut z = Array2::<f32>::zeros((m, l.n_out));
            {
                let input = match i.checked_sub(1).and_then(|j| hidden.get(j)) {
                    Some(h) => h.view(),
                    None => x,
                };
                general_mat_mul(1.0, &input, &self.w(l)?.t(), 0.0, &mut z);
            }
            z += &self.b(l);
            if i == last {
                return Ok((hidden, z));
            }
            z.mapv_inplace(|v| v.max(0.0));
            hidden.push(z);
        }
        Err(Error::config("model", "no layers"))
    }

    /// Sum (not mean) of the losses over one chunk; adds the summed
    /// gradient into `grad`.
    fn chunk_loss_grad(
        &self,
        x: ArrayView2<'_, f32>,
        y: &[usize],
        grad: &mut [f32],
    ) -> Result<f64> {
        let (hidden, mut delta) = self.forward(x)?;
        // Softmax cross-entropy: loss_i = lse(z_i) − z_{i,y_i};
        // dloss/dz_i = softmax(z_i) − e_{y_i}.
        let mut loss = 0.0f64;
        for (mut row, &label) in delta.rows_mut().into_iter().zip(y) {
            let lse = log_sum_exp(row.view());
            loss += f64::from(lse - row.get(label).copied().unwrap_or(0.0));
            row.mapv_inplace(|v| (v - lse).exp());
            if let Some(t) = row.get_mut(label) {
                *t -= 1.0;
            }
        }
        for (i, l) in self.layers.iter().enumerate().rev() {
            let input = match i.checked_sub(1).and_then(|j| hidden.get(j)) {
                Some(h) => h.view(),
                None => x,
            };
            {
                let gw = grad.get_mut(l.w..l.b).unwrap_or(&mut []);
                let mut gw =
                    ArrayViewMut2::from_shape((l.n_out, l.n_in), gw).map_err(|_| Error::Shape {
                        context: "gradient W",
                        expected: l.n_in * l.n_out,
                        got: 0,
                    })?;
                general_mat_mul(1.0, &delta.t(), &input, 1.0, &mut gw);
            }
            {
                let mut gb =
                    ArrayViewMut1::from(grad.get_mut(l.b..l.b + l.n_out).unwrap_or(&mut []));
                gb += &delta.sum_axis(Axis(0));
            }
            if i > 0 {
                let mut next = delta.dot(&self.w(l)?);
                // ReLU'(z) = 1[z > 0] = 1[relu(z) > 0].
                ndarray::Zip::from(&mut next).and(&input).for_each(|d, &a| {
                    if a <= 0.0 {
                        *d = 0.0;
                    }
                });
                delta = next;
            }
        }
        Ok(loss)
    }

    fn loss_and_grad(&self, x: ArrayView2<'_, f32>, y: &[usize], grad: &mut [f32]) -> Result<f32> {
        self.check_x(x)?;
        if y.len() != x.nrows() {
            return Err(Error::Shape {
                context: "loss_and_grad (labels vs rows)",
                expected: x.nrows(),
                got: y.len(),
            });
        }
        if grad.len() != self.params.len() {
            return Err(Error::Shape {
                context: "loss_and_grad (gradient buffer)",
                expected: self.params.len(),
                got: grad.len(),
            });
        }
        if let Some(&bad) = y.iter().find(|&&l| l >= self.n_classes()) {
            return Err(Error::Shape {
                context: "loss_and_grad (label >= n_classes)",
                expected: self.n_classes(),
                got: bad,
            });
        }
        grad.fill(0.0);
        let m = x.nrows();
        if m == 0 {
            return Ok(0.0);
        }
        let cl = chunk_len(m);
        let loss = if m <= cl {
            self.chunk_loss_grad(x, y, grad)?
        } else {
            let n_chunks = m.div_ceil(cl);
            let chunk = |c: usize, g: &mut [f32]| {
                let (a, b) = (c * cl, ((c + 1) * cl).min(m));
                self.chunk_loss_grad(
                    x.slice_axis(Axis(0), ndarray::Slice::from(a..b)),
                    y.get(a..b).unwrap_or(&[]),
                    g,
                )
            };
            // Chunk 0 accumulates straight into the zeroed `grad`; the others
            // into their own buffers, added below in chunk order. Adding to
            // an exact zero is exact, so this equals a plain ordered sum:
            // bit-identical for any thread count.
            let (first, rest) = rayon::join(
                || chunk(0, grad),
                || {
                    (1..n_chunks)
                        .into_par_iter()
                        .map(|c| {
                            let mut g = vec![0.0f32; self.params.len()];
                            chunk(c, &mut g).map(|l| (g, l))
                        })
                        .collect::<Vec<Result<(Vec<f32>, f64)>>>()
                },
            );
            let mut loss = first?;
            for p in rest {
                let (g, l) = p?;
                grad.iter_mut().zip(&g).for_each(|(a, b)| *a += b);
                loss += l;
            }
            loss
        };
        #[expect(clippy::cast_precision_loss, reason = "batch sizes are small")]
        let inv = 1.0 / m as f32;
        grad.iter_mut().for_each(|g| *g *= inv);
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_precision_loss,
            reason = "mean loss fits f32"
        )]
        Ok((loss / m as f64) as f32)
    }

    fn logits(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        self.check_x(x)?;
        Ok(self.forward(x)?.1)
    }
}

/// Multinomial logistic regression: `p(y | x) = softmax(W x + b)`.
#[derive(Debug, Clone)]
pub struct SoftmaxRegression {
    net: Dense,
}

/// Multilayer perceptron: `softmax(W_L relu(… relu(W_1 x + b_1) …) + b_L)`
/// with one or two hidden layers.
#[derive(Debug, Clone)]
pub struct Mlp {
    net: Dense,
}

macro_rules! delegate_model {
    ($t:ty) => {
        impl Model for $t {
            fn spec(&self) -> &ModelSpec {
                &self.net.spec
            }
            fn n_features(&self) -> usize {
                self.net.n_features()
            }
            fn n_classes(&self) -> usize {
                self.net.n_classes()
            }
            fn params(&self) -> &[f32] {
                &self.net.params
            }
            fn params_mut(&mut self) -> &mut [f32] {
                &mut self.net.params
            }
            fn loss_and_grad(
                &self,
                x: ArrayView2<'_, f32>,
                y: &[usize],
                grad: &mut [f32],
            ) -> Result<f32> {
                self.net.loss_and_grad(x, y, grad)
            }
            fn logits(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
                self.net.logits(x)
            }
        }
    };
}
delegate_model!(SoftmaxRegression);
delegate_model!(Mlp);

impl SoftmaxRegression {
    /// A freshly initialised model (see [`ModelSpec::build`]).
    ///
    /// # Errors
    /// If a dimension is zero.
    pub fn new(n_features: usize, n_classes: usize, seed: u64) -> Result<Self> {
        Ok(Self {
            net: Dense::new(ModelSpec::Softmax, n_features, n_classes, seed)?,
        })
    }
}

impl Mlp {
    /// A freshly initialised MLP (see [`ModelSpec::build`]).
    ///
    /// # Errors
    /// If a dimension is zero or there are not one or two hidden layers.
    pub fn new(n_features: usize, hidden: &[usize], n_classes: usize, seed: u64) -> Result<Self> {
        if hidden.is_empty() || hidden.len() > 2 || hidden.contains(&0) {
            return Err(Error::config(
                "model",
                format!("an MLP needs one or two non-empty hidden layers, got {hidden:?}"),
            ));
        }
        Ok(Self {
            net: Dense::new(
                ModelSpec::Mlp {
                    hidden: hidden.to_vec(),
                },
                n_features,
                n_classes,
                seed,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    fn data(n: usize, d: usize, c: usize, seed: u64) -> (Array2<f32>, Vec<usize>) {
        let mut rng = stream(seed, 99, 0, 0);
        let x = Array2::from_shape_fn((n, d), |_| rng.random::<f32>() * 2.0 - 1.0);
        let y = (0..n).map(|_| rng.random_range(0..c)).collect();
        (x, y)
    }

    /// Central finite differences in f64 of the f32 loss, on every parameter.
    #[expect(
        clippy::needless_range_loop,
        reason = "the index addresses three buffers"
    )]
    fn grad_check(spec: &str) -> Result<()> {
        let spec: ModelSpec = spec.parse()?;
        let (d, c) = (5, 4);
        let mut model = spec.build(d, c, 11)?;
        // Non-zero biases so their gradient path is exercised too.
        for (i, p) in model.params_mut().iter_mut().enumerate() {
            #[expect(clippy::cast_precision_loss, reason = "small")]
            let bump = 0.05 * ((i % 7) as f32 - 3.0);
            *p += bump;
        }
        // 37 examples: several chunks, so the parallel reduction is covered.
        let (x, y) = data(37, d, c, 5);
        let mut g = vec![0.0; model.num_params()];
        model.loss_and_grad(x.view(), &y, &mut g)?;
        let mut scratch = vec![0.0; model.num_params()];
        let h = 2e-3f32;
        let mut worst = 0.0f64;
        for i in 0..model.num_params() {
            let orig = model.params()[i];
            model.params_mut()[i] = orig + h;
            let lp = f64::from(model.loss_and_grad(x.view(), &y, &mut scratch)?);
            model.params_mut()[i] = orig - h;
            let lm = f64::from(model.loss_and_grad(x.view(), &y, &mut scratch)?);
            model.params_mut()[i] = orig;
            let num = (lp - lm) / (2.0 * f64::from(h));
            let err = (num - f64::from(g[i])).abs() / (5e-3 + f64::from(g[i].abs()));
            worst = worst.max(err);
            assert!(
                err < 2e-2,
                "{spec} param {i}: numeric {num}, analytic {}",
                g[i]
            );
        }
        assert!(worst < 2e-2);
        Ok(())
    }

    #[test]
    fn gradient_softmax_matches_finite_differences() -> Result<()> {
        grad_check("softmax")
    }

    #[test]
    fn gradient_mlp1_matches_finite_differences() -> Result<()> {
        grad_check("mlp:6")
    }

    #[test]
    fn gradient_mlp2_matches_finite_differences() -> Result<()> {
        grad_check("mlp:6,3")
    }

    #[test]
    fn softmax_loss_matches_closed_form() -> Result<()> {
        // With all-zero parameters every class has probability 1/C.
        let mut m = SoftmaxRegression::new(3, 5, 0)?;
        m.params_mut().fill(0.0);
        let (x, y) = data(10, 3, 5, 1);
        let mut g = vec![0.0; m.num_params()];
        let l = m.loss_and_grad(x.view(), &y, &mut g)?;
        assert!((l - 5f32.ln()).abs() < 1e-6);
        // Bias gradient = mean(1/C − e_y).
        let counts = y.iter().fold([0usize; 5], |mut a, &l| {
            a[l] += 1;
            a
        });
        for k in 0..5 {
            #[expect(clippy::cast_precision_loss, reason = "small")]
            let want = 0.2 - counts[k] as f32 / 10.0;
            assert!((g[15 + k] - want).abs() < 1e-6);
        }
        Ok(())
    }

    #[test]
    fn gradient_is_identical_on_any_thread_count() -> Result<()> {
        let m = ModelSpec::Mlp { hidden: vec![16] }.build(20, 3, 2)?;
        let (x, y) = data(100, 20, 3, 3);
        let run = |threads: usize| -> Result<Vec<f32>> {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .map_err(|e| Error::config("pool", e.to_string()))?;
            pool.install(|| {
                let mut g = vec![0.0; m.num_params()];
                m.loss_and_grad(x.view(), &y, &mut g)?;
                Ok(g)
            })
        };
        let one = run(1)?;
        assert_eq!(one, run(2)?);
        assert_eq!(one, run(3)?);
        Ok(())
    }

    #[test]
    fn spec_parsing_and_sizes() -> Result<()> {
        assert_eq!("softmax".parse::<ModelSpec>()?.num_params(784, 10), 7850);
        assert_eq!(
            "mlp:128".parse::<ModelSpec>()?.num_params(784, 10),
            784 * 128 + 128 + 1290
        );
        assert_eq!("mlp:128,64".parse::<ModelSpec>()?.to_string(), "mlp:128,64");
        for bad in ["", "mlp", "mlp:", "mlp:0", "mlp:1,2,3", "mlp:x", "cnn"] {
            assert!(bad.parse::<ModelSpec>().is_err(), "{bad}");
        }
        let m = ModelSpec::Mlp { hidden: vec![4, 3] }.build(2, 2, 0)?;
        assert_eq!(m.num_params(), 2 * 4 + 4 + 4 * 3 + 3 + 3 * 2 + 2);
        Ok(())
    }

    #[test]
    fn bad_shapes_are_errors() -> Result<()> {
        let m = SoftmaxRegression::new(3, 2, 0)?;
        let (x, y) = data(4, 3, 2, 0);
        let mut g = vec![0.0; m.num_params()];
        assert!(m.loss_and_grad(x.view(), &y[..3], &mut g).is_err());
        assert!(m.loss_and_grad(x.view(), &[0, 1, 2, 0], &mut g).is_err());
        assert!(m.loss_and_grad(x.view(), &y, &mut g[..2]).is_err());
        let (x4, _) = data(4, 4, 2, 0);
        assert!(m.logits(x4.view()).is_err());
        Ok(())
    }
}
