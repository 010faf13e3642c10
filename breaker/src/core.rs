//! The state machine behind a [`CircuitBreaker`](crate::CircuitBreaker): admission, outcome
//! recording, and every transition.
//!
//! ```text
//! closed --(failures reach the strategy's threshold)--> open
//! open --(open period elapsed; the arriving call is a trial)--> half-open
//! half-open --(trials succeed)--> closed
//! half-open --(a trial fails / trials' rate too high / a trial hangs)--> open (longer, with backoff)
//! any --(force_open / disable / reset)--> forced-open / disabled / closed
//! ```
//!
//! The state lives in one atomic word (see [`Word`]); the closed state's admission reads it
//! and nothing else. Half-open bookkeeping is rare and sits behind a mutex. Every transition
//! is a compare-and-swap made under a small lock that only transitions take, so that events
//! are published in the order the transitions happened.

use std::sync::atomic::{
    AtomicBool, AtomicU32, AtomicU64, AtomicU8,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use plexspaces_proto::circuitbreaker::prv::CircuitBreakerConfig;

use crate::clock::Clock;
use crate::config::{Settings, Strategy};
use crate::events::{CallOutcome, Event, EventKind, Hub, Reason};
use crate::state::{State, Word, GEN_MASK};
use crate::stats::{Counter, Padded, Stats};
use crate::timer;
use crate::window::{CountWindow, Tally, TimeWindow, Verdict, FAILED, SLOW};

/// What a permit was issued as, in one integer so that it travels in one register:
///
/// ```text
/// bits  0..2   kind
/// bit   2      timed: the call's duration is measured (slow calls tracked, or a trial)
/// bit   3      window: a window strategy was in force when it was issued
/// bit   4      deadline: `call_timeout_ms` was set when it was issued
/// bits  5..34  generation of the state word it was issued in
/// bits 34..64  when it was admitted, if timed: low 30 bits of ms on the breaker's clock
///              (durations are taken with wrapping arithmetic, exact below 12 days)
/// ```
///
/// The flags come from one byte of the breaker's settings ([`Limits::mode`]), read once on
/// admission, so that recording the outcome need not load the settings again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Admission(u64);

const KIND_MASK: u64 = 0b11;
const TIMED: u64 = 0b100;
const WINDOW: u64 = 0b1000;
const DEADLINE: u64 = 0b1_0000;
const ADMISSION_GEN_SHIFT: u32 = 5;
const STARTED_SHIFT: u32 = 34;

/// [`Limits::mode`] bits, in the places of the admission's flags.
const MODE_TIMED: u8 = TIMED as u8;
const MODE_WINDOW: u8 = WINDOW as u8;
const MODE_DEADLINE: u8 = DEADLINE as u8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A call in the closed state.
    Closed = 0,
    /// A half-open trial call.
    Trial = 1,
    /// A call let through by a disabled breaker, or a spent permit: nothing is recorded.
    Passthrough = 2,
    /// Not admitted.
    Rejected = 3,
}

/// The part of a time (ms) that an admission keeps.
fn started_low(at_ms: u64) -> u32 {
    (at_ms << STARTED_SHIFT >> STARTED_SHIFT) as u32
}

impl Admission {
    /// An admission whose duration is not measured, with the flags of `mode` (timed aside).
    #[inline]
    fn untimed(gen: u32, kind: Kind, mode: u8) -> Self {
        Admission(
            (u64::from(gen & GEN_MASK) << ADMISSION_GEN_SHIFT)
                | u64::from(mode & (MODE_WINDOW | MODE_DEADLINE))
                | kind as u64,
        )
    }

    /// An admission made at `started_ms`, whose duration is measured.
    #[inline]
    fn timed(gen: u32, kind: Kind, mode: u8, started_ms: u64) -> Self {
        Admission(Self::untimed(gen, kind, mode).0 | TIMED | (started_ms << STARTED_SHIFT))
    }

    /// A closed-state call whose duration is not measured: the hot path.
    #[inline]
    fn is_plain_closed(self) -> bool {
        self.0 & (KIND_MASK | TIMED) == Kind::Closed as u64
    }

    #[inline]
    fn gen(self) -> u32 {
        (self.0 >> ADMISSION_GEN_SHIFT) as u32 & GEN_MASK
    }

    #[inline]
    fn kind(self) -> Kind {
        match self.0 & KIND_MASK {
            0 => Kind::Closed,
            1 => Kind::Trial,
            2 => Kind::Passthrough,
            _ => Kind::Rejected,
        }
    }

    /// The low 30 bits of the admission time (0 if untimed): see [`started_low`].
    #[inline]
    fn started_low(self) -> u32 {
        (self.0 >> STARTED_SHIFT) as u32
    }

    #[inline]
    fn is_timed(self) -> bool {
        self.0 & TIMED != 0
    }

    /// How long a timed call took, at `now_ms`.
    fn duration_ms(self, now_ms: u64) -> u64 {
        let elapsed = (now_ms << STARTED_SHIFT).wrapping_sub(self.0 & !((1 << STARTED_SHIFT) - 1));
        elapsed >> STARTED_SHIFT
    }

    /// Whether `call_timeout_ms` was set when the call was admitted.
    #[inline]
    pub(crate) fn has_deadline(self) -> bool {
        self.0 & DEADLINE != 0
    }

    #[inline]
    pub(crate) fn is_trial(self) -> bool {
        self.kind() == Kind::Trial
    }

    #[inline]
    pub(crate) fn is_rejected(self) -> bool {
        self.kind() == Kind::Rejected
    }

