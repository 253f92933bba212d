//! Frames over QUIC streams.
//!
//! One protocol frame per unidirectional stream: the sender opens a stream,
//! writes the frame and finishes it; the receiver reads the 9-byte header,
//! checks it (magic, version, kind, length against the kind's limit) before
//! allocating anything, reads exactly the body into one buffer and requires
//! the stream to end there. Streams give each message its own flow control,
//! so a large ciphertext list never blocks a small receipt, and the number of
//! streams a peer may open at once (a transport parameter) bounds what one
//! peer can have in flight.

use fedhe_protocols::Kind;
use fedhe_protocols::{FRAME_HEADER_LEN, FrameHeader, Limits};

/// Why a received stream did not yield a frame.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The header is not a valid frame header (bad magic, version, unknown
    /// kind, or a length over the kind's limit).
    #[error("bad frame header: {0}")]
    Header(#[from] fedhe_protocols::Error),
    /// The stream ended before the frame did.
    #[error("the stream ended after {got} of {expected} bytes")]
    Truncated {
        /// Bytes read.
        got: usize,
        /// Bytes the header announced (with the header).
        expected: usize,
    },
    /// Bytes after the frame.
    #[error("bytes after the frame's end")]
    Trailing,
    /// The stream was reset or the connection lost.
    #[error("stream: {0}")]
    Read(String),
    /// Sending failed.
    #[error("sending: {0}")]
    Write(String),
}

impl WireError {
    /// A short label (for metrics and logs).
    pub fn label(&self) -> &'static str {
        match self {
            WireError::Header(fedhe_protocols::Error::Oversized { .. }) => "oversized",
            WireError::Header(fedhe_protocols::Error::UnknownKind(_)) => "unknown_kind",
            WireError::Header(_) => "bad_header",
            WireError::Truncated { .. } => "truncated",
            WireError::Trailing => "trailing_bytes",
            WireError::Read(_) => "stream_error",
            WireError::Write(_) => "send_error",
        }
    }
}

fn read_err(e: impl std::fmt::Display) -> WireError {
    WireError::Read(e.to_string())
}

async fn read_exactly(
    recv: &mut quinn::RecvStream,
    buf: &mut [u8],
    offset: usize,
    expected: usize,
) -> Result<(), WireError> {
    recv.read_exact(buf).await.map_err(|e| match e {
        quinn::ReadExactError::FinishedEarly(n) => WireError::Truncated {
            got: offset + n,
            expected,
        },
        quinn::ReadExactError::ReadError(e) => read_err(e),
    })
}

/// Reads one frame (header and body, as [`fedhe_protocols::Message::decode`]
/// takes it) from a stream, within `limits`.
pub async fn read_frame(
    recv: &mut quinn::RecvStream,
    limits: &Limits,
) -> Result<(Kind, Vec<u8>), WireError> {
    let mut header = [0u8; FRAME_HEADER_LEN];
    read_exactly(recv, &mut header, 0, FRAME_HEADER_LEN).await?;
    let h = FrameHeader::parse(&header, limits)?;
    let total = FRAME_HEADER_LEN + h.len as usize;
    let mut frame = vec![0u8; total];
    frame[..FRAME_HEADER_LEN].copy_from_slice(&header);
    read_exactly(
        recv,
        &mut frame[FRAME_HEADER_LEN..],
        FRAME_HEADER_LEN,
        total,
    )
    .await?;
    let mut probe = [0u8; 1];
    match recv.read(&mut probe).await.map_err(read_err)? {
        None => Ok((h.kind, frame)),
        Some(_) => Err(WireError::Trailing),
    }
}

/// Sends one frame on a new stream of `conn` (copied once into the
/// connection's send buffer, as a write would).
pub async fn send_frame(conn: &quinn::Connection, frame: &[u8]) -> Result<(), WireError> {
    send_frame_shared(conn, bytes::Bytes::copy_from_slice(frame)).await
}

/// Sends one frame on a new stream of `conn` without copying it into the
/// connection's send buffer: the same frame sent to many peers (a round
/// open carrying the model) is held once, however many connections still
/// have it in flight.
pub async fn send_frame_shared(
    conn: &quinn::Connection,
    frame: bytes::Bytes,
) -> Result<(), WireError> {
    let mut send = conn
        .open_uni()
        .await
        .map_err(|e| WireError::Write(e.to_string()))?;
    send.write_chunk(frame)
        .await
        .map_err(|e| WireError::Write(e.to_string()))?;
    send.finish().map_err(|e| WireError::Write(e.to_string()))?;
    Ok(())
}
