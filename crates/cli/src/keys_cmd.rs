//! `fedhe keys …`: the key ceremony over files (see `keys/README.md`).
//!
//! Each subcommand reads its input files, calls one pure step of
//! `fedhe-keys`, and writes its outputs: private files sealed and written
//! 0600 atomically, public files as canonical JSON. Every command prints a
//! JSON summary on stdout. Passphrases come from `--passphrase-file`,
//! `--passphrase-env NAME` or a terminal prompt, never from an argument.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use fedhe_keys::dkg::{self, CeremonyInit, KeyShareMeta, MemberKeys, MemberPublic};
use fedhe_keys::files::{read, write_private};
use fedhe_keys::pki::{self, Ca, CaCert, IssueRequest, Revocation, Role, Roster, RosterEntry};
use fedhe_keys::rotation::CurrentKey;
use fedhe_keys::sealed::{self, KdfCost, Passphrase, SealedKind};
use serde_json::json;

#[derive(Debug, clap::Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, clap::Subcommand)]
enum KeysCommand {
    /// The federation CA.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Participant certificates.
    #[command(subcommand)]
    Cert(CertCommand),
    /// The CA-signed roster of participants and revocations.
    #[command(subcommand)]
    Roster(RosterCommand),
    /// A committee member's ceremony key pair.
    #[command(subcommand)]
    Member(MemberCommand),
    /// Committee key generation, step by step.
    #[command(subcommand)]
    Dkg(DkgCommand),
    /// Re-check a ceremony transcript from public files only.
    Verify(VerifyArgs),
    /// Encrypt random vectors under the collective key and decrypt them with
    /// qualified subsets of the members' key shares, each member absent in turn.
    SelfTest(SelfTestArgs),
    /// Make a finalized key the federation's current key (rotating out the previous one).
    Activate(ActivateArgs),
    /// Check that a key id may be used for a new round.
    CheckKey(CheckKeyArgs),
}

#[derive(Debug, clap::Args)]
struct PassArgs {
    /// Read the passphrase from this file (a trailing newline is ignored).
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    /// Read the passphrase from this environment variable.
    #[arg(long, value_name = "NAME", conflicts_with = "passphrase_file")]
    passphrase_env: Option<String>,
}

#[derive(Debug, clap::Args)]
struct KdfArgs {
    /// Argon2id memory cost in KiB for files this step seals (default 64 MiB).
    /// Lower values are for tests only.
    #[arg(long, default_value_t = 65536)]
    kdf_memory_kib: u32,
    /// Argon2id iterations for files this step seals.
    #[arg(long, default_value_t = 3)]
    kdf_iterations: u32,
}

impl KdfArgs {
    fn cost(&self) -> KdfCost {
        KdfCost {
            memory_kib: self.kdf_memory_kib,
            iterations: self.kdf_iterations,
            lanes: 1,
        }
    }
}

fn passphrase(
    file: Option<&Path>,
    env: Option<&str>,
    what: &str,
    confirm: bool,
) -> anyhow::Result<Passphrase> {
    if let Some(f) = file {
        return Ok(Passphrase::new(read(f)?)?);
    }
    if let Some(name) = env {
        let v = std::env::var(name).with_context(|| {
            format!("environment variable {name} (passphrase for {what}) is not set")
        })?;
        return Ok(Passphrase::new(v.into_bytes())?);
    }
    let p = rpassword::prompt_password(format!("passphrase for {what}: ")).context(
        "reading the passphrase from the terminal (or pass --passphrase-file / --passphrase-env)",
    )?;
    if confirm {
        let again = rpassword::prompt_password(format!("repeat the passphrase for {what}: "))?;
        if again != p {
            bail!("the passphrases differ");
        }
    }
    Ok(Passphrase::new(p.into_bytes())?)
}

