//! Arbitrary and mutated bytes never make a decoder, the frame reader or
//! conformance panic.

mod common;

use std::sync::OnceLock;

use common::*;
use fedhe_protocols::*;
use proptest::prelude::*;

fn frames() -> &'static (Fixture, Vec<Vec<u8>>) {
    static F: OnceLock<(Fixture, Vec<Vec<u8>>)> = OnceLock::new();
    F.get_or_init(|| {
        let f = fixture();
        let frames = f.messages().iter().map(encode).collect();
        (f, frames)
    })
}

fn everything(bytes: &[u8], chunk: usize) {
    let (f, _) = frames();
    let exp = f.expectations();
    for limits in [
        Limits::DEFAULT,
        Limits {
            bulk: 64,
            control: 16,
        },
    ] {
        if let Ok(m) = Message::decode(bytes, &limits) {
            assert_eq!(encode(&m), bytes, "decoded frames are canonical");
            let _ = m.check(&f.ctx, &exp);
        }
        let _ = split_frame(bytes, &limits);
        let _ = FrameReader::read_all(bytes, &limits);
        for kind in Kind::ALL {
            let _ = decode_body(kind, bytes);
        }
        let mut r = FrameReader::new(limits);
        for piece in bytes.chunks(chunk.max(1)) {
            if r.push(piece).is_err() {
                break;
            }
            while let Ok(Some(frame)) = r.next_frame() {
                if let Ok(m) = frame.decode() {
                    let _ = m.check(&f.ctx, &exp);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512), chunk in 1usize..64) {
        everything(&bytes, chunk);
    }

    #[test]
    fn arbitrary_bytes_behind_a_valid_header(
        kind in 0u8..9,
        body in proptest::collection::vec(any::<u8>(), 0..512),
        chunk in 1usize..64,
    ) {
        let mut bytes = b"FHP".to_vec();
        bytes.push(PROTOCOL_VERSION);
        bytes.push(kind);
        bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&body);
        everything(&bytes, chunk);
    }

    #[test]
    fn mutated_valid_frames(
        which in 0usize..7,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
        chunk in 1usize..4096,
    ) {
        let (_, frames) = frames();
        let mut bytes = frames[which].clone();
        for (at, v) in edits {
            let i = at.index(bytes.len());
            bytes[i] = v;
        }
        if truncate {
            let keep = cut.index(bytes.len());
            bytes.truncate(keep);
        }
        everything(&bytes, chunk);
    }
}
