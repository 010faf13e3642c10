//! The circuit breaker: admission, outcome recording, and every state transition.

use std::fmt;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::{Arc, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use plexspaces_proto::circuitbreaker::prv::{
    CircuitBreakerConfig, CircuitBreakerSnapshot, CircuitState,
};

use crate::__private::every_error;
use crate::config::{validate, ConfigError};
use crate::core::{Admission, Inner, Outcome};
use crate::error::CircuitBreakerError;
use crate::events::{Hub, Reason, Subscription};
use crate::outline::OutlinedDrop;
use crate::permit::Permit;
use crate::state::{State, Word};

/// A named circuit breaker.
///
/// Cloning is cheap and clones share one state. `CircuitBreaker` is `Send + Sync`; share it
/// between tasks by cloning or by reference, or get it by name from the
/// [`registry`](crate::registry).
///
/// ```
/// use plexspaces_circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, CircuitBreakerError, State};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let breaker = CircuitBreaker::new(CircuitBreakerConfig {
///     name: "inventory".into(),
///     failure_threshold: 2,
///     ..Default::default()
/// });
/// for _ in 0..2 {
///     let r = breaker.execute(|| async { Err::<(), _>("connection refused") }).await;
///     assert_eq!(r, Err(CircuitBreakerError::Inner("connection refused")));
/// }
/// assert_eq!(breaker.state(), State::Open);
/// let r = breaker.execute(|| async { Ok::<_, &str>(42) }).await;
/// assert_eq!(r, Err(CircuitBreakerError::CircuitOpen));
/// # }
/// ```
#[derive(Clone)]
pub struct CircuitBreaker {
    inner: Arc<Inner>,
}

impl CircuitBreaker {
    /// Creates a breaker from `config`.
    ///
    /// # Panics
    /// If the config is invalid, with the [`ConfigError`]'s message (which names the field,
    /// the value and the allowed range). Use [`try_new`](Self::try_new) for configs that come
    /// from outside the program.
    #[track_caller]
    pub fn new(config: CircuitBreakerConfig) -> Self {
        match Self::try_new(config) {
            Ok(breaker) => breaker,
            Err(e) => panic!("{e}"),
        }
    }

    /// Creates a breaker from `config`, or says which field is out of range.
    pub fn try_new(config: CircuitBreakerConfig) -> Result<Self, ConfigError> {
        Self::with_hub(config, None)
    }

    /// A breaker whose events also go to a registry's `hub`.
    pub(crate) fn with_hub(
        config: CircuitBreakerConfig,
        hub: Option<Arc<Hub>>,
    ) -> Result<Self, ConfigError> {
        let (settings, resolved) = validate(&config)?;
        Ok(CircuitBreaker {
            inner: Inner::new(settings, resolved, hub),
        })
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The current state.
    ///
    /// The move from open to half-open happens on the first call after the open period, so
    /// a breaker whose period has elapsed still reports [`State::Open`] until that call;
    /// [`retry_after`](Self::retry_after) then reports zero.
    pub fn state(&self) -> State {
        self.inner.load().state()
    }

    /// The config in force, with every default filled in.
    pub fn config(&self) -> CircuitBreakerConfig {
        self.lock_config().0.clone()
    }

    fn lock_config(&self) -> MutexGuard<'_, (CircuitBreakerConfig, crate::config::Settings)> {
        self.inner.config.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs the async call `f` through the breaker.
    ///
    /// - Closed or half-open with a free trial slot: `f` is called and awaited. `Ok` counts
    ///   as a success, `Err(e)` as a failure and comes back as
    ///   [`CircuitBreakerError::Inner(e)`](CircuitBreakerError::Inner).
    /// - Open, forced open, or half-open with every trial slot taken: `f` is not called;
    ///   the result is [`CircuitBreakerError::CircuitOpen`].
    /// - With `call_timeout_ms` set, a call running longer is dropped, counted as a failure,
    ///   and returns [`CircuitBreakerError::Timeout`] (this needs a tokio runtime with the
    ///   time driver enabled, as any tokio timer does).
    /// - A panic in `f` or its future counts as a failure and continues to the caller.
    /// - Dropping the returned future before it finishes counts the call as cancelled:
    ///   neither success nor failure, and a half-open trial slot is freed.
    ///
    /// (Equivalent to an `async fn`; it hands back [`execute_with`](Self::execute_with)'s
    /// future itself, so that no second state machine wraps it.)
    pub fn execute<F, Fut, T, E>(
        &self,
        f: F,
    ) -> impl Future<Output = Result<T, CircuitBreakerError<E>>> + use<'_, F, Fut, T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.execute_with(every_error::<E>, f)
    }

    /// [`execute`](Self::execute) with a classifier: an `Err(e)` for which `is_failure(&e)`
    /// is `false` (a 404, an invalid argument) is returned unchanged but counted as *ignored*,
    /// not against the service.
    ///
    /// ```
    /// use plexspaces_circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, State};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let breaker = CircuitBreaker::new(CircuitBreakerConfig {
    ///     name: "users".into(),
    ///     failure_threshold: 1,
    ///     ..Default::default()
    /// });
    /// let not_found = |status: &u16| *status >= 500;
    /// let r = breaker.execute_with(not_found, || async { Err::<(), u16>(404) }).await;
    /// assert_eq!(r.unwrap_err().into_inner(), Some(404));
    /// assert_eq!(breaker.state(), State::Closed);
    /// # }
    /// ```
    pub async fn execute_with<F, Fut, T, E, C>(
        &self,
        is_failure: C,
        f: F,
    ) -> Result<T, CircuitBreakerError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: FnOnce(&E) -> bool,
    {
        let mut permit = self.try_acquire().map_err(CircuitBreakerError::widen)?;
        let fut = {
            let guard = FailOnUnwind(&mut permit);
            let fut = f();
            guard.disarm();
            fut
        };
        let mut fut = pin!(fut);
        // The same steps as the `#[circuit_breaker]` expansion, which makes them in the
        // annotated function's own state machine (see `__private`).
        match deadline(&permit) {
            None => {
                let outcome = Guarded::new(&mut permit, fut.as_mut()).await;
                settle(permit, outcome, is_failure)
            }
            Some(d) => match within(d, Guarded::new(&mut permit, fut.as_mut())).await {
                Ok(outcome) => settle(permit, outcome, is_failure),
                Err(_elapsed) => Err(timed_out(permit)),
            },
        }
    }

    /// Runs the synchronous call `f` through the breaker, with the rules of
    /// [`execute`](Self::execute). `call_timeout_ms` does not apply: a synchronous call cannot
    /// be interrupted.
    #[inline]
    pub fn call<F, T, E>(&self, f: F) -> Result<T, CircuitBreakerError<E>>
    where
        F: FnOnce() -> Result<T, E>,
    {
        self.call_with(every_error::<E>, f)
    }

    /// [`call`](Self::call) with a classifier, as in [`execute_with`](Self::execute_with).
    #[inline]
    pub fn call_with<F, T, E, C>(&self, is_failure: C, f: F) -> Result<T, CircuitBreakerError<E>>
    where
        F: FnOnce() -> Result<T, E>,
        C: FnOnce(&E) -> bool,
    {
        let admission = self.inner.acquire();
        if admission.is_rejected() {
            return Err(CircuitBreakerError::CircuitOpen);
        }
        let call = SyncCall {
            inner: &self.inner,
            admission,
        };
        let outcome = f();
        settle(call.into_permit(), outcome, is_failure)
    }

    /// Asks for permission to make one call, for code that cannot hand the call over as a
    /// closure (middleware, streams). Report the outcome on the [`Permit`]; dropping it
    /// unreported counts the call as cancelled.
    ///
    /// # Errors
    /// [`CircuitBreakerError::CircuitOpen`] when the call must not be made.
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit<'_>, CircuitBreakerError> {
        let admission = self.inner.acquire();
        if admission.is_rejected() {
            return Err(CircuitBreakerError::CircuitOpen);
        }
        Ok(Permit::new(&self.inner, admission))
    }

    /// How long until a call would be admitted, for a `Retry-After` header.
    ///
    /// `Some(Duration::ZERO)` when a call would be admitted now (closed, disabled, an open
    /// period that has elapsed) or may be at any moment (half-open: a slot frees as soon as a
    /// trial ends); the rest of the open period when open; `None` when forced open, as no
    /// time is known until someone calls [`reset`](Self::reset).
    pub fn retry_after(&self) -> Option<Duration> {
        let w = self.inner.load();
        match w.state() {
            State::ForcedOpen => None,
            State::Open => Some(Duration::from_millis(self.remaining_open_ms(w))),
            State::Closed | State::HalfOpen | State::Disabled => Some(Duration::ZERO),
        }
    }

    fn remaining_open_ms(&self, w: Word) -> u64 {
        let now = self.inner.clock.now_ms();
        match self.inner.open_deadline(w) {
            Some(deadline) => deadline.saturating_sub(now),
            // Opened this instant; the deadline is being published.
            None => self.inner.open_period_ms(w),
        }
    }

    /// Opens the circuit until [`reset`](Self::reset): every call is rejected.
    pub fn force_open(&self) {
        self.inner.force(State::ForcedOpen, Reason::ForcedOpen);
    }

    /// Disables the breaker until [`reset`](Self::reset): every call flows, nothing is
    /// recorded.
    pub fn disable(&self) {
        self.inner.force(State::Disabled, Reason::Disabled);
    }

    /// Closes the circuit and clears every count (consecutive failures and the cumulative
    /// totals of the snapshot). Calls admitted before the reset decide nothing afterwards.
    pub fn reset(&self) {
        self.inner.force(State::Closed, Reason::Reset);
        self.inner.stats.reset();
    }

    /// Changes the breaker's config in place: the state, the counts, every clone and every
    /// subscriber are kept; new thresholds and periods apply from the next decision (an open
    /// period already running keeps its end). A change of strategy or of window size starts a
    /// fresh window, and nothing else.
    ///
    /// # Errors
    /// An invalid config, or one with another name, is rejected and the old one stays.
    pub fn reconfigure(&self, config: CircuitBreakerConfig) -> Result<(), ConfigError> {
        let (settings, resolved) = validate(&config)?;
        if resolved.name != *self.inner.name {
            return Err(ConfigError::other_name(&resolved.name, &self.inner.name));
        }
        let mut current = self.lock_config();
        self.inner.reconfigure(current.1, settings);
        *current = (resolved, settings);
        Ok(())
    }

    /// Subscribes to this breaker's state changes ([`EventKind::StateChanged`]), delivered in
    /// order. Delivery is bounded and lossy: a subscriber that falls behind by more than
    /// [`STATE_EVENT_CAPACITY`](crate::events::STATE_EVENT_CAPACITY) events is told how many
    /// it missed, and never slows the breaker down.
    ///
    /// ```
    /// use plexspaces_circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, State};
    /// use plexspaces_circuit_breaker::events::{EventKind, Reason};
    ///
    /// let breaker = CircuitBreaker::new(CircuitBreakerConfig {
    ///     name: "orders".into(),
    ///     failure_threshold: 1,
    ///     ..Default::default()
    /// });
    /// let mut events = breaker.subscribe();
    /// breaker.call(|| Err::<(), _>("down")).unwrap_err();
    /// let event = events.try_recv().unwrap();
    /// assert_eq!(&*event.breaker, "orders");
    /// assert_eq!(
    ///     event.kind,
    ///     EventKind::StateChanged { from: State::Closed, to: State::Open, reason: Reason::ConsecutiveFailures }
    /// );
    /// ```
    ///
    /// [`EventKind::StateChanged`]: crate::events::EventKind::StateChanged
    pub fn subscribe(&self) -> Subscription {
        self.inner.hub().subscribe()
    }

    /// Subscribes to every event of this breaker: state changes, rejections and the outcome
    /// of every call, in order. While such a subscription lives, every call pays for
    /// publishing its event; delivery is bounded and lossy as for [`subscribe`](Self::subscribe)
    /// (capacity [`CALL_EVENT_CAPACITY`](crate::events::CALL_EVENT_CAPACITY)).
    pub fn subscribe_all(&self) -> Subscription {
        self.inner.hub().subscribe_all()
    }

    /// A point-in-time view of the breaker, as the protobuf message.
    pub fn snapshot(&self) -> CircuitBreakerSnapshot {
        let inner = &*self.inner;
        let w = inner.load();
        let now = inner.clock.now_ms();
        let counts = inner.stats.counts();
        let state = w.state();
        let (opened_at, next_attempt_at, retry_after) = if state == State::Open {
            let retry = self.remaining_open_ms(w);
            (
                inner.clock.unix_ms(inner.opened_at()),
                inner.clock.unix_ms(now + retry),
                retry,
            )
        } else {
            (0, 0, 0)
        };
        let (half_open_in_flight, half_open_successes, half_open_failures) =
            inner.half_open_counts(w);
        let window = if state == State::Closed {
            inner.window_tally(now)
        } else {
            Default::default()
        };
        CircuitBreakerSnapshot {
            name: self.name().to_owned(),
            state: CircuitState::from(state) as i32,
            successful_calls: counts.success,
            failed_calls: counts.failure,
            rejected_calls: counts.rejected,
            timed_out_calls: counts.timeout,
            consecutive_failures: if state == State::Closed {
                w.payload()
            } else {
                0
            },
            opened_at_unix_ms: opened_at,
            next_attempt_at_unix_ms: next_attempt_at,
            ignored_calls: counts.ignored,
            cancelled_calls: counts.cancelled,
            half_open_in_flight,
            half_open_successes,
            retry_after_ms: retry_after,
            config: Some(self.config()),
            taken_at_unix_ms: inner.clock.unix_ms(now),
            window_calls: window.calls,
            window_failed_calls: window.failures,
            window_slow_calls: window.slow,
            open_period_ms: inner.open_period_ms(w),
            consecutive_reopens: inner.reopens(),
            half_open_failures,
        }
    }

    /// `true` if both handles are clones of one breaker.
    pub fn ptr_eq(&self, other: &CircuitBreaker) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.name())
            .field("state", &self.state())
            .finish()
    }
}

