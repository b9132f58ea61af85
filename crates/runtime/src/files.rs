//! The file-access seam every configuration reader goes through: files of a root, seen as
//! the program will see them, and never a byte from outside the root.
//!
//! A [`Files`] implementation provides three primitives on paths whose parents hold no
//! symlink (an `lstat`, a read, a directory listing); everything else — symlink resolution
//! re-rooted at `/` with `..` stopping at it and the kernel's 40-link limit, `is_dir`,
//! sorted listings, shell globs — is built on them once. A path that escapes the root, loops
//! or does not exist is simply not there.
//!
//! [`depclose_resolve::Root`] is the root's own view; an [`Overlay`] puts the image's own
//! files over it (a file the user adds to the image at a path wins over the root's).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use depclose_elf::name;
use depclose_resolve::Root;

/// The kernel gives up after 40 symlinks in one lookup (`MAXSYMLINKS`); so do we.
const MAX_SYMLINKS: usize = 40;

/// What a path names, without following a final symlink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    File,
    Dir,
    /// A symlink and its target text.
    Symlink(PathBuf),
    /// A device, socket or FIFO: there, but never read as a configuration file.
    Other,
}

/// Read access to the files of a root. Paths are absolute inside the root.
pub trait Files {
    /// What is at `path`, whose parents are real directories (no symlink among them); the
    /// final component is not followed. `None` when nothing is there.
    fn entry(&self, path: &Path) -> Option<Entry>;

    /// The bytes of the regular file at `path`, already resolved.
    fn read_resolved(&self, path: &Path) -> Option<Vec<u8>>;

    /// The names in the directory at `path`, already resolved, in any order.
    fn list_resolved(&self, path: &Path) -> Option<Vec<OsString>>;

    /// `path` with every symlink and `..` resolved inside the root, if it exists.
    fn resolve(&self, path: &Path) -> Option<PathBuf> {
        resolve_with(self, path)
    }

    /// The bytes of the file at `path` (symlinks followed inside the root).
    fn read(&self, path: &Path) -> Option<Vec<u8>> {
        let real = self.resolve(path)?;
        match self.entry(&real)? {
            Entry::File => self.read_resolved(&real),
            _ => None,
        }
    }

    /// The file at `path` as text; bytes that are not UTF-8 become U+FFFD (configuration
    /// grammars are ASCII; a mangled byte in a value only mangles that value).
    fn read_to_string(&self, path: &Path) -> Option<String> {
        self.read(path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// True when `path` is (or leads by symlinks to) a directory.
    fn is_dir(&self, path: &Path) -> bool {
        self.resolve(path)
            .is_some_and(|r| self.entry(&r) == Some(Entry::Dir))
    }

    /// True when `path` is (or leads by symlinks to) a regular file.
    fn is_file(&self, path: &Path) -> bool {
        self.resolve(path)
            .is_some_and(|r| self.entry(&r) == Some(Entry::File))
    }

    /// True when something is at `path` after following symlinks (`stat` succeeds).
    fn exists(&self, path: &Path) -> bool {
        self.resolve(path).is_some_and(|r| self.entry(&r).is_some())
    }

    /// The names in directory `dir` (symlinks followed), sorted bytewise like `strcmp`,
    /// without `.` and `..`. `None` when `dir` is not a directory.
    fn list_dir(&self, dir: &Path) -> Option<Vec<OsString>> {
        let real = self.resolve(dir)?;
        if self.entry(&real)? != Entry::Dir {
            return None;
        }
        let mut names = self.list_resolved(&real)?;
        names.retain(|n| n != "." && n != "..");
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        names.dedup();
        Some(names)
    }

    /// The paths matching an absolute shell pattern (`*`, `?`, `[...]` in any component):
    /// each wildcard component is matched against the sorted listing of its directory
    /// (`fnmatch(3)` with `FNM_PERIOD`: a leading `.` only by a literal `.`), and a
    /// component followed by more only matches directories. The order is httpd's
    /// (`ap_dir_fnmatch`: directory by directory); `glob(3)` sorts whole paths instead,
    /// which differs only when a wildcard is not in the last component. Paths come back as
    /// matched (not resolved).
    fn glob(&self, pattern: &Path) -> Vec<PathBuf> {
        let mut found = vec![PathBuf::from("/")];
        let parts = depclose_resolve::glob_components(pattern);
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            let mut next = Vec::new();
            let text = name::from_os(part);
            let wild = has_wildcard(&text);
            for dir in &found {
                if !wild {
                    let p = dir.join(part);
                    if (last && self.exists(&p)) || (!last && self.is_dir(&p)) {
                        next.push(p);
                    }
                    continue;
                }
                let Ok(pat) = glob::Pattern::new(&text) else {
                    // An unbalanced `[` matches itself literally, as in fnmatch(3).
                    let p = dir.join(part);
                    if self.exists(&p) {
                        next.push(p);
                    }
                    continue;
                };
                for name in self.list_dir(dir).unwrap_or_default() {
                    if !pat.matches_with(&name::from_os(&name), MATCH) {
                        continue;
                    }
                    let p = dir.join(&name);
                    if last || self.is_dir(&p) {
                        next.push(p);
                    }
                }
            }
            found = next;
        }
        found
    }
}

/// `fnmatch(3)` with `FNM_PATHNAME | FNM_PERIOD`, case-sensitive, as glob(3) and httpd's
/// `apr_fnmatch(…, APR_FNM_PERIOD)` match one component.
const MATCH: glob::MatchOptions = glob::MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: true,
};

