//! The tree as a directory: what extracting the layer would give, without the tar.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, CWD, Timespec, Timestamps, XattrFlags};

use crate::archive::Counter;
use crate::tree::{CAPABILITY_XATTR, Node};
use crate::{Error, Tree, WriteOptions, WriteSummary};

impl Tree {
    /// Materialises the tree in `dest`, which must not exist or be an empty directory.
    ///
    /// It is built in a temporary directory beside `dest` and renamed at the end (nothing is
    /// left on error). Directories and files get their exact modes (same setuid policy as
    /// the layer) and `security.capability`; symlinks stay symlinks and several paths of one
    /// host inode become hard links. Every entry, symlinks and `dest` itself included, gets
    /// the mtime (and atime) `epoch`. When running as root every entry is owned by 0:0;
    /// otherwise by the caller. Writing a capability needs root (CAP_SETFCAP): without it a
    /// file with one is an error rather than a silently weaker copy.
    pub fn write_rootfs(
        &self,
        dest: &Path,
        options: &WriteOptions<'_>,
    ) -> Result<WriteSummary, Error> {
        options.check_cancel()?;
        match fs::symlink_metadata(dest) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(dest)(e)),
            Ok(meta) if meta.is_dir() => {
                let mut entries = fs::read_dir(dest).map_err(Error::io(dest))?;
                if entries.next().is_some() {
                    return Err(Error::DestinationNotEmpty {
                        path: dest.to_path_buf(),
                    });
                }
            }
            Ok(_) => {
                return Err(Error::DestinationNotEmpty {
                    path: dest.to_path_buf(),
                });
            }
        }
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let mut tmp = crate::TempDir::new_in(parent, "rootfs").map_err(Error::io(parent))?;
        let summary = Materializer::new(tmp.path(), options)?.run(self)?;
        options.pass_gate()?;
        // rename(2) replaces an empty directory.
        fs::rename(tmp.path(), dest).map_err(Error::io(dest))?;
        // Renamed away: nothing left to clean up.
        tmp.disable_cleanup();
        Ok(summary)
    }
}

impl Tree {
    /// A throwaway view of the tree, for reading it back (depclose re-resolves a staged image
    /// in one before writing it): directories and symlinks as in the tree, generated files
    /// written, regular files hard-linked to their sources — copied where a link is
    /// impossible (another filesystem) — and symlinks added with
    /// [`Tree::add_host_symlink`] hard-linked to the host's link while it has the same
    /// target. Nothing sets ownership, modes or times, so a linked
    /// source is never changed; unlike [`Tree::write_rootfs`], it is neither reproducible
    /// nor atomic. `dest` must not exist.
    pub fn write_skeleton(&self, dest: &Path) -> Result<(), Error> {
        fs::create_dir(dest).map_err(Error::io(dest))?;
        // Until a link is refused for want of a filesystem or a right, which the next would be.
        let mut linking = true;
        // Sorted by components: every parent comes before what it holds.
        for (path, node) in &self.nodes {
            let at = dest.join(path);
            let done = match node {
                Node::Dir { .. } => fs::create_dir(&at),
                Node::File(source) => match skeleton_link(&source.path, &at, &mut linking) {
                    true => Ok(()),
                    false => fs::copy(&source.path, &at).map(drop),
                },
                Node::Symlink { target, host } => {
                    skeleton_symlink(host.as_deref(), target, &at, &mut linking)
                }
                Node::Bytes { contents, .. } => fs::write(&at, contents),
            };
            done.map_err(Error::io(&at))?;
        }
        Ok(())
    }
}

/// Whether `source` could be hard-linked at `at` in a skeleton (flags 0: a symlink itself,
/// never followed). `linking` turns false, and no link is tried again, where none will work:
/// another filesystem, or links to others' files refused (`fs.protected_hardlinks`, each
/// refusal an audit record).
fn skeleton_link(source: &Path, at: &Path, linking: &mut bool) -> bool {
    if !*linking {
        return false;
    }
    match rustix::fs::linkat(CWD, source, CWD, at, AtFlags::empty()) {
        Ok(()) => true,
        Err(rustix::io::Errno::XDEV | rustix::io::Errno::PERM) => {
            *linking = false;
            false
        }
        Err(_) => false,
    }
}

