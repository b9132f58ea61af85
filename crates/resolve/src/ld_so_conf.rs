//! `/etc/ld.so.conf` as `ldconfig` reads it (`elf/ldconfig.c` `parse_conf`): one directory a
//! line (or several, separated by blanks, `,` or `:`), `#` comments, `include GLOB` with
//! sorted matches relative to the including file's directory, `hwcap` lines ignored.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::path::{Component, Path, PathBuf};

use depclose_elf::name;

use crate::root::Root;

/// `ldconfig` refuses to follow includes deeper than this; so do we, against cycles.
const MAX_INCLUDE_DEPTH: usize = 16;

/// The directories of the root's `ld.so.conf`, in the order `ldconfig` scans them, each
/// ending in `/`.
pub(crate) fn directories(root: &Root) -> Vec<String> {
    let mut dirs = Vec::new();
    parse(
        root,
        Path::new("/etc/ld.so.conf"),
        0,
        &mut dirs,
        &mut HashMap::new(),
    );
    dirs
}

/// Appends `file`'s directories to `dirs`. `parsed` holds each file whose parse has ended
/// (by its real path) with the least depth it ended at: parsing it again no shallower adds
/// nothing, as that parse reached every include this one would and its directories are in
/// `dirs` already. (A file still being parsed is parsed again, as ldconfig would: the order
/// of the directories depends on it.) Without it, k files that include each other cost
/// k^16 parses; with it, about k² per depth.
fn parse(
    root: &Root,
    file: &Path,
    depth: usize,
    dirs: &mut Vec<String>,
    parsed: &mut HashMap<PathBuf, usize>,
) {
    if depth > MAX_INCLUDE_DEPTH {
        return;
    }
    let Ok(real) = root.resolve(file).map(|r| r.real) else {
        return;
    };
    if parsed.get(&real).is_some_and(|&d| d <= depth) {
        return;
    }
    let Ok(bytes) = root.read(&real) else { return };
    let text = name::encode(&bytes);
    let base = file.parent().unwrap_or(Path::new("/"));
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(rest) = line
            .strip_prefix("include")
            .filter(|r| r.starts_with([' ', '\t']))
        {
            for pattern in rest.split_whitespace() {
                for f in glob_in_root(root, &base.join(name::to_path(pattern))) {
                    parse(root, &f, depth + 1, dirs, parsed);
                }
            }
        } else if line.starts_with("hwcap") {
            continue;
        } else {
            for d in line.split([' ', '\t', ',', ':']).filter(|d| !d.is_empty()) {
                // An old-style "dir=TYPE" suffix names a library type; the dir is before it.
                let d = d.split('=').next().unwrap_or(d).trim_end_matches('/');
                let d = if d.is_empty() {
                    "/".to_owned()
                } else {
                    format!("{d}/")
                };
                if d.starts_with('/') && !dirs.contains(&d) {
                    dirs.push(d);
                }
            }
        }
    }
    parsed.insert(real, depth);
}

/// The components of a glob pattern, as a walk from `/` takes them: the names and `..`
/// (`/` and `.` add nothing).
pub fn glob_components(pattern: &Path) -> Vec<&OsStr> {
    pattern
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s),
            Component::ParentDir => Some(OsStr::new("..")),
            _ => None,
        })
        .collect()
}

/// Expand an in-root glob, sorted like glob(3). It is matched component by component
/// inside the root, as glob(3) after ldconfig's `chroot` would: each wildcard component
/// against the listing of its directory resolved in the root, so neither `..` nor a symlink
/// on the way reaches a host directory.
fn glob_in_root(root: &Root, pattern: &Path) -> Vec<PathBuf> {
    let parts = glob_components(pattern);
    let mut found = vec![PathBuf::from("/")];
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let text = name::from_os(part);
        let pat = glob::Pattern::new(&text)
            .ok()
            .filter(|_| text.contains(['*', '?', '[']));
        let mut next = Vec::new();
        for dir in &found {
            let names = match &pat {
                None => vec![part.to_os_string()],
                Some(pat) => list(root, dir)
                    .into_iter()
                    .filter(|n| pat.matches_with(&name::from_os(n), MATCH))
                    .collect(),
            };
            for name in names {
                let p = dir.join(name);
                let keep = if last {
                    root.resolve(&p).is_ok()
                } else {
                    root.is_dir(&p)
                };
                if keep {
                    next.push(p);
                }
            }
        }
        found = next;
    }
    found.sort();
    found
}

