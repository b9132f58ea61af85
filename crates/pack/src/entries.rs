//! Reading a [`Tree`] back: what each image path holds, for callers that describe the image
//! (an SBOM, package metadata) rather than write it.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::Tree;
use crate::tree::{Node, image_path};

/// What one image path of a [`Tree`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry<'a> {
    /// A directory (explicit, or the parent of other entries).
    Dir,
    /// A regular file copied from this host path.
    File {
        /// The host path it is copied from.
        source: &'a Path,
    },
    /// A symlink to this target, stored as given.
    Symlink {
        /// The target, byte for byte.
        target: &'a OsStr,
    },
    /// A regular file with generated contents.
    Bytes {
        /// The contents.
        contents: &'a [u8],
    },
}

impl Tree {
    /// Every entry with its absolute image path, parents before what is below them, in the
    /// order the layer holds them.
    pub fn entries(&self) -> impl Iterator<Item = (PathBuf, Entry<'_>)> {
        self.nodes.iter().map(|(rel, node)| {
            let entry = match node {
                Node::Dir { .. } => Entry::Dir,
                Node::File(f) => Entry::File { source: &f.path },
                Node::Symlink { target, .. } => Entry::Symlink { target },
                Node::Bytes { contents, .. } => Entry::Bytes { contents },
            };
            (image_path(rel), entry)
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn entries_in_layer_order_with_sources() {
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().join("f");
        std::fs::write(&host, "x").unwrap();
        let mut tree = Tree::new();
        tree.add_bytes("/etc/b", "b", 0o644).unwrap();
        tree.add_file("/usr/bin/f", &host).unwrap();
        tree.add_symlink("/bin", "usr/bin").unwrap();
        let entries: Vec<(PathBuf, Entry<'_>)> = tree.entries().collect();
        assert_eq!(
            entries,
            [
                (
                    PathBuf::from("/bin"),
                    Entry::Symlink {
                        target: OsStr::new("usr/bin")
                    }
                ),
                (PathBuf::from("/etc"), Entry::Dir),
                (PathBuf::from("/etc/b"), Entry::Bytes { contents: b"b" }),
                (PathBuf::from("/usr"), Entry::Dir),
                (PathBuf::from("/usr/bin"), Entry::Dir),
                (PathBuf::from("/usr/bin/f"), Entry::File { source: &host }),
            ]
        );
    }
}
