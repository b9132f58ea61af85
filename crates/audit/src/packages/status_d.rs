//! What an image carries so that scanners find its packages without a dpkg database: one
//! `var/lib/dpkg/status.d/<name>` file per package with its status stanza, and
//! `<name>.md5sums` beside it for the files the image holds, as distroless images have them
//! (and as syft, grype and trivy read them).

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use depclose_resolve::Root;

use super::Error;
use super::dpkg::{Dirs, INFO, Package, located, read_optional, stanzas};

/// The directory of the stanzas in an image.
pub const STATUS_D: &str = "/var/lib/dpkg/status.d";

impl Package {
    /// The package's status stanza as dpkg wrote it: every field in its order, continuation
    /// lines as they were, ending in a newline. Empty for a package with no stanza (one a
    /// `.note.package` note named).
    pub fn stanza(&self) -> &str {
        self.stanza.text()
    }

    /// The value of one of its status fields (names compared without case, as dpkg does).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.stanza.get(name)
    }
}

/// The md5 sums dpkg recorded for a package's files when it unpacked them
/// (`info/<name>:<arch>.md5sums` or `info/<name>.md5sums`), by where each file is in the
/// root, whichever way the path is spelled (merged-`/usr`: dpkg recorded
/// `lib/x86_64-linux-gnu/libc.so.6`, the image holds `usr/lib/...`). Conffiles have none.
#[derive(Debug, Default)]
pub struct Md5sums {
    sums: HashMap<OsString, String>,
}

impl Md5sums {
    /// The root's record for `package`; empty when it has none.
    pub fn read(root: &Root, package: &Package) -> Result<Md5sums, Error> {
        let candidates = [
            format!("{INFO}/{}:{}.md5sums", package.name, package.architecture),
            format!("{INFO}/{}.md5sums", package.name),
        ];
        let mut dirs = Dirs::default();
        for candidate in &candidates {
            let Some(bytes) = read_optional(root, candidate)? else {
                continue;
            };
            let mut sums = HashMap::new();
            for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
                if line.is_empty() {
                    continue;
                }
                let malformed = || Error::Malformed {
                    path: candidate.into(),
                    line: i + 1,
                    reason: "not `<md5>  <path>`",
                };
                let (sum, path) = split_line(line).ok_or_else(malformed)?;
                let path = Path::new("/").join(OsStr::from_bytes(path));
                sums.insert(located(&path, |dir| dirs.real(root, dir)), sum.to_owned());
            }
            return Ok(Md5sums { sums });
        }
        Ok(Md5sums::default())
    }

    /// The recorded sum of the file at `path` (absolute in the root), if any.
    pub fn get(&self, root: &Root, path: &Path) -> Option<&str> {
        let key = located(path, |dir| root.resolve_dir(dir).map(|r| r.real));
        self.sums.get(&key).map(String::as_str)
    }
}

/// A package and the paths it ships, a path a line, as in a `.list` file.
pub(super) type Listed = (Package, Vec<u8>);

/// The packages of an image's `status.d` (distroless's, and depclose's own), by file name,
/// each with the files its `<file>.md5sums` names; `None` when there is no such directory.
/// A stanza without `Status` describes what is there.
pub(super) fn packages(root: &Root) -> Result<Option<Vec<Listed>>, Error> {
    let Some(dir) = root.resolve_dir(Path::new(STATUS_D)) else {
        return Ok(None);
    };
    let unreadable = |source: std::io::Error| Error::Unreadable {
        path: STATUS_D.into(),
        source: depclose_resolve::Error::Io {
            path: STATUS_D.into(),
            source,
        },
    };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(root.host_path(&dir.real)).map_err(unreadable)? {
        let name = entry.map_err(unreadable)?.file_name();
        match name.to_str() {
            Some(n) if !n.ends_with(".md5sums") && !n.starts_with('.') => names.push(n.to_owned()),
            _ => {}
        }
    }
    names.sort();
    let mut packages = Vec::new();
    for name in names {
        let file = format!("{STATUS_D}/{name}");
        let Some(bytes) = read_optional(root, &file)? else {
            continue;
        };
        let sums = format!("{file}.md5sums");
        let list = match read_optional(root, &sums)? {
            Some(bytes) => md5sums_list(&bytes, &sums)?,
            None => Vec::new(),
        };
        for package in stanzas(&bytes, &file, true)? {
            packages.push((package, list.clone()));
        }
    }
    Ok(Some(packages))
}

/// The paths of the md5sums file `file`, absolute, a path a line.
fn md5sums_list(bytes: &[u8], file: &str) -> Result<Vec<u8>, Error> {
    let mut list = Vec::new();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let (_, path) = split_line(line).ok_or_else(|| Error::Malformed {
            path: file.into(),
            line: i + 1,
            reason: "not `<md5>  <path>`",
        })?;
        list.push(b'/');
        list.extend_from_slice(path);
        list.push(b'\n');
    }
    Ok(list)
}

