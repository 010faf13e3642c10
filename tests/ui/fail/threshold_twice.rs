use plexspaces_circuit_breaker::circuit_breaker;

#[circuit_breaker(threshold = 3, failure_threshold = 4)]
async fn charge() -> anyhow::Result<()> {
    Ok(())
}

// The function is still emitted: calling it raises no second error.
fn main() {
    let _ = charge();
}
