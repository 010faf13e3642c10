//! The circuit breaker: admission, outcome recording, and every state transition.

use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::atomic::{
    AtomicU32, AtomicU64,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use plexspaces_proto::circuitbreaker::prv::{
    CircuitBreakerConfig, CircuitBreakerSnapshot, CircuitState,
};

use crate::clock::Clock;
use crate::config::{validate, ConfigError, Settings};
use crate::error::CircuitBreakerError;
use crate::permit::Permit;
use crate::state::{State, Word};
use crate::stats::{Counter, Stats};

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

/// What a permit was issued as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Admission {
    gen: u32,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A call in the closed state.
    Closed,
    /// A half-open trial call.
    Trial,
    /// A call let through by a disabled breaker: nothing is recorded.
    Passthrough,
}

impl Admission {
    pub(crate) fn is_trial(self) -> bool {
        self.kind == Kind::Trial
    }
}

/// How an admitted call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    Failure,
    Timeout,
    Ignored,
    Cancelled,
}

/// Aligns its content to its own cache lines.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<T>(T);

/// The live, reconfigurable numbers of a breaker (see [`Settings`]).
#[derive(Debug)]
struct Limits {
    failure_threshold: AtomicU32,
    success_threshold: AtomicU32,
    half_open_max_calls: AtomicU32,
    open_ms: AtomicU64,
    call_timeout_ms: AtomicU64,
}

impl Limits {
    fn new(s: Settings) -> Self {
        Limits {
            failure_threshold: AtomicU32::new(s.failure_threshold),
            success_threshold: AtomicU32::new(s.success_threshold),
            half_open_max_calls: AtomicU32::new(s.half_open_max_calls),
            open_ms: AtomicU64::new(s.open_ms),
            call_timeout_ms: AtomicU64::new(s.call_timeout_ms),
        }
    }

    fn store(&self, s: Settings) {
        self.failure_threshold.store(s.failure_threshold, Relaxed);
        self.success_threshold.store(s.success_threshold, Relaxed);
        self.half_open_max_calls
            .store(s.half_open_max_calls, Relaxed);
        self.open_ms.store(s.open_ms, Relaxed);
        self.call_timeout_ms.store(s.call_timeout_ms, Relaxed);
    }
}

/// The open period's end, tagged with the generation it belongs to:
/// `[generation: low 24 bits][deadline: 40 bits of ms since the breaker's creation]`.
/// A reader that finds another generation's tag knows the period was just opened and its
/// deadline is not yet published: it rejects, as the period has certainly not elapsed.
const DEADLINE_BITS: u32 = 40;
const DEADLINE_MASK: u64 = (1 << DEADLINE_BITS) - 1;
const DEADLINE_GEN_MASK: u32 = (1 << 24) - 1;

fn pack_deadline(gen: u32, at_ms: u64) -> u64 {
    (u64::from(gen & DEADLINE_GEN_MASK) << DEADLINE_BITS) | (at_ms & DEADLINE_MASK)
}

pub(crate) struct Inner {
    /// The state word ([`Word`]); read on every call, written only when something changes.
    word: Padded<AtomicU64>,
    /// See [`pack_deadline`].
    open_until: AtomicU64,
    /// When the current open period began (ms since creation); for snapshots.
    opened_at: AtomicU64,
    limits: Limits,
    /// The config in force, every default resolved.
    config: Mutex<CircuitBreakerConfig>,
    name: Box<str>,
    clock: Clock,
    stats: Stats,
}

impl Inner {
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    fn load(&self) -> Word {
        Word(self.word.0.load(Acquire))
    }

    fn cas(&self, current: Word, new: Word) -> Result<(), Word> {
        self.word
            .0
            .compare_exchange_weak(current.0, new.0, AcqRel, Acquire)
            .map(drop)
            .map_err(Word)
    }

    /// Asks to make a call. The closed state's path reads one word and writes nothing.
    #[inline]
    fn acquire(&self) -> Result<Admission, CircuitBreakerError> {
        let w = self.load();
        if w.is_closed() {
            return Ok(Admission {
                gen: w.gen(),
                kind: Kind::Closed,
            });
        }
        self.acquire_slow(w)
    }

