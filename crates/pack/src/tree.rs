use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::Error;

/// Mode of directories that nobody added explicitly (the parents of added paths).
const IMPLICIT_DIR_MODE: u32 = 0o755;

/// The extended attribute that carries file capabilities (`setcap`).
pub(crate) const CAPABILITY_XATTR: &str = "security.capability";

/// The set of entries an image or rootfs will hold.
///
/// Paths are image paths: `/usr/lib/x86_64-linux-gnu/libc.so.6` and
/// `usr/lib/x86_64-linux-gnu/libc.so.6` name the same entry; empty and `.` components are
/// dropped, `..` and NUL bytes are refused. Keys are ordered by path *components*
/// ([`Path`]'s `Ord`), so a directory always comes before everything below it and each
/// subtree is contiguous.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    pub(crate) nodes: BTreeMap<PathBuf, Node>,
}

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Dir {
        mode: u32,
        explicit: bool,
    },
    File(FileSource),
    /// `host`: where the same link is on the host, for [`Tree::write_skeleton`] to link
    /// rather than make (a hard link to a symlink allocates no inode).
    Symlink {
        target: OsString,
        host: Option<PathBuf>,
    },
    Bytes {
        contents: Vec<u8>,
        mode: u32,
    },
}

/// A host file, as it was when it was added; the writers check it has not changed.
#[derive(Debug, Clone)]
pub(crate) struct FileSource {
    pub(crate) path: PathBuf,
    pub(crate) mode: u32,
    pub(crate) size: u64,
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) capability: Option<Vec<u8>>,
}

impl FileSource {
    /// Copies the file's `size` bytes to `out`, checking it is still the inode that was added
    /// with the same size, and that it did not change while being copied: a file that grew
    /// or shrank, or was rewritten in place (same size, new mtime), is an error
    /// naming it, never a member whose contents are neither the old file nor the new.
    pub(crate) fn copy_to(
        &self,
        out: &mut impl std::io::Write,
        counter: &mut crate::archive::Counter<'_>,
    ) -> Result<(), Error> {
        let changed = |what| Error::SourceChanged {
            path: self.path.clone(),
            what,
        };
        // It had no symlink on its path when added; don't follow one that replaced the file
        // or a directory above it (the inode check below would not catch a swap that
        // happened before `add_file`).
        let mut file = match open_no_symlinks(&self.path, rustix::fs::OFlags::RDONLY) {
            Err(rustix::io::Errno::LOOP) => return Err(changed("a symlink is on its path now")),
            r => r.map_err(|e| Error::io(&self.path)(e.into()))?,
        };
        let before = file.metadata().map_err(Error::io(&self.path))?;
        if (before.dev(), before.ino()) != (self.dev, self.ino) {
            return Err(changed("it is another file now"));
        }
        if before.len() != self.size {
            return Err(changed("its size changed"));
        }
        crate::archive::copy_exact(&mut file, &self.path, out, self.size, counter)?;
        let after = file.metadata().map_err(Error::io(&self.path))?;
        if stamp(&after) != stamp(&before) {
            return Err(changed("it changed while it was copied"));
        }
        Ok(())
    }
}

/// What changes when a file is written: its size and mtime (nanoseconds). Not its ctime: a
/// hard link made meanwhile changes that alone, and the check of the staged image links
/// every file into a skeleton while the writers copy them (as may another run).
fn stamp(meta: &fs::Metadata) -> (u64, i64, i64) {
    (meta.len(), meta.mtime(), meta.mtime_nsec())
}

impl Node {
    /// Whether a second insert of `other` is the same entry (then it is a no-op). Files are
    /// the same when they are the same inode, whichever path reached it.
    fn same_as(&self, other: &Node) -> bool {
        match (self, other) {
            (Node::Dir { mode: a, .. }, Node::Dir { mode: b, .. }) => a == b,
            (Node::File(a), Node::File(b)) => {
                (a.dev, a.ino, a.mode, a.size, &a.capability)
                    == (b.dev, b.ino, b.mode, b.size, &b.capability)
            }
            (Node::Symlink { target: a, .. }, Node::Symlink { target: b, .. }) => a == b,
            (
                Node::Bytes {
                    contents: a,
                    mode: m,
                },
                Node::Bytes {
                    contents: b,
                    mode: n,
                },
            ) => a == b && m == n,
            _ => false,
        }
    }

