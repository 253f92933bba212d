//! Keys at rest: Argon2id → XChaCha20-Poly1305, the whole header as AAD.
//!
//! Layout of a sealed file (integers little-endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `"FHEKSEAL"` |
//! | 8 | 2 | format version, 1 |
//! | 10 | 1 | kind: 1 member ceremony key, 2 committee key share, 3 CA key, 4 participant TLS key |
//! | 11 | 4 | Argon2id memory cost in KiB |
//! | 15 | 4 | Argon2id iterations |
//! | 19 | 4 | Argon2id lanes |
//! | 23 | 16 | salt |
//! | 39 | 24 | XChaCha20 nonce |
//! | 63 | 4 | length `L` of the public metadata |
//! | 67 | `L` | public metadata: UTF-8 JSON (who holds the key, which ceremony, which key id) |
//! | 67+L | rest | ciphertext and 16-byte tag |
//!
//! Bytes `0..67+L` are the AEAD's associated data, so a changed cost, salt,
//! kind or metadata fails authentication exactly as a changed ciphertext or a
//! wrong passphrase does. The payload is zeroized after use.

use argon2::{Algorithm, Argon2, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::error::{Error, Result, malformed};

const MAGIC: &[u8; 8] = b"FHEKSEAL";
const VERSION: u16 = 1;
const FIXED: usize = 67;

/// What a sealed file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealedKind {
    /// A committee member's ceremony key (Ed25519 seed and HPKE seed).
    MemberKey,
    /// A committee member's threshold key share (`K` wire form).
    KeyShare,
    /// The federation CA's private key (PKCS#8).
    CaKey,
    /// A participant's TLS private key (PKCS#8).
    ParticipantKey,
}

impl SealedKind {
    fn byte(self) -> u8 {
        match self {
            SealedKind::MemberKey => 1,
            SealedKind::KeyShare => 2,
            SealedKind::CaKey => 3,
            SealedKind::ParticipantKey => 4,
        }
    }
    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            SealedKind::MemberKey => "member ceremony key",
            SealedKind::KeyShare => "committee key share",
            SealedKind::CaKey => "CA key",
            SealedKind::ParticipantKey => "participant key",
        }
    }
}

/// Argon2id cost. The default is m = 64 MiB, t = 3, p = 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfCost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
    /// Lanes.
    pub lanes: u32,
}

impl Default for KdfCost {
    fn default() -> Self {
        Self {
            memory_kib: 64 * 1024,
            iterations: 3,
            lanes: 1,
        }
    }
}

/// Largest cost a reader accepts (a file cannot make the reader allocate
/// more than 4 GiB or loop for long).
const MAX_MEMORY_KIB: u32 = 4 * 1024 * 1024;
const MAX_ITERATIONS: u32 = 64;
const MAX_LANES: u32 = 16;

impl KdfCost {
    fn check(&self) -> std::result::Result<(), String> {
        if self.lanes == 0 || self.lanes > MAX_LANES {
            return Err(format!(
                "Argon2id lanes {}: expected 1..={MAX_LANES}",
                self.lanes
            ));
        }
        if self.iterations == 0 || self.iterations > MAX_ITERATIONS {
            return Err(format!(
                "Argon2id iterations {}: expected 1..={MAX_ITERATIONS}",
                self.iterations
            ));
        }
        if self.memory_kib < 8 * self.lanes || self.memory_kib > MAX_MEMORY_KIB {
            return Err(format!(
                "Argon2id memory {} KiB: expected {}..={MAX_MEMORY_KIB}",
                self.memory_kib,
                8 * self.lanes
            ));
        }
        Ok(())
    }

    fn derive(&self, passphrase: &[u8], salt: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
        let params = argon2::Params::new(self.memory_kib, self.iterations, self.lanes, Some(32))
            .map_err(|e| Error::Argument(format!("Argon2id parameters: {e}")))?;
        let mut key = Zeroizing::new([0u8; 32]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(passphrase, salt, key.as_mut())
            .map_err(|e| Error::Crypto(format!("Argon2id: {e}")))?;
        Ok(key)
    }
}

/// A passphrase, zeroized on drop and never printed.
pub struct Passphrase(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(redacted)")
    }
}

