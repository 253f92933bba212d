//! Encrypt → sum → threshold decrypt, across committee shapes and subsets,
//! and the refusals that keep shares from being misused.

use std::sync::Arc;

use fedhe_he::params::{COMPACT, DEFAULT};
use fedhe_he::{
    CiphertextList, Committee, DealtCommittee, DecryptingSet, DecryptionBudget, Error, HeContext,
    MemberId, combine, partial_decrypt,
};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

fn ctx(preset: fedhe_he::Preset, t: u16, n: u16, k: u32) -> Arc<HeContext> {
    HeContext::new(
        preset
            .deployment(
                k,
                Committee {
                    threshold: t,
                    members: n,
                },
            )
            .expect("deployment"),
    )
    .expect("valid")
}

fn ids(v: &[u16]) -> Vec<MemberId> {
    v.iter()
        .map(|&i| MemberId::new(i).expect("nonzero"))
        .collect()
}

/// Encrypts `k` random vectors of `len` values, sums them, and returns the
/// aggregate with the plaintext sum mod T.
fn aggregate(
    ctx: &Arc<HeContext>,
    committee: &DealtCommittee,
    k: usize,
    len: usize,
    rng: &mut ChaCha20Rng,
) -> (CiphertextList, Vec<u64>) {
    let mask = ctx.params().plaintext_modulus() - 1;
    let mut sum = CiphertextList::zero(ctx, len);
    let mut plain = vec![0u64; len];
    for _ in 0..k {
        let v: Vec<u64> = (0..len).map(|_| rng.next_u64() & mask).collect();
        for (p, x) in plain.iter_mut().zip(&v) {
            *p = (*p + x) & mask;
        }
        let ct = CiphertextList::encrypt(&committee.public_key, &v, rng).expect("encrypt");
        sum.add_assign(&ct).expect("add");
    }
    (sum, plain)
}

fn decrypt_with(
    committee: &DealtCommittee,
    set: &DecryptingSet,
    cts: &CiphertextList,
    rng: &mut ChaCha20Rng,
) -> Vec<u64> {
    let shares: Vec<_> = set
        .members()
        .iter()
        .map(|m| {
            partial_decrypt(
                &committee.key_shares[usize::from(m.get()) - 1],
                set,
                cts,
                rng,
            )
            .expect("share")
        })
        .collect();
    combine(cts, set, &shares).expect("combine")
}

#[test]
fn threshold_decryption_is_exact_for_every_committee_shape() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    for (t, n) in [(1u16, 1u16), (2, 3), (3, 5), (5, 7)] {
        for preset in [DEFAULT, COMPACT] {
            let ctx = ctx(preset, t, n, 16);
            let committee = DealtCommittee::deal(&ctx, &mut rng).expect("deal");
            // A length that is not a multiple of N exercises the padding.
            let (sum, plain) = aggregate(&ctx, &committee, 7, 5000, &mut rng);
            let set =
                DecryptingSet::new(&ctx, &ids(&(n - t + 1..=n).collect::<Vec<_>>())).expect("set");
            assert_eq!(
                decrypt_with(&committee, &set, &sum, &mut rng),
                plain,
                "{}: {t}-of-{n}",
                preset.name
            );
        }
    }
}

#[test]
fn every_qualified_subset_gives_the_same_answer() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let ctx = ctx(DEFAULT, 3, 5, 8);
    let committee = DealtCommittee::deal(&ctx, &mut rng).expect("deal");
    let (sum, plain) = aggregate(&ctx, &committee, 4, 300, &mut rng);
    let mut subsets = 0;
    for a in 1..=5u16 {
        for b in a + 1..=5 {
            for c in b + 1..=5 {
                // A fresh re-randomisation per set, as the protocol requires.
                let mut cts = sum.clone();
                cts.rerandomize(&committee.public_key, &mut rng)
                    .expect("rerandomize");
                let set = DecryptingSet::new(&ctx, &ids(&[a, b, c])).expect("set");
                assert_eq!(
                    decrypt_with(&committee, &set, &cts, &mut rng),
                    plain,
                    "set {a},{b},{c}"
                );
                subsets += 1;
            }
        }
    }
    assert_eq!(subsets, 10);
}