/// `<32 hex digits>  <path>`, the two spaces `md5sum` writes.
fn split_line(line: &[u8]) -> Option<(&str, &[u8])> {
    let sum = std::str::from_utf8(line.get(..32)?).ok()?;
    let path = line.get(32..)?.strip_prefix(b"  ")?;
    (sum.bytes().all(|b| b.is_ascii_hexdigit()) && !path.is_empty())
        .then(|| (sum, path.strip_prefix(b"/").unwrap_or(path)))
}

/// An md5sums file for the image: one `<md5>  <path>` line per file, the path as the image
/// holds it without its leading `/`, sorted by path (as dpkg's are, in the order of the
/// package's archive, which is sorted).
pub fn md5sums_file(files: &[(String, PathBuf)]) -> Vec<u8> {
    let mut lines: Vec<&(String, PathBuf)> = files.iter().collect();
    lines.sort_by(|a, b| a.1.cmp(&b.1));
    let mut out = Vec::new();
    for (sum, path) in lines {
        out.extend_from_slice(sum.as_bytes());
        out.extend_from_slice(b"  ");
        let bytes = path.as_os_str().as_bytes();
        out.extend_from_slice(bytes.strip_prefix(b"/").unwrap_or(bytes));
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::packages::Packages;

    const STATUS: &str = "Package: libfoo1\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\nSource: foo (1.0-1)\nVersion: 1.0-1+b1\nConffiles:\n /etc/foo.conf 0123456789abcdef0123456789abcdef\nDescription: Foo\n Foo does things.\n .\n Really.\n\n";

    fn root() -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir_all(p.join("var/lib/dpkg/info")).unwrap();
        std::fs::create_dir_all(p.join("usr/lib/x86_64-linux-gnu")).unwrap();
        std::os::unix::fs::symlink("usr/lib", p.join("lib")).unwrap();
        std::fs::write(p.join("var/lib/dpkg/status"), STATUS).unwrap();
        std::fs::write(
            p.join("var/lib/dpkg/info/libfoo1:amd64.list"),
            "/.\n/lib\n/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu/libfoo.so.1\n",
        )
        .unwrap();
        std::fs::write(
            p.join("var/lib/dpkg/info/libfoo1:amd64.md5sums"),
            "d3b07384d113edec49eaa6238ad5ff00  lib/x86_64-linux-gnu/libfoo.so.1\n",
        )
        .unwrap();
        std::fs::write(p.join("usr/lib/x86_64-linux-gnu/libfoo.so.1"), "foo\n").unwrap();
        let root = Root::new(p).unwrap();
        (dir, root)
    }

    #[test]
    fn stanza_is_written_back_as_dpkg_wrote_it() {
        let (_dir, root) = root();
        let packages = Packages::read(&root).unwrap().unwrap();
        let foo = &packages.packages()[0];
        assert_eq!(format!("{}\n", foo.stanza()), STATUS);
        assert_eq!(foo.field("source"), Some("foo (1.0-1)"));
        assert_eq!(
            Package::named("x".into(), "1".into(), "all".into()).stanza(),
            ""
        );
    }

    #[test]
    fn md5sums_found_by_either_spelling_and_written_as_the_image_holds_them() {
        let (_dir, root) = root();
        let packages = Packages::read(&root).unwrap().unwrap();
        let sums = Md5sums::read(&root, &packages.packages()[0]).unwrap();
        let want = Some("d3b07384d113edec49eaa6238ad5ff00");
        assert_eq!(
            sums.get(&root, Path::new("/usr/lib/x86_64-linux-gnu/libfoo.so.1")),
            want
        );
        assert_eq!(
            sums.get(&root, Path::new("/lib/x86_64-linux-gnu/libfoo.so.1")),
            want
        );
        assert_eq!(sums.get(&root, Path::new("/etc/foo.conf")), None);
        let file = md5sums_file(&[
            (
                "b".repeat(32),
                PathBuf::from("/usr/lib/x86_64-linux-gnu/libfoo.so.1"),
            ),
            ("a".repeat(32), PathBuf::from("/etc/foo.conf")),
        ]);
        assert_eq!(
            String::from_utf8(file).unwrap(),
            format!(
                "{}  etc/foo.conf\n{}  usr/lib/x86_64-linux-gnu/libfoo.so.1\n",
                "a".repeat(32),
                "b".repeat(32)
            )
        );
    }

    #[test]
    fn a_bad_md5sums_line_is_an_error_with_its_line() {
        let (dir, root) = root();
        std::fs::write(
            dir.path().join("var/lib/dpkg/info/libfoo1:amd64.md5sums"),
            "d3b07384d113edec49eaa6238ad5ff00  lib/x\nnonsense\n",
        )
        .unwrap();
        let packages = Packages::read(&root).unwrap().unwrap();
        let err = Md5sums::read(&root, &packages.packages()[0]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/var/lib/dpkg/info/libfoo1:amd64.md5sums:2: not `<md5>  <path>`"
        );
    }
}
