//! The error a call through a breaker returns.

use std::convert::Infallible;
use std::error::Error;
use std::fmt;

/// Why a call through a [`CircuitBreaker`](crate::CircuitBreaker) did not return `Ok`.
///
/// `E` is the protected call's own error type. Where no call is involved (a rejected
/// [`try_acquire`](crate::CircuitBreaker::try_acquire)), `E` is [`Infallible`], and that is
/// the form a user's error type converts from (`impl From<CircuitBreakerError> for MyError`).
///
/// ```
/// use plexspaces_circuit_breaker::CircuitBreakerError;
///
/// let open: CircuitBreakerError<std::io::Error> = CircuitBreakerError::CircuitOpen;
/// assert!(open.is_circuit_open());
/// assert_eq!(open.to_string(), "circuit breaker is open: the call was rejected without being attempted");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CircuitBreakerError<E = Infallible> {
    /// The circuit is open (or forced open, or half-open with every trial slot taken): the call
    /// was rejected at once and the protected function was not called.
    /// [`CircuitBreaker::retry_after`](crate::CircuitBreaker::retry_after) says when to retry.
    CircuitOpen,
    /// The call ran longer than the breaker's `call_timeout_ms`: it was dropped and counted as
    /// a failure.
    Timeout,
    /// The protected call returned this error.
    Inner(E),
}

impl<E> CircuitBreakerError<E> {
    /// `true` for [`CircuitBreakerError::CircuitOpen`].
    pub fn is_circuit_open(&self) -> bool {
        matches!(self, CircuitBreakerError::CircuitOpen)
    }

    /// `true` for [`CircuitBreakerError::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, CircuitBreakerError::Timeout)
    }

    /// The protected call's own error, if that is what this is.
    pub fn inner(&self) -> Option<&E> {
        match self {
            CircuitBreakerError::Inner(e) => Some(e),
            _ => None,
        }
    }

    /// The protected call's own error, if that is what this is.
    pub fn into_inner(self) -> Option<E> {
        match self {
            CircuitBreakerError::Inner(e) => Some(e),
            _ => None,
        }
    }

    /// Maps the protected call's error, keeping `CircuitOpen` and `Timeout` as they are.
    pub fn map_inner<F, G>(self, f: G) -> CircuitBreakerError<F>
    where
        G: FnOnce(E) -> F,
    {
        match self {
            CircuitBreakerError::CircuitOpen => CircuitBreakerError::CircuitOpen,
            CircuitBreakerError::Timeout => CircuitBreakerError::Timeout,
            CircuitBreakerError::Inner(e) => CircuitBreakerError::Inner(f(e)),
        }
    }
}

impl CircuitBreakerError<Infallible> {
    /// Widens an error that holds no inner error to any inner error type.
    ///
    /// ```
    /// use plexspaces_circuit_breaker::CircuitBreakerError;
    ///
    /// let e: CircuitBreakerError<std::io::Error> = CircuitBreakerError::Timeout.widen();
    /// assert!(e.is_timeout());
    /// ```
    pub fn widen<E>(self) -> CircuitBreakerError<E> {
        self.map_inner(|never| match never {})
    }
}

impl<E> fmt::Display for CircuitBreakerError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CircuitBreakerError::CircuitOpen => {
                "circuit breaker is open: the call was rejected without being attempted"
            }
            CircuitBreakerError::Timeout => "the call exceeded the circuit breaker's call timeout",
            CircuitBreakerError::Inner(_) => "the call through the circuit breaker failed",
        })
    }
}

impl<E> Error for CircuitBreakerError<E>
where
    E: Error + 'static,
{
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            CircuitBreakerError::Inner(e) => Some(e),
            _ => None,
        }
    }
}
