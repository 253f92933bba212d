//! Prometheus exposition of the server metrics and the loopback endpoint.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use fedhe_node::metrics::{Metrics, Phase, conn_refuse, refuse, serve_metrics};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Parses the exposition back: sample name (with labels) → value, and the
/// declared type of every family. Checks the format line by line.
fn parse(text: &str) -> (HashMap<String, f64>, HashMap<String, String>) {
    let mut samples = HashMap::new();
    let mut types = HashMap::new();
    let mut helped = std::collections::HashSet::new();
    for line in text.lines() {
        assert!(!line.is_empty(), "empty line in exposition");
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name and text");
            assert!(!help.is_empty());
            assert!(helped.insert(name.to_string()), "duplicate HELP for {name}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name and kind");
            assert!(helped.contains(name), "TYPE before HELP for {name}");
            assert!(matches!(kind, "counter" | "gauge"), "{kind}");
            assert!(types.insert(name.to_string(), kind.to_string()).is_none());
        } else {
            assert!(!line.starts_with('#'), "{line}");
            let (series, value) = line.rsplit_once(' ').expect("series and value");
            let family = series.split('{').next().expect("family");
            assert!(types.contains_key(family), "sample before TYPE: {line}");
            assert!(
                family
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{family}"
            );
            if let Some(labels) = series.strip_prefix(family)
                && !labels.is_empty()
            {
                assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
                let inner = &labels[1..labels.len() - 1];
                let (k, v) = inner.split_once('=').expect("label pair");
                assert!(k.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
                assert!(v.starts_with('"') && v.ends_with('"'), "{line}");
            }
            let v = match value {
                "NaN" => f64::NAN,
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().expect("numeric sample value"),
            };
            assert!(
                samples.insert(series.to_string(), v).is_none(),
                "duplicate series {series}"
            );
        }
    }
    (samples, types)
}

#[test]
fn render_round_trips() {
    let m = Metrics::new();
    let fresh = parse(&m.render()).0;
    assert_eq!(fresh["fedhe_submissions_accepted_total"], 0.0);
    assert_eq!(
        fresh["fedhe_submissions_refused_total{reason=\"duplicate\"}"],
        0.0
    );
    assert!(fresh["fedhe_model_accuracy"].is_nan());
    assert!(fresh["fedhe_phase_seconds{phase=\"decrypt\"}"].is_nan());

    let clone = m.clone();
    for _ in 0..3 {
        clone.inc_accepted();
    }
    m.inc_refused(refuse::DUPLICATE);
    m.inc_refused(refuse::DUPLICATE);
    m.inc_refused(refuse::WRONG_ROUND);
    m.inc_refused("custom");
    m.inc_rounds_completed();
    m.inc_rounds_failed();
    m.inc_decryption_requests();
    m.add_bytes_received(1234);
    m.add_bytes_received(1);
    m.inc_connections_refused(conn_refuse::TLS);
    m.set_round(7);
    m.set_round_contributors(42);
    m.set_epsilon_spent(1.25);
    m.set_model_quality(0.875, 0.5);
    m.set_dropouts(3);
    m.set_phase(Phase::Collect, 2.5);
    m.set_phase(Phase::Round, f64::INFINITY);
    let inflight = m.inflight_guard();
    let p1 = m.peer_guard();
    let p2 = m.peer_guard();
    drop(p1);

    let (s, types) = parse(&m.render());
    assert_eq!(s["fedhe_submissions_accepted_total"], 3.0);
    assert_eq!(
        s["fedhe_submissions_refused_total{reason=\"duplicate\"}"],
        2.0
    );
    assert_eq!(
        s["fedhe_submissions_refused_total{reason=\"wrong_round\"}"],
        1.0
    );
    assert_eq!(s["fedhe_submissions_refused_total{reason=\"custom\"}"], 1.0);
    assert_eq!(s["fedhe_submissions_refused_total{reason=\"closed\"}"], 0.0);
    assert_eq!(s["fedhe_rounds_completed_total"], 1.0);
    assert_eq!(s["fedhe_rounds_failed_total"], 1.0);
    assert_eq!(s["fedhe_decryption_requests_total"], 1.0);
    assert_eq!(s["fedhe_bytes_received_total"], 1235.0);
    assert_eq!(s["fedhe_connections_refused_total{reason=\"tls\"}"], 1.0);
    assert_eq!(s["fedhe_round"], 7.0);
    assert_eq!(s["fedhe_round_contributors"], 42.0);
    assert_eq!(s["fedhe_epsilon_spent"], 1.25);
    assert_eq!(s["fedhe_model_accuracy"], 0.875);
    assert_eq!(s["fedhe_model_loss"], 0.5);
    assert_eq!(s["fedhe_inflight_submissions"], 1.0);
    assert_eq!(s["fedhe_connected_peers"], 1.0);
    assert_eq!(s["fedhe_dropouts"], 3.0);
    assert_eq!(s["fedhe_phase_seconds{phase=\"collect\"}"], 2.5);
    assert_eq!(s["fedhe_phase_seconds{phase=\"round\"}"], f64::INFINITY);
    for p in Phase::ALL {
        assert!(s.contains_key(&format!("fedhe_phase_seconds{{phase=\"{}\"}}", p.as_str())));
    }
    assert_eq!(types["fedhe_bytes_received_total"], "counter");
    assert_eq!(types["fedhe_connections_refused_total"], "counter");
    assert_eq!(types["fedhe_round"], "gauge");
    assert_eq!(types["fedhe_phase_seconds"], "gauge");
    for name in types.keys() {
        assert_eq!(
            name.ends_with("_total"),
            types[name] == "counter",
            "counter naming of {name}"
        );
    }

    let snap = m.snapshot();
    assert_eq!(snap["submissions_accepted_total"], 3);
    assert_eq!(snap["submissions_refused_total"]["duplicate"], 2);
    assert_eq!(snap["model_accuracy"], 0.875);
    assert_eq!(snap["phase_seconds"]["collect"], 2.5);
    assert!(snap["phase_seconds"]["decrypt"].is_null());
    assert_eq!(snap["connected_peers"], 1);

    drop(inflight);
    drop(p2);
    assert_eq!(m.inflight_submissions(), 0);
    assert_eq!(m.connected_peers(), 0);
    assert_eq!(m.submissions_accepted(), 3);
    assert_eq!(m.submissions_refused(refuse::DUPLICATE), 2);
}

