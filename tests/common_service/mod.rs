//! Shared fixture of the service tests (`tests/tests/service*.rs`): a
//! federation made ONCE per test binary through the `fedhe keys` CLI, and
//! runs of `fedhe serve`, `fedhe client` and `fedhe committee` as separate
//! processes on loopback whose JSON event lines the tests await.
//!
//! The federation (in a temporary directory, removed by the next run of a
//! test binary once this process is gone):
//! - a CA (`keys ca init`), with a LOW Argon2id cost for every sealed file
//!   (`--kdf-memory-kib 64 --kdf-iterations 1`, as `cli_keys.rs`);
//! - the server, participant [`SERVER_ID`], with a `server` certificate for
//!   `localhost`;
//! - [`CLIENTS`] clients [`FIRST_CLIENT`]`..`, each holding part `id − 1000`
//!   of the embedded digits training set split into [`CLIENTS`] iid parts;
//! - [`RAW_CLIENT`] and [`RAW_CLIENT_2`]: client certificates that no
//!   `fedhe client` process uses (the tests' own QUIC clients);
//! - [`ADMIN`] (role admin) and [`SPARE_COMMITTEE`] (a committee certificate
//!   of a participant outside the ceremony, with a fresh key);
//! - committee members [`MEMBERS`] with a 3-of-5 key from the DKG of
//!   `fedhe keys dkg` at preset `default` (member `i` of the list has Shamir
//!   index `i + 1`);
//! - a second CA (`other/`) with a client certificate of id [`FIRST_CLIENT`].
//!
//! Every process is killed when its [`Proc`] drops (also on a panic); a
//! [`Run`] that drops while the test panics prints the tail of every
//! process's stdout and stderr.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead as _, BufReader, Read as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use fedhe_tests::{fedhe_bin, fedhe_json};
use serde_json::Value;

/// Federation name.
pub const FEDERATION: &str = "svc";
/// The server's participant id.
pub const SERVER_ID: u32 = 1;
/// The first client's id.
pub const FIRST_CLIENT: u32 = 1000;
/// Clients run as `fedhe client` processes (ids `1000..1000 + CLIENTS`).
pub const CLIENTS: usize = 6;
/// The committee, in Shamir index order (3-of-5).
pub const MEMBERS: [u32; 5] = [101, 102, 103, 104, 105];
/// Threshold of the committee.
pub const THRESHOLD: usize = 3;
/// A client certificate for the tests' own QUIC client.
pub const RAW_CLIENT: u32 = 1100;
/// A second one.
pub const RAW_CLIENT_2: u32 = 1101;
/// An admin certificate (a role the server does not serve).
pub const ADMIN: u32 = 1200;
/// A committee certificate (fresh key) of a participant outside the ceremony.
pub const SPARE_COMMITTEE: u32 = 106;
/// Parameters of the digits softmax model (64 features × 10 classes + 10).
pub const DIM: usize = 650;
/// Seed of the data split and of local training (`[data] seed`).
pub const DATA_SEED: u64 = 1;

const LOW_KDF: [&str; 4] = ["--kdf-memory-kib", "64", "--kdf-iterations", "1"];

/// The federation's files.
#[derive(Debug)]
pub struct Fixture {
    /// Root directory.
    pub dir: PathBuf,
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn run_ok(args: &[String]) -> Value {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    fedhe_json(&a)
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|x| (*x).to_string()).collect()
}