/// True when `s` holds a shell wildcard (`*`, `?` or `[`), as `apr_fnmatch_test` and nginx's
/// `strpbrk(…, "*?[")` decide whether a path is a pattern.
pub(crate) fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Resolve `path` on a [`Files`] through its `entry` primitive, the way the kernel walks a
/// path after `chroot`.
fn resolve_with<F: Files + ?Sized>(files: &F, path: &Path) -> Option<PathBuf> {
    let mut todo: Vec<OsString> = Vec::new();
    push_components(&mut todo, path);
    let mut done = PathBuf::from("/");
    let mut links = 0usize;
    while let Some(name) = todo.pop() {
        if name == ".." {
            done.pop();
            continue;
        }
        let candidate = done.join(&name);
        match files.entry(&candidate)? {
            Entry::Symlink(target) => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return None;
                }
                if target.is_absolute() {
                    done = PathBuf::from("/");
                }
                push_components(&mut todo, &target);
            }
            Entry::Dir => done = candidate,
            Entry::File | Entry::Other => {
                if !todo.is_empty() {
                    return None;
                }
                done = candidate;
            }
        }
    }
    Some(done)
}

/// Push the components of `p` so that popping yields them in order; `.` and `/` dropped.
fn push_components(todo: &mut Vec<OsString>, p: &Path) {
    let parts: Vec<OsString> = p
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect();
    todo.extend(parts.into_iter().rev());
}

/// `path` made absolute and with `.` and `..` removed lexically (`..` stops at `/`).
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// A borrowed view is a view: an [`Overlay`] can cover a root that a resolver owns.
impl<T: Files + ?Sized> Files for &T {
    fn entry(&self, path: &Path) -> Option<Entry> {
        (**self).entry(path)
    }

    fn read_resolved(&self, path: &Path) -> Option<Vec<u8>> {
        (**self).read_resolved(path)
    }

    fn list_resolved(&self, path: &Path) -> Option<Vec<OsString>> {
        (**self).list_resolved(path)
    }

    fn resolve(&self, path: &Path) -> Option<PathBuf> {
        (**self).resolve(path)
    }
}

