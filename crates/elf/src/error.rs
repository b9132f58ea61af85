use std::path::PathBuf;

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
    NotRegular { path: PathBuf, kind: &'static str },
    /// The file is empty.
    #[error("{}: empty file", path.display())]
    Empty { path: PathBuf },
    /// The file starts like ELF but its headers are truncated or inconsistent.
    #[error("{}: malformed ELF: {reason}", path.display())]
    Malformed { path: PathBuf, reason: String },
}

impl Error {
    pub(crate) fn malformed(path: &std::path::Path, reason: impl Into<String>) -> Self {
        Error::Malformed {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}
