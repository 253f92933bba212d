//! Whole runs over real QUIC on loopback, in one process (`quic_sim`): a
//! server with its SQLite store, every client and committee member as its
//! own task with its own mutually authenticated connection. The INSECURE
//! test parameter set (N = 64) keeps them fast in debug builds.

use std::sync::Arc;
use std::time::Duration;

use fedhe_he::params::TEST_INSECURE_64;
use fedhe_he::{Committee, HeContext};
use fedhe_learn::{FederatedData, ModelSpec, Partition, TrainConfig, client_seed, local_train};
use fedhe_node::quic_sim::{QuicOptions, run};
use fedhe_node::sim::{DpTarget, Sampling, SimConfig};
use fedhe_node::store::{DB_FILE, Store};

fn data(clients: usize) -> FederatedData {
    let mut ds = fedhe_learn::digits().expect("digits");
    ds.standardize().expect("standardize");
    let parts = fedhe_learn::partition(Partition::Iid, ds.train.y(), ds.n_classes(), clients, 3)
        .expect("partition");
    FederatedData::from_partition(&ds, &parts).expect("federated")
}

fn ctx() -> Arc<HeContext> {
    let p = TEST_INSECURE_64
        .deployment(
            64,
            Committee {
                threshold: 3,
                members: 5,
            },
        )
        .expect("deployment");
    HeContext::new_insecure(p).expect("context")
}

const LOCAL: TrainConfig = TrainConfig {
    lr: 0.1,
    batch_size: 10,
    epochs: 1,
    weight_decay: 0.0,
    prox_mu: 0.0,
};

fn config(rounds: usize, dp: Option<DpTarget>) -> SimConfig {
    SimConfig {
        ctx: ctx(),
        model: ModelSpec::Softmax,
        local: LOCAL,
        rounds,
        sampling: Sampling::Fixed { per_round: 12 },
        min_clients: 4,
        clip: 5.0,
        bits: 20,
        dp,
        he: true,
        client_dropout: 0.0,
        committee_dropout: 0.0,
        server_lr: 1.0,
        seed: 5,
        crypto_seed: None,
    }
}

fn temp(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("fedhe-quic-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// DP off: the one round's model change is the plaintext mean of the
/// contributors' local updates (as the clients compute them: seeded by
/// participant id = index + 1) up to the quantization bound `γ·√d`; the
/// store holds versions 0 and 1 and a verifying audit chain.
#[test]
fn quic_round_equals_plaintext_mean_and_is_durable() {
    let data = data(20);
    let cfg = config(1, None);
    let dir = temp("plain");
    let opts = QuicOptions {
        data_dir: Some(dir.clone()),
        deadline: Duration::from_secs(20),
        ..QuicOptions::default()
    };
    let rep = run(&data, &cfg, &opts, |_| {}).expect("quic run");
    assert_eq!(rep.transport, "quic");
    assert_eq!(rep.rounds.len(), 1);
    let r = &rep.rounds[0];
    assert!(r.failed.is_none(), "{:?}", r.failed);
    assert!(r.contributors.len() >= cfg.min_clients, "{r:?}");
    let init = cfg
        .model
        .build(data.n_features(), data.n_classes(), cfg.seed)
        .expect("model");
    let w0 = init.params().to_vec();
    let mut mean = vec![0.0f64; w0.len()];
    for &k in &r.contributors {
        let u = local_train(
            &cfg.model,
            &w0,
            &data.clients[k],
            &cfg.local,
            client_seed(cfg.seed, 1, k + 1),
        )
        .expect("train")
        .delta;
        let n: f64 = u.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
        assert!(n < cfg.clip, "update of {k} clipped ({n})");
        mean.iter_mut()
            .zip(&u)
            .for_each(|(m, v)| *m += f64::from(*v));
    }
    let n = r.contributors.len() as f64;
    let err = rep
        .params
        .iter()
        .zip(&w0)
        .zip(&mean)
        .map(|((w1, w0), m)| (f64::from(*w1) - f64::from(*w0) - m / n).powi(2))
        .sum::<f64>()
        .sqrt();
    let bound = rep.gamma * (w0.len().next_power_of_two() as f64).sqrt();
    assert!(err <= bound, "error {err} above the bound {bound}");
    let store = Store::open_read_only(&dir.join("server").join(DB_FILE)).expect("store");
    let models = store.models().expect("models");
    assert_eq!(
        models.iter().map(|m| m.version).collect::<Vec<_>>(),
        vec![0, 1]
    );
    let v1 = store.model(1).expect("v1");
    assert_eq!(v1.params, rep.params);
    let audit = store.verify_audit().expect("audit chain");
    assert!(audit.entries as usize >= r.contributors.len() + 3);
    let m = rep.metrics.as_ref().expect("metrics");
    assert_eq!(
        m["submissions_accepted_total"].as_u64(),
        Some(r.contributors.len() as u64),
        "{m}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// DP on, several rounds: every round completes, ε grows and stays within
/// the target, the ledger has a record per round.
#[test]
fn quic_private_rounds_spend_within_the_target() {
    let data = data(20);
    let cfg = config(
        3,
        Some(DpTarget {
            epsilon: 8.0,
            delta: 1e-5,
        }),
    );
    let dir = temp("dp");
    let opts = QuicOptions {
        data_dir: Some(dir.clone()),
        deadline: Duration::from_secs(20),
        ..QuicOptions::default()
    };
    let mut seen = 0;
    let rep = run(&data, &cfg, &opts, |_| seen += 1).expect("quic run");
    assert_eq!(seen, 3);
    let eps: Vec<f64> = rep.rounds.iter().map(|r| r.epsilon).collect();
    assert!(
        rep.rounds.iter().all(|r| r.failed.is_none()),
        "{:?}",
        rep.rounds
    );
    assert!(eps.windows(2).all(|w| w[1] > w[0]), "{eps:?}");
    assert!(
        rep.epsilon_spent > 0.0 && rep.epsilon_spent <= 8.0 * (1.0 + 1e-6),
        "{eps:?}"
    );
    let store = Store::open_read_only(&dir.join("server").join(DB_FILE)).expect("store");
    assert_eq!(store.ledger().expect("ledger").len(), 3);
    store.verify_audit().expect("audit chain");
    std::fs::remove_dir_all(&dir).ok();
}
