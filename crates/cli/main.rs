//! The `depclose` command: flags, formats and exit codes around the library crates.

mod flags;
mod output;
mod report;
mod targets;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use rayon::prelude::*;

use depclose_resolve::{
    CacheMode, Closure, FactsOptions, HwcapsChoice, ResolveOptions, Resolver, Root,
};

use crate::flags::{Args, CacheArg, Format};

/// Exit codes: the closure is complete; incomplete (a library is missing); usage or input
/// error.
const EXIT_COMPLETE: u8 = 0;
const EXIT_INCOMPLETE: u8 = 1;
const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() {
                EXIT_ERROR
            } else {
                EXIT_COMPLETE
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(&args) {
        Ok(code) => ExitCode::from(code),
        Err(e) if is_broken_pipe(&e) => ExitCode::from(EXIT_COMPLETE),
        Err(e) => {
            eprintln!("depclose: error: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// A reader that closed the pipe early (`depclose ... | head`) is not an error.
fn is_broken_pipe(e: &Error) -> bool {
    matches!(e, Error::Output(io) if io.kind() == std::io::ErrorKind::BrokenPipe)
}

#[derive(Debug)]
enum Error {
    Input(String),
    Output(std::io::Error),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Input(s) => f.write_str(s),
            Error::Output(e) => write!(f, "writing output: {e}"),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Output(e)
    }
}

fn input<E: std::fmt::Display>(e: E) -> Error {
    Error::Input(e.to_string())
}

fn hwcaps_choice(s: &str) -> Result<HwcapsChoice, Error> {
    Ok(match s {
        "host" => HwcapsChoice::Host,
        "none" => HwcapsChoice::None,
        names => {
            let list: Vec<String> = names
                .split(',')
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect();
            if list.is_empty() || list.iter().any(|n| n.contains('/')) {
                return Err(Error::Input(format!(
                    "--hwcaps {s}: expected host, none or subdirectory names"
                )));
            }
            HwcapsChoice::Names(list)
        }
    })
}

fn run(args: &Args) -> Result<u8, Error> {
    let root_dir = args.root.clone().unwrap_or_else(|| PathBuf::from("/"));
    let root = Root::new(&root_dir).map_err(input)?;
    let host_cwd =
        std::env::current_dir().map_err(|e| Error::Input(format!("current directory: {e}")))?;
    let cwd = match (&args.cwd, root.is_host()) {
        (Some(c), _) => c.clone(),
        (None, true) => host_cwd.clone(),
        (None, false) => PathBuf::from("/"),
    };
    let options = ResolveOptions {
        library_path: args.library_path.clone(),
        preload: args.preload.clone(),
        facts: FactsOptions {
            hwcaps: hwcaps_choice(&args.hwcaps)?,
            platform: args.platform.clone(),
        },
        cwd,
        cache: match args.cache {
            CacheArg::Auto => CacheMode::Auto,
            CacheArg::Conf => CacheMode::Conf,
            CacheArg::None => CacheMode::None,
        },
    };
    let resolver = Resolver::new(root, options);
    // Only the host's own PATH describes where its commands are; a sysroot gets the default.
    let path_var = if resolver.root().is_host() {
        std::env::var("PATH").unwrap_or_else(|_| depclose_resolve::DEFAULT_PATH.to_owned())
    } else {
        depclose_resolve::DEFAULT_PATH.to_owned()
    };
    let mut targets = Vec::new();
    for word in &args.targets {
        let expanded =
            targets::expand(&resolver, word, &host_cwd, &path_var).map_err(Error::Input)?;
        if expanded.is_empty() {
            return Err(Error::Input(format!(
                "{word}: no ELF files in this directory"
            )));
        }
        targets.extend(expanded);
    }
    let results: Vec<Result<Closure, depclose_resolve::Error>> =
        targets.par_iter().map(|t| resolver.closure(t)).collect();
    // A single target that cannot be read is an input error; in a directory, one bad file is
    // reported and skipped.
    let mut closures = Vec::new();
    for r in results {
        match r {
            Ok(c) => closures.push(c),
            Err(e) if targets.len() == 1 => return Err(input(e)),
            Err(e) => eprintln!("depclose: warning: skipped: {e}"),
        }
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if let Some(name) = &args.why {
        let found = output::why(&mut out, &closures, name)?;
        out.flush()?;
        if !found {
            return Err(Error::Input(format!(
                "{name}: not in the closure of any target"
            )));
        }
    } else {
        match args.format {
            Format::List => output::list(&mut out, &closures)?,
            Format::Tree => output::tree(&mut out, &closures)?,
            Format::Json => report::write(&mut out, resolver.root(), &closures)?,
        }
        out.flush()?;
    }
    let complete = output::report_problems(&closures);
    Ok(if complete || args.allow_missing {
        EXIT_COMPLETE
    } else {
        EXIT_INCOMPLETE
    })
}
