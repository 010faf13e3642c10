//! Validation of a [`CircuitBreakerConfig`]: defaults filled in, ranges checked.

use std::borrow::Cow;
use std::error::Error;
use std::fmt;

use plexspaces_proto::circuitbreaker::prv::{CircuitBreakerConfig, FailureStrategy};

/// Defaults and limits of [`CircuitBreakerConfig`]'s fields, as documented in the schema.
pub mod limits {
    /// Default `failure_threshold`.
    pub const DEFAULT_FAILURE_THRESHOLD: u32 = 5;
    /// Largest `failure_threshold`.
    pub const MAX_FAILURE_THRESHOLD: u32 = 1_000_000;
    /// Default `success_threshold`.
    pub const DEFAULT_SUCCESS_THRESHOLD: u32 = 1;
    /// Largest `success_threshold`.
    pub const MAX_SUCCESS_THRESHOLD: u32 = 10_000;
    /// Default `half_open_max_calls` of the window strategies (the consecutive strategy's
    /// default is its `success_threshold`).
    pub const DEFAULT_WINDOW_HALF_OPEN_MAX_CALLS: u32 = 10;
    /// Largest `half_open_max_calls`.
    pub const MAX_HALF_OPEN_MAX_CALLS: u32 = 10_000;
    /// Default `timeout_secs` (the open period).
    pub const DEFAULT_TIMEOUT_SECS: u32 = 60;
    /// Largest `timeout_secs` and `max_timeout_secs`: 30 days.
    pub const MAX_TIMEOUT_SECS: u32 = 30 * 24 * 3600;
    /// Largest `call_timeout_ms`, `slow_call_duration_ms` and `half_open_max_wait_ms`: 24 hours.
    pub const MAX_CALL_TIMEOUT_MS: u64 = 24 * 3600 * 1000;
    /// Longest `name`, in bytes.
    pub const MAX_NAME_BYTES: usize = 256;
    /// Default `window_size`.
    pub const DEFAULT_WINDOW_SIZE: u32 = 100;
    /// Largest `window_size`.
    pub const MAX_WINDOW_SIZE: u32 = 1_000;
    /// Default `window_secs`.
    pub const DEFAULT_WINDOW_SECS: u32 = 60;
    /// Largest `window_secs`.
    pub const MAX_WINDOW_SECS: u32 = 3_600;
    /// Buckets of a time window.
    pub const TIME_WINDOW_BUCKETS: u32 = 10;
    /// Default `minimum_calls` (at most `window_size` for a count window).
    pub const DEFAULT_MINIMUM_CALLS: u32 = 100;
    /// Largest `minimum_calls` of a time window.
    pub const MAX_MINIMUM_CALLS: u32 = 1_000_000;
    /// Default `failure_rate_threshold`, in percent.
    pub const DEFAULT_FAILURE_RATE_THRESHOLD: u32 = 50;
    /// Default `slow_call_rate_threshold`, in percent.
    pub const DEFAULT_SLOW_CALL_RATE_THRESHOLD: u32 = 100;
    /// Largest `backoff_multiplier`.
    pub const MAX_BACKOFF_MULTIPLIER: f64 = 10.0;
    /// Default `max_timeout_secs`, as a multiple of `timeout_secs`.
    pub const DEFAULT_MAX_TIMEOUT_FACTOR: u32 = 10;
    /// Largest `jitter_percent`.
    pub const MAX_JITTER_PERCENT: u32 = 50;
}

use limits::*;

/// A [`CircuitBreakerConfig`] that cannot be used: names the field, the value given and what
/// is allowed.
///
/// ```
/// use plexspaces_circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};
///
/// let err = CircuitBreaker::try_new(CircuitBreakerConfig {
///     name: "payments".into(),
///     success_threshold: 20_000,
///     ..Default::default()
/// })
/// .unwrap_err();
/// assert_eq!(err.field(), "success_threshold");
/// assert_eq!(err.value(), "20000");
/// assert_eq!(
///     err.to_string(),
///     "invalid circuit breaker config `payments`: success_threshold = 20000 is invalid \
///      (expected 1 to 10000, or 0 for the default 1)"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    breaker: String,
    field: &'static str,
    value: String,
    allowed: Cow<'static, str>,
}

impl ConfigError {
    fn new(
        breaker: &str,
        field: &'static str,
        value: impl fmt::Display,
        allowed: impl Into<Cow<'static, str>>,
    ) -> Self {
        ConfigError {
            breaker: breaker.to_owned(),
            field,
            value: value.to_string(),
            allowed: allowed.into(),
        }
    }

