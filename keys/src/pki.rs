//! Federation PKI: an Ed25519 CA, participant certificates whose SAN URI
//! `fedhe://participant/<id>/<role>` carries the participant id and role, a
//! roster signed by the CA key, and the check the QUIC runtime calls on a
//! presented certificate.

use rand_core::CryptoRng;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ED25519, SanType, SerialNumber, SigningKey, SubjectPublicKeyInfo,
};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::encoding::{Hex, HexN, from_file_bytes, signed_bytes, to_file_bytes};
use crate::error::{Error, Refusal, Result, malformed};

/// A participant's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The aggregation server.
    Server,
    /// A data-holding client.
    Client,
    /// A committee member (holds a key share).
    Committee,
    /// An operator (CA holder, ceremony coordinator).
    Admin,
}

impl Role {
    /// The name used in certificates and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Client => "client",
            Role::Committee => "committee",
            Role::Admin => "admin",
        }
    }
    /// Parses a role name.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "server" => Ok(Role::Server),
            "client" => Ok(Role::Client),
            "committee" => Ok(Role::Committee),
            "admin" => Ok(Role::Admin),
            _ => Err(Error::Argument(format!(
                "role {s:?}: expected server, client, committee or admin"
            ))),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

const SPKI_ED25519_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The SAN URI of a participant.
pub fn participant_uri(id: u32, role: Role) -> String {
    format!("fedhe://participant/{id}/{role}")
}

fn parse_uri(uri: &str) -> Option<(u32, Role)> {
    let rest = uri.strip_prefix("fedhe://participant/")?;
    let (id, role) = rest.split_once('/')?;
    if id.starts_with('0') && id != "0" {
        return None;
    }
    Some((id.parse().ok()?, Role::parse(role).ok()?))
}

fn rcgen_err(e: rcgen::Error) -> Error {
    Error::Crypto(format!("certificate generation: {e}"))
}

fn offset(unix: i64) -> Result<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map_err(|e| Error::Argument(format!("time {unix}: {e}")))
}

fn random_serial<R: CryptoRng + ?Sized>(rng: &mut R) -> SerialNumber {
    let mut s = [0u8; 16];
    rng.fill_bytes(&mut s);
    s[0] &= 0x7f;
    s[0] |= 0x01;
    SerialNumber::from_slice(&s)
}

/// A new federation CA: its certificate (PEM) and its private key (PKCS#8
/// DER, a secret the caller seals at once).
pub fn ca_generate<R: CryptoRng + ?Sized>(
    federation: &str,
    not_before: i64,
    days: u32,
    rng: &mut R,
) -> Result<(String, Zeroizing<Vec<u8>>)> {
    let key = KeyPair::generate_for(&PKCS_ED25519).map_err(rcgen_err)?;
    let params = ca_params(federation, not_before, days, rng)?;
    let cert = params.self_signed(&key).map_err(rcgen_err)?;
    Ok((cert.pem(), Zeroizing::new(key.serialize_der())))
}

fn ca_params<R: CryptoRng + ?Sized>(
    federation: &str,
    not_before: i64,
    days: u32,
    rng: &mut R,
) -> Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(rcgen_err)?;
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
    params.not_before = offset(not_before)?;
    params.not_after = offset(not_before + i64::from(days) * 86_400)?;
    params.serial_number = Some(random_serial(rng));
    Ok(params)
}

/// The CA: its certificate and key, opened for issuing.
pub struct Ca {
    cert_der: Vec<u8>,
    key: KeyPair,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ca(key redacted)")
    }
}

/// What to put in a participant certificate.
#[derive(Clone, Debug)]
pub struct IssueRequest {
    /// Participant id.
    pub id: u32,
    /// Role.
    pub role: Role,
    /// Start of validity (unix seconds).
    pub not_before: i64,
    /// Days of validity.
    pub days: u32,
    /// DNS names (for a server's TLS name).
    pub dns_names: Vec<String>,
}

/// A participant's Ed25519 SubjectPublicKeyInfo from its raw key.
pub fn ed25519_spki(raw: &[u8; 32]) -> Vec<u8> {
    let mut v = SPKI_ED25519_PREFIX.to_vec();
    v.extend_from_slice(raw);
    v
}

