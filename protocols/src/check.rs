//! Conformance (SPEC.md §3.4) and signing of the messages that carry
//! signatures.
//!
//! [`Message::decode`] is structural: a message that decodes is well formed
//! but may belong to another federation, round or parameter set, and its
//! embedded wire forms are still bytes. [`Message::check`] compares it with
//! what the receiver expects and decodes the wire forms against an
//! [`HeContext`] with `fedhe-he`'s strict decoders. Only then are
//! signatures worth verifying (`verify` methods) and policy worth applying
//! (the state machines: replays, quorum, budgets).

use std::sync::Arc;

use fedhe_he::wire::{HEADER_DIGEST_LEN, HEADER_LEN};
use fedhe_he::{CiphertextList, DecryptingSet, DecryptionShare, HeContext, MemberId};

use crate::codec::PROTOCOL_VERSION;
use crate::error::{Error, Field, Result};
use crate::ids::{Digest, FederationId, ParticipantId, RequestId, RoundId};
use crate::messages::{
    Contribution, DecryptRequest, DecryptShare, Message, Receipt, RoundOpen, RoundResult,
    Submission, WireBytes,
};
use crate::sign::{SigningKey, Transcript, VerifyingKey, share_digest};

/// What the receiver expects of a message. `None` fields are not checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectations {
    /// The receiver's federation.
    pub federation: FederationId,
    /// The round the receiver is in.
    pub round: RoundId,
    /// The collective key's digest (checked on [`RoundOpen`]).
    pub public_key_digest: Option<Digest>,
    /// Values per update: model parameters of a [`RoundOpen`], values of a
    /// submission's or aggregate's ciphertext list.
    pub values: Option<usize>,
    /// The request a [`DecryptShare`] must answer.
    pub request: Option<RequestId>,
    /// The aggregate a [`DecryptShare`] must be bound to.
    pub aggregate_digest: Option<Digest>,
    /// The decrypting set a [`DecryptShare`] must name.
    pub set: Option<DecryptingSet>,
}

impl Expectations {
    /// Expect `federation` and `round`, nothing else.
    pub fn new(federation: FederationId, round: RoundId) -> Self {
        Self {
            federation,
            round,
            public_key_digest: None,
            values: None,
            request: None,
            aggregate_digest: None,
            set: None,
        }
    }
}

/// A message that passed conformance, with its wire forms decoded.
#[derive(Debug)]
#[non_exhaustive]
pub enum Conformed {
    /// A [`RoundOpen`] that fits the context.
    RoundOpen,
    /// A submission's ciphertexts.
    Submission(CiphertextList),
    /// A [`Receipt`] for this round.
    Receipt,
    /// A decryption request's aggregate and set.
    DecryptRequest {
        /// The aggregate.
        aggregate: CiphertextList,
        /// The decrypting set.
        set: DecryptingSet,
    },
    /// A decryption share.
    DecryptShare(DecryptionShare),
    /// A [`RoundResult`] for this round.
    RoundResult,
    /// A [`crate::Refusal`] for this federation.
    Refusal,
}

fn expect_eq<T: PartialEq + std::fmt::Debug>(field: Field, got: &T, want: &T) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(Error::mismatch(
            field,
            format!("got {got:?}, expected {want:?}"),
        ))
    }
}

fn frame_ids(exp: &Expectations, federation: FederationId, round: RoundId) -> Result<()> {
    expect_eq(Field::Federation, &federation, &exp.federation)?;
    expect_eq(Field::Round, &round, &exp.round)
}

/// A wire form's 16-byte parameter-digest prefix is compared here so that a
/// wrong parameter set is reported as such rather than as malformed bytes.
fn wire_params(ctx: &HeContext, bytes: &[u8]) -> Result<()> {
    if let Some(prefix) = bytes.get(HEADER_LEN - HEADER_DIGEST_LEN..HEADER_LEN)
        && prefix != &ctx.digest()[..HEADER_DIGEST_LEN]
    {
        return Err(Error::mismatch(
            Field::ParamsDigest,
            "the wire form's parameter digest is not the context's",
        ));
    }
    Ok(())
}