    #[inline(never)]
    fn acquire_slow(&self, mut w: Word) -> Result<Admission, CircuitBreakerError> {
        loop {
            let admitted = match w.state() {
                State::Closed => Admission {
                    gen: w.gen(),
                    kind: Kind::Closed,
                },
                State::Disabled => Admission {
                    gen: w.gen(),
                    kind: Kind::Passthrough,
                },
                State::ForcedOpen => return self.reject(),
                State::Open => {
                    // open -> half-open, lazily: the first call after the period is the trial.
                    match self.open_deadline(w) {
                        Some(deadline) if self.clock.now_ms() >= deadline => {}
                        _ => return self.reject(),
                    }
                    let next = Word::half_open(w.next_gen(), 1, 0);
                    match self.cas(w, next) {
                        Ok(()) => Admission {
                            gen: next.gen(),
                            kind: Kind::Trial,
                        },
                        Err(actual) => {
                            w = actual;
                            continue;
                        }
                    }
                }
                State::HalfOpen => {
                    if w.in_flight() >= self.limits.half_open_max_calls.load(Relaxed) {
                        return self.reject();
                    }
                    match self.cas(w, w.with_payload(w.payload() + 1)) {
                        Ok(()) => Admission {
                            gen: w.gen(),
                            kind: Kind::Trial,
                        },
                        Err(actual) => {
                            w = actual;
                            continue;
                        }
                    }
                }
            };
            return Ok(admitted);
        }
    }

    fn reject(&self) -> Result<Admission, CircuitBreakerError> {
        self.stats.add(Counter::Rejected);
        Err(CircuitBreakerError::CircuitOpen)
    }

    /// The end of the open period of `w` (an open word), once published.
    fn open_deadline(&self, w: Word) -> Option<u64> {
        let packed = self.open_until.load(Acquire);
        ((packed >> DEADLINE_BITS) as u32 == w.gen() & DEADLINE_GEN_MASK)
            .then_some(packed & DEADLINE_MASK)
    }

    /// Records how an admitted call ended.
    #[inline]
    pub(crate) fn record(&self, admission: Admission, outcome: Outcome) {
        if admission.kind == Kind::Passthrough {
            return;
        }
        match outcome {
            Outcome::Success => self.stats.add(Counter::Success),
            Outcome::Failure => self.stats.add(Counter::Failure),
            Outcome::Timeout => {
                self.stats.add(Counter::Failure);
                self.stats.add(Counter::Timeout);
            }
            Outcome::Ignored => self.stats.add(Counter::Ignored),
            Outcome::Cancelled => self.stats.add(Counter::Cancelled),
        }
        match (admission.kind, outcome) {
            (Kind::Closed, Outcome::Success) => {
                // Read before write: a success that changes nothing stores nothing.
                let w = self.load();
                if w.is_closed() && w.gen() == admission.gen && w.payload() != 0 {
                    self.update(admission.gen, |w| w.is_closed().then(|| w.with_payload(0)));
                }
            }
            (Kind::Closed, Outcome::Failure | Outcome::Timeout) => {
                let threshold = self.limits.failure_threshold.load(Relaxed);
                // closed(n) -> closed(n + 1), or -> open at the threshold
                self.update(admission.gen, |w| {
                    w.is_closed().then(|| {
                        let failures = w.payload().saturating_add(1);
                        if failures >= threshold {
                            Word::new(State::Open, w.next_gen(), 0)
                        } else {
                            w.with_payload(failures)
                        }
                    })
                });
            }
            (Kind::Trial, Outcome::Success) => {
                let threshold = self.limits.success_threshold.load(Relaxed);
                // half-open(k in flight, s ok) -> half-open(k - 1, s + 1), or -> closed
                self.update(admission.gen, |w| {
                    (w.state() == State::HalfOpen).then(|| {
                        let successes = w.successes() + 1;
                        if successes >= threshold {
                            Word::new(State::Closed, w.next_gen(), 0)
                        } else {
                            Word::half_open(w.gen(), w.in_flight().saturating_sub(1), successes)
                        }
                    })
                });
            }
            (Kind::Trial, Outcome::Failure | Outcome::Timeout) => {
                // half-open -> open: a new open period
                self.update(admission.gen, |w| {
                    (w.state() == State::HalfOpen).then(|| Word::new(State::Open, w.next_gen(), 0))
                });
            }
            (Kind::Trial, Outcome::Ignored | Outcome::Cancelled) => {
                // half-open(k in flight) -> half-open(k - 1): the slot is free again
                self.update(admission.gen, |w| {
                    (w.state() == State::HalfOpen).then(|| {
                        Word::half_open(w.gen(), w.in_flight().saturating_sub(1), w.successes())
                    })
                });
            }
            (Kind::Closed, Outcome::Ignored | Outcome::Cancelled) | (Kind::Passthrough, _) => {}
        }
    }