/// A symlink to `target` at `at` in a skeleton: a hard link to `host` when that is a link
/// to the same target, else a new one. A new symlink is an inode to allocate, which ext4
/// makes slow beside a large write (ffmpeg's image: 0.7 ms each for its 507 links, a hard
/// link 0.07 ms). The target is read from the linked inode, which no rename can change.
fn skeleton_symlink(
    host: Option<&Path>,
    target: &OsStr,
    at: &Path,
    linking: &mut bool,
) -> io::Result<()> {
    if let Some(host) = host {
        if skeleton_link(host, at, linking) {
            if fs::read_link(at).is_ok_and(|t| t.as_os_str() == target) {
                return Ok(());
            }
            fs::remove_file(at)?;
        }
    }
    std::os::unix::fs::symlink(target, at)
}

struct Materializer<'a> {
    root: &'a Path,
    options: &'a WriteOptions<'a>,
    as_root: bool,
    mtime: Timestamps,
}

impl<'a> Materializer<'a> {
    fn new(root: &'a Path, options: &'a WriteOptions<'a>) -> Result<Self, Error> {
        let secs = i64::try_from(options.epoch).map_err(|_| {
            Error::InvalidConfig(format!("epoch {} is out of range", options.epoch))
        })?;
        let time = Timespec {
            tv_sec: secs,
            tv_nsec: 0,
        };
        Ok(Materializer {
            root,
            options,
            as_root: rustix::process::geteuid().is_root(),
            mtime: Timestamps {
                last_access: time,
                last_modification: time,
            },
        })
    }

    fn run(&self, tree: &Tree) -> Result<WriteSummary, Error> {
        let mut summary = WriteSummary::default();
        let mut counter = Counter::new(*self.options, tree.content_bytes());
        let mut first_path: BTreeMap<(u64, u64), PathBuf> = BTreeMap::new();
        let mut dirs = vec![(self.root.to_path_buf(), 0o755)];
        self.chown(self.root)?;
        for (rel, node) in &tree.nodes {
            summary.entries += 1;
            let path = self.root.join(rel);
            match node {
                Node::Dir { mode, .. } => {
                    // Owner-writable until the children are in; the real mode comes last.
                    DirBuilder::new()
                        .mode(0o700)
                        .create(&path)
                        .map_err(Error::io(&path))?;
                    self.chown(&path)?;
                    dirs.push((path, *mode));
                }
                Node::Symlink { target, .. } => {
                    std::os::unix::fs::symlink(target, &path).map_err(Error::io(&path))?;
                    if self.as_root {
                        std::os::unix::fs::lchown(&path, Some(0), Some(0))
                            .map_err(Error::io(&path))?;
                    }
                    self.set_mtime(&path)?;
                }
                Node::Bytes { contents, mode } => {
                    let mode = self.options.file_mode(*mode, rel, &mut summary);
                    let mut file = create(&path)?;
                    file.write_all(contents).map_err(Error::io(&path))?;
                    self.finish_file(file, &path, mode, None)?;
                    counter.add(contents.len() as u64)?;
                    summary.files += 1;
                    summary.content_bytes += contents.len() as u64;
                }
                Node::File(source) => {
                    let mode = self.options.file_mode(source.mode, rel, &mut summary);
                    if let Some(first) = first_path.get(&(source.dev, source.ino)) {
                        fs::hard_link(first, &path).map_err(Error::io(&path))?;
                        summary.hardlinks += 1;
                        continue;
                    }
                    let mut file = create(&path)?;
                    source
                        .copy_to(&mut file, &mut counter)
                        .map_err(|e| e.on_sink(&path))?;
                    self.finish_file(file, &path, mode, source.capability.as_deref())?;
                    first_path.insert((source.dev, source.ino), path);
                    summary.files += 1;
                    summary.content_bytes += source.size;
                }
            }
        }
        // Deepest first: creating children changed the parents' mtimes, and a read-only
        // mode must not stop the children being created.
        for (dir, mode) in dirs.iter().rev() {
            fs::set_permissions(dir, fs::Permissions::from_mode(*mode)).map_err(Error::io(dir))?;
            self.set_mtime(dir)?;
        }
        Ok(summary)
    }

