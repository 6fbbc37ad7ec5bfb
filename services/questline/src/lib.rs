//! The `questline` binary's library: running services in one process (the
//! whole mesh for `questline dev` and tests, or one service for a pod),
//! loading the demo programme, and a webhook receiver to try endpoints with.

pub mod demo;
pub mod enrol;
pub mod mesh;
pub mod migrate;
pub mod receiver;

/// Writes a new file only its owner can read (it holds a secret).
pub fn write_private(file: &std::path::Path, text: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(file)?, text.as_bytes())?;
    Ok(())
}