    /// Applies `step` to the state word while it is still of generation `gen` (a result from
    /// an older generation decides nothing), then does what entering the new state requires.
    fn update(&self, gen: u32, step: impl Fn(Word) -> Option<Word>) {
        let mut w = self.load();
        loop {
            if w.gen() != gen {
                return;
            }
            let Some(next) = step(w) else { return };
            match self.cas(w, next) {
                Ok(()) => return self.entered(w, next),
                Err(actual) => w = actual,
            }
        }
    }

    /// Work that follows a transition `from -> to`.
    fn entered(&self, from: Word, to: Word) {
        if to.state() == State::Open && from.state() != State::Open {
            let now = self.clock.now_ms();
            self.opened_at.store(now, Relaxed);
            let open_ms = self.limits.open_ms.load(Relaxed);
            self.open_until.store(
                pack_deadline(to.gen(), now.saturating_add(open_ms)),
                Release,
            );
        }
    }

    /// Moves to `state` unconditionally (manual control). Forcing open or disabling is a
    /// no-op when already there; closing always starts a new generation, so that calls
    /// admitted before a reset decide nothing after it.
    fn force(&self, state: State) {
        let mut w = self.load();
        loop {
            if w.state() == state && state != State::Closed {
                return;
            }
            let next = Word::new(state, w.next_gen(), 0);
            match self.cas(w, next) {
                Ok(()) => return self.entered(w, next),
                Err(actual) => w = actual,
            }
        }
    }
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
        let (settings, resolved) = validate(&config)?;
        Ok(CircuitBreaker {
            inner: Arc::new(Inner {
                word: Padded(AtomicU64::new(Word::new(State::Closed, 0, 0).0)),
                open_until: AtomicU64::new(pack_deadline(DEADLINE_GEN_MASK, 0)),
                opened_at: AtomicU64::new(0),
                limits: Limits::new(settings),
                name: resolved.name.clone().into_boxed_str(),
                config: Mutex::new(resolved),
                clock: Clock::new(),
                stats: Stats::new(),
            }),
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
        self.lock_config().clone()
    }

    fn lock_config(&self) -> std::sync::MutexGuard<'_, CircuitBreakerConfig> {
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
    pub async fn execute<F, Fut, T, E>(&self, f: F) -> Result<T, CircuitBreakerError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.execute_with(|_: &E| true, f).await
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
        let permit = self.try_acquire().map_err(CircuitBreakerError::widen)?;
        let fut = match panic::catch_unwind(AssertUnwindSafe(f)) {
            Ok(fut) => fut,
            Err(payload) => {
                permit.failure();
                panic::resume_unwind(payload)
            }
        };
        let mut fut = pin!(fut);
        let guarded = CatchUnwind(fut.as_mut());
        let outcome = match self.inner.limits.call_timeout_ms.load(Relaxed) {
            0 => guarded.await,
            ms => match tokio::time::timeout(Duration::from_millis(ms), guarded).await {
                Ok(outcome) => outcome,
                Err(_elapsed) => {
                    permit.timed_out();
                    return Err(CircuitBreakerError::Timeout);
                }
            },
        };
        settle(permit, outcome, is_failure)
    }

