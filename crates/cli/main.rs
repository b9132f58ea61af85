//! The `depclose` command: flags, formats and exit codes around the library crates.

mod flags;
mod image;
mod output;
mod report;
mod targets;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

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
    let result = run(&args);
    // Interrupted while writing: the writers have removed their files; exit as the signal.
    let signal = SIGNAL.load(Ordering::SeqCst);
    if signal != 0 {
        return ExitCode::from(u8::try_from(128 + signal).unwrap_or(EXIT_ERROR));
    }
    match result {
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
    let emitting = args.emit.is_some() || args.emit_rootfs.is_some();
    check_outputs(args)?;
    if !emitting && !args.add.is_empty() {
        return Err(Error::Input("--add needs --emit or --emit-rootfs".into()));
    }
    let root_dir = args.root.clone().unwrap_or_else(|| PathBuf::from("/"));
    let root = Root::new(&root_dir).map_err(input)?;
    let host_cwd =
        std::env::current_dir().map_err(|e| Error::Input(format!("current directory: {e}")))?;
    let cwd = match (&args.cwd, root.is_host()) {
        // `.` components would show in every path built from the cwd.
        (Some(c), _) => c
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect(),
        // An image's program starts in its working directory.
        (None, _) if emitting => PathBuf::from(args.workdir.as_deref().unwrap_or("/")),
        (None, true) => host_cwd.clone(),
        (None, false) => PathBuf::from("/"),
    };
    let options = ResolveOptions {
        // glibc ignores an empty LD_LIBRARY_PATH altogether.
        library_path: args.library_path.clone().filter(|l| !l.is_empty()),
        // As LD_PRELOAD: names separated by blanks or colons.
        preload: args
            .preload
            .iter()
            .flat_map(|p| p.split([' ', ':']))
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect(),
        facts: FactsOptions {
            // An image may run on another CPU of the architecture: by default it gets the
            // baseline libraries, never only a glibc-hwcaps variant.
            hwcaps: match &args.hwcaps {
                Some(h) => hwcaps_choice(h)?,
                None if emitting => HwcapsChoice::None,
                None => HwcapsChoice::Host,
            },
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
    // Targets found by scanning a directory; a bad one is skipped, a named one is an error.
    let mut scanned = std::collections::HashSet::new();
    for word in &args.targets {
        let (expanded, from_dir) =
            targets::expand(&resolver, word, &host_cwd, &path_var).map_err(Error::Input)?;
        if from_dir {
            scanned.extend(expanded.iter().cloned());
        }
        if expanded.is_empty() {
            return Err(Error::Input(format!(
                "{word}: no ELF files in this directory"
            )));
        }
        targets.extend(expanded);
    }
    let mut moved = std::collections::HashMap::new();
    if emitting {
        for (src, dest) in image::added_elf_files(&resolver, &host_cwd, &args.add)? {
            if src != dest {
                moved.insert(src.clone(), dest);
            }
            targets.push(src);
        }
    }
    let results: Vec<(bool, Result<Closure, depclose_resolve::Error>)> = targets
        .par_iter()
        .map(|t| (scanned.contains(t) && !emitting, resolver.closure(t)))
        .collect();
    // A named target that cannot be read is an input error; a file found by scanning a
    // directory is reported and skipped (unless it is to go into an image).
    let mut closures = Vec::new();
    for (skippable, r) in results {
        match r {
            Ok(c) => closures.push(c),
            Err(e) if skippable => eprintln!("depclose: warning: skipped: {e}"),
            Err(e) => return Err(input(e)),
        }
    }
    if args.runtime || emitting {
        let before: usize = closures.iter().map(|c| c.objects.len()).sum();
        // The nsswitch.conf the program will see: the image's (only if added), else the root's.
        let nsswitch = if emitting {
            image::added_file_text(
                resolver.root(),
                &host_cwd,
                &args.add,
                std::path::Path::new("/etc/nsswitch.conf"),
            )?
        } else {
            resolver
                .root()
                .read(std::path::Path::new("/etc/nsswitch.conf"))
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        };
        closures = image::add_runtime(&resolver, closures, nsswitch.as_deref());
        let after: usize = closures.iter().map(|c| c.objects.len()).sum();
        if emitting && after > before {
            // Name what libc itself loads; their own libraries follow them.
            let mut added: Vec<&str> = closures
                .iter()
                .flat_map(|c| {
                    c.objects.iter().filter(|o| {
                        o.runtime
                            && o.loader.is_some_and(|l| {
                                c.objects[l].elf.soname.as_deref() == Some("libc.so.6")
                            })
                    })
                })
                .filter_map(|o| o.names.first().map(String::as_str))
                .collect();
            added.sort_unstable();
            added.dedup();
            for name in added {
                let why = match name
                    .strip_prefix("libnss_")
                    .and_then(|n| n.strip_suffix(".so.2"))
                {
                    Some(service) => {
                        format!("for the NSS service {service} of the image's /etc/nsswitch.conf")
                    }
                    None => "for pthread_cancel and pthread_exit".to_owned(),
                };
                eprintln!("depclose: note: added {name}: glibc loads it at run time {why}");
            }
        }
    }
    if emitting {
        let complete = output::report_problems(&closures, args.allow_missing);
        let stops = closures.iter().any(|c| c.fatal.is_some());
        if !complete && (!args.allow_missing || stops) {
            eprintln!(
                "depclose: error: the closure is incomplete; no image written (--allow-missing writes it anyway)"
            );
            return Ok(EXIT_INCOMPLETE);
        }
        for hint in image::runtime_hints(resolver.root(), &host_cwd, &closures, &args.add)? {
            eprintln!("depclose: note: {hint}");
        }
        return emit(args, &resolver, &closures, &host_cwd, &moved);
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
            Format::List => output::list(&mut out, &closures, args.runtime)?,
            Format::Tree => output::tree(&mut out, &closures)?,
            Format::Json => {
                let digests = report::digests(resolver.root(), &closures).map_err(Error::Input)?;
                report::write(&mut out, resolver.root(), &closures, &digests)?
            }
        }
        out.flush()?;
    }
    let complete = output::report_problems(&closures, args.allow_missing);
    // --allow-missing accepts missing names, not a loader that would stop with an error.
    let stops = closures.iter().any(|c| c.fatal.is_some());
    Ok(if complete || (args.allow_missing && !stops) {
        EXIT_COMPLETE
    } else {
        EXIT_INCOMPLETE
    })
}

/// Set by SIGINT or SIGTERM while an image is written; the writers stop at the next chunk
/// and remove what they wrote (`WriteOptions::cancel`).
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// The signal that set [`INTERRUPTED`], for the exit code (128 + signal).
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// On SIGINT or SIGTERM: ask the writers to stop (they clean up and `main` exits 128+signal).
/// Should the process not be done within a few seconds (a blocked write), remove this
/// process's temporary files beside the outputs (their names carry its pid:
/// `depclose_pack::temp_prefix`) and exit.
fn clean_up_on_signal(dirs: Vec<PathBuf>) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    std::thread::spawn(move || {
        let Some(signal) = signals.forever().next() else {
            return;
        };
        SIGNAL.store(signal, Ordering::SeqCst);
        INTERRUPTED.store(true, Ordering::SeqCst);
        std::thread::sleep(std::time::Duration::from_secs(3));
        let mine = format!("-{}-", std::process::id());
        for dir in &dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(".depclose-") && name.contains(&mine) {
                    let path = e.path();
                    let _ = if e.file_type().is_ok_and(|t| t.is_dir()) {
                        std::fs::remove_dir_all(&path)
                    } else {
                        std::fs::remove_file(&path)
                    };
                }
            }
        }
        std::process::exit(128 + signal);
    });
}

