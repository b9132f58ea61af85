//! Pack a set of paths into a reproducible single-layer container image or a rootfs.
//!
//! A [`Tree`] collects image paths: directories, regular files copied from host paths,
//! symlinks and generated files. It is then written as
//!
//! - a layer tar ([`Tree::write_layer`]): sorted, owner 0:0, one mtime, exact modes, file
//!   capabilities as PAX xattrs, hard links kept;
//! - an image tar ([`Tree::write_image`], [`Tree::write_image_to`]) in the shape `docker save`
//!   writes since Docker 25: an OCI image layout plus Docker's `manifest.json`, accepted by
//!   `docker load`, `podman load`, skopeo and umoci;
//! - a rootfs directory ([`Tree::write_rootfs`]) holding the same tree.
//!
//! Image tars, its own and others' (an OCI image layout, or the docker-archive of `docker
//! save` before Docker 25), are read back by [`ImageArchive`]: its manifests, the one
//! image's config and layers (gzip decompressed), blobs streamed from the file. [`push`]
//! sends such a tar to a registry over the OCI distribution API.
//! Documents about the image (an SBOM) can go into the image tar beside it as OCI artifacts
//! that refer to it ([`WriteOptions::referrers`], [`Artifact`]); [`Tree::entries`] reads
//! the tree back, for whoever describes it.
//!
//! The same tree and options give byte-identical output. Nothing is printed; progress goes
//! to a [`Progress`] and warnings (dropped setuid bits) come back in the summaries.
//!
//! This crate knows nothing of ELF or loaders: deciding *which* paths belong in the image,
//! and resolving symlinks on the way to them, is the caller's job. It does not compress
//! or write more than one layer.
//!
//! ```no_run
//! use depclose_pack::{ImageConfig, Tree, WriteOptions};
//! use std::path::Path;
//!
//! let mut tree = Tree::new();
//! tree.add_symlink("/lib64", "usr/lib64")?;
//! tree.add_file("/usr/lib64/ld-linux-x86-64.so.2", "/usr/lib64/ld-linux-x86-64.so.2")?;
//! tree.add_file("/usr/bin/true", "/usr/bin/true")?;
//! tree.add_bytes("/etc/passwd", "root:x:0:0::/:/usr/bin/true\n", 0o644)?;
//!
//! let config = ImageConfig::new("amd64", vec!["/usr/bin/true".into()], "true:latest");
//! let options = WriteOptions { epoch: 1_700_000_000, ..WriteOptions::default() };
//! let summary = tree.write_image(&config, Path::new("true.tar"), &options)?;
//! println!("{}", summary.manifest_digest);
//! # Ok::<(), depclose_pack::Error>(())
//! ```

mod archive;
mod atomic;
mod entries;
mod error;
mod image;
mod layer;
mod options;
mod push;
mod read;
mod reference;
mod referrer;
mod rootfs;
mod temp;
mod tree;
mod unpack;

#[cfg(test)]
mod testutil;

pub use atomic::AtomicFile;
pub use entries::Entry;
pub use error::Error;
pub use image::{ImageConfig, rfc3339};
pub use options::{
    DEFAULT_EPOCH, ImageSummary, LayerSummary, Progress, WriteOptions, WriteSummary,
};
pub use push::{PushOptions, PushSummary, PushedReferrer, ReferrersVia, check_push, push};
pub use read::{ArchiveImage, ImageArchive, Layer, ManifestKind};
pub use referrer::{Artifact, ArtifactError, Referrers};
pub use temp::{Swept, TempDir, is_own_temp, sweep, temp_file_in, temp_prefix};
pub use tree::Tree;
pub use unpack::{FilesDiff, ImageFile, ImageFiles, PathChange, PathEntry, diff_files};

/// Check that `reference` (`name[:tag]`) can name an image, before any work is done: the
/// writers check it again.
pub fn check_reference(reference: &str) -> Result<(), Error> {
    reference::Reference::parse(reference).map(drop)
}
