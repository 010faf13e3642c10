//! `#[circuit_breaker]` arguments: config, fallback, is_failure, strategy, timeouts, default
//! name, and an operator's config beating the attribute.

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use plexspaces_circuit_breaker::{
    circuit_breaker, registry, CircuitBreakerConfig, CircuitBreakerError, State,
};

// ---- default name, and every config field the attribute sets -------------------------------

#[circuit_breaker]
async fn unnamed() -> anyhow::Result<()> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn the_default_name_is_module_path_and_function() {
    unnamed().await.unwrap();
    let name = concat!(module_path!(), "::unnamed");
    assert!(
        registry().get(name).is_some(),
        "expected a breaker named {name}"
    );
    assert_eq!(registry().get(name).unwrap().config().failure_threshold, 5);
}

#[circuit_breaker(
    name = "args-all-fields",
    failure_threshold = 7,
    success_threshold = 3,
    timeout_secs = 9,
    half_open_max_calls = 2,
    call_timeout_ms = 250,
    failure_strategy = "consecutive"
)]
async fn all_fields() -> Result<(), anyhow::Error> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn every_scalar_field_reaches_the_config() {
    all_fields().await.unwrap();
    let c = registry().get("args-all-fields").unwrap().config();
    assert_eq!(
        (
            c.failure_threshold,
            c.success_threshold,
            c.timeout_secs,
            c.half_open_max_calls,
            c.call_timeout_ms
        ),
        (7, 3, 9, 2, 250)
    );
}

// ---- call_timeout_ms ---------------------------------------------------------------------

#[circuit_breaker(name = "args-call-timeout", threshold = 1, call_timeout_ms = 100)]
async fn slow(delay_ms: u64) -> Result<u64, anyhow::Error> {
    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    Ok(delay_ms)
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_call_returns_the_timeout_error() {
    assert_eq!(slow(50).await.unwrap(), 50);
    let err = slow(500).await.unwrap_err();
    assert!(err
        .downcast_ref::<CircuitBreakerError>()
        .is_some_and(CircuitBreakerError::is_timeout));
    let err = slow(1).await.unwrap_err();
    assert!(err
        .downcast_ref::<CircuitBreakerError>()
        .is_some_and(CircuitBreakerError::is_circuit_open));
}

// ---- config = path -------------------------------------------------------------------------

fn payments_config() -> CircuitBreakerConfig {
    CircuitBreakerConfig {
        name: "args-config-fn".into(),
        failure_threshold: 4,
        timeout_secs: 30,
        ..Default::default()
    }
}

#[circuit_breaker(config = payments_config, threshold = 2)]
async fn configured(fail: bool) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    if fail {
        Err("down".into())
    } else {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn config_fn_is_the_base_and_attribute_keys_win() {
    configured(false).await.unwrap();
    let c = registry().get("args-config-fn").unwrap().config();
    assert_eq!(c.timeout_secs, 30, "from the config fn");
    assert_eq!(c.failure_threshold, 2, "the attribute's own key wins");
    configured(true).await.unwrap_err();
    configured(true).await.unwrap_err();
    assert_eq!(
        registry().get("args-config-fn").unwrap().state(),
        State::Open
    );
}

// ---- an operator's config beats the attribute ------------------------------------------------

#[circuit_breaker(name = "args-operator", threshold = 1)]
fn operated(fail: bool) -> Result<(), anyhow::Error> {
    if fail {
        anyhow::bail!("down")
    }
    Ok(())
}

#[test]
fn an_operator_config_set_at_start_up_beats_the_attribute() {
    registry()
        .configure(CircuitBreakerConfig {
            name: "args-operator".into(),
            failure_threshold: 3,
            ..Default::default()
        })
        .unwrap();
    for _ in 0..2 {
        operated(true).unwrap_err();
    }
    let breaker = registry().get("args-operator").unwrap();
    assert_eq!(
        breaker.state(),
        State::Closed,
        "threshold 3, not the attribute's 1"
    );
    operated(true).unwrap_err();
    assert_eq!(breaker.state(), State::Open);
}

// ---- fallback ---------------------------------------------------------------------------------

static PRIMARY_CALLS: AtomicU32 = AtomicU32::new(0);

async fn cached_price(item: &str, _currency: String) -> Result<u64, anyhow::Error> {
    Ok(if item == "book" { 900 } else { 0 })
}

#[circuit_breaker(name = "args-fallback", threshold = 1, call_timeout_ms = 100, fallback = cached_price)]
async fn live_price(item: &str, currency: String) -> Result<u64, anyhow::Error> {
    PRIMARY_CALLS.fetch_add(1, SeqCst);
    if currency == "slow" {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    if currency == "bad" {
        anyhow::bail!("pricing service down");
    }
    Ok(1000 + item.len() as u64)
}

#[tokio::test(start_paused = true)]
async fn fallback_runs_with_the_same_arguments_on_rejection_and_timeout() {
    assert_eq!(live_price("book", "eur".into()).await.unwrap(), 1004);
    // A timeout: the fallback answers, and the timeout counts as a failure (threshold 1).
    assert_eq!(live_price("book", "slow".into()).await.unwrap(), 900);
    let breaker = registry().get("args-fallback").unwrap();
    assert_eq!(breaker.state(), State::Open);
    let calls = PRIMARY_CALLS.load(SeqCst);
    assert_eq!(live_price("book", "eur".into()).await.unwrap(), 900);
    assert_eq!(
        PRIMARY_CALLS.load(SeqCst),
        calls,
        "rejected: the body did not run"
    );
    tokio::time::advance(Duration::from_secs(60)).await;
    // The body's own error is returned unchanged, not replaced by the fallback.
    let err = live_price("book", "bad".into()).await.unwrap_err();
    assert_eq!(err.to_string(), "pricing service down");
}

struct PriceBook {
    default_price: u64,
}

impl PriceBook {
    fn stale(&self, _sku: u32) -> u64 {
        self.default_price
    }

    /// A non-`Result` return type is fine with a fallback: only a panic or a timeout fails.
    #[circuit_breaker(name = "args-fallback-method", fallback = Self::stale)]
    fn fresh(&self, sku: u32) -> u64 {
        if sku == 0 {
            panic!("no such sku");
        }
        u64::from(sku) * 10
    }
}

#[test]
fn a_method_fallback_and_a_panic_counting_as_failure() {
    registry()
        .configure(CircuitBreakerConfig {
            name: "args-fallback-method".into(),
            failure_threshold: 1,
            ..Default::default()
        })
        .unwrap();
    let book = PriceBook { default_price: 7 };
    assert_eq!(book.fresh(3), 30);
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| book.fresh(0)));
    assert!(panicked.is_err(), "the panic reaches the caller");
    assert_eq!(
        registry().get("args-fallback-method").unwrap().state(),
        State::Open
    );
    assert_eq!(book.fresh(3), 7, "open: the fallback answers");
}

// ---- is_failure ----------------------------------------------------------------------------------

#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error("not found")]
    NotFound,
    #[error("unavailable")]
    Unavailable,
    #[error(transparent)]
    Breaker(#[from] CircuitBreakerError),
}

fn counts_against_service(e: &ApiError) -> bool {
    matches!(e, ApiError::Unavailable)
}

#[circuit_breaker(name = "args-is-failure", threshold = 2, is_failure = counts_against_service)]
async fn lookup(id: u32) -> Result<u32, ApiError> {
    match id {
        0 => Err(ApiError::NotFound),
        1 => Err(ApiError::Unavailable),
        n => Ok(n),
    }
}

#[tokio::test(start_paused = true)]
async fn classified_errors_do_not_count_against_the_service() {
    for _ in 0..10 {
        assert!(matches!(lookup(0).await, Err(ApiError::NotFound)));
    }
    let breaker = registry().get("args-is-failure").unwrap();
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.snapshot().ignored_calls, 10);
    assert!(matches!(lookup(1).await, Err(ApiError::Unavailable)));
    assert!(matches!(lookup(1).await, Err(ApiError::Unavailable)));
    assert!(matches!(
        lookup(2).await,
        Err(ApiError::Breaker(CircuitBreakerError::CircuitOpen))
    ));
}

