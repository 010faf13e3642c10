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
//! - **Fast when open**: a rejection reads two atomic words and no clock (see *Time* below).
//! - **Paused-time testable**: time comes from tokio's clock.
//!
//! # Pieces
//! - [`CircuitBreaker`]: [`execute`](CircuitBreaker::execute) for async calls,
//!   [`call`](CircuitBreaker::call) for synchronous ones,
//!   [`try_acquire`](CircuitBreaker::try_acquire) and [`Permit`] for middleware; manual
//!   control, [`snapshot`](CircuitBreaker::snapshot), [`retry_after`](CircuitBreaker::retry_after).
//! - [`registry()`]: the process-wide [`Registry`] of named breakers, where an operator's
//!   config beats a code default and reconfiguration happens in place.
//! - [`macro@circuit_breaker`]: the attribute that puts any function behind a named breaker.
//! - [`events`]: state changes (and, on request, rejections and call outcomes) as an ordered,
//!   bounded stream; state changes are also `tracing` events.
//! - [`CircuitBreakerConfig`] and the other protobuf types, re-exported from
//!   [`plexspaces_proto`]. Three failure strategies: consecutive failures, a failure (and
//!   slow-call) rate over the last N calls, or over the last N seconds; see
//!   [`FailureStrategy`].
//!
//! # Time
//! Reading the clock costs more than everything else a rejection or a time-window call
//! does (~20 ns on common hardware), so calls that cannot learn anything from it do not read
//! it: a call rejected well before the open period ends, or a time-window call in the middle
//! of a bucket. One process-wide thread, `plexspaces-circuit-breaker-timer`, started the first
//! time a breaker opens or a time window is used, sleeps until such a *quiet* stretch is
//! within 2 ms of its end and then tells the breaker, whose calls read the clock again; the
//! end itself is always decided by a clock read, and the move to half-open is still made by
//! the first call after the period (the thread makes no transition and runs no user code).
//! It wakes about twice per time-window bucket while the window is in use, and once per open
//! period. Should it ever be starved for more than those 2 ms, an open period can be seen to
//! end that much late, but never by more than 64 rejections on a thread: every 64th checks
//! the clock anyway (which also covers a forked child, where the thread does not exist and
//! breakers read the clock). Should it fail, the breaker reads the clock on every call from
//! then on. On tokio's paused clock (below), where only the test knows when time moves,
//! breakers read the clock on every call and do not use the thread.
//!
//! # Testing with paused time
//! Breakers read tokio's clock, so `#[tokio::test(start_paused = true)]` and
//! `tokio::time::advance` drive open periods, windows and deadlines without real waiting.
//! Create (or first use) a breaker inside the paused runtime: one created outside any runtime
//! starts from the real clock.
#![warn(missing_docs, unreachable_pub, rust_2018_idioms)]
#![deny(unsafe_code)]

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
mod breaker;
mod clock;
mod config;
mod core;
mod error;
pub mod events;
mod outline;
mod permit;
mod registry;
mod rng;
mod state;
mod stats;
mod timer;
mod window;

pub use breaker::CircuitBreaker;
pub use config::{limits, ConfigError};
pub use error::CircuitBreakerError;
pub use permit::Permit;
pub use registry::{registry, Registry};
pub use state::State;

