//! Entry points for fuzzing the key-ceremony files (feature `fuzzing`),
//! shared by the cargo-fuzz targets in `fuzz/` and the corpus replay of the
//! normal test suite (`tests/tests/fuzz_keys_corpus.rs`).
//!
//! Each function takes arbitrary bytes, calls the production parser and the
//! steps that follow it, must never panic on its own account, and **asserts
//! the target's invariants** (a violated invariant is a panic, which
//! libFuzzer reports as a crash). `fuzz/README.md` lists them per target.
//!
//! The module only adds functions: it changes nothing in the ceremony
//! code, whose parsers are called exactly as the CLI and the runtime call
//! them. It runs against a fixed, seeded world: an Ed25519 CA whose key is
//! a constant, a roster, participant certificates, and a complete 2-of-3
//! ceremony on the INSECURE test parameter set (`N = 64`, `fedhe-he`'s
//! `insecure-test-params`, which this feature enables). The production
//! ceremony refuses that preset outside the crate's own tests, so the world
//! builds its `CeremonyInit` and context directly, the way
//! `keys/src/tests.rs` obtains them, and the targets call the steps that
//! take `(init, ctx)` as arguments (`collect`, `accept`, `finalize`,
//! `Bundle::from_file`).
//!
//! A malicious committee member signs whatever it likes, so signatures are
//! no barrier for it: the contribution and bundle targets also re-sign what
//! the fuzzer produced with the world's member keys and run the steps again,
//! so that the checks behind the signature are reached too. The roster and
//! certificate targets do the same with the CA key, to reach the checks
//! behind the CA's signature. The labels used for that are copies of the
//! ceremony's private constants; building the world asserts that re-signing
//! reproduces the ceremony's own signatures, so a changed label fails loudly.
//!
//! Never enable this feature in a production build.

use std::sync::{Arc, OnceLock};

use ed25519_dalek::Signer;
use fedhe_he::params::{Committee, TEST_INSECURE_64};
use fedhe_he::{
    CiphertextList, Crs, DecryptingSet, HeContext, KeyShare, MemberId, PublicKey, ShamirShare,
    combine, partial_decrypt,
};
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::dkg::{
    Accepted, Bundle, CEREMONY_FORMAT, CeremonyInit, CommitteeEntry, Contribution, KeyShareMeta,
    MemberKeys, MemberPublic, Transcript, accept, collect, contribute, finalize, self_test,
    verify_transcript,
};
use crate::encoding::{Hex, HexN, from_file_bytes, signed_bytes, to_file_bytes};
use crate::error::Error;
use crate::pki::{
    Ca, CaCert, IssueRequest, ROSTER_FORMAT, Role, Roster, RosterBody, certificate_key,
    certificate_serial, pem_to_der, verify_participant,
};
use crate::rotation::{CurrentKey, KeyRecord};
use crate::sealed::{KdfCost, Passphrase, SealedKind, open, read_header, seal};

type Kem = hpke::kem::X25519HkdfSha256;
type Kdf = hpke::kdf::HkdfSha256;
type Aead = hpke::aead::ChaCha20Poly1305;

// Copies of the ceremony's private signing labels (checked in `build`).
const CONTRIBUTION_LABEL: &str = "fedhe 2026-11 dkg contribution v1";
const HPKE_INFO: &str = "fedhe 2026-11 dkg share v1";

/// The time of every check (unix seconds).
pub const NOW: i64 = 1_800_000_000;
const DAY: i64 = 86_400;
/// The preset of the world's ceremony.
pub const PRESET: &str = "test-insecure-64";
/// The passphrase of the world's sealed files.
pub const PASSPHRASE: &[u8] = b"fuzzing passphrase";
/// The cost of the world's sealed files (the sealed target only opens
/// files at most this expensive, see [`key_sealed`]).
pub const SEALED_COST: KdfCost = KdfCost {
    memory_kib: 64,
    iterations: 1,
    lanes: 1,
};
const OPEN_MAX_MEMORY_KIB: u32 = 256;
const OPEN_MAX_ITERATIONS: u32 = 2;
const OPEN_MAX_LANES: u32 = 2;

/// Every target of this module.
pub const TARGETS: [&str; 8] = [
    "key_contribution",
    "key_bundle",
    "key_sealed_share",
    "key_transcript",
    "key_sealed",
    "key_roster",
    "key_current",
    "certificate",
];

