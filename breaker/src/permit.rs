//! Permits: the right to make one call, and the obligation to say how it went.

use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use crate::core::{Admission, Inner, Outcome};

/// Permission to make one call through a breaker, from
/// [`CircuitBreaker::try_acquire`](crate::CircuitBreaker::try_acquire).
///
/// Report how the call went with [`success`](Permit::success), [`failure`](Permit::failure)
/// or [`ignore`](Permit::ignore). Dropping a permit without reporting (the caller gave up, the
/// future was cancelled) counts the call as *cancelled*: neither a success nor a failure, and a
/// half-open trial slot is freed at once, so a vanished call can never wedge the breaker.
///
/// A permit belongs to the state it was issued in: if the circuit has changed state since
/// (opened, closed, been reset), the report is counted in the totals but decides nothing.
///
/// ```
/// use plexspaces_circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, State};
///
/// let breaker = CircuitBreaker::new(CircuitBreakerConfig {
///     name: "stream".into(),
///     failure_threshold: 1,
///     ..Default::default()
/// });
/// let permit = breaker.try_acquire().expect("closed");
/// permit.failure();
/// assert_eq!(breaker.state(), State::Open);
/// assert!(breaker.try_acquire().unwrap_err().is_circuit_open());
/// ```
#[must_use = "a permit dropped without a report counts the call as cancelled"]
pub struct Permit<'a> {
    inner: &'a Inner,
    admission: Admission,
}

impl<'a> Permit<'a> {
    pub(crate) fn new(inner: &'a Inner, admission: Admission) -> Self {
        Permit { inner, admission }
    }

    /// The call succeeded.
    #[inline]
    pub fn success(self) {
        self.finish(Outcome::Success);
    }

    /// The call failed: it counts against the service.
    #[inline]
    pub fn failure(self) {
        self.finish(Outcome::Failure);
    }

    /// The call ended with an outcome that says nothing about the service's health (a 404, an
    /// invalid argument): counted as *ignored*, neither success nor failure. A half-open trial
    /// slot is freed.
    #[inline]
    pub fn ignore(self) {
        self.finish(Outcome::Ignored);
    }

    /// The call ran past its deadline: a failure, also counted as timed out.
    pub(crate) fn timed_out(self) {
        self.finish(Outcome::Timeout);
    }

    /// Records a failure now and leaves the permit spent: dropping it later records nothing.
    /// For a call interrupted by a panic, while the permit itself lives on.
    #[inline(always)]
    pub(crate) fn fail_in_place(&mut self) {
        self.inner.record_cold(self.admission, Outcome::Failure);
        self.admission = self.admission.spent();
    }

    /// Whether `call_timeout_ms` was set when the call was admitted.
    #[inline]
    pub(crate) fn has_deadline(&self) -> bool {
        self.admission.has_deadline()
    }

    /// The breaker's `call_timeout_ms` now, if set.
    pub(crate) fn call_timeout(&self) -> Option<Duration> {
        match self.inner.limits.call_timeout_ms.load(Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    /// `true` if this permit is a half-open trial: its outcome decides whether the circuit
    /// closes or reopens.
    pub fn is_trial(&self) -> bool {
        self.admission.is_trial()
    }

    #[inline]
    fn finish(self, outcome: Outcome) {
        let this = std::mem::ManuallyDrop::new(self);
        this.inner.record(this.admission, outcome);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.inner.record_cold(self.admission, Outcome::Cancelled);
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.inner.name())
            .field("trial", &self.is_trial())
            .finish()
    }
}
