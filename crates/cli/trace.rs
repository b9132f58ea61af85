//! `--trace` and `--trace-load`: the run (or its file), told on stderr, saved with
//! `--trace-save`, and turned into the trace recipe.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use depclose_resolve::Resolver;
use depclose_runtime::{Observation, Seen, Traced};
use depclose_trace::{Kind, Trace};

use crate::config::{Action, Config, ImageOutput, TraceSource, TraceSpec};
use crate::error::Error;
use crate::flags::Format;

/// The trace: run (on the host, or inside the root with chroot) or read; its summary on
/// stderr; saved if asked. Under `--trace-strict` a failed command is an error, once the
/// trace is saved.
pub(crate) fn obtain(
    resolver: &Resolver,
    config: &Config,
    spec: &TraceSpec,
) -> Result<Trace, Error> {
    let (trace, strict) = match &spec.source {
        TraceSource::Load(t) => (t.clone(), false),
        TraceSource::Run {
            command,
            timeout,
            files,
            strict,
        } => {
            let program = program(resolver, config, &command[0])?;
            let root = resolver.root();
            // The command's output would corrupt an image, an SBOM or a JSON report on stdout.
            let stdout_is_data = match config.image() {
                Some(spec) => {
                    spec.image == Some(ImageOutput::Stdout)
                        || spec.report == Some(Format::Json)
                        || spec
                            .sbom
                            .as_ref()
                            .is_some_and(|s| s.output == ImageOutput::Stdout)
                }
                None => matches!(config.action, Action::Print(Format::Json)),
            };
            let cmd = depclose_trace::Command {
                program,
                args: command.iter().map(OsString::from).collect(),
                root: (!root.is_host()).then(|| root.dir().to_path_buf()),
                cwd: config.cwd.clone(),
                timeout: *timeout,
                files: *files,
                stdout_to_stderr: stdout_is_data,
            };
            eprintln!("depclose: tracing: {}", command.join(" "));
            (depclose_trace::run(&cmd)?, *strict)
        }
    };
    eprintln!("depclose: {}", summary(&trace));
    let count = |why| trace.left_out.iter().filter(|l| l.why == why).count();
    let (written, gone) = (
        count(depclose_trace::Why::Written),
        count(depclose_trace::Why::Gone),
    );
    if written + gone > 0 {
        eprintln!(
            "depclose: note: trace: left out {written} paths the run wrote itself and {gone} gone when it ended (--trace-save lists them)"
        );
    }
    if let Some(path) = &spec.save {
        save(&trace, path)?;
        eprintln!("depclose: wrote {}", path.display());
    }
    if !trace.exit.success() {
        if strict {
            return Err(Error::TraceFailed { exit: trace.exit });
        }
        eprintln!(
            "depclose: warning: the traced command {}: what it did not reach is not in the trace",
            trace.exit
        );
    }
    Ok(trace)
}

/// The program a command names, in the root, of this machine's architecture.
fn program(resolver: &Resolver, config: &Config, word: &str) -> Result<PathBuf, Error> {
    let root = resolver.root();
    let found = crate::targets::expand(
        resolver,
        word.as_ref(),
        &config.host_cwd,
        config.command_path(root.is_host()),
    )?;
    let program = match found.paths.as_slice() {
        [p] if found.dir.is_none() => p.clone(),
        _ => {
            return Err(Error::option(
                format!("--trace -- {word}"),
                "is a directory",
            ));
        }
    };
    let closure = resolver.closure(&program)?;
    let machine = closure.objects[0].elf.machine;
    if !depclose_resolve::runs_here(machine) {
        return Err(Error::TraceMachine { program, machine });
    }
    Ok(program)
}

/// One line: how the command ended, and what was seen.
fn summary(t: &Trace) -> String {
    let n = |k| t.of(k).count();
    let mut s = format!(
        "trace: {} {}: {} processes; {} programs executed, {} files mapped",
        t.command.first().map(String::as_str).unwrap_or(""),
        t.exit,
        t.processes,
        n(Kind::Exec),
        n(Kind::Map)
    );
    if t.files {
        s.push_str(&format!(
            ", {} opened, {} directories listed, {} looked up",
            n(Kind::Open),
            n(Kind::List),
            n(Kind::Stat)
        ));
    }
    s
}

/// Write the trace file atomically: a complete file or none.
fn save(trace: &Trace, path: &Path) -> Result<(), Error> {
    // Private to its owner, as tempfile makes it: it names the paths the run touched.
    crate::write_atomically(path, "trace", trace.to_json().as_bytes(), 0o600)
}

/// The trace recipe of a trace, and a note for each file seen that it does not add.
pub(crate) fn recipe(trace: &Trace) -> Traced {
    let observations = trace
        .events
        .iter()
        .map(|e| Observation {
            pid: e.pid,
            program: PathBuf::from(&e.program),
            seen: match e.kind {
                Kind::Exec => Seen::Executed,
                Kind::Map => Seen::Mapped,
                Kind::Open => Seen::Opened,
                Kind::List => Seen::Listed,
                Kind::Stat => Seen::Examined,
            },
            path: PathBuf::from(&e.path),
        })
        .collect();
    let recipe = Traced::new(observations, trace.files);
    for (path, why) in recipe.left_out() {
        eprintln!("depclose: note: trace: {} not added: {why}", path.display());
    }
    recipe
}
