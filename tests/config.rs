//! Config validation messages and the process-wide registry.

use plexspaces_circuit_breaker::{
    registry, CircuitBreaker, CircuitBreakerConfig, ConfigError, FailureStrategy, Registry, State,
};

fn config(name: &str) -> CircuitBreakerConfig {
    CircuitBreakerConfig {
        name: name.into(),
        ..Default::default()
    }
}

fn rejected(c: CircuitBreakerConfig) -> ConfigError {
    CircuitBreaker::try_new(c).expect_err("the config must be rejected")
}

#[test]
fn zero_means_the_documented_default() {
    let c = CircuitBreaker::new(config("v-defaults")).config();
    assert_eq!(c.failure_threshold, 5);
    assert_eq!(c.success_threshold, 1);
    assert_eq!(c.half_open_max_calls, 1);
    assert_eq!(c.timeout_secs, 60);
    assert_eq!(c.call_timeout_ms, 0);
    assert_eq!(
        c.failure_strategy,
        FailureStrategy::FailureStrategyConsecutive as i32
    );
}

#[test]
fn every_invalid_field_is_named_with_its_value_and_range() {
    let cases: Vec<(CircuitBreakerConfig, &str, &str, &str)> = vec![
        (
            config(""),
            "name",
            "\"\"",
            "invalid circuit breaker config: name = \"\" is invalid (expected 1 to 256 bytes, no control characters)",
        ),
        (
            config("tab\tname"),
            "name",
            "\"tab\\tname\"",
            "invalid circuit breaker config `tab\tname`: name = \"tab\\tname\" is invalid (expected 1 to 256 bytes, no control characters)",
        ),
        (
            config(&"x".repeat(257)),
            "name",
            "",
            "",
        ),
        (
            CircuitBreakerConfig { failure_strategy: 9, ..config("v") },
            "failure_strategy",
            "9",
            "invalid circuit breaker config `v`: failure_strategy = 9 is invalid (expected 0 (FAILURE_STRATEGY_UNSPECIFIED), 1 (FAILURE_STRATEGY_CONSECUTIVE), 2 (FAILURE_STRATEGY_COUNT_WINDOW) or 3 (FAILURE_STRATEGY_TIME_WINDOW))",
        ),
        (
            CircuitBreakerConfig { window_size: 10, ..config("v") },
            "window_size",
            "10",
            "invalid circuit breaker config `v`: window_size = 10 is invalid (expected 0: the consecutive strategy does not use it)",
        ),
        (
            CircuitBreakerConfig { failure_strategy: 2, failure_threshold: 3, ..config("v") },
            "failure_threshold",
            "3",
            "invalid circuit breaker config `v`: failure_threshold = 3 is invalid (expected 0: the count-window strategy does not use it)",
        ),
        (
            CircuitBreakerConfig { failure_strategy: 2, window_size: 1001, ..config("v") },
            "window_size",
            "1001",
            "invalid circuit breaker config `v`: window_size = 1001 is invalid (expected 1 to 1000, or 0 for the default 100)",
        ),
        (
            CircuitBreakerConfig { failure_strategy: 2, window_size: 20, minimum_calls: 21, ..config("v") },
            "minimum_calls",
            "21",
            "invalid circuit breaker config `v`: minimum_calls = 21 is invalid (expected 1 to the window_size 20, or 0 for the default 20)",
        ),
        (
            CircuitBreakerConfig { failure_strategy: 3, window_secs: 3601, ..config("v") },
            "window_secs",
            "3601",
            "invalid circuit breaker config `v`: window_secs = 3601 is invalid (expected 1 to 3600, or 0 for the default 60)",
        ),
        (
            CircuitBreakerConfig { failure_strategy: 3, failure_rate_threshold: 101, ..config("v") },
            "failure_rate_threshold",
            "101",
            "invalid circuit breaker config `v`: failure_rate_threshold = 101 is invalid (expected 1 to 100, or 0 for the default 50)",
        ),
        (
            CircuitBreakerConfig { failure_strategy: 3, slow_call_rate_threshold: 101, ..config("v") },
            "slow_call_rate_threshold",
            "101",
            "",
        ),
        (
            CircuitBreakerConfig { slow_call_duration_ms: 100, ..config("v") },
            "slow_call_duration_ms",
            "100",
            "invalid circuit breaker config `v`: slow_call_duration_ms = 100 is invalid (expected 0: the consecutive strategy does not use it)",
        ),
        (
            CircuitBreakerConfig { backoff_multiplier: 0.5, ..config("v") },
            "backoff_multiplier",
            "0.5",
            "invalid circuit breaker config `v`: backoff_multiplier = 0.5 is invalid (expected 1.0 to 10.0, or 0 for the default 1.0 (no backoff))",
        ),
        (
            CircuitBreakerConfig { backoff_multiplier: f64::NAN, ..config("v") },
            "backoff_multiplier",
            "NaN",
            "",
        ),
        (
            CircuitBreakerConfig { timeout_secs: 10, max_timeout_secs: 9, ..config("v") },
            "max_timeout_secs",
            "9",
            "invalid circuit breaker config `v`: max_timeout_secs = 9 is invalid (expected the timeout_secs 10 to 2592000, or 0 for the default 100)",
        ),
        (
            CircuitBreakerConfig { jitter_percent: 51, ..config("v") },
            "jitter_percent",
            "51",
            "invalid circuit breaker config `v`: jitter_percent = 51 is invalid (expected 0 to 50)",
        ),
        (
            CircuitBreakerConfig { half_open_max_wait_ms: 86_400_001, ..config("v") },
            "half_open_max_wait_ms",
            "86400001",
            "invalid circuit breaker config `v`: half_open_max_wait_ms = 86400001 is invalid (expected 0 (no limit) to 86400000 (24 hours))",
        ),
        (
            CircuitBreakerConfig { failure_threshold: 1_000_001, ..config("v") },
            "failure_threshold",
            "1000001",
            "invalid circuit breaker config `v`: failure_threshold = 1000001 is invalid (expected 1 to 1000000, or 0 for the default 5)",
        ),
        (
            CircuitBreakerConfig { success_threshold: 10_001, ..config("v") },
            "success_threshold",
            "10001",
            "invalid circuit breaker config `v`: success_threshold = 10001 is invalid (expected 1 to 10000, or 0 for the default 1)",
        ),
        (
            CircuitBreakerConfig { half_open_max_calls: 10_001, ..config("v") },
            "half_open_max_calls",
            "10001",
            "invalid circuit breaker config `v`: half_open_max_calls = 10001 is invalid (expected 1 to 10000, or 0 for the default 1)",
        ),
        (
            CircuitBreakerConfig { timeout_secs: 2_592_001, ..config("v") },
            "timeout_secs",
            "2592001",
            "invalid circuit breaker config `v`: timeout_secs = 2592001 is invalid (expected 1 to 2592000, or 0 for the default 60)",
        ),
        (
            CircuitBreakerConfig { call_timeout_ms: 86_400_001, ..config("v") },
            "call_timeout_ms",
            "86400001",
            "invalid circuit breaker config `v`: call_timeout_ms = 86400001 is invalid (expected 0 (no deadline) to 86400000 (24 hours))",
        ),
    ];
    for (c, field, value, message) in cases {
        let e = rejected(c);
        assert_eq!(e.field(), field);
        if !value.is_empty() {
            assert_eq!(e.value(), value);
        }
        if !message.is_empty() {
            assert_eq!(e.to_string(), message);
        }
        assert!(e.to_string().contains(e.allowed()));
    }
}

