use plexspaces_circuit_breaker::circuit_breaker;

#[circuit_breaker(name = "ui", threshold = 0)]
async fn charge() -> anyhow::Result<()> {
    Ok(())
}

#[circuit_breaker(name = "ui", success_threshold = 10001)]
async fn refund() -> anyhow::Result<()> {
    Ok(())
}

fn main() {}