    pub(crate) fn other_name(given: &str, own: &str) -> Self {
        ConfigError::new(
            own,
            "name",
            format_args!("{given:?}"),
            format!("the breaker's own name {own:?} (a breaker cannot be renamed)"),
        )
    }

    /// The config's `name` (possibly empty, when the name itself is the problem).
    pub fn breaker(&self) -> &str {
        &self.breaker
    }

    /// The offending field, as spelled in the schema (`failure_threshold`, ...).
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// The offending value, as given.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// What the field allows.
    pub fn allowed(&self) -> &str {
        &self.allowed
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.breaker.is_empty() {
            f.write_str("invalid circuit breaker config: ")?;
        } else {
            write!(f, "invalid circuit breaker config `{}`: ", self.breaker)?;
        }
        write!(
            f,
            "{} = {} is invalid (expected {})",
            self.field, self.value, self.allowed
        )
    }
}

impl Error for ConfigError {}

/// How the closed state decides to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strategy {
    Consecutive = 0,
    CountWindow = 1,
    TimeWindow = 2,
}

impl Strategy {
    #[inline]
    pub(crate) fn from_u8(v: u8) -> Strategy {
        match v {
            1 => Strategy::CountWindow,
            2 => Strategy::TimeWindow,
            _ => Strategy::Consecutive,
        }
    }

    #[inline]
    pub(crate) fn is_window(self) -> bool {
        self != Strategy::Consecutive
    }
}

/// The numbers a breaker runs on, every default resolved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Settings {
    pub(crate) strategy: Strategy,
    pub(crate) failure_threshold: u32,
    pub(crate) success_threshold: u32,
    pub(crate) half_open_max_calls: u32,
    pub(crate) open_ms: u64,
    pub(crate) call_timeout_ms: u64,
    /// Count window: calls; time window: 0.
    pub(crate) window_size: u32,
    /// Time window: the window's length; count window: 0.
    pub(crate) window_ms: u64,
    pub(crate) minimum_calls: u32,
    pub(crate) failure_rate_percent: u32,
    /// 0: slow calls are not tracked.
    pub(crate) slow_call_ms: u64,
    pub(crate) slow_call_rate_percent: u32,
    pub(crate) backoff_multiplier: f64,
    pub(crate) max_open_ms: u64,
    pub(crate) jitter_percent: u32,
    /// 0: no limit.
    pub(crate) half_open_max_wait_ms: u64,
}

