//! Binary wire forms of public keys, public-key shares, ciphertext lists,
//! key shares and decryption shares.
//!
//! Every form starts with a 22-byte header:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic: `"FHE"` then a kind byte: `P` public key, `S` public-key share, `C` ciphertext list, `K` key share, `D` decryption share |
//! | 4 | 2 | format version, `u16` little-endian, currently 1 |
//! | 6 | 16 | parameter-set digest: the first 16 bytes of [`crate::Params::digest`] |
//!
//! then the body (all integers little-endian):
//!
//! - `P`: CRS seed (32 bytes), polynomial `p`.
//! - `S`: member index `u16`, polynomial `p_i`.
//! - `C`: value count `u32`, then for each of the `⌈count/N⌉` ciphertexts
//!   the polynomials `c_0` (coefficient form) and `c_1`
//!   (evaluation form, below).
//! - `K`: member index `u16`, polynomial `sk_k` (a secret: encrypted at rest by the key ceremony).
//! - `H`: dealer index `u16`, recipient index `u16`, polynomial `f_i(k)` (a
//!   Shamir share: a secret, sent only inside the key ceremony's HPKE envelopes).
//! - `D`: member index `u16`, set size `u16` (must be `t`), the set's member
//!   indices (`u16` each, strictly increasing, containing the member), the
//!   ciphertext-list digest (32 bytes), polynomial count `u32`, the polynomials.
//!
//! A polynomial is its residues in coefficient form, prime by prime
//! (`q_1` first), each prime's `N` residues bit-packed at `⌈log2 q_j⌉` bits:
//! residue `i`'s bit `b` is bit `i·bits_j + b` of the limb's bit stream, and
//! stream bit `k` is bit `k mod 8` of byte `⌊k/8⌋`. A limb takes exactly
//! `N·bits_j/8` bytes (no padding, as `N` is a multiple of 8). So a
//! ciphertext costs `2·N·Σ_j ⌈log2 q_j⌉` bits.
//!
//! A polynomial in *evaluation form* (only `c_1`) is laid out the same way,
//! but its `i`-th residue modulo `q_j` is the value `c_1(ψ_j^{2·rev(i)+1})
//! mod q_j`, where `rev` reverses `log2 N` bits and `ψ_j` is the primitive
//! `2N`-th root of unity of `fedhe_ring::RingContext::ntt_roots` (printed by
//! `fedhe params --json` as `ntt_roots`). The inverse transform recovers the
//! coefficients.
//!
//! Decoders check, in order: total length against the header's counts (before
//! allocating), magic, version, parameter digest, counts, member indices, every
//! residue `< q_j`, and that no byte trails. Every failure is an
//! [`Error::Wire`] naming the form and what was expected; none panics.

use std::sync::Arc;

use fedhe_ring::{NttPoly, Poly};
use zeroize::Zeroizing;

use crate::context::HeContext;
use crate::decrypt::DecryptionShare;
use crate::encrypt::{Ciphertext, CiphertextList};
use crate::error::{Error, Result};
use crate::keys::{Crs, MemberId, PublicKey, PublicKeyShare};
use crate::threshold::{DecryptingSet, KeyShare, ShamirShare};

/// Current wire format version.
pub const WIRE_VERSION: u16 = 1;
/// Header length in bytes.
pub const HEADER_LEN: usize = 22;
/// Bytes of the parameter digest carried in the header (a 128-bit prefix of
/// [`crate::Params::digest`]: a conformance check against mixing parameter
/// sets, not a security binding; signatures in the protocol cover full digests).
pub const HEADER_DIGEST_LEN: usize = 16;

#[derive(Clone, Copy)]
enum Kind {
    PublicKey,
    PublicKeyShare,
    Ciphertexts,
    KeyShare,
    ShamirShare,
    DecryptionShare,
}