impl Passphrase {
    /// Takes the bytes (a trailing newline, as left by `echo` or an editor, is removed).
    pub fn new(mut bytes: Vec<u8>) -> Result<Self> {
        while matches!(bytes.last(), Some(b'\n' | b'\r')) {
            bytes.pop();
        }
        let p = Self(Zeroizing::new(bytes));
        if p.0.is_empty() {
            return Err(Error::Argument("the passphrase is empty".into()));
        }
        Ok(p)
    }

    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// A sealed file's public header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedHeader {
    /// What it holds.
    pub kind: SealedKind,
    /// Its Argon2id cost.
    pub cost: KdfCost,
    /// Its public metadata (JSON).
    pub metadata: String,
}

/// Encrypts `payload` under `passphrase`, with a fresh salt and nonce from `rng`.
pub fn seal<R: CryptoRng + ?Sized>(
    kind: SealedKind,
    cost: KdfCost,
    metadata: &str,
    passphrase: &Passphrase,
    payload: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>> {
    cost.check().map_err(Error::Argument)?;
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 24];
    rng.fill_bytes(&mut salt);
    rng.fill_bytes(&mut nonce);
    let meta = metadata.as_bytes();
    let meta_len = u32::try_from(meta.len())
        .map_err(|_| Error::Argument("metadata longer than 4 GiB".into()))?;
    let mut out = Vec::with_capacity(FIXED + meta.len() + payload.len() + 16);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.push(kind.byte());
    out.extend_from_slice(&cost.memory_kib.to_le_bytes());
    out.extend_from_slice(&cost.iterations.to_le_bytes());
    out.extend_from_slice(&cost.lanes.to_le_bytes());
    out.extend_from_slice(&salt);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&meta_len.to_le_bytes());
    out.extend_from_slice(meta);
    let key = cost.derive(passphrase.bytes(), &salt)?;
    let aead = XChaCha20Poly1305::new((&*key).into());
    let ct = aead
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: payload,
                aad: &out,
            },
        )
        .map_err(|_| Error::Crypto("XChaCha20-Poly1305 encryption".into()))?;
    out.extend_from_slice(&ct);
    Ok(out)
}

fn take<'a>(bytes: &'a [u8], at: usize, len: usize, file: &str) -> Result<&'a [u8]> {
    bytes
        .get(at..at + len)
        .ok_or_else(|| malformed(file, "sealed key file", format!("truncated at byte {at}")))
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

/// Reads a sealed file's public header without the passphrase.
pub fn read_header(
    file: &str,
    bytes: &[u8],
    expected: SealedKind,
) -> Result<(SealedHeader, usize)> {
    let what = "sealed key file";
    if take(bytes, 0, 8, file)? != MAGIC {
        return Err(malformed(file, what, "bad magic: expected \"FHEKSEAL\""));
    }
    let v = take(bytes, 8, 2, file)?;
    let version = u16::from_le_bytes([v[0], v[1]]);
    if version != VERSION {
        return Err(malformed(
            file,
            what,
            format!("format version {version}: expected {VERSION}"),
        ));
    }
    let k = take(bytes, 10, 1, file)?[0];
    if k != expected.byte() {
        return Err(malformed(
            file,
            what,
            format!(
                "kind byte {k}: expected {} ({})",
                expected.byte(),
                expected.name()
            ),
        ));
    }
    let cost = KdfCost {
        memory_kib: le_u32(take(bytes, 11, 4, file)?),
        iterations: le_u32(take(bytes, 15, 4, file)?),
        lanes: le_u32(take(bytes, 19, 4, file)?),
    };
    cost.check().map_err(|e| malformed(file, what, e))?;
    let meta_len = le_u32(take(bytes, 63, 4, file)?) as usize;
    if meta_len > bytes.len() {
        return Err(malformed(
            file,
            what,
            format!("metadata length {meta_len} exceeds the file"),
        ));
    }
    let meta = take(bytes, FIXED, meta_len, file)?;
    let metadata = String::from_utf8(meta.to_vec())
        .map_err(|_| malformed(file, what, "metadata is not UTF-8"))?;
    let header_len = FIXED + meta_len;
    if bytes.len() < header_len + 16 {
        return Err(malformed(file, what, "truncated: no ciphertext and tag"));
    }
    Ok((
        SealedHeader {
            kind: expected,
            cost,
            metadata,
        },
        header_len,
    ))
}

