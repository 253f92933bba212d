//! A validated parameter set with its ring: the handle every operation takes.

use std::sync::Arc;

use fedhe_ring::RingContext;

use crate::error::Result;
use crate::params::{Analysis, Params};

/// A validated [`Params`] together with its [`RingContext`] and the constants
/// of encoding (`Δ = ⌊Q/T⌋` per prime) and flooding (`σ_f`).
#[derive(Debug)]
pub struct HeContext {
    params: Params,
    ring: RingContext,
    analysis: Analysis,
    digest: [u8; 32],
    delta: Vec<u64>,
}

impl HeContext {
    /// Validates `params` (refusing unsafe sets) and builds the context.
    pub fn new(params: Params) -> Result<Arc<Self>> {
        let analysis = params.validate()?;
        Self::build(params, analysis)
    }

    /// Builds a context for an INSECURE test parameter set: the security level
    /// is not checked (correctness and flooding margins still are). Only
    /// compiled with the `insecure-test-params` feature, which no shipped
    /// binary enables.
    #[cfg(any(test, feature = "insecure-test-params"))]
    pub fn new_insecure(params: Params) -> Result<Arc<Self>> {
        let analysis = params.validate_margins()?;
        Self::build(params, analysis)
    }

    fn build(params: Params, analysis: Analysis) -> Result<Arc<Self>> {
        let ring = RingContext::new(params.degree, &params.moduli)?;
        let delta_full = ring.modulus_product() / u128::from(params.plaintext_modulus());
        let delta = ring
            .moduli()
            .iter()
            .map(|m| (delta_full % u128::from(m.value())) as u64)
            .collect();
        let digest = params.digest();
        Ok(Arc::new(Self {
            params,
            ring,
            analysis,
            digest,
            delta,
        }))
    }

    /// The parameter set.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The ring.
    pub fn ring(&self) -> &RingContext {
        &self.ring
    }

    /// The validator's analysis.
    pub fn analysis(&self) -> &Analysis {
        &self.analysis
    }

    /// The parameter digest carried by every wire form.
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }

    /// `Δ mod q_j` for each prime.
    pub(crate) fn delta(&self) -> &[u64] {
        &self.delta
    }

    /// `σ_f`.
    pub fn flooding_sigma(&self) -> f64 {
        self.analysis.flooding_sigma
    }

    /// Number of ciphertexts needed for `values` values (`⌈values/N⌉`).
    pub fn ciphertexts_for(&self, values: usize) -> usize {
        values.div_ceil(self.params.degree)
    }
}