/// Reports a finished call on its permit and shapes the result.
#[inline(always)]
pub fn settle<T, E, C>(
    permit: Permit<'_>,
    outcome: Result<T, E>,
    is_failure: C,
) -> Result<T, CircuitBreakerError<E>>
where
    C: FnOnce(&E) -> bool,
{
    match outcome {
        Ok(value) => {
            permit.success();
            Ok(value)
        }
        Err(e) => {
            if is_failure(&e) {
                permit.failure();
            } else {
                permit.ignore();
            }
            Err(CircuitBreakerError::Inner(e))
        }
    }
}

/// The call's deadline, if `call_timeout_ms` was set when it was admitted.
#[inline]
pub fn deadline(permit: &Permit<'_>) -> Option<Duration> {
    if permit.has_deadline() {
        permit.call_timeout()
    } else {
        None
    }
}

/// `fut`, given up (`Err`) at `deadline`. The timer's drop code is kept out of line (see
/// `outline`), so that calls without a deadline do not carry it.
#[inline]
pub fn within<F: Future>(
    deadline: Duration,
    fut: F,
) -> impl Future<Output = Result<F::Output, tokio::time::error::Elapsed>> {
    OutlinedDrop::new(tokio::time::timeout(deadline, fut))
}

/// Records a call that ran past its deadline; the error to return.
#[cold]
pub fn timed_out<E>(permit: Permit<'_>) -> CircuitBreakerError<E> {
    permit.timed_out();
    CircuitBreakerError::Timeout
}