fn ciphertexts(
    ctx: &Arc<HeContext>,
    bytes: &WireBytes,
    stated: &Digest,
    values: Option<usize>,
) -> Result<CiphertextList> {
    wire_params(ctx, bytes.as_slice())?;
    let list = CiphertextList::from_bytes(ctx, bytes.as_slice())?;
    expect_eq(Field::CiphertextDigest, &list.digest(), stated)?;
    if let Some(v) = values {
        expect_eq(Field::Values, &list.len(), &v)?;
    }
    Ok(list)
}

fn strictly_increasing<T: Ord>(items: impl IntoIterator<Item = T>) -> bool {
    let mut last: Option<T> = None;
    for x in items {
        if last.as_ref().is_some_and(|l| *l >= x) {
            return false;
        }
        last = Some(x);
    }
    true
}

impl RoundOpen {
    /// Conformance: ids, protocol version, digests, model size, and a
    /// configuration the context can carry.
    pub fn check(&self, ctx: &HeContext, exp: &Expectations) -> Result<()> {
        frame_ids(exp, self.federation, self.round)?;
        expect_eq(
            Field::ProtocolVersion,
            &self.protocol_version,
            &PROTOCOL_VERSION,
        )?;
        expect_eq(Field::ParamsDigest, &self.params_digest, ctx.digest())?;
        if let Some(pk) = &exp.public_key_digest {
            expect_eq(Field::PublicKeyDigest, &self.public_key_digest, pk)?;
        }
        if let Some(v) = exp.values {
            expect_eq(Field::Model, &self.model.parameters.len(), &v)?;
        }
        let c = &self.config;
        let p = ctx.params();
        let bad = |d: String| Err(Error::mismatch(Field::Config, d));
        if !(c.clip.is_finite() && c.clip > 0.0) {
            return bad(format!("clip {} must be finite and positive", c.clip));
        }
        if !(c.gamma.is_finite() && c.gamma > 0.0) {
            return bad(format!("γ {} must be finite and positive", c.gamma));
        }
        if c.bits == 0 || u32::from(c.bits) > p.plaintext_bits {
            return bad(format!(
                "{} bits: the parameter set carries 1..={}",
                c.bits, p.plaintext_bits
            ));
        }
        if c.noise.den == 0 {
            return bad("noise variance with a zero denominator".into());
        }
        if c.min_contributors == 0 || c.min_contributors > p.max_contributors {
            return bad(format!(
                "minimum of {} contributors: the parameter set allows 1..={}",
                c.min_contributors, p.max_contributors
            ));
        }
        if c.deadline_millis == 0 {
            return bad("a zero deadline".into());
        }
        Ok(())
    }
}

impl Submission {
    /// A signed submission of `list`.
    pub fn new_signed(
        federation: FederationId,
        round: RoundId,
        sender: ParticipantId,
        list: &CiphertextList,
        key: &SigningKey,
    ) -> Self {
        let digest = list.digest();
        let t = Transcript::submission(federation, round, sender, list.context().digest(), &digest);
        Self {
            federation,
            round,
            sender,
            ciphertexts: WireBytes(list.to_bytes()),
            digest,
            signature: key.sign(&t),
        }
    }

    /// The transcript the sender signed.
    pub fn transcript(&self, params_digest: &Digest) -> Transcript {
        Transcript::submission(
            self.federation,
            self.round,
            self.sender,
            params_digest,
            &self.digest,
        )
    }

    /// Verifies the sender's signature under the round's parameter digest.
    pub fn verify(&self, params_digest: &Digest, key: &VerifyingKey) -> Result<()> {
        key.verify(
            &self.transcript(params_digest),
            &self.signature,
            "submission",
        )
    }

    /// Conformance: ids, the ciphertext list against `ctx`, its stated
    /// digest, its length.
    pub fn check(&self, ctx: &Arc<HeContext>, exp: &Expectations) -> Result<CiphertextList> {
        frame_ids(exp, self.federation, self.round)?;
        ciphertexts(ctx, &self.ciphertexts, &self.digest, exp.values)
    }

