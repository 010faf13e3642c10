//! Procedural macros of `plexspaces-circuit-breaker`. Use them through the runtime crate,
//! which re-exports them.
#![warn(missing_docs, unreachable_pub, rust_2018_idioms)]
#![forbid(unsafe_code)]