/// The fixed federation and ceremony every target runs against.
pub struct World {
    /// The CA (its key is a constant).
    pub ca: Ca,
    ca_seed: [u8; 32],
    /// The CA certificate (PEM).
    pub ca_pem: String,
    /// The CA's public side.
    pub ca_cert: CaCert,
    /// The roster: a server, an admin, two clients (one revoked), the committee.
    pub roster: Roster,
    /// Participant certificates (PEM) of every listed participant (the
    /// revoked client among them), an expired one, one for another key than
    /// the roster lists and one of another CA.
    pub certificates: Vec<String>,
    /// The committee members' ceremony keys.
    pub keys: Vec<MemberKeys>,
    /// The ceremony.
    pub init: CeremonyInit,
    /// Its context.
    pub ctx: Arc<HeContext>,
    /// Each member's contribution file.
    pub contributions: Vec<Vec<u8>>,
    /// The bundle file.
    pub bundle: Vec<u8>,
    /// What `accept` gave each member.
    pub accepted: Vec<Accepted>,
    /// Each member's acceptance file.
    pub acceptances: Vec<(String, Vec<u8>)>,
    /// The transcript file.
    pub transcript: Vec<u8>,
    /// The collective public key.
    pub pk: PublicKey,
    /// The current-key file (one retired key).
    pub current: Vec<u8>,
    /// Sealed files of every kind, with their payloads.
    pub sealed: Vec<(SealedKind, Vec<u8>, Vec<u8>)>,
    /// The `H` form of the share dealer 2 sealed to member 1.
    pub share_2_to_1: Vec<u8>,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World").finish_non_exhaustive()
    }
}

/// The shared world (built once per process).
pub fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(build)
}

fn pkcs8_ed25519(seed: &[u8; 32]) -> Vec<u8> {
    // PKCS#8 v1 (RFC 8410) of an Ed25519 private key.
    let mut v = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    v.extend_from_slice(seed);
    v
}

fn ca_pem(seed: &[u8; 32], federation: &str, serial: &[u8]) -> String {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, PKCS_ED25519,
        SerialNumber,
    };
    let key = KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8_ed25519(seed)[..].into(), &PKCS_ED25519)
        .expect("CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name.push(
        DnType::CommonName,
        format!("fedhe federation CA: {federation}"),
    );
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = time::OffsetDateTime::from_unix_timestamp(NOW - DAY).expect("time");
    params.not_after = time::OffsetDateTime::from_unix_timestamp(NOW + 365 * DAY).expect("time");
    params.serial_number = Some(SerialNumber::from_slice(serial));
    params.self_signed(&key).expect("self-signed").pem()
}

fn open_ca(seed: &[u8; 32], federation: &str, serial: &[u8]) -> (Ca, String, CaCert) {
    let pem = ca_pem(seed, federation, serial);
    let ca = Ca::open("ca.crt", pem.as_bytes(), &pkcs8_ed25519(seed)).expect("open CA");
    let cert = CaCert::from_pem("ca.crt", pem.as_bytes()).expect("CA cert");
    (ca, pem, cert)
}

fn req(id: u32, role: Role, not_before: i64, days: u32) -> IssueRequest {
    IssueRequest {
        id,
        role,
        not_before,
        days,
        dns_names: if role == Role::Server {
            vec!["server.fuzz.invalid".into()]
        } else {
            vec![]
        },
    }
}

fn roster_body(
    ca: &CaCert,
    participants: &[(u32, Role, [u8; 32])],
    revoked: Vec<(Vec<u8>, u32)>,
) -> RosterBody {
    // Entries through serde, so that this builds whatever optional fields
    // a roster entry gains.
    let participants = participants
        .iter()
        .map(|(id, role, key)| {
            serde_json::from_value(serde_json::json!({
                "id": id,
                "role": role.as_str(),
                "key": crate::encoding::to_hex(key),
            }))
            .expect("roster entry")
        })
        .collect();
    let revoked = revoked
        .into_iter()
        .map(|(serial, id)| {
            serde_json::from_value(serde_json::json!({
                "serial": crate::encoding::to_hex(&serial),
                "id": id,
                "at": NOW - 3600,
            }))
            .expect("revocation")
        })
        .collect();
    RosterBody {
        format: ROSTER_FORMAT.into(),
        federation: "fuzz".into(),
        ca: HexN(ca.fingerprint()),
        version: 7,
        updated_at: NOW - 60,
        participants,
        revoked,
    }
}

fn member_seed(keys: &MemberKeys) -> ([u8; 32], [u8; 32]) {
    let s = keys.to_secret_bytes();
    let mut sign = [0u8; 32];
    let mut hpke = [0u8; 32];
    sign.copy_from_slice(&s[..32]);
    hpke.copy_from_slice(&s[32..64]);
    (sign, hpke)
}

fn hpke_info(ceremony: &[u8; 32], from: u16, to: u16) -> Vec<u8> {
    let mut v = HPKE_INFO.as_bytes().to_vec();
    v.extend_from_slice(ceremony);
    v.extend_from_slice(&from.to_le_bytes());
    v.extend_from_slice(&to.to_le_bytes());
    v
}

/// The insecure context of a `t`-of-`n` ceremony for `contributors`, as the
/// ceremony's own tests build it.
fn insecure_context(contributors: u32, committee: Committee) -> Arc<HeContext> {
    let mut params = TEST_INSECURE_64.params();
    params.max_contributors = contributors;
    params.committee = committee;
    params.max_rerandomizations = u32::from(committee.members);
    HeContext::new_insecure(params).expect("insecure context")
}

