//! `fedhe`: the command-line front end.
//!
//! Every subcommand turns its raw clap arguments into a validated
//! configuration before any work starts, and reports bad input as an error
//! naming the argument and what was expected.
#![forbid(unsafe_code)]

mod audit_cmd;
mod bench;
mod dp_cmd;
mod keys_cmd;
mod models_cmd;
mod node_cmd;
mod params;
mod privacy;
mod simulate;
mod train;

use clap::{Parser, Subcommand};

/// The process allocator: jemalloc. With glibc's malloc, `fedhe serve`
/// under load kept freed memory in its per-thread arenas (its peak RSS grew
/// by about 0.5 MiB per connected client while the live heap stayed at the
/// in-flight bound, heaptrack), and `fedhe simulate` ran 4.5x slower.
/// mimalloc was as fast but held 2 GiB in the simulation. Measurements in
/// the issue-7 closing note; the load test is `tests/tests/service_load.rs`.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Debug, Parser)]
#[command(
    name = "fedhe",
    version,
    about = "Federated learning with threshold RLWE aggregation and distributed DP"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print a parameter set with its security level, failure probability and flooding.
    Params(params::ParamsArgs),
    /// Benchmarks of the cryptographic core.
    Bench(bench::BenchArgs),
    /// Differential-privacy accounting: epsilon, calibration, DDGauss planning.
    Privacy(privacy::PrivacyArgs),
    /// Draw samples from the DP noise samplers (for external statistical tests).
    Dp(dp_cmd::DpArgs),
    /// Plaintext federated training (the FedAvg/FedProx baseline).
    Train(train::TrainArgs),
    /// A whole private federated run (DDGauss + threshold HE) on one machine.
    Simulate(simulate::SimulateArgs),
    /// Key ceremony: federation PKI, committee key generation over files, verification, rotation.
    Keys(keys_cmd::KeysArgs),
    /// Run the aggregation server of a federation (QUIC, mutual TLS) from a TOML file.
    Serve(node_cmd::ConfigArgs),
    /// Run a client (and, with a [committee] table, a committee member) from a TOML file.
    Client(node_cmd::ConfigArgs),
    /// Run a committee member from a TOML file.
    Committee(node_cmd::ConfigArgs),
    /// Verify the audit hash chain of a node's store.
    Audit(audit_cmd::AuditArgs),
    /// The model registry of a server's store: list, show, export.
    Models(models_cmd::ModelsArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Params(a) => params::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Privacy(a) => privacy::run(a),
        Command::Dp(a) => dp_cmd::run(a),
        Command::Train(a) => train::run(a),
        Command::Simulate(a) => simulate::run_cmd(a),
        Command::Keys(a) => keys_cmd::run(a),
        Command::Serve(a) => node_cmd::serve(a),
        Command::Client(a) => node_cmd::client(a),
        Command::Committee(a) => node_cmd::committee(a),
        Command::Audit(a) => audit_cmd::run(a),
        Command::Models(a) => models_cmd::run(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