    fn chown(&self, path: &Path) -> Result<(), Error> {
        if self.as_root {
            std::os::unix::fs::chown(path, Some(0), Some(0)).map_err(Error::io(path))?;
        }
        Ok(())
    }

    /// Owner, then mode (chown clears setuid bits), then capability (chown clears it too),
    /// then times (writing changed them).
    fn finish_file(
        &self,
        file: File,
        path: &Path,
        mode: u32,
        capability: Option<&[u8]>,
    ) -> Result<(), Error> {
        if self.as_root {
            std::os::unix::fs::fchown(&file, Some(0), Some(0)).map_err(Error::io(path))?;
        }
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(Error::io(path))?;
        if let Some(cap) = capability {
            rustix::fs::fsetxattr(&file, CAPABILITY_XATTR, cap, XattrFlags::empty())
                .map_err(|e| Error::io(path)(e.into()))?;
        }
        drop(file);
        self.set_mtime(path)
    }

    fn set_mtime(&self, path: &Path) -> Result<(), Error> {
        rustix::fs::utimensat(CWD, path, &self.mtime, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| Error::io(path)(e.into()))
    }
}

fn create(path: &Path) -> Result<File, Error> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(Error::io(path))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;

    use super::*;
    use crate::testutil::{self, CAP_NET_BIND_SERVICE, NON_UTF8};

    /// A cancelled write (a signal handler set the flag) stops with `Cancelled` and leaves
    /// nothing: no rootfs, no image, no temporary files beside them.
    #[test]
    fn a_cancelled_write_leaves_nothing() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let s = testutil::sample();
        // Cancelled before the start, and cancelled by the first chunk copied.
        for before in [true, false] {
            let flag = AtomicBool::new(before);
            let trip = |_: u64, _: u64| flag.store(true, Ordering::Relaxed);
            let options = WriteOptions {
                cancel: Some(&flag),
                progress: Some(&trip),
                ..WriteOptions::default()
            };
            let out = s.dir.path().join(format!("out-{before}"));
            fs::create_dir(&out).unwrap();
            let r = s.tree.write_rootfs(&out.join("rootfs"), &options);
            assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
            flag.store(before, Ordering::Relaxed);
            let config = crate::ImageConfig::new("amd64", vec!["/x".into()], "x:latest");
            let r = s.tree.write_image(&config, &out.join("x.tar"), &options);
            assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
            assert_eq!(fs::read_dir(&out).unwrap().count(), 0, "before={before}");
        }
    }

    /// The skeleton has every path of the tree, files as links to their sources, and leaves
    /// the sources exactly as they were (mode, times, owner).
    #[test]
    fn skeleton_links_files_and_leaves_sources_alone() {
        let s = testutil::sample();
        let dest = s.dir.path().join("skeleton");
        let before: Vec<(PathBuf, fs::Metadata)> = s
            .tree
            .nodes
            .values()
            .filter_map(|n| match n {
                Node::File(f) => Some((f.path.clone(), fs::metadata(&f.path).unwrap())),
                _ => None,
            })
            .collect();
        s.tree.write_skeleton(&dest).unwrap();
        for (path, node) in &s.tree.nodes {
            let at = dest.join(path);
            let meta = fs::symlink_metadata(&at).unwrap();
            match node {
                Node::Dir { .. } => assert!(meta.is_dir(), "{at:?}"),
                Node::File(f) => assert_eq!((meta.dev(), meta.ino()), (f.dev, f.ino), "{at:?}"),
                Node::Symlink { target, .. } => assert_eq!(fs::read_link(&at).unwrap(), *target),
                Node::Bytes { contents, .. } => assert_eq!(fs::read(&at).unwrap(), *contents),
            }
        }
        for (path, was) in before {
            let now = fs::metadata(&path).unwrap();
            assert_eq!(now.mode(), was.mode(), "{path:?}");
            assert_eq!(now.mtime(), was.mtime(), "{path:?}");
            assert_eq!((now.uid(), now.gid()), (was.uid(), was.gid()), "{path:?}");
        }
    }

    /// A symlink the host has with the same target is linked, not made again; one whose
    /// host link now points elsewhere (or is gone) is made with the tree's target.
    #[test]
    fn skeleton_links_host_symlinks_with_the_same_target() {
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().join("host");
        fs::create_dir(&host).unwrap();
        std::os::unix::fs::symlink("libz.so.1.3", host.join("same")).unwrap();
        std::os::unix::fs::symlink("elsewhere", host.join("changed")).unwrap();
        let mut tree = Tree::new();
        tree.add_host_symlink("/l/same", "libz.so.1.3", host.join("same"))
            .unwrap();
        tree.add_host_symlink("/l/changed", "libz.so.1.3", host.join("changed"))
            .unwrap();
        tree.add_host_symlink("/l/gone", "libz.so.1.3", host.join("gone"))
            .unwrap();
        let dest = dir.path().join("skeleton");
        tree.write_skeleton(&dest).unwrap();
        let inode = |p: &Path| {
            let m = fs::symlink_metadata(p).unwrap();
            (m.dev(), m.ino())
        };
        assert_eq!(inode(&dest.join("l/same")), inode(&host.join("same")));
        assert_ne!(inode(&dest.join("l/changed")), inode(&host.join("changed")));
        for name in ["same", "changed", "gone"] {
            let at = dest.join("l").join(name);
            assert_eq!(
                fs::read_link(&at).unwrap(),
                Path::new("libz.so.1.3"),
                "{at:?}"
            );
        }
        assert_eq!(
            fs::read_link(host.join("changed")).unwrap(),
            Path::new("elsewhere")
        );
    }

    /// On another filesystem than the sources, where no link works, files are copied and
    /// symlinks made.
    #[test]
    fn skeleton_on_another_filesystem_copies() {
        const TEST: &str = "skeleton_on_another_filesystem_copies";
        let s = testutil::sample();
        let other = Path::new("/dev/shm");
        let device = |p: &Path| fs::metadata(p).map(|m| m.dev()).ok();
        if device(other).is_none() || device(other) == device(s.dir.path()) {
            eprintln!("SKIPPED {TEST}: /dev/shm is not another filesystem here");
            return;
        }
        let scratch = tempfile::tempdir_in(other).unwrap();
        let dest = scratch.path().join("skeleton");
        s.tree.write_skeleton(&dest).unwrap();
        for (path, node) in &s.tree.nodes {
            let at = dest.join(path);
            match node {
                Node::File(f) => {
                    assert_eq!(fs::read(&at).unwrap(), fs::read(&f.path).unwrap(), "{at:?}");
                    assert_ne!(fs::metadata(&at).unwrap().ino(), f.ino, "{at:?}");
                }
                Node::Symlink { target, .. } => assert_eq!(fs::read_link(&at).unwrap(), *target),
                Node::Dir { .. } => assert!(fs::symlink_metadata(&at).unwrap().is_dir()),
                Node::Bytes { contents, .. } => assert_eq!(fs::read(&at).unwrap(), *contents),
            }
        }
    }

    #[test]
    fn rootfs_holds_the_tree() {
        let s = testutil::sample();
        let dest = s.dir.path().join("rootfs");
        let options = WriteOptions {
            epoch: 1_700_000_000,
            ..WriteOptions::default()
        };
        let summary = s.tree.write_rootfs(&dest, &options).unwrap();
        assert_eq!(summary.entries, s.tree.len());
        assert_eq!((summary.files, summary.hardlinks), (7, 1));
        assert_eq!(summary.dropped_setuid, [PathBuf::from("/usr/bin/su")]);

        let meta = |p: &str| fs::symlink_metadata(dest.join(p)).unwrap();
        let mode = |p: &str| meta(p).mode() & 0o7777;
        assert_eq!(mode(""), 0o755);
        assert_eq!(mode("etc"), 0o750);
        assert_eq!(mode("usr/bin/tool"), 0o755);
        assert_eq!(mode("usr/bin/su"), 0o755);
        assert_eq!(mode(&testutil::long_name()), 0o600);
        assert_eq!(
            fs::read(dest.join("etc/passwd")).unwrap(),
            b"root:x:0:0::/:/bin/sh\n"
        );
        assert_eq!(
            fs::read(dest.join("usr/lib/libx.so.1.2")).unwrap(),
            fs::read(s.host("lib/libx.so.1.2")).unwrap()
        );
        assert_eq!(
            meta("usr/lib/libx.so.1.2").ino(),
            meta("usr/lib/zz-hard.so").ino()
        );
        assert_eq!(meta("usr/lib/zz-hard.so").nlink(), 2);
        assert_eq!(
            fs::read_link(dest.join("lib")).unwrap(),
            PathBuf::from("usr/lib")
        );
        assert_eq!(
            fs::read(dest.join(OsStr::from_bytes(NON_UTF8))).unwrap(),
            "café".as_bytes()
        );
        for entry in ["", "etc", "usr", "usr/bin/tool", "lib", "usr/lib/libx.so.1"] {
            assert_eq!(meta(entry).mtime(), 1_700_000_000, "{entry:?}");
        }
        if rustix::process::geteuid().is_root() {
            assert_eq!((meta("usr").uid(), meta("lib").gid()), (0, 0));
        }
        if s.has_cap {
            let mut buf = [0u8; 64];
            let n = rustix::fs::getxattr(dest.join("usr/bin/ping"), CAPABILITY_XATTR, &mut buf[..])
                .unwrap();
            assert_eq!(&buf[..n], CAP_NET_BIND_SERVICE);
        }
        // Only the rootfs beside the host files: the temporary directory was renamed.
        let names: Vec<_> = fs::read_dir(s.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    /// A tree cannot hold an entry below one of its own symlinks, in either order of adding,
    /// so the writer (which joins paths below its own new directory) never goes through one:
    /// the symlink is written as a symlink, and nothing lands where it points.
    #[test]
    fn nothing_is_written_through_a_symlink_of_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        let mut tree = Tree::new();
        tree.add_symlink("/usr/lib", &outside).unwrap();
        assert!(matches!(
            tree.add_bytes("/usr/lib/libfoo.so", "x", 0o644),
            Err(Error::ParentNotDirectory { .. })
        ));
        let mut other = Tree::new();
        other.add_bytes("/usr/lib/libfoo.so", "x", 0o644).unwrap();
        assert!(matches!(
            other.add_symlink("/usr/lib", &outside),
            Err(Error::Conflict { .. })
        ));
        tree.add_bytes("/usr/lib64/libfoo.so", "x", 0o644).unwrap();
        let dest = dir.path().join("rootfs");
        tree.write_rootfs(&dest, &WriteOptions::default()).unwrap();
        assert_eq!(fs::read_link(dest.join("usr/lib")).unwrap(), outside);
        assert!(dest.join("usr/lib64/libfoo.so").is_file());
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
    }

    #[test]
    fn destination_must_be_empty_and_errors_clean_up() {
        let s = testutil::sample();
        let dest = s.dir.path().join("rootfs");
        fs::create_dir(&dest).unwrap();
        fs::write(dest.join("x"), "x").unwrap();
        assert!(matches!(
            s.tree.write_rootfs(&dest, &WriteOptions::default()),
            Err(Error::DestinationNotEmpty { .. })
        ));
        fs::remove_file(dest.join("x")).unwrap();

        fs::write(s.host("bin/tool"), "changed size").unwrap();
        assert!(matches!(
            s.tree.write_rootfs(&dest, &WriteOptions::default()),
            Err(Error::SourceChanged { .. })
        ));
        assert_eq!(fs::read_dir(s.dir.path()).unwrap().count(), 2);
        assert_eq!(fs::read_dir(&dest).unwrap().count(), 0);

        // An empty directory is replaced.
        fs::write(s.host("bin/tool"), "#!tool\n").unwrap();
        let mut tree = Tree::new();
        tree.add_file("/tool", s.host("bin/tool")).unwrap();
        tree.write_rootfs(&dest, &WriteOptions::default()).unwrap();
        assert!(dest.join("tool").is_file());
    }
}
