//! Local-training throughput: examples per second for one local epoch of
//! softmax regression and of MLP(128) on MNIST, on a one-thread and a
//! two-thread rayon pool.
//!
//! `cargo bench -p fedhe-benches --bench learn`
//!
//! The client holds the first 6000 MNIST training images (raw `[0, 1]`
//! pixels), batch 32, η = 0.01. Within a batch the gradient is computed over
//! fixed chunks in parallel (see `fedhe_learn::model`), so the two-thread
//! numbers measure intra-client parallelism; a simulation additionally runs
//! clients in parallel.

use std::hint::black_box;
use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fedhe_learn::{ModelSpec, TrainConfig, load_mnist_dir, local_train};

const CLIENT_EXAMPLES: usize = 6000;

fn local_epoch(c: &mut Criterion) {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/mnist"
    ));
    let ds = match load_mnist_dir(dir) {
        Ok(ds) => ds,
        Err(e) => panic!("the learn benchmark needs MNIST at {}: {e}", dir.display()),
    };
    let idx: Vec<usize> = (0..CLIENT_EXAMPLES).collect();
    let client = match ds.train.subset(&idx) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let cfg = TrainConfig {
        lr: 0.01,
        batch_size: 32,
        epochs: 1,
        weight_decay: 0.0,
        prox_mu: 0.0,
    };
    let mut group = c.benchmark_group("learn/local_epoch_mnist");
    group.sample_size(10);
    group.throughput(Throughput::Elements(CLIENT_EXAMPLES as u64));
    for spec in ["softmax", "mlp:128"] {
        let model: ModelSpec = match spec.parse() {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        };
        let global = match model.build(784, 10, 0) {
            Ok(m) => m.params().to_vec(),
            Err(e) => panic!("{e}"),
        };
        for threads in [1usize, 2] {
            let pool = match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
                Ok(p) => p,
                Err(e) => panic!("{e}"),
            };
            group.bench_with_input(
                BenchmarkId::new(spec, format!("{threads}-thread")),
                &threads,
                |b, _| {
                    b.iter(|| {
                        pool.install(|| black_box(local_train(&model, &global, &client, &cfg, 0)))
                    });
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, local_epoch);
criterion_main!(benches);