    /// Runs the synchronous call `f` through the breaker, with the rules of
    /// [`execute`](Self::execute). `call_timeout_ms` does not apply: a synchronous call cannot
    /// be interrupted.
    pub fn call<F, T, E>(&self, f: F) -> Result<T, CircuitBreakerError<E>>
    where
        F: FnOnce() -> Result<T, E>,
    {
        self.call_with(|_: &E| true, f)
    }

    /// [`call`](Self::call) with a classifier, as in [`execute_with`](Self::execute_with).
    pub fn call_with<F, T, E, C>(&self, is_failure: C, f: F) -> Result<T, CircuitBreakerError<E>>
    where
        F: FnOnce() -> Result<T, E>,
        C: FnOnce(&E) -> bool,
    {
        let permit = self.try_acquire().map_err(CircuitBreakerError::widen)?;
        settle(permit, panic::catch_unwind(AssertUnwindSafe(f)), is_failure)
    }

    /// Asks for permission to make one call, for code that cannot hand the call over as a
    /// closure (middleware, streams). Report the outcome on the [`Permit`]; dropping it
    /// unreported counts the call as cancelled.
    ///
    /// # Errors
    /// [`CircuitBreakerError::CircuitOpen`] when the call must not be made.
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit<'_>, CircuitBreakerError> {
        let admission = self.inner.acquire()?;
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
            None => self.inner.limits.open_ms.load(Relaxed),
        }
    }

    /// Opens the circuit until [`reset`](Self::reset): every call is rejected.
    pub fn force_open(&self) {
        self.inner.force(State::ForcedOpen);
    }

    /// Disables the breaker until [`reset`](Self::reset): every call flows, nothing is
    /// recorded.
    pub fn disable(&self) {
        self.inner.force(State::Disabled);
    }

    /// Closes the circuit and clears every count (consecutive failures and the cumulative
    /// totals of the snapshot). Calls admitted before the reset decide nothing afterwards.
    pub fn reset(&self) {
        self.inner.force(State::Closed);
        self.inner.stats.reset();
    }

    /// Changes the breaker's config in place: the state, the counts and every clone are
    /// kept; new thresholds and periods apply from the next decision (an open period already
    /// running keeps its end).
    ///
    /// # Errors
    /// An invalid config, or one with another name, is rejected and the old one stays.
    pub fn reconfigure(&self, config: CircuitBreakerConfig) -> Result<(), ConfigError> {
        let (settings, resolved) = validate(&config)?;
        if resolved.name != *self.inner.name {
            return Err(ConfigError::other_name(&resolved.name, &self.inner.name));
        }
        let mut current = self.lock_config();
        self.inner.limits.store(settings);
        *current = resolved;
        Ok(())
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
            let opened = inner.opened_at.load(Relaxed);
            (
                inner.clock.unix_ms(opened),
                inner.clock.unix_ms(now + retry),
                retry,
            )
        } else {
            (0, 0, 0)
        };
        let (half_open_in_flight, half_open_successes) = if state == State::HalfOpen {
            (w.in_flight(), w.successes())
        } else {
            (0, 0)
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

/// Reports a finished call on its permit and shapes the result; a panic is recorded as a
/// failure, then continues to the caller.
fn settle<T, E, C>(
    permit: Permit<'_>,
    outcome: std::thread::Result<Result<T, E>>,
    is_failure: C,
) -> Result<T, CircuitBreakerError<E>>
where
    C: FnOnce(&E) -> bool,
{
    match outcome {
        Ok(Ok(value)) => {
            permit.success();
            Ok(value)
        }
        Ok(Err(e)) => {
            if is_failure(&e) {
                permit.failure();
            } else {
                permit.ignore();
            }
            Err(CircuitBreakerError::Inner(e))
        }
        Err(payload) => {
            permit.failure();
            panic::resume_unwind(payload)
        }
    }
}

/// Polls a future, catching a panic from it as `Err(payload)`.
struct CatchUnwind<'a, F>(Pin<&'a mut F>);

impl<F: Future> Future for CatchUnwind<'_, F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = self.0.as_mut();
        match panic::catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}
