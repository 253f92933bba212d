//! Committee key generation over files, as pure steps over bytes
//! (DESIGN.md §3 "Keys", §8). The CLI (`fedhe keys dkg …`) only reads and
//! writes the files.
//!
//! 1. [`MemberKeys::generate`]: each member's ceremony key pair (Ed25519 to
//!    sign, X25519 for HPKE); the public half is [`MemberPublic`].
//! 2. [`CeremonyInit::new`] (coordinator): preset, `(t, n)`, each member's
//!    public keys and committee certificate, a fresh CRS seed, a ceremony id.
//! 3. [`contribute`] (member `i`): `p_i`, the Shamir shares `f_i(k)` sealed to
//!    each member `k` with HPKE (RFC 9180, Auth mode, X25519 / HKDF-SHA256 /
//!    ChaCha20-Poly1305), signed.
//! 4. [`collect`] (coordinator): checks every contribution, writes the bundle.
//! 5. [`accept`] (member `k`): checks the bundle, opens its shares, keeps
//!    `sk_k = Σ_i f_i(k)`, signs the bundle digest and the key id.
//! 6. [`finalize`] (coordinator): checks every acceptance, writes the public
//!    key and the transcript.
//! 7. [`verify_transcript`] (anyone): re-checks the transcript from public data.
//! 8. [`self_test`]: encrypts random vectors and decrypts them with qualified
//!    subsets, each member absent in turn.
//!
//! What this does not give: the shares are not verifiable (no commitments
//! exist for lattice Shamir sharing in fedhe-he), so a member dealing bad
//! shares is caught by the self-test, not named by `accept`.

use std::sync::Arc;

use fedhe_he::params::Committee;
use fedhe_he::{
    CiphertextList, Crs, DecryptingSet, HeContext, KeyShare, MemberId, MemberSecret, Preset,
    PublicKey, PublicKeyGen, PublicKeyShare, ShamirShare, Thresholdizer, combine, partial_decrypt,
};
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::encoding::{Hex, HexN, digest, from_file_bytes, signed_bytes, to_file_bytes, to_hex};
use crate::error::{Error, Result, malformed};
use crate::pki::{CaCert, Role, Roster, verify_participant};
use crate::rotation::KeyRecord;

type Kem = hpke::kem::X25519HkdfSha256;
type Kdf = hpke::kdf::HkdfSha256;
type Aead = hpke::aead::ChaCha20Poly1305;

const MEMBER_LABEL: &str = "fedhe 2026-11 member public keys v1";
const CONTRIBUTION_LABEL: &str = "fedhe 2026-11 dkg contribution v1";
const ACCEPT_LABEL: &str = "fedhe 2026-11 dkg acceptance v1";
const CEREMONY_CONTEXT: &str = "fedhe 2026-11 ceremony digest v1";
const BUNDLE_CONTEXT: &str = "fedhe 2026-11 dkg bundle digest v1";
const HPKE_INFO: &str = "fedhe 2026-11 dkg share v1";

/// Format tags.
pub const MEMBER_FORMAT: &str = "fedhe-member-public/1";
/// Format tag of `ceremony.json`.
pub const CEREMONY_FORMAT: &str = "fedhe-ceremony/1";
/// Format tag of contributions.
pub const CONTRIBUTION_FORMAT: &str = "fedhe-contribution/1";
/// Format tag of bundles.
pub const BUNDLE_FORMAT: &str = "fedhe-bundle/1";
/// Format tag of acceptances.
pub const ACCEPT_FORMAT: &str = "fedhe-acceptance/1";
/// Format tag of transcripts.
pub const TRANSCRIPT_FORMAT: &str = "fedhe-transcript/1";

fn sign(key: &ed25519_dalek::SigningKey, label: &str, body: &impl Serialize) -> Hex {
    use ed25519_dalek::Signer;
    Hex(key.sign(&signed_bytes(label, body)).to_bytes().to_vec())
}

fn verify(pk: &[u8; 32], label: &str, body: &impl Serialize, sig: &Hex) -> bool {
    ed25519_dalek::Signature::from_slice(&sig.0)
        .ok()
        .zip(ed25519_dalek::VerifyingKey::from_bytes(pk).ok())
        .is_some_and(|(s, vk)| vk.verify_strict(&signed_bytes(label, body), &s).is_ok())
}

fn check_format(file: &str, expected: &'static str, got: &str, want: &str) -> Result<()> {
    if got != want {
        return Err(malformed(
            file,
            expected,
            format!("format {got:?}: expected {want:?}"),
        ));
    }
    Ok(())
}

