//! Compiles `plexspaces/v1/circuitbreaker.proto` with the pure-Rust `protox` compiler (no
//! system `protoc` needed) and generates the Rust types with `prost-build`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const PROTOS: &[&str] = &["plexspaces/v1/circuitbreaker.proto"];
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(PROTOS, ["."])?;
    prost_build::Config::new()
        .retain_enum_prefix()
        .compile_fds(descriptors)?;
    Ok(())
}
