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
    /// Largest `half_open_max_calls` (its default is the `success_threshold`).
    pub const MAX_HALF_OPEN_MAX_CALLS: u32 = 10_000;
    /// Default `timeout_secs` (the open period).
    pub const DEFAULT_TIMEOUT_SECS: u32 = 60;
    /// Largest `timeout_secs`: 30 days.
    pub const MAX_TIMEOUT_SECS: u32 = 30 * 24 * 3600;
    /// Largest `call_timeout_ms`: 24 hours.
    pub const MAX_CALL_TIMEOUT_MS: u64 = 24 * 3600 * 1000;
    /// Longest `name`, in bytes.
    pub const MAX_NAME_BYTES: usize = 256;
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

/// The numbers a breaker runs on, every default resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) failure_threshold: u32,
    pub(crate) success_threshold: u32,
    pub(crate) half_open_max_calls: u32,
    pub(crate) open_ms: u64,
    pub(crate) call_timeout_ms: u64,
}

/// Checks `config` and resolves its defaults: the settings to run on, and the config with
/// every default written in (what a snapshot reports).
pub(crate) fn validate(
    config: &CircuitBreakerConfig,
) -> Result<(Settings, CircuitBreakerConfig), ConfigError> {
    let name = config.name.as_str();
    if name.is_empty() || name.len() > MAX_NAME_BYTES || name.chars().any(char::is_control) {
        return Err(ConfigError::new(
            name,
            "name",
            format_args!("{name:?}"),
            "1 to 256 bytes, no control characters",
        ));
    }
    match FailureStrategy::try_from(config.failure_strategy) {
        Ok(
            FailureStrategy::FailureStrategyUnspecified
            | FailureStrategy::FailureStrategyConsecutive,
        ) => {}
        Ok(other) => {
            return Err(ConfigError::new(
                name,
                "failure_strategy",
                format_args!("{} ({})", config.failure_strategy, other.as_str_name()),
                "0 (FAILURE_STRATEGY_UNSPECIFIED) or 1 (FAILURE_STRATEGY_CONSECUTIVE); \
                 the window strategies are not supported yet",
            ))
        }
        Err(_) => {
            return Err(ConfigError::new(
                name,
                "failure_strategy",
                config.failure_strategy,
                "0 (FAILURE_STRATEGY_UNSPECIFIED) or 1 (FAILURE_STRATEGY_CONSECUTIVE)",
            ))
        }
    }
    let failure_threshold = count(
        name,
        "failure_threshold",
        config.failure_threshold,
        DEFAULT_FAILURE_THRESHOLD,
        MAX_FAILURE_THRESHOLD,
    )?;
    let success_threshold = count(
        name,
        "success_threshold",
        config.success_threshold,
        DEFAULT_SUCCESS_THRESHOLD,
        MAX_SUCCESS_THRESHOLD,
    )?;
    let half_open_max_calls = if config.half_open_max_calls == 0 {
        success_threshold
    } else if config.half_open_max_calls <= MAX_HALF_OPEN_MAX_CALLS {
        config.half_open_max_calls
    } else {
        return Err(ConfigError::new(
            name,
            "half_open_max_calls",
            config.half_open_max_calls,
            "1 to 10000, or 0 for the success_threshold",
        ));
    };
    let timeout_secs = count(
        name,
        "timeout_secs",
        config.timeout_secs,
        DEFAULT_TIMEOUT_SECS,
        MAX_TIMEOUT_SECS,
    )?;
    if config.call_timeout_ms > MAX_CALL_TIMEOUT_MS {
        return Err(ConfigError::new(
            name,
            "call_timeout_ms",
            config.call_timeout_ms,
            "0 (no deadline) to 86400000 (24 hours)",
        ));
    }
    let settings = Settings {
        failure_threshold,
        success_threshold,
        half_open_max_calls,
        open_ms: u64::from(timeout_secs) * 1000,
        call_timeout_ms: config.call_timeout_ms,
    };
    let resolved = CircuitBreakerConfig {
        name: name.to_owned(),
        failure_strategy: FailureStrategy::FailureStrategyConsecutive as i32,
        failure_threshold,
        success_threshold,
        timeout_secs,
        half_open_max_calls,
        call_timeout_ms: config.call_timeout_ms,
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
