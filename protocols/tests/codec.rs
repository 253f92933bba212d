//! Round trips and refusals of the codec and the frame reader.

mod common;

use common::*;
use fedhe_protocols::*;

const L: Limits = Limits::DEFAULT;

#[test]
fn every_message_round_trips_byte_identically() {
    let f = fixture();
    let msgs = f.messages();
    assert_eq!(msgs.len(), Kind::ALL.len());
    for m in &msgs {
        let bytes = encode(m);
        assert_eq!(&bytes[..3], b"FHP");
        assert_eq!(bytes[3], PROTOCOL_VERSION);
        assert_eq!(bytes[4], m.kind().byte());
        let len = u32::from_le_bytes(bytes[5..9].try_into().expect("4 bytes"));
        assert_eq!(len as usize, bytes.len() - FRAME_HEADER_LEN);
        let back = Message::decode(&bytes, &L).expect("decode");
        assert_eq!(&back, m);
        assert_eq!(encode(&back), bytes, "{:?}", m.kind());
        assert_eq!(back.federation(), FED);
        assert_eq!(back.round(), ROUND);
    }
}

#[test]
fn every_message_conforms_and_its_wire_forms_decode() {
    let f = fixture();
    let exp = f.expectations();
    for m in f.messages() {
        let back = Message::decode(&encode(&m), &L).expect("decode");
        match back.check(&f.ctx, &exp).expect("conforms") {
            Conformed::Submission(list)
            | Conformed::DecryptRequest {
                aggregate: list, ..
            } => {
                assert_eq!(list, f.list)
            }
            Conformed::DecryptShare(s) => assert_eq!(s.member().get(), 3),
            _ => {}
        }
    }
}

#[test]
fn truncated_frames_are_refused() {
    let f = fixture();
    for m in f.messages() {
        let bytes = encode(&m);
        let n = bytes.len();
        let mut cuts: Vec<usize> = (0..=FRAME_HEADER_LEN + 2).collect();
        cuts.extend([n / 2, n - 2, n - 1]);
        for k in cuts.into_iter().filter(|&k| k < n) {
            let e = Message::decode(&bytes[..k], &L).expect_err("truncated");
            assert!(
                matches!(e, Error::Truncated { .. }),
                "{:?} cut at {k}: {e}",
                m.kind()
            );
            assert_eq!(e.refusal_reason(), RefusalReason::Malformed);
        }
    }
}

#[test]
fn trailing_bytes_after_or_inside_a_frame_are_refused() {
    let f = fixture();
    for m in f.messages() {
        let mut bytes = encode(&m);
        bytes.push(0);
        let e = Message::decode(&bytes, &L).expect_err("trailing");
        assert!(matches!(e, Error::TrailingBytes { count: 1 }), "{e}");
        // The same byte counted inside the body: the body has a trailing byte.
        let len = (bytes.len() - FRAME_HEADER_LEN) as u32;
        bytes[5..9].copy_from_slice(&len.to_le_bytes());
        let e = Message::decode(&bytes, &L).expect_err("trailing in body");
        assert!(matches!(e, Error::TrailingBytes { count: 1 }), "{e}");
    }
}

#[test]
fn oversized_frames_are_refused_from_the_header() {
    let f = fixture();
    let tight = Limits {
        bulk: 1000,
        control: 100,
    };
    for m in f.messages() {
        let bytes = encode(&m);
        let body = (bytes.len() - FRAME_HEADER_LEN) as u32;
        let limit = tight.for_kind(m.kind());
        let r = Message::decode(&bytes, &tight);
        if body > limit {
            let e = r.expect_err("oversized");
            assert!(matches!(e, Error::Oversized { .. }), "{e}");
            assert_eq!(e.refusal_reason(), RefusalReason::OversizedFrame);
            // Only the header is needed to refuse.
            let e = Message::decode(&bytes[..FRAME_HEADER_LEN], &tight).expect_err("header");
            assert!(matches!(e, Error::Oversized { .. }), "{e}");
            assert!(m.encode_within(&tight).is_err());
        } else {
            assert!(r.is_ok());
        }
    }
    // A control frame just over the default control limit.
    let mut header = encode(&f.receipt.clone().into())[..FRAME_HEADER_LEN].to_vec();
    header[5..9].copy_from_slice(&(64 * 1024 + 1u32).to_le_bytes());
    let e = Message::decode(&header, &L).expect_err("oversized");
    assert!(matches!(
        e,
        Error::Oversized {
            kind: Kind::Receipt,
            len: 65537,
            limit: 65536
        }
    ));
}

