//! The one place depclose runs anything: the user's command, under ptrace, followed into
//! every process it starts, with what each of them executes, maps, opens and lists.
//!
//! [`run`] starts the command and returns a [`Trace`]: the paths as the processes named them
//! (made absolute, symlinks kept), inside the root the command ran in. What the run wrote
//! itself, or what was gone when it ended, is left out and said ([`LeftOut`]). A `Trace` is
//! also the file `--trace-save` writes and `--trace-load` reads ([`Trace::to_json`],
//! [`Trace::from_json`]); it knows nothing of ELF or of the loader's rules.

mod calls;
mod error;
mod settle;
mod spawn;
mod tracer;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use error::Error;
pub use tracer::run;

/// The version of the trace file's shape; a file of another version is refused.
pub const FORMAT: u32 = 1;

/// The command to trace.
#[derive(Debug, Clone)]
pub struct Command {
    /// The program, an absolute path inside the root.
    pub program: PathBuf,
    /// Its arguments, `argv[0]` first (as the user wrote the command).
    pub args: Vec<OsString>,
    /// Run inside this directory with `chroot` (root only); `None`: on the host.
    pub root: Option<PathBuf>,
    /// The directory (inside the root) to start in; `None`: depclose's own.
    pub cwd: Option<PathBuf>,
    /// After this long, every process of the run is killed.
    pub timeout: Duration,
    /// Record the files opened for reading and the directories listed, too.
    pub files: bool,
    /// Send the command's standard output to standard error (when depclose's own standard
    /// output carries an image).
    pub stdout_to_stderr: bool,
}

/// What one run was seen to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trace {
    /// [`FORMAT`].
    pub format: u32,
    /// The command as the user wrote it.
    pub command: Vec<String>,
    /// The program it ran (in-root path).
    pub program: String,
    /// The directory it started in (in-root path).
    pub cwd: String,
    /// Whether files and listed directories were recorded.
    pub files: bool,
    /// How the command ended.
    pub exit: Exit,
    /// How many processes (and threads) took part.
    pub processes: u32,
    /// Each thing seen once, in the order first seen.
    pub events: Vec<Event>,
    /// What was seen but is not the program's to need.
    pub left_out: Vec<LeftOut>,
}

/// How the traced command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Exit {
    /// It exited with this status.
    Code(i32),
    /// A signal ended it.
    Signal(i32),
    /// It ran past the timeout (seconds) and every process was killed.
    TimedOut(u64),
}

impl Exit {
    /// Whether the command succeeded.
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exited with status {c}"),
            Exit::Signal(s) => write!(f, "was killed by signal {s}"),
            Exit::TimedOut(secs) => write!(f, "ran past the {secs} s timeout and was stopped"),
        }
    }
}

/// One thing a process did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// The first process (thread id) seen doing it.
    pub pid: u32,
    /// The program that process was running (in-root path, as it was executed).
    pub program: String,
    pub kind: Kind,
    /// The in-root path as the process named it, made absolute.
    pub path: String,
}

/// What a process did with a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Executed it (a program or a `#!` script).
    Exec,
    /// Mapped it into memory (the loader maps every ELF object it loads).
    Map,
    /// Opened it for reading (a regular file; recorded with [`Command::files`]).
    Open,
    /// Read the entries of it (a directory; recorded with [`Command::files`]).
    List,
    /// Looked it up with `stat` or `access` (a file or a directory whose presence the
    /// program checks, as Python checks its landmarks; recorded with [`Command::files`]).
    Stat,
}

/// Something seen that the trace does not count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeftOut {
    pub path: String,
    pub why: Why,
}

/// Why a path seen is left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Why {
    /// The run created or changed it: its output, not its input.
    Written,
    /// It was gone when the run ended (a temporary file).
    Gone,
    /// Its name is not UTF-8, which the trace file cannot hold.
    NotUtf8,
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Why::Written => "the run wrote it",
            Why::Gone => "gone when the run ended",
            Why::NotUtf8 => "its name is not UTF-8",
        })
    }
}

impl Trace {
    /// The trace file: pretty JSON, one field a line, ending in a newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Read a trace file written by [`Trace::to_json`].
    pub fn from_json(text: &str) -> Result<Trace, Error> {
        #[derive(Deserialize)]
        struct Version {
            format: Option<u32>,
        }
        let version: Version =
            serde_json::from_str(text).map_err(|e| Error::Format(e.to_string()))?;
        match version.format {
            Some(FORMAT) => serde_json::from_str(text).map_err(|e| Error::Format(e.to_string())),
            Some(other) => Err(Error::Version(other)),
            None => Err(Error::Format(
                "no \"format\" field: not a depclose trace".into(),
            )),
        }
    }

    /// The events of `kind`.
    pub fn of(&self, kind: Kind) -> impl Iterator<Item = &Event> {
        self.events.iter().filter(move |e| e.kind == kind)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sample() -> Trace {
        Trace {
            format: FORMAT,
            command: vec!["true".into()],
            program: "/usr/bin/true".into(),
            cwd: "/".into(),
            files: false,
            exit: Exit::Code(0),
            processes: 1,
            events: vec![Event {
                pid: 7,
                program: "/usr/bin/true".into(),
                kind: Kind::Exec,
                path: "/usr/bin/true".into(),
            }],
            left_out: vec![LeftOut {
                path: "/tmp/x".into(),
                why: Why::Written,
            }],
        }
    }

    #[test]
    fn trace_file_round_trips() {
        let t = sample();
        let text = t.to_json();
        assert!(text.contains("\"kind\": \"exec\""), "{text}");
        assert!(text.contains("\"code\": 0"), "{text}");
        assert_eq!(Trace::from_json(&text).unwrap(), t);
    }

    #[test]
    fn trace_file_of_another_version_is_refused() {
        let text = sample()
            .to_json()
            .replace("\"format\": 1", "\"format\": 99");
        assert!(matches!(Trace::from_json(&text), Err(Error::Version(99))));
        let err = Trace::from_json("{\"events\": []}").unwrap_err();
        assert!(err.to_string().contains("not a depclose trace"), "{err}");
        assert!(matches!(
            Trace::from_json("not json"),
            Err(Error::Format(_))
        ));
    }

    #[test]
    fn trace_file_with_unknown_fields_is_refused() {
        let text =
            sample()
                .to_json()
                .replacen("\"files\": false", "\"files\": false, \"extra\": 1", 1);
        assert!(matches!(Trace::from_json(&text), Err(Error::Format(_))));
    }
}
