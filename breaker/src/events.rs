//! Events: state changes for everyone, rejections and call outcomes for those who ask.
//!
//! Delivery is a bounded, lossy broadcast (tokio's `broadcast` channel): publishing never
//! waits for a subscriber, so a slow or vanished subscriber cannot block or slow calls; a
//! subscriber that falls behind learns how many events it missed
//! ([`RecvError::Lagged`]). State changes are published in the order they happened: a
//! transition and its publication happen under one small lock that only transitions take.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::broadcast;

use crate::state::State;

/// Events a state-change subscription can buffer before the oldest are dropped.
pub const STATE_EVENT_CAPACITY: usize = 256;
/// Events a call-event subscription can buffer before the oldest are dropped.
pub const CALL_EVENT_CAPACITY: usize = 4096;

/// Something that happened to a breaker.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Event {
    /// The breaker's name.
    pub breaker: Arc<str>,
    /// When, in milliseconds since the Unix epoch (derived from tokio's clock).
    pub at_unix_ms: u64,
    /// What happened.
    pub kind: EventKind,
}

/// What happened, in an [`Event`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EventKind {
    /// The circuit changed state.
    StateChanged {
        /// The state before.
        from: State,
        /// The state after.
        to: State,
        /// Why.
        reason: Reason,
    },
    /// A call was rejected without being attempted ([`CircuitBreaker::subscribe_all`] only).
    ///
    /// [`CircuitBreaker::subscribe_all`]: crate::CircuitBreaker::subscribe_all
    Rejected,
    /// An admitted call finished ([`CircuitBreaker::subscribe_all`] only).
    ///
    /// [`CircuitBreaker::subscribe_all`]: crate::CircuitBreaker::subscribe_all
    CallFinished {
        /// How it ended.
        outcome: CallOutcome,
        /// How long it took, when the breaker timed it (slow-call tracking or a half-open
        /// trial); `None` otherwise, as timing every call would cost two clock reads.
        duration: Option<Duration>,
        /// Whether it was a half-open trial.
        trial: bool,
    },
}

/// Why a circuit changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// Consecutive failures reached `failure_threshold`.
    ConsecutiveFailures,
    /// The window's failure rate reached `failure_rate_threshold`.
    FailureRate,
    /// The window's slow-call rate reached `slow_call_rate_threshold`.
    SlowCallRate,
    /// The open period elapsed and a call was admitted as a trial.
    OpenPeriodElapsed,
    /// The half-open trials succeeded.
    TrialsSucceeded,
    /// A half-open trial failed (or the trials' failure or slow-call rate reached its
    /// threshold).
    TrialFailed,
    /// A half-open trial ran past `half_open_max_wait_ms`.
    TrialHung,
    /// [`CircuitBreaker::force_open`](crate::CircuitBreaker::force_open).
    ForcedOpen,
    /// [`CircuitBreaker::disable`](crate::CircuitBreaker::disable).
    Disabled,
    /// [`CircuitBreaker::reset`](crate::CircuitBreaker::reset).
    Reset,
}

impl Reason {
    /// The reason's name as used in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::ConsecutiveFailures => "consecutive_failures",
            Reason::FailureRate => "failure_rate",
            Reason::SlowCallRate => "slow_call_rate",
            Reason::OpenPeriodElapsed => "open_period_elapsed",
            Reason::TrialsSucceeded => "trials_succeeded",
            Reason::TrialFailed => "trial_failed",
            Reason::TrialHung => "trial_hung",
            Reason::ForcedOpen => "forced_open",
            Reason::Disabled => "disabled",
            Reason::Reset => "reset",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an admitted call ended, in [`EventKind::CallFinished`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CallOutcome {
    /// It succeeded.
    Success,
    /// It failed (including a panic).
    Failure,
    /// It ran past `call_timeout_ms` (a failure).
    Timeout,
    /// Its error was classified as not the service's fault.
    Ignored,
    /// It was abandoned (its future or permit was dropped).
    Cancelled,
}

/// Why [`Subscription::recv`] returned no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    /// The subscriber fell behind and this many events were dropped; the next `recv` returns
    /// the oldest event still buffered.
    Lagged(u64),
    /// The breaker (or registry) is gone; no more events will come.
    Closed,
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Lagged(n) => write!(f, "subscriber fell behind: {n} events dropped"),
            RecvError::Closed => f.write_str("event source closed"),
        }
    }
}