/// A `Root`'s own `read` and `resolve` (which say why they failed) shadow the trait's on a
/// `Root` value: call these as `Files::read(&root, path)`, or through a generic or `dyn`.
///
/// Each primitive re-resolves its parents inside the root (the root remembers resolved
/// directories), so that even a caller that breaks their contract never makes the host
/// follow a symlink out of the root.
impl Files for Root {
    fn entry(&self, path: &Path) -> Option<Entry> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Some(Entry::Dir);
        };
        // The root remembers what it resolved, with the `lstat` that ended it and the links
        // on the way: a configuration reader asks of the same paths again and again (an
        // overlay resolves through this, a component at a time), and each was a `statx`.
        if let Ok(r) = Root::resolve(self, path) {
            match (&r.meta, r.hops.first()) {
                (Some(meta), _) if r.real == path => return Some(kind(meta)),
                (_, Some(hop)) if hop.link == path => {
                    return Some(Entry::Symlink(hop.target.clone()));
                }
                _ => {}
            }
        }
        let real = self.resolve_dir(parent)?.real.join(name);
        let host = self.host_path(&real);
        let meta = std::fs::symlink_metadata(&host).ok()?;
        Some(if meta.file_type().is_symlink() {
            Entry::Symlink(std::fs::read_link(&host).ok()?)
        } else {
            kind(&meta)
        })
    }

    fn read_resolved(&self, path: &Path) -> Option<Vec<u8>> {
        Root::read(self, path).ok()
    }

    fn list_resolved(&self, path: &Path) -> Option<Vec<OsString>> {
        let dir = self.resolve_dir(path)?;
        let rd = std::fs::read_dir(self.host_path(&dir.real)).ok()?;
        Some(rd.filter_map(|e| Some(e.ok()?.file_name())).collect())
    }

    /// The root's own resolver, whose answers it remembers.
    fn resolve(&self, path: &Path) -> Option<PathBuf> {
        Root::resolve(self, path).ok().map(|r| r.real)
    }
}

/// What an `lstat` that is not of a symlink says is there.
fn kind(meta: &std::fs::Metadata) -> Entry {
    if meta.is_dir() {
        Entry::Dir
    } else if meta.is_file() {
        Entry::File
    } else {
        Entry::Other
    }
}

/// The image's files over a base: each image path of the map shows the file (or directory
/// tree) at its source path in the base, whatever the base holds at the image path; every
/// other path is the base's.
///
/// Image paths are placed where the base's symlinks lead: an image path whose directory the
/// base reaches through a symlink (`/lib/x.so` with `/lib -> usr/lib`) is filed under the
/// resolved directory (`/usr/lib/x.so`), so lookups through either spelling see it. Their
/// directories the base lacks are the overlay's own, and list the image paths in them.
#[derive(Debug)]
pub struct Overlay<F> {
    base: F,
    /// Image path (parents resolved in the base) → source path in the base, resolved.
    added: BTreeMap<PathBuf, PathBuf>,
    /// Every proper ancestor of an image path.
    dirs: BTreeSet<PathBuf>,
}

impl<F: Files> Overlay<F> {
    /// The base with `added` (image path → in-base source path) over it. A source the base
    /// does not have hides nothing: its image path stays the base's.
    pub fn new(base: F, added: BTreeMap<PathBuf, PathBuf>) -> Overlay<F> {
        let mut map = BTreeMap::new();
        let mut dirs = BTreeSet::new();
        for (image, source) in added {
            let Some(source) = base.resolve(&source) else {
                continue;
            };
            let image = place(&base, &normalize(&image));
            let mut a = image.parent();
            while let Some(d) = a {
                dirs.insert(d.to_path_buf());
                a = d.parent();
            }
            map.insert(image, source);
        }
        Overlay {
            base,
            added: map,
            dirs,
        }
    }

    /// The base this overlay covers.
    pub fn base(&self) -> &F {
        &self.base
    }

    /// Whether `path` (symlinks followed) is one of the image's own files, or lies in a
    /// directory the image adds whole.
    pub fn adds(&self, path: &Path) -> bool {
        self.resolve(path)
            .is_some_and(|real| self.redirect(&real).is_some())
    }

