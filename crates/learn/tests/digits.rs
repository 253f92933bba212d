//! Accuracy of the plaintext baselines on the embedded digits, the fixed
//! split, and determinism. All fast enough for the default test run.

use fedhe_learn::{
    Dataset, FedAvgConfig, FederatedData, ModelSpec, Partition, Result, TrainConfig, Weighting,
    digits, fedavg, local_train, partition, train_centralized,
};

/// The digits protocol of the baselines: standardised features, SGD with
/// η = 0.05, batch 10, weight decay 3e-3.
fn cfg(epochs: usize) -> TrainConfig {
    TrainConfig {
        lr: 0.05,
        batch_size: 10,
        epochs,
        weight_decay: 3e-3,
        prox_mu: 0.0,
    }
}

fn standardized_digits() -> Result<Dataset> {
    let mut ds = digits()?;
    ds.standardize()?;
    Ok(ds)
}

fn federated(ds: &Dataset, p: Partition, k: usize, seed: u64) -> Result<FederatedData> {
    let parts = partition(p, ds.train.y(), ds.n_classes(), k, seed)?;
    FederatedData::from_partition(ds, &parts)
}

fn run_fedavg(p: Partition, seed: u64) -> Result<f64> {
    let ds = standardized_digits()?;
    let data = federated(&ds, p, 10, seed)?;
    let c = FedAvgConfig {
        model: ModelSpec::Softmax,
        rounds: 100,
        clients_per_round: 10,
        local: cfg(5),
        weighting: Weighting::BySamples,
        server_lr: 1.0,
        seed,
    };
    Ok(fedavg(&data, &c, |_| {})?.final_metrics.accuracy)
}

#[test]
fn embedded_digits_keep_the_fixed_split() -> Result<()> {
    let ds = digits()?;
    assert_eq!((ds.train.len(), ds.test.len()), (1347, 450));
    assert_eq!((ds.n_features(), ds.n_classes()), (64, 10));
    // Stratified: every class in both splits in proportion.
    for (tr, te) in ds.train.class_counts().iter().zip(ds.test.class_counts()) {
        assert!(tr / 4 < te && te < tr / 2, "{tr} {te}");
    }
    // Same data as the .npy copies in shared/data, when present.
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data"));
    if dir.is_dir() {
        let npy = fedhe_learn::load_npy(
            &dir.join("digits_x.npy"),
            &dir.join("digits_y.npy"),
            Some(&dir.join("digits_is_test.npy")),
        )?;
        assert_eq!(npy.train, ds.train);
        assert_eq!(npy.test, ds.test);
        let csv = fedhe_learn::load_csv(&dir.join("digits.csv"), "label")?;
        assert_eq!(csv.train, ds.train);
    }
    Ok(())
}

// `cargo test -p fedhe-learn --test digits -- --nocapture` prints the numbers.
#[test]
fn digits_softmax_centralized_reaches_96() -> Result<()> {
    let ds = standardized_digits()?;
    let run = train_centralized(&ds, &ModelSpec::Softmax, &cfg(100), 0, |_| {})?;
    let acc = run.final_metrics.accuracy;
    println!("digits softmax centralized (100 epochs): test accuracy {acc:.4}");
    assert!(acc >= 0.96, "{acc}");
    Ok(())
}

#[test]
fn digits_mlp64_centralized_reaches_97() -> Result<()> {
    let ds = standardized_digits()?;
    let run = train_centralized(&ds, &"mlp:64".parse()?, &cfg(100), 0, |_| {})?;
    let acc = run.final_metrics.accuracy;
    println!("digits mlp:64 centralized (100 epochs): test accuracy {acc:.4}");
    assert!(acc >= 0.97, "{acc}");
    Ok(())
}

#[test]
fn digits_fedavg_iid_reaches_96() -> Result<()> {
    let acc = run_fedavg(Partition::Iid, 0)?;
    println!("digits softmax FedAvg IID, 10 clients, E=5, 100 rounds: test accuracy {acc:.4}");
    assert!(acc >= 0.96, "{acc}");
    Ok(())
}

#[test]
fn digits_fedavg_dirichlet_half_reaches_94() -> Result<()> {
    let acc = run_fedavg(Partition::Dirichlet { alpha: 0.5 }, 0)?;
    println!(
        "digits softmax FedAvg Dirichlet(0.5), 10 clients, E=5, 100 rounds: test accuracy {acc:.4}"
    );
    assert!(acc >= 0.94, "{acc}");
    Ok(())
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(pool) => pool.install(f),
        Err(e) => panic!("cannot build a {threads}-thread pool: {e}"),
    }
}