/// A member's ceremony keys. Zeroized on drop; never printed.
pub struct MemberKeys {
    signing: ed25519_dalek::SigningKey,
    hpke_seed: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for MemberKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemberKeys(redacted)")
    }
}

impl MemberKeys {
    /// Fresh keys from the caller's CSPRNG (the CLI passes the OS one).
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        let mut hpke_seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(hpke_seed.as_mut());
        Self {
            signing: ed25519_dalek::SigningKey::from_bytes(&seed),
            hpke_seed,
        }
    }

    /// The 64 secret bytes (Ed25519 seed, HPKE seed), for sealing.
    pub fn to_secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut v = Zeroizing::new(Vec::with_capacity(64));
        v.extend_from_slice(self.signing.as_bytes());
        v.extend_from_slice(self.hpke_seed.as_ref());
        v
    }

    /// Keys from their 64 secret bytes.
    pub fn from_secret_bytes(file: &str, bytes: &[u8]) -> Result<Self> {
        if bytes.len() != 64 {
            return Err(malformed(
                file,
                "member ceremony key",
                format!("{} bytes, expected 64", bytes.len()),
            ));
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(&bytes[..32]);
        let mut hpke_seed = Zeroizing::new([0u8; 32]);
        hpke_seed.copy_from_slice(&bytes[32..]);
        Ok(Self {
            signing: ed25519_dalek::SigningKey::from_bytes(&seed),
            hpke_seed,
        })
    }

    fn hpke(
        &self,
    ) -> (
        <Kem as hpke::Kem>::PrivateKey,
        <Kem as hpke::Kem>::PublicKey,
    ) {
        Kem::derive_keypair(self.hpke_seed.as_ref())
    }

    /// The Ed25519 public key (the committee certificate's key).
    pub fn signing_key(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// The signed public half.
    pub fn public(&self, participant: u32) -> MemberPublic {
        let body = MemberPublicBody {
            format: MEMBER_FORMAT.into(),
            participant,
            signing_key: HexN(self.signing_key()),
            hpke_key: HexN(hpke_pk_bytes(&self.hpke().1)),
        };
        MemberPublic {
            signature: sign(&self.signing, MEMBER_LABEL, &body),
            body,
        }
    }
}

fn hpke_pk_bytes(pk: &<Kem as hpke::Kem>::PublicKey) -> [u8; 32] {
    let mut a = [0u8; 32];
    a.copy_from_slice(&pk.to_bytes());
    a
}

/// What a member publishes before the ceremony (`member.pub.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberPublicBody {
    /// `fedhe-member-public/1`.
    pub format: String,
    /// Participant id.
    pub participant: u32,
    /// Ed25519 key.
    pub signing_key: HexN<32>,
    /// X25519 HPKE key.
    pub hpke_key: HexN<32>,
}

/// [`MemberPublicBody`] signed by its own signing key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberPublic {
    /// Content.
    pub body: MemberPublicBody,
    /// Self-signature.
    pub signature: Hex,
}

impl MemberPublic {
    /// Decodes and checks the self-signature.
    pub fn from_file(file: &str, bytes: &[u8]) -> Result<Self> {
        let m: Self = from_file_bytes(file, "member public keys", bytes)?;
        check_format(file, "member public keys", &m.body.format, MEMBER_FORMAT)?;
        if !verify(&m.body.signing_key.0, MEMBER_LABEL, &m.body, &m.signature) {
            return Err(Error::BadSignature {
                file: file.into(),
                who: format!("participant {}", m.body.participant),
                what: "member public keys",
            });
        }
        Ok(m)
    }
}

/// One committee member as the ceremony knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitteeEntry {
    /// Member index `1..=n` (the Shamir evaluation point).
    pub index: u16,
    /// Participant id.
    pub participant: u32,
    /// Ed25519 key.
    pub signing_key: HexN<32>,
    /// X25519 HPKE key.
    pub hpke_key: HexN<32>,
    /// The committee certificate (PEM) binding the participant to the signing key.
    pub certificate: String,
}

/// `ceremony.json`, written by `dkg init`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CeremonyInit {
    /// `fedhe-ceremony/1`.
    pub format: String,
    /// Random ceremony id.
    pub ceremony_id: HexN<16>,
    /// Parameter preset name.
    pub preset: String,
    /// Most contributions per aggregate.
    pub contributors: u32,
    /// `t`.
    pub threshold: u16,
    /// `n`.
    pub members: u16,
    /// Digest of the resulting parameter set.
    pub params_digest: HexN<32>,
    /// CRS seed from the OS.
    pub crs_seed: HexN<32>,
    /// Creation time (unix seconds): certificates are checked at this time.
    pub created_at: i64,
    /// Fingerprint of the federation CA certificate.
    pub ca: HexN<32>,
    /// The committee, by index.
    pub committee: Vec<CommitteeEntry>,
}