/// Decrypts a sealed file; a wrong passphrase or any altered byte gives [`Error::Unseal`].
pub fn open(
    file: &str,
    bytes: &[u8],
    expected: SealedKind,
    passphrase: &Passphrase,
) -> Result<(SealedHeader, Zeroizing<Vec<u8>>)> {
    let (header, header_len) = read_header(file, bytes, expected)?;
    let salt = take(bytes, 23, 16, file)?;
    let mut nonce = [0u8; 24];
    nonce.copy_from_slice(take(bytes, 39, 24, file)?);
    let key = header.cost.derive(passphrase.bytes(), salt)?;
    let aead = XChaCha20Poly1305::new((&*key).into());
    let (aad, ct) = bytes.split_at(header_len);
    let pt = aead
        .decrypt(&XNonce::from(nonce), Payload { msg: ct, aad })
        .map_err(|_| Error::Unseal {
            file: file.to_string(),
            kind: expected.name(),
        })?;
    Ok((header, Zeroizing::new(pt)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    const TEST_COST: KdfCost = KdfCost {
        memory_kib: 64,
        iterations: 1,
        lanes: 1,
    };

    fn pass(s: &str) -> Passphrase {
        Passphrase::new(s.as_bytes().to_vec()).expect("passphrase")
    }

    #[test]
    fn round_trip_wrong_passphrase_and_every_flipped_byte_fail() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let sealed = seal(
            SealedKind::KeyShare,
            TEST_COST,
            "{\"member\":3}",
            &pass("correct horse"),
            b"secret payload",
            &mut rng,
        )
        .expect("seal");
        let (h, pt) =
            open("k", &sealed, SealedKind::KeyShare, &pass("correct horse")).expect("open");
        assert_eq!(&pt[..], b"secret payload");
        assert_eq!(h.metadata, "{\"member\":3}");
        assert_eq!(h.cost, TEST_COST);
        let e = open("k.sealed", &sealed, SealedKind::KeyShare, &pass("wrong")).expect_err("wrong");
        assert!(matches!(e, Error::Unseal { .. }), "{e}");
        assert!(e.to_string().contains("k.sealed"));
        assert!(open("k", &sealed, SealedKind::MemberKey, &pass("correct horse")).is_err());
        for i in 0..sealed.len() {
            let mut b = sealed.clone();
            b[i] ^= 0x01;
            assert!(
                open("k", &b, SealedKind::KeyShare, &pass("correct horse")).is_err(),
                "flip at {i} accepted"
            );
        }
        for cut in [0, 10, 66, sealed.len() - 1] {
            assert!(
                open(
                    "k",
                    &sealed[..cut],
                    SealedKind::KeyShare,
                    &pass("correct horse")
                )
                .is_err()
            );
        }
    }

    #[test]
    fn default_cost_is_sound_and_bad_costs_are_refused() {
        let d = KdfCost::default();
        assert_eq!((d.memory_kib, d.iterations, d.lanes), (65536, 3, 1));
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let bad = KdfCost {
            memory_kib: 4,
            iterations: 1,
            lanes: 1,
        };
        assert!(seal(SealedKind::CaKey, bad, "", &pass("x"), b"", &mut rng).is_err());
        assert!(Passphrase::new(b"\n".to_vec()).is_err());
        assert_eq!(format!("{:?}", pass("hunter2")), "Passphrase(redacted)");
    }
}
