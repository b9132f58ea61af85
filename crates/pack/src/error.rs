use std::io;
use std::path::{Path, PathBuf};

/// Everything that can go wrong while building a [`Tree`](crate::Tree) or writing it out.
///
/// Paths inside the image are shown absolute (`/usr/lib/...`); host paths as given.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A [`Referrers`](crate::Referrers) could not make its artifacts.
    #[error("the documents about the image: {source}")]
    Referrer {
        /// What went wrong.
        #[source]
        source: crate::ArtifactError,
    },
    /// The write was cancelled ([`WriteOptions::cancel`](crate::WriteOptions::cancel)); nothing
    /// was left behind.
    #[error("interrupted")]
    Cancelled,
    /// Reading or writing a host file or directory failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The host path that was being read or written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Writing to the caller's writer (e.g. stdout) failed; it has no path.
    #[error("writing the output: {source}")]
    Write {
        /// The underlying error; `BrokenPipe` when a reader went away.
        #[source]
        source: io::Error,
    },
    /// An image path is empty, contains `..` or a NUL byte.
    #[error("invalid image path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: PathBuf,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A symlink target is empty or contains a NUL byte.
    #[error("invalid symlink target {target:?} for {}: {reason}", path.display())]
    InvalidLinkTarget {
        /// The symlink's image path.
        path: PathBuf,
        /// The target as given.
        target: PathBuf,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A path was inserted twice with different contents.
    #[error("conflicting entries for {}: already {existing}, now {new}", path.display())]
    Conflict {
        /// The image path.
        path: PathBuf,
        /// What the tree holds.
        existing: String,
        /// What the second insert wanted.
        new: String,
    },
    /// A path was inserted below an entry that is not a directory (the caller must pass
    /// symlink-resolved paths).
    #[error("cannot add {}: {} is {kind}, not a directory", path.display(), parent.display())]
    ParentNotDirectory {
        /// The image path being inserted.
        path: PathBuf,
        /// The ancestor that is in the way.
        parent: PathBuf,
        /// What that ancestor is.
        kind: &'static str,
    },
    /// A source has the wrong type: a symlink, directory or special file given to
    /// `add_file`, or a non-directory given to `add_dir`. Devices, FIFOs and sockets are never
    /// packed.
    #[error("{}: is {found}, expected {expected}", path.display())]
    SourceType {
        /// The host path.
        path: PathBuf,
        /// What it is, e.g. "a symlink" or "a FIFO".
        found: &'static str,
        /// What was expected.
        expected: &'static str,
    },
    /// A source file changed between `add_file` and writing (size or identity).
    #[error("{}: changed since it was added ({what})", path.display())]
    SourceChanged {
        /// The host path.
        path: PathBuf,
        /// What differs.
        what: &'static str,
    },
    /// The image tag is not a valid `name[:tag]` reference.
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference {
        /// The reference as given.
        reference: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The image configuration is unusable (e.g. an `Env` entry without `=`).
    #[error("invalid image configuration: {0}")]
    InvalidConfig(String),
    /// The rootfs destination exists and is not an empty directory.
    #[error("{}: exists and is not an empty directory", path.display())]
    DestinationNotEmpty {
        /// The destination.
        path: PathBuf,
    },
}

impl Error {
    pub(crate) fn io(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
        move |source| Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn write(source: io::Error) -> Error {
        Error::Write { source }
    }

    /// Gives a failed write to the output a name once the output is known to be a file.
    pub(crate) fn on_sink(self, path: &Path) -> Error {
        match self {
            Error::Write { source } => Error::Io {
                path: path.to_path_buf(),
                source,
            },
            other => other,
        }
    }
}
