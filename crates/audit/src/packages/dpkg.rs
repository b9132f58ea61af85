//! The root's dpkg database: which packages are installed (`var/lib/dpkg/status`), the files
//! each put in the root (`var/lib/dpkg/info/*.list`), and the files diverted
//! (`var/lib/dpkg/diversions`); and the database of distroless-style images
//! (`var/lib/dpkg/status.d/<package>` and its `.md5sums`).

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

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
    /// Its whole status stanza, in order, each value as the file writes it (continuation
    /// lines after `\n`, their leading space kept), so the stanza can be written again.
    /// Empty for a package named by a `.note.package` note.
    pub fields: Vec<(String, String)>,
    /// The paths its `.list` file names, as dpkg lists them.
    pub(super) files: Vec<PathBuf>,
}

impl Package {
    /// A package with no stanza and no files (from a `.note.package` note).
    pub(crate) fn named(name: String, version: String, architecture: String) -> Package {
        Package {
            source: name.clone(),
            source_version: version.clone(),
            name,
            version,
            architecture,
            fields: Vec::new(),
            files: Vec::new(),
        }
    }

    /// The paths the package shipped, as its `.list` file names them (the directories too):
    /// the spelling of the package, which merged-`/usr` may have moved (`/lib/…` for a file
    /// now under `/usr/lib`), and, for a diverted file, the name it was diverted from.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
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
        let installed = match stanza.get("Status") {
            Some(s) => s.split_whitespace().nth(2) == Some("installed"),
            None => status_d,
        };
        if !installed {
            return Ok(None);
        }
        let required = |field: &str, reason: &'static str| {
            stanza
                .get(field)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .ok_or(Error::Malformed {
                    path: file.into(),
                    line: stanza.line,
                    reason,
                })
        };
        let name = required("Package", "an installed package without a Package field")?;
        let version = required("Version", "an installed package without a Version field")?;
        let architecture = required(
            "Architecture",
            "an installed package without an Architecture field",
        )?;
        let (source, source_version) = match stanza.get("Source").and_then(source_field) {
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
            fields: stanza.fields,
            files: Vec::new(),
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
#[derive(Debug)]
pub struct Packages {
    packages: Vec<Package>,
    /// Each listed path, its directory resolved in the root (see [`located`]) → the index of
    /// the package whose file is there.
    owners: HashMap<OsString, usize>,
}

impl Packages {
    /// The root's dpkg database; `None` when the root has no `/var/lib/dpkg/status`.
    /// An installed package with no `.list` file is taken to have no files, as dpkg does.
    pub fn read(root: &Root) -> Result<Option<Packages>, Error> {
        let mut packages = Vec::new();
        let status = read_optional(root, STATUS)?;
        if let Some(status) = &status {
            for package in stanzas(status, STATUS, false)? {
                packages.push(Package {
                    files: list(root, &package)?,
                    ..package
                });
            }
        }
        let status_d = super::status_d::packages(root)?;
        if status.is_none() && status_d.is_none() {
            return Ok(None);
        }
        packages.extend(status_d.unwrap_or_default());
        let diversions = diversions(root)?;
        let owners = owners(root, &packages, &diversions);
        Ok(Some(Packages { packages, owners }))
    }

    /// The installed packages, in the status file's order.
    pub fn packages(&self) -> &[Package] {
        &self.packages
    }

    /// The package whose file is at `path` (absolute in the root), by whichever spelling:
    /// the path the loader opens or the real one. Its directory is resolved in the root and
    /// compared with each listed path's directory resolved alike, so `/lib/x/libc.so.6`,
    /// `/usr/lib/x/libc.so.6` and the listed spelling all find the package that lists either;
    /// the last component is not followed, so a symlink no package ships (one `ldconfig`
    /// made) has no owner, as `dpkg -S` answers. A diverted file is owned where dpkg put it.
    /// A path several packages list (a directory, a `Multi-Arch: same` file) gives the first
    /// in the status file.
    pub fn owner(&self, root: &Root, path: &Path) -> Option<&Package> {
        let key = located(path, |dir| root.resolve_dir(dir).map(|r| r.real));
        self.owners.get(&key).and_then(|&i| self.packages.get(i))
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

/// Listed directories resolved in the root, each once: a listing names ~100k paths in ~10k
/// directories, and resolving each from the root up would look at every component again.
#[derive(Debug)]
pub(super) struct Dirs<'a> {
    root: &'a Root,
    /// Listed spelling → real path, or `None` when it is not a directory of the root.
    known: HashMap<OsString, Option<PathBuf>>,
}

impl<'a> Dirs<'a> {
    pub(super) fn new(root: &'a Root) -> Dirs<'a> {
        Dirs {
            root,
            known: HashMap::new(),
        }
    }

    /// `dir` resolved: its parent's real path (remembered) and one `lstat` of its name; only
    /// a symlink is resolved by [`Root::resolve_dir`].
    pub(super) fn real(&mut self, dir: &Path) -> Option<PathBuf> {
        if let Some(hit) = self.known.get(dir.as_os_str()) {
            return hit.clone();
        }
        let real = match (dir.parent(), dir.file_name()) {
            (Some(parent), Some(name)) => self.real(parent).and_then(|parent| {
                let candidate = parent.join(name);
                // The parent is resolved and `lstat` does not follow the name: a host path
                // inside the root.
                let meta = std::fs::symlink_metadata(self.root.host_path(&candidate)).ok()?;
                if meta.is_dir() {
                    Some(candidate)
                } else if meta.is_symlink() {
                    self.root.resolve_dir(&candidate).map(|r| r.real)
                } else {
                    None
                }
            }),
            // `/`, or a path ending in `..`.
            _ => self.root.resolve_dir(dir).map(|r| r.real),
        };
        self.known.insert(dir.as_os_str().to_owned(), real.clone());
        real
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

/// The paths a package's `.list` file names: `<name>:<arch>.list` for a `Multi-Arch: same`
/// package (dpkg names its files so, as several architectures may be installed), else
/// `<name>.list`. dpkg's `/.` entry for the root is left out.
fn list(root: &Root, package: &Package) -> Result<Vec<PathBuf>, Error> {
    let candidates = [
        format!("{INFO}/{}:{}.list", package.name, package.architecture),
        format!("{INFO}/{}.list", package.name),
    ];
    for candidate in &candidates {
        if let Some(bytes) = read_optional(root, candidate)? {
            return Ok(bytes
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty() && *l != b"/.")
                .map(|l| PathBuf::from(OsStr::from_bytes(l)))
                .collect());
        }
    }
    Ok(Vec::new())
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

/// Which package's file is at each listed path (see [`located`]). A diverted file is where
/// dpkg put it: the diverting package's own `from` stays at `from`, any other package's
/// `from` is at `to`.
fn owners(root: &Root, packages: &[Package], diversions: &[Diversion]) -> HashMap<OsString, usize> {
    let mut dirs = Dirs::new(root);
    let mut locate = |path: &Path| located(path, |dir| dirs.real(dir));
    let diverted: Vec<(OsString, OsString, Option<&str>)> = diversions
        .iter()
        .map(|d| (locate(&d.from), locate(&d.to), d.by.as_deref()))
        .collect();
    let from: HashSet<&OsStr> = diverted.iter().map(|(f, _, _)| f.as_os_str()).collect();
    // Every package listing a diverted path, in order.
    let mut listers: HashMap<OsString, Vec<usize>> = HashMap::new();
    let mut owners = HashMap::with_capacity(packages.iter().map(|p| p.files.len()).sum());
    for (i, package) in packages.iter().enumerate() {
        for file in &package.files {
            let key = locate(file);
            if from.contains(key.as_os_str()) {
                listers.entry(key.clone()).or_default().push(i);
            }
            owners.entry(key).or_insert(i);
        }
    }
    for (from, to, by) in &diverted {
        let diverter = by.and_then(|by| {
            let name = by.split_once(':').map_or(by, |(name, _)| name);
            packages.iter().position(|p| p.name == name)
        });
        let listed = listers.get(from).map(Vec::as_slice).unwrap_or_default();
        match listed.iter().find(|&&i| Some(i) == diverter) {
            Some(&i) => owners.insert(from.clone(), i),
            None => owners.remove(from),
        };
        if let Some(&i) = listed.iter().find(|&&i| Some(i) != diverter) {
            owners.insert(to.clone(), i);
        }
    }
    owners
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
            "/.\n/usr/lib/x86_64-linux-gnu/libz.so.1.2.13\n/usr/lib/x86_64-linux-gnu/libz.so.1\n/usr/bin/tool\n",
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
        assert_eq!(libc.fields.len(), 7);
        assert_eq!(libc.fields[3], ("Multi-Arch".into(), "same".into()));
        assert_eq!(
            libc.fields[6].1,
            "GNU C Library: Shared libraries\n Contains the standard libraries that are used by nearly all programs on\n the system.\n .\n This package includes shared versions of the standard C library."
        );
        assert_eq!(libc.files().len(), 3);
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