    /// The base path that stands for `path` when `path` is an image path or lies under
    /// one (a directory added whole).
    fn redirect(&self, path: &Path) -> Option<PathBuf> {
        let mut a = Some(path);
        while let Some(p) = a {
            if let Some(src) = self.added.get(p) {
                let rest = path.strip_prefix(p).unwrap_or(Path::new(""));
                return Some(if rest.as_os_str().is_empty() {
                    src.clone()
                } else {
                    src.join(rest)
                });
            }
            a = p.parent();
        }
        None
    }
}

/// Where `image` lives once its parent directory is resolved in the base: the longest
/// prefix the base resolves, with the rest appended.
fn place<F: Files + ?Sized>(base: &F, image: &Path) -> PathBuf {
    let (Some(parent), Some(name)) = (image.parent(), image.file_name()) else {
        return image.to_path_buf();
    };
    let mut head = parent.to_path_buf();
    let mut tail: Vec<OsString> = Vec::new();
    loop {
        if let Some(real) = base
            .resolve(&head)
            .filter(|r| base.entry(r) == Some(Entry::Dir))
        {
            let mut out = real;
            out.extend(tail.iter().rev());
            out.push(name);
            return out;
        }
        match (head.file_name().map(OsStr::to_os_string), head.parent()) {
            (Some(n), Some(p)) => {
                tail.push(n);
                head = p.to_path_buf();
            }
            _ => return image.to_path_buf(),
        }
    }
}

impl<F: Files> Files for Overlay<F> {
    fn entry(&self, path: &Path) -> Option<Entry> {
        if let Some(src) = self.redirect(path) {
            // Sources were resolved when the overlay was made; below a directory added
            // whole, the base's entries (symlinks too) show through unchanged.
            return self.base.entry(&src);
        }
        if self.dirs.contains(path) {
            return Some(Entry::Dir);
        }
        self.base.entry(path)
    }

    fn read_resolved(&self, path: &Path) -> Option<Vec<u8>> {
        match self.redirect(path) {
            Some(src) => self.base.read(&src),
            None => self.base.read_resolved(path),
        }
    }

    fn list_resolved(&self, path: &Path) -> Option<Vec<OsString>> {
        let mut names = match self.redirect(path) {
            Some(src) => self.base.list_dir(&src).unwrap_or_default(),
            None if self.base.entry(path) == Some(Entry::Dir) => {
                self.base.list_resolved(path).unwrap_or_default()
            }
            None => Vec::new(),
        };
        for p in self.added.keys().chain(self.dirs.iter()) {
            if p.parent() == Some(path)
                && let Some(n) = p.file_name()
            {
                names.push(n.to_os_string());
            }
        }
        Some(names)
    }

    /// Resolved through the overlay's own entries, so image paths win over the base's
    /// symlinks too.
    fn resolve(&self, path: &Path) -> Option<PathBuf> {
        resolve_with(self, path)
    }
}

/// Files held in memory, for tests that need many small trees and for the fuzz targets.
#[derive(Debug, Default)]
pub(crate) struct MemFiles(pub(crate) BTreeMap<PathBuf, Vec<u8>>);

impl Files for MemFiles {
    fn entry(&self, path: &Path) -> Option<Entry> {
        if self.0.contains_key(path) {
            Some(Entry::File)
        } else if path == Path::new("/") || self.0.keys().any(|k| k.starts_with(path)) {
            Some(Entry::Dir)
        } else {
            None
        }
    }

    fn read_resolved(&self, path: &Path) -> Option<Vec<u8>> {
        self.0.get(path).cloned()
    }