impl Ca {
    /// Opens the CA from its certificate (PEM) and its decrypted PKCS#8 key.
    pub fn open(cert_file: &str, cert_pem: &[u8], key_pkcs8: &[u8]) -> Result<Self> {
        let cert_der = pem_to_der(cert_file, cert_pem)?;
        let key = KeyPair::from_pkcs8_der_and_sign_algo(&key_pkcs8.into(), &PKCS_ED25519)
            .map_err(|e| malformed("CA key", "Ed25519 PKCS#8 key", e.to_string()))?;
        let ca = parse_ca(cert_file, &cert_der)?;
        if ca.key != key.public_key_raw() {
            return Err(malformed(
                cert_file,
                "CA certificate",
                "its key is not the CA key's",
            ));
        }
        Ok(Self { cert_der, key })
    }

    /// The CA certificate (DER).
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    fn issuer(&self) -> Result<Issuer<'_, &KeyPair>> {
        Issuer::from_ca_cert_der(&self.cert_der.as_slice().into(), &self.key).map_err(rcgen_err)
    }

    fn leaf_params<R: CryptoRng + ?Sized>(
        &self,
        req: &IssueRequest,
        rng: &mut R,
    ) -> Result<CertificateParams> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(rcgen_err)?;
        params.distinguished_name.push(
            DnType::CommonName,
            format!("fedhe participant {} ({})", req.id, req.role),
        );
        let uri = participant_uri(req.id, req.role);
        params.subject_alt_names.push(SanType::URI(
            uri.try_into()
                .map_err(|e: rcgen::Error| Error::Argument(e.to_string()))?,
        ));
        for d in &req.dns_names {
            params.subject_alt_names.push(SanType::DnsName(
                d.clone()
                    .try_into()
                    .map_err(|e: rcgen::Error| Error::Argument(format!("DNS name {d:?}: {e}")))?,
            ));
        }
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![match req.role {
            Role::Server => ExtendedKeyUsagePurpose::ServerAuth,
            _ => ExtendedKeyUsagePurpose::ClientAuth,
        }];
        params.not_before = offset(req.not_before)?;
        params.not_after = offset(req.not_before + i64::from(req.days) * 86_400)?;
        params.serial_number = Some(random_serial(rng));
        params.use_authority_key_identifier_extension = true;
        Ok(params)
    }

    /// Issues a certificate with a fresh key pair: the certificate (PEM) and
    /// the key (PKCS#8 DER, a secret the caller seals).
    pub fn issue<R: CryptoRng + ?Sized>(
        &self,
        req: &IssueRequest,
        rng: &mut R,
    ) -> Result<(String, Zeroizing<Vec<u8>>)> {
        let key = KeyPair::generate_for(&PKCS_ED25519).map_err(rcgen_err)?;
        let cert = self
            .leaf_params(req, rng)?
            .signed_by(&key, &self.issuer()?)
            .map_err(rcgen_err)?;
        Ok((cert.pem(), Zeroizing::new(key.serialize_der())))
    }

    /// Issues a certificate for an existing Ed25519 public key (a committee
    /// member's ceremony signing key).
    pub fn issue_for_key<R: CryptoRng + ?Sized>(
        &self,
        req: &IssueRequest,
        public_key: &[u8; 32],
        rng: &mut R,
    ) -> Result<String> {
        let spki = SubjectPublicKeyInfo::from_der(&ed25519_spki(public_key)).map_err(rcgen_err)?;
        let cert = self
            .leaf_params(req, rng)?
            .signed_by(&spki, &self.issuer()?)
            .map_err(rcgen_err)?;
        Ok(cert.pem())
    }

    /// Signs a roster body.
    pub fn sign_roster(&self, body: RosterBody) -> Result<Roster> {
        let sig = self
            .key
            .sign(&signed_bytes(ROSTER_LABEL, &body))
            .map_err(rcgen_err)?;
        Ok(Roster {
            body,
            signature: Hex(sig),
        })
    }
}

