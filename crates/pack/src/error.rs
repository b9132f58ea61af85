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
    /// was left behind. (A cancelled push, [`PushOptions::cancel`](crate::PushOptions::cancel),
    /// leaves in the registry what it had sent, untagged.)
    #[error("interrupted")]
    Cancelled,
    /// The [`WriteOptions::gate`](crate::WriteOptions::gate) held the output back: the
    /// caller's check of the content failed (and says why itself).
    #[error("the output was held back by a failed check")]
    Withheld,
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
    /// A source file changed between `add_file` and writing (size or identity), or while it
    /// was copied (size or mtime).
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
    /// An image tar that cannot be read: not a tar, truncated, a hostile member name (absolute,
    /// with `..`, a link leaving the archive), a member twice, neither `index.json` nor
    /// `manifest.json`.
    #[error("{}: {reason}", path.display())]
    BadArchive {
        /// The image tar.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A member the archive's documents name is not in it.
    #[error("{}: no member {name}", path.display())]
    MissingMember {
        /// The image tar.
        path: PathBuf,
        /// The member's name.
        name: String,
    },
    /// A blob a manifest or index names is not in the archive.
    #[error("{}: no blob {digest}", path.display())]
    MissingBlob {
        /// The image tar.
        path: PathBuf,
        /// The blob's digest.
        digest: String,
    },
    /// A blob's contents do not have its digest.
    #[error("{}: blob {digest} has digest {actual}", path.display())]
    BlobDigest {
        /// The image tar.
        path: PathBuf,
        /// The digest it is stored under.
        digest: String,
        /// The digest of its contents.
        actual: String,
    },
    /// A JSON document of the archive (or a digest in one) is not what it should be.
    #[error("{}: {name}: {reason}", path.display())]
    BadDocument {
        /// The image tar.
        path: PathBuf,
        /// The member or digest.
        name: String,
        /// Why it was refused.
        reason: String,
    },
    /// Something valid that is not handled: zstd layers, schema 1 manifests.
    #[error("{}: {what} is not supported", path.display())]
    Unsupported {
        /// The image tar.
        path: PathBuf,
        /// What it holds.
        what: String,
    },
    /// One image was asked for, and the archive holds several.
    #[error("{}: holds {} images ({}), not one", path.display(), images.len(), images.join(", "))]
    ManyImages {
        /// The image tar.
        path: PathBuf,
        /// Each image: its platform, `ref.name` annotation, tags or digest.
        images: Vec<String>,
    },
    /// A layer member that cannot be unpacked: a name that leaves the image, one that
    /// would write through a symlink, a hard link to nothing, an unreadable layer.
    #[error("{}: layer {layer}: {member}: {reason}", path.display())]
    BadLayer {
        /// The image tar.
        path: PathBuf,
        /// The layer's digest.
        layer: String,
        /// The member's name as the layer spells it (empty when the layer itself is broken).
        member: String,
        /// Why it was refused.
        reason: String,
    },
    /// A push that is refused before anything is sent: plain HTTP to a host that is not
    /// loopback, a registry sending us to a plain-HTTP URL.
    #[error("registry {registry}: refused: {reason}")]
    Refused {
        /// The registry, as the reference names it.
        registry: String,
        /// Why.
        reason: String,
    },
    /// The Docker config file cannot give credentials: not JSON, a malformed `auth`, a
    /// credential helper (which depclose does not run).
    #[error("{}: {reason}", path.display())]
    Credentials {
        /// The Docker config file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The registry refused the credentials, or asked for some and there are none.
    #[error("registry {registry}: not authorised: {reason}")]
    Unauthorized {
        /// The registry, as the reference names it.
        registry: String,
        /// What it said, or what is missing.
        reason: String,
    },
    /// The registry answered a request with an error.
    #[error("registry {registry}: {what}: HTTP {status}: {message}")]
    Registry {
        /// The registry, as the reference names it.
        registry: String,
        /// The request, e.g. `PUT manifest latest`.
        what: String,
        /// The HTTP status.
        status: u16,
        /// The registry's error codes and messages (`errors[].code: message`), or its text.
        message: String,
    },
    /// A request to the registry got no answer: connection, TLS, timeout.
    #[error("registry {registry}: {what}: {reason}")]
    Transport {
        /// The registry, as the reference names it.
        registry: String,
        /// The request.
        what: String,
        /// What failed.
        reason: String,
    },
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
