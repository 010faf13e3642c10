use plexspaces_circuit_breaker::circuit_breaker;

#[circuit_breaker(name = "ui")]
struct Client {
    url: String,
}

fn main() {}