/// Decodes one PEM certificate (or accepts DER).
pub fn pem_to_der(file: &str, bytes: &[u8]) -> Result<Vec<u8>> {
    if bytes.first() == Some(&0x30) {
        return Ok(bytes.to_vec());
    }
    let text =
        std::str::from_utf8(bytes).map_err(|_| malformed(file, "PEM certificate", "not UTF-8"))?;
    let mut body = String::new();
    let mut ended = false;
    let block = text
        .lines()
        .map(str::trim)
        .skip_while(|l| *l != "-----BEGIN CERTIFICATE-----")
        .skip(1);
    for l in block {
        if l == "-----END CERTIFICATE-----" {
            ended = true;
            break;
        }
        body.push_str(l);
    }
    if body.is_empty() {
        return Err(malformed(file, "PEM certificate", "no CERTIFICATE block"));
    }
    // A block cut short (found by the `certificate` fuzz target) is refused.
    if !ended {
        return Err(malformed(
            file,
            "PEM certificate",
            "no END CERTIFICATE line",
        ));
    }
    match base64_decode(&body) {
        Some(der) if !der.is_empty() => Ok(der),
        _ => Err(malformed(file, "PEM certificate", "bad base64")),
    }
}

/// Strict base64: whole 4-character groups, at most two `=` at the end.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    let mut pad = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                pad += 1;
                if pad > 2 {
                    return None;
                }
                continue;
            }
            _ => return None,
        };
        if pad > 0 {
            return None;
        }
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// BLAKE3 fingerprint of a certificate's DER.
pub fn fingerprint(der: &[u8]) -> [u8; 32] {
    blake3::derive_key("fedhe 2026-11 certificate fingerprint v1", der)
}

struct ParsedCa {
    key: [u8; 32],
    subject_raw: Vec<u8>,
}

fn ed25519_key_of(cert: &x509_parser::certificate::X509Certificate<'_>) -> Option<[u8; 32]> {
    if cert.public_key().algorithm.algorithm != x509_parser::oid_registry::OID_SIG_ED25519 {
        return None;
    }
    cert.public_key()
        .subject_public_key
        .data
        .as_ref()
        .try_into()
        .ok()
}

fn verify_cert_sig(
    cert: &x509_parser::certificate::X509Certificate<'_>,
    issuer_key: &[u8; 32],
) -> bool {
    if cert.signature_algorithm.algorithm != x509_parser::oid_registry::OID_SIG_ED25519 {
        return false;
    }
    let Ok(vk) = ed25519_dalek::VerifyingKey::from_bytes(issuer_key) else {
        return false;
    };
    let Ok(sig) = ed25519_dalek::Signature::from_slice(cert.signature_value.data.as_ref()) else {
        return false;
    };
    vk.verify_strict(cert.tbs_certificate.as_ref(), &sig)
        .is_ok()
}

fn parse_ca(file: &str, der: &[u8]) -> Result<ParsedCa> {
    let (rest, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| malformed(file, "CA certificate", e.to_string()))?;
    if !rest.is_empty() {
        return Err(malformed(file, "CA certificate", "trailing bytes"));
    }
    let key = ed25519_key_of(&cert)
        .ok_or_else(|| malformed(file, "CA certificate", "not an Ed25519 key"))?;
    if !cert.is_ca() || !verify_cert_sig(&cert, &key) {
        return Err(malformed(
            file,
            "CA certificate",
            "not a self-signed Ed25519 CA certificate",
        ));
    }
    Ok(ParsedCa {
        key,
        subject_raw: cert.subject().as_raw().to_vec(),
    })
}

/// The federation CA's public side: what every verifier holds.
#[derive(Clone, Debug)]
pub struct CaCert {
    der: Vec<u8>,
    key: [u8; 32],
    subject_raw: Vec<u8>,
}

impl CaCert {
    /// Parses and checks the CA certificate (PEM or DER).
    pub fn from_pem(file: &str, bytes: &[u8]) -> Result<Self> {
        let der = pem_to_der(file, bytes)?;
        let p = parse_ca(file, &der)?;
        Ok(Self {
            der,
            key: p.key,
            subject_raw: p.subject_raw,
        })
    }
    /// Fingerprint of the CA certificate.
    pub fn fingerprint(&self) -> [u8; 32] {
        fingerprint(&self.der)
    }
}

