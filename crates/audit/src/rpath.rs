//! What is risky in an object's `DT_RPATH` and `DT_RUNPATH`: entries through which someone
//! other than the object's owner can put a library in front of the real one.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use depclose_elf::name;
use depclose_resolve::Root;
use serde::Serialize;

/// One risky search-path entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RpathRisk {
    /// `rpath` or `runpath`.
    pub tag: &'static str,
    /// The entry as written.
    pub entry: String,
    /// `empty` (searched as the current directory), `relative` (against the current
    /// directory), `origin_in_secure` (`$ORIGIN` in a setuid or setgid program),
    /// `world_writable` (the directory, in the root, is writable by anyone and not sticky),
    /// `absent` (no such directory in the root: whoever creates it supplies libraries).
    pub code: &'static str,
}

/// The risky entries of `rpath` and `runpath` of the object whose real path is `real`
/// (`$ORIGIN` is its directory); `secure`: the program runs in secure mode.
pub(crate) fn risks(
    root: &Root,
    real: &Path,
    rpath: Option<&str>,
    runpath: Option<&str>,
    secure: bool,
) -> Vec<RpathRisk> {
    let origin = real.parent().unwrap_or(Path::new("/"));
    let mut out = Vec::new();
    for (tag, list) in [("rpath", rpath), ("runpath", runpath)] {
        let Some(list) = list else { continue };
        for entry in list.split(':') {
            let risk = |code| RpathRisk {
                tag,
                entry: entry.to_owned(),
                code,
            };
            let uses_origin = entry.contains("$ORIGIN") || entry.contains("${ORIGIN}");
            if entry.is_empty() {
                out.push(risk("empty"));
                continue;
            }
            if uses_origin && secure {
                out.push(risk("origin_in_secure"));
            }
            if !entry.starts_with('/')
                && !entry.starts_with("$ORIGIN")
                && !entry.starts_with("${ORIGIN}")
            {
                out.push(risk("relative"));
                continue;
            }
            // $LIB and $PLATFORM depend on the loader; such an entry is not checked further.
            if entry.contains("$LIB")
                || entry.contains("${LIB}")
                || entry.contains("$PLATFORM")
                || entry.contains("${PLATFORM}")
            {
                continue;
            }
            let origin = name::from_path(origin);
            let dir = entry
                .replace("${ORIGIN}", &origin)
                .replace("$ORIGIN", &origin);
            match root.metadata(&name::to_path(&dir)) {
                Ok((_, meta)) if meta.is_dir() => {
                    let mode = meta.permissions().mode();
                    if mode & 0o002 != 0 && mode & 0o1000 == 0 {
                        out.push(risk("world_writable"));
                    }
                }
                _ => out.push(risk("absent")),
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_risk_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for sub in ["lib", "open", "sticky", "bin"] {
            std::fs::create_dir(d.join(sub)).unwrap();
        }
        std::fs::set_permissions(d.join("open"), std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::set_permissions(d.join("sticky"), std::fs::Permissions::from_mode(0o1777))
            .unwrap();
        let root = Root::new(d).unwrap();
        let real = Path::new("/bin/prog");
        let codes = |rpath: &str, secure: bool| -> Vec<&'static str> {
            risks(&root, real, Some(rpath), None, secure)
                .into_iter()
                .map(|r| r.code)
                .collect()
        };
        assert_eq!(codes("/lib", false), Vec::<&str>::new());
        assert_eq!(codes("$ORIGIN/../lib", false), Vec::<&str>::new());
        assert_eq!(codes("$ORIGIN/../lib", true), ["origin_in_secure"]);
        assert_eq!(codes("/lib::/open", false), ["empty", "world_writable"]);
        assert_eq!(codes("/sticky", false), Vec::<&str>::new());
        assert_eq!(codes("lib", false), ["relative"]);
        assert_eq!(codes("/home/build/lib", false), ["absent"]);
        let both = risks(&root, real, Some("lib"), Some(""), false);
        assert_eq!(
            both.iter().map(|r| r.tag).collect::<Vec<_>>(),
            ["rpath", "runpath"]
        );
    }
}