fn build() -> World {
    // One stream per purpose, so that adding a certificate or a sealed file
    // leaves every other file as it was.
    let mut rng = ChaCha20Rng::seed_from_u64(0x6b65_7973);
    let mut pki_rng = ChaCha20Rng::seed_from_u64(0x706b_6931);
    let mut sealed_rng = ChaCha20Rng::seed_from_u64(0x7365_616c);
    let ca_seed = [0x4b; 32];
    let (ca, ca_pem, ca_cert) = open_ca(&ca_seed, "fuzz", &[0x11; 16]);
    let keys: Vec<MemberKeys> = (0..3).map(|_| MemberKeys::generate(&mut rng)).collect();
    let committee_ids = [100u32, 101, 102];
    let seeded = |id: u32| {
        ed25519_dalek::SigningKey::from_bytes(&[id as u8; 32])
            .verifying_key()
            .to_bytes()
    };
    let mut listed: Vec<(u32, Role, [u8; 32])> = [
        (1, Role::Server),
        (2, Role::Admin),
        (10, Role::Client),
        (11, Role::Client),
    ]
    .into_iter()
    .map(|(id, role)| (id, role, seeded(id)))
    .collect();
    listed.extend(
        committee_ids
            .iter()
            .zip(&keys)
            .map(|(&i, k)| (i, Role::Committee, k.signing_key())),
    );
    // Participant certificates for seeded Ed25519 keys.
    let mut certificates = Vec::new();
    for (id, role, key) in &listed[..4] {
        certificates.push(
            ca.issue_for_key(&req(*id, *role, NOW - DAY, 30), key, &mut pki_rng)
                .expect("certificate"),
        );
    }
    let (_, revoked_serial) =
        certificate_serial("c11.crt", certificates[3].as_bytes()).expect("serial");
    let mut members = Vec::new();
    for (k, &id) in keys.iter().zip(&committee_ids) {
        let cert = ca
            .issue_for_key(
                &req(id, Role::Committee, NOW - DAY, 30),
                &k.signing_key(),
                &mut pki_rng,
            )
            .expect("committee certificate");
        let public = MemberPublic::from_file("m.pub.json", &to_file_bytes(&k.public(id)))
            .expect("member public");
        certificates.push(cert.clone());
        members.push((public, cert));
    }
    // Expired (client 10, a year ago) and from another CA.
    let expired_key = ed25519_dalek::SigningKey::from_bytes(&[0x0a; 32]);
    certificates.push(
        ca.issue_for_key(
            &req(10, Role::Client, NOW - 400 * DAY, 30),
            &expired_key.verifying_key().to_bytes(),
            &mut pki_rng,
        )
        .expect("expired certificate"),
    );
    // Client 10 for another key than the roster lists.
    certificates.push(
        ca.issue_for_key(
            &req(10, Role::Client, NOW - DAY, 30),
            &seeded(12),
            &mut pki_rng,
        )
        .expect("certificate for another key"),
    );
    let (other, _, _) = open_ca(&[0x4c; 32], "other", &[0x12; 16]);
    certificates.push(
        other
            .issue_for_key(
                &req(10, Role::Client, NOW - DAY, 30),
                &expired_key.verifying_key().to_bytes(),
                &mut pki_rng,
            )
            .expect("foreign certificate"),
    );
    let roster = ca
        .sign_roster(roster_body(&ca_cert, &listed, vec![(revoked_serial, 11)]))
        .expect("roster");
    let roster = Roster::from_file("roster.json", &roster.to_file(), &ca_cert).expect("roster");

    let committee = Committee {
        threshold: 2,
        members: 3,
    };
    let ctx = insecure_context(16, committee);
    let mut id = [0u8; 16];
    rand_core::Rng::fill_bytes(&mut rng, &mut id);
    let init = CeremonyInit {
        format: CEREMONY_FORMAT.into(),
        ceremony_id: HexN(id),
        preset: PRESET.into(),
        contributors: 16,
        threshold: committee.threshold,
        members: committee.members,
        params_digest: HexN(*ctx.digest()),
        crs_seed: HexN(*Crs::generate(&mut rng).seed()),
        created_at: NOW,
        ca: HexN(ca_cert.fingerprint()),
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
    init.check_certificates("ceremony.json", &ca_cert, &roster)
        .expect("ceremony certificates");
    let contributions: Vec<Vec<u8>> = keys
        .iter()
        .map(|k| {
            contribute(&init, &ctx, k, &mut rng)
                .expect("contribute")
                .to_file()
        })
        .collect();
    let named: Vec<(String, Vec<u8>)> = contributions
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("contribution-{}.json", i + 1), c.clone()))
        .collect();
    let bundle = collect(&init, &ctx, &named).expect("collect").to_file();
    let accepted: Vec<Accepted> = keys
        .iter()
        .map(|k| accept(&init, &ctx, "bundle.json", &bundle, k).expect("accept"))
        .collect();
    let acceptances: Vec<(String, Vec<u8>)> = accepted
        .iter()
        .map(|a| {
            (
                format!("acceptance-{}.json", a.acceptance.body.member),
                a.acceptance.to_file(),
            )
        })
        .collect();
    let (t, pk) = finalize(&init, &ctx, "bundle.json", &bundle, &acceptances).expect("finalize");
    let transcript = t.to_file();
    let retired = KeyRecord {
        key_id: HexN([0x77; 32]),
        ..t.key.clone()
    };
    let current = CurrentKey::new(retired)
        .rotate(t.key.clone(), NOW - 10)
        .expect("rotate")
        .to_file();

    // Re-signing reproduces the ceremony's signatures (the copied labels are right).
    for (c, k) in contributions.iter().zip(&keys) {
        let parsed: Contribution = serde_json::from_slice(c).expect("contribution");
        assert_eq!(
            resign_contribution(&keys, parsed, Some(k)).to_file(),
            *c,
            "re-signing must reproduce the contribution's signature"
        );
    }
    // The share dealer 2 sealed to member 1, opened with member 1's key.
    let c2: Contribution = serde_json::from_slice(&contributions[1]).expect("contribution");
    let (_, hpke1) = member_seed(&keys[0]);
    let (sk1, _) = Kem::derive_keypair(&hpke1);
    let (_, hpke2) = member_seed(&keys[1]);
    let (_, pk2) = Kem::derive_keypair(&hpke2);
    let sealed = &c2.body.shares[0];
    let share_2_to_1 = hpke::single_shot_open::<Aead, Kdf, Kem>(
        &OpModeR::Auth(pk2),
        &sk1,
        &<Kem as hpke::Kem>::EncappedKey::from_bytes(&sealed.encapped.0).expect("encapped"),
        &hpke_info(&init.digest(), 2, 1),
        &sealed.ciphertext.0,
        &[],
    )
    .expect("the share sealed to member 1 opens (the copied HPKE label is right)");

    let pass = Passphrase::new(PASSPHRASE.to_vec()).expect("passphrase");
    let share_meta = KeyShareMeta::new(&init, 1, t.key.key_id.0).to_json();
    let payloads: [(SealedKind, String, Vec<u8>); 4] = [
        (
            SealedKind::MemberKey,
            r#"{"participant":100}"#.into(),
            keys[0].to_secret_bytes().to_vec(),
        ),
        (
            SealedKind::KeyShare,
            share_meta,
            accepted[0].key_share.to_bytes().to_vec(),
        ),
        (
            SealedKind::CaKey,
            r#"{"federation":"fuzz"}"#.into(),
            pkcs8_ed25519(&ca_seed),
        ),
        (
            SealedKind::ParticipantKey,
            r#"{"participant":10,"role":"client"}"#.into(),
            pkcs8_ed25519(&[10; 32]),
        ),
    ];
    let sealed = payloads
        .into_iter()
        .map(|(kind, meta, payload)| {
            let file =
                seal(kind, SEALED_COST, &meta, &pass, &payload, &mut sealed_rng).expect("seal");
            (kind, file, payload)
        })
        .collect();
    World {
        ca,
        ca_seed,
        ca_pem,
        ca_cert,
        roster,
        certificates,
        keys,
        init,
        ctx,
        contributions,
        bundle,
        accepted,
        acceptances,
        transcript,
        pk,
        current,
        sealed,
        share_2_to_1,
    }
}