/// Stop here if a signal asked to.
fn check_interrupted() -> Result<(), Error> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        return Err(Error::Input("interrupted".into()));
    }
    Ok(())
}

/// Refuse what would fail only after the work: a relative working directory (runtimes reject
/// it), an output whose directory does not exist, an image path that is a directory.
fn check_outputs(args: &Args) -> Result<(), Error> {
    if let Some(w) = args.workdir.as_deref().filter(|w| !w.starts_with('/')) {
        return Err(Error::Input(format!(
            "--workdir {w}: must be an absolute path in the image"
        )));
    }
    for (flag, out) in [("--emit", &args.emit), ("--emit-rootfs", &args.emit_rootfs)] {
        let Some(out) = out.as_deref().filter(|p| p.as_os_str() != "-") else {
            continue;
        };
        let dir = output_dir(out);
        if !dir.is_dir() {
            return Err(Error::Input(format!(
                "{flag} {}: directory {} does not exist",
                out.display(),
                dir.display()
            )));
        }
        if flag == "--emit" && out.is_dir() {
            return Err(Error::Input(format!(
                "--emit {}: is a directory (name the image file)",
                out.display()
            )));
        }
    }
    Ok(())
}

/// The directory an output file or directory is created in.
fn output_dir(path: &std::path::Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Stage, verify inside the staged tree, then write the image and/or the rootfs.
fn emit(
    args: &Args,
    resolver: &Resolver,
    closures: &[Closure],
    cwd: &std::path::Path,
    moved: &std::collections::HashMap<PathBuf, PathBuf>,
) -> Result<u8, Error> {
    let mut dirs = vec![std::env::temp_dir()];
    dirs.extend(args.emit_rootfs.as_deref().map(output_dir));
    dirs.extend(
        args.emit
            .as_deref()
            .filter(|p| p.as_os_str() != "-")
            .map(output_dir),
    );
    clean_up_on_signal(dirs);
    let tree = image::stage(resolver, closures, args, cwd, moved)?;
    let epoch = image::epoch()?;
    let config = image::config(closures, args)?;
    config.check().map_err(input)?;
    let progress = image::progress;
    let options = image::write_options(args, epoch, &progress, &INTERRUPTED);
    // The check runs on a skeleton of the tree (files hard-linked), so it sees exactly the
    // paths, symlinks and files the image will hold.
    let scratch_parent = args
        .emit_rootfs
        .as_deref()
        .or(args.emit.as_deref().filter(|p| p.as_os_str() != "-"))
        .and_then(|p| p.parent())
        .filter(|p| !p.as_os_str().is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let scratch = tempfile::Builder::new()
        .prefix(&depclose_pack::temp_prefix("verify"))
        .tempdir_in(&scratch_parent)
        .map_err(|e| Error::Input(format!("{}: {e}", scratch_parent.display())))?;
    let staged = scratch.path().join("rootfs");
    check_interrupted()?;
    tree.write_skeleton(&staged).map_err(input)?;
    let problems = image::verify(
        &staged,
        closures,
        resolver.options(),
        moved,
        args.allow_missing,
    )?;
    drop(scratch);
    check_interrupted()?;
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("depclose: error: {p}");
        }
        eprintln!("depclose: error: the staged image does not resolve on its own; nothing written");
        return Ok(EXIT_INCOMPLETE);
    }
    if let Some(dir) = &args.emit_rootfs {
        let s = tree.write_rootfs(dir, &options).map_err(input)?;
        let mut dropped = s.dropped_setuid.clone();
        dropped.dedup();
        for p in &dropped {
            eprintln!(
                "depclose: warning: {}: setuid/setgid bits dropped (--keep-setuid keeps them)",
                p.display()
            );
        }
        eprintln!(
            "depclose: wrote {}: {} files, {} bytes",
            dir.display(),
            s.files,
            s.content_bytes
        );
    }
    if let Some(dest) = &args.emit {
        let summary = if dest.as_os_str() == "-" {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let s = tree
                .write_image_to(&config, &mut out, &std::env::temp_dir(), &options)
                .map_err(input)?;
            out.flush()?;
            s
        } else {
            tree.write_image(&config, dest, &options).map_err(input)?
        };
        if args.emit_rootfs.is_none() {
            for p in &summary.layer.contents.dropped_setuid {
                eprintln!(
                    "depclose: warning: {}: setuid/setgid bits dropped (--keep-setuid keeps them)",
                    p.display()
                );
            }
        }
        eprintln!(
            "depclose: wrote {} ({}): {} {}, {} files, {} bytes",
            dest.display(),
            config.tag,
            summary.manifest_digest,
            config.architecture,
            summary.layer.contents.files,
            summary.layer.contents.content_bytes
        );
    }
    Ok(EXIT_COMPLETE)
}
