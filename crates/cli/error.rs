//! The CLI's errors: every one ends the run with exit code 2 (a broken pipe with 0).

use std::path::PathBuf;

/// Why depclose could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// An option's value is unusable (`--workdir rel: must be an absolute path in the image`).
    #[error("{option}: {reason}")]
    Option { option: String, reason: String },
    /// An image option without an image to apply it to.
    #[error("{flag} needs --emit, --emit-rootfs or --push")]
    WithoutImage { flag: &'static str },
    #[error("--why explains a listing; it takes no --emit or --emit-rootfs")]
    WhyWithImage,
    /// A trace option without `--trace` (or one `--trace-load` takes from its file).
    #[error("{flag} needs --trace")]
    WithoutTrace { flag: &'static str },
    #[error("{}: {source}", path.display())]
    TraceFile {
        path: PathBuf,
        #[source]
        source: depclose_trace::Error,
    },
    #[error(transparent)]
    Trace(#[from] depclose_trace::Error),
    /// `--trace-strict`, and the command did not succeed.
    #[error("the traced command {exit} (--trace-strict)")]
    TraceFailed { exit: depclose_trace::Exit },
    #[error(
        "--trace {}: a program of ELF machine {machine} does not run on this machine (trace on one of its own architecture)",
        program.display()
    )]
    TraceMachine { program: PathBuf, machine: u16 },
    /// A recipe names an account the root does not have.
    #[error("{reason}: user {name} is not in {passwd}")]
    RecipeUser {
        name: String,
        reason: String,
        passwd: String,
    },
    #[error("{flag} {}: directory {} does not exist", path.display(), dir.display())]
    NoOutputDir {
        flag: &'static str,
        path: PathBuf,
        dir: PathBuf,
    },
    /// An output that would replace or land inside what the run reads.
    #[error("{flag} {}: {what} {} (an output never replaces what depclose reads)", path.display(), input.display())]
    OutputIsInput {
        flag: &'static str,
        path: PathBuf,
        what: &'static str,
        input: PathBuf,
    },
    #[error("--emit {}: is a directory (name the image file)", path.display())]
    ImageIsDir { path: PathBuf },
    #[error("{}: no ELF files in this directory", word.display())]
    NoElfFiles { word: PathBuf },
    /// A command name not found in `PATH`, with what the user may have meant.
    #[error("{source} ({hint})")]
    CommandNotFound {
        #[source]
        source: depclose_resolve::Error,
        hint: String,
    },
    #[error("{name}: not in the closure of any target")]
    NotInClosure { name: String },
    #[error(
        "--user {name}: no such user in {passwd} (give UID[:GID], or --add a passwd file that has it)"
    )]
    UnknownUser { name: String, passwd: String },
    #[error("{}: no OCI architecture for ELF machine {machine}", target.display())]
    NoArchitecture { target: PathBuf, machine: u16 },
    #[error("--add: {0}")]
    Addition(#[source] depclose_resolve::Error),
    #[error("{}: {source}", path.display())]
    Walk {
        path: PathBuf,
        #[source]
        source: walkdir::Error,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Resolve(#[from] depclose_resolve::Error),
    #[error(transparent)]
    Pack(#[from] depclose_pack::Error),
    #[error(transparent)]
    Recipe(#[from] depclose_runtime::Error),
    #[error(transparent)]
    Packages(#[from] depclose_audit::packages::Error),
    /// This run's report, read back for `--audit --diff`, does not read: a bug.
    #[error("this run's own report does not read back: {0}")]
    OwnReport(#[source] depclose_audit::diff::DiffError),
    /// Writing the listing or report to stdout.
    #[error("writing output: {0}")]
    Output(#[source] std::io::Error),
    /// SIGINT or SIGTERM while an image was written.
    #[error("interrupted")]
    Interrupted,
}

impl Error {
    /// The exit code: 3 for a traced command that failed under `--trace-strict`, else 2.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Error::TraceFailed { .. } => 3,
            _ => 2,
        }
    }

    pub(crate) fn option(option: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Option {
            option: option.into(),
            reason: reason.into(),
        }
    }

    /// A reader that closed the pipe early (`depclose ... | head`) is not an error.
    pub(crate) fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Output(io) if io.kind() == std::io::ErrorKind::BrokenPipe)
    }

    /// The message with its causes, each once: an error that shows its cause already is not
    /// followed by it again.
    pub(crate) fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            let more = c.to_string();
            if !text.contains(&more) {
                text.push_str(": ");
                text.push_str(&more);
            }
            cause = c.source();
        }
        text
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Output(e)
    }
}