/// Removes fixture directories of earlier test processes that are gone.
fn remove_stale(prefix: &str) {
    let Ok(rd) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(prefix) else {
            continue;
        };
        let pid = pid.split('-').next().unwrap_or("");
        if pid.parse::<u32>().is_ok() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

impl Fixture {
    /// The federation, made on first use.
    pub fn get() -> &'static Fixture {
        FIXTURE.get_or_init(|| {
            let t = Instant::now();
            let f = Fixture::make();
            eprintln!(
                "service fixture: federation made through the CLI in {:.1} s ({})",
                t.elapsed().as_secs_f64(),
                f.dir.display()
            );
            f
        })
    }

    fn make() -> Fixture {
        remove_stale("fedhe-svc-");
        let dir = std::env::temp_dir().join(format!("fedhe-svc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("fixture dir");
        let f = Fixture { dir };
        std::fs::write(f.p("ca.pass"), "ca passphrase\n").expect("write");
        std::fs::write(f.p("key.pass"), "participant key passphrase").expect("write");
        f.ca_init("ca", FEDERATION);
        f.ca_init("other/ca", "other");
        f.participant("ca", SERVER_ID, "server", &["--dns", "localhost"]);
        for i in 0..CLIENTS as u32 {
            f.participant("ca", FIRST_CLIENT + i, "client", &[]);
        }
        f.participant("ca", RAW_CLIENT, "client", &[]);
        f.participant("ca", RAW_CLIENT_2, "client", &[]);
        f.participant("ca", ADMIN, "admin", &[]);
        f.participant("ca", SPARE_COMMITTEE, "committee", &[]);
        f.participant("other/ca", FIRST_CLIENT, "client", &[]);
        for id in MEMBERS {
            f.member(id);
        }
        f.dkg();
        f
    }

    /// A path under the fixture.
    pub fn p(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    fn kdf(mut a: Vec<String>) -> Vec<String> {
        a.extend(args(&LOW_KDF));
        a
    }

    fn ca_init(&self, rel: &str, federation: &str) {
        run_ok(&Self::kdf(args(&[
            "keys",
            "ca",
            "init",
            "--dir",
            &s(&self.p(rel)),
            "--federation",
            federation,
            "--passphrase-file",
            &s(&self.p("ca.pass")),
        ])));
    }

    /// The CA certificate.
    pub fn ca(&self) -> PathBuf {
        self.p("ca/ca.crt")
    }

    /// The roster.
    pub fn roster(&self) -> PathBuf {
        self.p("ca/roster.json")
    }

    /// The ceremony transcript.
    pub fn transcript(&self) -> PathBuf {
        self.p("k/transcript.json")
    }

    /// The passphrase file of every participant key.
    pub fn key_pass(&self) -> PathBuf {
        self.p("key.pass")
    }

    /// Certificate of participant `id` in `role` under CA directory `ca`
    /// (`ca` or `other/ca`); its sealed key has the extension `.key`.
    pub fn cert(&self, ca: &str, id: u32, role: &str) -> PathBuf {
        let base = ca.trim_end_matches("ca").trim_end_matches('/');
        let base = if base.is_empty() {
            self.dir.clone()
        } else {
            self.p(base)
        };
        base.join(format!("p{id}-{role}.crt"))
    }

    fn participant(&self, ca: &str, id: u32, role: &str, extra: &[&str]) {
        let out = self.cert(ca, id, role);
        let mut a = args(&[
            "keys",
            "cert",
            "issue",
            "--ca-dir",
            &s(&self.p(ca)),
            "--id",
            &id.to_string(),
            "--role",
            role,
            "--days",
            "30",
            "--out",
            &s(&out),
            "--passphrase-file",
            &s(&self.p("ca.pass")),
            "--new-key-passphrase-file",
            &s(&self.key_pass()),
        ]);
        a.extend(args(extra));
        run_ok(&Self::kdf(a));
    }

    /// A committee member's directory (`member.key`, `member.crt`,
    /// `key-share.sealed`, `pass`).
    pub fn member_dir(&self, id: u32) -> PathBuf {
        self.p(&format!("m{id}"))
    }

    fn member(&self, id: u32) {
        let m = self.member_dir(id);
        std::fs::create_dir_all(&m).expect("dir");
        std::fs::write(m.join("pass"), format!("passphrase of member {id}")).expect("write");
        run_ok(&Self::kdf(args(&[
            "keys",
            "member",
            "init",
            "--id",
            &id.to_string(),
            "--out-dir",
            &s(&m),
            "--passphrase-file",
            &s(&m.join("pass")),
        ])));
        run_ok(&args(&[
            "keys",
            "cert",
            "issue",
            "--ca-dir",
            &s(&self.p("ca")),
            "--id",
            &id.to_string(),
            "--role",
            "committee",
            "--days",
            "30",
            "--public-key",
            &s(&m.join("member.pub.json")),
            "--out",
            &s(&m.join("member.crt")),
            "--passphrase-file",
            &s(&self.p("ca.pass")),
        ]));
    }

    fn dkg(&self) {
        let k = self.p("k");
        std::fs::create_dir_all(&k).expect("dir");
        let ceremony = s(&k.join("ceremony.json"));
        let mut a = args(&[
            "keys",
            "dkg",
            "init",
            "--ca",
            &s(&self.ca()),
            "--roster",
            &s(&self.roster()),
            "--preset",
            "default",
            "--threshold",
            &THRESHOLD.to_string(),
            "--out",
            &ceremony,
        ]);
        for id in MEMBERS {
            a.extend(args(&["--member", &s(&self.member_dir(id))]));
        }
        let v = run_ok(&a);
        assert_eq!(v["members"], MEMBERS.len());
        for (i, id) in MEMBERS.iter().enumerate() {
            let m = self.member_dir(*id);
            let v = run_ok(&args(&[
                "keys",
                "dkg",
                "contribute",
                "--ceremony",
                &ceremony,
                "--ca",
                &s(&self.ca()),
                "--roster",
                &s(&self.roster()),
                "--member-key",
                &s(&m.join("member.key")),
                "--passphrase-file",
                &s(&m.join("pass")),
                "--out",
                &s(&k.join(format!("contribution-{}.json", i + 1))),
            ]));
            assert_eq!(v["member"], i + 1, "Shamir index of participant {id}");
        }
        let mut a = args(&[
            "keys",
            "dkg",
            "collect",
            "--ceremony",
            &ceremony,
            "--out",
            &s(&k.join("bundle.json")),
        ]);
        for i in 1..=MEMBERS.len() {
            a.extend(args(&[
                "--contribution",
                &s(&k.join(format!("contribution-{i}.json"))),
            ]));
        }
        run_ok(&a);
        for id in MEMBERS {
            let m = self.member_dir(id);
            run_ok(&Self::kdf(args(&[
                "keys",
                "dkg",
                "accept",
                "--ceremony",
                &ceremony,
                "--bundle",
                &s(&k.join("bundle.json")),
                "--member-key",
                &s(&m.join("member.key")),
                "--passphrase-file",
                &s(&m.join("pass")),
                "--out-dir",
                &s(&m),
            ])));
        }
        let mut a = args(&[
            "keys",
            "dkg",
            "finalize",
            "--ceremony",
            &ceremony,
            "--bundle",
            &s(&k.join("bundle.json")),
            "--out-dir",
            &s(&k),
        ]);
        for (i, id) in MEMBERS.iter().enumerate() {
            a.extend(args(&[
                "--acceptance",
                &s(&self
                    .member_dir(*id)
                    .join(format!("acceptance-{}.json", i + 1))),
            ]));
        }
        run_ok(&a);
        assert!(self.transcript().exists());
    }
}

// ---------------------------------------------------------------- processes

#[derive(Default)]
struct Lines {
    lines: Vec<Value>,
    /// When each line was read.
    at: Vec<Instant>,
    eof: bool,
}

/// A child process whose stdout JSON lines are collected by a thread.
/// Killed (SIGKILL) and reaped on drop.
pub struct Proc {
    /// A name for messages.
    pub name: String,
    child: Child,
    out: Arc<(Mutex<Lines>, Condvar)>,
    stderr: PathBuf,
    status: Option<ExitStatus>,
}

impl std::fmt::Debug for Proc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proc").field("name", &self.name).finish()
    }
}

impl Proc {
    /// Starts `fedhe ARGS`, stderr to `stderr` (appended).
    pub fn spawn(name: &str, a: &[&str], stderr: &Path) -> Proc {
        let err = File::options()
            .create(true)
            .append(true)
            .open(stderr)
            .expect("stderr file");
        let mut child = Command::new(fedhe_bin())
            .args(a)
            .env("FEDHE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(err))
            .spawn()
            .expect("spawn fedhe");
        let stdout = child.stdout.take().expect("stdout");
        let out: Arc<(Mutex<Lines>, Condvar)> = Arc::default();
        let o = out.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let v = serde_json::from_str(&line).unwrap_or(Value::String(line));
                let (m, cv) = &*o;
                let mut g = m.lock().expect("lines");
                g.lines.push(v);
                g.at.push(Instant::now());
                cv.notify_all();
            }
            let (m, cv) = &*o;
            m.lock().expect("lines").eof = true;
            cv.notify_all();
        });
        Proc {
            name: name.into(),
            child,
            out,
            stderr: stderr.into(),
            status: None,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Lines printed so far.
    pub fn lines(&self) -> Vec<Value> {
        self.out.0.lock().expect("lines").lines.clone()
    }

    /// Lines read by this process after `t`.
    pub fn lines_since(&self, t: Instant) -> Vec<Value> {
        let g = self.out.0.lock().expect("lines");
        g.lines
            .iter()
            .zip(&g.at)
            .filter(|(_, at)| **at > t)
            .map(|(v, _)| v.clone())
            .collect()
    }

    /// How many lines so far (a cursor for [`Proc::wait_from`]).
    pub fn len(&self) -> usize {
        self.out.0.lock().expect("lines").lines.len()
    }

    /// Lines with `"event": event`.
    pub fn events(&self, event: &str) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter(|v| v["event"] == event)
            .collect()
    }

    /// The first line (from index `from`) that satisfies `pred`, waiting
    /// up to `timeout`; `None` on timeout or when stdout ended.
    pub fn try_wait_from(
        &self,
        from: usize,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<(usize, Value)> {
        let deadline = Instant::now() + timeout;
        let (m, cv) = &*self.out;
        let mut g = m.lock().expect("lines");
        let mut i = from;
        loop {
            while i < g.lines.len() {
                if pred(&g.lines[i]) {
                    return Some((i, g.lines[i].clone()));
                }
                i += 1;
            }
            if g.eof {
                return None;
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            g = cv.wait_timeout(g, deadline - now).expect("lines").0;
        }
    }

    /// As [`Proc::try_wait_from`], panicking (with the process's output)
    /// when nothing matched.
    pub fn wait_from(
        &self,
        from: usize,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> (usize, Value) {
        match self.try_wait_from(from, timeout, pred) {
            Some(x) => x,
            None => panic!(
                "{}: no {what} within {timeout:?}\n{}",
                self.name,
                self.tail(40)
            ),
        }
    }

    /// The first line with `"event": event` (and `round` if given).
    pub fn wait_event(&self, event: &str, round: Option<u64>, timeout: Duration) -> Value {
        let what = match round {
            Some(r) => format!("{event} of round {r}"),
            None => event.to_string(),
        };
        self.wait_from(0, &what, timeout, |v| {
            v["event"] == event && round.is_none_or(|r| v["round"].as_u64() == Some(r))
        })
        .1
    }

    /// The last `n` lines of stdout and stderr.
    pub fn tail(&self, n: usize) -> String {
        let lines = self.lines();
        let out: Vec<String> = lines[lines.len().saturating_sub(n)..]
            .iter()
            .map(Value::to_string)
            .collect();
        let mut err = String::new();
        if let Ok(mut f) = File::open(&self.stderr) {
            let _ = f.read_to_string(&mut err);
        }
        let err: Vec<&str> = err.lines().collect();
        format!(
            "--- {} stdout (last {n}):\n{}\n--- {} stderr (last {n}):\n{}",
            self.name,
            out.join("\n"),
            self.name,
            err[err.len().saturating_sub(n)..].join("\n")
        )
    }

    /// The whole stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(s) = self.status {
            return s;
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                self.status = Some(s);
                // The reader thread sees EOF right after.
                let (m, cv) = &*self.out;
                let mut g = m.lock().expect("lines");
                let until = Instant::now() + Duration::from_secs(5);
                while !g.eof && Instant::now() < until {
                    g = cv
                        .wait_timeout(g, Duration::from_millis(100))
                        .expect("lines")
                        .0;
                }
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {timeout:?}\n{}",
                self.name,
                self.tail(40)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        self.status.is_none() && matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }

    /// Sends a signal (`STOP`, `CONT`) with kill(1).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([format!("-{sig}"), self.pid().to_string()])
            .status()
            .expect("kill(1)")
            .success();
        assert!(ok, "kill -{sig} {}", self.pid());
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.status.is_none() {
            // A stopped process must be continued to die cleanly on some
            // systems; SIGKILL works on stopped processes on Linux.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------- runs

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Directory name under the fixture's `runs/`.
    pub name: String,
    /// Rounds.
    pub rounds: u64,
    /// `rounds.min_clients` (and the members' `min_contributors`).
    pub min_clients: u32,
    /// With the `[dp]` table (ε = 8, δ = 1e-5).
    pub dp: bool,
    /// `rounds.deadline_secs`.
    pub deadline_secs: u64,
    /// `rounds.share_timeout_secs`.
    pub share_timeout_secs: u64,
    /// `rounds.wait_for_clients_secs`.
    pub wait_secs: u64,
    /// `limits.idle_timeout_secs`: also how soon a peer notices that the
    /// server is gone (QUIC takes the smaller of both ends' timeouts).
    pub idle_secs: u64,
    /// `rounds.clip`.
    pub clip: f64,
    /// `rounds.server_lr`.
    pub server_lr: f64,
}

impl RunSpec {
    /// Defaults for a short run.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            rounds: 3,
            min_clients: 5,
            dp: true,
            deadline_secs: 20,
            share_timeout_secs: 5,
            wait_secs: 60,
            idle_secs: 5,
            clip: 1.0,
            server_lr: 1.0,
        }
    }
}

/// Local training of every client (`[training]`).
pub const EPOCHS: usize = 1;
/// Minibatch size.
pub const BATCH: usize = 10;
/// Learning rate.
pub const LR: f64 = 0.5;

/// A free UDP port on 127.0.0.1. Another process could take it between
/// this call and the server's bind (a small race; the server would then
/// fail with "address in use" and the test with it).
pub fn free_udp_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr").port()
}

