//! Protobuf schema and generated types of
//! [`plexspaces-circuit-breaker`](https://docs.rs/plexspaces-circuit-breaker).
//!
//! The schema lives in `plexspaces/v1/circuitbreaker.proto` (protobuf package
//! `plexspaces.circuitbreaker.prv`); the Rust types are generated at build time by
//! `prost-build` from a descriptor set compiled by `protox`, so no system `protoc` is needed.
//!
//! ```
//! use plexspaces_proto::circuitbreaker::prv::{CircuitBreakerConfig, FailureStrategy};
//! use prost::Message;
//!
//! let config = CircuitBreakerConfig {
//!     name: "payment-service".to_string(),
//!     failure_strategy: FailureStrategy::FailureStrategyConsecutive as i32,
//!     failure_threshold: 5,
//!     ..Default::default()
//! };
//! let bytes = config.encode_to_vec();
//! assert_eq!(CircuitBreakerConfig::decode(bytes.as_slice()).unwrap(), config);
//! ```
#![warn(missing_docs, unreachable_pub, rust_2018_idioms)]
#![forbid(unsafe_code)]

pub use prost;

/// Types of the `plexspaces.circuitbreaker` protobuf packages.
pub mod circuitbreaker {
    /// Types of the protobuf package `plexspaces.circuitbreaker.prv`.
    pub mod prv {
        include!(concat!(
            env!("OUT_DIR"),
            "/plexspaces.circuitbreaker.prv.rs"
        ));
    }
}
