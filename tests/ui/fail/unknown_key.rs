use plexspaces_circuit_breaker::circuit_breaker;

#[circuit_breaker(name = "ui", treshold = 5)]
async fn charge() -> anyhow::Result<()> {
    Ok(())
}

// The function is still emitted: calling it raises no second error.
fn main() {
    let _ = charge();
}