fn q(p: &Path) -> String {
    format!("{:?}", s(p))
}

/// One federated run: the server, clients and members of this run, each
/// with its own data directory under `dir`.
pub struct Run {
    /// The fixture.
    pub fx: &'static Fixture,
    /// Settings.
    pub spec: RunSpec,
    /// The run's directory.
    pub dir: PathBuf,
    /// The server's address.
    pub addr: SocketAddr,
    /// The server (None before start or after a kill).
    pub server: Option<Proc>,
    /// Earlier server processes (killed), for diagnostics.
    pub old_servers: Vec<Proc>,
    /// When the running server printed `listening`.
    pub server_since: Option<Instant>,
    /// Clients by id.
    pub clients: BTreeMap<u32, Proc>,
    /// Members by id.
    pub members: BTreeMap<u32, Proc>,
    /// Other processes.
    pub others: Vec<Proc>,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run").field("dir", &self.dir).finish()
    }
}

impl Run {
    /// Writes the configurations of a run.
    pub fn new(spec: RunSpec) -> Run {
        let fx = Fixture::get();
        let dir = fx.p(&format!("runs/{}", spec.name));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("run dir");
        let addr: SocketAddr = format!("127.0.0.1:{}", free_udp_port())
            .parse()
            .expect("addr");
        let r = Run {
            fx,
            spec,
            dir,
            addr,
            server: None,
            old_servers: vec![],
            server_since: None,
            clients: BTreeMap::new(),
            members: BTreeMap::new(),
            others: vec![],
        };
        r.write_configs();
        r
    }

