use plexspaces_circuit_breaker::circuit_breaker;

#[circuit_breaker(name = "a", threshold = 3, name = "b")]
async fn charge() -> anyhow::Result<()> {
    Ok(())
}

// The function is still emitted: calling it raises no second error.
fn main() {
    let _ = charge();
}