/// Signs `c`'s body again with the key of its dealer (`signer`, or the
/// world member whose index it names); a body naming no member keeps its
/// signature.
fn resign_contribution(
    keys: &[MemberKeys],
    mut c: Contribution,
    signer: Option<&MemberKeys>,
) -> Contribution {
    let k = signer.or_else(|| keys.get(usize::from(c.body.from).wrapping_sub(1)));
    if let Some(k) = k {
        let (seed, _) = member_seed(k);
        let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
        c.signature = Hex(sk
            .sign(&signed_bytes(CONTRIBUTION_LABEL, &c.body))
            .to_bytes()
            .to_vec());
    }
    c
}

/// A zero vector encrypted under `pk`, partially decrypted by members 1
/// and 2 (`shares`) and combined: the arithmetic after a key is accepted.
fn exercise_key(pk: &PublicKey, shares: &[&KeyShare]) -> Option<Vec<u64>> {
    let ctx = pk.context();
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let n = ctx.params().degree;
    let cts = CiphertextList::encrypt(pk, &vec![5u64; n], &mut rng).ok()?;
    let ids: Vec<MemberId> = shares.iter().map(|s| s.member()).collect();
    let set = DecryptingSet::new(ctx, &ids).ok()?;
    let parts = shares
        .iter()
        .map(|s| partial_decrypt(s, &set, &cts, &mut rng))
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    combine(&cts, &set, &parts).ok()
}

/// Runs target `name` on `data`; `false` for an unknown name.
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "key_contribution" => key_contribution(data),
        "key_bundle" => key_bundle(data),
        "key_sealed_share" => key_sealed_share(data),
        "key_transcript" => key_transcript(data),
        "key_sealed" => key_sealed(data),
        "key_roster" => key_roster(data),
        "key_current" => key_current(data),
        "certificate" => certificate(data),
        _ => return false,
    }
    true
}