// ---- error types that convert from CircuitBreakerError -------------------------------------------

#[circuit_breaker(name = "args-boxed-error", threshold = 1)]
fn boxed(fail: bool) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    if fail {
        return Err("down".into());
    }
    Ok(())
}

#[test]
fn boxed_errors_carry_the_breaker_error() {
    boxed(true).unwrap_err();
    let e = boxed(false).unwrap_err();
    assert_eq!(
        e.downcast_ref::<CircuitBreakerError>(),
        Some(&CircuitBreakerError::CircuitOpen)
    );
}

// ---- the window strategies through the attribute -------------------------------------------

#[circuit_breaker(
    name = "args-count-window",
    failure_strategy = "count_window",
    window_size = 10,
    minimum_calls = 4,
    failure_rate_threshold = 50,
    slow_call_duration_ms = 500,
    slow_call_rate_threshold = 80,
    half_open_max_calls = 2,
    timeout_secs = 10,
    backoff_multiplier = 2,
    max_timeout_secs = 60,
    jitter_percent = 10,
    half_open_max_wait_ms = 5000
)]
async fn windowed(fail: bool) -> anyhow::Result<()> {
    if fail {
        anyhow::bail!("down");
    }
    Ok(())
}

#[circuit_breaker(
    name = "args-time-window",
    failure_strategy = "time_window",
    window_secs = 30,
    minimum_calls = 2
)]
fn timed(fail: bool) -> anyhow::Result<()> {
    if fail {
        anyhow::bail!("down");
    }
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn window_strategies_and_their_fields_through_the_attribute() {
    windowed(false).await.unwrap();
    windowed(false).await.unwrap();
    windowed(true).await.unwrap_err();
    let breaker = registry().get("args-count-window").unwrap();
    assert_eq!(
        breaker.state(),
        State::Closed,
        "1 of 3 calls failed, below the minimum"
    );
    windowed(true).await.unwrap_err(); // 2 of 4: 50%
    assert_eq!(breaker.state(), State::Open);
    let c = breaker.config();
    assert_eq!(
        (
            c.window_size,
            c.minimum_calls,
            c.slow_call_duration_ms,
            c.slow_call_rate_threshold
        ),
        (10, 4, 500, 80)
    );
    assert_eq!(
        (c.backoff_multiplier, c.max_timeout_secs, c.jitter_percent),
        (2.0, 60, 10)
    );
    assert_eq!(c.half_open_max_wait_ms, 5000);

    timed(true).unwrap_err();
    timed(true).unwrap_err();
    let breaker = registry().get("args-time-window").unwrap();
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.config().window_secs, 30);
}
