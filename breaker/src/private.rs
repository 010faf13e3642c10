//! Support for the code `#[circuit_breaker]` generates. Not a public API: nothing here is
//! covered by semver, and the names may change in any release.

use std::convert::Infallible;
use std::sync::OnceLock;

use plexspaces_proto::circuitbreaker::prv::CircuitBreakerConfig;

use crate::{registry, CircuitBreaker, CircuitBreakerError};

/// The steps of `execute_with`, which the attribute makes in the annotated function's own
/// state machine instead of awaiting `execute_with`'s: one state machine less per call.
pub use crate::breaker::{deadline, settle, timed_out, within, Guarded};

/// The breaker of one annotated function: looked up in the registry on the first call only.
#[derive(Debug)]
pub struct Callsite(OnceLock<CircuitBreaker>);

impl Callsite {
    /// An empty callsite, for a `static`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Callsite(OnceLock::new())
    }

    /// The breaker, from the registry by name on the first call (an operator's
    /// `registry().configure(..)` beats `config`).
    ///
    /// # Panics
    /// On the first call, if the breaker does not exist yet and `config` is invalid. The
    /// attribute checks its literal arguments at compile time, so only a `config = path`
    /// function can make this happen.
    #[inline]
    pub fn get(
        &'static self,
        config: impl FnOnce() -> CircuitBreakerConfig,
    ) -> &'static CircuitBreaker {
        self.0
            .get_or_init(|| match registry().try_get_or_create(config()) {
                Ok(breaker) => breaker,
                Err(e) => panic!("#[circuit_breaker]: {e}"),
            })
    }
}

/// The config an attribute describes: `base` (from `config = path`, else the default),
/// with the attribute's name and fields on top.
pub fn config(
    base: Option<CircuitBreakerConfig>,
    default_name: &str,
    apply: impl FnOnce(&mut CircuitBreakerConfig),
) -> CircuitBreakerConfig {
    let mut config = base.unwrap_or_default();
    if config.name.is_empty() {
        default_name.clone_into(&mut config.name);
    }
    apply(&mut config);
    config
}

/// How a call through an annotated function ended.
#[derive(Debug)]
pub enum Run<R> {
    /// The body ran to completion and returned this.
    Done(R),
    /// The breaker rejected the call, or it timed out; the body's result is gone.
    Refused(CircuitBreakerError),
}

/// A classifier that counts every `Err` as a failure (what `execute` and `call` use, and the
/// attribute's default).
#[inline]
pub fn every_error<E>(_: &E) -> bool {
    true
}

/// The breaker's refusal (open or timed out) inside a call's error; the caller has already
/// taken out the call's own error.
#[inline]
pub fn refusal<E>(e: CircuitBreakerError<E>) -> CircuitBreakerError {
    match e {
        CircuitBreakerError::CircuitOpen => CircuitBreakerError::CircuitOpen,
        CircuitBreakerError::Timeout => CircuitBreakerError::Timeout,
        CircuitBreakerError::Inner(_) => unreachable!("the call's own error is matched first"),
    }
}

/// Runs a synchronous body that cannot fail (only panic) through `breaker`.
pub fn call_infallible<R, F>(breaker: &CircuitBreaker, body: F) -> Run<R>
where
    F: FnOnce() -> R,
{
    run_result(breaker.call(|| Ok::<R, Infallible>(body())))
}

/// The outcome of a body that cannot fail, run as an infallible `Result`.
#[inline]
pub fn run_result<R>(result: Result<R, CircuitBreakerError<Infallible>>) -> Run<R> {
    match result {
        Ok(value) => Run::Done(value),
        Err(CircuitBreakerError::Inner(never)) => match never {},
        Err(e) => Run::Refused(e),
    }
}

/// The error an annotated function returns when its breaker refuses the call.
#[diagnostic::on_unimplemented(
    message = "`#[circuit_breaker]` cannot turn a rejected call into `{Self}`",
    label = "the error type of this `Result` must implement `From<CircuitBreakerError>`",
    note = "implement `From<plexspaces_circuit_breaker::CircuitBreakerError>` for `{Self}` \
            (a thiserror `#[from]` variant does it; `anyhow::Error` and \
            `Box<dyn Error + Send + Sync>` already do), or give the attribute a `fallback`"
)]
pub trait FromBreakerError {
    /// Converts the breaker's refusal.
    fn from_breaker_error(e: CircuitBreakerError) -> Self;
}

impl<E> FromBreakerError for E
where
    E: From<CircuitBreakerError>,
{
    #[inline]
    fn from_breaker_error(e: CircuitBreakerError) -> Self {
        E::from(e)
    }
}

/// `Err(E::from(e))`: the value an annotated function returns for a refused call.
#[inline]
pub fn refused<T, E: FromBreakerError>(e: CircuitBreakerError) -> Result<T, E> {
    Err(E::from_breaker_error(e))
}