    fn describe(&self) -> String {
        match self {
            Node::Dir { mode, .. } => format!("a directory with mode {mode:04o}"),
            Node::File(f) => format!(
                "the file {} (mode {:04o}, {} bytes)",
                f.path.display(),
                f.mode,
                f.size
            ),
            Node::Symlink { target, .. } => format!("a symlink to {}", Path::new(target).display()),
            Node::Bytes { contents, mode } => {
                format!(
                    "generated contents (mode {mode:04o}, {} bytes)",
                    contents.len()
                )
            }
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Node::Dir { .. } => "a directory",
            Node::File(_) | Node::Bytes { .. } => "a regular file",
            Node::Symlink { .. } => "a symlink",
        }
    }
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Tree {
        Tree::default()
    }

    /// Adds a directory. Its mode comes from `source`'s metadata (which must be a directory,
    /// not a symlink to one), else 0755. Adding a directory that exists only as the parent of
    /// earlier entries sets its mode.
    pub fn add_dir(&mut self, dest: impl AsRef<Path>, source: Option<&Path>) -> Result<(), Error> {
        let mode = match source {
            Some(source) => {
                let meta = fs::symlink_metadata(source).map_err(Error::io(source))?;
                if !meta.is_dir() {
                    return Err(Error::SourceType {
                        path: source.to_path_buf(),
                        found: file_kind(meta.file_type()),
                        expected: "a directory",
                    });
                }
                meta.mode() & 0o7777
            }
            None => IMPLICIT_DIR_MODE,
        };
        self.add_dir_with_mode(dest, mode)
    }

    /// Adds a directory with an explicit mode (e.g. 01777 for `/tmp`).
    pub fn add_dir_with_mode(&mut self, dest: impl AsRef<Path>, mode: u32) -> Result<(), Error> {
        self.insert(
            dest.as_ref(),
            Node::Dir {
                mode: mode & 0o7777,
                explicit: true,
            },
        )
    }

    /// Adds a regular file copied from `source` at write time. Its mode, size, identity
    /// (device and inode, so that two paths of one inode become a hard link) and
    /// `security.capability` attribute are read now. A symlink is refused (reproduce it with
    /// [`Tree::add_symlink`]), and so are directories, devices, FIFOs and sockets.
    ///
    /// `source` must hold no symlink at all (the caller resolved them, e.g. inside a root):
    /// one on the way is refused, so that a directory of a root swapped for a symlink to a
    /// host directory after the analysis cannot bring a host file into the image.
    pub fn add_file(
        &mut self,
        dest: impl AsRef<Path>,
        source: impl AsRef<Path>,
    ) -> Result<(), Error> {
        let source = source.as_ref();
        let fd = match open_no_symlinks(source, rustix::fs::OFlags::PATH) {
            Err(rustix::io::Errno::LOOP) => {
                return Err(Error::SourceType {
                    path: source.to_path_buf(),
                    found: "reached through a symlink",
                    expected: "a path without symlinks",
                });
            }
            r => r.map_err(|e| Error::io(source)(e.into()))?,
        };
        let meta = fd.metadata().map_err(Error::io(source))?;
        if !meta.is_file() {
            return Err(Error::SourceType {
                path: source.to_path_buf(),
                found: file_kind(meta.file_type()),
                expected: "a regular file",
            });
        }
        let capability = read_capability(source)?;
        self.insert(
            dest.as_ref(),
            Node::File(FileSource {
                path: source.to_path_buf(),
                mode: meta.mode() & 0o7777,
                size: meta.len(),
                dev: meta.dev(),
                ino: meta.ino(),
                capability,
            }),
        )
    }

    /// Adds a symlink. The target is stored byte for byte (relative or absolute) and never
    /// followed.
    pub fn add_symlink(
        &mut self,
        dest: impl AsRef<Path>,
        target: impl AsRef<Path>,
    ) -> Result<(), Error> {
        self.add_symlink_with(dest.as_ref(), target.as_ref(), None)
    }

    /// Adds a symlink that is also at `host` (a host path, with the same target when it was
    /// read). The image holds `target` whatever `host` becomes; `host` only spares
    /// [`Tree::write_skeleton`] making a new inode.
    pub fn add_host_symlink(
        &mut self,
        dest: impl AsRef<Path>,
        target: impl AsRef<Path>,
        host: impl AsRef<Path>,
    ) -> Result<(), Error> {
        let host = host.as_ref().to_path_buf();
        self.add_symlink_with(dest.as_ref(), target.as_ref(), Some(host))
    }

