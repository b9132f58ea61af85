//! The root's dpkg database: which packages are installed (`var/lib/dpkg/status`), the files
//! each put in the root (`var/lib/dpkg/info/*.list`), and the files diverted
//! (`var/lib/dpkg/diversions`); and the database of distroless-style images
//! (`var/lib/dpkg/status.d/<package>` and its `.md5sums`).

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use depclose_resolve::Root;

use super::Error;
use super::deb822::{self, Paragraph};

const STATUS: &str = "/var/lib/dpkg/status";
pub(super) const INFO: &str = "/var/lib/dpkg/info";
const DIVERSIONS: &str = "/var/lib/dpkg/diversions";

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// The source package it was built from: the `Source:` field's name, else its own name.
    pub source: String,
    /// The source package's version: the one `Source: name (version)` gives, else its own.
    pub source_version: String,
    /// Its whole status stanza, so that it can be written again. Empty for a package named
    /// by a `.note.package` note.
    pub(crate) stanza: Paragraph,
}

impl Package {
    /// A package with no stanza (from a `.note.package` note).
    pub(crate) fn named(name: String, version: String, architecture: String) -> Package {
        Package {
            source: name.clone(),
            source_version: version.clone(),
            name,
            version,
            architecture,
            stanza: Paragraph::default(),
        }
    }

    /// The package a status stanza of `file` describes, if the stanza says it is installed
    /// (its files are in the root: also when it is held or selected for removal); `None`
    /// for any other state, or a stanza without `Status` unless `status_d` (a stanza of
    /// `status.d` describes what is there, and distroless writes none).
    fn from_stanza(
        stanza: Paragraph,
        file: &str,
        status_d: bool,
    ) -> Result<Option<Package>, Error> {
        // The fields read here, in one pass (the first of each, as `get` finds it).
        const READ: [&str; 5] = ["Status", "Package", "Version", "Architecture", "Source"];
        let mut found: [Option<&str>; 5] = [None; 5];
        for (name, value) in stanza.fields() {
            if let Some(i) = READ.iter().position(|r| r.eq_ignore_ascii_case(name)) {
                found[i].get_or_insert(value);
            }
        }
        let [status, package, version, architecture, source] = found;
        let installed = match status {
            Some(s) => s.split_whitespace().nth(2) == Some("installed"),
            None => status_d,
        };
        if !installed {
            return Ok(None);
        }
        let required = |value: Option<&str>, reason: &'static str| {
            value
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .ok_or(Error::Malformed {
                    path: file.into(),
                    line: stanza.line,
                    reason,
                })
        };
        let name = required(package, "an installed package without a Package field")?;
        let version = required(version, "an installed package without a Version field")?;
        let architecture = required(
            architecture,
            "an installed package without an Architecture field",
        )?;
        let (source, source_version) = match source.and_then(source_field) {
            Some((source, Some(v))) => (source.to_owned(), v.to_owned()),
            Some((source, None)) => (source.to_owned(), version.clone()),
            None => (name.clone(), version.clone()),
        };
        Ok(Some(Package {
            name,
            version,
            architecture,
            source,
            source_version,
            stanza,
        }))
    }
}

