//! The `cashbox` binary's wiring: configuration, start-up checks, `serve` and the operator
//! commands. The binary's `main` only parses the command line and calls in here.

pub mod config;
pub mod startup;