fn context_for(preset: &str, contributors: u32, committee: Committee) -> Result<Arc<HeContext>> {
    #[cfg(test)]
    if preset == fedhe_he::params::TEST_INSECURE_64.name {
        let p = fedhe_he::params::TEST_INSECURE_64;
        let mut params = p.params();
        params.max_contributors = contributors;
        params.committee = committee;
        params.max_rerandomizations = u32::from(committee.members);
        return Ok(HeContext::new_insecure(params)?);
    }
    let p = Preset::by_name(preset)?;
    Ok(HeContext::new(p.deployment(contributors, committee)?)?)
}

impl CeremonyInit {
    /// A new ceremony: `members` in index order, each with its public keys and
    /// its committee certificate (PEM), checked against the CA and roster at `now`.
    #[allow(
        clippy::too_many_arguments,
        reason = "the ceremony's parameters, each named"
    )]
    pub fn new<R: CryptoRng + ?Sized>(
        preset: &str,
        contributors: u32,
        threshold: u16,
        members: &[(MemberPublic, String)],
        ca: &CaCert,
        roster: &Roster,
        now: i64,
        rng: &mut R,
    ) -> Result<Self> {
        let n =
            u16::try_from(members.len()).map_err(|_| Error::Argument("too many members".into()))?;
        if threshold < 1 || threshold > n {
            return Err(Error::Argument(format!(
                "threshold {threshold}: expected 1..={n} for {n} members"
            )));
        }
        let ctx = context_for(
            preset,
            contributors,
            Committee {
                threshold,
                members: n,
            },
        )?;
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        let init = Self {
            format: CEREMONY_FORMAT.into(),
            ceremony_id: HexN(id),
            preset: preset.into(),
            contributors,
            threshold,
            members: n,
            params_digest: HexN(*ctx.digest()),
            crs_seed: HexN(*Crs::generate(rng).seed()),
            created_at: now,
            ca: HexN(ca.fingerprint()),
            committee: members
                .iter()
                .zip(1u16..)
                .map(|((m, cert), index)| CommitteeEntry {
                    index,
                    participant: m.body.participant,
                    signing_key: m.body.signing_key,
                    hpke_key: m.body.hpke_key,
                    certificate: cert.clone(),
                })
                .collect(),
        };
        init.check("ceremony.json")?;
        init.check_certificates("ceremony.json", ca, roster)?;
        Ok(init)
    }

    /// Decodes `ceremony.json` and checks its shape and parameters.
    pub fn from_file(file: &str, bytes: &[u8]) -> Result<(Self, Arc<HeContext>)> {
        let init: Self = from_file_bytes(file, "ceremony", bytes)?;
        let ctx = init.check(file)?;
        Ok((init, ctx))
    }

    fn check(&self, file: &str) -> Result<Arc<HeContext>> {
        check_format(file, "ceremony", &self.format, CEREMONY_FORMAT)?;
        let ctx = context_for(
            &self.preset,
            self.contributors,
            Committee {
                threshold: self.threshold,
                members: self.members,
            },
        )?;
        if *ctx.digest() != self.params_digest.0 {
            return Err(malformed(
                file,
                "ceremony",
                "params_digest does not match the preset and committee",
            ));
        }
        if self.committee.len() != usize::from(self.members)
            || self.committee.iter().zip(1u16..).any(|(e, i)| e.index != i)
        {
            return Err(malformed(
                file,
                "ceremony",
                format!("committee must list members 1..={} in order", self.members),
            ));
        }
        for (i, a) in self.committee.iter().enumerate() {
            if self.committee[..i].iter().any(|b| {
                b.participant == a.participant
                    || b.signing_key == a.signing_key
                    || b.hpke_key == a.hpke_key
            }) {
                return Err(malformed(
                    file,
                    "ceremony",
                    format!(
                        "member {} repeats another member's participant id or key",
                        a.index
                    ),
                ));
            }
        }
        Ok(ctx)
    }

    /// Checks each member's committee certificate: issued by the CA, valid at
    /// the ceremony's creation, on the roster as `committee`, for the listed signing key.
    pub fn check_certificates(&self, file: &str, ca: &CaCert, roster: &Roster) -> Result<()> {
        if self.ca.0 != ca.fingerprint() {
            return Err(malformed(
                file,
                "ceremony",
                "made under another CA certificate",
            ));
        }
        for e in &self.committee {
            let name = format!("{file} (certificate of {})", self.who(e.index));
            let p = verify_participant(
                ca,
                roster,
                &name,
                e.certificate.as_bytes(),
                self.created_at,
                Some(Role::Committee),
            )?;
            if p.id != e.participant || p.public_key != e.signing_key.0 {
                return Err(Error::Ceremony {
                    file: file.into(),
                    who: self.who(e.index),
                    reason: "the certificate is for another participant or another signing key"
                        .into(),
                });
            }
        }
        Ok(())
    }

    /// The ceremony digest every later file binds to.
    pub fn digest(&self) -> [u8; 32] {
        digest(CEREMONY_CONTEXT, self)
    }

    /// "member i (participant p)".
    pub fn who(&self, index: u16) -> String {
        match self.entry(index) {
            Some(e) => format!("member {index} (participant {})", e.participant),
            None => format!("member {index}"),
        }
    }

    fn entry(&self, index: u16) -> Option<&CommitteeEntry> {
        self.committee.get(usize::from(index).wrapping_sub(1))
    }

    /// The index of the member holding `keys`.
    pub fn index_of(&self, file: &str, keys: &MemberKeys) -> Result<u16> {
        let pk = keys.signing_key();
        self.committee
            .iter()
            .find(|e| e.signing_key.0 == pk)
            .map(|e| e.index)
            .ok_or_else(|| Error::Ceremony {
                file: file.into(),
                who: "this member".into(),
                reason: "the member key is not in the ceremony's committee".into(),
            })
    }

    /// The file form.
    pub fn to_file(&self) -> Vec<u8> {
        to_file_bytes(self)
    }
}

