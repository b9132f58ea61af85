//! A root directory that stands for `/`: every path, symlink and configuration file is read
//! inside it, the way the kernel would see it after `chroot`.

use rustc_hash::FxHashMap;
use std::ffi::OsString;
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use crate::Error;

/// The kernel gives up after 40 symlinks in one lookup (`MAXSYMLINKS`); so do we.
const MAX_SYMLINKS: usize = 40;

/// One symlink met while resolving a path: where it is and what it says, both as seen
/// inside the root.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SymlinkHop {
    /// The link's own path inside the root (its parents already resolved).
    pub link: PathBuf,
    /// The link's target text, unchanged (absolute or relative).
    pub target: PathBuf,
}

/// The symlinks a resolution followed.
pub type Hops = std::sync::Arc<[SymlinkHop]>;

/// A path resolved inside a root.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The path with every symlink and `..` resolved, absolute inside the root.
    pub real: PathBuf,
    /// Every symlink followed on the way, in the order they were met; shared, since the
    /// remembered resolutions are handed out for every program that asks (on a merged-/usr
    /// host every library's path has a hop or two).
    pub hops: Hops,
    /// The `lstat` of `real` that ended the resolution (no symlink, so the file's own): what
    /// [`Root::metadata`] returns and what lets a read skip its `stat` before the open.
    /// `None` for the root itself.
    pub meta: Option<Metadata>,
}

/// A directory standing for `/` (the host's own `/`, or a sysroot).
#[derive(Debug)]
pub struct Root {
    dir: PathBuf,
    /// `dir` is `/`.
    host: bool,
    /// Directories already resolved (the loader, too, remembers which search directories
    /// exist): in-root path → resolved path, or `None` if it is not a directory.
    /// Both caches are keyed by the path's bytes: hashing a `Path` walks its components.
    dirs: Mutex<FxHashMap<OsString, Option<Resolved>>>,
    /// Paths already resolved: a search tries the same candidates for many programs.
    paths: Mutex<FxHashMap<OsString, Result<Resolved, Failure>>>,
}

/// A failed resolution, remembered without the path it is reported under.
#[derive(Debug, Clone, Copy)]
enum Failure {
    NotFound,
    Loop,
    Io(std::io::ErrorKind),
}

impl Failure {
    fn of(e: &Error) -> Failure {
        match e {
            Error::SymlinkLoop { .. } => Failure::Loop,
            Error::Io { source, .. } => Failure::Io(source.kind()),
            _ => Failure::NotFound,
        }
    }

    fn error(self, path: &Path) -> Error {
        let path = path.to_path_buf();
        match self {
            Failure::NotFound => Error::NotFound { path },
            Failure::Loop => Error::SymlinkLoop { path },
            Failure::Io(kind) => Error::Io {
                path,
                source: kind.into(),
            },
        }
    }
}

