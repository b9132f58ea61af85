use std::path::PathBuf;

/// Why the root's dpkg database could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file of the database is there but cannot be read (or the root cannot be walked to
    /// it).
    #[error("{}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: depclose_resolve::Error,
    },
    /// A line dpkg would not have written: `line` counts from 1.
    #[error("{}:{line}: {reason}", path.display())]
    Malformed {
        path: PathBuf,
        line: usize,
        reason: &'static str,
    },
}
