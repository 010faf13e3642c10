use plexspaces_circuit_breaker::circuit_breaker;

#[circuit_breaker(name = "ui", failure_strategy = "sliding")]
async fn charge() -> anyhow::Result<()> {
    Ok(())
}

// The function is still emitted: calling it raises no second error.
fn main() {
    let _ = charge();
}
