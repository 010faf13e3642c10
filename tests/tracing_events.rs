//! State changes as `tracing` events. Alone in its test binary: `tracing` caches each
//! callsite's interest process-wide, so a scoped subscriber is only reliable when no other
//! test emits events concurrently.

mod common;

use std::sync::{Arc, Mutex};

use plexspaces_circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};

/// A minimal `tracing` subscriber that keeps the fields of every event, and runs `callback`
/// (if any) from inside each event.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Captured>>>, Option<fn()>);

/// `"target LEVEL"` and the event's fields.
type Captured = (String, Vec<(String, String)>);

struct Fields(Vec<(String, String)>);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0
            .push((field.name().to_string(), format!("{value:?}")));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.push((field.name().to_string(), value.to_string()));
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(Vec::new());
        event.record(&mut fields);
        let meta = event.metadata();
        if let Some(callback) = self.1 {
            callback();
        }
        self.0
            .lock()
            .unwrap()
            .push((format!("{} {}", meta.target(), meta.level()), fields.0));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn state_changes_are_tracing_events_naming_the_breaker() {
    let capture = Capture::default();
    tracing::subscriber::with_default(capture.clone(), || {
        let b = CircuitBreaker::new(CircuitBreakerConfig {
            name: "e-tracing".into(),
            failure_threshold: 1,
            ..Default::default()
        });
        b.call(|| Err::<(), _>(())).unwrap_err();
        b.reset();
    });
    let seen = capture.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    let (head, fields) = &seen[0];
    assert_eq!(head, "plexspaces_circuit_breaker WARN");
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("breaker"), Some("e-tracing"));
    assert_eq!(get("from"), Some("closed"));
    assert_eq!(get("to"), Some("open"));
    assert_eq!(get("reason"), Some("consecutive_failures"));
    assert_eq!(seen[1].0, "plexspaces_circuit_breaker INFO");
}

/// Regression test for the listener deadlock of gobreaker #37 (a state-change callback run
/// under the breaker's mutex): a `tracing` subscriber that calls back into the breaker from
/// inside the state-change event must not deadlock, in any transition.
#[test]
fn a_tracing_subscriber_may_call_back_into_the_breaker() {
    use std::sync::OnceLock;
    use std::time::Duration;

    static BREAKER: OnceLock<CircuitBreaker> = OnceLock::new();

    /// Each of these takes a lock that a transition takes.
    fn call_back() {
        let b = BREAKER.get().expect("set before any event");
        let _ = b.snapshot();
        drop(b.try_acquire());
        let _ = b.config();
    }

    let rt = common::paused_runtime();
    let _guard = rt.enter();
    let b = BREAKER.get_or_init(|| {
        CircuitBreaker::new(CircuitBreakerConfig {
            name: "e-callback".into(),
            failure_threshold: 1,
            timeout_secs: 1,
            ..Default::default()
        })
    });
    let capture = Capture(Arc::default(), Some(call_back));
    tracing::subscriber::with_default(capture.clone(), || {
        b.call(|| Err::<(), _>(())).unwrap_err(); // closed -> open
        rt.block_on(tokio::time::advance(Duration::from_secs(1)));
        b.call(|| Err::<(), _>(())).unwrap_err(); // open -> half-open -> open
        rt.block_on(tokio::time::advance(Duration::from_secs(1)));
        b.call(|| Ok::<_, ()>(())).unwrap(); // open -> half-open -> closed
        b.force_open();
        b.reset();
    });
    assert_eq!(
        capture.0.lock().unwrap().len(),
        7,
        "every transition was logged, none deadlocked"
    );
}
