//! The `cashbox` binary's wiring: configuration, start-up checks, `serve` and the operator
//! commands. The binary's `main` only parses the command line and calls in here.

pub mod bench;
pub mod bench_billing;
pub mod bench_clock;
pub mod bench_usage;
pub mod bench_webhooks;
pub mod config;
pub mod startup;