    /// The server's data directory.
    pub fn server_dir(&self) -> PathBuf {
        self.dir.join("server")
    }

    fn identity(&self, cert: &Path, key: &Path, pass: &Path) -> String {
        format!(
            "ca = {}\nroster = {}\ncert = {}\nkey = {}\npassphrase_file = {}\n",
            q(&self.fx.ca()),
            q(&self.fx.roster()),
            q(cert),
            q(key),
            q(pass)
        )
    }

    fn write_configs(&self) {
        let fx = self.fx;
        let sp = &self.spec;
        let server_cert = fx.cert("ca", SERVER_ID, "server");
        let dp = if sp.dp {
            "[dp]\nepsilon = 8.0\ndelta = 1e-5\n"
        } else {
            ""
        };
        let serve = format!(
            "federation = \"{FEDERATION}\"\nlisten = \"{addr}\"\ndata_dir = {data}\ntranscript = {tr}\n\n\
             [identity]\n{id}\n\
             [model]\nkind = \"softmax\"\nfeatures = 64\nclasses = 10\ninit_seed = 1\n\n\
             [rounds]\ncount = {rounds}\nsampling_rate = 1.0\nmin_clients = {minc}\ndeadline_secs = {dl}\n\
             share_timeout_secs = {st}\nwait_for_clients_secs = {wait}\nclip = {clip:?}\nbits = 28\nserver_lr = {lr:?}\n\n\
             {dp}\n[evaluation]\ndataset = \"digits\"\n\n\
             [limits]\nmax_inflight_submissions = 64\nmax_streams_per_peer = 4\nmax_connections = 1000\n\
             max_frames_per_second = 20.0\nidle_timeout_secs = {idle}\n",
            addr = self.addr,
            data = q(&self.server_dir()),
            tr = q(&fx.transcript()),
            id = self.identity(
                &server_cert,
                &server_cert.with_extension("key"),
                &fx.key_pass()
            ),
            rounds = sp.rounds,
            minc = sp.min_clients,
            dl = sp.deadline_secs,
            st = sp.share_timeout_secs,
            wait = sp.wait_secs,
            clip = sp.clip,
            lr = sp.server_lr,
            idle = sp.idle_secs,
        );
        std::fs::write(self.dir.join("serve.toml"), serve).expect("write");
        for i in 0..CLIENTS as u32 {
            let id = FIRST_CLIENT + i;
            self.write_client_config(id, &fx.cert("ca", id, "client"), i as usize);
        }
        for (i, id) in MEMBERS.iter().enumerate() {
            let _ = i;
            let m = fx.member_dir(*id);
            let c = format!(
                "server = \"{addr}\"\nserver_name = \"localhost\"\nfederation = \"{FEDERATION}\"\n\
                 data_dir = {data}\ntranscript = {tr}\n\n\
                 [member]\nkey_share = {share}\nmin_contributors = {minc}\nmax_rounds = 20\n\n\
                 [member.identity]\n{id}",
                addr = self.addr,
                data = q(&self.dir.join(format!("member-{id}"))),
                tr = q(&fx.transcript()),
                share = q(&m.join("key-share.sealed")),
                minc = sp.min_clients,
                id = self.identity(
                    &m.join("member.crt"),
                    &m.join("member.key"),
                    &m.join("pass")
                ),
            );
            std::fs::write(self.dir.join(format!("member-{id}.toml")), c).expect("write");
        }
    }