/// glob(3) without flags: `/` and a leading `.` only match literally.
const MATCH: glob::MatchOptions = glob::MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: true,
};

/// The names in the in-root directory `dir` (resolved inside the root), without `.` and `..`.
fn list(root: &Root, dir: &Path) -> Vec<OsString> {
    let Some(real) = root.resolve_dir(dir) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(root.host_path(&real.real)) else {
        return Vec::new();
    };
    entries.filter_map(|e| Some(e.ok()?.file_name())).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn includes_comments_and_separators() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::create_dir_all(d.join("etc/ld.so.conf.d")).unwrap();
        std::fs::write(
            d.join("etc/ld.so.conf"),
            "include /etc/ld.so.conf.d/*.conf\n/opt/z/lib # last\n",
        )
        .unwrap();
        std::fs::write(d.join("etc/ld.so.conf.d/b.conf"), "/b1:/b2,/b3\n").unwrap();
        std::fs::write(
            d.join("etc/ld.so.conf.d/a.conf"),
            "# a\n/a/lib/\nhwcap 0 nosegneg\n",
        )
        .unwrap();
        let root = Root::new(d).unwrap();
        assert_eq!(
            directories(&root),
            ["/a/lib/", "/b1/", "/b2/", "/b3/", "/opt/z/lib/"]
        );
    }

    /// Eight files that each include all eight (spelled again each time with `..`) end at
    /// once with the directories in ldconfig's order, not after 8^16 parses.
    #[test]
    fn files_including_each_other_are_parsed_once_per_depth_gained() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::create_dir_all(d.join("etc/ld.so.conf.d")).unwrap();
        std::fs::write(
            d.join("etc/ld.so.conf"),
            "include ld.so.conf.d/*.conf
",
        )
        .unwrap();
        for i in 0..8 {
            std::fs::write(
                d.join(format!("etc/ld.so.conf.d/{i}.conf")),
                format!(
                    "include ../ld.so.conf.d/*.conf
/lib{i}
"
                ),
            )
            .unwrap();
        }
        let root = Root::new(d).unwrap();
        let start = std::time::Instant::now();
        let dirs = directories(&root);
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
        let want: Vec<String> = (0..8).map(|i| format!("/lib{i}/")).collect();
        assert_eq!(dirs, want);
    }

    /// Includes that climb with `..` or pass a symlink to a host directory match inside the
    /// root (the host's `/etc/ld.so.conf.d` is never listed): `..` stops at the root, an
    /// absolute symlink restarts there.
    #[test]
    fn includes_are_globbed_inside_the_root() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("root");
        let host = t.path().join("host");
        for dir in ["etc/ld.so.conf.d", "etc/in-root"] {
            std::fs::create_dir_all(d.join(dir)).unwrap();
        }
        std::fs::create_dir_all(&host).unwrap();
        std::fs::write(host.join("h.conf"), "/from-host\n").unwrap();
        std::os::unix::fs::symlink(&host, d.join("etc/abs")).unwrap();
        std::os::unix::fs::symlink("/etc/in-root", d.join("etc/rel")).unwrap();
        std::fs::write(
            d.join("etc/ld.so.conf"),
            "include ../../../../../../../etc/ld.so.conf.d/*.conf\n\
             include /etc/abs/*.conf\ninclude /etc/rel/*.conf\n",
        )
        .unwrap();
        std::fs::write(d.join("etc/ld.so.conf.d/a.conf"), "/a\n").unwrap();
        std::fs::write(d.join("etc/in-root/h.conf"), "/in-root\n").unwrap();
        let root = Root::new(&d).unwrap();
        assert_eq!(directories(&root), ["/a/", "/in-root/"]);
    }
}