impl PassArgs {
    fn get(&self, what: &str, confirm: bool) -> anyhow::Result<Passphrase> {
        passphrase(
            self.passphrase_file.as_deref(),
            self.passphrase_env.as_deref(),
            what,
            confirm,
        )
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn name(p: &Path) -> String {
    p.display().to_string()
}

fn rng() -> anyhow::Result<rand_chacha::ChaCha20Rng> {
    fedhe_ring::os_rng().context("seeding from the operating system's CSPRNG")
}

fn write_public(path: &Path, bytes: &[u8], overwrite: bool) -> anyhow::Result<()> {
    // Public files are written the same careful way (atomic); 0600 does no harm.
    write_private(path, bytes, overwrite)?;
    Ok(())
}

fn print(v: serde_json::Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn parse_date(s: &str) -> anyhow::Result<i64> {
    let parts: Vec<&str> = s.split('-').collect();
    let bad = || anyhow::anyhow!("--not-before {s:?}: expected a date YYYY-MM-DD");
    let [y, m, d] = parts[..] else {
        return Err(bad());
    };
    let (y, m, d): (i64, i64, i64) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(1970..=9999).contains(&y) {
        return Err(bad());
    }
    Ok(days_from_civil(y, m, d) * 86_400)
}

// ---------------------------------------------------------------- CA, certs, roster

#[derive(Debug, clap::Subcommand)]
enum CaCommand {
    /// Create the CA: DIR/ca.crt, DIR/ca.key (sealed) and an empty DIR/roster.json.
    Init {
        /// Directory to create the files in.
        #[arg(long)]
        dir: PathBuf,
        /// Federation name.
        #[arg(long)]
        federation: String,
        /// Validity of the CA certificate in days.
        #[arg(long, default_value_t = 3650)]
        days: u32,
        #[command(flatten)]
        pass: PassArgs,
        #[command(flatten)]
        kdf: KdfArgs,
    },
}

fn open_ca(dir: &Path, pass: &PassArgs) -> anyhow::Result<Ca> {
    let cert_path = dir.join("ca.crt");
    let key_path = dir.join("ca.key");
    let cert = read(&cert_path)?;
    let sealed_key = read(&key_path)?;
    let p = pass.get(&format!("the CA key {}", name(&key_path)), false)?;
    let (_, key) = sealed::open(&name(&key_path), &sealed_key, SealedKind::CaKey, &p)?;
    Ok(Ca::open(&name(&cert_path), &cert, &key)?)
}

fn load_pki(ca: &Path, roster: &Path) -> anyhow::Result<(CaCert, Roster)> {
    let ca_cert = CaCert::from_pem(&name(ca), &read(ca)?)?;
    let roster = Roster::from_file(&name(roster), &read(roster)?, &ca_cert)?;
    Ok((ca_cert, roster))
}

fn run_ca(cmd: CaCommand) -> anyhow::Result<()> {
    match cmd {
        CaCommand::Init {
            dir,
            federation,
            days,
            pass,
            kdf,
        } => {
            std::fs::create_dir_all(&dir).with_context(|| name(&dir))?;
            let p = pass.get("the new CA key", true)?;
            let mut rng = rng()?;
            let (pem, key) = pki::ca_generate(&federation, now() - 300, days, &mut rng)?;
            let meta = json!({"federation": federation}).to_string();
            let sealed = sealed::seal(SealedKind::CaKey, kdf.cost(), &meta, &p, &key, &mut rng)?;
            let ca_cert = CaCert::from_pem("ca.crt", pem.as_bytes())?;
            let ca = Ca::open("ca.crt", pem.as_bytes(), &key)?;
            let roster = ca.sign_roster(Roster::empty_body(&federation, &ca_cert, now()))?;
            write_private(&dir.join("ca.key"), &sealed, false)?;
            write_public(&dir.join("ca.crt"), pem.as_bytes(), false)?;
            write_public(&dir.join("roster.json"), &roster.to_file(), false)?;
            print(json!({
                "ca_certificate": name(&dir.join("ca.crt")),
                "ca_key": name(&dir.join("ca.key")),
                "roster": name(&dir.join("roster.json")),
                "fingerprint": fedhe_keys::encoding::to_hex(&ca_cert.fingerprint()),
            }))
        }
    }
}

#[derive(Debug, clap::Subcommand)]
enum CertCommand {
    /// Issue a participant certificate and list the participant on DIR/roster.json.
    Issue(IssueArgs),
    /// Check a presented certificate against the CA and roster: prints the
    /// participant id and role, or the refusal.
    Check {
        #[arg(long)]
        ca: PathBuf,
        #[arg(long)]
        roster: PathBuf,
        #[arg(long)]
        cert: PathBuf,
        /// The role the step needs.
        #[arg(long)]
        role: Option<String>,
        /// Check at this time (unix seconds) instead of now.
        #[arg(long)]
        at: Option<i64>,
    },
}

#[derive(Debug, clap::Args)]
struct IssueArgs {
    /// The CA directory (ca.crt, ca.key, roster.json).
    #[arg(long)]
    ca_dir: PathBuf,
    /// Participant id.
    #[arg(long)]
    id: u32,
    /// Role: server, client, committee or admin.
    #[arg(long)]
    role: String,
    /// Days of validity.
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// Start of validity, YYYY-MM-DD (UTC); default now.
    #[arg(long)]
    not_before: Option<String>,
    /// DNS names for a server certificate.
    #[arg(long = "dns")]
    dns: Vec<String>,
    /// Certify this committee member's ceremony signing key
    /// (`member.pub.json` of `fedhe keys member init`) instead of a fresh key pair.
    #[arg(long)]
    public_key: Option<PathBuf>,
    /// The certificate file to write (PEM). Without --public-key, the sealed
    /// private key is written next to it with the extension `.key`.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    pass: PassArgs,
    /// Passphrase file for the new participant key (without --public-key).
    #[arg(long)]
    new_key_passphrase_file: Option<PathBuf>,
    /// Environment variable with the passphrase for the new participant key.
    #[arg(long)]
    new_key_passphrase_env: Option<String>,
    #[command(flatten)]
    kdf: KdfArgs,
}

fn run_cert(cmd: CertCommand) -> anyhow::Result<()> {
    match cmd {
        CertCommand::Issue(a) => {
            let role = Role::parse(&a.role)?;
            let not_before = match &a.not_before {
                Some(d) => parse_date(d)?,
                None => now() - 300,
            };
            let ca = open_ca(&a.ca_dir, &a.pass)?;
            let roster_path = a.ca_dir.join("roster.json");
            let ca_cert = CaCert::from_pem("ca.crt", ca.cert_der())?;
            let roster = Roster::from_file(&name(&roster_path), &read(&roster_path)?, &ca_cert)?;
            let req = IssueRequest {
                id: a.id,
                role,
                not_before,
                days: a.days,
                dns_names: a.dns.clone(),
            };
            let mut rng = rng()?;
            let key_path = a.out.with_extension("key");
            let pem = match &a.public_key {
                Some(pk_path) => {
                    let m = MemberPublic::from_file(&name(pk_path), &read(pk_path)?)?;
                    if m.body.participant != a.id {
                        bail!(
                            "{}: the member public keys are for participant {}, not --id {}",
                            name(pk_path),
                            m.body.participant,
                            a.id
                        );
                    }
                    ca.issue_for_key(&req, &m.body.signing_key.0, &mut rng)?
                }
                None => {
                    let p = passphrase(
                        a.new_key_passphrase_file.as_deref(),
                        a.new_key_passphrase_env.as_deref(),
                        &format!("the new key {}", name(&key_path)),
                        true,
                    )?;
                    let (pem, key) = ca.issue(&req, &mut rng)?;
                    let meta = json!({"participant": a.id, "role": role}).to_string();
                    let sealed = sealed::seal(
                        SealedKind::ParticipantKey,
                        a.kdf.cost(),
                        &meta,
                        &p,
                        &key,
                        &mut rng,
                    )?;
                    write_private(&key_path, &sealed, false)?;
                    pem
                }
            };
            let mut body = roster.body.clone();
            let key = pki::certificate_key(&name(&a.out), pem.as_bytes())?;
            let entry = RosterEntry {
                id: a.id,
                role,
                key: Some(fedhe_keys::encoding::HexN(key)),
            };
            let listed = body.participants.contains(&entry);
            if !listed {
                // A re-issued certificate for a new key replaces the listed
                // key: certificates for the old key stop verifying.
                body.participants.retain(|e| (e.id, e.role) != (a.id, role));
                body.participants.push(entry);
                body.participants.sort_by_key(|e| (e.id, e.role));
                body.version += 1;
                body.updated_at = now();
                write_public(&roster_path, &ca.sign_roster(body)?.to_file(), true)?;
            }
            write_public(&a.out, pem.as_bytes(), false)?;
            let (_, serial) = pki::certificate_serial(&name(&a.out), pem.as_bytes())?;
            print(json!({
                "certificate": name(&a.out),
                "key": if a.public_key.is_none() { Some(name(&key_path)) } else { None },
                "participant": a.id, "role": role, "serial": fedhe_keys::encoding::to_hex(&serial),
                "roster_updated": !listed,
            }))
        }
        CertCommand::Check {
            ca,
            roster,
            cert,
            role,
            at,
        } => {
            let (ca_cert, roster) = load_pki(&ca, &roster)?;
            let role = role.as_deref().map(Role::parse).transpose()?;
            let p = pki::verify_participant(
                &ca_cert,
                &roster,
                &name(&cert),
                &read(&cert)?,
                at.unwrap_or_else(now),
                role,
            )?;
            print(
                json!({"participant": p.id, "role": p.role, "serial": fedhe_keys::encoding::to_hex(&p.serial)}),
            )
        }
    }
}

#[derive(Debug, clap::Subcommand)]
enum RosterCommand {
    /// Verify the roster's signature and print it.
    Show {
        #[arg(long)]
        ca: PathBuf,
        #[arg(long)]
        roster: PathBuf,
    },
    /// Revoke a certificate (its serial goes on DIR/roster.json, re-signed).
    Revoke {
        #[arg(long)]
        ca_dir: PathBuf,
        #[arg(long)]
        cert: PathBuf,
        #[command(flatten)]
        pass: PassArgs,
    },
}

fn run_roster(cmd: RosterCommand) -> anyhow::Result<()> {
    match cmd {
        RosterCommand::Show { ca, roster } => {
            let (_, r) = load_pki(&ca, &roster)?;
            print(serde_json::to_value(&r.body)?)
        }
        RosterCommand::Revoke { ca_dir, cert, pass } => {
            let ca = open_ca(&ca_dir, &pass)?;
            let ca_cert = CaCert::from_pem("ca.crt", ca.cert_der())?;
            let roster_path = ca_dir.join("roster.json");
            let roster = Roster::from_file(&name(&roster_path), &read(&roster_path)?, &ca_cert)?;
            let (id, serial) = pki::certificate_serial(&name(&cert), &read(&cert)?)?;
            let mut body = roster.body.clone();
            if !body.revoked.iter().any(|r| r.serial.0 == serial) {
                body.revoked.push(Revocation {
                    serial: fedhe_keys::encoding::Hex(serial.clone()),
                    id,
                    at: now(),
                });
                body.version += 1;
                body.updated_at = now();
                write_public(&roster_path, &ca.sign_roster(body.clone())?.to_file(), true)?;
            }
            print(
                json!({"revoked": fedhe_keys::encoding::to_hex(&serial), "participant": id, "roster_version": body.version}),
            )
        }
    }
}

// ---------------------------------------------------------------- ceremony

#[derive(Debug, clap::Subcommand)]
enum MemberCommand {
    /// Create a member's ceremony keys: DIR/member.key (sealed) and DIR/member.pub.json.
    Init {
        /// The member's participant id.
        #[arg(long)]
        id: u32,
        #[arg(long)]
        out_dir: PathBuf,
        #[command(flatten)]
        pass: PassArgs,
        #[command(flatten)]
        kdf: KdfArgs,
    },
}

fn open_member(path: &Path, pass: &PassArgs) -> anyhow::Result<(MemberKeys, Passphrase)> {
    let p = pass.get(&format!("the member key {}", name(path)), false)?;
    let (_, secret) = sealed::open(&name(path), &read(path)?, SealedKind::MemberKey, &p)?;
    Ok((MemberKeys::from_secret_bytes(&name(path), &secret)?, p))
}

fn load_ceremony(
    path: &Path,
) -> anyhow::Result<(CeremonyInit, std::sync::Arc<fedhe_he::HeContext>)> {
    Ok(CeremonyInit::from_file(&name(path), &read(path)?)?)
}

fn read_all(paths: &[PathBuf]) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    paths.iter().map(|p| Ok((name(p), read(p)?))).collect()
}

#[derive(Debug, clap::Subcommand)]
enum DkgCommand {
    /// Coordinator: start a ceremony (ceremony.json).
    Init {
        /// CA certificate.
        #[arg(long)]
        ca: PathBuf,
        /// Roster.
        #[arg(long)]
        roster: PathBuf,
        /// Parameter preset (`fedhe params --list`).
        #[arg(long, default_value = "default")]
        preset: String,
        /// Threshold t.
        #[arg(long)]
        threshold: u16,
        /// Most contributions per aggregate (default: the preset's limit).
        #[arg(long)]
        contributors: Option<u32>,
        /// A member's directory holding member.pub.json and member.crt; repeat
        /// in index order (the first is member 1).
        #[arg(long = "member", required = true)]
        members: Vec<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Member: deal shares and sign the contribution.
    Contribute {
        #[arg(long)]
        ceremony: PathBuf,
        #[arg(long)]
        ca: PathBuf,
        #[arg(long)]
        roster: PathBuf,
        #[arg(long)]
        member_key: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        pass: PassArgs,
    },
    /// Coordinator: check every contribution and write the bundle.
    Collect {
        #[arg(long)]
        ceremony: PathBuf,
        #[arg(long = "contribution", required = true)]
        contributions: Vec<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Member: check the bundle, open its shares, seal its key share
    /// (OUT_DIR/key-share.sealed, same passphrase as the member key) and sign
    /// the acceptance (OUT_DIR/acceptance-<index>.json).
    Accept {
        #[arg(long)]
        ceremony: PathBuf,
        #[arg(long)]
        bundle: PathBuf,
        #[arg(long)]
        member_key: PathBuf,
        #[arg(long)]
        out_dir: PathBuf,
        #[command(flatten)]
        pass: PassArgs,
        #[command(flatten)]
        kdf: KdfArgs,
    },
    /// Coordinator: check every acceptance; write OUT_DIR/transcript.json,
    /// OUT_DIR/public-key.fhe and OUT_DIR/key-record.json.
    Finalize {
        #[arg(long)]
        ceremony: PathBuf,
        #[arg(long)]
        bundle: PathBuf,
        #[arg(long = "acceptance", required = true)]
        acceptances: Vec<PathBuf>,
        #[arg(long)]
        out_dir: PathBuf,
    },
}

fn run_dkg(cmd: DkgCommand) -> anyhow::Result<()> {
    match cmd {
        DkgCommand::Init {
            ca,
            roster,
            preset,
            threshold,
            contributors,
            members,
            out,
        } => {
            let (ca_cert, roster) = load_pki(&ca, &roster)?;
            let contributors = match contributors {
                Some(c) => c,
                None => fedhe_he::Preset::by_name(&preset)?.max_contributors,
            };
            let mut list = Vec::new();
            for dir in &members {
                let pub_path = dir.join("member.pub.json");
                let cert_path = dir.join("member.crt");
                let m = MemberPublic::from_file(&name(&pub_path), &read(&pub_path)?)?;
                let cert = String::from_utf8(read(&cert_path)?)
                    .with_context(|| format!("{}: not a PEM file", name(&cert_path)))?;
                list.push((m, cert));
            }
            let init = CeremonyInit::new(
                &preset,
                contributors,
                threshold,
                &list,
                &ca_cert,
                &roster,
                now(),
                &mut rng()?,
            )?;
            write_public(&out, &init.to_file(), false)?;
            print(json!({
                "ceremony": name(&out), "ceremony_id": init.ceremony_id.hex(), "preset": init.preset,
                "threshold": init.threshold, "members": init.members,
                "participants": init.committee.iter().map(|e| e.participant).collect::<Vec<_>>(),
            }))
        }
        DkgCommand::Contribute {
            ceremony,
            ca,
            roster,
            member_key,
            out,
            pass,
        } => {
            let (init, ctx) = load_ceremony(&ceremony)?;
            let (ca_cert, roster) = load_pki(&ca, &roster)?;
            init.check_certificates(&name(&ceremony), &ca_cert, &roster)?;
            let (keys, _) = open_member(&member_key, &pass)?;
            let c = dkg::contribute(&init, &ctx, &keys, &mut rng()?)?;
            write_public(&out, &c.to_file(), false)?;
            print(json!({"contribution": name(&out), "member": c.body.from}))
        }
        DkgCommand::Collect {
            ceremony,
            contributions,
            out,
        } => {
            let (init, ctx) = load_ceremony(&ceremony)?;
            let b = dkg::collect(&init, &ctx, &read_all(&contributions)?)?;
            write_public(&out, &b.to_file(), false)?;
            print(json!({"bundle": name(&out), "digest": dkg::hex32(&b.digest())}))
        }
        DkgCommand::Accept {
            ceremony,
            bundle,
            member_key,
            out_dir,
            pass,
            kdf,
        } => {
            let (init, ctx) = load_ceremony(&ceremony)?;
            let (keys, p) = open_member(&member_key, &pass)?;
            let acc = dkg::accept(&init, &ctx, &name(&bundle), &read(&bundle)?, &keys)?;
            let me = acc.acceptance.body.member;
            let meta = KeyShareMeta::new(&init, me, acc.record.key_id.0).to_json();
            let sealed = sealed::seal(
                SealedKind::KeyShare,
                kdf.cost(),
                &meta,
                &p,
                &acc.key_share.to_bytes(),
                &mut rng()?,
            )?;
            std::fs::create_dir_all(&out_dir).with_context(|| name(&out_dir))?;
            let share_path = out_dir.join("key-share.sealed");
            let acc_path = out_dir.join(format!("acceptance-{me}.json"));
            write_private(&share_path, &sealed, false)?;
            write_public(&acc_path, &acc.acceptance.to_file(), false)?;
            print(json!({
                "member": me, "key_share": name(&share_path), "acceptance": name(&acc_path),
                "key_id": acc.record.key_id.hex(),
            }))
        }
        DkgCommand::Finalize {
            ceremony,
            bundle,
            acceptances,
            out_dir,
        } => {
            let (init, ctx) = load_ceremony(&ceremony)?;
            let (t, pk) = dkg::finalize(
                &init,
                &ctx,
                &name(&bundle),
                &read(&bundle)?,
                &read_all(&acceptances)?,
            )?;
            std::fs::create_dir_all(&out_dir).with_context(|| name(&out_dir))?;
            write_public(&out_dir.join("transcript.json"), &t.to_file(), false)?;
            write_public(&out_dir.join("public-key.fhe"), &pk.to_bytes(), false)?;
            write_public(
                &out_dir.join("key-record.json"),
                &fedhe_keys::encoding::to_file_bytes(&t.key),
                false,
            )?;
            print(json!({
                "transcript": name(&out_dir.join("transcript.json")),
                "public_key": name(&out_dir.join("public-key.fhe")),
                "key_id": t.key.key_id.hex(),
                "max_decrypted_coefficients": t.key.max_decrypted_coefficients,
            }))
        }
    }
}

#[derive(Debug, clap::Args)]
struct VerifyArgs {
    #[arg(long)]
    transcript: PathBuf,
    /// Also check the members' committee certificates (with --roster).
    #[arg(long, requires = "roster")]
    ca: Option<PathBuf>,
    #[arg(long, requires = "ca")]
    roster: Option<PathBuf>,
    /// Also check that this public-key file is the transcript's key.
    #[arg(long)]
    public_key: Option<PathBuf>,
}

fn verify_files(
    transcript: &Path,
    ca: Option<&Path>,
    roster: Option<&Path>,
) -> anyhow::Result<(dkg::Transcript, fedhe_he::PublicKey)> {
    let pki = match (ca, roster) {
        (Some(c), Some(r)) => Some(load_pki(c, r)?),
        _ => None,
    };
    Ok(dkg::verify_transcript(
        &name(transcript),
        &read(transcript)?,
        pki.as_ref().map(|(c, r)| (c, r)),
    )?)
}

fn run_verify(a: VerifyArgs) -> anyhow::Result<()> {
    let (t, pk) = verify_files(&a.transcript, a.ca.as_deref(), a.roster.as_deref())?;
    if let Some(p) = &a.public_key
        && read(p)? != pk.to_bytes()
    {
        bail!(
            "{}: not the transcript's public key {}",
            name(p),
            t.key.key_id.hex()
        );
    }
    print(json!({
        "ok": true, "key_id": t.key.key_id.hex(), "ceremony_id": t.ceremony.ceremony_id.hex(),
        "preset": t.key.preset, "threshold": t.key.threshold, "members": t.key.members,
        "signatures_checked": t.ceremony.committee.len() * 2,
        "certificates_checked": a.ca.is_some(),
        "max_decrypted_coefficients": t.key.max_decrypted_coefficients,
    }))
}

#[derive(Debug, clap::Args)]
struct SelfTestArgs {
    #[arg(long)]
    transcript: PathBuf,
    /// A member's sealed key share; repeat (at least t).
    #[arg(long = "share", required = true)]
    shares: Vec<PathBuf>,
    /// Passphrase files, one per --share in the same order.
    #[arg(long = "passphrase-file")]
    passphrase_files: Vec<PathBuf>,
    /// Passphrase environment variables, one per --share in the same order.
    #[arg(long = "passphrase-env", conflicts_with = "passphrase_files")]
    passphrase_envs: Vec<String>,
}

fn run_self_test(a: SelfTestArgs) -> anyhow::Result<()> {
    let (t, pk) = verify_files(&a.transcript, None, None)?;
    let ctx = pk.context().clone();
    for (list, what) in [
        (a.passphrase_files.len(), "--passphrase-file"),
        (a.passphrase_envs.len(), "--passphrase-env"),
    ] {
        if list != 0 && list != a.shares.len() {
            bail!(
                "{list} {what} for {} --share: give one per share, in the same order",
                a.shares.len()
            );
        }
    }
    let mut shares = Vec::new();
    for (i, path) in a.shares.iter().enumerate() {
        let p = passphrase(
            a.passphrase_files.get(i).map(PathBuf::as_path),
            a.passphrase_envs.get(i).map(String::as_str),
            &format!("the key share {}", name(path)),
            false,
        )?;
        let (header, bytes) = sealed::open(&name(path), &read(path)?, SealedKind::KeyShare, &p)?;
        let meta = KeyShareMeta::check(&name(path), &header.metadata, &t)?;
        let share = fedhe_he::KeyShare::from_bytes(&ctx, &bytes).with_context(|| name(path))?;
        if share.member().get() != meta.member {
            bail!(
                "{}: the share's member index differs from its header",
                name(path)
            );
        }
        shares.push(share);
    }
    let runs = dkg::self_test(&pk, &shares, &mut rng()?)?;
    print(json!({
        "ok": true, "key_id": t.key.key_id.hex(), "runs": runs,
        "coefficients_decrypted": runs.iter().map(|r| r.values).sum::<usize>(),
    }))
}

#[derive(Debug, clap::Args)]
struct ActivateArgs {
    #[arg(long)]
    transcript: PathBuf,
    /// The federation's current-key record (created if absent).
    #[arg(long)]
    current: PathBuf,
}

fn run_activate(a: ActivateArgs) -> anyhow::Result<()> {
    let (t, _) = verify_files(&a.transcript, None, None)?;
    let (cur, rotated) = if a.current.exists() {
        let c = CurrentKey::from_file(&name(&a.current), &read(&a.current)?)?;
        (c.rotate(t.key.clone(), now())?, true)
    } else {
        (CurrentKey::new(t.key.clone()), false)
    };
    write_public(&a.current, &cur.to_file(), true)?;
    print(json!({
        "current": cur.current.key_id.hex(), "rotated": rotated,
        "retired": cur.retired.iter().map(|r| r.key_id.hex()).collect::<Vec<_>>(),
        "max_decrypted_coefficients": cur.current.max_decrypted_coefficients,
    }))
}

#[derive(Debug, clap::Args)]
struct CheckKeyArgs {
    #[arg(long)]
    current: PathBuf,
    /// Key id (64 hex digits).
    #[arg(long)]
    key_id: String,
}

fn run_check_key(a: CheckKeyArgs) -> anyhow::Result<()> {
    let cur = CurrentKey::from_file(&name(&a.current), &read(&a.current)?)?;
    let id: [u8; 32] = fedhe_keys::encoding::from_hex(&a.key_id)
        .ok()
        .and_then(|v| v.try_into().ok())
        .with_context(|| format!("--key-id {:?}: expected 64 lowercase hex digits", a.key_id))?;
    let r = cur.check_round_key(&id)?;
    print(
        json!({"ok": true, "key_id": r.key_id.hex(), "max_decrypted_coefficients": r.max_decrypted_coefficients}),
    )
}

pub fn run(args: KeysArgs) -> anyhow::Result<()> {
    match args.command {
        KeysCommand::Ca(c) => run_ca(c),
        KeysCommand::Cert(c) => run_cert(c),
        KeysCommand::Roster(c) => run_roster(c),
        KeysCommand::Member(MemberCommand::Init {
            id,
            out_dir,
            pass,
            kdf,
        }) => {
            std::fs::create_dir_all(&out_dir).with_context(|| name(&out_dir))?;
            let p = pass.get("the new member key", true)?;
            let mut rng = rng()?;
            let keys = MemberKeys::generate(&mut rng);
            let meta = json!({"participant": id}).to_string();
            let sealed = sealed::seal(
                SealedKind::MemberKey,
                kdf.cost(),
                &meta,
                &p,
                &keys.to_secret_bytes(),
                &mut rng,
            )?;
            write_private(&out_dir.join("member.key"), &sealed, false)?;
            write_public(
                &out_dir.join("member.pub.json"),
                &fedhe_keys::encoding::to_file_bytes(&keys.public(id)),
                false,
            )?;
            print(json!({
                "member_key": name(&out_dir.join("member.key")),
                "public": name(&out_dir.join("member.pub.json")),
                "signing_key": fedhe_keys::encoding::to_hex(&keys.signing_key()),
            }))
        }
        KeysCommand::Dkg(c) => run_dkg(c),
        KeysCommand::Verify(a) => run_verify(a),
        KeysCommand::SelfTest(a) => run_self_test(a),
        KeysCommand::Activate(a) => run_activate(a),
        KeysCommand::CheckKey(a) => run_check_key(a),
    }
}
