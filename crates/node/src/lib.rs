//! # fedhe-node
//!
//! The runtime around `fedhe-protocols`' sans-IO state machines: hosts that
//! drive them, make their outputs durable and move their frames.
//!
//! - [`sim`]: a whole private federated training run in one process over an
//!   in-memory transport (`fedhe simulate --transport memory`);
//! - [`report`]: the run's JSON report and its PNG plot.

#![forbid(unsafe_code)]

pub mod client;
pub mod federation;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod metrics;
pub mod quic_sim;
pub mod report;
pub mod server;
pub mod sim;
pub mod store;
pub mod tls;
pub mod wire;