impl std::error::Error for RecvError {}

/// Why [`Subscription::try_recv`] returned no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// No event is waiting.
    Empty,
    /// The subscriber fell behind and this many events were dropped.
    Lagged(u64),
    /// The breaker (or registry) is gone.
    Closed,
}

/// A stream of [`Event`]s from [`CircuitBreaker::subscribe`](crate::CircuitBreaker::subscribe)
/// or [`Registry::subscribe`](crate::Registry::subscribe). Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    rx: broadcast::Receiver<Event>,
    /// Set for call-event subscriptions: counts them while they live.
    listeners: Option<Arc<Hub>>,
}

impl Subscription {
    /// The next event, in order.
    ///
    /// # Errors
    /// [`RecvError::Lagged`] when events were dropped because this subscriber fell behind
    /// (receiving goes on with the oldest event still buffered); [`RecvError::Closed`] when
    /// the source is gone.
    pub async fn recv(&mut self) -> Result<Event, RecvError> {
        self.rx.recv().await.map_err(|e| match e {
            broadcast::error::RecvError::Lagged(n) => RecvError::Lagged(n),
            broadcast::error::RecvError::Closed => RecvError::Closed,
        })
    }

    /// The next event if one is waiting.
    ///
    /// # Errors
    /// As [`recv`](Self::recv), plus [`TryRecvError::Empty`] when no event is waiting.
    pub fn try_recv(&mut self) -> Result<Event, TryRecvError> {
        self.rx.try_recv().map_err(|e| match e {
            broadcast::error::TryRecvError::Empty => TryRecvError::Empty,
            broadcast::error::TryRecvError::Lagged(n) => TryRecvError::Lagged(n),
            broadcast::error::TryRecvError::Closed => TryRecvError::Closed,
        })
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(hub) = &self.listeners {
            hub.call_listeners.fetch_sub(1, Relaxed);
            ANY_CALL_LISTENERS.fetch_sub(1, Relaxed);
        }
    }
}

/// Live call-event subscriptions in the whole process. The call path reads this one word
/// (which changes only when such a subscription is made or dropped) and skips all event work
/// while it is 0.
static ANY_CALL_LISTENERS: AtomicUsize = AtomicUsize::new(0);

/// `true` if some call-event subscription exists anywhere in the process.
#[inline]
pub(crate) fn any_call_listeners() -> bool {
    ANY_CALL_LISTENERS.load(Relaxed) != 0
}

/// Where a breaker (or a registry) publishes. Channels are made on first subscription, so a
/// breaker nobody watches carries no buffers.
#[derive(Debug, Default)]
pub(crate) struct Hub {
    states: OnceLock<broadcast::Sender<Event>>,
    calls: OnceLock<broadcast::Sender<Event>>,
    /// Live call-event subscriptions: the call path reads this to skip all the work when 0.
    call_listeners: AtomicUsize,
}

impl Hub {
    pub(crate) fn subscribe(self: &Arc<Self>) -> Subscription {
        let tx = self
            .states
            .get_or_init(|| broadcast::channel(STATE_EVENT_CAPACITY).0);
        Subscription {
            rx: tx.subscribe(),
            listeners: None,
        }
    }

    pub(crate) fn subscribe_all(self: &Arc<Self>) -> Subscription {
        // Both kinds go through the call channel, so their relative order is kept.
        let tx = self
            .calls
            .get_or_init(|| broadcast::channel(CALL_EVENT_CAPACITY).0);
        self.call_listeners.fetch_add(1, Relaxed);
        ANY_CALL_LISTENERS.fetch_add(1, Relaxed);
        Subscription {
            rx: tx.subscribe(),
            listeners: Some(Arc::clone(self)),
        }
    }

    #[inline]
    pub(crate) fn wants_calls(&self) -> bool {
        self.call_listeners.load(Relaxed) != 0
    }

    pub(crate) fn publish_state(&self, event: &Event) {
        if let Some(tx) = self.states.get() {
            let _ = tx.send(event.clone());
        }
        self.publish_call(event);
    }

    pub(crate) fn publish_call(&self, event: &Event) {
        if self.wants_calls() {
            if let Some(tx) = self.calls.get() {
                let _ = tx.send(event.clone());
            }
        }
    }
}