#[test]
fn unknown_kinds_versions_and_magic_are_refused() {
    let f = fixture();
    let bytes = encode(&f.receipt.clone().into());
    for kind in [0u8, 8, 9, 0x7f, 0xff] {
        let mut b = bytes.clone();
        b[4] = kind;
        let e = Message::decode(&b, &L).expect_err("unknown kind");
        assert!(matches!(e, Error::UnknownKind(k) if k == kind), "{e}");
        assert_eq!(e.refusal_reason(), RefusalReason::UnknownMessageKind);
    }
    for version in [0u8, 2, 0xff] {
        let mut b = bytes.clone();
        b[3] = version;
        let e = Message::decode(&b, &L).expect_err("unknown version");
        assert!(
            matches!(e, Error::UnsupportedVersion(v) if v == version),
            "{e}"
        );
        assert_eq!(e.refusal_reason(), RefusalReason::UnsupportedVersion);
    }
    let mut b = bytes.clone();
    b[0] = b'X';
    assert!(matches!(
        Message::decode(&b, &L),
        Err(Error::BadMagic(m)) if &m == b"XHP"
    ));
}

#[test]
fn corrupted_bodies_are_refused_or_fail_conformance_or_signatures() {
    let f = fixture();
    let exp = f.expectations();
    let client = f.client_key.verifying_key();
    let server = f.server_key.verifying_key();
    let member = f.member_key.verifying_key();
    let pd = *f.ctx.digest();
    for m in f.messages() {
        let bytes = encode(&m);
        let body_len = bytes.len() - FRAME_HEADER_LEN;
        // Every byte of small bodies; a spread of positions in large ones.
        let step = (body_len / 400).max(1);
        for pos in (FRAME_HEADER_LEN..bytes.len()).step_by(step) {
            for flip in [0x01u8, 0x80] {
                let mut b = bytes.clone();
                b[pos] ^= flip;
                let Ok(back) = Message::decode(&b, &L) else {
                    continue;
                };
                // What decodes is canonical: it re-encodes to the same bytes.
                assert_eq!(encode(&back), b, "a flip at {pos} is not canonical");
                let conforms = back.check(&f.ctx, &exp).is_ok();
                let accepted = conforms
                    && match &back {
                        Message::Submission(s) => s.verify(&pd, &client).is_ok(),
                        Message::Receipt(r) => r.verify(SERVER, &server).is_ok(),
                        Message::DecryptShare(s) => {
                            s.verify(&pd, &f.list.digest(), &member).is_ok()
                        }
                        Message::DecryptRequest(r) => {
                            r.verify_contributions(&pd, |p| (p == CLIENT).then_some(client))
                                .is_ok()
                                && r.set == f.request.set
                        }
                        // Unsigned messages: a flip changes a value.
                        _ => false,
                    };
                assert!(!accepted, "{:?}: a flip at {pos} was accepted", m.kind());
            }
        }
    }
}