/// Whether `data` passes target `name`'s production parser as it stands
/// (without re-signing): the corpus replay uses it to check that the
/// committed seeds still reach past the parser of the current world.
pub fn accepted(name: &str, data: &[u8]) -> bool {
    let w = world();
    match name {
        "key_contribution" => {
            let mut files = named_contributions(w);
            files[1].1 = data.to_vec();
            collect(&w.init, &w.ctx, &files).is_ok()
        }
        "key_bundle" => accept(&w.init, &w.ctx, "bundle.json", data, &w.keys[0]).is_ok(),
        "key_sealed_share" => sealed_share_bundle(data)
            .is_some_and(|b| accept(&w.init, &w.ctx, "bundle.json", &b, &w.keys[0]).is_ok()),
        "key_transcript" => from_file_bytes::<Transcript>("transcript.json", "transcript", data)
            .is_ok_and(|t| deep_transcript_check(&t).is_ok()),
        "key_sealed" => w
            .sealed
            .iter()
            .any(|(kind, _, _)| read_header("k.sealed", data, *kind).is_ok()),
        "key_roster" => Roster::from_file("roster.json", data, &w.ca_cert).is_ok(),
        "key_current" => CurrentKey::from_file("current-key.json", data).is_ok(),
        "certificate" => {
            verify_participant(&w.ca_cert, &w.roster, "peer.crt", data, NOW, None).is_ok()
        }
        _ => false,
    }
}

fn named_contributions(w: &World) -> Vec<(String, Vec<u8>)> {
    w.contributions
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("contribution-{}.json", i + 1), c.clone()))
        .collect()
}

fn after_collect(w: &World, bundle: &Bundle) {
    let bytes = bundle.to_file();
    let (again, pk) = Bundle::from_file(&w.init, &w.ctx, "bundle.json", &bytes)
        .expect("a bundle `collect` made passes `Bundle::from_file`");
    assert_eq!(&again, bundle, "bundle re-parses to the same value");
    // The collective key of accepted contributions encrypts.
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let _ = CiphertextList::encrypt(&pk, &[1, 2, 3], &mut rng);
    // Member 1 opens its shares (or refuses) without panicking.
    let _ = accept(&w.init, &w.ctx, "bundle.json", &bytes, &w.keys[0]);
}

/// `key_contribution`: `data` as member 2's `contribution-2.json`, collected
/// with the two other members' valid files; then, decoded and re-signed by
/// the member it names, collected again.
pub fn key_contribution(data: &[u8]) {
    let w = world();
    let mut files = named_contributions(w);
    files[1].1 = data.to_vec();
    if let Ok(bundle) = collect(&w.init, &w.ctx, &files) {
        let c = bundle
            .contributions
            .iter()
            .find(|c| c.to_file() == data)
            .expect("an accepted contribution is in the bundle in its canonical form");
        assert_eq!(c.body.from, 2, "the file was member 2's");
        after_collect(w, &bundle);
    }
    // A member signs whatever it likes: re-sign and collect in its slot.
    let Ok(c) = serde_json::from_slice::<Contribution>(data) else {
        return;
    };
    let from = c.body.from;
    let c = resign_contribution(&w.keys, c, None);
    let bytes = c.to_file();
    let reparsed: Contribution =
        serde_json::from_slice(&bytes).expect("a re-encoded contribution decodes");
    assert_eq!(reparsed, c, "re-encode then re-parse gives an equal value");
    let slot = match from {
        1..=3 => usize::from(from) - 1,
        _ => 1,
    };
    let mut files = named_contributions(w);
    files[slot].1 = bytes;
    match collect(&w.init, &w.ctx, &files) {
        Ok(bundle) => after_collect(w, &bundle),
        Err(Error::BadSignature { .. }) => {
            assert!(
                !(1..=3).contains(&from),
                "a contribution signed by its own dealer is refused for its signature"
            );
        }
        Err(_) => {}
    }
}

/// `key_bundle`: `data` as `bundle.json`, accepted by member 1 and finalized
/// with the world's acceptances; then every contribution re-signed by the
/// member it names, accepted by members 1 and 2, and the two key shares
/// self-tested.
pub fn key_bundle(data: &[u8]) {
    let w = world();
    if let Ok(a) = accept(&w.init, &w.ctx, "bundle.json", data, &w.keys[0]) {
        let (b, pk) = Bundle::from_file(&w.init, &w.ctx, "bundle.json", data)
            .expect("an accepted bundle passes Bundle::from_file");
        assert_eq!(b.to_file(), data, "an accepted bundle is canonical");
        assert_eq!(a.record.key_id.0, pk.digest());
        let _ = exercise_key(&pk, &[&a.key_share, &w.accepted[1].key_share]);
    }
    if let Ok((t, _)) = finalize(&w.init, &w.ctx, "bundle.json", data, &w.acceptances) {
        assert_eq!(
            t.to_file(),
            w.transcript,
            "the world's acceptances finalize only the world's bundle"
        );
    }
    let Ok(mut b) = serde_json::from_slice::<Bundle>(data) else {
        return;
    };
    b.contributions = b
        .contributions
        .into_iter()
        .map(|c| resign_contribution(&w.keys, c, None))
        .collect();
    let bytes = b.to_file();
    let shares: Vec<KeyShare> = w.keys[..2]
        .iter()
        .filter_map(|k| accept(&w.init, &w.ctx, "bundle.json", &bytes, k).ok())
        .map(|a| a.key_share)
        .collect();
    if let (Ok((again, pk)), 2) = (
        Bundle::from_file(&w.init, &w.ctx, "bundle.json", &bytes),
        shares.len(),
    ) {
        assert_eq!(again, b, "re-encode then re-parse gives an equal value");
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let _ = self_test(&pk, &shares, &mut rng);
    }
}