impl Kind {
    fn byte(self) -> u8 {
        match self {
            Kind::PublicKey => b'P',
            Kind::PublicKeyShare => b'S',
            Kind::Ciphertexts => b'C',
            Kind::KeyShare => b'K',
            Kind::ShamirShare => b'H',
            Kind::DecryptionShare => b'D',
        }
    }
    fn name(self) -> &'static str {
        match self {
            Kind::PublicKey => "public key",
            Kind::PublicKeyShare => "public-key share",
            Kind::Ciphertexts => "ciphertext list",
            Kind::KeyShare => "key share",
            Kind::ShamirShare => "Shamir share",
            Kind::DecryptionShare => "decryption share",
        }
    }
}

/// Bytes of one packed polynomial.
pub fn packed_poly_len(ctx: &HeContext) -> usize {
    let n = ctx.params().degree;
    ctx.ring()
        .moduli()
        .iter()
        .map(|m| n * m.bits() as usize / 8)
        .sum()
}

fn write_header(out: &mut Vec<u8>, ctx: &HeContext, kind: Kind) {
    out.extend_from_slice(b"FHE");
    out.push(kind.byte());
    out.extend_from_slice(&WIRE_VERSION.to_le_bytes());
    out.extend_from_slice(&ctx.digest()[..HEADER_DIGEST_LEN]);
}

fn write_poly(out: &mut Vec<u8>, ctx: &HeContext, p: &Poly) {
    write_residues(out, ctx, p.as_slice());
}

fn write_ntt_poly(out: &mut Vec<u8>, ctx: &HeContext, p: &NttPoly) {
    write_residues(out, ctx, p.as_slice());
}

fn write_residues(out: &mut Vec<u8>, ctx: &HeContext, residues: &[u64]) {
    let ring = ctx.ring();
    for (j, m) in ring.moduli().iter().enumerate() {
        let bits = m.bits();
        let start = out.len();
        out.resize(start + ring.degree() * bits as usize / 8, 0);
        let dst = &mut out[start..];
        let mut acc: u128 = 0;
        let mut nbits = 0u32;
        let mut pos = 0usize;
        for &r in &residues[j * ring.degree()..(j + 1) * ring.degree()] {
            acc |= u128::from(r) << nbits;
            nbits += bits;
            if nbits >= 64 {
                // The limb is exactly N·bits/8 bytes, so a full word always fits here.
                if let Some(w) = dst.get_mut(pos..pos + 8) {
                    w.copy_from_slice(&(acc as u64).to_le_bytes());
                }
                pos += 8;
                acc >>= 64;
                nbits -= 64;
            }
        }
        let tail = (nbits / 8) as usize;
        if let Some(w) = dst.get_mut(pos..pos + tail) {
            w.copy_from_slice(&acc.to_le_bytes()[..tail]);
        }
    }
}

