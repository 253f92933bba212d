//! Shamir `t`-of-`n` sharing of the members' secrets over each `Z_{q_j}`.
//!
//! Member `i` deals `f_i(X) = s_i + r_1·X + … + r_{t−1}·X^{t−1}` with `r_k`
//! uniform in `R_Q`, and sends `f_i(k)` to member `k` (end-to-end encrypted by
//! the ceremony). Member `k` keeps `sk_k = Σ_i f_i(k)`, a share of
//! `s = Σ_i s_i` on the degree-`t−1` polynomial `Σ_i f_i`. For a named set
//! `S` of `t` members, `Σ_{k∈S} λ_k^S·sk_k = s` with the Lagrange
//! coefficients at zero `λ_k^S = Π_{j∈S, j≠k} j/(j − k) mod q`. Fewer than
//! `t` shares are independent of `s`.

use std::sync::Arc;

use fedhe_ring::sample::sample_uniform;
use fedhe_ring::{NttPoly, Poly};
use rand_core::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::context::HeContext;
use crate::error::{Error, Result};
use crate::keys::{MemberId, MemberSecret};

/// The polynomial a member deals its secret with. Zeroized on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct ShamirPolynomial {
    #[zeroize(skip)]
    dealer: MemberId,
    coeffs: Vec<Poly>,
}

impl std::fmt::Debug for ShamirPolynomial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ShamirPolynomial(dealer {}, degree {}, redacted)",
            self.dealer.get(),
            self.coeffs.len() - 1
        )
    }
}

/// `f_i(k)`: what dealer `i` sends to member `k`. Zeroized on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct ShamirShare {
    #[zeroize(skip)]
    pub(crate) from: MemberId,
    #[zeroize(skip)]
    pub(crate) to: MemberId,
    pub(crate) value: Poly,
}

impl std::fmt::Debug for ShamirShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ShamirShare({} -> {}, redacted)",
            self.from.get(),
            self.to.get()
        )
    }
}

impl ShamirShare {
    /// The dealer.
    pub fn from(&self) -> MemberId {
        self.from
    }
    /// The recipient.
    pub fn to(&self) -> MemberId {
        self.to
    }
}

/// Member `k`'s threshold key share `sk_k = Σ_i f_i(k)`, kept in evaluation
/// form. Zeroized on drop; never printed; no `Clone`.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct KeyShare {
    #[zeroize(skip)]
    pub(crate) ctx: Arc<HeContext>,
    #[zeroize(skip)]
    pub(crate) member: MemberId,
    pub(crate) sk: Poly,
    pub(crate) sk_ntt: NttPoly,
}

impl std::fmt::Debug for KeyShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyShare({}, redacted)", self.member.get())
    }
}

impl KeyShare {
    pub(crate) fn from_poly(ctx: &Arc<HeContext>, member: MemberId, sk: Poly) -> Self {
        let sk_ntt = ctx.ring().forward(&sk);
        Self {
            ctx: ctx.clone(),
            member,
            sk,
            sk_ntt,
        }
    }

    /// The holder.
    pub fn member(&self) -> MemberId {
        self.member
    }

    /// The context.
    pub fn context(&self) -> &Arc<HeContext> {
        &self.ctx
    }
}

/// Deals secrets and aggregates received shares (Lattigo's `Thresholdizer`).
#[derive(Debug)]
pub struct Thresholdizer {
    ctx: Arc<HeContext>,
}

impl Thresholdizer {
    /// A thresholdizer for the context's committee `(t, n)`.
    pub fn new(ctx: &Arc<HeContext>) -> Self {
        Self { ctx: ctx.clone() }
    }

    fn check_member(&self, m: MemberId) -> Result<()> {
        let n = self.ctx.params().committee.members;
        if m.get() > n {
            return Err(Error::Committee(format!("{m} is outside 1..={n}")));
        }
        Ok(())
    }

    /// `f_i` with constant term `s_i` and `t − 1` uniform coefficients from the caller's CSPRNG.
    pub fn gen_share_polynomial<R: CryptoRng + ?Sized>(
        &self,
        dealer: MemberId,
        secret: &MemberSecret,
        rng: &mut R,
    ) -> Result<ShamirPolynomial> {
        self.check_member(dealer)?;
        let t = usize::from(self.ctx.params().committee.threshold);
        let mut coeffs = Vec::with_capacity(t);
        coeffs.push(secret.lifted());
        for _ in 1..t {
            coeffs.push(sample_uniform(self.ctx.ring(), rng));
        }
        Ok(ShamirPolynomial { dealer, coeffs })
    }

