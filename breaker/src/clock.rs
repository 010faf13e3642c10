//! Time, read from tokio's clock so that tests run on paused time.
//!
//! A breaker keeps instants as whole milliseconds since its own creation, which fit in
//! atomics; wall-clock (Unix) times are derived only for snapshots.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// A breaker's time base.
#[derive(Debug)]
pub(crate) struct Clock {
    base: Instant,
    base_unix_ms: u64,
}

impl Clock {
    pub(crate) fn new() -> Self {
        let base_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, duration_ms);
        Clock {
            base: Instant::now(),
            base_unix_ms,
        }
    }

    /// Milliseconds since the breaker was created, on tokio's clock (paused in tests).
    #[inline]
    pub(crate) fn now_ms(&self) -> u64 {
        duration_ms(Instant::now().saturating_duration_since(self.base))
    }

    /// A breaker-relative instant as milliseconds since the Unix epoch.
    pub(crate) fn unix_ms(&self, at_ms: u64) -> u64 {
        self.base_unix_ms.saturating_add(at_ms)
    }
}

/// A duration in whole milliseconds, saturating at `u64::MAX`.
#[inline]
pub(crate) fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