/// One listed participant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterEntry {
    /// Participant id.
    pub id: u32,
    /// Role.
    pub role: Role,
    /// The Ed25519 key of the participant's certificate for this role. The
    /// runtime builds its directory of protocol signing keys from it (a
    /// committee member verifies clients' contribution signatures against
    /// these keys), and [`verify_participant`] refuses a certificate for
    /// another key. `cert issue` always fills it in; rosters without it
    /// stay readable for the ceremony but cannot run a federation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<HexN<32>>,
}

/// One revoked certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    /// Certificate serial.
    pub serial: Hex,
    /// Whose.
    pub id: u32,
    /// When (unix seconds).
    pub at: i64,
}

/// What the CA signs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterBody {
    /// Format tag, `fedhe-roster/1`.
    pub format: String,
    /// Federation name.
    pub federation: String,
    /// CA certificate fingerprint.
    pub ca: HexN<32>,
    /// Increases with every change.
    pub version: u64,
    /// Time of the last change (unix seconds).
    pub updated_at: i64,
    /// Participants, sorted by id then role.
    pub participants: Vec<RosterEntry>,
    /// Revoked certificates.
    pub revoked: Vec<Revocation>,
}

const ROSTER_LABEL: &str = "fedhe 2026-11 roster v1";
/// Format tag of rosters.
pub const ROSTER_FORMAT: &str = "fedhe-roster/1";

/// The signed roster file (`roster.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Roster {
    /// The signed content.
    pub body: RosterBody,
    /// Ed25519 signature of the CA key.
    pub signature: Hex,
}

impl Roster {
    /// An empty roster, version 1.
    pub fn empty_body(federation: &str, ca: &CaCert, now: i64) -> RosterBody {
        RosterBody {
            format: ROSTER_FORMAT.into(),
            federation: federation.into(),
            ca: HexN(ca.fingerprint()),
            version: 1,
            updated_at: now,
            participants: vec![],
            revoked: vec![],
        }
    }

    /// Decodes and verifies a roster file against the CA.
    pub fn from_file(file: &str, bytes: &[u8], ca: &CaCert) -> Result<Self> {
        let r: Roster = from_file_bytes(file, "roster", bytes)?;
        if r.body.format != ROSTER_FORMAT {
            return Err(malformed(
                file,
                "roster",
                format!("format {:?}: expected {ROSTER_FORMAT:?}", r.body.format),
            ));
        }
        if r.body.ca.0 != ca.fingerprint() {
            return Err(malformed(file, "roster", "made for another CA certificate"));
        }
        let ok = ed25519_dalek::Signature::from_slice(&r.signature.0)
            .ok()
            .zip(ed25519_dalek::VerifyingKey::from_bytes(&ca.key).ok())
            .is_some_and(|(sig, vk)| {
                vk.verify_strict(&signed_bytes(ROSTER_LABEL, &r.body), &sig)
                    .is_ok()
            });
        if !ok {
            return Err(Error::BadSignature {
                file: file.into(),
                who: "federation CA".into(),
                what: "roster",
            });
        }
        Ok(r)
    }

    /// The file form.
    pub fn to_file(&self) -> Vec<u8> {
        to_file_bytes(self)
    }
}

/// A verified participant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Participant {
    /// Id.
    pub id: u32,
    /// Role.
    pub role: Role,
    /// Certificate serial.
    pub serial: Vec<u8>,
    /// The certificate's Ed25519 public key.
    pub public_key: [u8; 32],
}