/// One Shamir share sealed to its recipient.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedShare {
    /// Recipient index.
    pub to: u16,
    /// HPKE encapsulated key.
    pub encapped: HexN<32>,
    /// HPKE ciphertext of the `H` wire form.
    pub ciphertext: Hex,
}

/// What member `from` signs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContributionBody {
    /// `fedhe-contribution/1`.
    pub format: String,
    /// Ceremony digest.
    pub ceremony: HexN<32>,
    /// Dealer index.
    pub from: u16,
    /// `p_i` (`S` wire form).
    pub public_key_share: Hex,
    /// `f_i(k)` for `k = 1..=n`, in order.
    pub shares: Vec<SealedShare>,
}

/// `contribution-<i>.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contribution {
    /// Content.
    pub body: ContributionBody,
    /// Signature of member `from`.
    pub signature: Hex,
}

impl Contribution {
    /// The file form.
    pub fn to_file(&self) -> Vec<u8> {
        to_file_bytes(self)
    }
}

fn hpke_info(ceremony: &[u8; 32], from: u16, to: u16) -> Vec<u8> {
    let mut v = HPKE_INFO.as_bytes().to_vec();
    v.extend_from_slice(ceremony);
    v.extend_from_slice(&from.to_le_bytes());
    v.extend_from_slice(&to.to_le_bytes());
    v
}

fn mid(i: u16) -> Result<MemberId> {
    Ok(MemberId::new(i)?)
}

/// Member step: `p_i` and `f_i(k)` sealed to every member `k` (itself included).
pub fn contribute<R: CryptoRng>(
    init: &CeremonyInit,
    ctx: &Arc<HeContext>,
    keys: &MemberKeys,
    rng: &mut R,
) -> Result<Contribution> {
    let from = init.index_of("ceremony.json", keys)?;
    let id = mid(from)?;
    let ceremony = init.digest();
    let secret = MemberSecret::generate(ctx, rng);
    let pkg = PublicKeyGen::new(ctx, Crs::from_seed(init.crs_seed.0));
    let pk_share = pkg.gen_share(id, &secret, rng)?;
    let th = Thresholdizer::new(ctx);
    let poly = th.gen_share_polynomial(id, &secret, rng)?;
    let (my_sk, my_pk) = keys.hpke();
    let mode = OpModeS::<Kem>::Auth((my_sk, my_pk));
    let mut shares = Vec::with_capacity(init.committee.len());
    for e in &init.committee {
        let share = th.gen_share(&poly, mid(e.index)?)?;
        let plain = share.to_bytes(ctx);
        let pk_to = <Kem as hpke::Kem>::PublicKey::from_bytes(&e.hpke_key.0).map_err(|_| {
            malformed(
                "ceremony.json",
                "ceremony",
                format!("HPKE key of member {}", e.index),
            )
        })?;
        let (encapped, ct) = hpke::single_shot_seal_with_rng::<Aead, Kdf, Kem>(
            &mode,
            &pk_to,
            &hpke_info(&ceremony, from, e.index),
            &plain,
            &[],
            rng,
        )
        .map_err(|e| Error::Crypto(format!("HPKE seal: {e}")))?;
        let mut enc = [0u8; 32];
        enc.copy_from_slice(&encapped.to_bytes());
        shares.push(SealedShare {
            to: e.index,
            encapped: HexN(enc),
            ciphertext: Hex(ct),
        });
    }
    let body = ContributionBody {
        format: CONTRIBUTION_FORMAT.into(),
        ceremony: HexN(ceremony),
        from,
        public_key_share: Hex(pk_share.to_bytes(ctx)),
        shares,
    };
    Ok(Contribution {
        signature: sign(&keys.signing, CONTRIBUTION_LABEL, &body),
        body,
    })
}

