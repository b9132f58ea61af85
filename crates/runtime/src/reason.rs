//! Why something was added: the recipe and the evidence it found.

use std::path::PathBuf;

/// Why a recipe added something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// The recipe's name ([`crate::Recipe::name`]).
    pub recipe: &'static str,
    pub evidence: Evidence,
}

/// What a recipe read that made it add something. (Not `non_exhaustive`: every output
/// format renders each kind, and a new one must reach them all.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// A line of a configuration file: in-root path, line number from 1, the line as written.
    ConfigLine {
        file: PathBuf,
        line: usize,
        text: String,
    },
    /// An object imports a symbol (by the path the loader opened it under).
    Symbol { object: String, symbol: String },
    /// A value compiled into a file (`OPENSSLDIR: "/usr/lib/ssl"` in `libcrypto.so.3`).
    Compiled { file: PathBuf, value: String },
    /// A note in an object (`.note.dlopen`), said in words.
    Note { object: String, text: String },
    /// A fixed rule of the program or library.
    Rule(&'static str),
    /// An option the user gave.
    Option(String),
    /// A traced run of the program: a process (by pid, running `program`) did it.
    Traced {
        pid: u32,
        program: PathBuf,
        seen: Seen,
    },
}

/// What a traced process did with a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Seen {
    Executed,
    Mapped,
    Opened,
    Listed,
    /// Looked up (`stat`, `access`): its presence is what the program checks.
    Examined,
}

impl std::fmt::Display for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Seen::Executed => "executed",
            Seen::Mapped => "mapped",
            Seen::Opened => "opened",
            Seen::Listed => "listed",
            Seen::Examined => "examined",
        })
    }
}

impl std::fmt::Display for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Evidence::ConfigLine { file, line, text } => {
                write!(f, "{}:{line}: {text}", file.display())
            }
            Evidence::Symbol { object, symbol } => write!(f, "{object} imports {symbol}"),
            Evidence::Compiled { file, value } => write!(f, "{value} in {}", file.display()),
            Evidence::Note { object, text } => write!(f, "{object} declares {text}"),
            Evidence::Rule(rule) => f.write_str(rule),
            Evidence::Option(option) => write!(f, "option {option}"),
            Evidence::Traced { pid, program, seen } => {
                write!(f, "{seen} by pid {pid} ({})", program.display())
            }
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "recipe {}: {}", self.recipe, self.evidence)
    }
}

impl Reason {
    /// The line of a configuration that says it, or `otherwise` for a compiled-in default.
    pub(crate) fn at(
        recipe: &'static str,
        line: Option<&crate::ConfigLine>,
        otherwise: &Reason,
    ) -> Reason {
        match line {
            Some(line) => Reason {
                recipe,
                evidence: line.clone().into(),
            },
            None => otherwise.clone(),
        }
    }
}
