//! Load on the QUIC service: many concurrent clients on loopback, each
//! submitting an encrypted update of a 100,010-parameter model (softmax,
//! 10,000 features × 10 classes; padded to 131,072 values = 32 ciphertexts
//! of the `default` preset) to a `fedhe serve` process, with the 3-of-5
//! committee as `fedhe committee` processes. The clients are tasks of this
//! test (`fedhe_node::client::run_client`, one shared QUIC endpoint) on
//! synthetic local data; their certificates are issued in-process by the
//! federation CA of the service fixture (`tests/common_service/mod.rs`).
//!
//! Measured per client count (default 100, 200, 300, 400 and 500; `FEDHE_LOAD_CLIENTS=a,b,…`
//! to change), one round each:
//! - submissions per second: accepted submissions over the time from the
//!   server's `round_opened` to its `collection_closed` (which includes the
//!   clients' local training and encryption on the same machine);
//! - the server's peak RSS (`VmHWM` of `/proc/PID/status`) against its RSS
//!   after start-up, against the bound `max_inflight_submissions × frame +
//!   clients × receive window + 200 MiB` (the only per-client term is the
//!   QUIC receive window, 128 KiB; the test fails beyond the bound).
//!
//! Run in release (the measurement is meaningless in debug):
//!
//! ```text
//! cargo build --release -p fedhe
//! cargo test --release -p fedhe-tests --test service_load -- --ignored --nocapture
//! ```

#[path = "../common_service/mod.rs"]
mod common_service;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common_service::{FEDERATION, Fixture, MEMBERS, Proc, SERVER_ID, free_udp_port, raw};
use fedhe_keys::encoding::HexN;
use fedhe_keys::pki::{Ca, CaCert, IssueRequest, Role, Roster, RosterEntry};
use fedhe_keys::sealed::{self, Passphrase, SealedKind};
use fedhe_learn::{ModelSpec, Samples, TrainConfig};
use fedhe_node::client::{self, ClientOptions, Connect, PeerNotice};
use fedhe_node::tls::Credentials;
use fedhe_protocols::round::EncoderCache;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng as _, SeedableRng as _};
use tokio::sync::{mpsc, watch};

const FEATURES: usize = 10_000;
const CLASSES: usize = 10;
const SAMPLES: usize = 4;
/// `limits.max_inflight_submissions` (`FEDHE_LOAD_INFLIGHT`, default 64).
fn inflight() -> u64 {
    env_u64("FEDHE_LOAD_INFLIGHT", 64)
}
/// The server's QUIC receive window per connection
/// (`limits.receive_window_kib`; `FEDHE_LOAD_WINDOW_KIB`, default 128).
fn window_kib() -> u64 {
    env_u64("FEDHE_LOAD_WINDOW_KIB", 128)
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name}: a number")))
        .unwrap_or(default)
}
const FIRST: u32 = 10_000;
const MIB: f64 = 1024.0 * 1024.0;

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Issues `n` client certificates (ids `FIRST..`) with fresh keys and lists
/// them on the fixture's roster.
fn issue_clients(fx: &Fixture, n: usize) -> Vec<(u32, Credentials)> {
    let read = |p: &Path| std::fs::read(p).expect("read");
    let pass = Passphrase::new(read(&fx.p("ca.pass"))).expect("passphrase");
    let key_path = fx.p("ca/ca.key");
    let (_, key) = sealed::open("ca.key", &read(&key_path), SealedKind::CaKey, &pass)
        .expect("open the CA key");
    let ca_pem = read(&fx.ca());
    let ca = Ca::open("ca.crt", &ca_pem, &key).expect("CA");
    let ca_cert = CaCert::from_pem("ca.crt", &ca_pem).expect("CA cert");
    let roster = Roster::from_file("roster.json", &read(&fx.roster()), &ca_cert).expect("roster");
    let mut body = roster.body.clone();
    let mut rng = ChaCha20Rng::seed_from_u64(0x10ad);
    let mut out = Vec::with_capacity(n);
    for i in 0..n as u32 {
        let id = FIRST + i;
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        let public = ed25519_dalek_public(&seed);
        let req = IssueRequest {
            id,
            role: Role::Client,
            not_before: now_s() - 3600,
            days: 2,
            dns_names: vec![],
        };
        let pem = ca.issue_for_key(&req, &public, &mut rng).expect("issue");
        body.participants.push(RosterEntry {
            id,
            role: Role::Client,
            key: Some(HexN(public)),
        });
        out.push((
            id,
            Credentials::from_seed("client.crt", pem.as_bytes(), &seed).expect("credentials"),
        ));
    }
    body.participants.sort_by_key(|e| (e.id, e.role));
    body.version += 1;
    body.updated_at = now_s();
    let signed = ca.sign_roster(body).expect("sign");
    std::fs::write(fx.roster(), signed.to_file()).expect("write roster");
    out
}