/// Checks one contribution's binding, signature and shape; returns `p_i`.
fn check_contribution(
    init: &CeremonyInit,
    ctx: &HeContext,
    file: &str,
    c: &Contribution,
) -> Result<PublicKeyShare> {
    let from = c.body.from;
    let who = init.who(from);
    let fail = |reason: String| Error::Ceremony {
        file: file.into(),
        who: who.clone(),
        reason,
    };
    let entry = init
        .entry(from)
        .ok_or_else(|| fail(format!("dealer index {from} outside 1..={}", init.members)))?;
    if !verify(
        &entry.signing_key.0,
        CONTRIBUTION_LABEL,
        &c.body,
        &c.signature,
    ) {
        return Err(Error::BadSignature {
            file: file.into(),
            who,
            what: "contribution",
        });
    }
    check_format(file, "contribution", &c.body.format, CONTRIBUTION_FORMAT)?;
    if c.body.ceremony.0 != init.digest() {
        return Err(fail("made for another ceremony".into()));
    }
    let pk = PublicKeyShare::from_bytes(ctx, &c.body.public_key_share.0)
        .map_err(|e| fail(format!("public-key share: {e}")))?;
    if pk.member().get() != from {
        return Err(fail("the public-key share names another member".into()));
    }
    let want_len = fedhe_he::wire::HEADER_LEN + 4 + fedhe_he::wire::packed_poly_len(ctx) + 16;
    if c.body.shares.len() != init.committee.len()
        || c.body
            .shares
            .iter()
            .zip(1u16..)
            .any(|(s, k)| s.to != k || s.ciphertext.0.len() != want_len)
    {
        return Err(fail(format!(
            "expected one sealed share of {want_len} bytes for each of members 1..={}, in order",
            init.members
        )));
    }
    Ok(pk)
}

/// `bundle.json`: every member's contribution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// `fedhe-bundle/1`.
    pub format: String,
    /// Ceremony digest.
    pub ceremony: HexN<32>,
    /// Contributions of members `1..=n`, in order.
    pub contributions: Vec<Contribution>,
}

impl Bundle {
    /// The digest members sign.
    pub fn digest(&self) -> [u8; 32] {
        digest(BUNDLE_CONTEXT, self)
    }
    /// The file form.
    pub fn to_file(&self) -> Vec<u8> {
        to_file_bytes(self)
    }

    /// Decodes and checks a bundle: every contribution present once, signed,
    /// well formed; returns the bundle and the collective public key.
    pub fn from_file(
        init: &CeremonyInit,
        ctx: &Arc<HeContext>,
        file: &str,
        bytes: &[u8],
    ) -> Result<(Self, PublicKey)> {
        let b: Self = from_file_bytes(file, "bundle", bytes)?;
        check_format(file, "bundle", &b.format, BUNDLE_FORMAT)?;
        if b.ceremony.0 != init.digest() {
            return Err(malformed(file, "bundle", "made for another ceremony"));
        }
        if b.contributions.len() != init.committee.len() {
            return Err(malformed(
                file,
                "bundle",
                format!(
                    "{} contributions, expected {}",
                    b.contributions.len(),
                    init.members
                ),
            ));
        }
        let mut pks = Vec::with_capacity(b.contributions.len());
        for (c, i) in b.contributions.iter().zip(1u16..) {
            if c.body.from != i {
                return Err(Error::Ceremony {
                    file: file.into(),
                    who: init.who(i),
                    reason: format!(
                        "contribution {i} is missing (found {} in its place)",
                        init.who(c.body.from)
                    ),
                });
            }
            pks.push(check_contribution(
                init,
                ctx,
                &format!("{file}, contribution of {}", init.who(i)),
                c,
            )?);
        }
        let pk = PublicKeyGen::new(ctx, Crs::from_seed(init.crs_seed.0)).aggregate_shares(&pks)?;
        Ok((b, pk))
    }
}

