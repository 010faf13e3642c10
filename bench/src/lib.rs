//! Benchmarks live in `benches/`; run them with `cargo bench -p plexspaces-circuit-breaker-bench`.
#![forbid(unsafe_code)]
