//! Polynomials of `R_Q` in RNS form.
//!
//! [`Poly`] holds coefficients, [`NttPoly`] the negacyclic NTT of each limb
//! (in the NTT backend's bit-reversed order). The two are distinct types so a
//! product can only be formed where both operands are transformed. Neither
//! type prints its residues: a polynomial may be a secret.

use zeroize::Zeroize;

/// A polynomial in coefficient form: `L` blocks of `N` residues, block `j`
/// holding the coefficients modulo `q_j`.
#[derive(Clone, PartialEq, Eq, Zeroize)]
pub struct Poly {
    pub(crate) data: Vec<u64>,
}

/// A polynomial in evaluation (NTT) form, limb by limb.
#[derive(Clone, PartialEq, Eq, Zeroize)]
pub struct NttPoly {
    pub(crate) data: Vec<u64>,
}

impl Poly {
    pub(crate) fn from_raw(data: Vec<u64>) -> Self {
        Self { data }
    }

    /// All residues, prime by prime (`L·N` words).
    #[inline]
    pub fn as_slice(&self) -> &[u64] {
        &self.data
    }
}

impl NttPoly {
    pub(crate) fn from_raw(data: Vec<u64>) -> Self {
        Self { data }
    }

    /// All transformed residues, prime by prime.
    #[inline]
    pub fn as_slice(&self) -> &[u64] {
        &self.data
    }
}

impl std::fmt::Debug for Poly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Poly({} residues)", self.data.len())
    }
}

impl std::fmt::Debug for NttPoly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NttPoly({} residues)", self.data.len())
    }
}