#[test]
fn metrics_is_send_sync() {
    fn ok<T: Send + Sync + Clone + 'static>() {}
    ok::<Metrics>();
}

async fn request(addr: SocketAddr, req: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(req).await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("response in time")
        .expect("read");
    String::from_utf8(out).expect("utf-8 response")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_metrics_over_loopback() {
    let m = Metrics::new();
    m.inc_accepted();
    m.set_round(5);
    let (addr, handle) = serve_metrics("127.0.0.1:0".parse().expect("addr"), m.clone())
        .await
        .expect("serve");
    assert!(addr.ip().is_loopback());
    assert_ne!(addr.port(), 0);

    let resp = request(
        addr,
        b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n",
    )
    .await;
    let (head, body) = resp.split_once("\r\n\r\n").expect("head and body");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .expect("content length")
        .parse()
        .expect("number");
    assert_eq!(len, body.len());
    let (s, _) = parse(body);
    assert_eq!(s["fedhe_submissions_accepted_total"], 1.0);
    assert_eq!(s["fedhe_round"], 5.0);

    // Updates show up on the next scrape.
    m.inc_accepted();
    let resp = request(addr, b"GET /metrics?x=1 HTTP/1.0\r\n\r\n").await;
    assert!(
        resp.contains("\nfedhe_submissions_accepted_total 2\n"),
        "{resp}"
    );

    let resp = request(addr, b"GET / HTTP/1.1\r\n\r\n").await;
    assert!(resp.starts_with("HTTP/1.1 404"), "{resp}");
    let resp = request(addr, b"POST /metrics HTTP/1.1\r\n\r\n").await;
    assert!(resp.starts_with("HTTP/1.1 404"), "{resp}");
    let resp = request(addr, b"garbage\r\n\r\n").await;
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");

    // Larger than 8 KiB without the end of the headers: closed without a response.
    let mut big = b"GET /metrics HTTP/1.1\r\nX-Pad: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 9 * 1024));
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let _ = s.write_all(&big).await; // the server may close mid-write
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("closed in time");
    assert!(out.is_empty(), "no response to an oversized request");

    // Many concurrent scrapes all get answered (at most 16 at a time).
    let mut tasks = Vec::new();
    for _ in 0..40 {
        tasks.push(tokio::spawn(async move {
            request(addr, b"GET /metrics HTTP/1.1\r\n\r\n").await
        }));
    }
    for t in tasks {
        assert!(t.await.expect("task").starts_with("HTTP/1.1 200"));
    }

    handle.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_closed() {
    let (addr, handle) = serve_metrics("127.0.0.1:0".parse().expect("addr"), Metrics::new())
        .await
        .expect("serve");
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /metr").await.expect("partial request");
    let start = std::time::Instant::now();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), s.read_to_end(&mut out))
        .await
        .expect("closed by the server")
        .expect("read");
    assert!(out.is_empty());
    let waited = start.elapsed();
    assert!(waited >= Duration::from_secs(4), "{waited:?}");
    handle.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_loopback_refused() {
    for a in ["0.0.0.0:0", "192.0.2.1:9100", "[::]:0"] {
        let err = serve_metrics(a.parse().expect("addr"), Metrics::new())
            .await
            .expect_err("not loopback");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{a}");
    }
    // IPv6 loopback works where available.
    if let Ok((addr, h)) = serve_metrics("[::1]:0".parse().expect("addr"), Metrics::new()).await {
        assert!(addr.is_ipv6());
        h.abort();
    }
}
