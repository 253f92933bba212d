//! Canonical JSON and strict hex: the byte forms of every public file.
//!
//! Every public file is the pretty JSON (`serde_json::to_vec_pretty`, then a
//! newline) of a typed value whose structs refuse unknown fields. A reader
//! decodes, re-encodes and requires the result to equal the file byte for byte,
//! so one value has exactly one file form and any change to a file is a change
//! to the value (caught by a signature or a consistency check), never a
//! silently ignored one. Byte strings are lowercase hex; the decoder refuses
//! uppercase, odd lengths and wrong lengths. Signatures cover the compact JSON
//! (`serde_json::to_vec`) of the signed body, behind a domain-separation label.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Result, malformed};

/// Lowercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// Strict lowercase hex decoding.
pub fn from_hex(s: &str) -> std::result::Result<Vec<u8>, String> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    if !s.len().is_multiple_of(2) {
        return Err(format!("hex string of odd length {}", s.len()));
    }
    s.as_bytes()
        .chunks_exact(2)
        .map(|p| match (digit(p[0]), digit(p[1])) {
            (Some(h), Some(l)) => Ok(h << 4 | l),
            _ => Err("not lowercase hex".to_string()),
        })
        .collect()
}

/// Bytes serialised as lowercase hex.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Hex(pub Vec<u8>);

impl Serialize for Hex {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&to_hex(&self.0))
    }
}

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        from_hex(&s).map(Hex).map_err(serde::de::Error::custom)
    }
}

/// `N` bytes serialised as lowercase hex of exactly `2N` digits.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct HexN<const N: usize>(pub [u8; N]);

impl<const N: usize> Serialize for HexN<N> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&to_hex(&self.0))
    }
}

impl<'de, const N: usize> Deserialize<'de> for HexN<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let v = from_hex(&s).map_err(serde::de::Error::custom)?;
        let a: [u8; N] = v.try_into().map_err(|v: Vec<u8>| {
            serde::de::Error::custom(format!("{} bytes, expected {N}", v.len()))
        })?;
        Ok(HexN(a))
    }
}

impl<const N: usize> HexN<N> {
    /// Hex form.
    pub fn hex(&self) -> String {
        to_hex(&self.0)
    }
}

/// The canonical file form of `value`.
pub fn to_file_bytes<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising plain structs of strings, integers and vectors cannot fail.
    let mut v = serde_json::to_vec_pretty(value).unwrap_or_default();
    v.push(b'\n');
    v
}

/// Decodes a file, requiring it to be in canonical form.
pub fn from_file_bytes<T: Serialize + DeserializeOwned>(
    file: &str,
    expected: &'static str,
    bytes: &[u8],
) -> Result<T> {
    let value: T =
        serde_json::from_slice(bytes).map_err(|e| malformed(file, expected, e.to_string()))?;
    if to_file_bytes(&value) != bytes {
        return Err(malformed(
            file,
            expected,
            "not in canonical form (the file was edited or altered)",
        ));
    }
    Ok(value)
}

/// The bytes a signature covers: a label, a zero byte, the compact JSON of the body.
pub fn signed_bytes<T: Serialize>(label: &str, body: &T) -> Vec<u8> {
    let mut v = label.as_bytes().to_vec();
    v.push(0);
    v.extend_from_slice(&serde_json::to_vec(body).unwrap_or_default());
    v
}

/// BLAKE3 digest of a value's canonical file form under a context string.
pub fn digest<T: Serialize>(context: &str, value: &T) -> [u8; 32] {
    blake3::derive_key(context, &to_file_bytes(value))
}
