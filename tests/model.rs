//! A property test: random sequences of successes, failures, slow calls, ignored and
//! cancelled calls and clock advances, driven against the breaker and against a plain
//! reference model of the documented rules; every admission decision and state must agree.

mod common;

use std::collections::VecDeque;
use std::time::Duration;

use plexspaces_circuit_breaker::{
    CircuitBreaker, CircuitBreakerConfig, CircuitBreakerError, State,
};
use proptest::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Strat {
    Consecutive,
    Count,
    Time,
}

#[derive(Debug, Clone)]
struct Params {
    strategy: Strat,
    failure_threshold: u32,
    success_threshold: u32,
    half_open_max_calls: u32,
    timeout_ms: u64,
    window_size: u32,
    window_ms: u64,
    minimum_calls: u32,
    failure_rate: u32,
    slow_ms: u64,
    slow_rate: u32,
    multiplier: f64,
    max_timeout_ms: u64,
}

impl Params {
    fn config(&self) -> CircuitBreakerConfig {
        let window = self.strategy != Strat::Consecutive;
        CircuitBreakerConfig {
            name: "model".into(),
            failure_strategy: match self.strategy {
                Strat::Consecutive => 1,
                Strat::Count => 2,
                Strat::Time => 3,
            },
            failure_threshold: if window { 0 } else { self.failure_threshold },
            success_threshold: if window { 0 } else { self.success_threshold },
            half_open_max_calls: self.half_open_max_calls,
            timeout_secs: (self.timeout_ms / 1000) as u32,
            window_size: if self.strategy == Strat::Count {
                self.window_size
            } else {
                0
            },
            window_secs: if self.strategy == Strat::Time {
                (self.window_ms / 1000) as u32
            } else {
                0
            },
            minimum_calls: if window { self.minimum_calls } else { 0 },
            failure_rate_threshold: if window { self.failure_rate } else { 0 },
            slow_call_duration_ms: if window { self.slow_ms } else { 0 },
            slow_call_rate_threshold: if window { self.slow_rate } else { 0 },
            backoff_multiplier: self.multiplier,
            max_timeout_secs: (self.max_timeout_ms / 1000) as u32,
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    /// A call taking this many ms that succeeds.
    Success(u64),
    /// A call taking this many ms that fails.
    Failure(u64),
    /// A call whose error the classifier ignores.
    Ignored,
    /// A call abandoned before it finishes.
    Cancelled,
    /// The clock moves on.
    Advance(u64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum MState {
    Closed,
    Open { until: u64 },
    HalfOpen,
}

/// The documented rules, written as plainly as possible.
struct Model {
    p: Params,
    now: u64,
    state: MState,
    consecutive: u32,
    ring: VecDeque<(bool, bool)>,
    /// Time window: `(completed at, failed, slow)`.
    timed: Vec<(u64, bool, bool)>,
    reopens: u32,
    trials_admitted: u32,
    trial_successes: u32,
    trial_failures: u32,
    trial_slow: u32,
    successes: u64,
    failures: u64,
    rejections: u64,
    ignored: u64,
    cancelled: u64,
}

impl Model {
    fn new(p: Params) -> Self {
        Model {
            p,
            now: 0,
            state: MState::Closed,
            consecutive: 0,
            ring: VecDeque::new(),
            timed: Vec::new(),
            reopens: 0,
            trials_admitted: 0,
            trial_successes: 0,
            trial_failures: 0,
            trial_slow: 0,
            successes: 0,
            failures: 0,
            rejections: 0,
            ignored: 0,
            cancelled: 0,
        }
    }

    fn state(&self) -> State {
        match self.state {
            MState::Closed => State::Closed,
            MState::Open { .. } => State::Open,
            MState::HalfOpen => State::HalfOpen,
        }
    }

    /// Admission: `Some(is_trial)`, or `None` when rejected.
    fn acquire(&mut self) -> Option<bool> {
        let admitted = self.admit();
        if admitted.is_none() {
            self.rejections += 1;
        }
        admitted
    }

    fn admit(&mut self) -> Option<bool> {
        match self.state {
            MState::Closed => Some(false),
            MState::Open { until } if self.now >= until => {
                self.state = MState::HalfOpen;
                self.trials_admitted = 1;
                self.trial_successes = 0;
                self.trial_failures = 0;
                self.trial_slow = 0;
                Some(true)
            }
            MState::Open { .. } => None,
            MState::HalfOpen => {
                // Sequential calls: nothing is in flight when a call arrives.
                let window = self.p.strategy != Strat::Consecutive;
                if window && self.trials_admitted >= self.p.half_open_max_calls {
                    None
                } else {
                    self.trials_admitted += 1;
                    Some(true)
                }
            }
        }
    }

    fn open(&mut self, from_half_open: bool) {
        self.reopens = if from_half_open { self.reopens + 1 } else { 0 };
        let grown = self.p.timeout_ms as f64 * self.p.multiplier.powi(self.reopens as i32);
        let period = if grown >= self.p.max_timeout_ms as f64 {
            self.p.max_timeout_ms
        } else {
            grown as u64
        };
        self.state = MState::Open {
            until: self.now + period,
        };
    }

    fn close(&mut self) {
        self.state = MState::Closed;
        self.reopens = 0;
        self.consecutive = 0;
        self.ring.clear();
        self.timed.clear();
    }

    fn window_tally(&self) -> (u32, u32, u32) {
        match self.p.strategy {
            Strat::Count => self.ring.iter().fold((0, 0, 0), |(c, f, s), (fl, sl)| {
                (c + 1, f + u32::from(*fl), s + u32::from(*sl))
            }),
            _ => {
                let width = self.p.window_ms / 10;
                let now_abs = self.now / width;
                self.timed
                    .iter()
                    .filter(|(t, _, _)| t / width + 9 >= now_abs && t / width <= now_abs)
                    .fold((0, 0, 0), |(c, f, s), (_, fl, sl)| {
                        (c + 1, f + u32::from(*fl), s + u32::from(*sl))
                    })
            }
        }
    }

    /// A call admitted as `trial` ended after `duration` ms.
    fn finish(&mut self, trial: bool, failed: bool, duration: u64) {
        if failed {
            self.failures += 1;
        } else {
            self.successes += 1;
        }
        let slow = self.p.slow_ms != 0 && duration >= self.p.slow_ms;
        let window = self.p.strategy != Strat::Consecutive;
        if !trial {
            if self.state != MState::Closed {
                return;
            }
            if !window {
                if failed {
                    self.consecutive += 1;
                    if self.consecutive >= self.p.failure_threshold {
                        self.consecutive = 0;
                        self.open(false);
                    }
                } else {
                    self.consecutive = 0;
                }
                return;
            }
            if self.p.strategy == Strat::Count {
                if self.ring.len() == self.p.window_size as usize {
                    self.ring.pop_front();
                }
                self.ring.push_back((failed, slow));
            } else {
                self.timed.push((self.now, failed, slow));
            }
            if failed || slow {
                let (calls, failures, slows) = self.window_tally();
                let opens = calls >= self.p.minimum_calls
                    && (failures * 100 >= self.p.failure_rate * calls
                        || slows * 100 >= self.p.slow_rate * calls);
                if opens {
                    self.open(false);
                }
            }
            return;
        }
        if self.state != MState::HalfOpen {
            return;
        }
        if !window {
            if failed {
                self.open(true);
            } else {
                self.trial_successes += 1;
                if self.trial_successes >= self.p.success_threshold {
                    self.close();
                }
            }
            return;
        }
        if failed {
            self.trial_failures += 1;
        } else {
            self.trial_successes += 1;
        }
        if slow {
            self.trial_slow += 1;
        }
        let max = self.p.half_open_max_calls;
        if self.trial_failures * 100 >= self.p.failure_rate * max
            || (self.p.slow_ms != 0 && self.trial_slow * 100 >= self.p.slow_rate * max)
        {
            self.open(true);
        } else if self.trial_successes + self.trial_failures >= max {
            self.close();
        }
    }

    /// A trial gave its place back (cancelled or ignored).
    fn give_back(&mut self, trial: bool) {
        if trial && self.state == MState::HalfOpen {
            self.trials_admitted -= 1;
        }
    }
}

fn params() -> impl proptest::strategy::Strategy<Value = Params> {
    (
        prop_oneof![
            Just(Strat::Consecutive),
            Just(Strat::Count),
            Just(Strat::Time)
        ],
        (1u32..=5, 1u32..=3, 1u32..=4, 1u64..=3),
        (1u32..=8, 1u64..=3, 1u32..=8, 1u32..=100),
        (
            prop_oneof![Just(0u64), Just(50u64)],
            1u32..=100,
            prop_oneof![Just(1.0f64), Just(2.0f64)],
        ),
    )
        .prop_map(
            |(strategy, (ft, st, hmax, timeout_s), (ws, wsecs, min, fr), (slow_ms, sr, mult))| {
                let window_size = ws;
                let minimum_calls = if strategy == Strat::Count {
                    min.min(window_size)
                } else {
                    min
                };
                Params {
                    strategy,
                    failure_threshold: ft,
                    success_threshold: st,
                    half_open_max_calls: hmax,
                    timeout_ms: timeout_s * 1000,
                    window_size,
                    window_ms: wsecs * 1000,
                    minimum_calls,
                    failure_rate: fr,
                    slow_ms,
                    slow_rate: sr,
                    multiplier: mult,
                    max_timeout_ms: timeout_s * 4000,
                }
            },
        )
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    let duration = prop_oneof![Just(0u64), Just(30), Just(60), Just(120)];
    prop_oneof![
        4 => duration.clone().prop_map(Op::Success),
        4 => duration.prop_map(Op::Failure),
        1 => Just(Op::Ignored),
        1 => Just(Op::Cancelled),
        2 => prop_oneof![Just(100u64), Just(450), Just(1_000), Just(2_600)].prop_map(Op::Advance),
    ]
}

fn run(p: Params, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let rt = common::paused_runtime();
    let _guard = rt.enter();
    let breaker =
        CircuitBreaker::try_new(p.config()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut model = Model::new(p);
    let advance = |ms: u64| rt.block_on(tokio::time::advance(Duration::from_millis(ms)));
    for (i, op) in ops.into_iter().enumerate() {
        match op {
            Op::Advance(ms) => {
                advance(ms);
                model.now += ms;
            }
            Op::Success(d) | Op::Failure(d) => {
                let failed = matches!(op, Op::Failure(_));
                let (expected, permit) = (model.acquire(), breaker.try_acquire());
                prop_assert_eq!(
                    permit.is_ok(),
                    expected.is_some(),
                    "op {} {:?}: admission",
                    i,
                    op
                );
                if let (Ok(permit), Some(trial)) = (permit, expected) {
                    prop_assert_eq!(permit.is_trial(), trial, "op {} {:?}: trial", i, op);
                    advance(d);
                    model.now += d;
                    if failed {
                        permit.failure();
                    } else {
                        permit.success();
                    }
                    model.finish(trial, failed, d);
                }
            }
            Op::Ignored | Op::Cancelled => {
                let (expected, permit) = (model.acquire(), breaker.try_acquire());
                prop_assert_eq!(
                    permit.is_ok(),
                    expected.is_some(),
                    "op {} {:?}: admission",
                    i,
                    op
                );
                if let Ok(permit) = permit {
                    if matches!(op, Op::Ignored) {
                        permit.ignore();
                    } else {
                        drop(permit);
                    }
                    if matches!(op, Op::Ignored) {
                        model.ignored += 1;
                    } else {
                        model.cancelled += 1;
                    }
                    model.give_back(expected.unwrap_or(false));
                }
            }
        }
        prop_assert_eq!(breaker.state(), model.state(), "op {} {:?}: state", i, op);
        if let MState::Open { until } = model.state {
            prop_assert_eq!(
                breaker.retry_after(),
                Some(Duration::from_millis(until.saturating_sub(model.now))),
                "op {} {:?}: retry_after",
                i,
                op
            );
        }
    }
    let s = breaker.snapshot();
    prop_assert_eq!(
        (
            s.successful_calls,
            s.failed_calls,
            s.rejected_calls,
            s.ignored_calls,
            s.cancelled_calls
        ),
        (
            model.successes,
            model.failures,
            model.rejections,
            model.ignored,
            model.cancelled
        ),
        "totals"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn breaker_agrees_with_the_reference_model(p in params(), ops in proptest::collection::vec(op(), 1..80)) {
        run(p, ops)?;
    }
}

#[test]
fn a_rejected_call_is_reported_as_circuit_open() {
    let b = CircuitBreaker::new(CircuitBreakerConfig {
        name: "model-open".into(),
        failure_threshold: 1,
        ..Default::default()
    });
    b.call(|| Err::<(), _>(())).unwrap_err();
    assert_eq!(
        b.try_acquire().unwrap_err(),
        CircuitBreakerError::CircuitOpen
    );
}
