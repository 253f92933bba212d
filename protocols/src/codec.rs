//! Framing and the versioned binary codec (SPEC.md §2–§3).
//!
//! A frame is a 9-byte header, `"FHP" | version u8 | kind u8 | length u32
//! LE`, then `length` bytes of body: the message in postcard's encoding.
//! The header is checked completely (magic, version, kind, then the length
//! against the kind's limit) before a single byte of body is read or
//! allocated. Bodies must be canonical and exact: no trailing byte inside
//! or after a frame, no over-long varint.
//!
//! [`Message::decode`] takes exactly one frame; [`split_frame`] takes one
//! frame off the front of a buffer; [`FrameReader`] assembles frames from
//! an incremental byte feed (sans-IO: the caller reads the socket).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::messages::{Kind, Message};

/// The frame magic.
pub const MAGIC: [u8; 3] = *b"FHP";
/// The protocol (and frame) version this implementation speaks.
pub const PROTOCOL_VERSION: u8 = 1;
/// Frame header length.
pub const FRAME_HEADER_LEN: usize = 9;

/// Maximum body sizes, checked from the header before any allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Limit for bulk kinds ([`Kind::is_bulk`]): models, ciphertexts,
    /// shares, contributor lists.
    pub bulk: u32,
    /// Limit for control kinds (receipts, refusals).
    pub control: u32,
}

impl Limits {
    /// 64 MiB for bulk kinds, 64 KiB for control kinds.
    pub const DEFAULT: Limits = Limits {
        bulk: 64 << 20,
        control: 64 << 10,
    };

    /// The body limit of `kind`.
    pub fn for_kind(&self, kind: Kind) -> u32 {
        if kind.is_bulk() {
            self.bulk
        } else {
            self.control
        }
    }

    /// The largest body any kind may have.
    pub fn max_body(&self) -> u32 {
        self.bulk.max(self.control)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// A parsed and checked frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// The message kind.
    pub kind: Kind,
    /// Body length, within the kind's limit.
    pub len: u32,
}

impl FrameHeader {
    /// Checks a header: magic, version, kind, then length against `limits`.
    pub fn parse(bytes: &[u8; FRAME_HEADER_LEN], limits: &Limits) -> Result<Self> {
        let [m0, m1, m2, version, kind, l0, l1, l2, l3] = *bytes;
        if [m0, m1, m2] != MAGIC {
            return Err(Error::BadMagic([m0, m1, m2]));
        }
        if version != PROTOCOL_VERSION {
            return Err(Error::UnsupportedVersion(version));
        }
        let kind = Kind::from_byte(kind).ok_or(Error::UnknownKind(kind))?;
        let len = u32::from_le_bytes([l0, l1, l2, l3]);
        let limit = limits.for_kind(kind);
        if len > limit {
            return Err(Error::Oversized { kind, len, limit });
        }
        Ok(FrameHeader { kind, len })
    }

    /// The header's bytes.
    pub fn to_bytes(&self) -> [u8; FRAME_HEADER_LEN] {
        let l = self.len.to_le_bytes();
        [
            MAGIC[0],
            MAGIC[1],
            MAGIC[2],
            PROTOCOL_VERSION,
            self.kind.byte(),
            l[0],
            l[1],
            l[2],
            l[3],
        ]
    }
}

/// A frame with a checked header and a body not yet decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    /// The message kind.
    pub kind: Kind,
    /// The body.
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("kind", &self.kind)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl Frame {
    /// Decodes the body as its kind's message.
    pub fn decode(&self) -> Result<Message> {
        decode_body(self.kind, &self.body)
    }
}

/// Reads one frame off the front of `buf`: `Ok(None)` if `buf` holds only
/// part of it (a header that is complete is checked first, so an oversized
/// or unknown frame fails without waiting for its body), else the frame's
/// kind, its body and the bytes consumed.
pub fn split_frame<'a>(buf: &'a [u8], limits: &Limits) -> Result<Option<(Kind, &'a [u8], usize)>> {
    let Some(header) = buf.first_chunk::<FRAME_HEADER_LEN>() else {
        return Ok(None);
    };
    let h = FrameHeader::parse(header, limits)?;
    let end = FRAME_HEADER_LEN + h.len as usize;
    match buf.get(FRAME_HEADER_LEN..end) {
        Some(body) => Ok(Some((h.kind, body, end))),
        None => Ok(None),
    }
}

