//! What the configuration readers share: where a directive was read, and why a
//! configuration could not be read.

use std::path::{Path, PathBuf};

/// A line of a configuration file that says something: the file, named as the program names
/// it inside the root (or `-C`, `-c`, `-g` for directives given on the command line), its
/// line (from 1; for a directive over several lines, its first), and the directive as
/// written there (continuation lines joined, line breaks inside it made spaces).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfigLine {
    pub file: PathBuf,
    pub line: usize,
    pub text: String,
}

impl std::fmt::Display for ConfigLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.text)
    }
}

/// A recipe's evidence for what a configuration line made it add.
impl From<ConfigLine> for crate::Evidence {
    fn from(l: ConfigLine) -> crate::Evidence {
        crate::Evidence::ConfigLine {
            file: l.file,
            line: l.line,
            text: l.text,
        }
    }
}

/// A configured path as both servers resolve it (httpd's `ap_server_root_relative`, nginx's
/// `ngx_get_full_name`): an absolute one as it is, others under `base`.
pub(crate) fn relative_to(base: &Path, path: &str) -> PathBuf {
    if path.starts_with('/') {
        PathBuf::from(path)
    } else {
        base.join(path)
    }
}

/// The options of a server's command line that take a value (`-f FILE` or `-fFILE`), in
/// order, as `getopt`-style parsers read them; other words are passed over.
pub(crate) fn short_options(args: &[String], with_value: &[char]) -> Vec<(char, String)> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let Some(flag) = a.strip_prefix('-').and_then(|f| f.chars().next()) else {
            continue;
        };
        if !with_value.contains(&flag) {
            continue;
        }
        let inline = &a[1 + flag.len_utf8()..];
        let value = if inline.is_empty() {
            match it.next() {
                Some(v) => v.clone(),
                None => break,
            }
        } else {
            inline.to_owned()
        };
        out.push((flag, value));
    }
    out
}

/// A value a configuration gives, and the line that gives it; `at` is `None` for a
/// compiled-in default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting<T> {
    pub value: T,
    pub at: Option<ConfigLine>,
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
    #[error("{}:{line}: {reason}", file.display())]
    Syntax {
        file: PathBuf,
        line: usize,
        reason: String,
    },
    /// An include that must be there and is not (`Include` of a missing file, or a
    /// wildcard that matches nothing; nginx's `include` of a missing file).
    #[error("{}:{line}: {}: {reason}", file.display(), path.display())]
    MissingInclude {
        file: PathBuf,
        line: usize,
        path: PathBuf,
        reason: &'static str,
    },
    /// A file that includes itself, directly or through others.
    #[error("{}:{line}: {} is already being read: an include loop", file.display(), path.display())]
    IncludeLoop {
        file: PathBuf,
        line: usize,
        path: PathBuf,
    },
    /// Includes (or included directories) nested deeper than the program allows.
    #[error("{}:{line}: includes nested deeper than {limit}", file.display())]
    TooDeep {
        file: PathBuf,
        line: usize,
        limit: usize,
    },
}

impl ConfigError {
    /// A syntax error at `at`.
    pub(crate) fn syntax(at: &ConfigLine, reason: impl Into<String>) -> ConfigError {
        ConfigError::Syntax {
            file: at.file.clone(),
            line: at.line,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_line_is_evidence_and_displays_alike() {
        let l = ConfigLine {
            file: "/etc/nginx/nginx.conf".into(),
            line: 3,
            text: "load_module modules/x.so;".into(),
        };
        let shown = l.to_string();
        let evidence = crate::Evidence::from(l);
        assert_eq!(evidence.to_string(), shown);
        assert_eq!(shown, "/etc/nginx/nginx.conf:3: load_module modules/x.so;");
    }
}