    fn list_resolved(&self, path: &Path) -> Option<Vec<OsString>> {
        Some(
            self.0
                .keys()
                .filter_map(|k| k.strip_prefix(path).ok()?.iter().next())
                .map(OsStr::to_os_string)
                .collect(),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A small root: `/etc/app` with files, a relative and an absolute symlink, one that
    /// climbs out of the root, and a loop.
    fn tree() -> (tempfile::TempDir, Root) {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::create_dir_all(d.join("etc/app/conf.d/sub")).unwrap();
        std::fs::create_dir_all(d.join("usr/lib")).unwrap();
        std::fs::write(d.join("etc/app/main.conf"), b"main").unwrap();
        std::fs::write(d.join("etc/app/conf.d/b.conf"), b"b").unwrap();
        std::fs::write(d.join("etc/app/conf.d/a.conf"), b"a").unwrap();
        std::fs::write(d.join("etc/app/conf.d/.hidden.conf"), b"h").unwrap();
        std::fs::write(d.join("etc/app/conf.d/sub/c.conf"), b"c").unwrap();
        std::fs::write(d.join("usr/lib/x.so"), b"x").unwrap();
        symlink("usr/lib", d.join("lib")).unwrap();
        symlink("a.conf", d.join("etc/app/conf.d/z.conf")).unwrap();
        symlink("/usr/lib/x.so", d.join("etc/app/abs")).unwrap();
        symlink("../../../../../../../etc/passwd", d.join("etc/app/escape")).unwrap();
        symlink("loop2", d.join("etc/loop1")).unwrap();
        symlink("loop1", d.join("etc/loop2")).unwrap();
        let r = Root::new(d).unwrap();
        (t, r)
    }

    #[test]
    fn reads_follow_symlinks_inside_the_root_only() {
        let (t, r) = tree();
        // `Files::read`, not the root's own (which reports why a read failed).
        let read = |p: &str| Files::read(&r, Path::new(p));
        assert_eq!(read("/etc/app/abs").unwrap(), b"x");
        assert_eq!(
            r.read_to_string(Path::new("/etc/app/conf.d/z.conf"))
                .unwrap(),
            "a"
        );
        // The host's /etc/passwd exists, the root's does not: nothing outside is read.
        assert_eq!(read("/etc/app/escape"), None);
        assert_eq!(read("/etc/loop1"), None);
        assert_eq!(read("/etc/app"), None);
        assert!(r.is_dir(Path::new("/lib")));
        assert!(r.is_file(Path::new("/lib/x.so")));
        assert!(!r.is_file(Path::new("/lib")));
        assert!(!r.is_dir(Path::new("/etc/app/escape")));
        // Even the primitives, handed a path through symlinks, stay in the root: `/abs2`
        // points at the root's `/usr/lib`, not the host's.
        symlink("/usr/lib", t.path().join("abs2")).unwrap();
        assert_eq!(r.entry(Path::new("/abs2/x.so")), Some(Entry::File));
        assert_eq!(r.list_resolved(Path::new("/abs2")).unwrap(), ["x.so"]);
        assert_eq!(r.read_resolved(Path::new("/abs2/x.so")).unwrap(), b"x");
    }

    #[test]
    fn listings_are_sorted_and_globs_match_like_glob3() {
        let (_t, r) = tree();
        let names = r.list_dir(Path::new("/etc/app/conf.d")).unwrap();
        assert_eq!(names, [".hidden.conf", "a.conf", "b.conf", "sub", "z.conf"]);
        assert_eq!(
            r.glob(Path::new("/etc/app/conf.d/*.conf")),
            [
                "/etc/app/conf.d/a.conf",
                "/etc/app/conf.d/b.conf",
                "/etc/app/conf.d/z.conf"
            ]
            .map(PathBuf::from)
        );
        assert_eq!(
            r.glob(Path::new("/etc/*/conf.d/s?b/[a-c].conf")),
            [PathBuf::from("/etc/app/conf.d/sub/c.conf")]
        );
        assert_eq!(
            r.glob(Path::new("/etc/app/conf.d/.h*")),
            [PathBuf::from("/etc/app/conf.d/.hidden.conf")]
        );
        assert!(r.glob(Path::new("/etc/app/nothere/*.conf")).is_empty());
        // A middle component only matches directories.
        assert!(r.glob(Path::new("/etc/app/*/c.conf")).is_empty());
        assert_eq!(r.glob(Path::new("/lib/*.so")), [PathBuf::from("/lib/x.so")]);
    }

    /// Names and patterns that are not UTF-8 match by their bytes (one character per stray
    /// byte, as glob(3) in the C locale takes one byte for `?`), and come back as them.
    #[test]
    fn globs_match_names_that_are_not_utf8() {
        use std::os::unix::ffi::OsStrExt;
        let (t, r) = tree();
        let (ff, fe) = (
            OsStr::from_bytes(b"m\xff.so"),
            OsStr::from_bytes(b"m\xfe.so"),
        );
        for odd in [ff, fe] {
            std::fs::write(t.path().join("usr/lib").join(odd), b"m").unwrap();
        }
        let lib = Path::new("/lib");
        assert_eq!(
            r.glob(&lib.join(OsStr::from_bytes(b"m\xff*"))),
            [lib.join(ff)]
        );
        assert_eq!(
            r.glob(Path::new("/lib/m?.so")),
            [lib.join(fe), lib.join(ff)]
        );
    }

    #[test]
    fn the_overlay_wins_and_shows_in_listings() {
        let (t, r) = tree();
        std::fs::create_dir_all(t.path().join("src/tree")).unwrap();
        std::fs::write(t.path().join("src/mine.conf"), b"mine").unwrap();
        std::fs::write(t.path().join("src/tree/t.so"), b"t").unwrap();
        let added = BTreeMap::from([
            // Over a file of the base (reached also through the base's symlink z.conf).
            ("/etc/app/conf.d/a.conf".into(), "/src/mine.conf".into()),
            // Through a symlinked directory of the base.
            ("/lib/new.so".into(), "/src/mine.conf".into()),
            // In directories the base lacks, and a directory added whole.
            ("/opt/app/one.conf".into(), "/src/mine.conf".into()),
            ("/opt/mods".into(), "/src/tree".into()),
            ("/opt/mods/more.so".into(), "/src/mine.conf".into()),
            // A source the base lacks changes nothing.
            ("/etc/app/main.conf".into(), "/src/none".into()),
        ]);
        let o = Overlay::new(&r, added);
        let read = |p: &str| o.read(Path::new(p)).map(|b| String::from_utf8(b).unwrap());
        assert_eq!(read("/etc/app/conf.d/a.conf").as_deref(), Some("mine"));
        assert_eq!(read("/etc/app/conf.d/z.conf").as_deref(), Some("mine"));
        assert_eq!(read("/lib/new.so").as_deref(), Some("mine"));
        assert_eq!(read("/usr/lib/new.so").as_deref(), Some("mine"));
        assert_eq!(read("/opt/app/one.conf").as_deref(), Some("mine"));
        assert_eq!(read("/opt/mods/t.so").as_deref(), Some("t"));
        assert_eq!(read("/etc/app/main.conf").as_deref(), Some("main"));
        assert!(o.is_dir(Path::new("/opt")));
        assert_eq!(o.list_dir(Path::new("/lib")).unwrap(), ["new.so", "x.so"]);
        assert_eq!(o.list_dir(Path::new("/opt")).unwrap(), ["app", "mods"]);
        assert_eq!(read("/opt/mods/more.so").as_deref(), Some("mine"));
        assert_eq!(
            o.glob(Path::new("/opt/*/*")),
            ["/opt/app/one.conf", "/opt/mods/more.so", "/opt/mods/t.so"].map(PathBuf::from)
        );
        assert_eq!(o.read(Path::new("/etc/app/escape")), None);
        assert!(o.base().is_dir(Path::new("/etc")));
    }

    #[test]
    fn normalize_stops_at_the_root() {
        assert_eq!(normalize(Path::new("/a/../../b/./c")), Path::new("/b/c"));
        assert_eq!(normalize(Path::new("a/b")), Path::new("/a/b"));
    }
}