#[test]
fn mixed_sets_other_ciphertexts_and_missing_members_are_refused() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let ctx = ctx(DEFAULT, 2, 3, 8);
    let committee = DealtCommittee::deal(&ctx, &mut rng).expect("deal");
    let (sum, _) = aggregate(&ctx, &committee, 2, 100, &mut rng);
    let share = |m: u16, set: &DecryptingSet, cts: &CiphertextList, rng: &mut ChaCha20Rng| {
        partial_decrypt(&committee.key_shares[usize::from(m) - 1], set, cts, rng).expect("share")
    };
    let s12 = DecryptingSet::new(&ctx, &ids(&[1, 2])).expect("set");
    let s13 = DecryptingSet::new(&ctx, &ids(&[1, 3])).expect("set");
    // Shares of two different sets.
    let mixed = [
        share(1, &s12, &sum, &mut rng),
        share(3, &s13, &sum, &mut rng),
    ];
    assert!(matches!(
        combine(&sum, &s12, &mixed),
        Err(Error::ShareMismatch(_))
    ));
    assert!(matches!(
        combine(&sum, &s13, &mixed),
        Err(Error::ShareMismatch(_))
    ));
    // Shares of another ciphertext list (the re-randomised one).
    let mut other = sum.clone();
    other
        .rerandomize(&committee.public_key, &mut rng)
        .expect("rerandomize");
    let wrong_ct = [
        share(1, &s12, &sum, &mut rng),
        share(2, &s12, &other, &mut rng),
    ];
    assert!(matches!(
        combine(&sum, &s12, &wrong_ct),
        Err(Error::ShareMismatch(_))
    ));
    // A missing or repeated member.
    let one = [share(1, &s12, &sum, &mut rng)];
    assert!(matches!(
        combine(&sum, &s12, &one),
        Err(Error::ShareMismatch(_))
    ));
    let twice = [
        share(1, &s12, &sum, &mut rng),
        share(1, &s12, &sum, &mut rng),
    ];
    assert!(matches!(
        combine(&sum, &s12, &twice),
        Err(Error::ShareMismatch(_))
    ));
    // A member outside the set cannot make a share for it.
    assert!(partial_decrypt(&committee.key_shares[2], &s12, &sum, &mut rng).is_err());
    // Ciphertexts under another parameter set do not add.
    let other_ctx = self::ctx(DEFAULT, 2, 3, 9);
    let foreign = CiphertextList::zero(&other_ctx, 100);
    let mut s = sum.clone();
    assert!(matches!(
        s.add_assign(&foreign),
        Err(Error::ParamsMismatch(_))
    ));
    assert!(matches!(
        s.add_assign(&CiphertextList::zero(&ctx, 99)),
        Err(Error::ShapeMismatch(_))
    ));
}

#[test]
fn plaintexts_out_of_range_and_budget() {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let ctx = ctx(COMPACT, 1, 1, 1);
    let committee = DealtCommittee::deal(&ctx, &mut rng).expect("deal");
    let t = ctx.params().plaintext_modulus();
    assert!(matches!(
        CiphertextList::encrypt(&committee.public_key, &[0, t], &mut rng),
        Err(Error::PlaintextOutOfRange { index: 1, .. })
    ));
    let cts =
        CiphertextList::encrypt(&committee.public_key, &[1, 2, 3], &mut rng).expect("encrypt");
    let limit = ctx.params().max_decrypted_coefficients;
    let mut budget = DecryptionBudget::with_used(&ctx, limit - 4096);
    budget.charge(&cts).expect("exactly at the limit");
    assert!(matches!(
        budget.charge(&cts),
        Err(Error::BudgetExhausted { .. })
    ));
    assert_eq!(budget.used(), limit);
}

/// At the default preset's maximum of 8192 contributors and a 16-member
/// committee. Slow (8192 encryptions): run with
/// `cargo test -p fedhe-he --release --test threshold -- --ignored`.
#[test]
#[ignore]
fn exact_at_the_default_presets_contributor_limit() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let ctx = ctx(DEFAULT, 16, 16, DEFAULT.max_contributors);
    let committee = DealtCommittee::deal(&ctx, &mut rng).expect("deal");
    // Values at T − 1 maximise the deterministic (Q mod T) term.
    let t = ctx.params().plaintext_modulus();
    let v = vec![t - 1; 4096];
    let mut sum = CiphertextList::zero(&ctx, 4096);
    for _ in 0..DEFAULT.max_contributors {
        sum.add_assign(
            &CiphertextList::encrypt(&committee.public_key, &v, &mut rng).expect("encrypt"),
        )
        .expect("add");
    }
    let expected = ((t - 1) * u64::from(DEFAULT.max_contributors)) % t;
    let set = DecryptingSet::new(&ctx, &ids(&(1..=16).collect::<Vec<_>>())).expect("set");
    assert!(
        decrypt_with(&committee, &set, &sum, &mut rng)
            .iter()
            .all(|&x| x == expected)
    );
}