    fn add_symlink_with(
        &mut self,
        dest: &Path,
        target: &Path,
        host: Option<PathBuf>,
    ) -> Result<(), Error> {
        let target = target.as_os_str();
        let reason = if target.is_empty() {
            Some("empty")
        } else if target.as_bytes().contains(&0) {
            Some("contains a NUL byte")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(Error::InvalidLinkTarget {
                path: image_path(&normalize(dest)?),
                target: PathBuf::from(target),
                reason,
            });
        }
        self.insert(
            dest,
            Node::Symlink {
                target: target.to_os_string(),
                host,
            },
        )
    }

    /// Adds a regular file with generated contents (an `/etc/passwd`, an `ld.so.cache`).
    pub fn add_bytes(
        &mut self,
        dest: impl AsRef<Path>,
        contents: impl Into<Vec<u8>>,
        mode: u32,
    ) -> Result<(), Error> {
        self.insert(
            dest.as_ref(),
            Node::Bytes {
                contents: contents.into(),
                mode: mode & 0o7777,
            },
        )
    }

    /// Whether the tree holds `dest` (explicitly or as a parent directory).
    pub fn contains(&self, dest: impl AsRef<Path>) -> bool {
        normalize(dest.as_ref()).is_ok_and(|p| self.nodes.contains_key(&p))
    }

    /// Number of entries, implicit parent directories included.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the tree has no entries.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Total size of the file contents the writers will copy (hard-linked inodes once), the
    /// `total` of [`Progress`](crate::Progress).
    pub fn content_bytes(&self) -> u64 {
        let mut seen = std::collections::BTreeSet::new();
        self.nodes
            .values()
            .map(|node| match node {
                Node::File(f) if seen.insert((f.dev, f.ino)) => f.size,
                Node::Bytes { contents, .. } => contents.len() as u64,
                _ => 0,
            })
            .sum()
    }

    fn insert(&mut self, dest: &Path, node: Node) -> Result<(), Error> {
        let path = normalize(dest)?;
        // Check everything before changing anything, so a refused insert leaves no trace.
        let parents: Vec<&Path> = path
            .ancestors()
            .skip(1)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        for parent in &parents {
            if let Some(existing) = self.nodes.get(*parent) {
                if !matches!(existing, Node::Dir { .. }) {
                    return Err(Error::ParentNotDirectory {
                        path: image_path(&path),
                        parent: image_path(parent),
                        kind: existing.kind(),
                    });
                }
            }
        }
        // A file added where the tree has a symlink that leads to that same file (the host
        // file named through another path) is already there: the symlink stays.
        if matches!(self.nodes.get(&path), Some(Node::Symlink { .. }))
            && self.follow(&path).is_some_and(|n| n.same_as(&node))
        {
            return Ok(());
        }
        if let Some(existing) = self.nodes.get_mut(&path) {
            return match (existing, node) {
                (
                    Node::Dir {
                        mode,
                        explicit: explicit @ false,
                    },
                    Node::Dir { mode: new, .. },
                ) => {
                    *mode = new;
                    *explicit = true;
                    Ok(())
                }
                (existing, node) if existing.same_as(&node) => Ok(()),
                (existing, node) => Err(Error::Conflict {
                    path: image_path(&path),
                    existing: existing.describe(),
                    new: node.describe(),
                }),
            };
        }
        for parent in parents {
            self.nodes.entry(parent.to_path_buf()).or_insert(Node::Dir {
                mode: IMPLICIT_DIR_MODE,
                explicit: false,
            });
        }
        self.nodes.insert(path, node);
        Ok(())
    }

    /// The entry `path` (a key) leads to in the image, its symlinks followed as the kernel
    /// would follow them there; `None` when it dangles, leaves the tree or loops.
    fn follow(&self, path: &Path) -> Option<&Node> {
        // Linux's MAXSYMLINKS.
        const MAX_LINKS: usize = 40;
        let mut pending: Vec<&OsStr> = path.iter().rev().collect();
        let mut at = PathBuf::new();
        let mut links = 0;
        while let Some(name) = pending.pop() {
            match name.as_bytes() {
                b"/" | b"." => continue,
                b".." => {
                    at.pop();
                    continue;
                }
                _ => {}
            }
            let next = at.join(name);
            match self.nodes.get(&next)? {
                Node::Symlink { target, .. } => {
                    links += 1;
                    if links > MAX_LINKS {
                        return None;
                    }
                    let target = Path::new(target);
                    if target.is_absolute() {
                        at = PathBuf::new();
                    }
                    pending.extend(target.iter().rev());
                }
                _ => at = next,
            }
        }
        self.nodes.get(&at)
    }
}

