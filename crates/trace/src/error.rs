//! What can go wrong while tracing or reading a trace file.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot trace {program}: {call} failed: {source}")]
    Ptrace {
        program: PathBuf,
        call: &'static str,
        source: nix::Error,
    },
    #[error(
        "--trace with --root {}: the command runs inside it with chroot, which needs root",
        root.display()
    )]
    NeedsRoot { root: PathBuf },
    #[error("not a valid trace file: {0}")]
    Format(String),
    #[error("trace file of format {0}; this depclose reads format {FORMAT}", FORMAT = crate::FORMAT)]
    Version(u32),
}
