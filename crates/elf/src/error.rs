use std::path::PathBuf;

use crate::read::{Identity, NonRegular};

/// Why a file could not be read as the loader would read it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be opened, inspected or mapped.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The path exists but is not a regular file (directory, FIFO, socket, device).
    #[error("{}: is a {kind}, not a regular file", path.display())]
    NotRegular { path: PathBuf, kind: NonRegular },
    /// The file is empty.
    #[error("{}: empty file", path.display())]
    Empty { path: PathBuf },
    /// The file starts like ELF (or `#!`) but its headers are truncated or inconsistent.
    #[error("{}: malformed ELF: {reason}", path.display())]
    Malformed {
        path: PathBuf,
        reason: String,
        /// For an ELF file with a whole header: its class, byte order and machine.
        identity: Option<Identity>,
    },
}