/// Coordinator step: checks each `(file name, bytes)` contribution and bundles them.
pub fn collect(
    init: &CeremonyInit,
    ctx: &Arc<HeContext>,
    files: &[(String, Vec<u8>)],
) -> Result<Bundle> {
    let mut got: Vec<Option<Contribution>> = vec![None; init.committee.len()];
    for (file, bytes) in files {
        let c: Contribution = from_file_bytes(file, "contribution", bytes)?;
        check_contribution(init, ctx, file, &c)?;
        let slot = &mut got[usize::from(c.body.from) - 1];
        if slot.is_some() {
            return Err(Error::Ceremony {
                file: file.clone(),
                who: init.who(c.body.from),
                reason: "a second contribution of this member".into(),
            });
        }
        *slot = Some(c);
    }
    let missing: Vec<String> = got
        .iter()
        .zip(1u16..)
        .filter(|(c, _)| c.is_none())
        .map(|(_, i)| init.who(i))
        .collect();
    if !missing.is_empty() {
        return Err(Error::Argument(format!(
            "no contribution from {}",
            missing.join(", ")
        )));
    }
    Ok(Bundle {
        format: BUNDLE_FORMAT.into(),
        ceremony: HexN(init.digest()),
        contributions: got.into_iter().flatten().collect(),
    })
}

/// What member `k` signs when it accepts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptanceBody {
    /// `fedhe-acceptance/1`.
    pub format: String,
    /// Ceremony digest.
    pub ceremony: HexN<32>,
    /// Bundle digest.
    pub bundle: HexN<32>,
    /// Member index.
    pub member: u16,
    /// Key id: digest of the collective public key.
    pub key_id: HexN<32>,
}

/// `acceptance-<k>.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acceptance {
    /// Content.
    pub body: AcceptanceBody,
    /// Signature of member `member`.
    pub signature: Hex,
}

impl Acceptance {
    /// The file form.
    pub fn to_file(&self) -> Vec<u8> {
        to_file_bytes(self)
    }
}

/// What `accept` gives a member: its key share (seal it at once), its signed
/// acceptance, and the key's record.
#[derive(Debug)]
pub struct Accepted {
    /// `sk_k`.
    pub key_share: KeyShare,
    /// The signed acceptance.
    pub acceptance: Acceptance,
    /// The key's record.
    pub record: KeyRecord,
}

/// Member step: checks the bundle, opens its `n` shares, aggregates `sk_k`,
/// signs the bundle digest and the key id.
pub fn accept(
    init: &CeremonyInit,
    ctx: &Arc<HeContext>,
    bundle_file: &str,
    bundle_bytes: &[u8],
    keys: &MemberKeys,
) -> Result<Accepted> {
    let me = init.index_of("ceremony.json", keys)?;
    let (bundle, pk) = Bundle::from_file(init, ctx, bundle_file, bundle_bytes)?;
    let ceremony = init.digest();
    let (my_sk, _) = keys.hpke();
    let mut received = Vec::with_capacity(bundle.contributions.len());
    for c in &bundle.contributions {
        let from = c.body.from;
        let fail = |reason: String| Error::Ceremony {
            file: bundle_file.into(),
            who: init.who(from),
            reason,
        };
        let sealed = &c.body.shares[usize::from(me) - 1];
        let entry = init
            .entry(from)
            .ok_or_else(|| fail("unknown dealer".into()))?;
        let sender = <Kem as hpke::Kem>::PublicKey::from_bytes(&entry.hpke_key.0)
            .map_err(|_| fail("bad HPKE key".into()))?;
        let encapped = <Kem as hpke::Kem>::EncappedKey::from_bytes(&sealed.encapped.0)
            .map_err(|_| fail("bad encapsulated key".into()))?;
        let plain = Zeroizing::new(
            hpke::single_shot_open::<Aead, Kdf, Kem>(
                &OpModeR::Auth(sender),
                &my_sk,
                &encapped,
                &hpke_info(&ceremony, from, me),
                &sealed.ciphertext.0,
                &[],
            )
            .map_err(|_| fail(format!("the share sealed to member {me} does not open")))?,
        );
        let share =
            ShamirShare::from_bytes(ctx, &plain).map_err(|e| fail(format!("share: {e}")))?;
        if share.from().get() != from || share.to().get() != me {
            return Err(fail("the share names other members".into()));
        }
        received.push(share);
    }
    let key_share = Thresholdizer::new(ctx).aggregate_shares(mid(me)?, &received)?;
    let key_id = pk.digest();
    let body = AcceptanceBody {
        format: ACCEPT_FORMAT.into(),
        ceremony: HexN(ceremony),
        bundle: HexN(bundle.digest()),
        member: me,
        key_id: HexN(key_id),
    };
    Ok(Accepted {
        key_share,
        acceptance: Acceptance {
            signature: sign(&keys.signing, ACCEPT_LABEL, &body),
            body,
        },
        record: KeyRecord::new(init, ctx, key_id),
    })
}