#[test]
fn unknown_refusal_codes_and_bad_enum_tags_are_malformed() {
    let f = fixture();
    let mut bytes = encode(&f.refusal.clone().into());
    let last = bytes.len() - 1;
    assert_eq!(bytes[last], 0, "ReplayedSubmission is code 0");
    bytes[last] = 100;
    let e = Message::decode(&bytes, &L).expect_err("unknown reason");
    assert!(
        matches!(
            e,
            Error::Malformed {
                kind: Kind::Refusal,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn over_long_varints_are_not_canonical() {
    let f = fixture();
    let mut r = f.receipt.clone();
    r.round = RoundId(1);
    let bytes = encode(&r.into());
    // Body: federation (16 raw bytes), then the round as a varint.
    let at = FRAME_HEADER_LEN + 16;
    assert_eq!(bytes[at], 1);
    let mut long = bytes[..at].to_vec();
    long.extend_from_slice(&[0x81, 0x00]);
    long.extend_from_slice(&bytes[at + 1..]);
    let len = (long.len() - FRAME_HEADER_LEN) as u32;
    long[5..9].copy_from_slice(&len.to_le_bytes());
    let e = Message::decode(&long, &L).expect_err("non-canonical");
    assert!(
        matches!(
            e,
            Error::NonCanonical {
                kind: Kind::Receipt
            }
        ),
        "{e}"
    );
}

#[test]
fn refusal_codes_are_stable() {
    use RefusalReason::*;
    let all = [
        ReplayedSubmission,
        StaleRound,
        WrongParameterDigest,
        WrongPublicKeyDigest,
        BadSignature,
        UnknownSender,
        BelowMinimumContributors,
        CiphertextAlreadyAnswered,
        OversizedFrame,
        UnknownMessageKind,
        UnsupportedVersion,
        Malformed,
        BudgetExceeded,
        NotInDecryptingSet,
        WrongFederation,
        DigestMismatch,
        DeadlinePassed,
        DuplicateSender,
    ];
    for (i, r) in all.into_iter().enumerate() {
        assert_eq!(r.code() as usize, i);
        let m: Message = Refusal {
            federation: FED,
            round: RoundId(1),
            reason: r,
        }
        .into();
        let b = encode(&m);
        assert_eq!(b.len(), FRAME_HEADER_LEN + 16 + 1 + 1);
        assert_eq!(*b.last().expect("byte") as usize, i);
    }
}

/// A known answer: the SPEC's example refusal frame, byte for byte.
#[test]
fn refusal_frame_known_answer() {
    let m: Message = Refusal {
        federation: FederationId([0xab; 16]),
        round: RoundId(300),
        reason: RefusalReason::StaleRound,
    }
    .into();
    let hex: String = encode(&m).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        "464850 01 07 13000000 abababababababababababababababab ac02 01".replace(' ', "")
    );
}

#[test]
fn frame_reader_reassembles_any_chunking() {
    let f = fixture();
    let msgs = f.messages();
    let stream: Vec<u8> = msgs.iter().flat_map(encode).collect();
    for chunk in [1usize, 2, 7, 9, 100, 4096, stream.len()] {
        let mut r = FrameReader::new(L);
        let mut got = Vec::new();
        for piece in stream.chunks(chunk) {
            r.push(piece).expect("push");
            while let Some(m) = r.next_message().expect("frame") {
                got.push(m);
            }
        }
        assert_eq!(got, msgs, "chunk {chunk}");
        assert_eq!(r.buffered(), 0);
    }
    let frames = FrameReader::read_all(&stream, &L).expect("all");
    assert_eq!(frames.len(), msgs.len());
    let e = FrameReader::read_all(&stream[..stream.len() - 1], &L).expect_err("cut");
    assert!(matches!(e, Error::Truncated { .. }), "{e}");
}

#[test]
fn frame_reader_refuses_a_4_gib_header_before_allocating() {
    let mut header = [0u8; FRAME_HEADER_LEN];
    header[..3].copy_from_slice(b"FHP");
    header[3] = PROTOCOL_VERSION;
    header[4] = Kind::Submission.byte();
    header[5..9].copy_from_slice(&u32::MAX.to_le_bytes());
    // Header pushed whole.
    let mut r = FrameReader::new(L);
    let e = r.push(&header).expect_err("4 GiB");
    assert!(matches!(e, Error::Oversized { len: u32::MAX, .. }), "{e}");
    assert_eq!(r.buffered(), 0, "nothing was buffered");
    assert!(
        r.push(b"x").is_err() && r.next_frame().is_err(),
        "the reader stays failed"
    );
    // Header pushed a byte at a time: refused on its ninth byte.
    let mut r = FrameReader::new(L);
    for b in &header[..8] {
        r.push(&[*b]).expect("partial header");
        assert!(r.next_frame().expect("nothing yet").is_none());
    }
    assert!(matches!(r.push(&header[8..]), Err(Error::Oversized { .. })));
    assert!(r.buffered() <= 8);
    // Even with the largest limits the reader buffers only what arrives.
    let huge = Limits {
        bulk: u32::MAX,
        control: u32::MAX,
    };
    let mut r = FrameReader::new(huge);
    r.push(&header).expect("allowed by these limits");
    r.push(&[0; 1000]).expect("body bytes");
    assert!(r.next_frame().expect("incomplete").is_none());
    assert_eq!(r.buffered(), FRAME_HEADER_LEN + 1000);
}

#[test]
fn frame_reader_bounds_its_buffer() {
    let limits = Limits {
        bulk: 100,
        control: 50,
    };
    let mut r = FrameReader::new(limits);
    let e = r.push(&[0u8; 200]).expect_err("bad header and too much");
    assert!(matches!(e, Error::BadMagic(_)), "{e}");
    let f = fixture();
    let receipt = encode(&f.receipt.clone().into());
    let mut r = FrameReader::new(Limits {
        bulk: 200,
        control: 200,
    });
    // Two receipts fit within one bound only if drained in between.
    let many: Vec<u8> = receipt
        .iter()
        .chain(&receipt)
        .chain(&receipt)
        .copied()
        .collect();
    assert!(matches!(r.push(&many), Err(Error::Reader(_))));
    let mut r = FrameReader::new(Limits {
        bulk: 200,
        control: 200,
    });
    for _ in 0..3 {
        r.push(&receipt).expect("push");
        assert!(r.next_frame().expect("frame").is_some());
    }
}
