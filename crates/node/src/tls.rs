//! TLS 1.3 with mutual authentication for QUIC (DESIGN.md §7).
//!
//! rustls with the *ring* provider only (no aws-lc), TLS 1.3 only, ALPN
//! [`ALPN`]. Both sides present a certificate issued by the federation CA
//! (`fedhe keys`); rustls's WebPKI verifiers check the chain, validity and
//! extended key usage during the handshake (no certificate, another CA, an
//! expired certificate or a server certificate used as a client's all fail
//! there). After the handshake the runtime runs
//! [`fedhe_keys::pki::verify_participant`] on the peer's certificate:
//! listed on the CA-signed roster with that role and that key, not revoked.
//! The participant id and role it returns are the peer's identity for every
//! message on the connection.
//!
//! A participant's TLS key is its protocol signing key: the Ed25519 key of
//! its certificate signs submissions, receipts and shares, and the roster
//! lists the same key, so a committee member can verify a client's
//! contribution signature without ever having seen the client.

use std::sync::Arc;

use fedhe_keys::pki::{self, CaCert, Participant, Role, Roster};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use zeroize::Zeroizing;

/// The application protocol.
pub const ALPN: &[u8] = b"fedhe/1";

/// Errors of the TLS set-up and of peer identification.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client-certificate verifier could not be built.
    #[error("TLS client verifier: {0}")]
    Verifier(String),
    /// QUIC refused the TLS configuration.
    #[error("QUIC TLS configuration: {0}")]
    Quic(String),
    /// A key or certificate file is not what was expected.
    #[error("{0}")]
    Keys(#[from] fedhe_keys::Error),
    /// The peer presented no certificate.
    #[error("the peer presented no certificate")]
    NoCertificate,
    /// A PKCS#8 key that is not Ed25519.
    #[error("{file}: expected an Ed25519 PKCS#8 private key")]
    NotEd25519 {
        /// The file.
        file: String,
    },
}

/// The federation's trust anchors: the CA certificate and the signed roster.
#[derive(Clone, Debug)]
pub struct Trust {
    /// The CA certificate.
    pub ca: CaCert,
    /// The CA certificate (DER), the TLS root.
    pub ca_der: Vec<u8>,
    /// The roster (verified against the CA when loaded).
    pub roster: Roster,
}

impl Trust {
    /// From the CA certificate (PEM or DER) and the roster file.
    pub fn new(
        ca_file: &str,
        ca_bytes: &[u8],
        roster_file: &str,
        roster_bytes: &[u8],
    ) -> Result<Self, TlsError> {
        let ca = CaCert::from_pem(ca_file, ca_bytes)?;
        let ca_der = pki::pem_to_der(ca_file, ca_bytes)?;
        let roster = Roster::from_file(roster_file, roster_bytes, &ca)?;
        Ok(Self { ca, ca_der, roster })
    }

    /// Identifies a peer from its certificate chain (leaf first) at `now`
    /// (unix seconds), requiring `role` if given.
    pub fn identify(
        &self,
        chain: Option<&[CertificateDer<'static>]>,
        now: i64,
        role: Option<Role>,
    ) -> Result<Participant, TlsError> {
        let leaf = chain
            .and_then(<[_]>::first)
            .ok_or(TlsError::NoCertificate)?;
        Ok(pki::verify_participant(
            &self.ca,
            &self.roster,
            "peer certificate",
            leaf.as_ref(),
            now,
            role,
        )?)
    }

    fn roots(&self) -> Result<rustls::RootCertStore, TlsError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(self.ca_der.clone()))?;
        Ok(roots)
    }
}

/// A participant's certificate and private key. The key zeroizes on drop
/// and is never printed.
pub struct Credentials {
    /// The certificate (DER).
    pub cert_der: Vec<u8>,
    pkcs8: Zeroizing<Vec<u8>>,
    seed: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("cert_der", &format_args!("{} bytes", self.cert_der.len()))
            .finish_non_exhaustive()
    }
}

/// OID 1.3.101.112 (Ed25519) inside a PKCS#8 `AlgorithmIdentifier`.
const ED25519_ALG: [u8; 7] = [0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70];
/// The private key: `OCTET STRING { OCTET STRING (32) }`.
const SEED_PREFIX: [u8; 4] = [0x04, 0x22, 0x04, 0x20];

/// The PKCS#8 v1 form of an Ed25519 seed (RFC 8410 §7).
pub fn ed25519_pkcs8(seed: &[u8; 32]) -> Zeroizing<Vec<u8>> {
    let mut v = Zeroizing::new(Vec::with_capacity(48));
    v.extend_from_slice(&[0x30, 0x2e, 0x02, 0x01, 0x00]);
    v.extend_from_slice(&ED25519_ALG);
    v.extend_from_slice(&SEED_PREFIX);
    v.extend_from_slice(seed);
    v
}

/// The Ed25519 seed of a PKCS#8 v1 or v2 key (RFC 5958 / RFC 8410).
fn ed25519_seed(file: &str, pkcs8: &[u8]) -> Result<Zeroizing<[u8; 32]>, TlsError> {
    let bad = || TlsError::NotEd25519 { file: file.into() };
    // SEQUENCE (short or one-byte long length), INTEGER version 0 or 1.
    let rest = match pkcs8 {
        [0x30, n, rest @ ..] if usize::from(*n) == rest.len() => rest,
        [0x30, 0x81, n, rest @ ..] if usize::from(*n) == rest.len() => rest,
        _ => return Err(bad()),
    };
    let rest = match rest {
        [0x02, 0x01, 0 | 1, rest @ ..] => rest,
        _ => return Err(bad()),
    };
    let rest = rest.strip_prefix(&ED25519_ALG[..]).ok_or_else(bad)?;
    let rest = rest.strip_prefix(&SEED_PREFIX[..]).ok_or_else(bad)?;
    let seed: [u8; 32] = rest
        .get(..32)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(bad)?;
    Ok(Zeroizing::new(seed))
}