fn check_acceptance(
    init: &CeremonyInit,
    file: &str,
    a: &Acceptance,
    bundle: &[u8; 32],
    key_id: &[u8; 32],
) -> Result<()> {
    let who = init.who(a.body.member);
    let fail = |reason: &str| Error::Ceremony {
        file: file.into(),
        who: who.clone(),
        reason: reason.into(),
    };
    let entry = init
        .entry(a.body.member)
        .ok_or_else(|| fail("member index outside the committee"))?;
    if !verify(&entry.signing_key.0, ACCEPT_LABEL, &a.body, &a.signature) {
        return Err(Error::BadSignature {
            file: file.into(),
            who,
            what: "acceptance",
        });
    }
    check_format(file, "acceptance", &a.body.format, ACCEPT_FORMAT)?;
    if a.body.ceremony.0 != init.digest() {
        return Err(fail("accepted another ceremony"));
    }
    if a.body.bundle.0 != *bundle {
        return Err(fail("accepted another bundle"));
    }
    if a.body.key_id.0 != *key_id {
        return Err(fail("accepted another public key"));
    }
    Ok(())
}

/// `transcript.json`: everything needed to re-check the ceremony.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transcript {
    /// `fedhe-transcript/1`.
    pub format: String,
    /// The ceremony.
    pub ceremony: CeremonyInit,
    /// The bundle.
    pub bundle: Bundle,
    /// Every member's acceptance, in index order.
    pub acceptances: Vec<Acceptance>,
    /// The collective public key (`P` wire form).
    pub public_key: Hex,
    /// The key's record.
    pub key: KeyRecord,
}

impl Transcript {
    /// The file form.
    pub fn to_file(&self) -> Vec<u8> {
        to_file_bytes(self)
    }
}

/// Coordinator step: checks every member's acceptance and writes the transcript.
pub fn finalize(
    init: &CeremonyInit,
    ctx: &Arc<HeContext>,
    bundle_file: &str,
    bundle_bytes: &[u8],
    files: &[(String, Vec<u8>)],
) -> Result<(Transcript, PublicKey)> {
    let (bundle, pk) = Bundle::from_file(init, ctx, bundle_file, bundle_bytes)?;
    let bd = bundle.digest();
    let key_id = pk.digest();
    let mut got: Vec<Option<Acceptance>> = vec![None; init.committee.len()];
    for (file, bytes) in files {
        let a: Acceptance = from_file_bytes(file, "acceptance", bytes)?;
        check_acceptance(init, file, &a, &bd, &key_id)?;
        let slot = &mut got[usize::from(a.body.member) - 1];
        if slot.is_some() {
            return Err(Error::Ceremony {
                file: file.clone(),
                who: init.who(a.body.member),
                reason: "a second acceptance of this member".into(),
            });
        }
        *slot = Some(a);
    }
    let missing: Vec<String> = got
        .iter()
        .zip(1u16..)
        .filter(|(a, _)| a.is_none())
        .map(|(_, i)| init.who(i))
        .collect();
    if !missing.is_empty() {
        return Err(Error::Argument(format!(
            "no acceptance from {}",
            missing.join(", ")
        )));
    }
    let t = Transcript {
        format: TRANSCRIPT_FORMAT.into(),
        ceremony: init.clone(),
        bundle,
        acceptances: got.into_iter().flatten().collect(),
        public_key: Hex(pk.to_bytes()),
        key: KeyRecord::new(init, ctx, key_id),
    };
    Ok((t, pk))
}

/// Anyone: re-checks a transcript from public data (and, given the CA and
/// roster, every member's committee certificate at the ceremony's time).
pub fn verify_transcript(
    file: &str,
    bytes: &[u8],
    pki: Option<(&CaCert, &Roster)>,
) -> Result<(Transcript, PublicKey)> {
    let t: Transcript = from_file_bytes(file, "transcript", bytes)?;
    check_format(file, "transcript", &t.format, TRANSCRIPT_FORMAT)?;
    let ctx = t.ceremony.check(file)?;
    if let Some((ca, roster)) = pki {
        t.ceremony.check_certificates(file, ca, roster)?;
    }
    let bundle_name = format!("{file} (bundle)");
    let (_, pk) = Bundle::from_file(&t.ceremony, &ctx, &bundle_name, &t.bundle.to_file())?;
    if pk.to_bytes() != t.public_key.0 {
        return Err(malformed(
            file,
            "transcript",
            "public_key is not the sum of the members' public-key shares",
        ));
    }
    let key_id = pk.digest();
    if t.acceptances.len() != t.ceremony.committee.len() {
        return Err(malformed(
            file,
            "transcript",
            format!(
                "{} acceptances, expected {}",
                t.acceptances.len(),
                t.ceremony.members
            ),
        ));
    }
    let bd = t.bundle.digest();
    for (a, i) in t.acceptances.iter().zip(1u16..) {
        if a.body.member != i {
            return Err(malformed(
                file,
                "transcript",
                format!("acceptance {i} is missing"),
            ));
        }
        check_acceptance(&t.ceremony, file, a, &bd, &key_id)?;
    }
    if t.key != KeyRecord::new(&t.ceremony, &ctx, key_id) {
        return Err(malformed(
            file,
            "transcript",
            "the key record does not match the ceremony",
        ));
    }
    Ok((t, pk))
}