    /// `f_i(to)` by Horner's rule in each `Z_{q_j}`.
    pub fn gen_share(&self, poly: &ShamirPolynomial, to: MemberId) -> Result<ShamirShare> {
        self.check_member(to)?;
        let ring = self.ctx.ring();
        let x: Vec<u64> = ring
            .moduli()
            .iter()
            .map(|m| u64::from(to.get()) % m.value())
            .collect();
        let mut acc = ring.zero();
        for c in poly.coeffs.iter().rev() {
            ring.mul_scalar_assign(&mut acc, &x);
            ring.add_assign(&mut acc, c);
        }
        Ok(ShamirShare {
            from: poly.dealer,
            to,
            value: acc,
        })
    }

    /// `sk_k = Σ_i f_i(k)` from exactly one share of each of the `n` dealers.
    pub fn aggregate_shares(&self, member: MemberId, shares: &[ShamirShare]) -> Result<KeyShare> {
        self.check_member(member)?;
        let n = self.ctx.params().committee.members;
        if let Some(s) = shares.iter().find(|s| s.to != member) {
            return Err(Error::Committee(format!(
                "a share for {} was given to {member}",
                s.to
            )));
        }
        let mut dealers: Vec<u16> = shares.iter().map(|s| s.from.get()).collect();
        dealers.sort_unstable();
        if dealers != (1..=n).collect::<Vec<_>>() {
            return Err(Error::Committee(format!(
                "{member} needs one share from each of dealers 1..={n}, got {dealers:?}"
            )));
        }
        let ring = self.ctx.ring();
        let mut sk = ring.zero();
        for s in shares {
            ring.add_assign(&mut sk, &s.value);
        }
        Ok(KeyShare::from_poly(&self.ctx, member, sk))
    }
}

/// The set `S` of exactly `t` distinct members named to decrypt one
/// ciphertext, sorted.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DecryptingSet {
    members: Vec<MemberId>,
}

impl DecryptingSet {
    /// Checks that `members` are `t` distinct indices in `1..=n`.
    pub fn new(ctx: &HeContext, members: &[MemberId]) -> Result<Self> {
        let crate::params::Committee {
            threshold: t,
            members: n,
        } = ctx.params().committee;
        let mut m = members.to_vec();
        m.sort_unstable();
        m.dedup();
        if m.len() != members.len() {
            return Err(Error::Committee(
                "the decrypting set names a member twice".into(),
            ));
        }
        if m.len() != usize::from(t) {
            return Err(Error::Committee(format!(
                "the decrypting set has {} members; exactly t = {t} are needed",
                m.len()
            )));
        }
        if let Some(bad) = m.iter().find(|x| x.get() > n) {
            return Err(Error::Committee(format!("{bad} is outside 1..={n}")));
        }
        Ok(Self { members: m })
    }

    /// The members, sorted.
    pub fn members(&self) -> &[MemberId] {
        &self.members
    }

    /// Whether `m` is in the set.
    pub fn contains(&self, m: MemberId) -> bool {
        self.members.binary_search(&m).is_ok()
    }
}

/// Lagrange recombination at zero for a named set (Lattigo's `Combiner`).
#[derive(Debug)]
pub struct Combiner;

impl Combiner {
    /// `λ_k^S mod q_j` for each prime: `Π_{j∈S, j≠k} j/(j − k)`.
    pub fn lagrange_coefficient(
        ctx: &HeContext,
        set: &DecryptingSet,
        member: MemberId,
    ) -> Result<Vec<u64>> {
        if !set.contains(member) {
            return Err(Error::Committee(format!(
                "{member} is not in the decrypting set"
            )));
        }
        let k = u64::from(member.get());
        ctx.ring()
            .moduli()
            .iter()
            .map(|q| {
                let (mut num, mut den) = (1u64, 1u64);
                for j in set
                    .members()
                    .iter()
                    .map(|j| u64::from(j.get()))
                    .filter(|&j| j != k)
                {
                    num = q.mul(num, j % q.value());
                    den = q.mul(den, q.sub(j % q.value(), k % q.value()));
                }
                let inv = q.inv(den).ok_or_else(|| {
                    Error::Committee("member indices collide modulo a prime".into())
                })?;
                Ok(q.mul(num, inv))
            })
            .collect()
    }
}