    /// The contribution a decryption request lists for this submission.
    pub fn contribution(&self) -> Contribution {
        Contribution {
            sender: self.sender,
            digest: self.digest,
            signature: self.signature,
        }
    }
}

impl Contribution {
    /// Verifies the sender's submission signature.
    pub fn verify(
        &self,
        federation: FederationId,
        round: RoundId,
        params_digest: &Digest,
        key: &VerifyingKey,
    ) -> Result<()> {
        let t = Transcript::submission(federation, round, self.sender, params_digest, &self.digest);
        key.verify(&t, &self.signature, "contribution")
    }
}

impl Receipt {
    /// A receipt signed by the server `server`.
    pub fn new_signed(
        federation: FederationId,
        round: RoundId,
        server: ParticipantId,
        sender: ParticipantId,
        submission_digest: Digest,
        key: &SigningKey,
    ) -> Self {
        let t = Transcript::receipt(federation, round, server, sender, &submission_digest);
        Self {
            federation,
            round,
            sender,
            submission_digest,
            signature: key.sign(&t),
        }
    }

    /// Verifies the signature of server `server`.
    pub fn verify(&self, server: ParticipantId, key: &VerifyingKey) -> Result<()> {
        let t = Transcript::receipt(
            self.federation,
            self.round,
            server,
            self.sender,
            &self.submission_digest,
        );
        key.verify(&t, &self.signature, "receipt")
    }

    /// Conformance: ids.
    pub fn check(&self, exp: &Expectations) -> Result<()> {
        frame_ids(exp, self.federation, self.round)
    }
}

impl DecryptRequest {
    /// Conformance: ids, the aggregate against `ctx` and its stated digest,
    /// the set (`t` distinct valid indices, strictly increasing), the
    /// contributions (senders strictly increasing, hence distinct).
    ///
    /// Whether there are enough contributions, whether their signatures
    /// verify ([`DecryptRequest::verify_contributions`]) and whether this
    /// member is in the set are the committee member's policy checks.
    pub fn check(
        &self,
        ctx: &Arc<HeContext>,
        exp: &Expectations,
    ) -> Result<(CiphertextList, DecryptingSet)> {
        frame_ids(exp, self.federation, self.round)?;
        if let Some(pk) = &exp.public_key_digest {
            expect_eq(Field::PublicKeyDigest, &self.public_key_digest, pk)?;
        }
        if !strictly_increasing(self.set.iter()) {
            return Err(Error::mismatch(
                Field::DecryptingSet,
                "members must be strictly increasing",
            ));
        }
        let ids = self
            .set
            .iter()
            .map(|&m| MemberId::new(m))
            .collect::<fedhe_he::Result<Vec<_>>>()
            .map_err(|e| Error::mismatch(Field::DecryptingSet, e.to_string()))?;
        let set = DecryptingSet::new(ctx, &ids)
            .map_err(|e| Error::mismatch(Field::DecryptingSet, e.to_string()))?;
        if !strictly_increasing(self.contributions.iter().map(|c| c.sender)) {
            return Err(Error::mismatch(
                Field::Contributions,
                "senders must be strictly increasing",
            ));
        }
        let aggregate = ciphertexts(ctx, &self.aggregate, &self.aggregate_digest, exp.values)?;
        Ok((aggregate, set))
    }

    /// Verifies every contribution's signature with `keys` and returns how
    /// many distinct senders signed (after [`DecryptRequest::check`], all
    /// listed senders are distinct). An unknown sender or a bad signature
    /// fails the whole request.
    pub fn verify_contributions(
        &self,
        params_digest: &Digest,
        keys: impl Fn(ParticipantId) -> Option<VerifyingKey>,
    ) -> Result<usize> {
        for c in &self.contributions {
            let key = keys(c.sender).ok_or(Error::UnknownSender(c.sender))?;
            c.verify(self.federation, self.round, params_digest, &key)?;
        }
        Ok(self.contributions.len())
    }
}

