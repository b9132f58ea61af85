//! What the configuration readers share: where a directive was read, and why a
//! configuration could not be read.

use std::path::PathBuf;

/// Where something was read: a configuration file, named as the program names it inside
/// the root, and a line of it (1-based; for a directive continued over several lines, its
/// first).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Evidence {
    pub file: PathBuf,
    pub line: usize,
}

impl std::fmt::Display for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// A value a configuration gives, and where; `at` is `None` for a compiled-in default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting<T> {
    pub value: T,
    pub at: Option<Evidence>,
}

/// Why a configuration could not be read: each problem the program itself would refuse to
/// start on, with the file and line it would name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The main configuration file is not in the root (or is not a regular file).
    #[error("{}: cannot read the configuration file", file.display())]
    Unreadable { file: PathBuf },
    /// A line the program's grammar rejects.
    #[error("{at}: {reason}")]
    Syntax { at: Evidence, reason: String },
    /// An include that must be there and is not (`Include` of a missing file, or a
    /// wildcard that matches nothing; nginx's `include` of a missing file).
    #[error("{at}: {}: {reason}", path.display())]
    MissingInclude {
        at: Evidence,
        path: PathBuf,
        reason: &'static str,
    },
    /// A file that includes itself, directly or through others.
    #[error("{at}: {} is already being read: an include loop", path.display())]
    IncludeLoop { at: Evidence, path: PathBuf },
    /// Includes (or included directories) nested deeper than the program allows.
    #[error("{at}: includes nested deeper than {limit}")]
    TooDeep { at: Evidence, limit: usize },
}
