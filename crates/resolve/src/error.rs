use std::path::PathBuf;

/// Why a root, a target or a configuration file could not be read.
///
/// A library that is not found, or a candidate of the wrong class, is not an error: it is
/// recorded in the [`crate::Closure`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: no such file or directory", path.display())]
    NotFound { path: PathBuf },
    #[error("{}: too many levels of symbolic links", path.display())]
    SymlinkLoop { path: PathBuf },
    #[error(transparent)]
    Elf(#[from] depclose_elf::Error),
    #[error("{}: {source}", path.display())]
    Cache {
        path: PathBuf,
        #[source]
        source: crate::cache::CacheError,
    },
    /// A target or option the resolver cannot work with (the message says why).
    #[error("{0}")]
    Input(String),
}