/// The world's bundle with the share dealer 2 seals to member 1 replaced by
/// `plain` (sealed with dealer 2's key, the contribution re-signed).
fn sealed_share_bundle(plain: &[u8]) -> Option<Vec<u8>> {
    let w = world();
    let mut b: Bundle = serde_json::from_slice(&w.bundle).ok()?;
    let c = b.contributions.get_mut(1)?;
    let (_, hpke2) = member_seed(&w.keys[1]);
    let (sk2, pk2) = Kem::derive_keypair(&hpke2);
    let to = <Kem as hpke::Kem>::PublicKey::from_bytes(&w.init.committee[0].hpke_key.0).ok()?;
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let (encapped, ct) = hpke::single_shot_seal_with_rng::<Aead, Kdf, Kem>(
        &OpModeS::Auth((sk2, pk2)),
        &to,
        &hpke_info(&w.init.digest(), 2, 1),
        plain,
        &[],
        &mut rng,
    )
    .ok()?;
    let share = c.body.shares.get_mut(0)?;
    share.encapped = HexN(encapped.to_bytes().as_slice().try_into().ok()?);
    share.ciphertext = Hex(ct);
    *c = resign_contribution(&w.keys, c.clone(), None);
    Some(b.to_file())
}

/// `key_sealed_share`: `data` as the plaintext (`H` wire form of a Shamir
/// share) that a malicious dealer 2 seals to member 1 in an otherwise valid
/// bundle; member 1 accepts (or refuses) and, if it accepts, its key share
/// decrypts with the others'.
pub fn key_sealed_share(data: &[u8]) {
    let w = world();
    if let Ok(s) = ShamirShare::from_bytes(&w.ctx, data) {
        assert_eq!(
            &s.to_bytes(&w.ctx)[..],
            data,
            "an H form re-encodes to its bytes"
        );
    }
    let Some(bundle) = sealed_share_bundle(data) else {
        return;
    };
    let Ok(a) = accept(&w.init, &w.ctx, "bundle.json", &bundle, &w.keys[0]) else {
        return;
    };
    let s = ShamirShare::from_bytes(&w.ctx, data).expect("accept decoded this share");
    assert_eq!((s.from().get(), s.to().get()), (2, 1));
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let shares = [
        a.key_share,
        KeyShare::from_bytes(&w.ctx, &w.accepted[1].key_share.to_bytes()).expect("share"),
        KeyShare::from_bytes(&w.ctx, &w.accepted[2].key_share.to_bytes()).expect("share"),
    ];
    let result = self_test(&w.pk, &shares, &mut rng);
    if data == w.share_2_to_1 {
        result.expect("the honest share passes the self-test");
    }
}

fn deep_transcript_check(t: &Transcript) -> crate::Result<()> {
    // What verify_transcript checks after the parameter set, on the world's
    // context (the production path refuses the insecure preset).
    let w = world();
    if t.ceremony != w.init {
        return Err(Error::Argument("another ceremony".into()));
    }
    t.ceremony
        .check_certificates("transcript.json", &w.ca_cert, &w.roster)?;
    let files: Vec<(String, Vec<u8>)> = t
        .acceptances
        .iter()
        .map(|a| ("transcript.json".to_string(), a.to_file()))
        .collect();
    let (t2, _) = finalize(
        &w.init,
        &w.ctx,
        "transcript.json",
        &t.bundle.to_file(),
        &files,
    )?;
    if &t2 != t {
        return Err(Error::Argument("differs from what finalize makes".into()));
    }
    Ok(())
}

/// `key_transcript`: `data` as `transcript.json`, through the production
/// `verify_transcript` (with the CA and roster; it refuses the insecure
/// preset at the parameter check, and builds a real preset's context if the
/// fuzzer names one); then, on the world's context, the checks that follow:
/// the certificates, the bundle, the acceptances, the key record.
pub fn key_transcript(data: &[u8]) {
    let w = world();
    if let Ok((t, pk)) = verify_transcript("transcript.json", data, Some((&w.ca_cert, &w.roster))) {
        assert_eq!(t.to_file(), data, "a verified transcript is canonical");
        assert_eq!(t.public_key.0, pk.to_bytes());
        assert_eq!(t.key.key_id.0, pk.digest());
    }
    let Ok(t) = from_file_bytes::<Transcript>("transcript.json", "transcript", data) else {
        return;
    };
    assert_eq!(t.to_file(), data, "a decoded transcript is canonical");
    // The ceremony file a transcript embeds, through its own parser.
    let _ = CeremonyInit::from_file("ceremony.json", &t.ceremony.to_file());
    if deep_transcript_check(&t).is_ok() {
        assert_eq!(
            t.to_file(),
            w.transcript,
            "only the world's transcript passes for the world's ceremony"
        );
    }
}