/// `name` or `name (version)`: the source's name and the version, if one is given.
fn source_field(value: &str) -> Option<(&str, Option<&str>)> {
    let value = value.trim();
    let (name, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
    if name.is_empty() {
        return None;
    }
    let version = rest
        .trim()
        .strip_prefix('(')
        .and_then(|v| v.strip_suffix(')'))
        .map(str::trim)
        .filter(|v| !v.is_empty());
    Some((name, version))
}

/// One entry of the diversions file: `by`'s (or, for `None`, the administrator's) diversion
/// of other packages' `from` to `to`.
#[derive(Debug)]
struct Diversion {
    from: PathBuf,
    to: PathBuf,
    by: Option<String>,
}

/// The installed packages of a root, and which owns each file.
///
/// Ownership is looked up, not tabulated: a database lists ~120k paths and an image asks
/// about a few hundred, so each listed path is kept as bytes under the hash of its file
/// name, and only the listed paths of an asked name have their directories resolved.
#[derive(Debug)]
pub struct Packages {
    packages: Vec<Package>,
    listing: Listing,
    /// Located paths whose owner a diversion decides (`None`: no package's file is there).
    diverted: HashMap<OsString, Option<usize>>,
    /// Listed directories resolved so far, shared by the lookups.
    dirs: Mutex<Dirs>,
}

impl Packages {
    /// The root's dpkg database; `None` when the root has no `/var/lib/dpkg/status`.
    /// An installed package with no `.list` file is taken to have no files, as dpkg does.
    pub fn read(root: &Root) -> Result<Option<Packages>, Error> {
        let mut packages = Vec::new();
        // All lists first: the index is then allocated once, at its size (it is most of
        // the memory of an image's run, and growing it by doubling held 1.5 times that).
        let mut lists = Vec::new();
        let status = read_optional(root, STATUS)?;
        if let Some(status) = &status {
            for package in stanzas(status, STATUS, false)? {
                if let Some(list) = list(root, &package)? {
                    lists.push((packages.len(), list));
                }
                packages.push(package);
            }
        }
        let status_d = super::status_d::packages(root)?;
        if status.is_none() && status_d.is_none() {
            return Ok(None);
        }
        for (package, list) in status_d.unwrap_or_default() {
            lists.push((packages.len(), list));
            packages.push(package);
        }
        let mut listing = Listing::with_lists(lists);
        listing.group();
        let mut db = Packages {
            packages,
            listing,
            diverted: HashMap::new(),
            dirs: Mutex::new(Dirs::default()),
        };
        db.divert(root, &diversions(root)?);
        Ok(Some(db))
    }

    /// The installed packages, in the status file's order.
    pub fn packages(&self) -> &[Package] {
        &self.packages
    }

    /// How many paths the packages list (their directories too).
    pub fn listed_paths(&self) -> usize {
        self.listing.entries.len()
    }

    /// The package whose file is at `path` (absolute in `root`, the root it was read from),
    /// by whichever spelling: the path the loader opens or the real one. Its directory is
    /// resolved in the root and compared with each listed path's directory resolved alike,
    /// so `/lib/x/libc.so.6`, `/usr/lib/x/libc.so.6` and the listed spelling all find the
    /// package that lists either; the last component is not followed, so a symlink no
    /// package ships (one `ldconfig` made) has no owner, as `dpkg -S` answers. A diverted
    /// file is owned where dpkg put it. A path several packages list (a directory, a
    /// `Multi-Arch: same` file) gives the first in the status file.
    pub fn owner(&self, root: &Root, path: &Path) -> Option<&Package> {
        let key = located(path, |dir| root.resolve_dir(dir).map(|r| r.real));
        let owner = match self.diverted.get(&key) {
            Some(owner) => *owner,
            None => self.listers(root, &key).next(),
        };
        owner.and_then(|i| self.packages.get(i))
    }

    /// The packages listing a path located at `key`, in the status file's order.
    fn listers<'s>(&'s self, root: &'s Root, key: &'s OsStr) -> impl Iterator<Item = usize> + 's {
        let name = Path::new(key).file_name().unwrap_or_default();
        self.listing
            .named(name)
            .filter_map(move |(package, listed)| {
                let mut dirs = self.dirs.lock().unwrap_or_else(|e| e.into_inner());
                is_located_at(listed, key, |dir| dirs.real_ref(root, dir)).then_some(package)
            })
    }

    /// Where dpkg put diverted files: the diverting package's own `from` stays at `from`,
    /// any other package's `from` is at `to`.
    fn divert(&mut self, root: &Root, diversions: &[Diversion]) {
        for d in diversions {
            let locate = |path: &Path| {
                let mut dirs = self.dirs.lock().unwrap_or_else(|e| e.into_inner());
                located(path, |dir| dirs.real(root, dir))
            };
            let (from, to) = (locate(&d.from), locate(&d.to));
            let diverter = d.by.as_deref().and_then(|by| {
                let name = by.split_once(':').map_or(by, |(name, _)| name);
                self.packages.iter().position(|p| p.name == name)
            });
            let listed: Vec<usize> = self.listers(root, &from).collect();
            let own = listed.iter().copied().find(|&i| Some(i) == diverter);
            let other = listed.iter().copied().find(|&i| Some(i) != diverter);
            self.diverted.insert(from, own);
            if let Some(i) = other {
                self.diverted.insert(to, Some(i));
            }
        }
    }
}

/// Every path the packages list, as bytes, found by file name.
#[derive(Debug, Default)]
struct Listing {
    /// The packages' lists as read, a path a line, in the packages' order.
    lists: Vec<Vec<u8>>,
    /// The package of each list.
    owners: Vec<usize>,
    /// One per path, grouped by the top [`BUCKET_BITS`] of its file name's hash, each group
    /// in the lists' order.
    entries: Vec<Listed>,
    /// Where each group starts in `entries`, and where the last ends.
    buckets: Vec<u32>,
}