#[test]
fn a_resolved_config_validates_again_unchanged() {
    for strategy in 0..=3 {
        let c = CircuitBreaker::new(CircuitBreakerConfig {
            failure_strategy: strategy,
            ..config("v-round-trip")
        })
        .config();
        let again = CircuitBreaker::new(c.clone()).config();
        assert_eq!(again, c, "strategy {strategy}");
    }
    let count = CircuitBreaker::new(CircuitBreakerConfig {
        failure_strategy: FailureStrategy::FailureStrategyCountWindow as i32,
        window_size: 30,
        ..config("v-window-defaults")
    })
    .config();
    assert_eq!(
        (
            count.minimum_calls,
            count.failure_rate_threshold,
            count.slow_call_rate_threshold,
            count.half_open_max_calls
        ),
        (30, 50, 100, 10)
    );
    assert_eq!(
        (
            count.failure_threshold,
            count.success_threshold,
            count.window_secs
        ),
        (0, 0, 0)
    );
    assert_eq!(
        (count.backoff_multiplier, count.max_timeout_secs),
        (1.0, 600)
    );
}

#[test]
fn the_largest_allowed_values_are_accepted() {
    let c = CircuitBreakerConfig {
        failure_threshold: 1_000_000,
        success_threshold: 10_000,
        half_open_max_calls: 10_000,
        timeout_secs: 2_592_000,
        call_timeout_ms: 86_400_000,
        ..config(&"n".repeat(256))
    };
    CircuitBreaker::try_new(c).unwrap();
}