    /// Writes `client-{id}.toml` for a client with certificate `cert` (key
    /// next to it) holding data part `index`; returns its path.
    pub fn write_client_config(&self, id: u32, cert: &Path, index: usize) -> PathBuf {
        let fx = self.fx;
        let c = format!(
            "server = \"{addr}\"\nserver_name = \"localhost\"\nfederation = \"{FEDERATION}\"\n\
             data_dir = {data}\ntranscript = {tr}\n\n\
             [identity]\n{ident}\n\
             [data]\ndataset = \"digits\"\nparts = {parts}\nindex = {index}\npartition = \"iid\"\nseed = {DATA_SEED}\n\n\
             [training]\nmodel = \"softmax\"\nepochs = {EPOCHS}\nbatch_size = {BATCH}\nlr = {LR:?}\n",
            addr = self.addr,
            data = q(&self.dir.join(format!("client-{id}"))),
            tr = q(&fx.transcript()),
            ident = self.identity(cert, &cert.with_extension("key"), &fx.key_pass()),
            parts = CLIENTS,
        );
        let path = self.dir.join(format!("client-{id}.toml"));
        std::fs::write(&path, c).expect("write");
        path
    }

    fn spawn(&self, name: &str, cmd: &str, config: &Path) -> Proc {
        Proc::spawn(
            name,
            &[cmd, "--config", &s(config)],
            &self.dir.join(format!("{name}.stderr")),
        )
    }

    /// Starts `fedhe serve` and waits for its `listening` line.
    pub fn start_server(&mut self) -> &Proc {
        assert!(self.server.is_none(), "the server runs already");
        let name = match self.old_servers.len() {
            0 => "server".to_string(),
            k => format!("server-{}", k + 1),
        };
        let p = self.spawn(&name, "serve", &self.dir.join("serve.toml"));
        p.wait_event("listening", None, Duration::from_secs(60));
        self.server_since = Some(Instant::now());
        self.server = Some(p);
        self.server()
    }

    /// The running server.
    pub fn server(&self) -> &Proc {
        self.server.as_ref().expect("the server is running")
    }

    /// kill -9 the server (kept for diagnostics).
    pub fn kill_server(&mut self) {
        let mut p = self.server.take().expect("a running server");
        p.kill();
        self.old_servers.push(p);
    }

