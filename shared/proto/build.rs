//! Compiles `proto/` with protox (no system protoc) into tonic clients and servers,
//! plus one encoded descriptor set for gRPC reflection.

use std::path::PathBuf;

const FILES: &[&str] = &[
    "questline/identity/v1/identity.proto",
    "questline/ledger/v1/ledger.proto",
    "questline/mechanics/v1/mechanics.proto",
    "questline/rewards/v1/rewards.proto",
    "questline/notifications/v1/notifications.proto",
    "questline/events/v1/events.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    for file in FILES {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }
    let fds = protox::compile(FILES, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("questline_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        // Ordered maps encode deterministically, so request fingerprints are stable.
        .btree_map(".")
        .emit_rerun_if_changed(false)
        .compile_fds(fds)?;
    Ok(())
}
