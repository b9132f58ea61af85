//! Well-known programs whose run-time loads depclose does not follow yet: where they load
//! from, so the user can add it.

use std::path::Path;

use depclose_resolve::{Closure, Root};

/// What a well-known program loads at run time, and where it lives on Debian.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loads {
    /// The start of the file name of the program or a library of its closure.
    pub file_name: &'static str,
    /// What it loads, for the user.
    pub what: &'static str,
    /// The directory it loads from.
    pub dir: &'static str,
}

/// The table of well-known run-time loaders.
pub const HINTS: &[Loads] = &[
    Loads {
        file_name: "apache2",
        what: "its modules (LoadModule)",
        dir: "/usr/lib/apache2/modules",
    },
    Loads {
        file_name: "httpd",
        what: "its modules (LoadModule)",
        dir: "/usr/lib/apache2/modules",
    },
    Loads {
        file_name: "nginx",
        what: "dynamic modules (load_module)",
        dir: "/usr/lib/nginx/modules",
    },
];

/// A directory a program of a closure loads from at run time, which no ELF header names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    /// The file name that matched (`apache2`, `nginx`).
    pub file_name: String,
    pub what: &'static str,
    /// The directory, in the root.
    pub dir: String,
}

impl std::fmt::Display for Hint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} loads {} at run time, which no ELF header names: --add {}",
            self.file_name, self.what, self.dir
        )
    }
}

/// The hints for these closures, once each: for every entry of [`HINTS`] whose file name
/// starts a real file name of a closure's objects, the directory it loads from — only if that directory exists
/// in the root.
pub fn hints(root: &Root, closures: &[Closure]) -> Vec<Hint> {
    let mut out: Vec<Hint> = Vec::new();
    for c in closures {
        for loads in HINTS {
            let mut names = c
                .objects
                .iter()
                .filter_map(|o| o.real.file_name()?.to_str());
            let Some(name) = names.find(|n| n.starts_with(loads.file_name)) else {
                continue;
            };
            let hint = Hint {
                file_name: name.to_owned(),
                what: loads.what,
                dir: loads.dir.to_owned(),
            };
            if root.resolve_dir(Path::new(&hint.dir)).is_some() && !out.contains(&hint) {
                out.push(hint);
            }
        }
    }
    out
}