#[test]
#[should_panic(expected = "failure_threshold = 2000000 is invalid")]
fn new_panics_with_the_validation_message() {
    CircuitBreaker::new(CircuitBreakerConfig {
        failure_threshold: 2_000_000,
        ..config("v-panic")
    });
}

#[test]
fn the_process_registry_shares_breakers_by_name() {
    let a = registry().get_or_create(config("g-shared"));
    let b = registry().get_or_create(CircuitBreakerConfig {
        failure_threshold: 1,
        ..config("g-shared")
    });
    assert!(a.ptr_eq(&b), "same name, same breaker");
    assert_eq!(
        b.config().failure_threshold,
        5,
        "the existing breaker is returned as it is"
    );
    a.force_open();
    assert_eq!(
        registry().get("g-shared").unwrap().state(),
        State::ForcedOpen
    );
    assert!(registry().get("g-never-created").is_none());
    assert!(registry().names().contains(&"g-shared".to_string()));
}

#[test]
fn an_operator_config_beats_the_code_default_before_and_after_creation() {
    let r = Registry::new();
    r.configure(CircuitBreakerConfig {
        failure_threshold: 9,
        ..config("ops")
    })
    .unwrap();
    assert!(
        r.get("ops").is_none(),
        "configuring does not create the breaker"
    );
    let b = r.get_or_create(CircuitBreakerConfig {
        failure_threshold: 2,
        ..config("ops")
    });
    assert_eq!(b.config().failure_threshold, 9);

    // After creation: changed in place, state kept.
    b.call(|| Err::<(), _>(())).unwrap_err();
    r.configure(CircuitBreakerConfig {
        failure_threshold: 2,
        ..config("ops")
    })
    .unwrap();
    assert_eq!(b.config().failure_threshold, 2);
    b.call(|| Err::<(), _>(())).unwrap_err();
    assert_eq!(b.state(), State::Open);

    let e = r
        .configure(CircuitBreakerConfig {
            timeout_secs: u32::MAX,
            ..config("ops")
        })
        .unwrap_err();
    assert_eq!(e.field(), "timeout_secs");
    assert_eq!(b.config().timeout_secs, 60, "the old config stays");
}

#[test]
fn an_invalid_code_default_is_an_error_not_a_panic() {
    let r = Registry::new();
    let e = r
        .try_get_or_create(CircuitBreakerConfig {
            success_threshold: 10_001,
            ..config("bad")
        })
        .unwrap_err();
    assert_eq!(e.field(), "success_threshold");
    assert!(r.get("bad").is_none());
    assert!(r.names().is_empty());
}

#[test]
fn snapshots_list_every_breaker_by_name() {
    let r = Registry::new();
    for name in ["b", "c", "a"] {
        r.get_or_create(config(name));
    }
    r.get("b").unwrap().call(|| Err::<(), _>(())).unwrap_err();
    let snaps = r.snapshots();
    let names: Vec<_> = snaps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(snaps[1].failed_calls, 1);
    assert!(r.remove("b").is_some());
    assert_eq!(r.names(), ["a", "c"]);
}

#[test]
fn snapshot_and_config_round_trip_through_protobuf() {
    use plexspaces_circuit_breaker::plexspaces_proto::prost::Message;
    let b = CircuitBreaker::new(config("wire"));
    b.call(|| Ok::<_, ()>(())).unwrap();
    let snap = b.snapshot();
    let decoded =
        plexspaces_circuit_breaker::CircuitBreakerSnapshot::decode(snap.encode_to_vec().as_slice())
            .unwrap();
    assert_eq!(decoded, snap);
    assert_eq!(decoded.successful_calls, 1);
}