/// A name's group is found by these bits of its hash: 65,536 groups for ~130k paths.
const BUCKET_BITS: u32 = 16;

fn bucket(name_hash: u32) -> usize {
    (name_hash >> (u32::BITS - BUCKET_BITS)) as usize
}

/// 16 bytes: a database lists ~130k paths.
#[derive(Debug, Clone, Copy)]
struct Listed {
    /// The low half of the file name's hash (a match is checked by name).
    name_hash: u32,
    /// Its list, an index into `lists`.
    list: u32,
    /// Where its line of the list starts (it ends at the next newline).
    start: u64,
}

impl Listing {
    /// The lines of each package's list; dpkg's `/.` entry for the root is left out.
    fn with_lists(lists: Vec<(usize, Vec<u8>)>) -> Listing {
        let lines = lists
            .iter()
            .map(|(_, list)| memchr::memchr_iter(b'\n', list).count() + 1)
            .sum();
        let mut listing = Listing {
            lists: Vec::with_capacity(lists.len()),
            owners: Vec::with_capacity(lists.len()),
            entries: Vec::with_capacity(lines),
            buckets: Vec::new(),
        };
        for (package, list) in lists {
            // More lists than `u32` counts would be 4 billion files of the root's
            // database, read into memory first: the index keeps no more.
            let Ok(index) = u32::try_from(listing.lists.len()) else {
                break;
            };
            // Line ends by memchr: a split a byte at a time was 2.5 of the 8.5 ms of indexing
            // the ~10 MB of an image's lists.
            let ends = memchr::memchr_iter(b'\n', &list).chain(std::iter::once(list.len()));
            let mut start = 0;
            for end in ends {
                let line = &list[start..end];
                if !line.is_empty() && line != b"/." {
                    listing.entries.push(Listed {
                        // Truncated on purpose: half the hash is enough to find a name's few
                        // entries among the rest.
                        name_hash: name_hash(file_name(line)) as u32,
                        list: index,
                        start: start as u64,
                    });
                }
                start = end + 1;
            }
            listing.lists.push(list);
            listing.owners.push(package);
        }
        listing
    }

    /// Group the entries by bucket, keeping their order in each: one counting pass and one
    /// scatter (a radix sort by the whole hash took four of each; a comparison sort was 117M
    /// of the 149M instructions of reading the database for the Apache image).
    fn group(&mut self) {
        let mut starts = vec![0u32; (1 << BUCKET_BITS) + 1];
        for e in &self.entries {
            starts[bucket(e.name_hash) + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut next = starts.clone();
        let mut grouped = vec![
            Listed {
                name_hash: 0,
                list: 0,
                start: 0,
            };
            self.entries.len()
        ];
        for e in &self.entries {
            let at = &mut next[bucket(e.name_hash)];
            grouped[*at as usize] = *e;
            *at += 1;
        }
        self.entries = grouped;
        self.buckets = starts;
    }

    /// The line of `e`.
    fn line(&self, e: &Listed) -> &[u8] {
        let list = &self.lists[e.list as usize];
        let rest = usize::try_from(e.start).map_or(&[][..], |start| &list[start..]);
        memchr::memchr(b'\n', rest).map_or(rest, |end| &rest[..end])
    }

    /// The listed paths whose file name is `name`, with their packages, in the packages'
    /// order (the lists' order, which the grouping kept).
    fn named<'s>(&'s self, name: &'s OsStr) -> impl Iterator<Item = (usize, &'s Path)> + 's {
        let hash = name_hash(name.as_bytes()) as u32;
        let group = match self.buckets.get(bucket(hash)..=bucket(hash) + 1) {
            Some(&[start, end]) => &self.entries[start as usize..end as usize],
            _ => &[],
        };
        group
            .iter()
            .filter(move |e| e.name_hash == hash)
            .map(|e| {
                let package = self.owners[e.list as usize];
                (package, Path::new(OsStr::from_bytes(self.line(e))))
            })
            .filter(move |(_, path)| path.file_name() == Some(name))
    }
}

