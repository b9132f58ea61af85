//! What the resolver reads from one file, once, for every search that meets it.

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use depclose_elf::{ElfInfo, FileKind, Identity, NonRegular, Script};

/// What a file is ([`FileKind`]), its ELF facts shared: every closure that maps the file
/// holds them, and one run may make thousands of closures.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Elf(Arc<ElfInfo>),
    Script(Script),
    Other,
}

impl From<FileKind> for Kind {
    fn from(k: FileKind) -> Kind {
        match k {
            FileKind::Elf(e) => Kind::Elf(Arc::new(e)),
            FileKind::Script(s) => Kind::Script(s),
            FileKind::Other => Kind::Other,
        }
    }
}

/// A file read through the resolver's cache.
#[derive(Debug)]
pub(crate) struct FileEntry {
    pub(crate) kind: Result<Kind, ReadFailure>,
    /// (device, inode): the loader's test for "the same file". Zero when it was not read.
    pub(crate) file_id: (u64, u64),
    pub(crate) size: u64,
}

impl FileEntry {
    /// Read what the loader would read from the host file `host`.
    /// `regular`: an `lstat` of it has just shown a regular file, so the `stat` before the
    /// open, which keeps special files unopened, is not needed again.
    pub(crate) fn read(host: &Path, regular: bool) -> FileEntry {
        let read = if regular {
            depclose_elf::read_regular_file(host)
        } else {
            depclose_elf::read_file_with_metadata(host)
        };
        FileEntry::from_read(read.map(|(k, m)| (k, Some(m))))
    }

    /// [`FileEntry::read`] of a file a directory listing has just shown to be regular (see
    /// [`depclose_elf::read_listed_file`]: neither ELF nor a script, it has no metadata).
    pub(crate) fn read_listed(host: &Path) -> FileEntry {
        FileEntry::from_read(depclose_elf::read_listed_file(host))
    }

    fn from_read(
        read: Result<(FileKind, Option<std::fs::Metadata>), depclose_elf::Error>,
    ) -> FileEntry {
        match read {
            Ok((kind, meta)) => FileEntry {
                kind: Ok(kind.into()),
                file_id: meta.as_ref().map_or((0, 0), |m| (m.dev(), m.ino())),
                size: meta.map_or(0, |m| m.len()),
            },
            Err(e) => FileEntry {
                kind: Err(ReadFailure::from(e)),
                file_id: (0, 0),
                size: 0,
            },
        }
    }
}

/// Why a candidate could not be read, as far as the loader's decision goes. `Display` is
/// the reason the loader reports for it.
#[derive(Debug)]
pub(crate) enum ReadFailure {
    /// `EACCES`: the loader goes on to the next candidate.
    PermissionDenied(std::io::Error),
    /// Any other failure to open, inspect or map the file.
    Io(std::io::Error),
    /// A directory where a file was expected.
    IsDirectory,
    /// A FIFO, socket or device (never opened: a FIFO would block).
    NotRegular { path: PathBuf, kind: NonRegular },
    /// An empty file.
    TooShort,
    /// Headers that are truncated or inconsistent. An ELF file with a whole header keeps
    /// its identity, which `open_verify` checks (and may skip the file on) first.
    Malformed {
        reason: String,
        identity: Option<Identity>,
    },
    /// A failure depclose-elf added after this was written.
    Other(depclose_elf::Error),
}

impl From<depclose_elf::Error> for ReadFailure {
    fn from(e: depclose_elf::Error) -> Self {
        use depclose_elf::Error as E;
        match e {
            E::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied => {
                ReadFailure::PermissionDenied(source)
            }
            E::Io { source, .. } => ReadFailure::Io(source),
            E::NotRegular {
                kind: NonRegular::Directory,
                ..
            } => ReadFailure::IsDirectory,
            E::NotRegular { path, kind } => ReadFailure::NotRegular { path, kind },
            E::Empty { .. } => ReadFailure::TooShort,
            E::Malformed {
                reason, identity, ..
            } => ReadFailure::Malformed { reason, identity },
            other => ReadFailure::Other(other),
        }
    }
}

impl fmt::Display for ReadFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadFailure::PermissionDenied(e) | ReadFailure::Io(e) => e.fmt(f),
            // `open_verify`'s messages (`elf/dl-load.c`).
            ReadFailure::IsDirectory => f.write_str("cannot read file data: Is a directory"),
            ReadFailure::TooShort => f.write_str("file too short"),
            ReadFailure::NotRegular { path, kind } => {
                write!(f, "{}: is a {kind}, not a regular file", path.display())
            }
            ReadFailure::Malformed { reason, .. } => f.write_str(reason),
            ReadFailure::Other(e) => e.fmt(f),
        }
    }
}