/// A cursor over input bytes that never panics.
struct Reader<'a> {
    what: &'static str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn err(&self, reason: impl Into<String>) -> Error {
        Error::Wire {
            what: self.what,
            reason: reason.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| {
                self.err(format!(
                    "truncated: needed {n} bytes at offset {}, {} left",
                    self.pos,
                    self.bytes.len() - self.pos
                ))
            })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const K: usize>(&mut self) -> Result<[u8; K]> {
        let mut a = [0u8; K];
        a.copy_from_slice(self.take(K)?);
        Ok(a)
    }

    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn header(&mut self, ctx: &HeContext, kind: Kind) -> Result<()> {
        let magic: [u8; 4] = self.array()?;
        if magic != [b'F', b'H', b'E', kind.byte()] {
            return Err(self.err(format!(
                "bad magic {magic:02x?}: expected \"FHE{}\"",
                kind.byte() as char
            )));
        }
        let version = self.u16()?;
        if version != WIRE_VERSION {
            return Err(self.err(format!(
                "unsupported format version {version}: expected {WIRE_VERSION}"
            )));
        }
        let digest: [u8; HEADER_DIGEST_LEN] = self.array()?;
        if digest[..] != ctx.digest()[..HEADER_DIGEST_LEN] {
            return Err(self.err("parameter digest does not match the expected parameter set"));
        }
        Ok(())
    }

    fn member(&mut self, ctx: &HeContext) -> Result<MemberId> {
        let m = self.u16()?;
        let n = ctx.params().committee.members;
        if m == 0 || m > n {
            return Err(self.err(format!("member index {m}: expected 1..={n}")));
        }
        MemberId::new(m)
    }

    fn poly(&mut self, ctx: &HeContext) -> Result<Poly> {
        let data = self.residues(ctx)?;
        Ok(ctx.ring().poly_from_residues(data)?)
    }

    fn ntt_poly(&mut self, ctx: &HeContext) -> Result<NttPoly> {
        let data = self.residues(ctx)?;
        Ok(ctx.ring().ntt_poly_from_residues(data)?)
    }

    fn residues(&mut self, ctx: &HeContext) -> Result<Vec<u64>> {
        let ring = ctx.ring();
        let n = ring.degree();
        let mut data = Vec::with_capacity(ring.poly_len());
        for m in ring.moduli() {
            let bits = m.bits();
            let mask = (1u64 << bits) - 1;
            let bytes = self.take(n * bits as usize / 8)?;
            let mut acc: u128 = 0;
            let mut nbits = 0u32;
            let mut chunks = bytes.chunks(8);
            for i in 0..n {
                while nbits < bits {
                    let chunk = chunks.next().unwrap_or(&[]);
                    let mut w = [0u8; 8];
                    w[..chunk.len()].copy_from_slice(chunk);
                    acc |= u128::from(u64::from_le_bytes(w)) << nbits;
                    nbits += 8 * chunk.len() as u32;
                    if chunk.is_empty() {
                        return Err(self.err("internal: packed limb shorter than expected"));
                    }
                }
                let r = (acc as u64) & mask;
                acc >>= bits;
                nbits -= bits;
                if r >= m.value() {
                    return Err(self.err(format!(
                        "residue {r} at coefficient {i} is not below its modulus {}",
                        m.value()
                    )));
                }
                data.push(r);
            }
        }
        Ok(data)
    }

    fn finish(&self) -> Result<()> {
        if self.pos != self.bytes.len() {
            return Err(self.err(format!(
                "{} trailing bytes after the encoding",
                self.bytes.len() - self.pos
            )));
        }
        Ok(())
    }

    fn expect_len(&self, expected: Option<usize>) -> Result<()> {
        match expected {
            Some(e) if e == self.bytes.len() => Ok(()),
            Some(e) if e > self.bytes.len() => Err(self.err(format!(
                "truncated: {} bytes, expected {e}",
                self.bytes.len()
            ))),
            Some(e) => Err(self.err(format!(
                "{} trailing bytes: {} bytes, expected {e}",
                self.bytes.len() - e,
                self.bytes.len()
            ))),
            None => Err(self.err("declared counts overflow")),
        }
    }
}

fn reader<'a>(what: &'static str, bytes: &'a [u8]) -> Reader<'a> {
    Reader {
        what,
        bytes,
        pos: 0,
    }
}

impl PublicKey {
    /// Encodes the key (`P` form).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + 32 + packed_poly_len(&self.ctx));
        write_header(&mut out, &self.ctx, Kind::PublicKey);
        out.extend_from_slice(self.crs.seed());
        write_poly(&mut out, &self.ctx, &self.p);
        out
    }

    /// Decodes and checks a key against `ctx`.
    pub fn from_bytes(ctx: &Arc<HeContext>, bytes: &[u8]) -> Result<Self> {
        let mut r = reader(Kind::PublicKey.name(), bytes);
        r.expect_len(Some(HEADER_LEN + 32 + packed_poly_len(ctx)))?;
        r.header(ctx, Kind::PublicKey)?;
        let seed: [u8; 32] = r.array()?;
        let p = r.poly(ctx)?;
        r.finish()?;
        Ok(PublicKey::from_parts(ctx, Crs::from_seed(seed), p))
    }
}

