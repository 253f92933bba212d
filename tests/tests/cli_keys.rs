//! The key ceremony through the `fedhe keys` CLI and files: PKI, 3-of-5 and
//! 5-of-7 committee key generation, verify, self-test, rotation; tampered
//! files, wrong passphrases and refused certificates.
//!
//! These tests seal files with a LOW Argon2id cost (`--kdf-memory-kib 64
//! --kdf-iterations 1`) to stay fast; the default cost (64 MiB, t = 3) is
//! measured by the ignored test `ceremony_5_of_7_at_default_cost_timed`:
//!
//! ```text
//! cargo build --release -p fedhe
//! cargo test --release -p fedhe-tests --test cli_keys -- --ignored --nocapture
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use fedhe_tests::{fedhe, fedhe_json};

const LOW_KDF: [&str; 4] = ["--kdf-memory-kib", "64", "--kdf-iterations", "1"];

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Self {
        let d = std::env::temp_dir().join(format!("fedhe-cli-keys-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        Self(d)
    }
    fn p(&self, rel: &str) -> String {
        self.0.join(rel).display().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn s(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn run_ok(args: Vec<String>) -> serde_json::Value {
    fedhe_json(&s(&args))
}

fn run_err(args: Vec<String>) -> String {
    let out = fedhe(&s(&args));
    assert!(
        !out.status.success(),
        "fedhe {args:?} should fail: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|x| x.to_string()).collect()
}

struct Federation {
    dir: Dir,
    kdf: Vec<String>,
}

impl Federation {
    fn new(tag: &str, low_kdf: bool) -> Self {
        let dir = Dir::new(tag);
        std::fs::write(dir.0.join("ca.pass"), "ca passphrase\n").expect("write");
        let kdf = if low_kdf { args(&LOW_KDF) } else { vec![] };
        let mut a = args(&[
            "keys",
            "ca",
            "init",
            "--dir",
            &dir.p("ca"),
            "--federation",
            tag,
            "--passphrase-file",
            &dir.p("ca.pass"),
        ]);
        a.extend(kdf.clone());
        run_ok(a);
        Self { dir, kdf }
    }
    fn ca(&self) -> String {
        self.dir.p("ca/ca.crt")
    }
    fn roster(&self) -> String {
        self.dir.p("ca/roster.json")
    }
    fn with_kdf(&self, mut a: Vec<String>) -> Vec<String> {
        a.extend(self.kdf.clone());
        a
    }

    /// `member init` then a committee certificate for its signing key.
    fn member(&self, id: u32, role: &str) -> String {
        let m = self.dir.p(&format!("m{id}"));
        std::fs::create_dir_all(&m).expect("dir");
        std::fs::write(format!("{m}/pass"), format!("passphrase of member {id}")).expect("write");
        run_ok(self.with_kdf(args(&[
            "keys",
            "member",
            "init",
            "--id",
            &id.to_string(),
            "--out-dir",
            &m,
            "--passphrase-file",
            &format!("{m}/pass"),
        ])));
        run_ok(args(&[
            "keys",
            "cert",
            "issue",
            "--ca-dir",
            &self.dir.p("ca"),
            "--id",
            &id.to_string(),
            "--role",
            role,
            "--days",
            "30",
            "--public-key",
            &format!("{m}/member.pub.json"),
            "--out",
            &format!("{m}/member.crt"),
            "--passphrase-file",
            &self.dir.p("ca.pass"),
        ]));
        m
    }

    /// A participant certificate with a fresh key; returns the certificate path.
    fn participant(&self, id: u32, role: &str, extra: &[&str]) -> String {
        let out = self.dir.p(&format!("p{id}-{role}.crt"));
        std::fs::write(self.dir.0.join("key.pass"), "participant key passphrase").expect("write");
        let mut a = args(&[
            "keys",
            "cert",
            "issue",
            "--ca-dir",
            &self.dir.p("ca"),
            "--id",
            &id.to_string(),
            "--role",
            role,
            "--out",
            &out,
            "--passphrase-file",
            &self.dir.p("ca.pass"),
            "--new-key-passphrase-file",
            &self.dir.p("key.pass"),
        ]);
        a.extend(args(extra));
        run_ok(self.with_kdf(a));
        out
    }

    fn check(&self, cert: &str, extra: &[&str]) -> std::process::Output {
        let mut a = args(&[
            "keys",
            "cert",
            "check",
            "--ca",
            &self.ca(),
            "--roster",
            &self.roster(),
            "--cert",
            cert,
        ]);
        a.extend(args(extra));
        fedhe(&s(&a))
    }
}

struct Ceremony {
    dir: String,
    members: Vec<String>,
    key_id: String,
    timings: Vec<(String, f64)>,
}

/// Runs a whole `t`-of-`n` ceremony through the CLI.
fn ceremony(fed: &Federation, tag: &str, preset: &str, t: u16, n: u16, first_id: u32) -> Ceremony {
    let mut timings = Vec::new();
    let mut timed = |label: &str, a: Vec<String>| {
        let start = Instant::now();
        let v = run_ok(a);
        timings.push((label.to_string(), start.elapsed().as_secs_f64()));
        v
    };
    let dir = fed.dir.p(tag);
    std::fs::create_dir_all(&dir).expect("dir");
    let members: Vec<String> = (0..u32::from(n))
        .map(|i| fed.member(first_id + i, "committee"))
        .collect();
    let mut a = args(&[
        "keys",
        "dkg",
        "init",
        "--ca",
        &fed.ca(),
        "--roster",
        &fed.roster(),
        "--preset",
        preset,
        "--threshold",
        &t.to_string(),
        "--out",
        &format!("{dir}/ceremony.json"),
    ]);
    for m in &members {
        a.extend(args(&["--member", m]));
    }
    let v = timed("dkg init", a);
    assert_eq!(v["members"], n);
    let ceremony = format!("{dir}/ceremony.json");
    for (i, m) in members.iter().enumerate() {
        let v = timed(
            "dkg contribute",
            args(&[
                "keys",
                "dkg",
                "contribute",
                "--ceremony",
                &ceremony,
                "--ca",
                &fed.ca(),
                "--roster",
                &fed.roster(),
                "--member-key",
                &format!("{m}/member.key"),
                "--passphrase-file",
                &format!("{m}/pass"),
                "--out",
                &format!("{dir}/contribution-{}.json", i + 1),
            ]),
        );
        assert_eq!(v["member"], i + 1);
    }
    let mut a = args(&[
        "keys",
        "dkg",
        "collect",
        "--ceremony",
        &ceremony,
        "--out",
        &format!("{dir}/bundle.json"),
    ]);
    for i in 1..=n {
        a.extend(args(&[
            "--contribution",
            &format!("{dir}/contribution-{i}.json"),
        ]));
    }
    timed("dkg collect", a);
    let mut key_ids = Vec::new();
    for m in &members {
        let v = timed(
            "dkg accept",
            fed.with_kdf(args(&[
                "keys",
                "dkg",
                "accept",
                "--ceremony",
                &ceremony,
                "--bundle",
                &format!("{dir}/bundle.json"),
                "--member-key",
                &format!("{m}/member.key"),
                "--passphrase-file",
                &format!("{m}/pass"),
                "--out-dir",
                m,
            ])),
        );
        key_ids.push(v["key_id"].as_str().expect("key id").to_string());
    }
    assert!(
        key_ids.iter().all(|k| *k == key_ids[0]),
        "every member derived the same key"
    );
    let mut a = args(&[
        "keys",
        "dkg",
        "finalize",
        "--ceremony",
        &ceremony,
        "--bundle",
        &format!("{dir}/bundle.json"),
        "--out-dir",
        &dir,
    ]);
    for (m, i) in members.iter().zip(1..) {
        a.extend(args(&["--acceptance", &format!("{m}/acceptance-{i}.json")]));
    }
    let v = timed("dkg finalize", a);
    assert_eq!(v["key_id"], key_ids[0].as_str());
    let v = timed(
        "verify",
        args(&[
            "keys",
            "verify",
            "--transcript",
            &format!("{dir}/transcript.json"),
            "--ca",
            &fed.ca(),
            "--roster",
            &fed.roster(),
            "--public-key",
            &format!("{dir}/public-key.fhe"),
        ]),
    );
    assert_eq!(v["ok"], true);
    assert_eq!(v["certificates_checked"], true);
    let mut a = args(&[
        "keys",
        "self-test",
        "--transcript",
        &format!("{dir}/transcript.json"),
    ]);
    for m in &members {
        a.extend(args(&["--share", &format!("{m}/key-share.sealed")]));
    }
    for m in &members {
        a.extend(args(&["--passphrase-file", &format!("{m}/pass")]));
    }
    let v = timed("self-test", a);
    assert_eq!(v["ok"], true);
    let runs = v["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), usize::from(n), "each member absent in turn");
    for r in runs {
        assert_eq!(r["set"].as_array().expect("set").len(), usize::from(t));
        assert!(!r["set"].as_array().expect("set").contains(&r["absent"]));
    }
    Ceremony {
        dir,
        members,
        key_id: key_ids[0].clone(),
        timings,
    }
}

fn flip(path: &str, at: usize) {
    let mut b = std::fs::read(path).expect("read");
    let i = at.min(b.len() - 1);
    b[i] ^= 0x01;
    std::fs::write(path, b).expect("write");
}

#[test]
fn ceremony_3_of_5_compact_then_tampering_passphrases_and_rotation() {
    let fed = Federation::new("c35", true);
    let c = ceremony(&fed, "k1", "compact", 3, 5, 100);
    let current = fed.dir.p("current-key.json");
    let v = run_ok(args(&[
        "keys",
        "activate",
        "--transcript",
        &format!("{}/transcript.json", c.dir),
        "--current",
        &current,
    ]));
    assert_eq!(v["rotated"], false);
    run_ok(args(&[
        "keys",
        "check-key",
        "--current",
        &current,
        "--key-id",
        &c.key_id,
    ]));

    // A key share does not open without its passphrase.
    std::fs::write(fed.dir.0.join("wrong.pass"), "not the passphrase").expect("write");
    let mut a = args(&[
        "keys",
        "self-test",
        "--transcript",
        &format!("{}/transcript.json", c.dir),
    ]);
    for m in &c.members[..3] {
        a.extend(args(&["--share", &format!("{m}/key-share.sealed")]));
    }
    for p in [
        format!("{}/pass", c.members[0]),
        fed.dir.p("wrong.pass"),
        format!("{}/pass", c.members[2]),
    ] {
        a.extend(args(&["--passphrase-file", &p]));
    }
    let e = run_err(a);
    assert!(
        e.contains(&format!("{}/key-share.sealed", c.members[1])) && e.contains("wrong passphrase"),
        "{e}"
    );

    // Tampering, detected by the step that reads the file, naming it.
    let contribution = format!("{}/contribution-2.json", c.dir);
    let size = std::fs::metadata(&contribution).expect("meta").len() as usize;
    for at in [0, 40, size / 3, size / 2, size - 200, size - 1] {
        let backup = std::fs::read(&contribution).expect("read");
        flip(&contribution, at);
        let mut a = args(&[
            "keys",
            "dkg",
            "collect",
            "--ceremony",
            &format!("{}/ceremony.json", c.dir),
            "--out",
            &fed.dir.p("bundle2.json"),
        ]);
        for i in 1..=5 {
            a.extend(args(&[
                "--contribution",
                &format!("{}/contribution-{i}.json", c.dir),
            ]));
        }
        let e = run_err(a);
        assert!(e.contains("contribution-2.json"), "flip at {at}: {e}");
        std::fs::write(&contribution, backup).expect("restore");
    }
    let bundle = format!("{}/bundle.json", c.dir);
    // Change one hex digit inside member 2's public-key share: still
    // well-formed JSON, so it is the member's signature that fails.
    let text = std::fs::read_to_string(&bundle).expect("read");
    let field = "\"public_key_share\": \"";
    let at = text
        .match_indices(field)
        .nth(1)
        .expect("second contribution")
        .0
        + field.len()
        + 100;
    let mut b = text.into_bytes();
    b[at] = if b[at] == b'0' { b'1' } else { b'0' };
    std::fs::write(&bundle, b).expect("write");
    let e = run_err(fed.with_kdf(args(&[
        "keys",
        "dkg",
        "accept",
        "--ceremony",
        &format!("{}/ceremony.json", c.dir),
        "--bundle",
        &bundle,
        "--member-key",
        &format!("{}/member.key", c.members[0]),
        "--passphrase-file",
        &format!("{}/pass", c.members[0]),
        "--out-dir",
        &fed.dir.p("again"),
    ])));
    assert!(
        e.contains("bundle.json")
            && e.contains("member 2 (participant 101)")
            && e.contains("signature"),
        "names the file and the member: {e}"
    );
    let transcript = format!("{}/transcript.json", c.dir);
    let good = std::fs::read(&transcript).expect("read");
    for at in [10, good.len() / 4, good.len() / 2, good.len() - 300] {
        flip(&transcript, at);
        let e = run_err(args(&["keys", "verify", "--transcript", &transcript]));
        assert!(e.contains("transcript.json"), "flip at {at}: {e}");
        std::fs::write(&transcript, &good).expect("restore");
    }

    // Rotation: a new ceremony gives a new key id; the old one is refused for new rounds.
    let c2 = ceremony(&fed, "k2", "compact", 3, 5, 200);
    assert_ne!(c2.key_id, c.key_id);
    let v = run_ok(args(&[
        "keys",
        "activate",
        "--transcript",
        &format!("{}/transcript.json", c2.dir),
        "--current",
        &current,
    ]));
    assert_eq!(v["rotated"], true);
    run_ok(args(&[
        "keys",
        "check-key",
        "--current",
        &current,
        "--key-id",
        &c2.key_id,
    ]));
    let e = run_err(args(&[
        "keys",
        "check-key",
        "--current",
        &current,
        "--key-id",
        &c.key_id,
    ]));
    assert!(e.contains("retired"), "{e}");
    let e = run_err(args(&[
        "keys",
        "activate",
        "--transcript",
        &format!("{}/transcript.json", c.dir),
        "--current",
        &current,
    ]));
    assert!(e.contains("already used"), "{e}");
}

#[test]
fn ceremony_5_of_7_default_preset() {
    let fed = Federation::new("c57", true);
    let c = ceremony(&fed, "k", "default", 5, 7, 300);
    assert_eq!(c.key_id.len(), 64);
}

#[test]
fn certificates_other_ca_expired_revoked_and_wrong_role_are_refused() {
    let fed = Federation::new("pki", true);
    let other = Federation::new("pki-other", true);
    let client = fed.participant(1, "client", &[]);
    let v = fedhe_json(&s(&args(&[
        "keys",
        "cert",
        "check",
        "--ca",
        &fed.ca(),
        "--roster",
        &fed.roster(),
        "--cert",
        &client,
        "--role",
        "client",
    ])));
    assert_eq!(
        (v["participant"].as_u64(), v["role"].as_str()),
        (Some(1), Some("client"))
    );
    let refused = |out: std::process::Output, what: &str| {
        assert!(!out.status.success());
        let e = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            e.contains("refused") && e.contains(what),
            "expected {what:?}: {e}"
        );
    };
    refused(
        fed.check(&other.participant(1, "client", &[]), &[]),
        "not issued by this federation's CA",
    );
    refused(
        fed.check(
            &fed.participant(
                2,
                "server",
                &[
                    "--not-before",
                    "2020-01-01",
                    "--days",
                    "1",
                    "--dns",
                    "agg.example",
                ],
            ),
            &[],
        ),
        "expired",
    );
    refused(
        fed.check(&client, &["--role", "committee"]),
        "role client does not fit",
    );
    refused(
        fed.check(&client, &["--at", "946684800"]),
        "not valid before",
    );
    run_ok(args(&[
        "keys",
        "roster",
        "revoke",
        "--ca-dir",
        &fed.dir.p("ca"),
        "--cert",
        &client,
        "--passphrase-file",
        &fed.dir.p("ca.pass"),
    ]));
    refused(fed.check(&client, &[]), "revoked");
    let v = run_ok(args(&[
        "keys",
        "roster",
        "show",
        "--ca",
        &fed.ca(),
        "--roster",
        &fed.roster(),
    ]));
    assert_eq!(v["revoked"].as_array().expect("revoked").len(), 1);
    // A roster altered by one byte, or the CA key with a wrong passphrase.
    let e = run_err(args(&[
        "keys",
        "roster",
        "show",
        "--ca",
        &other.ca(),
        "--roster",
        &fed.roster(),
    ]));
    assert!(e.contains("roster.json"), "{e}");
    std::fs::write(fed.dir.0.join("bad.pass"), "nope").expect("write");
    let e = run_err(args(&[
        "keys",
        "roster",
        "revoke",
        "--ca-dir",
        &fed.dir.p("ca"),
        "--cert",
        &client,
        "--passphrase-file",
        &fed.dir.p("bad.pass"),
    ]));
    assert!(
        e.contains("ca.key") && e.contains("wrong passphrase"),
        "{e}"
    );

    // A member whose certificate is not a committee certificate cannot join a ceremony.
    let m1 = fed.member(10, "committee");
    let m2 = fed.member(11, "client");
    let e = run_err(args(&[
        "keys",
        "dkg",
        "init",
        "--ca",
        &fed.ca(),
        "--roster",
        &fed.roster(),
        "--preset",
        "compact",
        "--threshold",
        "2",
        "--member",
        &m1,
        "--member",
        &m2,
        "--out",
        &fed.dir.p("ceremony.json"),
    ]));
    assert!(
        e.contains("participant 11") && e.contains("role client does not fit"),
        "{e}"
    );
    assert!(!Path::new(&fed.dir.p("ceremony.json")).exists());
}

/// The whole 5-of-7 ceremony at the DEFAULT Argon2id cost (m = 64 MiB, t = 3,
/// p = 1), every step and every member, timed. Run in release:
/// `cargo build --release -p fedhe && cargo test --release -p fedhe-tests --test cli_keys -- --ignored --nocapture`
#[test]
#[ignore = "slow: the default Argon2id cost; run in release with --ignored"]
fn ceremony_5_of_7_at_default_cost_timed() {
    let start = Instant::now();
    let fed = Federation::new("timed", false);
    let c = ceremony(&fed, "k", "default", 5, 7, 500);
    let total = start.elapsed().as_secs_f64();
    let mut by_step: Vec<(String, f64, usize)> = Vec::new();
    for (label, t) in &c.timings {
        match by_step.iter_mut().find(|(l, _, _)| l == label) {
            Some(e) => {
                e.1 += t;
                e.2 += 1;
            }
            None => by_step.push((label.clone(), *t, 1)),
        }
    }
    for (label, t, k) in &by_step {
        println!("{label:>16}: {t:7.2} s over {k} run(s)");
    }
    println!("whole 5-of-7 ceremony incl. CA, member keys and certificates: {total:.2} s");
}