#[test]
fn same_seed_gives_bit_identical_weights_on_any_thread_count() -> Result<()> {
    let ds = standardized_digits()?;
    let data = federated(&ds, Partition::Dirichlet { alpha: 0.5 }, 10, 4)?;
    let c = FedAvgConfig {
        model: "mlp:32,16".parse()?,
        rounds: 3,
        clients_per_round: 4,
        local: TrainConfig {
            batch_size: 40,
            prox_mu: 0.1,
            ..cfg(2)
        },
        weighting: Weighting::BySamples,
        server_lr: 1.0,
        seed: 4,
    };
    let one = in_pool(1, || fedavg(&data, &c, |_| {}))?;
    let two = in_pool(2, || fedavg(&data, &c, |_| {}))?;
    let three = in_pool(3, || fedavg(&data, &c, |_| {}))?;
    assert_eq!(one.params, two.params);
    assert_eq!(one.params, three.params);
    assert_eq!(one.rounds, two.rounds);
    let other = fedavg(
        &data,
        &FedAvgConfig {
            seed: 5,
            ..c.clone()
        },
        |_| {},
    )?;
    assert_ne!(one.params, other.params);
    // local_train alone, too.
    let global = one.params.clone();
    let a = in_pool(1, || {
        local_train(&c.model, &global, &data.clients[0], &c.local, 9)
    })?;
    let b = in_pool(2, || {
        local_train(&c.model, &global, &data.clients[0], &c.local, 9)
    })?;
    assert_eq!(a, b);
    assert_eq!(a.n_samples, data.clients[0].len());
    Ok(())
}

#[test]
fn proximal_term_pulls_towards_the_global_model() -> Result<()> {
    let ds = standardized_digits()?;
    let spec = ModelSpec::Softmax;
    let global = spec.build(64, 10, 1)?.params().to_vec();
    let norm = |mu: f32| -> Result<f32> {
        let u = local_train(
            &spec,
            &global,
            &ds.train,
            &TrainConfig {
                prox_mu: mu,
                ..cfg(3)
            },
            2,
        )?;
        Ok(u.delta.iter().map(|d| d * d).sum::<f32>().sqrt())
    };
    let (free, prox) = (norm(0.0)?, norm(1.0)?);
    assert!(prox < 0.8 * free, "{prox} vs {free}");
    Ok(())
}

#[test]
fn weighted_and_uniform_aggregation() -> Result<()> {
    use fedhe_learn::{LocalUpdate, aggregate};
    let u = |d: f32, n| LocalUpdate {
        delta: vec![d, -d],
        n_samples: n,
        train_loss: 0.0,
    };
    let ups = [u(1.0, 1), u(4.0, 3), u(100.0, 0)];
    assert_eq!(aggregate(&ups, Weighting::BySamples)?, vec![3.25, -3.25]);
    assert_eq!(aggregate(&ups, Weighting::Uniform)?, vec![35.0, -35.0]);
    assert!(aggregate(&[], Weighting::Uniform).is_err());
    assert!(
        aggregate(
            &[
                u(1.0, 1),
                LocalUpdate {
                    delta: vec![1.0],
                    n_samples: 1,
                    train_loss: 0.0
                }
            ],
            Weighting::Uniform
        )
        .is_err()
    );
    Ok(())
}

#[test]
fn centralized_equals_fedavg_with_one_client() -> Result<()> {
    let ds = standardized_digits()?;
    let spec: ModelSpec = "mlp:16".parse()?;
    let central = train_centralized(&ds, &spec, &cfg(3), 7, |_| {})?;
    let data = FederatedData {
        name: ds.name.clone(),
        clients: vec![ds.train.clone()],
        test: ds.test.clone(),
    };
    let c = FedAvgConfig {
        model: spec,
        rounds: 3,
        clients_per_round: 1,
        local: cfg(1),
        weighting: Weighting::BySamples,
        server_lr: 1.0,
        seed: 7,
    };
    let fed = fedavg(&data, &c, |_| {})?;
    assert_eq!(central.params, fed.params);
    assert_eq!(central.final_metrics, fed.final_metrics);
    Ok(())
}