    /// Starts `fedhe client` for client `id`.
    pub fn start_client(&mut self, id: u32) {
        let p = self.spawn(
            &format!("client-{id}"),
            "client",
            &self.dir.join(format!("client-{id}.toml")),
        );
        self.clients.insert(id, p);
    }

    /// Starts `fedhe committee` for member `id`.
    pub fn start_member(&mut self, id: u32) {
        let p = self.spawn(
            &format!("member-{id}"),
            "committee",
            &self.dir.join(format!("member-{id}.toml")),
        );
        self.members.insert(id, p);
    }

    /// Starts every member and every client.
    pub fn start_participants(&mut self) {
        for id in MEMBERS {
            self.start_member(id);
        }
        for i in 0..CLIENTS as u32 {
            self.start_client(FIRST_CLIENT + i);
        }
    }

    /// Starts another `fedhe` process (its stderr in the run directory).
    pub fn spawn_other(&mut self, name: &str, a: &[&str]) -> &mut Proc {
        let p = Proc::spawn(name, a, &self.dir.join(format!("{name}.stderr")));
        self.others.push(p);
        self.others.last_mut().expect("just pushed")
    }

    /// Runs `fedhe ARGS` to completion and parses its JSON stdout.
    pub fn fedhe_json(&self, a: &[&str]) -> Value {
        fedhe_json(a)
    }

    /// Every client and member exits 0 (after the server's last round).
    pub fn expect_participants_exit_ok(&mut self, timeout: Duration) {
        for p in self.clients.values_mut().chain(self.members.values_mut()) {
            let st = p.wait_exit(timeout);
            assert!(st.success(), "{} exited with {st}\n{}", p.name, p.tail(30));
            assert!(
                p.try_wait_from(0, Duration::ZERO, |v| v["event"] == "finished")
                    .is_some(),
                "{} printed no finished line\n{}",
                p.name,
                p.tail(30)
            );
        }
    }