/// rustc-hash's: words at a time (FNV's multiply chain, a byte at a time, was another 1.3
/// ms of indexing the 124k names), and a fixed hash is enough for an index built and
/// searched in one process over a database the root controls anyway.
fn name_hash(name: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut hasher = rustc_hash::FxHasher::default();
    hasher.write(name);
    hasher.finish()
}

/// The file name of a listed path as [`Path::file_name`] has it (for the hash only: a match
/// is checked with [`Path::file_name`]). dpkg lists clean absolute paths, so the bytes after
/// the last `/` are that name unless the path ends in `/`, `.` or `..`.
fn file_name(line: &[u8]) -> &[u8] {
    let name = memchr::memrchr(b'/', line).map_or(line, |slash| &line[slash + 1..]);
    if name.is_empty() || name == b"." || name == b".." {
        Path::new(OsStr::from_bytes(line))
            .file_name()
            .map_or(&[], OsStr::as_bytes)
    } else {
        name
    }
}

/// `path` with its directory resolved in the root and its last component as it is: where the
/// file named so is, however the directories are spelled. A path whose directory is not in
/// the root stays as it is. Its bytes are the key: hashing them is cheaper than hashing a
/// `Path` component by component, ~100k times.
pub(super) fn located(path: &Path, real_dir: impl FnOnce(&Path) -> Option<PathBuf>) -> OsString {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return path.as_os_str().to_owned();
    };
    match real_dir(dir) {
        Some(real) => real.join(name).into_os_string(),
        None => path.as_os_str().to_owned(),
    }
}

/// Whether [`located`] puts `path` at `key`, without making the located path: a file name
/// shared by every package (`copyright`) has ~900 listed paths to compare.
fn is_located_at<'d>(
    path: &Path,
    key: &OsStr,
    real_dir: impl FnOnce(&Path) -> Option<&'d Path>,
) -> bool {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return path.as_os_str() == key;
    };
    let Some(real) = real_dir(dir) else {
        return path.as_os_str() == key;
    };
    // `real.join(name)`: a separator unless `real` is empty or ends in one.
    let (real, name, key) = (real.as_os_str().as_bytes(), name.as_bytes(), key.as_bytes());
    let separator = !real.is_empty() && !real.ends_with(b"/");
    key.strip_prefix(real)
        .and_then(|rest| match separator {
            true => rest.strip_prefix(b"/"),
            false => Some(rest),
        })
        .is_some_and(|rest| rest == name)
}

/// Listed directories resolved in the root, each once: a listing names ~100k paths in ~10k
/// directories, and resolving each from the root up would look at every component again.
#[derive(Debug, Default)]
pub(super) struct Dirs {
    /// Listed spelling → real path, or `None` when it is not a directory of the root.
    known: HashMap<OsString, Option<PathBuf>>,
    /// By real directory: how many of its entries were `lstat`ed, or, once that passed
    /// [`LIST_AFTER`], what each entry is from one listing (`/usr/share/doc` has an entry
    /// a package, and every package lists its copyright file there).
    entries: HashMap<PathBuf, Entries>,
}

/// The `lstat`s of one directory's entries after which it is read whole instead.
const LIST_AFTER: u32 = 32;

#[derive(Debug)]
enum Entries {
    Asked(u32),
    /// Each entry's type, as its directory entry gives it: a directory, a symlink.
    Listed(HashMap<OsString, (bool, bool)>),
    /// Its listing failed, or an entry's type could not be had: `lstat`s answer.
    Unlistable,
}

impl Dirs {
    /// `dir` resolved in `root` (always the same one): its parent's real path (remembered)
    /// and the type of its name, never followed; only a symlink is resolved by
    /// [`Root::resolve_dir`].
    pub(super) fn real(&mut self, root: &Root, dir: &Path) -> Option<PathBuf> {
        if let Some(hit) = self.known.get(dir.as_os_str()) {
            return hit.clone();
        }
        let real = match (dir.parent(), dir.file_name()) {
            (Some(parent), Some(name)) => self.real(root, parent).and_then(|parent| {
                let (is_dir, is_symlink) = self.entry_type(root, &parent, name)?;
                let candidate = parent.join(name);
                if is_dir {
                    Some(candidate)
                } else if is_symlink {
                    root.resolve_dir(&candidate).map(|r| r.real)
                } else {
                    None
                }
            }),
            // `/`, or a path ending in `..`.
            _ => root.resolve_dir(dir).map(|r| r.real),
        };
        self.known.insert(dir.as_os_str().to_owned(), real.clone());
        real
    }