impl PublicKeyShare {
    /// Encodes the share (`S` form).
    pub fn to_bytes(&self, ctx: &HeContext) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + 2 + packed_poly_len(ctx));
        write_header(&mut out, ctx, Kind::PublicKeyShare);
        out.extend_from_slice(&self.member.get().to_le_bytes());
        write_poly(&mut out, ctx, &self.p);
        out
    }

    /// Decodes and checks a public-key share against `ctx`.
    pub fn from_bytes(ctx: &HeContext, bytes: &[u8]) -> Result<Self> {
        let mut r = reader(Kind::PublicKeyShare.name(), bytes);
        r.expect_len(Some(HEADER_LEN + 2 + packed_poly_len(ctx)))?;
        r.header(ctx, Kind::PublicKeyShare)?;
        let member = r.member(ctx)?;
        let p = r.poly(ctx)?;
        r.finish()?;
        Ok(PublicKeyShare { member, p })
    }
}

impl CiphertextList {
    /// Encodes the list (`C` form).
    pub fn to_bytes(&self) -> Vec<u8> {
        let pl = packed_poly_len(&self.ctx);
        let mut out = Vec::with_capacity(HEADER_LEN + 4 + 2 * pl * self.cts.len());
        write_header(&mut out, &self.ctx, Kind::Ciphertexts);
        out.extend_from_slice(&(self.len as u32).to_le_bytes());
        for ct in &self.cts {
            write_poly(&mut out, &self.ctx, &ct.c0);
            write_ntt_poly(&mut out, &self.ctx, &ct.c1);
        }
        out
    }

    /// Encoded size of a list of `values` values.
    pub fn encoded_len(ctx: &HeContext, values: usize) -> usize {
        HEADER_LEN + 4 + 2 * packed_poly_len(ctx) * ctx.ciphertexts_for(values)
    }

    /// Decodes and checks a ciphertext list against `ctx`.
    pub fn from_bytes(ctx: &Arc<HeContext>, bytes: &[u8]) -> Result<Self> {
        let mut r = reader(Kind::Ciphertexts.name(), bytes);
        // The count sits after the header; read it first to check the length
        // before any allocation.
        if bytes.len() < HEADER_LEN + 4 {
            return Err(r.err(format!(
                "truncated: {} bytes, a header and count take {}",
                bytes.len(),
                HEADER_LEN + 4
            )));
        }
        let mut peek = reader(Kind::Ciphertexts.name(), &bytes[HEADER_LEN..]);
        let len = peek.u32()?;
        let count = ctx.ciphertexts_for(len as usize);
        let expected = (2 * packed_poly_len(ctx))
            .checked_mul(count)
            .and_then(|b| b.checked_add(HEADER_LEN + 4));
        r.expect_len(expected)?;
        r.header(ctx, Kind::Ciphertexts)?;
        r.take(4)?;
        let mut cts = Vec::with_capacity(count);
        for _ in 0..count {
            let c0 = r.poly(ctx)?;
            let c1 = r.ntt_poly(ctx)?;
            cts.push(Ciphertext { c0, c1 });
        }
        r.finish()?;
        let len = len as usize;
        // Strict decoding means the accepted bytes are the canonical encoding,
        // so their hash is the list's digest: no re-encoding needed.
        let digest = std::sync::OnceLock::new();
        let _ = digest.set(crate::encrypt::digest_bytes(bytes));
        Ok(CiphertextList {
            ctx: ctx.clone(),
            len,
            cts,
            digest,
        })
    }
}

impl KeyShare {
    /// Encodes the secret key share (`K` form) into a buffer zeroized on drop.
    /// Callers encrypt it before it touches a disk.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(
            HEADER_LEN + 2 + packed_poly_len(&self.ctx),
        ));
        write_header(&mut out, &self.ctx, Kind::KeyShare);
        out.extend_from_slice(&self.member.get().to_le_bytes());
        write_poly(&mut out, &self.ctx, &self.sk);
        out
    }

    /// Decodes and checks a key share against `ctx`.
    pub fn from_bytes(ctx: &Arc<HeContext>, bytes: &[u8]) -> Result<Self> {
        let mut r = reader(Kind::KeyShare.name(), bytes);
        r.expect_len(Some(HEADER_LEN + 2 + packed_poly_len(ctx)))?;
        r.header(ctx, Kind::KeyShare)?;
        let member = r.member(ctx)?;
        let sk = r.poly(ctx)?;
        r.finish()?;
        Ok(KeyShare::from_poly(ctx, member, sk))
    }
}

