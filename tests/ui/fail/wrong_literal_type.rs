use plexspaces_circuit_breaker::circuit_breaker;

#[circuit_breaker(name = "ui", threshold = "5")]
async fn charge() -> anyhow::Result<()> {
    Ok(())
}

#[circuit_breaker(name = 5)]
async fn refund() -> anyhow::Result<()> {
    Ok(())
}

#[circuit_breaker(fallback = "cached")]
async fn quote() -> anyhow::Result<()> {
    Ok(())
}

fn main() {}
