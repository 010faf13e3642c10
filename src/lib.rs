//! Workspace-level test and example suite of `plexspaces-circuit-breaker`.
//!
//! This package has no library code of its own; it exists so that the integration
//! tests in `tests/` and the runnable programs in `examples/` sit at the top of the
//! checkout (`cargo test --workspace`, `cargo run --example quickstart`).
#![forbid(unsafe_code)]