fn header_bytes(data: &[u8], h: &crate::sealed::SealedHeader, kind: u8) -> Vec<u8> {
    let mut v = b"FHEKSEAL".to_vec();
    v.extend_from_slice(&1u16.to_le_bytes());
    v.push(kind);
    v.extend_from_slice(&h.cost.memory_kib.to_le_bytes());
    v.extend_from_slice(&h.cost.iterations.to_le_bytes());
    v.extend_from_slice(&h.cost.lanes.to_le_bytes());
    v.extend_from_slice(&data[23..63]); // salt and nonce
    v.extend_from_slice(&(h.metadata.len() as u32).to_le_bytes());
    v.extend_from_slice(h.metadata.as_bytes());
    v
}

/// `key_sealed`: `data` as a sealed key file, its header read as each kind;
/// a header re-encodes to exactly the bytes it was read from; files whose
/// Argon2id cost is small are opened with the world's passphrase.
pub fn key_sealed(data: &[u8]) {
    let w = world();
    for (i, (kind, _, payload)) in w.sealed.iter().enumerate() {
        let Ok((h, len)) = read_header("k.sealed", data, *kind) else {
            continue;
        };
        assert_eq!(h.kind, *kind);
        assert_eq!(len, 67 + h.metadata.len());
        assert!(len + 16 <= data.len(), "a header leaves room for the tag");
        assert_eq!(
            header_bytes(data, &h, i as u8 + 1),
            data[..len],
            "a header re-encodes to its bytes"
        );
        // Argon2id allocates `memory_kib` before authenticating: the reader
        // bounds it (4 GiB), not the input, so only cheap files are opened.
        if h.cost.memory_kib <= OPEN_MAX_MEMORY_KIB
            && h.cost.iterations <= OPEN_MAX_ITERATIONS
            && h.cost.lanes <= OPEN_MAX_LANES
        {
            let pass = Passphrase::new(PASSPHRASE.to_vec()).expect("passphrase");
            if let Ok((h2, pt)) = open("k.sealed", data, *kind, &pass) {
                assert_eq!(h2, h);
                assert_eq!(&pt[..], &payload[..], "only the world's file opens");
            }
        }
    }
}

fn check_participants(w: &World, roster: &Roster) {
    for (i, cert) in w.certificates.iter().enumerate() {
        for expected in [None, Some(Role::Committee)] {
            let r = verify_participant(
                &w.ca_cert,
                roster,
                &format!("c{i}.crt"),
                cert.as_bytes(),
                NOW,
                expected,
            );
            if let Ok(p) = r {
                check_participant(roster, &p, expected);
            }
        }
    }
}

fn check_participant(roster: &Roster, p: &crate::pki::Participant, expected: Option<Role>) {
    assert!(
        roster.body.participants.iter().any(|e| e.id == p.id
            && e.role == p.role
            && e.key.as_ref().is_none_or(|k| k.0 == p.public_key)),
        "a verified participant is on the roster with its role and (if listed) its key"
    );
    assert!(
        !roster.body.revoked.iter().any(|r| r.serial.0 == p.serial),
        "a verified certificate is not revoked"
    );
    if let Some(e) = expected {
        assert_eq!(p.role, e);
    }
}

/// `key_roster`: `data` as `roster.json`, verified against the world's CA;
/// then decoded, re-signed by the CA, re-parsed; the world's certificates
/// checked against each accepted roster.
pub fn key_roster(data: &[u8]) {
    let w = world();
    if let Ok(r) = Roster::from_file("roster.json", data, &w.ca_cert) {
        assert_eq!(r.to_file(), data, "an accepted roster is canonical");
        check_participants(w, &r);
    }
    let Ok(r) = serde_json::from_slice::<Roster>(data) else {
        return;
    };
    let Ok(signed) = w.ca.sign_roster(r.body.clone()) else {
        return;
    };
    let bytes = signed.to_file();
    match Roster::from_file("roster.json", &bytes, &w.ca_cert) {
        Ok(again) => {
            assert_eq!(
                again, signed,
                "re-encode then re-parse gives an equal value"
            );
            check_participants(w, &again);
        }
        Err(e) => assert!(
            r.body.format != ROSTER_FORMAT || r.body.ca.0 != w.ca_cert.fingerprint(),
            "a roster the CA signed, in the right format and for this CA, is refused: {e}"
        ),
    }
}

