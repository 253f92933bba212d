//! FedProx vs FedAvg on Synthetic(1, 1) with the paper's protocol.

use fedhe_learn::{
    FedAvgConfig, ModelSpec, Result, SyntheticKind, TrainConfig, Weighting, fedavg, synthetic,
};

/// Synthetic(1,1), 30 devices, softmax regression 60→10, η = 0.01, batch 10,
/// E = 20, 10 devices per round, 200 rounds, sample-weighted averaging, no
/// stragglers; FedProx μ = 1 vs FedAvg (μ = 0) on seeds 0, 1, 2 (the seed
/// drives both the data and the run; both algorithms see the same data and
/// the same devices each round).
///
/// `cargo test -p fedhe-learn --release --test synthetic_fedprox -- --ignored --nocapture`
#[test]
#[ignore = "a few minutes in release; run on purpose"]
fn fedprox_beats_fedavg_on_synthetic_1_1() -> Result<()> {
    let mut means = [0.0f64; 2];
    let mut last10 = [0.0f64; 2];
    for seed in 0..3u64 {
        let data = synthetic(
            SyntheticKind::AlphaBeta {
                alpha: 1.0,
                beta: 1.0,
            },
            30,
            seed,
        )?;
        let mut line = format!(
            "seed {seed} ({} train / {} test):",
            data.n_train(),
            data.test.len()
        );
        for (i, mu) in [0.0f32, 1.0].into_iter().enumerate() {
            let cfg = FedAvgConfig {
                model: ModelSpec::Softmax,
                rounds: 200,
                clients_per_round: 10,
                local: TrainConfig {
                    lr: 0.01,
                    batch_size: 10,
                    epochs: 20,
                    weight_decay: 0.0,
                    prox_mu: mu,
                },
                weighting: Weighting::BySamples,
                server_lr: 1.0,
                seed,
            };
            let run = fedavg(&data, &cfg, |_| {})?;
            let acc = run.final_metrics.accuracy;
            let tail = run
                .rounds
                .iter()
                .rev()
                .take(10)
                .map(|r| r.accuracy)
                .sum::<f64>()
                / 10.0;
            let train_loss = run.rounds.last().map_or(0.0, |r| r.train_loss);
            means[i] += acc / 3.0;
            last10[i] += tail / 3.0;
            line += &format!(
                "  mu={mu}: final {acc:.4}, mean of last 10 rounds {tail:.4}, train loss {train_loss:.3}"
            );
        }
        println!("{line}");
    }
    println!(
        "mean over 3 seeds: FedAvg final {:.4} (last-10 {:.4}), FedProx mu=1 final {:.4} (last-10 {:.4})",
        means[0], last10[0], means[1], last10[1]
    );
    assert!(
        means[1] > means[0],
        "FedProx {} vs FedAvg {}",
        means[1],
        means[0]
    );
    Ok(())
}
