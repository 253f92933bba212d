//! Whole simulated runs on the embedded digits data with an INSECURE test
//! parameter set (N = 64), so that they finish in seconds in debug builds.

use std::sync::Arc;

use fedhe_he::params::TEST_INSECURE_64;
use fedhe_he::{Committee, HeContext};
use fedhe_learn::{
    FedAvgConfig, FederatedData, ModelSpec, Partition, TrainConfig, Weighting, client_seed, fedavg,
    local_train,
};
use fedhe_node::sim::{DpTarget, Sampling, SimConfig, run};

fn data(clients: usize) -> FederatedData {
    let mut ds = fedhe_learn::digits().expect("digits");
    ds.standardize().expect("standardize");
    let parts = fedhe_learn::partition(Partition::Iid, ds.train.y(), ds.n_classes(), clients, 3)
        .expect("partition");
    FederatedData::from_partition(&ds, &parts).expect("federated")
}

fn ctx(t: u16, n: u16) -> Arc<HeContext> {
    let p = TEST_INSECURE_64
        .deployment(
            64,
            Committee {
                threshold: t,
                members: n,
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

fn config(ctx: Arc<HeContext>) -> SimConfig {
    SimConfig {
        ctx,
        model: ModelSpec::Softmax,
        local: LOCAL,
        rounds: 3,
        sampling: Sampling::Fixed { per_round: 10 },
        min_clients: 5,
        // Above every update's norm (checked below), so nothing is clipped
        // and the comparison is with plain FedAvg.
        clip: 5.0,
        bits: 20,
        dp: None,
        he: true,
        client_dropout: 0.0,
        committee_dropout: 0.0,
        server_lr: 1.0,
        seed: 3,
        crypto_seed: Some(1),
    }
}

fn l2(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// With DP off, every round of the encrypted run moves the global model by
/// the plaintext FedAvg mean update (uniform weights) of the same clients
/// from the same model, up to the quantization error.
///
/// The bound: each client's rotated, scaled update is randomly rounded,
/// an error below 1 per coordinate (scaled units), so the decoded mean's
/// error is below γ per rotated coordinate, and below `γ·√d` in L2 norm
/// after the orthonormal inverse rotation (`d` the padded dimension);
/// dropping the padding cannot increase it. The server step multiplies it
/// by `server_lr`. A small allowance covers f32 rounding of the model.
#[test]
fn dp_off_encrypted_run_equals_plaintext_fedavg_up_to_quantization() {
    let data = data(20);
    let cfg = config(ctx(2, 3));
    let spec = cfg.model.clone();
    let mut model = spec
        .build(data.n_features(), data.n_classes(), cfg.seed)
        .expect("model");
    let mut prev = model.params().to_vec();
    let d = prev.len().next_power_of_two() as f64;
    let mut checks = Vec::new();
    let report = run(&data, &cfg, |r, params| {
        assert!(r.failed.is_none(), "{:?}", r.failed);
        assert_eq!(r.contributors.len(), 10);
        let mut mean = vec![0.0f64; prev.len()];
        for &k in &r.contributors {
            let u = local_train(
                &spec,
                &prev,
                &data.clients[k],
                &LOCAL,
                client_seed(cfg.seed, r.round, k),
            )
            .expect("train");
            let norm = u
                .delta
                .iter()
                .map(|v| f64::from(*v).powi(2))
                .sum::<f64>()
                .sqrt();
            assert!(
                norm < 5.0,
                "client {k}'s update norm {norm} would be clipped"
            );
            mean.iter_mut()
                .zip(&u.delta)
                .for_each(|(m, v)| *m += f64::from(*v));
        }
        let n = r.contributors.len() as f64;
        let want: Vec<f32> = prev
            .iter()
            .zip(&mean)
            .map(|(w, m)| *w + (m / n) as f32)
            .collect();
        let step = l2(&want, &prev);
        checks.push((l2(params, &want), step));
        prev = params.to_vec();
    })
    .expect("run");
    let bound = cfg.server_lr as f64 * report.gamma * d.sqrt() + 1e-5;
    for (r, (err, step)) in checks.iter().enumerate() {
        eprintln!(
            "round {}: error {err:.3e}, bound {bound:.3e}, step {step:.3e}",
            r + 1
        );
        assert!(
            *err <= bound,
            "round {}: ‖encrypted − plaintext‖ = {err:e} exceeds γ·√d = {bound:e}",
            r + 1
        );
        // The bound is meaningful: far below the update itself.
        assert!(
            bound < 0.05 * step,
            "round {}: bound {bound:e} vs step {step:e}",
            r + 1
        );
    }

    // The whole run against `fedavg` with the same sampling and seeds.
    let base = fedavg(
        &data,
        &FedAvgConfig {
            model: spec.clone(),
            rounds: 3,
            clients_per_round: 10,
            local: LOCAL,
            weighting: Weighting::Uniform,
            server_lr: 1.0,
            seed: cfg.seed,
        },
        |_| {},
    )
    .expect("fedavg");
    let drift = l2(&report.params, &base.params);
    assert!(drift <= 10.0 * bound, "whole-run drift {drift:e}");
    assert!((report.final_accuracy - base.final_metrics.accuracy).abs() <= 0.01);
    model.set_params(&report.params).expect("params");
}

/// Dropouts on both sides: rounds complete with the clients that stayed, or
/// fail cleanly; the ledger only grows for decrypted rounds.
#[test]
fn private_run_with_client_and_committee_dropouts() {
    let data = data(40);
    let mut cfg = config(ctx(3, 5));
    cfg.rounds = 4;
    cfg.sampling = Sampling::Poisson { rate: 0.5 };
    cfg.min_clients = 8;
    cfg.clip = 1.0;
    cfg.dp = Some(DpTarget {
        epsilon: 8.0,
        delta: 1e-5,
    });
    cfg.client_dropout = 0.3;
    cfg.committee_dropout = 0.3;
    let report = run(&data, &cfg, |_, _| {}).expect("run");
    assert_eq!(report.rounds.len(), 4);
    let mut last_eps = 0.0;
    let mut decrypted = 0;
    for r in &report.rounds {
        if r.failed.is_none() {
            decrypted += 1;
            assert!(r.contributors.len() >= 8);
            assert_eq!(r.contributors.len() + r.dropped_clients, r.sampled);
            assert!(r.decryption_requests >= 1);
            // Each new request excluded at least one more member.
            assert!(r.decryption_requests <= r.unavailable_members + 1);
            if r.unavailable_members == 0 {
                assert_eq!(r.decryption_requests, 1);
            }
            assert!(r.epsilon > last_eps);
            last_eps = r.epsilon;
        } else {
            assert_eq!(r.epsilon, last_eps);
        }
    }
    assert!(decrypted >= 1, "{:?}", report.rounds);
    assert!(report.epsilon_spent <= 8.0 * (1.0 + 1e-6));
    let dp = report.dp.expect("plan");
    assert!(dp.planned_epsilon <= 8.0 * (1.0 + 1e-6));
}

/// Without HE the same DDGauss residues are summed in the clear; with both
/// layers off it is plaintext FedAvg.
#[test]
fn layers_switch_off() {
    let data = data(20);
    let mut cfg = config(ctx(2, 3));
    cfg.he = false;
    let plain = run(&data, &cfg, |_, _| {}).expect("plain");
    assert!(plain.rounds.iter().all(|r| r.failed.is_none()));
    assert_eq!(plain.bytes_uploaded_per_client, 4.0 * plain.n_params as f64);
    cfg.dp = Some(DpTarget {
        epsilon: 8.0,
        delta: 1e-5,
    });
    cfg.clip = 1.0;
    let dp_only = run(&data, &cfg, |_, _| {}).expect("dp only");
    assert!(dp_only.epsilon_spent > 0.0);
    assert!(dp_only.bytes_uploaded_per_client < plain.bytes_uploaded_per_client);
}

#[test]
fn bad_settings_are_refused_with_the_setting_named() {
    let data = data(20);
    let mut cfg = config(ctx(2, 3));
    cfg.min_clients = 11;
    let e = run(&data, &cfg, |_, _| {}).expect_err("min clients");
    assert!(e.to_string().contains("min clients"), "{e}");
    let mut cfg = config(ctx(2, 3));
    cfg.bits = 40;
    let e = run(&data, &cfg, |_, _| {}).expect_err("bits");
    assert!(e.to_string().contains("bits"), "{e}");
    let mut cfg = config(ctx(2, 3));
    cfg.client_dropout = 1.0;
    let e = run(&data, &cfg, |_, _| {}).expect_err("dropout");
    assert!(e.to_string().contains("client dropout"), "{e}");
}