/// Turns an image path into the relative form the tree keys on.
fn normalize(dest: &Path) -> Result<PathBuf, Error> {
    let invalid = |reason| Error::InvalidPath {
        path: dest.to_path_buf(),
        reason,
    };
    let bytes = dest.as_os_str().as_bytes();
    if bytes.contains(&0) {
        return Err(invalid("contains a NUL byte"));
    }
    let mut out = PathBuf::new();
    for part in bytes.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err(invalid("contains `..`")),
            part => out.push(OsStr::from_bytes(part)),
        }
    }
    if out.as_os_str().is_empty() {
        return Err(invalid("names the image root, not an entry"));
    }
    Ok(out)
}

/// The absolute form of a tree key, for messages and reports.
pub(crate) fn image_path(rel: &Path) -> PathBuf {
    Path::new("/").join(rel)
}

fn file_kind(ft: fs::FileType) -> &'static str {
    if ft.is_symlink() {
        "a symlink"
    } else if ft.is_dir() {
        "a directory"
    } else if ft.is_file() {
        "a regular file"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_char_device() {
        "a character device"
    } else {
        "an unknown file type"
    }
}

/// Open `path` with `flags` (and `O_NOFOLLOW`, `O_CLOEXEC`), refusing a symlink in any of its
/// components with `ELOOP` (`openat2`'s `RESOLVE_NO_SYMLINKS`); with `O_NOFOLLOW` and
/// `O_PATH`, a symlink as the last component is opened itself, for `fstat` to report.
fn open_no_symlinks(path: &Path, flags: rustix::fs::OFlags) -> rustix::io::Result<fs::File> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let fd = rustix::fs::openat2(
        rustix::fs::CWD,
        path,
        flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::NO_SYMLINKS,
    )?;
    Ok(fs::File::from(fd))
}