/// Runs every call of the annotated function through a named circuit breaker.
///
/// ```
/// use plexspaces_circuit_breaker::{circuit_breaker, CircuitBreakerError};
///
/// #[derive(Debug, thiserror::Error)]
/// enum PaymentError {
///     #[error("payment service unavailable: {0}")]
///     Breaker(#[from] CircuitBreakerError),
///     #[error("declined")]
///     Declined,
/// }
///
/// # struct Client;
/// # impl Client { async fn charge(&self, amount: u64) -> Result<u64, PaymentError> {
/// #     if amount > 100 { Err(PaymentError::Declined) } else { Ok(amount) } } }
/// #[circuit_breaker(name = "payment-service", threshold = 5)]
/// async fn charge(client: &Client, amount: u64) -> Result<u64, PaymentError> {
///     client.charge(amount).await
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let client = Client;
/// for _ in 0..5 {
///     assert!(matches!(charge(&client, 500).await, Err(PaymentError::Declined)));
/// }
/// // Five consecutive failures: the circuit is open and the body no longer runs.
/// assert!(matches!(
///     charge(&client, 5).await,
///     Err(PaymentError::Breaker(CircuitBreakerError::CircuitOpen))
/// ));
/// # }
/// ```
///
/// # What the expansion does
/// - The function keeps its signature, visibility, attributes and doc comments; its body runs
///   through [`CircuitBreaker::execute`] (or [`CircuitBreaker::call`] for a function that is
///   not `async`).
/// - The breaker is held in a lazily initialised `static` inside the function, fetched from
///   [`registry()`] by name on the first call only. Every function that names the same breaker
///   shares it, and a config set with [`Registry::configure`] at start-up beats the
///   attribute's values (an operator's config beats a code default).
/// - The body's `Ok` counts as a success and its `Err` as a failure, and both are returned
///   unchanged. When the breaker rejects the call or `call_timeout_ms` fires, the function
///   returns `Err(From::from(CircuitBreakerError::CircuitOpen))` (or `::Timeout`): the error
///   type must implement `From<CircuitBreakerError>` (`anyhow::Error`,
///   `Box<dyn Error + Send + Sync>` and a thiserror `#[from]` variant all do), unless a
///   `fallback` is given.
/// - A panic in the body counts as a failure and continues to the caller; a call whose future
///   is dropped counts as neither success nor failure.
///
/// # Arguments
/// All optional; literal values are checked at compile time against the ranges of
/// [`CircuitBreakerConfig`], and so is each field's fit with the strategy chosen (a
/// `window_size` needs `failure_strategy = "count_window"`, a `threshold` the consecutive one).
///
/// | argument | meaning |
/// | --- | --- |
/// | `name = "..."` | the breaker's name; default: the function's module path and name (`my_crate::payments::charge`) |
/// | `threshold = N` (or `failure_threshold = N`) | consecutive failures that open the circuit (1 to 1,000,000; default 5) |
/// | `success_threshold = N` | successful trials that close it (1 to 10,000; default 1) |
/// | `timeout_secs = N` | seconds the circuit stays open (1 to 2,592,000; default 60) |
/// | `half_open_max_calls = N` | trials in flight at once (1 to 10,000; default `success_threshold`) |
/// | `call_timeout_ms = N` | deadline of one call, a failure when exceeded (1 to 86,400,000; default none) |
/// | `failure_strategy = "..."` | `"consecutive"` (default), `"count_window"` or `"time_window"` |
/// | `window_size = N` | count window: the last N calls (1 to 1,000; default 100) |
/// | `window_secs = N` | time window: the last N seconds, in 10 buckets (1 to 3,600; default 60) |
/// | `minimum_calls = N` | window strategies: no decision below N calls in the window (default 100, at most `window_size`) |
/// | `failure_rate_threshold = N` | window strategies: open at N% failures or more (1 to 100; default 50) |
/// | `slow_call_duration_ms = N` | window strategies: a call of N ms or longer is slow (default: not tracked) |
/// | `slow_call_rate_threshold = N` | window strategies: open at N% slow calls or more (1 to 100; default 100) |
/// | `backoff_multiplier = X` | each reopen without a close multiplies the open period by X (1.0 to 10.0; default 1.0) |
/// | `max_timeout_secs = N` | the longest open period backoff reaches (default 10 x `timeout_secs`) |
/// | `jitter_percent = N` | random +/- N% on each open period (1 to 50; default none) |
/// | `half_open_max_wait_ms = N` | a trial running longer counts as failed and reopens (default: no limit) |
/// | `config = path` | a `fn() -> CircuitBreakerConfig` as the base, for what attributes cannot say; the attribute's own keys win over it, and its `name` is used when the attribute has none |
/// | `fallback = path` | called with the same arguments when the breaker rejects or times out the call; returns the function's type (`async` for an `async fn`). Methods use `fallback = Self::other`. With a fallback the return type need not be a `Result` |
/// | `is_failure = path` | a `fn(&E) -> bool`: errors for which it returns `false` are returned unchanged without counting against the service |
/// | `crate = "path"` | where the runtime crate is, for crates that rename or re-export it |
///
/// ```
/// use plexspaces_circuit_breaker::{circuit_breaker, registry, CircuitBreakerConfig, State};
///
/// #[derive(Debug)]
/// enum ApiError { NotFound, Unavailable, Breaker(plexspaces_circuit_breaker::CircuitBreakerError) }
/// impl From<plexspaces_circuit_breaker::CircuitBreakerError> for ApiError {
///     fn from(e: plexspaces_circuit_breaker::CircuitBreakerError) -> Self { ApiError::Breaker(e) }
/// }
///
/// fn base() -> CircuitBreakerConfig {
///     CircuitBreakerConfig { success_threshold: 2, ..Default::default() }
/// }
///
/// fn is_failure(e: &ApiError) -> bool {
///     !matches!(e, ApiError::NotFound) // a 404 says nothing about the service's health
/// }
///
/// struct Users;
///
/// impl Users {
///     async fn cached(&self, id: u32) -> Result<String, ApiError> {
///         Ok(format!("user {id} (cached)"))
///     }
///
///     #[circuit_breaker(
///         name = "users",
///         config = base,
///         threshold = 2,
///         timeout_secs = 30,
///         call_timeout_ms = 500,
///         is_failure = is_failure,
///         fallback = Self::cached,
///     )]
///     async fn get(&self, id: u32) -> Result<String, ApiError> {
///         match id {
///             0 => Err(ApiError::NotFound),
///             1 => Err(ApiError::Unavailable),
///             _ => Ok(format!("user {id}")),
///         }
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let users = Users;
/// assert!(matches!(users.get(0).await, Err(ApiError::NotFound))); // ignored
/// assert!(matches!(users.get(1).await, Err(ApiError::Unavailable)));
/// assert!(matches!(users.get(1).await, Err(ApiError::Unavailable)));
/// assert_eq!(registry().get("users").unwrap().state(), State::Open);
/// assert_eq!(users.get(7).await.unwrap(), "user 7 (cached)"); // the fallback answers
/// assert_eq!(registry().get("users").unwrap().config().success_threshold, 2);
/// # }
/// ```
///
/// # Supported functions
/// Free functions and methods (`&self`, `&mut self`, `self`), generic functions with
/// lifetimes and `where` clauses, methods of generic types, `impl Trait` arguments, bodies
/// using `?` and early `return`, methods inside an `#[async_trait]` impl, stacking with
/// `#[tracing::instrument]` in either order, and non-`async` functions returning `Result`.
///
/// With a `fallback`, the arguments are passed on after the body gave up, so the body must
/// not consume them (borrow them, or clone what it keeps); the compiler says so if it does.
///
/// # Panics
/// On the first call only, if the breaker does not exist yet and a `config = path` function
/// returns a config that [`CircuitBreaker::try_new`] rejects (literal arguments are checked
/// at compile time).
pub use plexspaces_circuit_breaker_macros::circuit_breaker;
pub use plexspaces_proto;
pub use plexspaces_proto::circuitbreaker::prv::{
    CircuitBreakerConfig, CircuitBreakerSnapshot, CircuitState, FailureStrategy,
};