impl Root {
    /// A root at `dir` on the host (`/` for the host itself).
    pub fn new(dir: &Path) -> Result<Root, Error> {
        let dir = std::fs::canonicalize(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        if !dir.is_dir() {
            return Err(Error::RootNotDirectory { path: dir });
        }
        Ok(Root {
            host: dir == Path::new("/"),
            dir,
            dirs: Mutex::new(FxHashMap::default()),
            paths: Mutex::new(FxHashMap::default()),
        })
    }

    /// The host directory standing for `/`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// True when the root is the host's own `/`.
    pub fn is_host(&self) -> bool {
        self.host
    }

    /// The host path of an in-root absolute path, without resolving anything. Only for
    /// paths already resolved with [`Root::resolve`] (or known to hold no symlinks).
    pub fn host_path(&self, path: &Path) -> PathBuf {
        // The host's own root: an absolute path is its host path already (`strip_prefix`
        // and `join` parse the components, ~1,000 instructions a call, many calls a file).
        if self.host && path.as_os_str().as_bytes().first() == Some(&b'/') {
            return path.to_path_buf();
        }
        let rel = path.strip_prefix("/").unwrap_or(path);
        if rel.as_os_str().is_empty() {
            self.dir.clone()
        } else {
            self.dir.join(rel)
        }
    }

    /// The in-root path of a host path under the root (the inverse of [`Root::host_path`]).
    pub fn in_root(&self, host: &Path) -> Option<PathBuf> {
        host.strip_prefix(&self.dir)
            .ok()
            .map(|rel| Path::new("/").join(rel))
    }

    /// Resolve `path` (absolute inside the root) like the kernel: symlinks followed inside
    /// the root (an absolute target restarts at the root, `..` stops at it).
    pub fn resolve(&self, path: &Path) -> Result<Resolved, Error> {
        let cached = self.lock_paths().get(path.as_os_str()).cloned();
        if let Some(hit) = cached {
            return hit.map_err(|f| f.error(path));
        }
        let r = self.resolve_in(path, 0);
        let memo = r.as_ref().map(Clone::clone).map_err(Failure::of);
        self.lock_paths().insert(path.as_os_str().to_owned(), memo);
        r
    }

    /// Resolve through the remembered parent directory, then the last component; `links`
    /// counts the symlinks followed so far, for the loop limit.
    fn resolve_in(&self, path: &Path, links: usize) -> Result<Resolved, Error> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return self.walk(path);
        };
        if !path.is_absolute()
            || path
                .components()
                .any(|c| !matches!(c, Component::Normal(_) | Component::RootDir))
        {
            return self.walk(path);
        }
        // The directory's path and hops, not a copy of its whole resolution.
        let Some((candidate, dir_hops)) = self.with_dir(parent, |d| {
            d.map(|d| (d.real.join(name), Hops::clone(&d.hops)))
        }) else {
            return Err(Error::NotFound {
                path: path.to_path_buf(),
            });
        };
        let host = self.host_path(&candidate);
        let meta = std::fs::symlink_metadata(&host).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                Error::NotFound {
                    path: path.to_path_buf(),
                }
            } else {
                Error::Io {
                    path: candidate.clone(),
                    source,
                }
            }
        })?;
        if !meta.file_type().is_symlink() {
            return Ok(Resolved {
                real: candidate,
                hops: dir_hops,
                meta: Some(meta),
            });
        }
        if links >= MAX_SYMLINKS {
            return Err(Error::SymlinkLoop {
                path: path.to_path_buf(),
            });
        }
        let target = std::fs::read_link(&host).map_err(|source| Error::Io {
            path: candidate.clone(),
            source,
        })?;
        let next = match candidate.parent() {
            // Relative to the directory that holds the link.
            Some(dir) if !target.is_absolute() => dir.join(&target),
            _ => target.clone(),
        };
        let mut hops = dir_hops.to_vec();
        hops.push(SymlinkHop {
            link: candidate,
            target,
        });
        let rest = self.resolve_in(&next, links + 1).map_err(|e| match e {
            Error::NotFound { .. } => Error::NotFound {
                path: path.to_path_buf(),
            },
            Error::SymlinkLoop { .. } => Error::SymlinkLoop {
                path: path.to_path_buf(),
            },
            other => other,
        })?;
        hops.extend(rest.hops.iter().cloned());
        Ok(Resolved {
            real: rest.real,
            hops: hops.into(),
            meta: rest.meta,
        })
    }

    fn lock_paths(
        &self,
    ) -> std::sync::MutexGuard<'_, FxHashMap<OsString, Result<Resolved, Failure>>> {
        // As for `dirs`: a poisoned lock still guards a consistent map.
        self.paths.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Resolve `dir` if it is a directory, remembering the answer.
    pub fn resolve_dir(&self, dir: &Path) -> Option<Resolved> {
        self.with_dir(dir, |r| r.cloned())
    }

    /// Whether `dir` resolves to a directory (remembered as [`Root::resolve_dir`] is, and
    /// answered from memory without a copy of the resolution: a search asks this of every
    /// directory it tries).
    pub fn is_dir(&self, dir: &Path) -> bool {
        self.with_dir(dir, |r| r.is_some())
    }

    /// `f` of the remembered resolution of `dir` as a directory, resolving it first if it
    /// is not remembered yet.
    fn with_dir<T>(&self, dir: &Path, f: impl FnOnce(Option<&Resolved>) -> T) -> T {
        if let Some(hit) = self.lock_dirs().get(dir.as_os_str()) {
            return f(hit.as_ref());
        }
        let r = self.walk(dir).ok().filter(|r| match &r.meta {
            Some(m) => m.is_dir(),
            None => self.host_path(&r.real).is_dir(),
        });
        let answer = f(r.as_ref());
        self.lock_dirs().insert(dir.as_os_str().to_owned(), r);
        answer
    }

    fn lock_dirs(&self) -> std::sync::MutexGuard<'_, FxHashMap<OsString, Option<Resolved>>> {
        // A poisoned lock only means another thread panicked mid-insert of a cache entry;
        // the map is still consistent.
        self.dirs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `stat` of a path after resolving it inside the root.
    pub fn metadata(&self, path: &Path) -> Result<(Resolved, Metadata), Error> {
        let r = self.resolve(path)?;
        let m = match &r.meta {
            Some(m) => m.clone(),
            None => {
                std::fs::symlink_metadata(self.host_path(&r.real)).map_err(|source| Error::Io {
                    path: path.to_path_buf(),
                    source,
                })?
            }
        };
        Ok((r, m))
    }

    /// Read a whole file inside the root (following symlinks inside it).
    pub fn read(&self, path: &Path) -> Result<Vec<u8>, Error> {
        let r = self.resolve(path)?;
        std::fs::read(self.host_path(&r.real)).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Resolve `path` component by component, following every symlink (the slow way, for
    /// paths with `..` or relative parts).
    fn walk(&self, path: &Path) -> Result<Resolved, Error> {
        let mut hops = Vec::new();
        let mut links = 0usize;
        // Components still to walk, last first.
        let mut todo: Vec<OsString> = Vec::new();
        push_components(&mut todo, path);
        let mut done = PathBuf::from("/");
        let mut last = None;
        while let Some(name) = todo.pop() {
            if name == ".." {
                done.pop();
                // A directory already walked: its `lstat` is not at hand.
                last = None;
                continue;
            }
            let candidate = done.join(&name);
            let is_last = todo.is_empty();
            let meta = match std::fs::symlink_metadata(self.host_path(&candidate)) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && is_last => {
                    return Err(Error::NotFound {
                        path: path.to_path_buf(),
                    });
                }
                Err(source) => {
                    return Err(if source.kind() == std::io::ErrorKind::NotFound {
                        Error::NotFound {
                            path: path.to_path_buf(),
                        }
                    } else {
                        Error::Io {
                            path: candidate,
                            source,
                        }
                    });
                }
            };
            if meta.file_type().is_symlink() {
                // Where the link leads is not `lstat`ed yet (it may be a directory walked).
                last = None;
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(Error::SymlinkLoop {
                        path: path.to_path_buf(),
                    });
                }
                let target =
                    std::fs::read_link(self.host_path(&candidate)).map_err(|source| Error::Io {
                        path: candidate.clone(),
                        source,
                    })?;
                hops.push(SymlinkHop {
                    link: candidate,
                    target: target.clone(),
                });
                if target.is_absolute() {
                    done = PathBuf::from("/");
                }
                push_components(&mut todo, &target);
            } else {
                if !is_last && !meta.is_dir() {
                    return Err(Error::NotFound {
                        path: path.to_path_buf(),
                    });
                }
                done = candidate;
                last = Some(meta);
            }
        }
        Ok(Resolved {
            real: done,
            hops: hops.into(),
            meta: last,
        })
    }
}