impl ShamirShare {
    /// Encodes the secret Shamir share (`H` form) into a buffer zeroized on
    /// drop. Callers encrypt it to its recipient before it leaves the process.
    pub fn to_bytes(&self, ctx: &HeContext) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(HEADER_LEN + 4 + packed_poly_len(ctx)));
        write_header(&mut out, ctx, Kind::ShamirShare);
        out.extend_from_slice(&self.from.get().to_le_bytes());
        out.extend_from_slice(&self.to.get().to_le_bytes());
        write_poly(&mut out, ctx, &self.value);
        out
    }

    /// Decodes and checks a Shamir share against `ctx`.
    pub fn from_bytes(ctx: &HeContext, bytes: &[u8]) -> Result<Self> {
        let mut r = reader(Kind::ShamirShare.name(), bytes);
        r.expect_len(Some(HEADER_LEN + 4 + packed_poly_len(ctx)))?;
        r.header(ctx, Kind::ShamirShare)?;
        let from = r.member(ctx)?;
        let to = r.member(ctx)?;
        let value = r.poly(ctx)?;
        r.finish()?;
        Ok(ShamirShare { from, to, value })
    }
}

impl DecryptionShare {
    /// Encodes the share (`D` form).
    pub fn to_bytes(&self, ctx: &HeContext) -> Vec<u8> {
        let t = self.set.members().len();
        let mut out = Vec::with_capacity(
            HEADER_LEN + 4 + 2 * t + 36 + packed_poly_len(ctx) * self.shares.len(),
        );
        write_header(&mut out, ctx, Kind::DecryptionShare);
        out.extend_from_slice(&self.member.get().to_le_bytes());
        out.extend_from_slice(&(t as u16).to_le_bytes());
        for m in self.set.members() {
            out.extend_from_slice(&m.get().to_le_bytes());
        }
        out.extend_from_slice(&self.ct_digest);
        out.extend_from_slice(&(self.shares.len() as u32).to_le_bytes());
        for p in &self.shares {
            write_poly(&mut out, ctx, p);
        }
        out
    }

    /// Decodes and checks a decryption share against `ctx`.
    pub fn from_bytes(ctx: &HeContext, bytes: &[u8]) -> Result<Self> {
        let mut r = reader(Kind::DecryptionShare.name(), bytes);
        let t = usize::from(ctx.params().committee.threshold);
        let fixed = HEADER_LEN + 4 + 2 * t + 36;
        if bytes.len() < fixed {
            return Err(r.err(format!(
                "truncated: {} bytes, the fixed part takes {fixed}",
                bytes.len()
            )));
        }
        let mut peek = reader(Kind::DecryptionShare.name(), &bytes[fixed - 4..fixed]);
        let count = peek.u32()? as usize;
        r.expect_len(
            packed_poly_len(ctx)
                .checked_mul(count)
                .and_then(|b| b.checked_add(fixed)),
        )?;
        r.header(ctx, Kind::DecryptionShare)?;
        let member = r.member(ctx)?;
        let size = r.u16()?;
        if usize::from(size) != t {
            return Err(r.err(format!(
                "decrypting set of {size} members: expected t = {t}"
            )));
        }
        let mut members = Vec::with_capacity(t);
        for _ in 0..t {
            let m = r.member(ctx)?;
            if members.last().is_some_and(|&last| last >= m) {
                return Err(r.err("decrypting set members must be strictly increasing"));
            }
            members.push(m);
        }
        let set = DecryptingSet::new(ctx, &members)?;
        if !set.contains(member) {
            return Err(r.err(format!("{member} is not in the decrypting set it claims")));
        }
        let ct_digest: [u8; 32] = r.array()?;
        r.take(4)?;
        let mut shares = Vec::with_capacity(count);
        for _ in 0..count {
            shares.push(r.poly(ctx)?);
        }
        r.finish()?;
        Ok(DecryptionShare {
            member,
            set,
            ct_digest,
            params_digest: *ctx.digest(),
            shares,
        })
    }
}
