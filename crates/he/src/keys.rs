//! The common reference polynomial, members' secrets, public-key shares and
//! the collective public key.
//!
//! Member `i` samples a ternary secret `s_i` and publishes
//! `p_i = −a·s_i + e_i`; the collective public key is `(Σ p_i, a)` for the
//! collective secret `s = Σ s_i`, which nobody holds.

use std::sync::Arc;

use fedhe_ring::sample::{sample_cbd, sample_ternary};
use fedhe_ring::{NttPoly, Poly, SmallPoly, expand_uniform};
use rand_core::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::context::HeContext;
use crate::error::{Error, Result};

/// Domain-separation context of the CRS expansion (see `fedhe_ring::expand_uniform`).
pub const CRS_CONTEXT: &str = "fedhe 2026-11 common reference polynomial a v1";

/// A committee member's index, `1..=n`: its Shamir evaluation point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemberId(u16);

impl MemberId {
    /// A member index; zero is refused (it is the point where the secret sits).
    pub fn new(index: u16) -> Result<Self> {
        if index == 0 {
            return Err(Error::Committee("member indices start at 1".into()));
        }
        Ok(Self(index))
    }

    /// The index.
    pub fn get(self) -> u16 {
        self.0
    }
}

impl std::fmt::Display for MemberId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "member {}", self.0)
    }
}

/// The public 32-byte ceremony seed from which everyone expands `a`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Crs {
    seed: [u8; 32],
}

impl Crs {
    /// A fresh seed from the caller's CSPRNG (the ceremony passes the OS one).
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        Self { seed }
    }

    /// A known seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self { seed }
    }

    /// The seed.
    pub fn seed(&self) -> &[u8; 32] {
        &self.seed
    }

    /// `a`, in evaluation form.
    pub fn expand(&self, ctx: &HeContext) -> NttPoly {
        ctx.ring()
            .forward_owned(expand_uniform(ctx.ring(), &self.seed, CRS_CONTEXT))
    }
}

/// A member's own secret `s_i` (ternary). Zeroized on drop; never printed.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct MemberSecret {
    #[zeroize(skip)]
    ctx: Arc<HeContext>,
    small: SmallPoly,
    ntt: NttPoly,
}

impl std::fmt::Debug for MemberSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemberSecret(redacted)")
    }
}

impl MemberSecret {
    /// Samples a ternary secret from the caller's CSPRNG.
    pub fn generate<R: CryptoRng + ?Sized>(ctx: &Arc<HeContext>, rng: &mut R) -> Self {
        let small = sample_ternary(ctx.params().degree, rng);
        let ntt = ctx.ring().forward_owned(small.lift(ctx.ring()));
        Self {
            ctx: ctx.clone(),
            small,
            ntt,
        }
    }

    /// `s_i` in coefficient form, the constant term of the member's Shamir polynomial.
    pub(crate) fn lifted(&self) -> Poly {
        self.small.lift(self.ctx.ring())
    }

    /// The small coefficients (tests measure noise with them).
    #[cfg(any(test, feature = "insecure-test-params"))]
    pub fn coefficients_for_tests(&self) -> &[i64] {
        self.small.coeffs()
    }
}

/// `p_i = −a·s_i + e_i`, published by member `i`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKeyShare {
    pub(crate) member: MemberId,
    pub(crate) p: Poly,
}

impl PublicKeyShare {
    /// The member that made it.
    pub fn member(&self) -> MemberId {
        self.member
    }
}

/// The collective public key `(p = Σ p_i, a)`, with both kept in evaluation
/// form for encryption.
#[derive(Clone, Debug)]
pub struct PublicKey {
    pub(crate) ctx: Arc<HeContext>,
    pub(crate) crs: Crs,
    pub(crate) p: Poly,
    pub(crate) p_ntt: NttPoly,
    pub(crate) a_ntt: NttPoly,
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.ctx.digest() == other.ctx.digest() && self.crs == other.crs && self.p == other.p
    }
}

impl PublicKey {
    pub(crate) fn from_parts(ctx: &Arc<HeContext>, crs: Crs, p: Poly) -> Self {
        let p_ntt = ctx.ring().forward(&p);
        let a_ntt = crs.expand(ctx);
        Self {
            ctx: ctx.clone(),
            crs,
            p,
            p_ntt,
            a_ntt,
        }
    }

    /// The context the key was made under.
    pub fn context(&self) -> &Arc<HeContext> {
        &self.ctx
    }

    /// The CRS.
    pub fn crs(&self) -> &Crs {
        &self.crs
    }

    /// BLAKE3 digest of the key's wire form (the key id rounds refer to).
    pub fn digest(&self) -> [u8; 32] {
        blake3::derive_key("fedhe 2026-11 public key digest v1", &self.to_bytes())
    }
}

/// The public-key generation protocol: each member makes a share, anyone
/// aggregates them (Lattigo's `gen_share` / `aggregate_shares` vocabulary).
#[derive(Debug)]
pub struct PublicKeyGen {
    ctx: Arc<HeContext>,
    crs: Crs,
    a_ntt: NttPoly,
}

impl PublicKeyGen {
    /// The protocol for one CRS.
    pub fn new(ctx: &Arc<HeContext>, crs: Crs) -> Self {
        Self {
            ctx: ctx.clone(),
            a_ntt: crs.expand(ctx),
            crs,
        }
    }

    /// Member `member`'s share `−a·s_i + e_i`, with `e_i` from the caller's CSPRNG.
    pub fn gen_share<R: CryptoRng + ?Sized>(
        &self,
        member: MemberId,
        secret: &MemberSecret,
        rng: &mut R,
    ) -> Result<PublicKeyShare> {
        let ring = self.ctx.ring();
        let mut p = ring.mul_to_coeff(&self.a_ntt, &secret.ntt);
        ring.neg_assign(&mut p);
        let e = sample_cbd(ring.degree(), self.ctx.params().error_eta, rng)?;
        ring.add_assign(&mut p, &e.lift(ring));
        Ok(PublicKeyShare { member, p })
    }

    /// Sums the shares of all `n` members, each exactly once, into the collective key.
    pub fn aggregate_shares(&self, shares: &[PublicKeyShare]) -> Result<PublicKey> {
        let n = self.ctx.params().committee.members;
        let mut seen: Vec<u16> = shares.iter().map(|s| s.member.get()).collect();
        seen.sort_unstable();
        if seen != (1..=n).collect::<Vec<_>>() {
            return Err(Error::Committee(format!(
                "the public key needs one share from each of members 1..={n}, got {seen:?}"
            )));
        }
        let ring = self.ctx.ring();
        let mut p = ring.zero();
        for s in shares {
            ring.add_assign(&mut p, &s.p);
        }
        Ok(PublicKey::from_parts(&self.ctx, self.crs, p))
    }
}