impl Credentials {
    /// From a certificate (PEM or DER) and its PKCS#8 Ed25519 key; checks
    /// that the key is the certificate's.
    pub fn from_pkcs8(
        cert_file: &str,
        cert: &[u8],
        key_file: &str,
        pkcs8: &[u8],
    ) -> Result<Self, TlsError> {
        let seed = ed25519_seed(key_file, pkcs8)?;
        Self::from_seed(cert_file, cert, &seed)
    }

    /// From a certificate and the Ed25519 seed of its key (a committee
    /// member's ceremony key); checks that the key is the certificate's.
    pub fn from_seed(cert_file: &str, cert: &[u8], seed: &[u8; 32]) -> Result<Self, TlsError> {
        let cert_der = pki::pem_to_der(cert_file, cert)?;
        let public = ed25519_dalek::SigningKey::from_bytes(seed)
            .verifying_key()
            .to_bytes();
        if pki::certificate_key(cert_file, &cert_der)? != public {
            return Err(TlsError::Keys(fedhe_keys::Error::Argument(format!(
                "{cert_file}: the certificate is not for this private key"
            ))));
        }
        Ok(Self {
            cert_der,
            pkcs8: ed25519_pkcs8(seed),
            seed: Zeroizing::new(*seed),
        })
    }

    /// The Ed25519 seed: the protocol signing key.
    pub fn signing_seed(&self) -> &Zeroizing<[u8; 32]> {
        &self.seed
    }

    fn chain(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        (
            vec![CertificateDer::from(self.cert_der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.pkcs8.to_vec())),
        )
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Transport parameters shared by both ends.
#[derive(Clone, Copy, Debug)]
pub struct TransportLimits {
    /// Concurrent unidirectional streams the peer may open.
    pub max_streams: u32,
    /// Idle timeout.
    pub idle_timeout: std::time::Duration,
    /// Bytes the peer may send on one connection (over all its streams)
    /// before the application reads them: what quinn buffers per
    /// connection. On the server this bounds the data waiting for an
    /// in-flight permit at `connections × receive_window`, instead of
    /// quinn's default 1.25 MB per stream and no connection limit.
    pub receive_window: u32,
}

impl TransportLimits {
    /// Defaults for a peer that receives only small frames and the model
    /// (clients, members): quinn's per-stream default.
    pub const PEER_RECEIVE_WINDOW: u32 = 1_250_000;
}

fn transport(l: TransportLimits) -> Result<Arc<quinn::TransportConfig>, TlsError> {
    let mut t = quinn::TransportConfig::default();
    t.max_concurrent_uni_streams(l.max_streams.into());
    t.max_concurrent_bidi_streams(0u32.into());
    t.stream_receive_window(l.receive_window.into());
    t.receive_window(l.receive_window.into());
    t.max_idle_timeout(Some(
        l.idle_timeout
            .try_into()
            .map_err(|e| TlsError::Quic(format!("idle timeout: {e}")))?,
    ));
    t.keep_alive_interval(Some(l.idle_timeout / 3));
    Ok(Arc::new(t))
}

/// The server's QUIC configuration: TLS 1.3, ALPN `fedhe/1`, a client
/// certificate from the federation CA required.
pub fn server_config(
    trust: &Trust,
    me: &Credentials,
    limits: TransportLimits,
) -> Result<quinn::ServerConfig, TlsError> {
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(trust.roots()?),
        provider(),
    )
    .build()
    .map_err(|e| TlsError::Verifier(e.to_string()))?;
    let (chain, key) = me.chain();
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    cfg.alpn_protocols = vec![ALPN.to_vec()];
    cfg.max_early_data_size = 0;
    let q = quinn::crypto::rustls::QuicServerConfig::try_from(cfg)
        .map_err(|e| TlsError::Quic(e.to_string()))?;
    let mut sc = quinn::ServerConfig::with_crypto(Arc::new(q));
    sc.transport_config(transport(limits)?);
    Ok(sc)
}

/// A participant's QUIC client configuration: TLS 1.3, ALPN `fedhe/1`, the
/// server authenticated by the federation CA, our certificate presented.
pub fn client_config(
    trust: &Trust,
    me: &Credentials,
    limits: TransportLimits,
) -> Result<quinn::ClientConfig, TlsError> {
    let (chain, key) = me.chain();
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(trust.roots()?)
        .with_client_auth_cert(chain, key)?;
    cfg.alpn_protocols = vec![ALPN.to_vec()];
    let q = quinn::crypto::rustls::QuicClientConfig::try_from(cfg)
        .map_err(|e| TlsError::Quic(e.to_string()))?;
    let mut cc = quinn::ClientConfig::new(Arc::new(q));
    cc.transport_config(transport(limits)?);
    Ok(cc)
}

/// The certificate chain a QUIC peer presented.
pub fn peer_chain(conn: &quinn::Connection) -> Option<Vec<CertificateDer<'static>>> {
    conn.peer_identity()?
        .downcast::<Vec<CertificateDer<'static>>>()
        .ok()
        .map(|b| *b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs8_round_trips_and_rejects_other_keys() {
        let seed = [7u8; 32];
        let p = ed25519_pkcs8(&seed);
        assert_eq!(*ed25519_seed("k", &p).expect("v1"), seed);
        let mut wrong = p.to_vec();
        wrong[9] ^= 1; // the OID
        assert!(ed25519_seed("k", &wrong).is_err());
        assert!(ed25519_seed("k", &p[..40]).is_err());
        assert!(ed25519_seed("k", &[]).is_err());
    }
}