/// Push the components of `p` onto `todo` so that popping yields them in order. `.` and
/// the root are dropped; `..` is kept for the walker.
fn push_components(todo: &mut Vec<OsString>, p: &Path) {
    let parts: Vec<OsString> = p
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect();
    todo.extend(parts.into_iter().rev());
}

/// Join a directory string as the loader does (`dir` + `/` + `name`), keeping the
/// directory's spelling: the result is what `ld.so --list` prints. Both are
/// [`name`](depclose_elf::name)-encoded, and so is the result.
pub(crate) fn loader_join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        return name.to_owned();
    }
    let mut s = String::with_capacity(dir.len() + 1 + name.len());
    s.push_str(dir);
    if !dir.ends_with('/') {
        s.push('/');
    }
    s.push_str(name);
    s
}

/// `dirname` as the loader computes `$ORIGIN` (`_dl_new_object`): everything before the last
/// `/`, or `/` itself for a file in the root directory.
pub(crate) fn loader_dirname(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => ".",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, symlink};

    fn tree() -> (tempfile::TempDir, Root) {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::create_dir_all(d.join("usr/lib/x")).unwrap();
        std::fs::write(d.join("usr/lib/x/libz.so.1.2"), b"z").unwrap();
        symlink("usr/lib", d.join("lib")).unwrap();
        symlink("libz.so.1.2", d.join("usr/lib/x/libz.so.1")).unwrap();
        symlink("/usr/lib/x/libz.so.1", d.join("abs")).unwrap();
        symlink("../../../../../../etc", d.join("usr/escape")).unwrap();
        symlink("loop2", d.join("loop1")).unwrap();
        symlink("loop1", d.join("loop2")).unwrap();
        let r = Root::new(d).unwrap();
        (t, r)
    }

    #[test]
    fn symlinks_are_followed_inside_the_root_and_recorded() {
        let (_t, r) = tree();
        let got = r.resolve(Path::new("/lib/x/libz.so.1")).unwrap();
        assert_eq!(got.real, Path::new("/usr/lib/x/libz.so.1.2"));
        let hops: Vec<_> = got
            .hops
            .iter()
            .map(|h| (h.link.clone(), h.target.clone()))
            .collect();
        assert_eq!(
            hops,
            vec![
                (PathBuf::from("/lib"), PathBuf::from("usr/lib")),
                (
                    PathBuf::from("/usr/lib/x/libz.so.1"),
                    PathBuf::from("libz.so.1.2")
                ),
            ]
        );
        let abs = r.resolve(Path::new("/abs")).unwrap();
        assert_eq!(abs.real, Path::new("/usr/lib/x/libz.so.1.2"));
    }

    #[test]
    fn dotdot_cannot_climb_out_and_loops_are_errors() {
        let (_t, r) = tree();
        // The escaping link lands on the root's /etc, which does not exist in the tree.
        assert!(matches!(
            r.resolve(Path::new("/usr/escape")),
            Err(Error::NotFound { .. })
        ));
        assert_eq!(
            r.resolve(Path::new("/../../usr/lib/../lib/x"))
                .unwrap()
                .real,
            Path::new("/usr/lib/x")
        );
        assert!(matches!(
            r.resolve(Path::new("/loop1")),
            Err(Error::SymlinkLoop { .. })
        ));
    }

    #[test]
    fn the_lstat_that_ends_a_resolution_is_the_files_own() {
        let (t, r) = tree();
        symlink("/", t.path().join("usr/top")).unwrap();
        let file = std::fs::metadata(t.path().join("usr/lib/x/libz.so.1.2")).unwrap();
        let dir = std::fs::metadata(t.path().join("usr/lib")).unwrap();
        // Through symlinks, the fast way and the component walk (`..`).
        for (path, want) in [
            ("/lib/x/libz.so.1", &file),
            ("/abs", &file),
            ("/usr/lib/x/../x/libz.so.1", &file),
            ("/lib", &dir),
        ] {
            let got = r.resolve(Path::new(path)).unwrap();
            let meta = got
                .meta
                .as_ref()
                .unwrap_or_else(|| panic!("{path}: no meta"));
            assert_eq!(
                (meta.ino(), meta.is_file()),
                (want.ino(), want.is_file()),
                "{path}"
            );
            let (_, m) = r.metadata(Path::new(path)).unwrap();
            assert_eq!(m.ino(), want.ino(), "{path}");
        }
        // Ended by a symlink to the root or by `..`: no `lstat` of the result is at hand,
        // and `metadata` makes one.
        for (path, real) in [
            ("/usr/top", "/"),
            ("/usr/..", "/"),
            ("/usr/lib/x/..", "/usr/lib"),
        ] {
            let got = r.resolve(Path::new(path)).unwrap();
            assert_eq!(got.real, Path::new(real), "{path}");
            assert!(got.meta.is_none(), "{path}");
            let (_, m) = r.metadata(Path::new(path)).unwrap();
            assert_eq!(
                m.ino(),
                std::fs::metadata(r.host_path(Path::new(real)))
                    .unwrap()
                    .ino(),
                "{path}"
            );
        }
    }

    #[test]
    fn loader_strings() {
        assert_eq!(loader_join("/a/", "b"), "/a/b");
        assert_eq!(loader_join("/a", "b"), "/a/b");
        assert_eq!(loader_dirname("/a/b/c.so"), "/a/b");
        assert_eq!(loader_dirname("/c.so"), "/");
    }
}
