use std::fmt;
use std::path::{Path, PathBuf};

use crate::tree::image_path;

/// The epoch used when the caller has none (no `SOURCE_DATE_EPOCH`): 1970-01-01T00:00:00Z,
/// as ko and the design's image contract do.
pub const DEFAULT_EPOCH: u64 = 0;

/// Receives progress while file contents are copied. The library never prints.
///
/// Any `Fn(u64, u64)` closure is a `Progress`.
pub trait Progress {
    /// `done` of `total` content bytes ([`Tree::content_bytes`](crate::Tree::content_bytes))
    /// have been copied. Called after each chunk; `done == total` at the end.
    fn update(&self, done: u64, total: u64);
}

impl<F: Fn(u64, u64)> Progress for F {
    fn update(&self, done: u64, total: u64) {
        self(done, total)
    }
}

/// How entries are written, shared by the layer, image and rootfs writers.
#[derive(Clone, Copy)]
pub struct WriteOptions<'a> {
    /// Seconds since the Unix epoch (`SOURCE_DATE_EPOCH`): the mtime of every entry and the
    /// image's `created` time.
    pub epoch: u64,
    /// Keep setuid/setgid bits on regular files. When false (the default) they are cleared
    /// and the paths listed in [`WriteSummary::dropped_setuid`].
    pub keep_setuid: bool,
    /// Where to report progress, if anywhere.
    pub progress: Option<&'a dyn Progress>,
    /// Set from elsewhere (a signal handler) to stop writing: the writer returns
    /// [`Error::Cancelled`](crate::Error::Cancelled) at the next chunk and removes what it
    /// had written.
    pub cancel: Option<&'a std::sync::atomic::AtomicBool>,
    /// Image writers only: documents about the image to write into its tar as OCI artifacts
    /// referring to it ([`Referrers`](crate::Referrers)), made once its manifest digest is
    /// known.
    pub referrers: Option<&'a dyn crate::Referrers>,
    /// Called once the content is written and before anything reaches the destination (an
    /// image's first byte, a rootfs's rename into place); an error stops the writer, which
    /// removes what it wrote. A check of the content can so run beside the writing.
    pub gate: Option<&'a dyn Fn() -> Result<(), crate::Error>>,
}

impl Default for WriteOptions<'_> {
    fn default() -> Self {
        WriteOptions {
            epoch: DEFAULT_EPOCH,
            keep_setuid: false,
            progress: None,
            cancel: None,
            referrers: None,
            gate: None,
        }
    }
}

impl WriteOptions<'_> {
    /// The [`WriteOptions::gate`], if any, and then cancellation.
    pub(crate) fn pass_gate(&self) -> Result<(), crate::Error> {
        if let Some(gate) = self.gate {
            gate()?;
        }
        self.check_cancel()
    }

    /// `Err(Cancelled)` once the cancel flag is set.
    pub(crate) fn check_cancel(&self) -> Result<(), crate::Error> {
        match self.cancel {
            Some(c) if c.load(std::sync::atomic::Ordering::Relaxed) => Err(crate::Error::Cancelled),
            _ => Ok(()),
        }
    }

    /// The mode a regular file gets: setuid/setgid cleared unless kept, and the path noted.
    pub(crate) fn file_mode(&self, mode: u32, rel: &Path, summary: &mut WriteSummary) -> u32 {
        if self.keep_setuid || mode & 0o6000 == 0 {
            mode
        } else {
            summary.dropped_setuid.push(image_path(rel));
            mode & !0o6000
        }
    }
}

impl fmt::Debug for WriteOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteOptions")
            .field("epoch", &self.epoch)
            .field("keep_setuid", &self.keep_setuid)
            .field("progress", &self.progress.map(|_| "..."))
            .field("cancel", &self.cancel)
            .field("referrers", &self.referrers.map(|_| "..."))
            .finish()
    }
}

/// What a writer wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriteSummary {
    /// Entries written, implicit parent directories included.
    pub entries: usize,
    /// Regular files written with contents (host files and generated ones).
    pub files: usize,
    /// Further paths of an inode already written, written as hard links.
    pub hardlinks: usize,
    /// Bytes of file contents copied.
    pub content_bytes: u64,
    /// Image paths (absolute) whose setuid/setgid bits were cleared.
    pub dropped_setuid: Vec<PathBuf>,
}

/// What [`Tree::write_layer`](crate::Tree::write_layer) wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LayerSummary {
    /// `sha256:<hex>` of the (uncompressed) layer tar, which is also its diff_id.
    pub digest: String,
    /// Size of the layer tar in bytes.
    pub size: u64,
    /// The entries in it.
    pub contents: WriteSummary,
}

/// What [`Tree::write_image`](crate::Tree::write_image) wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImageSummary {
    /// `sha256:<hex>` of the OCI manifest.
    pub manifest_digest: String,
    /// `sha256:<hex>` of the config, Docker's image ID.
    pub config_digest: String,
    /// The single layer.
    pub layer: LayerSummary,
    /// `sha256:<hex>` of each artifact manifest referring to the image
    /// ([`WriteOptions::referrers`]), in the order they were made.
    pub referrers: Vec<String>,
}