    /// Whether `name` in the real directory `parent` is a directory, a symlink; `None` if
    /// it is not there. The parent is resolved, and neither `lstat` nor a listing follows
    /// the name: a host path inside the root.
    fn entry_type(&mut self, root: &Root, parent: &Path, name: &OsStr) -> Option<(bool, bool)> {
        let kind = |t: std::fs::FileType| (t.is_dir(), t.is_symlink());
        if !self.entries.contains_key(parent) {
            self.entries.insert(parent.to_path_buf(), Entries::Asked(0));
        }
        let entries = self.entries.get_mut(parent)?;
        if matches!(entries, Entries::Asked(n) if *n >= LIST_AFTER) {
            // The entry's type: no `stat` unless the filesystem gives none.
            let types = std::fs::read_dir(root.host_path(parent)).and_then(|list| {
                list.map(|e| e.and_then(|e| Ok((e.file_name(), kind(e.file_type()?)))))
                    .collect()
            });
            *entries = types.map_or(Entries::Unlistable, Entries::Listed);
        }
        match entries {
            Entries::Listed(types) => return types.get(name).copied(),
            Entries::Asked(n) => *n += 1,
            Entries::Unlistable => {}
        }
        let host = root.host_path(&parent.join(name));
        std::fs::symlink_metadata(host)
            .ok()
            .map(|m| kind(m.file_type()))
    }

    /// [`Dirs::real`], borrowed from what is remembered.
    fn real_ref(&mut self, root: &Root, dir: &Path) -> Option<&Path> {
        if !self.known.contains_key(dir.as_os_str()) {
            self.real(root, dir);
        }
        self.known.get(dir.as_os_str())?.as_deref()
    }
}

/// The installed packages the stanzas of `file` describe.
pub(super) fn stanzas(bytes: &[u8], file: &str, status_d: bool) -> Result<Vec<Package>, Error> {
    // dpkg does not check the encoding; a stray byte in a description is not worth
    // refusing the database for.
    let text = String::from_utf8_lossy(bytes);
    let stanzas = deb822::paragraphs(&text).map_err(|e| Error::Malformed {
        path: file.into(),
        line: e.line,
        reason: e.reason,
    })?;
    let mut packages = Vec::new();
    for stanza in stanzas {
        packages.extend(Package::from_stanza(stanza, file, status_d)?);
    }
    Ok(packages)
}

/// A whole file of the database, or `None` if it is not there.
pub(super) fn read_optional(root: &Root, path: &str) -> Result<Option<Vec<u8>>, Error> {
    match root.read(Path::new(path)) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(depclose_resolve::Error::NotFound { .. }) => Ok(None),
        Err(source) => Err(Error::Unreadable {
            path: path.into(),
            source,
        }),
    }
}

/// A package's `.list` file, the paths it shipped one a line (the directories too, as the
/// package spells them: merged-`/usr` may have moved `/lib/…` to `/usr/lib`; a diverted
/// file by the name it was diverted from): `<name>:<arch>.list` for a `Multi-Arch: same`
/// package (dpkg names its files so, as several architectures may be installed), else
/// `<name>.list`.
fn list(root: &Root, package: &Package) -> Result<Option<Vec<u8>>, Error> {
    for candidate in [
        format!("{INFO}/{}:{}.list", package.name, package.architecture),
        format!("{INFO}/{}.list", package.name),
    ] {
        if let Some(bytes) = read_optional(root, &candidate)? {
            return Ok(Some(bytes));
        }
    }
    Ok(None)
}