fn body_of<T: DeserializeOwned + Serialize>(kind: Kind, body: &[u8]) -> Result<T> {
    let (value, rest) = postcard::take_from_bytes::<T>(body).map_err(|e| Error::Malformed {
        kind,
        reason: e.to_string(),
    })?;
    if !rest.is_empty() {
        return Err(Error::TrailingBytes { count: rest.len() });
    }
    // Values round-trip exactly and postcard refuses overflowing varints, so
    // a re-encoding of the same length is byte-identical: the only freedom
    // left is an over-long varint, which makes the input longer.
    let size = postcard::serialize_with_flavor(&value, postcard::ser_flavors::Size::default())
        .map_err(|e| Error::Malformed {
            kind,
            reason: e.to_string(),
        })?;
    if size != body.len() {
        return Err(Error::NonCanonical { kind });
    }
    Ok(value)
}

/// Decodes a body of `kind`.
pub fn decode_body(kind: Kind, body: &[u8]) -> Result<Message> {
    Ok(match kind {
        Kind::RoundOpen => Message::RoundOpen(body_of(kind, body)?),
        Kind::Submission => Message::Submission(body_of(kind, body)?),
        Kind::Receipt => Message::Receipt(body_of(kind, body)?),
        Kind::DecryptRequest => Message::DecryptRequest(body_of(kind, body)?),
        Kind::DecryptShare => Message::DecryptShare(body_of(kind, body)?),
        Kind::RoundResult => Message::RoundResult(body_of(kind, body)?),
        Kind::Refusal => Message::Refusal(body_of(kind, body)?),
    })
}

fn encode_body<T: Serialize>(m: &T, out: &mut Vec<u8>) -> Result<()> {
    let body = postcard::to_stdvec(m).map_err(|e| Error::Encode(e.to_string()))?;
    out.extend_from_slice(&body);
    Ok(())
}

impl Message {
    /// Encodes the message as one frame. Fails only if the body exceeds
    /// `u32::MAX` bytes; the receiver's limits are its own business (a
    /// sender can check [`Message::encode_within`]).
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(FRAME_HEADER_LEN + 64);
        out.extend_from_slice(&[0; FRAME_HEADER_LEN]);
        match self {
            Message::RoundOpen(m) => encode_body(m, &mut out)?,
            Message::Submission(m) => encode_body(m, &mut out)?,
            Message::Receipt(m) => encode_body(m, &mut out)?,
            Message::DecryptRequest(m) => encode_body(m, &mut out)?,
            Message::DecryptShare(m) => encode_body(m, &mut out)?,
            Message::RoundResult(m) => encode_body(m, &mut out)?,
            Message::Refusal(m) => encode_body(m, &mut out)?,
        }
        let len = u32::try_from(out.len() - FRAME_HEADER_LEN)
            .map_err(|_| Error::Encode("body exceeds 4 GiB".into()))?;
        let header = FrameHeader {
            kind: self.kind(),
            len,
        };
        out[..FRAME_HEADER_LEN].copy_from_slice(&header.to_bytes());
        Ok(out)
    }

    /// As [`Message::encode`], refusing a frame the receiver's `limits`
    /// would refuse.
    pub fn encode_within(&self, limits: &Limits) -> Result<Vec<u8>> {
        let out = self.encode()?;
        let len = (out.len() - FRAME_HEADER_LEN) as u32;
        let limit = limits.for_kind(self.kind());
        if len > limit {
            return Err(Error::Oversized {
                kind: self.kind(),
                len,
                limit,
            });
        }
        Ok(out)
    }

    /// Decodes exactly one frame (structural decoding only; conformance is
    /// [`Message::check`]).
    pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Message> {
        let Some(header) = bytes.first_chunk::<FRAME_HEADER_LEN>() else {
            return Err(Error::Truncated {
                needed: FRAME_HEADER_LEN as u64,
                available: bytes.len(),
            });
        };
        let h = FrameHeader::parse(header, limits)?;
        let needed = FRAME_HEADER_LEN as u64 + u64::from(h.len);
        let have = bytes.len() as u64;
        if have < needed {
            return Err(Error::Truncated {
                needed,
                available: bytes.len(),
            });
        }
        if have > needed {
            return Err(Error::TrailingBytes {
                count: (have - needed) as usize,
            });
        }
        decode_body(h.kind, &bytes[FRAME_HEADER_LEN..])
    }
}

