use plexspaces_circuit_breaker::circuit_breaker;

#[circuit_breaker(name = "ui-a", window_size = 10)]
async fn consecutive_with_window() -> anyhow::Result<()> {
    Ok(())
}

#[circuit_breaker(name = "ui-b", failure_strategy = "time_window", threshold = 3)]
async fn window_with_threshold() -> anyhow::Result<()> {
    Ok(())
}

#[circuit_breaker(name = "ui-c", failure_strategy = "count_window", window_size = 10, minimum_calls = 20)]
async fn minimum_above_window() -> anyhow::Result<()> {
    Ok(())
}

#[circuit_breaker(name = "ui-d", timeout_secs = 30, max_timeout_secs = 10)]
async fn max_below_timeout() -> anyhow::Result<()> {
    Ok(())
}

#[circuit_breaker(name = "ui-e", backoff_multiplier = 0.5)]
async fn backoff_too_small() -> anyhow::Result<()> {
    Ok(())
}

fn main() {}