impl DecryptShare {
    /// A signed share message for `share`, answering `request` on the
    /// aggregate the share is bound to.
    pub fn new_signed(
        federation: FederationId,
        round: RoundId,
        request: RequestId,
        sender: ParticipantId,
        ctx: &HeContext,
        share: &DecryptionShare,
        key: &SigningKey,
    ) -> Self {
        let bytes = share.to_bytes(ctx);
        let member = share.member().get();
        let t = Transcript::decrypt_share(
            federation,
            round,
            request,
            sender,
            member,
            ctx.digest(),
            share.ciphertext_digest(),
            &share_digest(&bytes),
        );
        Self {
            federation,
            round,
            request,
            sender,
            member,
            share: WireBytes(bytes),
            signature: key.sign(&t),
        }
    }

    /// Verifies the member's signature, for the aggregate `aggregate_digest`
    /// the server asked it to decrypt.
    pub fn verify(
        &self,
        params_digest: &Digest,
        aggregate_digest: &Digest,
        key: &VerifyingKey,
    ) -> Result<()> {
        let t = Transcript::decrypt_share(
            self.federation,
            self.round,
            self.request,
            self.sender,
            self.member,
            params_digest,
            aggregate_digest,
            &share_digest(self.share.as_slice()),
        );
        key.verify(&t, &self.signature, "decryption share")
    }

    /// Conformance: ids, the share against `ctx`, its member index against
    /// the message's, its aggregate digest and set against the request's.
    pub fn check(&self, ctx: &HeContext, exp: &Expectations) -> Result<DecryptionShare> {
        frame_ids(exp, self.federation, self.round)?;
        if let Some(r) = exp.request {
            expect_eq(Field::Request, &self.request, &r)?;
        }
        wire_params(ctx, self.share.as_slice())?;
        let share = DecryptionShare::from_bytes(ctx, self.share.as_slice())?;
        expect_eq(Field::Member, &share.member().get(), &self.member)?;
        if let Some(d) = &exp.aggregate_digest {
            expect_eq(Field::AggregateDigest, share.ciphertext_digest(), d)?;
        }
        if let Some(set) = &exp.set {
            expect_eq(Field::DecryptingSet, share.set(), set)?;
        }
        Ok(share)
    }
}

impl RoundResult {
    /// Conformance: ids, contributors strictly increasing, ε finite and
    /// non-negative.
    pub fn check(&self, exp: &Expectations) -> Result<()> {
        frame_ids(exp, self.federation, self.round)?;
        if !strictly_increasing(self.contributors.iter()) {
            return Err(Error::mismatch(
                Field::Contributors,
                "contributors must be strictly increasing",
            ));
        }
        if !(self.epsilon_spent.is_finite() && self.epsilon_spent >= 0.0) {
            return Err(Error::mismatch(
                Field::Config,
                format!(
                    "ε spent {} must be finite and non-negative",
                    self.epsilon_spent
                ),
            ));
        }
        Ok(())
    }
}

impl Message {
    /// Conformance of any message (see the per-message `check`s). A refusal
    /// is checked for its federation only: it may name any round.
    pub fn check(&self, ctx: &Arc<HeContext>, exp: &Expectations) -> Result<Conformed> {
        Ok(match self {
            Message::RoundOpen(m) => {
                m.check(ctx, exp)?;
                Conformed::RoundOpen
            }
            Message::Submission(m) => Conformed::Submission(m.check(ctx, exp)?),
            Message::Receipt(m) => {
                m.check(exp)?;
                Conformed::Receipt
            }
            Message::DecryptRequest(m) => {
                let (aggregate, set) = m.check(ctx, exp)?;
                Conformed::DecryptRequest { aggregate, set }
            }
            Message::DecryptShare(m) => Conformed::DecryptShare(m.check(ctx, exp)?),
            Message::RoundResult(m) => {
                m.check(exp)?;
                Conformed::RoundResult
            }
            Message::Refusal(m) => {
                expect_eq(Field::Federation, &m.federation, &exp.federation)?;
                Conformed::Refusal
            }
        })
    }
}