    /// Diagnostics of every process.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        for p in self
            .old_servers
            .iter()
            .chain(self.server.iter())
            .chain(self.members.values())
            .chain(self.clients.values())
            .chain(self.others.iter())
        {
            out.push_str(&p.tail(25));
            out.push('\n');
        }
        out
    }

    /// `fedhe audit verify --data-dir SERVER --json`.
    pub fn audit_verify(&self) -> Value {
        let v = fedhe_json(&[
            "audit",
            "verify",
            "--data-dir",
            &s(&self.server_dir()),
            "--json",
        ]);
        assert_eq!(v["ok"], true, "audit verify: {v}");
        v
    }

    /// `fedhe models list --json`.
    pub fn models(&self) -> Vec<Value> {
        let v = fedhe_json(&[
            "models",
            "list",
            "--data-dir",
            &s(&self.server_dir()),
            "--json",
        ]);
        v["models"].as_array().expect("models").clone()
    }

    /// `fedhe models show VERSION --json`.
    pub fn model_show(&self, version: &str) -> Value {
        fedhe_json(&[
            "models",
            "show",
            version,
            "--data-dir",
            &s(&self.server_dir()),
            "--json",
        ])
    }

    /// `fedhe models export VERSION` as f32 values (the .npy parsed).
    pub fn model_export(&self, version: &str) -> Vec<f32> {
        let out = self.dir.join(format!("model-{version}.npy"));
        fedhe_json(&[
            "models",
            "export",
            version,
            "--data-dir",
            &s(&self.server_dir()),
            "--out",
            &s(&out),
            "--force",
            "--json",
        ]);
        read_npy_f32(&out)
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "==== run {} failed; its processes:\n{}",
                self.spec.name,
                self.dump()
            );
        }
        // Processes die with their Proc; the directory stays on failure.
        if !std::thread::panicking() {
            self.server = None;
            self.old_servers.clear();
            self.clients.clear();
            self.members.clear();
            self.others.clear();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Parses a 1-D little-endian float32 `.npy` file (format 1.0 or 2.0).
pub fn read_npy_f32(path: &Path) -> Vec<f32> {
    let b = std::fs::read(path).expect("read npy");
    assert_eq!(&b[..6], b"\x93NUMPY", "{}: not a .npy file", path.display());
    let (hlen, start) = match b[6] {
        1 => (usize::from(u16::from_le_bytes([b[8], b[9]])), 10),
        _ => (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12),
    };
    let header = std::str::from_utf8(&b[start..start + hlen]).expect("header");
    assert!(
        header.contains("'descr': '<f4'") && header.contains("'fortran_order': False"),
        "{header}"
    );
    let n: usize = header
        .split("'shape': (")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.trim().trim_end_matches(')').parse().ok())
        .expect("shape");
    let body = &b[start + hlen..];
    assert_eq!(
        body.len(),
        4 * n,
        "{}: {n} values announced",
        path.display()
    );
    body.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// L2 norm.
pub fn l2(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

// ---------------------------------------------------------------- our own QUIC clients

/// The tests' own QUIC clients (quinn over rustls with the ring provider).
pub mod raw {
    use std::net::SocketAddr;
    use std::path::Path;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use fedhe_keys::sealed::{self, Passphrase, SealedKind};
    use fedhe_node::federation::Federation;
    use fedhe_node::tls::{self, Credentials, TransportLimits, Trust};
    use fedhe_protocols::round::{ClientEvent, ClientRound, EncoderCache, Identity};
    use fedhe_protocols::{Limits, Message, ParticipantId, RoundId, SigningKey};
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng as _;
    use tokio::sync::mpsc;

    use super::{FEDERATION, Fixture, s};

    /// A runtime whose worker keeps our connections alive between calls.
    pub fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime")
    }

    fn read(p: &Path) -> Vec<u8> {
        std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// The federation's CA and roster.
    pub fn trust(fx: &Fixture) -> Trust {
        Trust::new(
            &s(&fx.ca()),
            &read(&fx.ca()),
            &s(&fx.roster()),
            &read(&fx.roster()),
        )
        .expect("trust")
    }

    /// The federation as a participant sees it (transcript verified).
    pub fn federation(fx: &Fixture) -> Arc<Federation> {
        Arc::new(
            Federation::from_transcript(
                FEDERATION,
                trust(fx),
                &s(&fx.transcript()),
                &read(&fx.transcript()),
            )
            .expect("federation"),
        )
    }

    /// A participant certificate and its sealed key (`.key` next to it).
    pub fn credentials(fx: &Fixture, cert: &Path) -> Credentials {
        let key = cert.with_extension("key");
        let p = Passphrase::new(read(&fx.key_pass())).expect("passphrase");
        let (_, pkcs8) = sealed::open(&s(&key), &read(&key), SealedKind::ParticipantKey, &p)
            .expect("open the sealed key");
        Credentials::from_pkcs8(&s(cert), &read(cert), &s(&key), &pkcs8).expect("credentials")
    }

    fn limits() -> TransportLimits {
        TransportLimits {
            max_streams: 16,
            idle_timeout: Duration::from_secs(30),
            receive_window: TransportLimits::PEER_RECEIVE_WINDOW,
        }
    }

    /// A client configuration presenting `me` (trusting the federation CA).
    pub fn config_with(trust: &Trust, me: &Credentials) -> quinn::ClientConfig {
        tls::client_config(trust, me, limits()).expect("client config")
    }

    /// A client configuration that presents NO certificate (otherwise as
    /// the runtime's: TLS 1.3, ALPN fedhe/1, the federation CA as root).
    pub fn config_without_certificate(trust: &Trust) -> quinn::ClientConfig {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from(
                trust.ca_der.clone(),
            ))
            .expect("root");
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("tls 1.3")
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = vec![tls::ALPN.to_vec()];
        let q = quinn::crypto::rustls::QuicClientConfig::try_from(cfg).expect("quic config");
        quinn::ClientConfig::new(Arc::new(q))
    }

    /// A QUIC endpoint on an ephemeral loopback port (within a runtime).
    pub fn endpoint() -> quinn::Endpoint {
        quinn::Endpoint::client("127.0.0.1:0".parse().expect("addr")).expect("endpoint")
    }

    /// What became of a connection attempt.
    #[derive(Debug)]
    pub enum Attempt {
        /// The handshake failed.
        HandshakeFailed(String),
        /// The handshake completed, then the server closed the connection
        /// within the wait.
        ClosedAfter(String),
        /// Still open after the wait.
        Open,
    }

    /// Connects with `cfg`, then waits up to `wait` for the server to close
    /// the connection (a server that refuses a peer closes it).
    pub async fn attempt(cfg: quinn::ClientConfig, addr: SocketAddr, wait: Duration) -> Attempt {
        let ep = endpoint();
        let connecting = match ep.connect_with(cfg, addr, "localhost") {
            Ok(c) => c,
            Err(e) => return Attempt::HandshakeFailed(e.to_string()),
        };
        let conn = match tokio::time::timeout(wait, connecting).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Attempt::HandshakeFailed(e.to_string()),
            Err(_) => return Attempt::HandshakeFailed("handshake timed out".into()),
        };
        // With TLS 1.3 the client may finish its side of the handshake
        // before the server has checked the client's certificate.
        match tokio::time::timeout(wait, conn.closed()).await {
            Ok(e) => Attempt::ClosedAfter(e.to_string()),
            Err(_) => Attempt::Open,
        }
    }

    /// An authenticated connection with the server's frames decoded as
    /// they arrive.
    #[derive(Debug)]
    pub struct RawClient {
        /// The connection.
        pub conn: quinn::Connection,
        /// Messages from the server.
        pub inbox: mpsc::UnboundedReceiver<Message>,
        /// Our id.
        pub id: u32,
        seed: zeroize::Zeroizing<[u8; 32]>,
        _endpoint: quinn::Endpoint,
    }

    impl RawClient {
        /// Connects as the holder of `me` (participant `id`).
        pub async fn connect(
            trust: &Trust,
            me: &Credentials,
            id: u32,
            addr: SocketAddr,
        ) -> RawClient {
            let ep = endpoint();
            let conn = ep
                .connect_with(config_with(trust, me), addr, "localhost")
                .expect("connect")
                .await
                .expect("handshake");
            let (tx, inbox) = mpsc::unbounded_channel();
            let c = conn.clone();
            tokio::spawn(async move {
                while let Ok(mut recv) = c.accept_uni().await {
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        if let Ok((_, f)) =
                            fedhe_node::wire::read_frame(&mut recv, &Limits::DEFAULT).await
                            && let Ok(m) = Message::decode(&f, &Limits::DEFAULT)
                        {
                            let _ = tx.send(m);
                        }
                    });
                }
            });
            RawClient {
                conn,
                inbox,
                id,
                seed: me.signing_seed().clone(),
                _endpoint: ep,
            }
        }

        /// Sends raw bytes as one stream (finished after them).
        pub async fn send_raw(&self, bytes: &[u8]) {
            // Errors (a stream the server stopped) do not matter here.
            if let Ok(mut s) = self.conn.open_uni().await {
                let _ = s.write_all(bytes).await;
                let _ = s.finish();
                let _ = tokio::time::timeout(Duration::from_secs(2), s.stopped()).await;
            }
        }

        /// The next message satisfying `pred` (others are dropped).
        pub async fn next(
            &mut self,
            what: &str,
            timeout: Duration,
            pred: impl Fn(&Message) -> bool,
        ) -> Message {
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                match tokio::time::timeout_at(deadline, self.inbox.recv()).await {
                    Ok(Some(m)) if pred(&m) => return m,
                    Ok(Some(_)) => {}
                    Ok(None) => panic!("raw client {}: connection ended before {what}", self.id),
                    Err(_) => panic!("raw client {}: no {what} within {timeout:?}", self.id),
                }
            }
        }

        /// The round open of `round`.
        pub async fn round_open(&mut self, round: u64, timeout: Duration) -> Message {
            self.next(
                &format!("round open {round}"),
                timeout,
                |m| matches!(m, Message::RoundOpen(o) if o.round.0 == round),
            )
            .await
        }

        /// An honest submission (a zero update, encrypted and signed as a
        /// client does) for the round `open` opens: its frame.
        pub fn submission(&self, fed: &Federation, open: Message) -> Vec<u8> {
            let me = Identity {
                federation: fed.id,
                id: ParticipantId(self.id),
                key: SigningKey::from_seed(&self.seed),
                server: fed.server,
                server_key: fed.server_key,
            };
            let after = match &open {
                Message::RoundOpen(o) => o.round.0.checked_sub(1).map(RoundId),
                _ => None,
            };
            let mut m = ClientRound::new(
                fed.ctx.clone(),
                fed.public_key.clone(),
                me,
                Arc::new(EncoderCache::new()),
                after.filter(|r| r.0 > 0),
                ChaCha20Rng::seed_from_u64(u64::from(self.id)),
            );
            m.handle_message(Instant::now(), fed.server, open);
            let mut dim = None;
            while let Some(e) = m.poll_event() {
                if let ClientEvent::Train { model, .. } = e {
                    dim = Some(model.parameters.len());
                }
            }
            let dim = dim.expect("the round open asks to train");
            m.submit_update(Instant::now(), &vec![0.0; dim])
                .expect("submit");
            let t = m.poll_transmit().expect("the submission");
            assert!(matches!(t.message, Message::Submission(_)));
            t.message.encode().expect("encode")
        }

        /// Waits for the receipt of our submission in `round`.
        pub async fn receipt(&mut self, round: u64, timeout: Duration) {
            let id = self.id;
            self.next(
                &format!("receipt of round {round}"),
                timeout,
                |m| matches!(m, Message::Receipt(r) if r.round.0 == round && r.sender.0 == id),
            )
            .await;
        }
    }

    /// A client that connects as `me`, reads nothing, sends nothing, and
    /// reconnects (handshakes bounded to 5 s) whenever its connection ends;
    /// returns how many connections it has made so far.
    pub fn spawn_silent(
        rt: &tokio::runtime::Runtime,
        trust: &Trust,
        me: &Credentials,
        addr: SocketAddr,
    ) -> Arc<std::sync::atomic::AtomicUsize> {
        let cfg = config_with(trust, me);
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c = count.clone();
        rt.spawn(async move {
            let ep = endpoint();
            loop {
                if let Ok(connecting) = ep.connect_with(cfg.clone(), addr, "localhost")
                    && let Ok(Ok(conn)) =
                        tokio::time::timeout(Duration::from_secs(5), connecting).await
                {
                    c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let _ = conn.closed().await;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        count
    }

    /// Sends one frame (or any bytes) on a new stream of `c`.
    pub async fn send(c: &RawClient, bytes: &[u8]) {
        c.send_raw(bytes).await;
    }

    /// Answers every round open with an honest submission until the
    /// connection ends.
    pub async fn keep_submitting(mut c: RawClient, fed: Arc<Federation>) {
        while let Some(m) = c.inbox.recv().await {
            if matches!(m, Message::RoundOpen(_)) {
                let f = c.submission(&fed, m);
                c.send_raw(&f).await;
            }
        }
    }
}