/// Checks `config` and resolves its defaults: the settings to run on, and the config with
/// every default of its strategy written in (what a snapshot reports, and what
/// [`validate`] accepts again unchanged).
pub(crate) fn validate(
    config: &CircuitBreakerConfig,
) -> Result<(Settings, CircuitBreakerConfig), ConfigError> {
    let name = config.name.as_str();
    fn err<T>(
        name: &str,
        field: &'static str,
        value: &dyn fmt::Display,
        allowed: Cow<'static, str>,
    ) -> Result<T, ConfigError> {
        Err(ConfigError::new(name, field, value, allowed))
    }
    if name.is_empty() || name.len() > MAX_NAME_BYTES || name.chars().any(char::is_control) {
        return err(
            name,
            "name",
            &format_args!("{name:?}"),
            "1 to 256 bytes, no control characters".into(),
        );
    }
    const STRATEGIES: &str = "0 (FAILURE_STRATEGY_UNSPECIFIED), 1 (FAILURE_STRATEGY_CONSECUTIVE), \
                              2 (FAILURE_STRATEGY_COUNT_WINDOW) or 3 (FAILURE_STRATEGY_TIME_WINDOW)";
    let strategy = match FailureStrategy::try_from(config.failure_strategy) {
        Ok(
            FailureStrategy::FailureStrategyUnspecified
            | FailureStrategy::FailureStrategyConsecutive,
        ) => Strategy::Consecutive,
        Ok(FailureStrategy::FailureStrategyCountWindow) => Strategy::CountWindow,
        Ok(FailureStrategy::FailureStrategyTimeWindow) => Strategy::TimeWindow,
        Err(_) => {
            return err(
                name,
                "failure_strategy",
                &config.failure_strategy,
                STRATEGIES.into(),
            )
        }
    };
    let strategy_name = match strategy {
        Strategy::Consecutive => "the consecutive strategy",
        Strategy::CountWindow => "the count-window strategy",
        Strategy::TimeWindow => "the time-window strategy",
    };
    // A field that the strategy does not use must be unset: a value there is a mistake
    // (most likely a forgotten `failure_strategy`), not something to ignore.
    let unused = |field: &'static str, value: &dyn fmt::Display, is_set: bool| {
        if is_set {
            err(
                name,
                field,
                value,
                format!("0: {strategy_name} does not use it").into(),
            )
        } else {
            Ok(())
        }
    };
    let mut resolved = CircuitBreakerConfig {
        name: name.to_owned(),
        failure_strategy: match strategy {
            Strategy::Consecutive => FailureStrategy::FailureStrategyConsecutive,
            Strategy::CountWindow => FailureStrategy::FailureStrategyCountWindow,
            Strategy::TimeWindow => FailureStrategy::FailureStrategyTimeWindow,
        } as i32,
        ..Default::default()
    };

    // Consecutive-only fields.
    let (failure_threshold, success_threshold) = if strategy.is_window() {
        unused(
            "failure_threshold",
            &config.failure_threshold,
            config.failure_threshold != 0,
        )?;
        unused(
            "success_threshold",
            &config.success_threshold,
            config.success_threshold != 0,
        )?;
        (0, 0)
    } else {
        let f = count(
            name,
            "failure_threshold",
            config.failure_threshold,
            DEFAULT_FAILURE_THRESHOLD,
            MAX_FAILURE_THRESHOLD,
        )?;
        let s = count(
            name,
            "success_threshold",
            config.success_threshold,
            DEFAULT_SUCCESS_THRESHOLD,
            MAX_SUCCESS_THRESHOLD,
        )?;
        resolved.failure_threshold = f;
        resolved.success_threshold = s;
        (f, s)
    };
    let half_open_default = if strategy.is_window() {
        DEFAULT_WINDOW_HALF_OPEN_MAX_CALLS
    } else {
        success_threshold
    };
    let half_open_max_calls = match config.half_open_max_calls {
        0 => half_open_default,
        v if v <= MAX_HALF_OPEN_MAX_CALLS => v,
        v => {
            return err(
                name,
                "half_open_max_calls",
                &v,
                format!("1 to 10000, or 0 for the default {half_open_default}").into(),
            )
        }
    };
    resolved.half_open_max_calls = half_open_max_calls;
    let timeout_secs = count(
        name,
        "timeout_secs",
        config.timeout_secs,
        DEFAULT_TIMEOUT_SECS,
        MAX_TIMEOUT_SECS,
    )?;
    resolved.timeout_secs = timeout_secs;
    resolved.call_timeout_ms = at_most(
        name,
        "call_timeout_ms",
        config.call_timeout_ms,
        "0 (no deadline) to 86400000 (24 hours)",
    )?;

    // Window fields.
    let window_size = if strategy == Strategy::CountWindow {
        count(
            name,
            "window_size",
            config.window_size,
            DEFAULT_WINDOW_SIZE,
            MAX_WINDOW_SIZE,
        )?
    } else {
        unused("window_size", &config.window_size, config.window_size != 0)?;
        0
    };
    resolved.window_size = window_size;
    let window_secs = if strategy == Strategy::TimeWindow {
        count(
            name,
            "window_secs",
            config.window_secs,
            DEFAULT_WINDOW_SECS,
            MAX_WINDOW_SECS,
        )?
    } else {
        unused("window_secs", &config.window_secs, config.window_secs != 0)?;
        0
    };
    resolved.window_secs = window_secs;
    let (minimum_calls, failure_rate, slow_call_ms, slow_rate) = if strategy.is_window() {
        let (default_min, max_min) = if strategy == Strategy::CountWindow {
            (DEFAULT_MINIMUM_CALLS.min(window_size), window_size)
        } else {
            (DEFAULT_MINIMUM_CALLS, MAX_MINIMUM_CALLS)
        };
        let minimum = match config.minimum_calls {
            0 => default_min,
            v if v <= max_min => v,
            v => {
                let allowed = if strategy == Strategy::CountWindow {
                    format!(
                        "1 to the window_size {window_size}, or 0 for the default {default_min}"
                    )
                } else {
                    format!("1 to {MAX_MINIMUM_CALLS}, or 0 for the default {default_min}")
                };
                return err(name, "minimum_calls", &v, allowed.into());
            }
        };
        let rate = count(
            name,
            "failure_rate_threshold",
            config.failure_rate_threshold,
            DEFAULT_FAILURE_RATE_THRESHOLD,
            100,
        )?;
        let slow_ms = at_most(
            name,
            "slow_call_duration_ms",
            config.slow_call_duration_ms,
            "0 (not tracked) to 86400000 (24 hours)",
        )?;
        let slow_rate = count(
            name,
            "slow_call_rate_threshold",
            config.slow_call_rate_threshold,
            DEFAULT_SLOW_CALL_RATE_THRESHOLD,
            100,
        )?;
        (minimum, rate, slow_ms, slow_rate)
    } else {
        unused(
            "minimum_calls",
            &config.minimum_calls,
            config.minimum_calls != 0,
        )?;
        unused(
            "failure_rate_threshold",
            &config.failure_rate_threshold,
            config.failure_rate_threshold != 0,
        )?;
        unused(
            "slow_call_duration_ms",
            &config.slow_call_duration_ms,
            config.slow_call_duration_ms != 0,
        )?;
        unused(
            "slow_call_rate_threshold",
            &config.slow_call_rate_threshold,
            config.slow_call_rate_threshold != 0,
        )?;
        (0, 0, 0, 0)
    };
    if strategy.is_window() {
        resolved.minimum_calls = minimum_calls;
        resolved.failure_rate_threshold = failure_rate;
        resolved.slow_call_duration_ms = slow_call_ms;
        resolved.slow_call_rate_threshold = slow_rate;
    }

    // The open period's growth.
    let multiplier = config.backoff_multiplier;
    let backoff_multiplier = if multiplier == 0.0 {
        1.0
    } else if (1.0..=MAX_BACKOFF_MULTIPLIER).contains(&multiplier) {
        multiplier
    } else {
        return err(
            name,
            "backoff_multiplier",
            &multiplier,
            "1.0 to 10.0, or 0 for the default 1.0 (no backoff)".into(),
        );
    };
    resolved.backoff_multiplier = backoff_multiplier;
    let default_max = timeout_secs
        .saturating_mul(DEFAULT_MAX_TIMEOUT_FACTOR)
        .min(MAX_TIMEOUT_SECS);
    let max_timeout_secs = match config.max_timeout_secs {
        0 => default_max,
        v if (timeout_secs..=MAX_TIMEOUT_SECS).contains(&v) => v,
        v => {
            return err(
                name,
                "max_timeout_secs",
                &v,
                format!("the timeout_secs {timeout_secs} to {MAX_TIMEOUT_SECS}, or 0 for the default {default_max}").into(),
            )
        }
    };
    resolved.max_timeout_secs = max_timeout_secs;
    if config.jitter_percent > MAX_JITTER_PERCENT {
        return err(
            name,
            "jitter_percent",
            &config.jitter_percent,
            "0 to 50".into(),
        );
    }
    resolved.jitter_percent = config.jitter_percent;
    resolved.half_open_max_wait_ms = at_most(
        name,
        "half_open_max_wait_ms",
        config.half_open_max_wait_ms,
        "0 (no limit) to 86400000 (24 hours)",
    )?;

    let settings = Settings {
        strategy,
        failure_threshold,
        success_threshold,
        half_open_max_calls,
        open_ms: u64::from(timeout_secs) * 1000,
        call_timeout_ms: resolved.call_timeout_ms,
        window_size,
        window_ms: u64::from(window_secs) * 1000,
        minimum_calls,
        failure_rate_percent: failure_rate,
        slow_call_ms,
        slow_call_rate_percent: slow_rate,
        backoff_multiplier,
        max_open_ms: u64::from(max_timeout_secs) * 1000,
        jitter_percent: resolved.jitter_percent,
        half_open_max_wait_ms: resolved.half_open_max_wait_ms,
    };
    Ok((settings, resolved))
}

/// A count field where 0 means `default` and the rest must lie in `1..=max`.
fn count(
    name: &str,
    field: &'static str,
    value: u32,
    default: u32,
    max: u32,
) -> Result<u32, ConfigError> {
    match value {
        0 => Ok(default),
        v if v <= max => Ok(v),
        v => Err(ConfigError::new(
            name,
            field,
            v,
            format!("1 to {max}, or 0 for the default {default}"),
        )),
    }
}

/// A milliseconds field where 0 means "off" and the rest must be at most 24 hours.
fn at_most(
    name: &str,
    field: &'static str,
    value: u64,
    allowed: &'static str,
) -> Result<u64, ConfigError> {
    if value <= MAX_CALL_TIMEOUT_MS {
        Ok(value)
    } else {
        Err(ConfigError::new(name, field, value, allowed))
    }
}