/// The root's diversions: lines in threes (from, to, package; `:` for a local diversion).
fn diversions(root: &Root) -> Result<Vec<Diversion>, Error> {
    let Some(bytes) = read_optional(root, DIVERSIONS)? else {
        return Ok(Vec::new());
    };
    let text = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    let lines: Vec<&[u8]> = if text.is_empty() {
        Vec::new()
    } else {
        text.split(|&b| b == b'\n').collect()
    };
    let chunks = lines.chunks_exact(3);
    if !chunks.remainder().is_empty() {
        return Err(Error::Malformed {
            path: DIVERSIONS.into(),
            line: lines.len() - chunks.remainder().len() + 1,
            reason: "a diversion without its three lines (from, to, package)",
        });
    }
    Ok(chunks
        .map(|d| Diversion {
            from: PathBuf::from(OsStr::from_bytes(d[0])),
            to: PathBuf::from(OsStr::from_bytes(d[1])),
            by: (d[2] != b":").then(|| String::from_utf8_lossy(d[2]).into_owned()),
        })
        .collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn write(dir: &Path, path: &str, text: &str) {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    const STATUS_TEXT: &str = "\
Package: libc6
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Source: glibc (2.36-9+deb12u4)
Version: 2.36-9+deb12u4
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.
 .
 This package includes shared versions of the standard C library.

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib
Version: 1:1.2.13.dfsg-1

Package: oldlib
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: coreutils
Status: hold ok installed
Architecture: amd64
Version: 9.1-1

Package: wrap
Status: install ok installed
Architecture: all
Version: 1
";

    /// A merged-/usr root: libc6 lists `/lib/…`, zlib1g `/usr/lib/…`, coreutils `/bin/ls`;
    /// `wrap` diverts zlib1g's `/usr/bin/tool` and ships its own.
    fn root() -> (tempfile::TempDir, Root) {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        let lib = "usr/lib/x86_64-linux-gnu";
        for f in ["libc.so.6", "libz.so.1.2.13", "gone.so"] {
            write(d, &format!("{lib}/{f}"), "");
        }
        write(d, "usr/bin/ls", "");
        write(d, "usr/bin/tool", "");
        write(d, "usr/bin/tool.zlib", "");
        symlink("usr/lib", d.join("lib")).unwrap();
        symlink("usr/bin", d.join("bin")).unwrap();
        symlink("libz.so.1.2.13", d.join(lib).join("libz.so.1")).unwrap();
        // Made by ldconfig, listed by no package.
        symlink("libc.so.6", d.join(lib).join("libextra.so.1")).unwrap();
        write(d, "var/lib/dpkg/status", STATUS_TEXT);
        let info = "var/lib/dpkg/info";
        write(
            d,
            &format!("{info}/libc6:amd64.list"),
            "/.\n/lib\n/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu/libc.so.6\n",
        );
        write(
            d,
            &format!("{info}/zlib1g.list"),
            "/.\n/usr/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu/libz.so.1.2.13\n/usr/lib/x86_64-linux-gnu/libz.so.1\n/usr/bin/tool\n",
        );
        // Left behind by a removed package: not read.
        write(
            d,
            &format!("{info}/oldlib.list"),
            "/usr/lib/x86_64-linux-gnu/gone.so\n",
        );
        write(d, &format!("{info}/coreutils.list"), "/.\n/bin\n/bin/ls\n");
        write(d, &format!("{info}/wrap.list"), "/usr/bin/tool\n");
        write(
            d,
            "var/lib/dpkg/diversions",
            "/usr/bin/tool\n/usr/bin/tool.zlib\nwrap\n",
        );
        let root = Root::new(d).unwrap();
        (t, root)
    }

    fn owner<'a>(db: &'a Packages, root: &Root, path: &str) -> Option<&'a str> {
        db.owner(root, Path::new(path)).map(|p| p.name.as_str())
    }

    #[test]
    fn installed_packages_keep_their_whole_stanza() {
        let (_t, root) = root();
        let db = Packages::read(&root).unwrap().unwrap();
        let names: Vec<&str> = db.packages().iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["libc6", "zlib1g", "coreutils", "wrap"]);
        let libc = &db.packages()[0];
        assert_eq!(
            (libc.source.as_str(), libc.source_version.as_str()),
            ("glibc", "2.36-9+deb12u4")
        );
        let fields: Vec<_> = libc.stanza.fields().collect();
        assert_eq!(fields.len(), 7);
        assert_eq!(fields[3], ("Multi-Arch", "same"));
        assert_eq!(
            fields[6].1,
            "GNU C Library: Shared libraries\n Contains the standard libraries that are used by nearly all programs on\n the system.\n .\n This package includes shared versions of the standard C library."
        );
        assert_eq!(db.listed_paths(), 3 + 4 + 2 + 1);
        let zlib = &db.packages()[1];
        assert_eq!(
            (zlib.source.as_str(), zlib.source_version.as_str()),
            ("zlib", "1:1.2.13.dfsg-1")
        );
        let coreutils = &db.packages()[2];
        assert_eq!(
            (coreutils.source.as_str(), coreutils.source_version.as_str()),
            ("coreutils", "9.1-1")
        );
    }

    #[test]
    fn either_spelling_finds_the_owner() {
        let (_t, root) = root();
        let db = Packages::read(&root).unwrap().unwrap();
        for path in [
            "/lib/x86_64-linux-gnu/libc.so.6",
            "/usr/lib/x86_64-linux-gnu/libc.so.6",
            "/usr/lib/x86_64-linux-gnu/../x86_64-linux-gnu/libc.so.6",
        ] {
            assert_eq!(owner(&db, &root, path), Some("libc6"), "{path}");
        }
        for path in [
            "/lib/x86_64-linux-gnu/libz.so.1",
            "/usr/lib/x86_64-linux-gnu/libz.so.1.2.13",
        ] {
            assert_eq!(owner(&db, &root, path), Some("zlib1g"), "{path}");
        }
        // Listed by libc6 as `/lib/…` and by zlib1g as `/usr/lib/…`: the first in the
        // status file.
        for path in ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu"] {
            assert_eq!(owner(&db, &root, path), Some("libc6"), "{path}");
        }
        assert_eq!(owner(&db, &root, "/usr/bin/ls"), Some("coreutils"));
        assert_eq!(owner(&db, &root, "/bin/ls"), Some("coreutils"));
        // The symlink itself is not listed; the file it leads to is.
        assert_eq!(
            owner(&db, &root, "/lib/x86_64-linux-gnu/libextra.so.1"),
            None
        );
        assert_eq!(owner(&db, &root, "/usr/lib/x86_64-linux-gnu/gone.so"), None);
        assert_eq!(owner(&db, &root, "/nowhere/at/all"), None);
    }

    #[test]
    fn a_diverted_file_is_where_dpkg_put_it() {
        let (_t, root) = root();
        let db = Packages::read(&root).unwrap().unwrap();
        assert_eq!(owner(&db, &root, "/usr/bin/tool"), Some("wrap"));
        assert_eq!(owner(&db, &root, "/bin/tool.zlib"), Some("zlib1g"));
    }

    #[test]
    fn a_local_diversion_moves_every_package_s_file() {
        let (t, _) = root();
        write(
            t.path(),
            "var/lib/dpkg/diversions",
            "/usr/bin/ls\n/usr/bin/ls.orig\n:\n",
        );
        let root = Root::new(t.path()).unwrap();
        let db = Packages::read(&root).unwrap().unwrap();
        assert_eq!(owner(&db, &root, "/bin/ls"), None);
        assert_eq!(owner(&db, &root, "/bin/ls.orig"), Some("coreutils"));
    }

    #[test]
    fn no_status_file_is_no_database() {
        let t = tempfile::tempdir().unwrap();
        let root = Root::new(t.path()).unwrap();
        assert!(Packages::read(&root).unwrap().is_none());
    }

    #[test]
    fn a_malformed_database_names_its_file_and_line() {
        let cases = [
            (
                "var/lib/dpkg/status",
                "Package: a\nStatus: install ok installed\nnonsense\n",
                STATUS,
                3,
            ),
            (
                "var/lib/dpkg/status",
                "\n\nPackage: a\nStatus: install ok installed\nArchitecture: all\n",
                STATUS,
                3,
            ),
            ("var/lib/dpkg/diversions", "/a\n/b\nx\n/c\n", DIVERSIONS, 4),
        ];
        for (file, text, path, line) in cases {
            let (t, _) = root();
            write(t.path(), file, text);
            let root = Root::new(t.path()).unwrap();
            match Packages::read(&root) {
                Err(Error::Malformed {
                    path: p, line: l, ..
                }) => {
                    assert_eq!((p.as_path(), l), (Path::new(path), line), "{text}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn listed_file_names_are_the_names_paths_have() {
        for (line, name) in [
            (&b"/usr/lib/libz.so.1"[..], &b"libz.so.1"[..]),
            (b"/usr/lib/", b"lib"),
            (b"/usr/lib/.", b"lib"),
            (b"/usr/..", b""),
            (b"/", b""),
        ] {
            let path = Path::new(OsStr::from_bytes(line));
            let want = path.file_name().map_or(&[][..], OsStr::as_bytes);
            assert_eq!((file_name(line), want), (name, name), "{path:?}");
        }
    }

    #[test]
    fn is_located_at_is_located_compared() {
        let real = |dir: &Path| match dir.to_str() {
            Some("/lib/x") => Some(PathBuf::from("/usr/lib/x")),
            Some("/") => Some(PathBuf::from("/")),
            Some("/gone") => None,
            _ => Some(dir.to_path_buf()),
        };
        let paths = [
            "/lib/x/libc.so.6",
            "/usr/lib/x/libc.so.6",
            "/libc.so.6",
            "/gone/libc.so.6",
            "/",
            "/usr/lib/x/",
            "/usr/lib/x/..",
            "/usr/lib/xlibc.so.6",
            "relative/libc.so.6",
            "libc.so.6",
        ];
        let dirs: HashMap<&Path, Option<PathBuf>> = paths
            .iter()
            .filter_map(|p| Path::new(p).parent())
            .map(|d| (d, real(d)))
            .collect();
        for path in paths.map(Path::new) {
            for key in paths.map(|k| located(Path::new(k), real)) {
                let got = is_located_at(path, &key, |dir| dirs.get(dir)?.as_deref());
                assert_eq!(got, located(path, real) == key, "{path:?} at {key:?}");
            }
        }
        assert!(is_located_at(
            Path::new("/lib/x/libc.so.6"),
            OsStr::new("/usr/lib/x/libc.so.6"),
            |_| Some(Path::new("/usr/lib/x"))
        ));
    }

    /// A directory many entries of which are asked about is listed once, and answers as the
    /// `lstat`s did: directories, symlinks to one, other files, names not there.
    #[test]
    fn a_directory_listed_answers_as_its_lstats() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("d");
        std::fs::create_dir(&d).unwrap();
        let count = LIST_AFTER as usize + 8;
        for i in 0..count {
            std::fs::create_dir(d.join(format!("a{i}"))).unwrap();
        }
        for i in 0..4 {
            std::os::unix::fs::symlink("a0", d.join(format!("l{i}"))).unwrap();
            std::fs::write(d.join(format!("f{i}")), "").unwrap();
        }
        let root = Root::new(t.path()).unwrap();
        let want = |name: &str| match name.as_bytes()[0] {
            b'a' => Some(PathBuf::from(format!("/d/{name}"))),
            b'l' => Some(PathBuf::from("/d/a0")),
            _ => None,
        };
        let names: Vec<String> = (0..count)
            .map(|i| format!("a{i}"))
            .chain((0..4).flat_map(|i| [format!("l{i}"), format!("f{i}"), format!("x{i}")]))
            .collect();
        let mut dirs = Dirs::default();
        for name in &names {
            let got = dirs.real(&root, &Path::new("/d").join(name));
            assert_eq!(got, want(name), "{name}");
        }
        assert!(matches!(
            dirs.entries.get(Path::new("/d")),
            Some(Entries::Listed(_))
        ));
    }

    #[test]
    fn source_fields() {
        assert_eq!(
            source_field("glibc (2.36-9)"),
            Some(("glibc", Some("2.36-9")))
        );
        assert_eq!(source_field("zlib"), Some(("zlib", None)));
        assert_eq!(source_field(""), None);
    }

    #[test]
    fn status_d_is_a_database_of_its_own() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        write(d, "usr/lib/x86_64-linux-gnu/libz.so.1", "");
        symlink("usr/lib", d.join("lib")).unwrap();
        // As distroless writes it: no Status field.
        write(
            d,
            "var/lib/dpkg/status.d/zlib1g",
            "Package: zlib1g\nArchitecture: amd64\nSource: zlib\nVersion: 1:1.2.13.dfsg-1\n",
        );
        write(
            d,
            "var/lib/dpkg/status.d/zlib1g.md5sums",
            "0123456789abcdef0123456789abcdef  usr/lib/x86_64-linux-gnu/libz.so.1\n",
        );
        write(
            d,
            "var/lib/dpkg/status.d/gone",
            "Package: gone\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1\n",
        );
        let root = Root::new(d).unwrap();
        let db = Packages::read(&root).unwrap().unwrap();
        let names: Vec<&str> = db.packages().iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["zlib1g"]);
        for path in [
            "/usr/lib/x86_64-linux-gnu/libz.so.1",
            "/lib/x86_64-linux-gnu/libz.so.1",
        ] {
            let owner = db.owner(&root, Path::new(path)).unwrap();
            assert_eq!(
                (owner.source.as_str(), owner.version.as_str()),
                ("zlib", "1:1.2.13.dfsg-1")
            );
        }
        write(d, "var/lib/dpkg/status.d/bad", "Package: bad\n");
        let e = Packages::read(&Root::new(d).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/var/lib/dpkg/status.d/bad:1: "), "{e}");
    }
}