/// The Ed25519 public key of a seed (through the runtime's own check:
/// a certificate is issued for it, then `Credentials::from_seed` verifies).
fn ed25519_dalek_public(seed: &[u8; 32]) -> [u8; 32] {
    fedhe_protocols::SigningKey::from_seed(&zeroize::Zeroizing::new(*seed))
        .verifying_key()
        .to_bytes()
}

/// Synthetic local data of one client.
fn samples(id: u32) -> Samples {
    let mut r = ChaCha20Rng::seed_from_u64(u64::from(id));
    let x = ndarray::Array2::from_shape_fn((SAMPLES, FEATURES), |_| {
        (r.next_u32() % 2000) as f32 / 1000.0 - 1.0
    });
    let y = (0..SAMPLES).map(|i| (id as usize + i) % CLASSES).collect();
    Samples::new(x, y, CLASSES).expect("samples")
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[derive(Debug)]
struct Row {
    clients: usize,
    accepted: u64,
    collect_s: f64,
    rate: f64,
    round_s: f64,
    baseline_mib: f64,
    peak_mib: f64,
    frame_mib: f64,
}

fn q(p: &Path) -> String {
    format!("{:?}", p.display().to_string())
}

fn measure(fx: &Fixture, clients: &[(u32, Arc<Credentials>)], frame: u64) -> Row {
    let n = clients.len();
    let dir = fx.p(&format!("load-{n}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_udp_port())
        .parse()
        .expect("addr");
    let server_cert = fx.cert("ca", SERVER_ID, "server");
    let identity = |cert: &Path, key: &Path, pass: &Path| {
        format!(
            "ca = {}\nroster = {}\ncert = {}\nkey = {}\npassphrase_file = {}\n",
            q(&fx.ca()),
            q(&fx.roster()),
            q(cert),
            q(key),
            q(pass)
        )
    };
    let serve = format!(
        "federation = \"{FEDERATION}\"\nlisten = \"{addr}\"\ndata_dir = {data}\ntranscript = {tr}\n\n\
         [identity]\n{id}\n[model]\nkind = \"softmax\"\nfeatures = {FEATURES}\nclasses = {CLASSES}\n\n\
         [rounds]\ncount = 1\nsampling_rate = 1.0\nmin_clients = {n}\ndeadline_secs = 900\n\
         share_timeout_secs = 120\nwait_for_clients_secs = 600\nclip = 1.0\n\n\
         [limits]\nmax_inflight_submissions = {inflight}\nmax_streams_per_peer = 4\nmax_connections = 4000\n\
         max_frames_per_second = 20.0\nidle_timeout_secs = 120\nreceive_window_kib = {window}\n",
        inflight = inflight(),
        window = window_kib(),
        data = q(&dir.join("server")),
        tr = q(&fx.transcript()),
        id = identity(
            &server_cert,
            &server_cert.with_extension("key"),
            &fx.key_pass()
        ),
    );
    std::fs::write(dir.join("serve.toml"), serve).expect("write");
    let server = Proc::spawn(
        "server",
        &[
            "serve",
            "--config",
            &dir.join("serve.toml").display().to_string(),
        ],
        &dir.join("server.stderr"),
    );
    server.wait_event("listening", None, Duration::from_secs(120));
    let pid = server.pid();
    let baseline = status_kib(pid, "VmRSS:").expect("VmRSS") * 1024;
    // The peak, also sampled while the round runs.
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (stop, peak) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Some(h) = status_kib(pid, "VmHWM:") {
                    peak.fetch_max(h * 1024, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let mut members = Vec::new();
    for id in MEMBERS {
        let m = fx.member_dir(id);
        let c = format!(
            "server = \"{addr}\"\nserver_name = \"localhost\"\nfederation = \"{FEDERATION}\"\n\
             data_dir = {data}\ntranscript = {tr}\n\n[member]\nkey_share = {share}\n\
             min_contributors = {n}\nmax_rounds = 20\n\n[member.identity]\n{id}",
            data = q(&dir.join(format!("member-{id}"))),
            tr = q(&fx.transcript()),
            share = q(&m.join("key-share.sealed")),
            id = identity(
                &m.join("member.crt"),
                &m.join("member.key"),
                &m.join("pass")
            ),
        );
        let path = dir.join(format!("member-{id}.toml"));
        std::fs::write(&path, c).expect("write");
        members.push(Proc::spawn(
            &format!("member-{id}"),
            &["committee", "--config", &path.display().to_string()],
            &dir.join(format!("member-{id}.stderr")),
        ));
    }

    let fed = raw::federation(fx);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (stop_tx, stop_rx) = watch::channel(false);
    let (tx, mut rx) = mpsc::unbounded_channel::<PeerNotice>();
    let receipts = Arc::new(AtomicU64::new(0));
    let tasks = rt.block_on(async {
        let endpoint = client::client_endpoint(addr).expect("endpoint");
        let encoders = Arc::new(EncoderCache::new());
        let r = receipts.clone();
        tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                if matches!(m, PeerNotice::Receipted { .. }) {
                    r.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        let mut tasks = Vec::new();
        for (k, (id, creds)) in clients.iter().enumerate() {
            let o = ClientOptions {
                federation: fed.clone(),
                connect: Connect {
                    addr,
                    name: "localhost".into(),
                    idle_timeout: Duration::from_secs(120),
                    max_attempts: Some(50),
                },
                credentials: Credentials::from_seed(
                    "client.crt",
                    &creds.cert_der,
                    creds.signing_seed(),
                )
                .expect("credentials"),
                data: samples(*id),
                model: ModelSpec::Softmax,
                train: TrainConfig {
                    lr: 0.1,
                    batch_size: SAMPLES,
                    epochs: 1,
                    weight_decay: 0.0,
                    prox_mu: 0.0,
                },
                seed: 7,
                dropout: 0.0,
            };
            let (enc, stop, tx, ep) = (
                encoders.clone(),
                stop_rx.clone(),
                tx.clone(),
                endpoint.clone(),
            );
            // Staggered starts: a burst of handshakes overflows the
            // loopback socket buffers (as `fedhe simulate` does).
            let delay = Duration::from_millis(2 * k as u64);
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                client::run_client(o, enc, stop, tx, ep).await
            }));
        }
        tasks
    });
    drop(tx);
    let long = Duration::from_secs(900);
    server.wait_event("round_opened", Some(1), long);
    let t_open = Instant::now();
    let closed = server.wait_event("collection_closed", Some(1), long);
    let collect_s = t_open.elapsed().as_secs_f64();
    let done = server.wait_event("round_done", Some(1), long);
    let peak_now = status_kib(pid, "VmHWM:").unwrap_or(0) * 1024;
    peak.fetch_max(peak_now, Ordering::Relaxed);
    let fin = server.wait_event("finished", None, Duration::from_secs(120));
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    assert!(done["failed"].is_null(), "{done}\n{}", server.tail(30));
    let _ = stop_tx.send(true);
    rt.block_on(async {
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(30), t).await;
        }
    });
    drop(rt);
    let accepted = closed["accepted"].as_u64().expect("accepted");
    assert_eq!(accepted, n as u64, "every client's submission: {closed}");
    eprintln!(
        "{n} clients: {done}\nserver metrics: {}\nreceipts seen by clients: {}",
        fin["metrics"],
        receipts.load(Ordering::Relaxed)
    );
    drop(members);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    Row {
        clients: n,
        accepted,
        collect_s,
        rate: accepted as f64 / collect_s,
        round_s: done["seconds"].as_f64().unwrap_or(f64::NAN),
        baseline_mib: baseline as f64 / MIB,
        peak_mib: peak.load(Ordering::Relaxed) as f64 / MIB,
        frame_mib: frame as f64 / MIB,
    }
}

#[test]
#[ignore = "load: run in release with --ignored (see the file's doc comment)"]
fn load_many_clients_with_100k_parameter_updates() {
    let counts: Vec<usize> = std::env::var("FEDHE_LOAD_CLIENTS")
        .unwrap_or_else(|_| "100,200,300,400,500".into())
        .split(',')
        .map(|s| s.trim().parse().expect("FEDHE_LOAD_CLIENTS: numbers"))
        .collect();
    let max = counts.iter().copied().max().expect("a count");
    let fx = Fixture::get();
    let t = Instant::now();
    let issued: Vec<(u32, Arc<Credentials>)> = issue_clients(fx, max)
        .into_iter()
        .map(|(id, c)| (id, Arc::new(c)))
        .collect();
    eprintln!(
        "{max} client certificates in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let fed = raw::federation(fx);
    let dim = FEATURES * CLASSES + CLASSES;
    let frame = u64::from(fedhe_node::server::frame_limits(&fed, dim).bulk);
    let rows: Vec<Row> = counts
        .iter()
        .map(|&n| measure(fx, &issued[..n], frame))
        .collect();
    println!(
        "\n{dim} parameters per update, frame limit {:.2} MiB, max_inflight_submissions {}, receive window {} KiB",
        frame as f64 / MIB,
        inflight(),
        window_kib()
    );
    println!(
        "{:>8} {:>9} {:>10} {:>9} {:>9} {:>13} {:>13} {:>13}",
        "clients",
        "accepted",
        "collect s",
        "subm/s",
        "round s",
        "RSS start MiB",
        "peak RSS MiB",
        "peak−start"
    );
    for r in &rows {
        println!(
            "{:>8} {:>9} {:>10.1} {:>9.1} {:>9.1} {:>13.0} {:>13.0} {:>13.0}",
            r.clients,
            r.accepted,
            r.collect_s,
            r.rate,
            r.round_s,
            r.baseline_mib,
            r.peak_mib,
            r.peak_mib - r.baseline_mib
        );
    }
    // Received but not durable: at most `max_inflight_submissions` frames
    // (each keeps its permit until the group commit); unread data in
    // quinn: at most one receive window per connection; 200 MiB for the
    // rest (model, running sum, SQLite cache, connection state, allocator).
    let bound = |clients: usize| {
        inflight() as f64 * rows[0].frame_mib
            + clients as f64 * window_kib() as f64 / 1024.0
            + 200.0
    };
    println!(
        "bound on peak − start: max_inflight × frame + clients × receive window + 200 MiB = {:.0} MiB at {} clients",
        bound(max),
        max
    );
    for r in &rows {
        let bound_mib = bound(r.clients);
        assert!(
            r.peak_mib - r.baseline_mib < bound_mib,
            "{} clients: the server's peak RSS grew by {:.0} MiB over its start, beyond {bound_mib:.0} MiB",
            r.clients,
            r.peak_mib - r.baseline_mib
        );
    }
}