/// Assembles frames from a byte feed, bounded: it never holds more than one
/// header plus the largest allowed body, and it checks each header as soon
/// as its nine bytes are in, so a peer that announces 4 GiB is refused
/// before anything is allocated for it.
///
/// Feed it with [`FrameReader::push`] and drain it with
/// [`FrameReader::next_frame`] until `Ok(None)` before pushing again. After
/// an error the stream is out of step and the reader refuses everything:
/// drop the connection.
#[derive(Debug)]
pub struct FrameReader {
    limits: Limits,
    buf: Vec<u8>,
    start: usize,
    /// End, relative to `start`, of the frame at `start` if its header has
    /// been checked (else 0): how far the buffer may grow ahead of the
    /// bytes in hand.
    frame_end: usize,
    failed: bool,
}

impl FrameReader {
    /// A reader with `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            buf: Vec::new(),
            start: 0,
            frame_end: 0,
            failed: false,
        }
    }

    /// The largest number of bytes the reader buffers.
    pub fn capacity_bound(&self) -> usize {
        FRAME_HEADER_LEN + self.limits.max_body() as usize
    }

    /// Bytes buffered and not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Appends bytes from the peer. Refuses (and fails the reader) if the
    /// buffer would exceed [`FrameReader::capacity_bound`] or if a complete
    /// header is bad.
    pub fn push(&mut self, bytes: &[u8]) -> Result<()> {
        if self.failed {
            return Err(Error::Reader("the stream failed earlier"));
        }
        // Check the header first from whatever is at hand, before growing
        // the buffer for a body that will be refused.
        let pending = self.buffered();
        if pending < FRAME_HEADER_LEN {
            let mut header = [0u8; FRAME_HEADER_LEN];
            let have = &self.buf[self.start..];
            let take = (FRAME_HEADER_LEN - pending).min(bytes.len());
            header[..pending].copy_from_slice(have);
            header[pending..pending + take].copy_from_slice(&bytes[..take]);
            if pending + take == FRAME_HEADER_LEN {
                match FrameHeader::parse(&header, &self.limits) {
                    Ok(h) => self.frame_end = FRAME_HEADER_LEN + h.len as usize,
                    Err(e) => {
                        self.failed = true;
                        return Err(e);
                    }
                }
            }
        }
        if pending + bytes.len() > self.capacity_bound() {
            self.failed = true;
            return Err(Error::Reader(
                "buffer bound exceeded: drain frames before pushing more",
            ));
        }
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        // Grow by doubling, but never past the larger of the current
        // frame's end and what is actually in hand: memory follows the bytes
        // received, not the sizes a peer announces.
        let want = self.buf.len() + bytes.len();
        if want > self.buf.capacity() {
            let target = (2 * self.buf.capacity())
                .max(want)
                .min(self.frame_end.max(want));
            self.buf.reserve_exact(target - self.buf.len());
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// The next complete frame, if any.
    pub fn next_frame(&mut self) -> Result<Option<Frame>> {
        if self.failed {
            return Err(Error::Reader("the stream failed earlier"));
        }
        match split_frame(&self.buf[self.start..], &self.limits) {
            Ok(Some((kind, body, used))) => {
                let frame = Frame {
                    kind,
                    body: body.to_vec(),
                };
                self.start += used;
                if self.start == self.buf.len() {
                    self.buf.clear();
                    self.start = 0;
                }
                // The next frame's end, if its header is already here (a bad
                // header is reported by the next call).
                self.frame_end = self.buf[self.start..]
                    .first_chunk::<FRAME_HEADER_LEN>()
                    .and_then(|h| FrameHeader::parse(h, &self.limits).ok())
                    .map_or(0, |h| FRAME_HEADER_LEN + h.len as usize);
                Ok(Some(frame))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    /// The next complete frame, decoded.
    pub fn next_message(&mut self) -> Result<Option<Message>> {
        match self.next_frame()? {
            Some(f) => f.decode().map(Some),
            None => Ok(None),
        }
    }

    /// Every frame in `buf`, which must end on a frame boundary.
    pub fn read_all(buf: &[u8], limits: &Limits) -> Result<Vec<Frame>> {
        let mut frames = Vec::new();
        let mut rest = buf;
        while !rest.is_empty() {
            match split_frame(rest, limits)? {
                Some((kind, body, used)) => {
                    frames.push(Frame {
                        kind,
                        body: body.to_vec(),
                    });
                    rest = &rest[used..];
                }
                None => {
                    let needed = match rest.first_chunk::<FRAME_HEADER_LEN>() {
                        Some(h) => {
                            FRAME_HEADER_LEN as u64 + u64::from(FrameHeader::parse(h, limits)?.len)
                        }
                        None => FRAME_HEADER_LEN as u64,
                    };
                    return Err(Error::Truncated {
                        needed,
                        available: rest.len(),
                    });
                }
            }
        }
        Ok(frames)
    }
}