    /// The same admission with nothing left to record.
    pub(crate) fn spent(self) -> Admission {
        Admission((self.0 & !KIND_MASK) | Kind::Passthrough as u64)
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

impl Outcome {
    fn is_failure(self) -> bool {
        matches!(self, Outcome::Failure | Outcome::Timeout)
    }

    fn public(self) -> CallOutcome {
        match self {
            Outcome::Success => CallOutcome::Success,
            Outcome::Failure => CallOutcome::Failure,
            Outcome::Timeout => CallOutcome::Timeout,
            Outcome::Ignored => CallOutcome::Ignored,
            Outcome::Cancelled => CallOutcome::Cancelled,
        }
    }
}

/// The live, reconfigurable numbers of a breaker (see [`Settings`]).
#[derive(Debug)]
pub(crate) struct Limits {
    /// What admissions carry: `MODE_*` bits (slow calls tracked, a window strategy, a call
    /// deadline), one byte read once per call.
    mode: AtomicU8,
    strategy: AtomicU8,
    failure_threshold: AtomicU32,
    success_threshold: AtomicU32,
    half_open_max_calls: AtomicU32,
    open_ms: AtomicU64,
    pub(crate) call_timeout_ms: AtomicU64,
    window_size: AtomicU32,
    window_ms: AtomicU64,
    minimum_calls: AtomicU32,
    failure_rate_percent: AtomicU32,
    slow_call_ms: AtomicU64,
    slow_call_rate_percent: AtomicU32,
    /// An `f64`, as bits.
    backoff_multiplier: AtomicU64,
    max_open_ms: AtomicU64,
    jitter_percent: AtomicU32,
    half_open_max_wait_ms: AtomicU64,
}

impl Limits {
    fn new(s: Settings) -> Self {
        let limits = Limits {
            mode: AtomicU8::new(0),
            strategy: AtomicU8::new(0),
            failure_threshold: AtomicU32::new(0),
            success_threshold: AtomicU32::new(0),
            half_open_max_calls: AtomicU32::new(0),
            open_ms: AtomicU64::new(0),
            call_timeout_ms: AtomicU64::new(0),
            window_size: AtomicU32::new(0),
            window_ms: AtomicU64::new(0),
            minimum_calls: AtomicU32::new(0),
            failure_rate_percent: AtomicU32::new(0),
            slow_call_ms: AtomicU64::new(0),
            slow_call_rate_percent: AtomicU32::new(0),
            backoff_multiplier: AtomicU64::new(0),
            max_open_ms: AtomicU64::new(0),
            jitter_percent: AtomicU32::new(0),
            half_open_max_wait_ms: AtomicU64::new(0),
        };
        limits.store(s);
        limits
    }

    fn store(&self, s: Settings) {
        self.strategy.store(s.strategy as u8, Relaxed);
        self.failure_threshold.store(s.failure_threshold, Relaxed);
        self.success_threshold.store(s.success_threshold, Relaxed);
        self.half_open_max_calls
            .store(s.half_open_max_calls, Relaxed);
        self.open_ms.store(s.open_ms, Relaxed);
        self.call_timeout_ms.store(s.call_timeout_ms, Relaxed);
        self.window_size.store(s.window_size, Relaxed);
        self.window_ms.store(s.window_ms, Relaxed);
        self.minimum_calls.store(s.minimum_calls, Relaxed);
        self.failure_rate_percent
            .store(s.failure_rate_percent, Relaxed);
        self.slow_call_ms.store(s.slow_call_ms, Relaxed);
        self.slow_call_rate_percent
            .store(s.slow_call_rate_percent, Relaxed);
        self.backoff_multiplier
            .store(s.backoff_multiplier.to_bits(), Relaxed);
        self.max_open_ms.store(s.max_open_ms, Relaxed);
        self.jitter_percent.store(s.jitter_percent, Relaxed);
        self.half_open_max_wait_ms
            .store(s.half_open_max_wait_ms, Relaxed);
        let mode = if s.slow_call_ms != 0 { MODE_TIMED } else { 0 }
            | if s.strategy.is_window() {
                MODE_WINDOW
            } else {
                0
            }
            | if s.call_timeout_ms != 0 {
                MODE_DEADLINE
            } else {
                0
            };
        self.mode.store(mode, Relaxed);
    }

    #[inline]
    fn mode(&self) -> u8 {
        self.mode.load(Relaxed)
    }

    #[inline]
    fn strategy(&self) -> Strategy {
        Strategy::from_u8(self.strategy.load(Relaxed))
    }

    /// The open period after `reopens` reopens without a close, before jitter.
    fn open_period_ms(&self, reopens: u32) -> u64 {
        let base = self.open_ms.load(Relaxed);
        let max = self.max_open_ms.load(Relaxed).max(base);
        let multiplier = f64::from_bits(self.backoff_multiplier.load(Relaxed));
        let grown = base as f64 * multiplier.powi(reopens.min(1_000) as i32);
        if grown >= max as f64 {
            max
        } else {
            grown as u64
        }
    }
}

/// The open period's end, tagged with the generation it belongs to:
/// `[generation: low 24 bits][quiet: 1 bit][deadline: 39 bits of ms since the breaker's creation]`.
/// A reader that finds another generation's tag knows the period was just opened and its
/// deadline is not yet published: it rejects, as the period has certainly not elapsed.
///
/// *Quiet* means the deadline is more than [`timer::MARGIN_MS`] away and the timer thread
/// will clear the bit before that: until then a rejection needs no clock read.
const DEADLINE_BITS: u32 = 40;
const QUIET: u64 = 1 << (DEADLINE_BITS - 1);
const DEADLINE_MASK: u64 = QUIET - 1;
const DEADLINE_GEN_MASK: u32 = (1 << 24) - 1;

/// Every this many rejections on a thread in a quiet stretch, one checks the clock anyway.
const CLOCK_CHECK_EVERY: u64 = 64;

fn pack_deadline(gen: u32, at_ms: u64) -> u64 {
    (u64::from(gen & DEADLINE_GEN_MASK) << DEADLINE_BITS) | at_ms.min(DEADLINE_MASK)
}

fn deadline_gen(packed: u64) -> u32 {
    (packed >> DEADLINE_BITS) as u32
}

/// The bookkeeping of one half-open period.
#[derive(Debug, Default)]
struct HalfOpen {
    /// The generation of the half-open state this belongs to.
    gen: u32,
    /// Trials admitted and not given back (a cancelled or ignored trial gives its place back).
    admitted: u32,
    in_flight: u32,
    successes: u32,
    failures: u32,
    slow: u32,
    /// When each in-flight trial started, to find a hung one.
    starts: Vec<u64>,
}

impl HalfOpen {
    fn begin(&mut self, gen: u32, max_calls: u32) {
        *self = HalfOpen {
            gen,
            starts: std::mem::take(&mut self.starts),
            ..HalfOpen::default()
        };
        self.starts.clear();
        self.starts.reserve(max_calls.min(1024) as usize);
    }

    fn admit(&mut self, now: u64) {
        self.admitted += 1;
        self.in_flight += 1;
        self.starts.push(now);
    }

    /// A trial admitted at a time whose low 30 bits are `started_low` has ended.
    fn finish(&mut self, started_low: u32) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if let Some(i) = self
            .starts
            .iter()
            .position(|s| self::started_low(*s) == started_low)
        {
            self.starts.swap_remove(i);
        }
    }
}

pub(crate) struct Inner {
    /// The state word ([`Word`]); read on every call, written only when something changes.
    word: Padded<AtomicU64>,
    pub(crate) limits: Limits,
    /// See [`pack_deadline`].
    open_until: AtomicU64,
    /// When the current open period began (ms since creation).
    opened_at: AtomicU64,
    /// The length of the current (or last) open period, in ms.
    open_period: AtomicU64,
    /// Reopens since the circuit last closed: what backoff multiplies by.
    reopens: AtomicU32,
    count_window: OnceLock<CountWindow>,
    time_window: OnceLock<TimeWindow>,
    half_open: Mutex<HalfOpen>,
    /// Taken by transitions only, so that their events are published in order.
    transitions: Mutex<()>,
    hub: Arc<Hub>,
    /// The registry's hub, for breakers made by a registry.
    registry_hub: Option<Arc<Hub>>,
    /// The config in force, every default resolved, and the settings it resolved to.
    pub(crate) config: Mutex<(CircuitBreakerConfig, Settings)>,
    pub(crate) name: Arc<str>,
    pub(crate) clock: Clock,
    pub(crate) stats: Stats,
    /// This breaker, for the timer thread.
    me: Weak<Inner>,
    /// The breaker's place in the timer thread's queue, made on first use (`None`: no timer
    /// thread here; every call reads the clock).
    timer: OnceLock<Option<timer::Entry>>,
    /// Whether the timer thread keeps the time window's current bucket (see
    /// [`TimeWindow::hint`]).
    window_ticking: AtomicBool,
    /// When the timer thread started keeping the time window's bucket (ms since creation).
    window_ticking_since: AtomicU64,
    /// The timer failed this breaker once (see [`Self::stop_quiet`]); it is not used again.
    timer_failed: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Inner {
    pub(crate) fn new(
        settings: Settings,
        config: CircuitBreakerConfig,
        registry_hub: Option<Arc<Hub>>,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| Inner {
            me: me.clone(),
            timer: OnceLock::new(),
            window_ticking: AtomicBool::new(false),
            window_ticking_since: AtomicU64::new(0),
            timer_failed: AtomicBool::new(false),
            word: Padded(AtomicU64::new(Word::new(State::Closed, 0, 0).0)),
            limits: Limits::new(settings),
            open_until: AtomicU64::new(pack_deadline(DEADLINE_GEN_MASK, 0)),
            opened_at: AtomicU64::new(0),
            open_period: AtomicU64::new(settings.open_ms),
            reopens: AtomicU32::new(0),
            count_window: OnceLock::new(),
            time_window: OnceLock::new(),
            half_open: Mutex::new(HalfOpen::default()),
            transitions: Mutex::new(()),
            hub: Arc::new(Hub::default()),
            registry_hub,
            name: Arc::from(config.name.as_str()),
            config: Mutex::new((config, settings)),
            clock: Clock::new(),
            stats: Stats::new(),
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    #[inline]
    pub(crate) fn load(&self) -> Word {
        Word(self.word.0.load(Acquire))
    }

    #[inline]
    fn cas(&self, current: Word, new: Word) -> Result<(), Word> {
        self.word
            .0
            .compare_exchange(current.0, new.0, AcqRel, Acquire)
            .map(drop)
            .map_err(Word)
    }

    // ---- admission ---------------------------------------------------------------------

    /// Asks to make a call. The closed state's path reads one word (and the clock only when
    /// slow calls are tracked) and writes nothing.
    #[inline]
    pub(crate) fn acquire(&self) -> Admission {
        let w = self.load();
        if w.is_closed() {
            return self.closed_admission(w);
        }
        self.acquire_not_closed(w)
    }

    /// Rejections that need no clock (forced open; an open period's quiet stretch) are
    /// decided here, in a function small enough to cost little more than its loads.
    #[inline(never)]
    fn acquire_not_closed(&self, w: Word) -> Admission {
        match w.state() {
            State::ForcedOpen => self.reject(),
            State::Open => {
                let packed = self.open_until.load(Acquire);
                if packed & QUIET == 0 || deadline_gen(packed) != w.gen() & DEADLINE_GEN_MASK {
                    return self.acquire_slow(w);
                }
                // Far from the deadline: the timer thread ends the quiet stretch first. Every
                // `CLOCK_CHECK_EVERY`th rejection on a thread checks the clock all the same,
                // so a stretch the timer cannot end (its thread starved, or gone in a forked
                // child) ends within that many rejections.
                let rejected = self.stats.add(Counter::Rejected);
                if rejected % CLOCK_CHECK_EVERY != 0 || !self.quiet_overdue(packed) {
                    return self.rejected();
                }
                // Not a rejection after all: the clock decides, as outside a quiet stretch.
                self.stats.sub(Counter::Rejected);
                let _ = self
                    .open_until
                    .compare_exchange(packed, packed & !QUIET, AcqRel, Acquire);
                self.acquire_slow(w)
            }
            _ => self.acquire_slow(w),
        }
    }

    /// Whether the quiet stretch of `packed` should have ended by now.
    #[cold]
    #[inline(never)]
    fn quiet_overdue(&self, packed: u64) -> bool {
        self.clock.now_ms() >= (packed & DEADLINE_MASK).saturating_sub(timer::MARGIN_MS)
    }

    #[inline]
    fn closed_admission(&self, w: Word) -> Admission {
        let mode = self.limits.mode();
        if mode & MODE_TIMED == 0 {
            Admission::untimed(w.gen(), Kind::Closed, mode)
        } else {
            self.timed_admission(w, mode)
        }
    }

    /// A closed-state admission whose duration is measured (slow calls are tracked). Out of
    /// line: the clock read it needs would otherwise crowd every caller's hot path.
    #[inline(never)]
    fn timed_admission(&self, w: Word, mode: u8) -> Admission {
        Admission::timed(w.gen(), Kind::Closed, mode, self.clock.now_ms())
    }

    #[cold]
    #[inline(never)]
    fn acquire_slow(&self, mut w: Word) -> Admission {
        loop {
            match w.state() {
                State::Closed => return self.closed_admission(w),
                State::Disabled => {
                    return Admission::untimed(w.gen(), Kind::Passthrough, self.limits.mode())
                }
                State::ForcedOpen => return self.reject(),
                State::Open => {
                    // open -> half-open, lazily: the first call after the period is a trial.
                    let now = self.clock.now_ms();
                    match self.open_deadline(w) {
                        Some(deadline) if now >= deadline => {}
                        _ => return self.reject(),
                    }
                    let mut ho = lock(&self.half_open);
                    let next = Word::new(State::HalfOpen, w.next_gen(), 0);
                    match self.transition(w, next, Reason::OpenPeriodElapsed) {
                        Ok(changed) => {
                            ho.begin(next.gen(), self.limits.half_open_max_calls.load(Relaxed));
                            ho.admit(now);
                            drop(ho);
                            self.trace(changed);
                            return Admission::timed(
                                next.gen(),
                                Kind::Trial,
                                self.limits.mode(),
                                now,
                            );
                        }
                        Err(actual) => w = actual,
                    }
                }
                State::HalfOpen => {
                    let mut ho = lock(&self.half_open);
                    let current = self.load();
                    if current != w || ho.gen != w.gen() {
                        w = current;
                        continue;
                    }
                    let max_wait = self.limits.half_open_max_wait_ms.load(Relaxed);
                    // The clock is read only when a trial is admitted or may have hung.
                    let mut now = None;
                    let oldest = ho.starts.iter().min().copied();
                    if let (true, Some(oldest)) = (max_wait != 0, oldest) {
                        let at = self.clock.now_ms();
                        now = Some(at);
                        if at >= oldest.saturating_add(max_wait) {
                            // A hung trial counts as failed: reopen, and reject this call.
                            let next = Word::new(State::Open, w.next_gen(), 0);
                            let changed = self.transition(w, next, Reason::TrialHung).ok();
                            drop(ho);
                            self.trace_all(changed);
                            return self.reject();
                        }
                    }
                    let max = self.limits.half_open_max_calls.load(Relaxed);
                    let taken = if self.limits.strategy().is_window() {
                        ho.admitted
                    } else {
                        ho.in_flight
                    };
                    if taken >= max {
                        return self.reject();
                    }
                    let now = now.unwrap_or_else(|| self.clock.now_ms());
                    ho.admit(now);
                    return Admission::timed(w.gen(), Kind::Trial, self.limits.mode(), now);
                }
            }
        }
    }

    #[inline]
    fn reject(&self) -> Admission {
        self.stats.add(Counter::Rejected);
        self.rejected()
    }

    /// A rejection already counted.
    #[inline]
    fn rejected(&self) -> Admission {
        if self.wants_call_events() {
            self.publish_call(EventKind::Rejected);
        }
        Admission::untimed(0, Kind::Rejected, 0)
    }

    /// The end of the open period of `w` (an open word), once published.
    pub(crate) fn open_deadline(&self, w: Word) -> Option<u64> {
        let packed = self.open_until.load(Acquire);
        (deadline_gen(packed) == w.gen() & DEADLINE_GEN_MASK).then_some(packed & DEADLINE_MASK)
    }

    // ---- outcomes ----------------------------------------------------------------------

    /// Records how an admitted call ended.
    #[inline(always)]
    pub(crate) fn record(&self, admission: Admission, outcome: Outcome) {
        if admission.is_plain_closed()
            && outcome == Outcome::Success
            && !crate::events::any_call_listeners()
        {
            // The hot path: an untimed success in the closed state, nobody listening. (The
            // load comes before the counter's store, so that it need not wait behind it.)
            let w = self.load();
            self.stats.add(Counter::Success);
            if admission.0 & WINDOW == 0 {
                // Consecutive strategy. Read before write: a success that changes nothing
                // (the word is still closed, of this generation, with no failures counted)
                // stores nothing.
                if w != Word::new(State::Closed, admission.gen(), 0) {
                    self.consecutive_success(w, admission.gen());
                }
                return;
            }
            return self.record_window(admission.gen(), false, false);
        }
        self.record_any(admission, outcome);
    }

    /// A success when the state word was not the plain closed word of the call's generation.
    #[cold]
    #[inline(never)]
    fn consecutive_success(&self, w: Word, gen: u32) {
        if w.payload() != 0 && w.is_closed() && w.gen() == gen {
            self.clear_consecutive(gen);
        }
    }

    #[cold]
    #[inline(never)]
    fn clear_consecutive(&self, gen: u32) {
        self.update(gen, Reason::ConsecutiveFailures, |w| {
            w.is_closed().then(|| w.with_payload(0))
        });
    }

    /// [`Self::record`] out of line, for drop code (a dropped permit or future, an unwinding
    /// call), which stays small so that the compiler inlines it where it is needed.
    #[inline(never)]
    pub(crate) fn record_cold(&self, admission: Admission, outcome: Outcome) {
        self.record(admission, outcome);
    }

    /// [`Self::record`] for every other case.
    #[inline(never)]
    fn record_any(&self, admission: Admission, outcome: Outcome) {
        if matches!(admission.kind(), Kind::Passthrough | Kind::Rejected) {
            return;
        }
        let counter = match outcome {
            Outcome::Success => Counter::Success,
            Outcome::Failure => Counter::Failure,
            Outcome::Timeout => {
                self.stats.add(Counter::Failure);
                Counter::Timeout
            }
            Outcome::Ignored => Counter::Ignored,
            Outcome::Cancelled => Counter::Cancelled,
        };
        self.stats.add(counter);
        let duration_ms = admission
            .is_timed()
            .then(|| admission.duration_ms(self.clock.now_ms()));
        if self.wants_call_events() {
            self.publish_call(EventKind::CallFinished {
                outcome: outcome.public(),
                duration: duration_ms.map(Duration::from_millis),
                trial: admission.is_trial(),
            });
        }
        let slow_ms = self.limits.slow_call_ms.load(Relaxed);
        let slow = slow_ms != 0 && duration_ms.is_some_and(|d| d >= slow_ms);
        match admission.kind() {
            Kind::Closed => self.record_closed(admission.gen(), outcome, slow),
            Kind::Trial => self.record_trial(admission, outcome, slow),
            Kind::Passthrough | Kind::Rejected => {}
        }
    }

    #[inline]
    fn record_closed(&self, gen: u32, outcome: Outcome, slow: bool) {
        if matches!(outcome, Outcome::Ignored | Outcome::Cancelled) {
            return;
        }
        let failed = outcome.is_failure();
        let strategy = self.limits.strategy();
        if strategy == Strategy::Consecutive {
            if failed {
                let threshold = self.limits.failure_threshold.load(Relaxed);
                // closed(n) -> closed(n + 1), or -> open at the threshold
                self.update(gen, Reason::ConsecutiveFailures, |w| {
                    w.is_closed().then(|| {
                        let failures = w.payload().saturating_add(1);
                        if failures >= threshold {
                            Word::new(State::Open, w.next_gen(), 0)
                        } else {
                            w.with_payload(failures)
                        }
                    })
                });
            } else {
                let w = self.load();
                if w.is_closed() && w.gen() == gen && w.payload() != 0 {
                    self.clear_consecutive(gen);
                }
            }
            return;
        }
        self.record_window(gen, failed, slow);
    }

    /// Records a closed-state outcome in the window of the strategy in force.
    #[inline]
    fn record_window(&self, gen: u32, failed: bool, slow: bool) {
        // A result from an earlier closed period belongs to no window.
        let w = self.load();
        if !w.is_closed() || w.gen() != gen {
            return;
        }
        let bits = if failed { FAILED } else { 0 } | if slow { SLOW } else { 0 };
        let tally = match self.limits.strategy() {
            Strategy::CountWindow => self.count_window().record(bits),
            Strategy::TimeWindow => self.time_window().record(|| self.window_clock(), bits),
            // The strategy changed since the call was admitted.
            Strategy::Consecutive => None,
        };
        if let Some(tally) = tally {
            self.judge(gen, tally);
        }
    }

    /// Opens the circuit if the window's tally says so.
    #[inline(never)]
    fn judge(&self, gen: u32, tally: Tally) {
        let verdict = tally.verdict(
            self.limits.minimum_calls.load(Relaxed),
            self.limits.failure_rate_percent.load(Relaxed),
            self.limits.slow_call_rate_percent.load(Relaxed),
        );
        if let Some(verdict) = verdict {
            let reason = match verdict {
                Verdict::FailureRate => Reason::FailureRate,
                Verdict::SlowCallRate => Reason::SlowCallRate,
            };
            // closed -> open
            self.update(gen, reason, |w| {
                w.is_closed()
                    .then(|| Word::new(State::Open, w.next_gen(), 0))
            });
        }
    }

    /// The clock, for a time-window call that found no hint of the current bucket: the
    /// timer thread is not keeping it (idle, or not started yet), or it is within
    /// [`timer::MARGIN_MS`] of the bucket's end. Starts the timer's help when it can.
    #[cold]
    #[inline(never)]
    fn window_clock(&self) -> u64 {
        let now = self.clock.now_ms();
        if !self.window_ticking.load(Relaxed)
            && self.timer_runs()
            && self
                .window_ticking
                .compare_exchange(false, true, AcqRel, Relaxed)
                .is_ok()
        {
            self.window_ticking_since.store(now, Relaxed);
            self.wake_at(now);
        }
        now
    }

    // ---- the timer thread --------------------------------------------------------------

    /// Whether the timer thread can keep time for this breaker: it runs, and this thread's
    /// clock is std's (not tokio's paused clock, which only the test moving it knows about).
    fn timer_runs(&self) -> bool {
        !self.timer_failed.load(Acquire)
            && crate::clock::is_std()
            && timer::available()
            && self
                .timer
                .get_or_init(|| timer::Entry::new(self.me.clone()))
                .is_some()
    }

    /// Asks the timer thread to call [`Self::on_timer`] at `at_ms` (or earlier).
    fn wake_at(&self, at_ms: u64) {
        if let Some(Some(entry)) = self.timer.get() {
            entry.wake_at(self.clock.std_instant(at_ms));
        }
    }

    /// Run by the timer thread: ends the quiet stretch of an open period near its deadline,
    /// and keeps the time window's current bucket; then asks to be woken for what is next.
    pub(crate) fn on_timer(&self) {
        self.on_timer_at(self.clock.now_ms());
    }

    fn on_timer_at(&self, now: u64) {
        if self.timer_failed.load(Acquire) {
            return;
        }
        let mut next = None;
        let packed = self.open_until.load(Acquire);
        if packed & QUIET != 0 {
            let quiet_until = (packed & DEADLINE_MASK).saturating_sub(timer::MARGIN_MS);
            if now >= quiet_until {
                // A failed exchange means a new period was stored, which arranged its own wake-up.
                let _ = self
                    .open_until
                    .compare_exchange(packed, packed & !QUIET, AcqRel, Acquire);
            } else {
                next = Some(quiet_until);
            }
        }
        if self.window_ticking.load(Acquire) {
            match self.time_window.get() {
                Some(window) if !self.window_idle(window, now) => {
                    let at = window.set_hint(now);
                    next = Some(next.map_or(at, |n: u64| n.min(at)));
                }
                window => {
                    // Idle for a whole window: stop ticking; the next call starts it again.
                    if let Some(window) = window {
                        window.clear_hint();
                    }
                    self.window_ticking.store(false, Release);
                }
            }
        }
        if let Some(at) = next {
            self.wake_at(at);
        }
    }

    /// Gives up the timer's help for good, should it fail: every call reads the clock.
    pub(crate) fn stop_quiet(&self) {
        self.open_until.fetch_and(!QUIET, AcqRel);
        if let Some(window) = self.time_window.get() {
            window.clear_hint();
        }
        // Marked as ticking, so that no call starts the timer for the window again.
        self.window_ticking.store(true, Release);
        self.timer_failed.store(true, Release);
    }

    /// No time-window call for a whole window, which has been kept for at least that long.
    fn window_idle(&self, window: &TimeWindow, now: u64) -> bool {
        let window_ms = self.limits.window_ms.load(Relaxed);
        let since = self.window_ticking_since.load(Relaxed);
        (self.limits.strategy() != Strategy::TimeWindow || window.tally(now).calls == 0)
            && now.saturating_sub(since) >= window_ms
    }

    fn count_window(&self) -> &CountWindow {
        self.count_window
            .get_or_init(|| CountWindow::new(self.limits.window_size.load(Relaxed)))
    }

    fn time_window(&self) -> &TimeWindow {
        self.time_window
            .get_or_init(|| TimeWindow::new(self.limits.window_ms.load(Relaxed)))
    }

    fn record_trial(&self, admission: Admission, outcome: Outcome, slow: bool) {
        let mut ho = lock(&self.half_open);
        let w = self.load();
        if w.state() != State::HalfOpen || w.gen() != admission.gen() || ho.gen != admission.gen() {
            return; // a trial of an earlier half-open period decides nothing
        }
        ho.finish(admission.started_low());
        if matches!(outcome, Outcome::Ignored | Outcome::Cancelled) {
            // The trial says nothing about the service: its place goes to another call.
            ho.admitted = ho.admitted.saturating_sub(1);
            return;
        }
        let changed = self.trial_decision(&mut ho, w, outcome.is_failure(), slow);
        drop(ho);
        self.trace_all(changed);
    }

    /// The half-open rule: whether the trials so far close or reopen the circuit.
    fn trial_decision(
        &self,
        ho: &mut HalfOpen,
        w: Word,
        failed: bool,
        slow: bool,
    ) -> Option<Changed> {
        let reopen = Word::new(State::Open, w.next_gen(), 0);
        let close = Word::new(State::Closed, w.next_gen(), 0);
        if !self.limits.strategy().is_window() {
            // half-open -> open at the first failure; -> closed at success_threshold successes
            if failed {
                return self.transition(w, reopen, Reason::TrialFailed).ok();
            }
            ho.successes += 1;
            if ho.successes >= self.limits.success_threshold.load(Relaxed) {
                return self.transition(w, close, Reason::TrialsSucceeded).ok();
            }
            return None;
        }
        // Window strategies: the rate rule over the period's `half_open_max_calls` trials.
        if failed {
            ho.failures += 1;
        } else {
            ho.successes += 1;
        }
        if slow {
            ho.slow += 1;
        }
        let max = u64::from(self.limits.half_open_max_calls.load(Relaxed));
        let failure_pct = u64::from(self.limits.failure_rate_percent.load(Relaxed));
        let slow_pct = u64::from(self.limits.slow_call_rate_percent.load(Relaxed));
        let tracks_slow = self.limits.slow_call_ms.load(Relaxed) != 0;
        if u64::from(ho.failures) * 100 >= failure_pct * max
            || (tracks_slow && u64::from(ho.slow) * 100 >= slow_pct * max)
        {
            // The finished trials alone reach a threshold: reopen without waiting for the rest.
            self.transition(w, reopen, Reason::TrialFailed).ok()
        } else if u64::from(ho.successes + ho.failures) >= max {
            self.transition(w, close, Reason::TrialsSucceeded).ok()
        } else {
            None
        }
    }

    // ---- transitions -------------------------------------------------------------------

    /// Applies `step` to the state word while it is still of generation `gen` (a result from
    /// an older generation decides nothing). A step that changes the state is a transition.
    fn update(&self, gen: u32, reason: Reason, step: impl Fn(Word) -> Option<Word>) {
        let mut w = self.load();
        loop {
            if w.gen() != gen {
                return;
            }
            let Some(next) = step(w) else { return };
            let result = if next.state() == w.state() {
                self.cas(w, next).map(|()| None)
            } else {
                self.transition(w, next, reason).map(Some)
            };
            match result {
                Ok(changed) => return self.trace_all(changed),
                Err(actual) => w = actual,
            }
        }
    }

    /// Moves the state `from -> to` if it is still `from`, does what entering `to` requires,
    /// and publishes the event (in order with every other transition). Returns the actual
    /// word when it was not `from`. The caller logs the returned change with [`Self::trace`]
    /// once it holds no lock, as a tracing subscriber is user code.
    fn transition(&self, from: Word, to: Word, reason: Reason) -> Result<Changed, Word> {
        let _in_order = lock(&self.transitions);
        self.cas(from, to)?;
        let now = self.clock.now_ms();
        match to.state() {
            State::Open => {
                let reopens = if from.state() == State::HalfOpen {
                    self.reopens.load(Relaxed).saturating_add(1)
                } else {
                    0
                };
                self.reopens.store(reopens, Relaxed);
                let period = self.jittered(self.limits.open_period_ms(reopens));
                self.open_period.store(period, Relaxed);
                self.opened_at.store(now, Relaxed);
                let deadline = now.saturating_add(period);
                let quiet_until = deadline.saturating_sub(timer::MARGIN_MS);
                let quiet = quiet_until > now && self.timer_runs();
                let packed = pack_deadline(to.gen(), deadline);
                self.open_until
                    .store(if quiet { packed | QUIET } else { packed }, Release);
                if quiet {
                    self.wake_at(quiet_until);
                }
            }
            State::Closed => {
                self.reopens.store(0, Relaxed);
                self.fresh_windows();
            }
            State::HalfOpen | State::Disabled | State::ForcedOpen => {}
        }
        let changed = Changed {
            from: from.state(),
            to: to.state(),
            reason,
        };
        if changed.from != changed.to {
            self.publish_state(changed, now);
        }
        Ok(changed)
    }

    /// Jitter of +/- `jitter_percent`, never beyond `max_timeout_secs`, never below 1 ms.
    fn jittered(&self, period: u64) -> u64 {
        let percent = self.limits.jitter_percent.load(Relaxed);
        if percent == 0 {
            return period;
        }
        let max = self.limits.max_open_ms.load(Relaxed).max(period);
        let spread = period as f64 * f64::from(percent) / 100.0;
        let jittered = period as f64 + spread * (2.0 * crate::rng::unit() - 1.0);
        (jittered.round() as u64).clamp(1, max)
    }

    /// Empties the windows (a close, or a change of window).
    fn fresh_windows(&self) {
        if let Some(w) = self.count_window.get() {
            w.reset(self.limits.window_size.load(Relaxed));
        }
        if let Some(w) = self.time_window.get() {
            w.reset(self.limits.window_ms.load(Relaxed));
            if self.window_ticking.load(Acquire) {
                // The hint belongs to the old window: have the timer give a new one now.
                self.wake_at(self.clock.now_ms());
            }
        }
    }

    /// Moves to `state` unconditionally (manual control). Forcing open or disabling is a
    /// no-op when already there; closing always starts a new generation, so that calls
    /// admitted before a reset decide nothing after it.
    pub(crate) fn force(&self, state: State, reason: Reason) {
        let mut w = self.load();
        loop {
            if w.state() == state && state != State::Closed {
                return;
            }
            match self.transition(w, Word::new(state, w.next_gen(), 0), reason) {
                Ok(changed) => return self.trace(changed),
                Err(actual) => w = actual,
            }
        }
    }

    /// Applies new settings in place. A change of strategy or window starts a fresh window;
    /// the state and every count are kept.
    pub(crate) fn reconfigure(&self, old: Settings, new: Settings) {
        self.limits.store(new);
        let window_changed = old.strategy != new.strategy
            || old.window_size != new.window_size
            || old.window_ms != new.window_ms;
        if window_changed {
            self.fresh_windows();
            // The consecutive count is only meaningful to the strategy that kept it.
            if old.strategy != new.strategy {
                let w = self.load();
                if w.is_closed() && w.payload() != 0 {
                    let _ = self.cas(w, w.with_payload(0));
                }
            }
        }
    }

    // ---- observation -------------------------------------------------------------------

    /// The current window's tally, for window strategies in the closed state.
    pub(crate) fn window_tally(&self, now_ms: u64) -> Tally {
        match self.limits.strategy() {
            Strategy::Consecutive => Tally::default(),
            Strategy::CountWindow => self
                .count_window
                .get()
                .map(CountWindow::tally)
                .unwrap_or_default(),
            Strategy::TimeWindow => self
                .time_window
                .get()
                .map(|w| w.tally(now_ms))
                .unwrap_or_default(),
        }
    }

    /// `(in flight, successes, failures)` of the current half-open period.
    pub(crate) fn half_open_counts(&self, w: Word) -> (u32, u32, u32) {
        let ho = lock(&self.half_open);
        if w.state() == State::HalfOpen && ho.gen == w.gen() {
            (ho.in_flight, ho.successes, ho.failures)
        } else {
            (0, 0, 0)
        }
    }

    pub(crate) fn opened_at(&self) -> u64 {
        self.opened_at.load(Relaxed)
    }

    /// The open period in force (open), or the one the next opening would use.
    pub(crate) fn open_period_ms(&self, w: Word) -> u64 {
        match w.state() {
            State::Open => self.open_period.load(Relaxed),
            State::HalfOpen => self
                .limits
                .open_period_ms(self.reopens.load(Relaxed).saturating_add(1)),
            _ => self.limits.open_period_ms(0),
        }
    }

    pub(crate) fn reopens(&self) -> u32 {
        self.reopens.load(Relaxed)
    }

    // ---- events ------------------------------------------------------------------------

    #[inline]
    fn wants_call_events(&self) -> bool {
        crate::events::any_call_listeners()
            && (self.hub.wants_calls()
                || self.registry_hub.as_ref().is_some_and(|h| h.wants_calls()))
    }

    #[cold]
    fn publish_call(&self, kind: EventKind) {
        let event = Event {
            breaker: Arc::clone(&self.name),
            at_unix_ms: self.clock.unix_ms(self.clock.now_ms()),
            kind,
        };
        self.hub.publish_call(&event);
        if let Some(hub) = &self.registry_hub {
            hub.publish_call(&event);
        }
    }

    fn publish_state(&self, c: Changed, now_ms: u64) {
        let event = Event {
            breaker: Arc::clone(&self.name),
            at_unix_ms: self.clock.unix_ms(now_ms),
            kind: EventKind::StateChanged {
                from: c.from,
                to: c.to,
                reason: c.reason,
            },
        };
        self.hub.publish_state(&event);
        if let Some(hub) = &self.registry_hub {
            hub.publish_state(&event);
        }
    }

    fn trace_all(&self, changed: Option<Changed>) {
        if let Some(c) = changed {
            self.trace(c);
        }
    }

    /// Logs a state change as a `tracing` event (target `plexspaces_circuit_breaker`). A
    /// reset of a closed circuit changes only the generation, and is not logged.
    fn trace(&self, c: Changed) {
        if c.from == c.to {
            return;
        }
        let (from, to, reason) = (c.from.as_str(), c.to.as_str(), c.reason.as_str());
        if matches!(c.to, State::Open | State::ForcedOpen) {
            tracing::warn!(
                target: "plexspaces_circuit_breaker",
                breaker = %self.name, from, to, reason,
                "circuit breaker state changed"
            );
        } else {
            tracing::info!(
                target: "plexspaces_circuit_breaker",
                breaker = %self.name, from, to, reason,
                "circuit breaker state changed"
            );
        }
    }
}

/// A state change made, to be logged once no lock is held.
#[must_use]
#[derive(Debug, Clone, Copy)]
struct Changed {
    from: State,
    to: State,
    reason: Reason,
}

#[cfg(test)]
mod tests {
    //! The timer thread's part, white-box. These run outside any tokio runtime, so on the
    //! real clock, which is what the timer serves; nothing here waits for time to pass.

    use super::*;
    use crate::config::validate;
    use plexspaces_proto::circuitbreaker::prv::FailureStrategy;

    fn paused_runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a runtime")
    }

    fn inner(config: CircuitBreakerConfig) -> Arc<Inner> {
        let (settings, resolved) = validate(&config).expect("a valid config");
        Inner::new(settings, resolved, None)
    }

    fn tripped() -> Arc<Inner> {
        let b = inner(CircuitBreakerConfig {
            name: "timer-open".into(),
            failure_threshold: 1,
            timeout_secs: 60,
            ..Default::default()
        });
        b.record(b.acquire(), Outcome::Failure);
        assert_eq!(b.load().state(), State::Open);
        b
    }

    /// Makes the current open period end at `deadline_ms`, quiet or not.
    fn set_deadline(b: &Inner, deadline_ms: u64, quiet: bool) {
        let packed = pack_deadline(b.load().gen(), deadline_ms);
        b.open_until
            .store(if quiet { packed | QUIET } else { packed }, Release);
    }

    fn is_quiet(b: &Inner) -> bool {
        b.open_until.load(Acquire) & QUIET != 0
    }

    #[test]
    fn an_open_period_is_quiet_until_the_timer_ends_it() {
        let b = tripped();
        assert!(is_quiet(&b), "a 60 s period on a running clock is quiet");
        assert!(b.acquire().is_rejected());
        // Far from the deadline, the timer leaves it quiet.
        b.on_timer();
        assert!(is_quiet(&b));

        // A quiet period is not checked against the clock, even past its deadline ...
        set_deadline(&b, 0, true);
        assert!(b.acquire().is_rejected());
        // ... until the timer ends the quiet stretch: then the next call reads the clock and
        // is the trial.
        b.on_timer();
        assert!(!is_quiet(&b));
        let trial = b.acquire();
        assert!(trial.is_trial());
        assert_eq!(b.load().state(), State::HalfOpen);
        b.record(trial, Outcome::Success);
        assert_eq!(b.load().state(), State::Closed);
    }

    #[test]
    fn rejections_end_a_quiet_stretch_the_timer_missed() {
        // As if the timer thread could not run (starved, or absent in a forked child): the
        // period is over, the stretch still quiet.
        let b = tripped();
        set_deadline(&b, 0, true);
        let rejected_before = b.stats.counts().rejected;
        let mut rejections = 0;
        let trial = loop {
            let a = b.acquire();
            if !a.is_rejected() {
                break a;
            }
            rejections += 1;
            assert!(
                rejections < CLOCK_CHECK_EVERY,
                "the clock was never checked"
            );
        };
        assert!(trial.is_trial());
        assert!(!is_quiet(&b));
        assert_eq!(
            b.stats.counts().rejected - rejected_before,
            rejections,
            "the call let through is not counted as rejected"
        );
        // Far from the deadline, the checks change nothing.
        b.record(trial, Outcome::Failure);
        assert!(is_quiet(&b), "reopened for a full period, quiet again");
        for _ in 0..3 * CLOCK_CHECK_EVERY {
            assert!(b.acquire().is_rejected());
        }
        assert!(is_quiet(&b));
    }

    #[test]
    fn the_quiet_stretch_ends_a_margin_before_the_deadline() {
        let b = tripped();
        let deadline = b.clock.now_ms() + 10_000;
        set_deadline(&b, deadline, true);
        b.on_timer_at(deadline - timer::MARGIN_MS - 1);
        assert!(is_quiet(&b));
        b.on_timer_at(deadline - timer::MARGIN_MS);
        assert!(!is_quiet(&b));
        // Out of the quiet stretch, the clock decides: the deadline is 10 s away.
        assert!(b.acquire().is_rejected());
        assert_eq!(b.load().state(), State::Open);
    }

    #[test]
    fn the_timer_thread_ends_a_quiet_stretch() {
        let b = tripped();
        set_deadline(&b, 0, true);
        b.wake_at(0);
        // Wait for the thread (not for time to pass: its wake-up is already due).
        let start = std::time::Instant::now();
        while is_quiet(&b) {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the timer thread never ran"
            );
            std::thread::yield_now();
        }
        assert!(b.acquire().is_trial());
    }

    #[test]
    fn a_breaker_the_timer_failed_reads_the_clock_from_then_on() {
        let b = tripped();
        assert!(is_quiet(&b));
        b.stop_quiet();
        assert!(!is_quiet(&b));
        b.on_timer();
        assert!(!is_quiet(&b));
        set_deadline(&b, 0, false);
        let trial = b.acquire();
        assert!(
            trial.is_trial(),
            "the clock, not the timer, ends the period"
        );
        b.record(trial, Outcome::Failure);
        assert_eq!(b.load().state(), State::Open);
        assert!(!is_quiet(&b), "a new period is not quiet either");
    }

    #[test]
    fn a_paused_clock_is_never_quiet() {
        let rt = paused_runtime();
        let _guard = rt.enter();
        let b = tripped();
        assert!(!is_quiet(&b), "only the test knows when paused time moves");
        rt.block_on(tokio::time::advance(Duration::from_secs(60)));
        assert!(b.acquire().is_trial());
    }

    fn time_window() -> Arc<Inner> {
        inner(CircuitBreakerConfig {
            name: "timer-window".into(),
            failure_strategy: FailureStrategy::FailureStrategyTimeWindow as i32,
            // Buckets of 6 minutes: the real timer thread's next wake-up is minutes away, so
            // the times given below by hand are the only ones that matter.
            window_secs: 3_600,
            minimum_calls: 100,
            ..Default::default()
        })
    }

    #[test]
    fn the_timer_keeps_the_time_windows_bucket_and_stops_when_idle() {
        const BUCKET: u64 = 360_000;
        let b = time_window();
        b.record(b.acquire(), Outcome::Success);
        assert!(
            b.window_ticking.load(Acquire),
            "the first call starts the timer"
        );
        let window = b.time_window.get().expect("made by the call");
        // The timer thread's first wake-up is due at once; wait for it to give bucket 0.
        let start = std::time::Instant::now();
        while window.hinted_bucket() != Some(0) {
            assert!(start.elapsed() < Duration::from_secs(60), "no hint");
            std::thread::yield_now();
        }
        // What the timer does in the middle of bucket 2: a hint for it.
        b.on_timer_at(2 * BUCKET + 500);
        b.record(b.acquire(), Outcome::Failure);
        assert_eq!(window.tally(3 * BUCKET - 1).calls, 2);
        assert_eq!(
            window.tally(10 * BUCKET).calls,
            1,
            "recorded in bucket 2, told by the hint and not the clock"
        );
        // Calls keep it going; a whole window without calls stops it.
        b.on_timer_at(11 * BUCKET);
        assert!(
            b.window_ticking.load(Acquire),
            "bucket 2 is still in the window"
        );
        b.on_timer_at(12 * BUCKET);
        assert!(!b.window_ticking.load(Acquire), "idle for a whole window");
        assert_eq!(window.hinted_bucket(), None);
        // The next call starts it again.
        b.record(b.acquire(), Outcome::Success);
        assert!(b.window_ticking.load(Acquire));
    }

    #[test]
    fn a_time_window_on_a_paused_clock_reads_the_clock() {
        let rt = paused_runtime();
        let _guard = rt.enter();
        let b = time_window();
        b.record(b.acquire(), Outcome::Success);
        assert!(!b.window_ticking.load(Acquire));
    }
}
