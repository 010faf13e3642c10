//! A fast, cancellation-safe circuit breaker for async Rust, configured by protobuf.
//!
//! A circuit breaker keeps one failing downstream service from taking a whole system down:
//! after enough failures it *opens* and rejects calls at once, without calling the service;
//! after an open period it admits a few *trial* calls (*half-open*); their outcome closes the
//! circuit again or reopens it.
//!
//! ```text
//!   Closed --(failure_threshold consecutive failures)--> Open
//!   Open --(timeout_secs elapsed; next call is a trial)--> HalfOpen
//!   HalfOpen --(success_threshold trial successes)--> Closed
//!   HalfOpen --(a trial fails)--> Open
//! ```
//!
//! ```
//! use plexspaces_circuit_breaker::*;
//! use plexspaces_proto::circuitbreaker::prv::*;
//!
//! # async fn process_payment(amount: u64) -> Result<String, std::io::Error> {
//! #     Ok(format!("receipt for {amount}"))
//! # }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let config = CircuitBreakerConfig {
//!     name: "payment-service".to_string(),
//!     failure_strategy: FailureStrategy::FailureStrategyConsecutive as i32,
//!     failure_threshold: 5, // trip after 5 consecutive failures
//!     success_threshold: 2, // close after 2 successes in half-open
//!     timeout_secs: 60,     // stay open for 60 seconds
//!     ..Default::default()
//! };
//! let breaker = CircuitBreaker::new(config);
//! match breaker.execute(|| async { process_payment(42).await }).await {
//!     Ok(receipt) => println!("paid: {receipt}"),
//!     Err(CircuitBreakerError::CircuitOpen) => println!("fail fast: service unavailable"),
//!     Err(e) => println!("the service's own error, or a timeout: {e}"),
//! }
//! # }
//! ```
//!
//! # What it guarantees
//! - **Fast in the closed state**: admission reads one atomic word; a success that changes
//!   nothing writes no shared cache line; no lock, no allocation.
//! - **Cancellation-safe**: a call whose future is dropped counts as neither success nor
//!   failure, and frees its half-open trial slot at once.
//! - **Late results decide nothing**: every permit carries the generation of the state it
//!   was issued in; a call that finishes after the circuit changed state is counted in the
//!   totals only.
//! - **Panics count as failures** and continue to the caller.
//! - **Paused-time testable**: time comes from tokio's clock.
//!
//! # Pieces
//! - [`CircuitBreaker`]: [`execute`](CircuitBreaker::execute) for async calls,
//!   [`call`](CircuitBreaker::call) for synchronous ones,
//!   [`try_acquire`](CircuitBreaker::try_acquire) and [`Permit`] for middleware; manual
//!   control, [`snapshot`](CircuitBreaker::snapshot), [`retry_after`](CircuitBreaker::retry_after).
//! - [`registry()`]: the process-wide [`Registry`] of named breakers, where an operator's
//!   config beats a code default.
//! - [`CircuitBreakerConfig`] and the other protobuf types, re-exported from
//!   [`plexspaces_proto`].
#![warn(missing_docs, unreachable_pub, rust_2018_idioms)]
#![forbid(unsafe_code)]

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
mod breaker;
mod clock;
mod config;
mod error;
mod permit;
mod registry;
mod state;
mod stats;

pub use breaker::CircuitBreaker;
pub use config::{limits, ConfigError};
pub use error::CircuitBreakerError;
pub use permit::Permit;
pub use registry::{registry, Registry};
pub use state::State;

pub use plexspaces_circuit_breaker_macros::circuit_breaker;
pub use plexspaces_proto;
pub use plexspaces_proto::circuitbreaker::prv::{
    CircuitBreakerConfig, CircuitBreakerSnapshot, CircuitState, FailureStrategy,
};