/// Metadata stored (authenticated, in clear) in a sealed key-share file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyShareMeta {
    /// Key id.
    pub key_id: HexN<32>,
    /// Ceremony id.
    pub ceremony_id: HexN<16>,
    /// Member index.
    pub member: u16,
    /// Participant id.
    pub participant: u32,
}

impl KeyShareMeta {
    /// For member `k` of `init`.
    pub fn new(init: &CeremonyInit, member: u16, key_id: [u8; 32]) -> Self {
        Self {
            key_id: HexN(key_id),
            ceremony_id: init.ceremony_id,
            member,
            participant: init.entry(member).map(|e| e.participant).unwrap_or(0),
        }
    }
    /// Compact JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
    /// Parses and checks against the transcript.
    pub fn check(file: &str, json: &str, t: &Transcript) -> Result<Self> {
        let m: Self = serde_json::from_str(json)
            .map_err(|e| malformed(file, "key-share metadata", e.to_string()))?;
        if m.key_id != t.key.key_id {
            return Err(Error::Ceremony {
                file: file.into(),
                who: t.ceremony.who(m.member),
                reason: format!(
                    "key share of key {}, the transcript's key is {}",
                    m.key_id.hex(),
                    t.key.key_id.hex()
                ),
            });
        }
        Ok(m)
    }
}

/// One decryption of the self-test.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SelfTestRun {
    /// The member left out (`None` when exactly `t` shares were given).
    pub absent: Option<u16>,
    /// The decrypting set.
    pub set: Vec<u16>,
    /// Values decrypted.
    pub values: usize,
}

/// Encrypts a fresh random vector under `pk` for each qualified subset
/// (each given member absent in turn, while `t` others remain) and checks
/// that the subset decrypts it. A fresh ciphertext per subset: one
/// ciphertext is never answered by two sets (DESIGN.md §3).
pub fn self_test<R: CryptoRng + ?Sized>(
    pk: &PublicKey,
    shares: &[KeyShare],
    rng: &mut R,
) -> Result<Vec<SelfTestRun>> {
    let ctx = pk.context();
    let t = usize::from(ctx.params().committee.threshold);
    let mut ids: Vec<u16> = shares.iter().map(|s| s.member().get()).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() != shares.len() || ids.len() < t {
        return Err(Error::Argument(format!(
            "the self-test needs at least t = {t} distinct members' key shares, got {}",
            ids.len()
        )));
    }
    let plans: Vec<(Option<u16>, Vec<u16>)> = if ids.len() == t {
        vec![(None, ids.clone())]
    } else {
        ids.iter()
            .map(|&j| {
                (
                    Some(j),
                    ids.iter().copied().filter(|&k| k != j).take(t).collect(),
                )
            })
            .collect()
    };
    let n = ctx.params().degree;
    let bits = ctx.params().plaintext_bits;
    let mut runs = Vec::new();
    for (absent, set) in plans {
        let values: Vec<u64> = (0..n)
            .map(|_| rng.next_u64() & ((1u64 << bits) - 1))
            .collect();
        let cts = CiphertextList::encrypt(pk, &values, rng)?;
        let members = set.iter().map(|&m| mid(m)).collect::<Result<Vec<_>>>()?;
        let ds = DecryptingSet::new(ctx, &members)?;
        let parts = shares
            .iter()
            .filter(|s| set.contains(&s.member().get()))
            .map(|s| partial_decrypt(s, &ds, &cts, rng))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let got = combine(&cts, &ds, &parts)?;
        if got != values {
            return Err(Error::Ceremony {
                file: "self-test".into(),
                who: format!("decrypting set {set:?}"),
                reason: "decryption differs from the encrypted vector: a member's key share is wrong (a dealer sent bad shares, or a share file belongs to another key)".into(),
            });
        }
        runs.push(SelfTestRun {
            absent,
            set,
            values: n,
        });
    }
    Ok(runs)
}

/// Hex of a digest, for messages.
pub fn hex32(d: &[u8; 32]) -> String {
    to_hex(d)
}