/// Records the call as failed if a panic unwinds through the frame that holds it.
///
/// It is placed around each step of the caller's code (making the future, each poll, the
/// synchronous call) and disarmed right after, so it costs nothing unless a panic happens;
/// unlike `catch_unwind`, it does not stop the compiler from inlining the caller's code.
/// The panic itself continues to the caller untouched.
struct FailOnUnwind<'s, 'p>(&'s mut Permit<'p>);

impl FailOnUnwind<'_, '_> {
    #[inline(always)]
    fn disarm(self) {
        std::mem::forget(self);
    }
}

impl Drop for FailOnUnwind<'_, '_> {
    #[inline(always)]
    fn drop(&mut self) {
        // Only reached while unwinding: the normal path disarms the guard.
        self.0.fail_in_place();
    }
}

/// A synchronous call in progress, owned by value (unlike [`FailOnUnwind`], which borrows a
/// permit) so that it can stay in registers across the caller's closure. Dropped only if the
/// closure panics: then the call counts as failed and the panic continues.
struct SyncCall<'a> {
    inner: &'a Inner,
    admission: Admission,
}

impl<'a> SyncCall<'a> {
    #[inline(always)]
    fn into_permit(self) -> Permit<'a> {
        let this = std::mem::ManuallyDrop::new(self);
        Permit::new(this.inner, this.admission)
    }
}

impl Drop for SyncCall<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        self.inner.record_cold(self.admission, Outcome::Failure);
    }
}

/// Polls the caller's future with an unwind guard around each poll: a panic in it counts the
/// call as failed, and continues.
#[must_use = "futures do nothing unless polled"]
pub struct Guarded<'a, 'p, F> {
    fut: Pin<&'a mut F>,
    permit: &'a mut Permit<'p>,
}

impl<'a, 'p, F> Guarded<'a, 'p, F> {
    /// Polls `fut` on behalf of `permit`.
    #[inline]
    pub fn new(permit: &'a mut Permit<'p>, fut: Pin<&'a mut F>) -> Self {
        Guarded { fut, permit }
    }
}

impl<F: Future> Future for Guarded<'_, '_, F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let guard = FailOnUnwind(this.permit);
        let poll = this.fut.as_mut().poll(cx);
        guard.disarm();
        poll
    }
}
