use plexspaces_circuit_breaker::circuit_breaker;

#[circuit_breaker(name = "ui")]
async fn price() -> u64 {
    42
}

#[circuit_breaker(name = "ui-unit")]
fn notify() {}

fn main() {
    let _ = price();
    notify();
}
