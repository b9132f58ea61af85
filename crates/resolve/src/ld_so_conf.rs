//! `/etc/ld.so.conf` as `ldconfig` reads it (`elf/ldconfig.c` `parse_conf`): one directory a
//! line (or several, separated by blanks, `,` or `:`), `#` comments, `include GLOB` with
//! sorted matches relative to the including file's directory, `hwcap` lines ignored.

use std::path::{Path, PathBuf};

use crate::root::Root;

/// `ldconfig` refuses to follow includes deeper than this; so do we, against cycles.
const MAX_INCLUDE_DEPTH: usize = 16;

/// The directories of the root's `ld.so.conf`, in the order `ldconfig` scans them, each
/// ending in `/`.
pub(crate) fn directories(root: &Root) -> Vec<String> {
    let mut dirs = Vec::new();
    parse(root, Path::new("/etc/ld.so.conf"), 0, &mut dirs);
    dirs
}

fn parse(root: &Root, file: &Path, depth: usize, dirs: &mut Vec<String>) {
    if depth > MAX_INCLUDE_DEPTH {
        return;
    }
    let Ok(bytes) = root.read(file) else { return };
    let text = String::from_utf8_lossy(&bytes);
    let base = file.parent().unwrap_or(Path::new("/"));
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(rest) = line
            .strip_prefix("include")
            .filter(|r| r.starts_with([' ', '\t']))
        {
            for pattern in rest.split_whitespace() {
                for f in glob_in_root(root, &base.join(pattern)) {
                    parse(root, &f, depth + 1, dirs);
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
}

/// Expand an in-root glob, sorted like glob(3).
fn glob_in_root(root: &Root, pattern: &Path) -> Vec<PathBuf> {
    let host = root.host_path(pattern);
    let Some(pat) = host.to_str() else {
        return Vec::new();
    };
    let Ok(paths) = glob::glob(pat) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = paths
        .filter_map(Result::ok)
        .filter_map(|p| root.in_root(&p))
        .collect();
    out.sort();
    out
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
}
