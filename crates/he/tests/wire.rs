//! Round trips of every wire form, and the strict decoders' refusals:
//! truncated, extended, out-of-range, wrong-parameter and corrupted input.

use std::sync::Arc;

use fedhe_he::params::{COMPACT, DEFAULT};
use fedhe_he::wire::HEADER_LEN;
use fedhe_he::{
    CiphertextList, Committee, Crs, DealtCommittee, DecryptingSet, DecryptionShare, Error,
    HeContext, KeyShare, MemberId, MemberSecret, PublicKey, PublicKeyGen, PublicKeyShare,
    partial_decrypt,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

struct Fixture {
    ctx: Arc<HeContext>,
    other: Arc<HeContext>,
    pk: Vec<u8>,
    pk_share: Vec<u8>,
    cts: Vec<u8>,
    key_share: Vec<u8>,
    dec_share: Vec<u8>,
}

fn fixture() -> Fixture {
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let ctx = HeContext::new(
        DEFAULT
            .deployment(
                8,
                Committee {
                    threshold: 2,
                    members: 3,
                },
            )
            .expect("d"),
    )
    .expect("valid");
    let other = HeContext::new(COMPACT.params()).expect("valid");
    let committee = DealtCommittee::deal(&ctx, &mut rng).expect("deal");
    let list =
        CiphertextList::encrypt(&committee.public_key, &[5u64; 5000], &mut rng).expect("encrypt");
    let set = DecryptingSet::new(
        &ctx,
        &[MemberId::new(1).expect("id"), MemberId::new(3).expect("id")],
    )
    .expect("set");
    let share = partial_decrypt(&committee.key_shares[2], &set, &list, &mut rng).expect("share");
    let secret = MemberSecret::generate(&ctx, &mut rng);
    let pks = PublicKeyGen::new(&ctx, Crs::generate(&mut rng))
        .gen_share(MemberId::new(2).expect("id"), &secret, &mut rng)
        .expect("share");
    Fixture {
        pk: committee.public_key.to_bytes(),
        pk_share: pks.to_bytes(&ctx),
        cts: list.to_bytes(),
        key_share: committee.key_shares[1].to_bytes().to_vec(),
        dec_share: share.to_bytes(&ctx),
        ctx,
        other,
    }
}

/// Decodes `bytes` as `kind` under `ctx`, re-encoding what decodes.
fn decode(kind: &str, ctx: &Arc<HeContext>, bytes: &[u8]) -> Result<Vec<u8>, Error> {
    Ok(match kind {
        "pk" => PublicKey::from_bytes(ctx, bytes)?.to_bytes(),
        "pk_share" => PublicKeyShare::from_bytes(ctx, bytes)?.to_bytes(ctx),
        "cts" => CiphertextList::from_bytes(ctx, bytes)?.to_bytes(),
        "key_share" => KeyShare::from_bytes(ctx, bytes)?.to_bytes().to_vec(),
        "dec_share" => DecryptionShare::from_bytes(ctx, bytes)?.to_bytes(ctx),
        _ => unreachable!(),
    })
}

fn all(f: &Fixture) -> Vec<(&'static str, &Vec<u8>)> {
    vec![
        ("pk", &f.pk),
        ("pk_share", &f.pk_share),
        ("cts", &f.cts),
        ("key_share", &f.key_share),
        ("dec_share", &f.dec_share),
    ]
}

#[test]
fn every_form_round_trips() {
    let f = fixture();
    for (kind, bytes) in all(&f) {
        assert_eq!(&decode(kind, &f.ctx, bytes).expect(kind), bytes, "{kind}");
    }
    // The decoder's digest (hashed from the accepted bytes) is the list's digest.
    let decoded = CiphertextList::from_bytes(&f.ctx, &f.cts).expect("decode");
    let mut recomputed = decoded.clone();
    recomputed
        .add_assign(&CiphertextList::zero(&f.ctx, decoded.len()))
        .expect("add zero");
    assert_eq!(decoded.digest(), recomputed.digest());
    // Bit-packed: a ciphertext costs 2·N·(50+50) bits plus a small header.
    let per_ct = 2 * 4096 * 100 / 8;
    assert_eq!(f.cts.len(), HEADER_LEN + 4 + 2 * per_ct);
}

#[test]
fn truncated_and_extended_input_is_refused() {
    let f = fixture();
    for (kind, bytes) in all(&f) {
        for cut in [
            0usize,
            1,
            4,
            HEADER_LEN - 1,
            HEADER_LEN,
            HEADER_LEN + 3,
            bytes.len() / 2,
            bytes.len() - 1,
        ] {
            assert!(
                matches!(decode(kind, &f.ctx, &bytes[..cut]), Err(Error::Wire { .. })),
                "{kind} truncated to {cut}"
            );
        }
        for extra in [1usize, 7, 1000] {
            let mut long = bytes.clone();
            long.extend(std::iter::repeat_n(0u8, extra));
            assert!(
                matches!(decode(kind, &f.ctx, &long), Err(Error::Wire { .. })),
                "{kind} + {extra}"
            );
        }
    }
}

#[test]
fn wrong_parameters_magic_and_version_are_refused() {
    let f = fixture();
    for (kind, bytes) in all(&f) {
        assert!(
            decode(kind, &f.other, bytes).is_err(),
            "{kind} under other params"
        );
        let mut b = bytes.clone();
        b[10] ^= 1; // inside the parameter digest
        assert!(
            matches!(decode(kind, &f.ctx, &b), Err(Error::Wire { .. })),
            "{kind} digest"
        );
        let mut b = bytes.clone();
        b[3] = b'X';
        assert!(
            matches!(decode(kind, &f.ctx, &b), Err(Error::Wire { .. })),
            "{kind} magic"
        );
        let mut b = bytes.clone();
        b[4] = 2;
        assert!(
            matches!(decode(kind, &f.ctx, &b), Err(Error::Wire { .. })),
            "{kind} version"
        );
    }
    // A public key offered as a ciphertext list is refused by its magic or length.
    assert!(CiphertextList::from_bytes(&f.ctx, &f.pk).is_err());
}

#[test]
fn out_of_range_residues_are_refused() {
    let f = fixture();
    // The first residue of the first polynomial: set its 50 bits to all ones,
    // which is ≥ q_1 (q_1 < 2^50).
    let offsets = [
        ("pk", HEADER_LEN + 32),
        ("pk_share", HEADER_LEN + 2),
        ("cts", HEADER_LEN + 4),
        ("key_share", HEADER_LEN + 2),
    ];
    for (kind, off) in offsets {
        let mut b = all(&f)
            .into_iter()
            .find(|(k, _)| *k == kind)
            .expect("kind")
            .1
            .clone();
        for byte in &mut b[off..off + 6] {
            *byte = 0xff;
        }
        b[off + 6] |= 0x03;
        match decode(kind, &f.ctx, &b) {
            Err(Error::Wire { reason, .. }) => {
                assert!(reason.contains("not below its modulus"), "{kind}: {reason}")
            }
            other => panic!("{kind}: expected an out-of-range refusal, got {other:?}"),
        }
    }
}

#[test]
fn bad_counts_members_and_sets_are_refused() {
    let f = fixture();
    // Ciphertext list: a declared value count that needs more (or fewer)
    // ciphertexts than the bytes hold, up to the largest count.
    for declared in [100_000u32, 4096, 0, u32::MAX] {
        let mut b = f.cts.clone();
        b[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&declared.to_le_bytes());
        assert!(
            matches!(
                CiphertextList::from_bytes(&f.ctx, &b),
                Err(Error::Wire { .. })
            ),
            "{declared}"
        );
    }
    // A count that still needs two ciphertexts decodes (only the count differs).
    let mut b = f.cts.clone();
    b[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&4097u32.to_le_bytes());
    assert_eq!(
        CiphertextList::from_bytes(&f.ctx, &b)
            .expect("4097 values")
            .len(),
        4097
    );
    // Member index 0 and beyond n.
    for m in [0u16, 4, u16::MAX] {
        let mut b = f.key_share.clone();
        b[HEADER_LEN..HEADER_LEN + 2].copy_from_slice(&m.to_le_bytes());
        assert!(KeyShare::from_bytes(&f.ctx, &b).is_err(), "member {m}");
    }
    // Decryption share: set not increasing, wrong size, member outside its set.
    let set_off = HEADER_LEN + 4;
    let mut b = f.dec_share.clone();
    b[set_off..set_off + 4].copy_from_slice(&[3, 0, 1, 0]);
    assert!(DecryptionShare::from_bytes(&f.ctx, &b).is_err());
    let mut b = f.dec_share.clone();
    b[HEADER_LEN + 2..HEADER_LEN + 4].copy_from_slice(&3u16.to_le_bytes());
    assert!(DecryptionShare::from_bytes(&f.ctx, &b).is_err());
    let mut b = f.dec_share.clone();
    b[HEADER_LEN..HEADER_LEN + 2].copy_from_slice(&2u16.to_le_bytes());
    assert!(DecryptionShare::from_bytes(&f.ctx, &b).is_err());
}

#[test]
fn single_byte_corruption_never_panics() {
    let f = fixture();
    for (kind, bytes) in all(&f) {
        let step = (bytes.len() / 200).max(1);
        for off in (0..bytes.len()).step_by(step) {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[off] ^= flip;
                // Either a typed error, or (a flip inside residue bits that
                // stays below q) a value that re-encodes to exactly these bytes.
                if let Ok(re) = decode(kind, &f.ctx, &b) {
                    assert_eq!(re, b, "{kind} offset {off}");
                }
            }
        }
    }
}