/// `key_current`: `data` as `current-key.json`; an accepted file is
/// canonical, its current key passes the round check, a retired key that is
/// not also current fails it; a rotation and the budget never panic.
pub fn key_current(data: &[u8]) {
    let w = world();
    let Ok(c) = CurrentKey::from_file("current-key.json", data) else {
        return;
    };
    assert_eq!(
        c.to_file(),
        data,
        "an accepted current-key file is canonical"
    );
    assert!(c.check_round_key(&c.current.key_id.0).is_ok());
    for r in &c.retired {
        if r.key_id != c.current.key_id {
            assert!(
                c.check_round_key(&r.key_id.0).is_err(),
                "a retired key is refused"
            );
        }
    }
    let _ = c.current.budget(&w.ctx);
    let next = KeyRecord {
        key_id: HexN([0x99; 32]),
        ..c.current.clone()
    };
    if let Ok(rotated) = c.clone().rotate(next, NOW) {
        let bytes = rotated.to_file();
        let again = CurrentKey::from_file("current-key.json", &bytes)
            .expect("a rotated current-key file re-parses");
        assert_eq!(again, rotated);
        assert!(again.check_round_key(&c.current.key_id.0).is_err());
    }
}

fn der_len(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// A certificate with `tbs` signed by the world's CA key.
fn ca_signed(w: &World, tbs: &[u8]) -> Vec<u8> {
    let sk = ed25519_dalek::SigningKey::from_bytes(&w.ca_seed);
    let sig = sk.sign(tbs).to_bytes();
    let mut body = tbs.to_vec();
    body.extend_from_slice(&[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70]);
    body.extend_from_slice(&[0x03, 0x41, 0x00]);
    body.extend_from_slice(&sig);
    let mut der = vec![0x30];
    der_len(body.len(), &mut der);
    der.extend_from_slice(&body);
    der
}

fn pem(der: &[u8]) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::from("-----BEGIN CERTIFICATE-----\n");
    let mut line = 0;
    for chunk in der.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            let c = if i <= chunk.len() {
                B64[((n >> (18 - 6 * i)) & 63) as usize]
            } else {
                b'='
            };
            s.push(char::from(c));
        }
        line += 4;
        if line == 64 {
            s.push('\n');
            line = 0;
        }
    }
    if line != 0 {
        s.push('\n');
    }
    s.push_str("-----END CERTIFICATE-----\n");
    s
}

/// `certificate`: `data` as a peer's certificate (PEM or DER), through
/// `pem_to_der`, `CaCert::from_pem`, `certificate_serial` and
/// `verify_participant` (against the world's CA and roster, at the world's
/// time); then, if it parses as X.509, its to-be-signed part signed by the
/// CA key and verified again, so the checks behind the signature are
/// reached. A verified participant is listed with its role and not revoked;
/// DER survives a PEM round trip.
pub fn certificate(data: &[u8]) {
    let w = world();
    let der = pem_to_der("peer.crt", data);
    if let Ok(der) = &der {
        assert!(!der.is_empty(), "a decoded certificate has bytes");
        let again = pem_to_der("peer.crt", pem(der).as_bytes()).expect("PEM of DER decodes");
        assert_eq!(&again, der, "DER survives a PEM round trip");
    }
    let _ = CaCert::from_pem("peer.crt", data);
    let _ = certificate_serial("peer.crt", data);
    let _ = certificate_key("peer.crt", data);
    for expected in [None, Some(Role::Client)] {
        if let Ok(p) = verify_participant(&w.ca_cert, &w.roster, "peer.crt", data, NOW, expected) {
            check_participant(&w.roster, &p, expected);
        }
    }
    let Ok(der) = der else {
        return;
    };
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(&der) else {
        return;
    };
    let resigned = ca_signed(w, cert.tbs_certificate.as_ref());
    for expected in [None, Some(Role::Server)] {
        if let Ok(p) =
            verify_participant(&w.ca_cert, &w.roster, "peer.crt", &resigned, NOW, expected)
        {
            check_participant(&w.roster, &p, expected);
        }
    }
}

/// Seed corpus for target `name`: the world's valid files.
pub fn seeds(name: &str) -> Vec<Vec<u8>> {
    let w = world();
    match name {
        "key_contribution" => vec![w.contributions[1].clone(), w.contributions[0].clone()],
        "key_bundle" => vec![w.bundle.clone()],
        "key_sealed_share" => vec![w.share_2_to_1.clone()],
        "key_transcript" => vec![w.transcript.clone()],
        "key_sealed" => w.sealed.iter().map(|(_, f, _)| f.clone()).collect(),
        "key_roster" => vec![w.roster.to_file()],
        "key_current" => vec![w.current.clone()],
        "certificate" => {
            let mut v: Vec<Vec<u8>> = w
                .certificates
                .iter()
                .map(|c| c.as_bytes().to_vec())
                .collect();
            if let Ok(der) = pem_to_der("c.crt", w.certificates[0].as_bytes()) {
                v.push(der);
            }
            v.push(w.ca_pem.as_bytes().to_vec());
            v
        }
        _ => vec![],
    }
}