/// The check the runtime and the ceremony run on a presented certificate:
/// issued by `ca`, valid at `now` (unix seconds), not revoked and listed with
/// its role on `roster`, and (if given) of the `expected` role.
pub fn verify_participant(
    ca: &CaCert,
    roster: &Roster,
    file: &str,
    cert_bytes: &[u8],
    now: i64,
    expected: Option<Role>,
) -> Result<Participant> {
    let refuse = |reason: Refusal| Error::CertificateRefused {
        file: file.into(),
        reason,
    };
    let der =
        pem_to_der(file, cert_bytes).map_err(|e| refuse(Refusal::Malformed(e.to_string())))?;
    let (rest, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| refuse(Refusal::Malformed(e.to_string())))?;
    if !rest.is_empty() {
        return Err(refuse(Refusal::Malformed("trailing bytes".into())));
    }
    if cert.issuer().as_raw() != ca.subject_raw.as_slice() {
        return Err(refuse(Refusal::OtherCa("issuer name differs".into())));
    }
    if !verify_cert_sig(&cert, &ca.key) {
        return Err(refuse(Refusal::OtherCa(
            "signature does not verify under the CA key".into(),
        )));
    }
    if cert.is_ca() {
        return Err(refuse(Refusal::Malformed(
            "a CA certificate is not a participant".into(),
        )));
    }
    let v = cert.validity();
    let (nb, na) = (v.not_before.timestamp(), v.not_after.timestamp());
    if now < nb {
        return Err(refuse(Refusal::NotYetValid {
            not_before: nb,
            now,
        }));
    }
    if now > na {
        return Err(refuse(Refusal::Expired { not_after: na, now }));
    }
    let san = cert
        .subject_alternative_name()
        .map_err(|e| refuse(Refusal::Malformed(e.to_string())))?
        .ok_or_else(|| refuse(Refusal::Malformed("no subject alternative name".into())))?;
    let ids: Vec<(u32, Role)> = san
        .value
        .general_names
        .iter()
        .filter_map(|g| match g {
            x509_parser::extensions::GeneralName::URI(u) => Some(*u),
            _ => None,
        })
        .map(|u| {
            parse_uri(u).ok_or_else(|| {
                refuse(Refusal::Malformed(format!(
                    "SAN URI {u:?} is not fedhe://participant/<id>/<role>"
                )))
            })
        })
        .collect::<Result<_>>()?;
    let [(id, role)] = ids[..] else {
        return Err(refuse(Refusal::Malformed(format!(
            "{} participant URIs, expected exactly one",
            ids.len()
        ))));
    };
    let serial = cert.raw_serial().to_vec();
    if roster.body.revoked.iter().any(|r| r.serial.0 == serial) {
        return Err(refuse(Refusal::Revoked {
            serial: crate::encoding::to_hex(&serial),
            roster_version: roster.body.version,
        }));
    }
    let public_key = ed25519_key_of(&cert)
        .ok_or_else(|| refuse(Refusal::Malformed("not an Ed25519 key".into())))?;
    let entry = roster
        .body
        .participants
        .iter()
        .find(|p| p.id == id && p.role == role);
    if let Some(listed) = entry.and_then(|e| e.key.as_ref())
        && listed.0 != public_key
    {
        return Err(refuse(Refusal::NotOnRoster {
            id,
            role: role.to_string(),
            detail: "listed with another key".into(),
        }));
    }
    if entry.is_none() {
        let listed: Vec<String> = roster
            .body
            .participants
            .iter()
            .filter(|p| p.id == id)
            .map(|p| p.role.to_string())
            .collect();
        return Err(refuse(Refusal::NotOnRoster {
            id,
            role: role.to_string(),
            detail: if listed.is_empty() {
                "not listed".into()
            } else {
                format!("listed as {}", listed.join(", "))
            },
        }));
    }
    if let Some(exp) = expected
        && exp != role
    {
        return Err(refuse(Refusal::RoleMismatch {
            expected: exp.to_string(),
            actual: role.to_string(),
        }));
    }
    Ok(Participant {
        id,
        role,
        serial,
        public_key,
    })
}

/// Reads a certificate's serial (for revocation).
pub fn certificate_serial(file: &str, cert_bytes: &[u8]) -> Result<(u32, Vec<u8>)> {
    let der = pem_to_der(file, cert_bytes)?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| malformed(file, "certificate", e.to_string()))?;
    let id = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .and_then(|s| {
            s.value.general_names.iter().find_map(|g| match g {
                x509_parser::extensions::GeneralName::URI(u) => parse_uri(u).map(|x| x.0),
                _ => None,
            })
        })
        .ok_or_else(|| malformed(file, "certificate", "no participant URI"))?;
    Ok((id, cert.raw_serial().to_vec()))
}

/// Reads a certificate's Ed25519 public key (to list it on the roster).
pub fn certificate_key(file: &str, cert_bytes: &[u8]) -> Result<[u8; 32]> {
    let der = pem_to_der(file, cert_bytes)?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| malformed(file, "certificate", e.to_string()))?;
    ed25519_key_of(&cert).ok_or_else(|| malformed(file, "certificate", "not an Ed25519 key"))
}
