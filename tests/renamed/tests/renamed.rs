use std::time::Duration;

use cb::{registry, CircuitBreakerError, State};
use plexspaces_circuit_breaker_renamed_test::{direct, through_reexport};

fn is_open(e: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    e.downcast_ref::<CircuitBreakerError>()
        .is_some_and(CircuitBreakerError::is_circuit_open)
}

#[tokio::test(start_paused = true)]
async fn a_renamed_dependency_works_with_crate_argument() {
    assert_eq!(direct(false).await.unwrap(), 1);
    assert!(direct(true).await.is_err());
    assert_eq!(
        registry().get("renamed-direct").unwrap().state(),
        State::Open
    );
    assert!(is_open(&*direct(false).await.unwrap_err()));
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(direct(false).await.unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_reexported_runtime_works_with_crate_argument() {
    assert_eq!(through_reexport(false).unwrap(), 2);
    assert!(through_reexport(true).is_err());
    assert!(is_open(&*through_reexport(false).unwrap_err()));
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(through_reexport(false).unwrap(), 2);
}