/// The file capability of `path`, which [`open_no_symlinks`] has just opened: a swap in
/// between would be refused when the file is copied (its identity and its path are checked
/// again then).
fn read_capability(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    use rustix::io::Errno;
    // A vfs_cap_data is at most 24 bytes (revision 3); leave room.
    let mut buf = [0u8; 64];
    match rustix::fs::lgetxattr(path, CAPABILITY_XATTR, &mut buf[..]) {
        Ok(n) => Ok(Some(buf[..n].to_vec())),
        Err(Errno::NODATA | Errno::NOTSUP) => Ok(None),
        Err(e) => Err(Error::Io {
            path: path.to_path_buf(),
            source: e.into(),
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A file rewritten in place while it is copied keeps its size: its times give it away,
    /// and the copy is an error naming it.
    #[test]
    fn a_file_rewritten_while_copied_is_an_error() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("f");
        let len = 3 * 128 * 1024;
        fs::write(&src, vec![b'a'; len]).unwrap();
        let mut t = Tree::new();
        t.add_file("/f", &src).unwrap();
        let Some(Node::File(source)) = t.nodes.get(Path::new("f")) else {
            panic!("no file in {t:?}");
        };
        let copy = |rewrite: bool| {
            let done = AtomicBool::new(!rewrite);
            let after_first_chunk = |_: u64, _: u64| {
                if !done.swap(true, Ordering::Relaxed) {
                    // Past the coarse clock's tick that stamped the file.
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    fs::write(&src, vec![b'b'; len]).unwrap();
                }
            };
            let options = crate::WriteOptions {
                progress: Some(&after_first_chunk),
                ..crate::WriteOptions::default()
            };
            let mut counter = crate::archive::Counter::new(options, 0);
            let mut out = Vec::new();
            source.copy_to(&mut out, &mut counter).map(|()| out)
        };
        assert_eq!(copy(false).unwrap(), vec![b'a'; len]);
        let err = copy(true).unwrap_err();
        assert!(
            matches!(&err, Error::SourceChanged { path, what: "it changed while it was copied" } if *path == src),
            "{err:?}"
        );
        assert!(err.to_string().contains(&*src.to_string_lossy()), "{err}");
    }

    #[test]
    fn paths_are_normalized_and_parents_implicit() {
        let mut t = Tree::new();
        t.add_bytes("/usr//lib/./x.conf", "x", 0o644).unwrap();
        let keys: Vec<_> = t.nodes.keys().cloned().collect();
        assert_eq!(
            keys,
            [
                PathBuf::from("usr"),
                PathBuf::from("usr/lib"),
                PathBuf::from("usr/lib/x.conf")
            ]
        );
        assert!(t.contains("usr/lib"));
        assert!(t.contains("/usr/lib/x.conf"));
        assert!(matches!(
            t.nodes[Path::new("usr")],
            Node::Dir {
                mode: 0o755,
                explicit: false
            }
        ));
    }

    #[test]
    fn bad_paths_are_refused() {
        let mut t = Tree::new();
        for bad in ["/", "", "a/../b", "..", "/./"] {
            assert!(
                matches!(t.add_dir(bad, None), Err(Error::InvalidPath { .. })),
                "{bad:?}"
            );
        }
        assert!(matches!(
            t.add_symlink("/l", ""),
            Err(Error::InvalidLinkTarget { .. })
        ));
        assert!(t.is_empty());
    }

    #[test]
    fn inserts_conflict_or_repeat() {
        let mut t = Tree::new();
        t.add_symlink("/lib", "usr/lib").unwrap();
        t.add_symlink("/lib", "usr/lib").unwrap();
        let err = t.add_symlink("/lib", "usr/lib64").unwrap_err();
        assert!(matches!(&err, Error::Conflict { path, .. } if path == Path::new("/lib")));
        assert!(err.to_string().contains("/lib"), "{err}");
        let err = t.add_bytes("/lib/x", "x", 0o644).unwrap_err();
        assert!(
            matches!(&err, Error::ParentNotDirectory { parent, kind: "a symlink", .. } if parent == Path::new("/lib"))
        );
        // The refused insert created no parent.
        assert_eq!(t.len(), 1);

        t.add_bytes("/etc/passwd", "root", 0o644).unwrap();
        t.add_bytes("/etc/passwd", "root", 0o644).unwrap();
        assert!(matches!(
            t.add_bytes("/etc/passwd", "root", 0o600),
            Err(Error::Conflict { .. })
        ));
        assert!(matches!(
            t.add_dir("/etc/passwd", None),
            Err(Error::Conflict { .. })
        ));
        assert!(matches!(
            t.add_bytes("/etc", "x", 0o644),
            Err(Error::Conflict { .. })
        ));
    }

    #[test]
    fn a_file_added_over_a_symlink_to_it_merges() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("libtinfo.so.6.4");
        let other = dir.path().join("libother.so.1");
        fs::write(&lib, "lib").unwrap();
        fs::write(&other, "other").unwrap();
        // As the closure stages /lib/x86_64-linux-gnu/libtinfo.so.6 on a merged-/usr root.
        let mut t = Tree::new();
        t.add_symlink("/lib", "usr/lib").unwrap();
        t.add_symlink("/usr/lib/x/libtinfo.so.6", "libtinfo.so.6.4")
            .unwrap();
        t.add_file("/usr/lib/x/libtinfo.so.6.4", &lib).unwrap();
        let before = t.len();
        // The same file at the symlink's path, and through /lib, merge; the symlink stays.
        t.add_file("/usr/lib/x/libtinfo.so.6", &lib).unwrap();
        assert!(matches!(
            &t.nodes[Path::new("usr/lib/x/libtinfo.so.6")],
            Node::Symlink { target, .. } if target == "libtinfo.so.6.4"
        ));
        assert_eq!(t.len(), before);
        // Another file at the symlink's path still conflicts.
        let err = t.add_file("/usr/lib/x/libtinfo.so.6", &other).unwrap_err();
        assert!(matches!(err, Error::Conflict { .. }), "{err}");
        // An absolute target through a symlinked parent, and `..`, are followed too.
        t.add_symlink("/opt/abs", "/lib/x/../x/libtinfo.so.6")
            .unwrap();
        t.add_file("/opt/abs", &lib).unwrap();
        assert!(matches!(
            t.nodes[Path::new("opt/abs")],
            Node::Symlink { .. }
        ));
        // A loop or a dangling link is no file: a conflict, not a hang.
        t.add_symlink("/loop", "loop").unwrap();
        assert!(matches!(
            t.add_file("/loop", &lib),
            Err(Error::Conflict { .. })
        ));
        t.add_symlink("/dangling", "nowhere").unwrap();
        assert!(matches!(
            t.add_file("/dangling", &lib),
            Err(Error::Conflict { .. })
        ));
    }

    #[test]
    fn explicit_dir_mode_wins_over_implicit() {
        let mut t = Tree::new();
        t.add_bytes("/var/lib/x", "x", 0o644).unwrap();
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o1777),
        )
        .unwrap();
        t.add_dir("/var", Some(dir.path())).unwrap();
        assert!(matches!(
            t.nodes[Path::new("var")],
            Node::Dir {
                mode: 0o1777,
                explicit: true
            }
        ));
        // A later implicit use keeps it; a different explicit mode conflicts.
        t.add_bytes("/var/y", "y", 0o644).unwrap();
        t.add_dir("/var", Some(dir.path())).unwrap();
        assert!(matches!(
            t.add_dir("/var", None),
            Err(Error::Conflict { .. })
        ));
    }

    #[test]
    fn sources_of_the_wrong_type_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, "f").unwrap();
        let link = dir.path().join("l");
        std::os::unix::fs::symlink("f", &link).unwrap();
        let fifo = dir.path().join("p");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());

        let mut t = Tree::new();
        let found = |r: Result<(), Error>| match r {
            Err(Error::SourceType { found, .. }) => found,
            other => panic!("{other:?}"),
        };
        assert_eq!(found(t.add_file("/l", &link)), "a symlink");
        assert_eq!(found(t.add_file("/p", &fifo)), "a FIFO");
        assert_eq!(found(t.add_file("/d", dir.path())), "a directory");
        assert_eq!(
            found(t.add_file("/null", "/dev/null")),
            "a character device"
        );
        assert_eq!(found(t.add_dir("/f", Some(&file))), "a regular file");
        assert_eq!(found(t.add_dir("/l", Some(&link))), "a symlink");
        assert!(matches!(
            t.add_file("/missing", dir.path().join("missing")),
            Err(Error::Io { .. })
        ));
        assert!(t.is_empty());

        // The same inode through two host paths is the same entry.
        let hard = dir.path().join("h");
        fs::hard_link(&file, &hard).unwrap();
        t.add_file("/f", &file).unwrap();
        t.add_file("/f", &hard).unwrap();
        assert_eq!(t.content_bytes(), 1);
        t.add_file("/g", &hard).unwrap();
        assert_eq!(t.content_bytes(), 1, "hard links count once");
    }

    /// A directory on a source's path swapped for a symlink to another directory holding a
    /// file of the same name (a root's `usr/lib` for the host's) is refused, whether the swap
    /// comes before `add_file` or between it and the copy, and the error names the path.
    #[test]
    fn a_directory_swapped_for_a_symlink_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (lib, host) = (dir.path().join("lib"), dir.path().join("host"));
        for d in [&lib, &host] {
            fs::create_dir(d).unwrap();
            fs::write(d.join("libx.so"), "x").unwrap();
        }
        let source = lib.join("libx.so");
        let swap = || {
            fs::rename(&lib, dir.path().join("old")).unwrap();
            std::os::unix::fs::symlink(&host, &lib).unwrap();
        };

        let mut t = Tree::new();
        t.add_file("/libx.so", &source).unwrap();
        let node = t.nodes[Path::new("libx.so")].clone();
        let Node::File(f) = node else { panic!() };
        let copy = |f: &FileSource| {
            let mut counter = crate::archive::Counter::new(crate::WriteOptions::default(), 0);
            f.copy_to(&mut Vec::new(), &mut counter)
        };
        assert!(copy(&f).is_ok());
        swap();
        match copy(&f) {
            Err(e @ Error::SourceChanged { .. }) => {
                assert!(e.to_string().contains(&*source.to_string_lossy()), "{e}");
            }
            other => panic!("{other:?}"),
        }
        match Tree::new().add_file("/libx.so", &source) {
            Err(Error::SourceType { path, found, .. }) => {
                assert_eq!((path, found), (source, "reached through a symlink"));
            }
            other => panic!("{other:?}"),
        }
    }
}
