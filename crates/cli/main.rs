//! The `depclose` command: flags, formats and exit codes around the library crates.
// The C runtime calls `main` below, not std's start-up (the harness's own in unit tests).
#![cfg_attr(not(test), no_main)]

mod additions;
mod audit;
mod config;
mod diff_images;
mod dot;
mod error;
mod flags;
mod image;
mod interrupt;
mod json;
mod push;
mod scan;
mod targets;
mod text;
mod trace;

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Parser;
use rayon::prelude::*;

use depclose_pack::{Artifact, ArtifactError, ImageSummary};
use depclose_resolve::{Closure, Resolver, Root};
use depclose_runtime::{Added, Context, Recipe, Want};

use crate::additions::Addition;
use crate::config::{Action, Config, Environment, ImageOutput, ImageSpec};
use crate::error::Error;
use crate::flags::{Args, Format};
use crate::text::UserAddition;

/// Exit codes: the closure is complete; incomplete (a library is missing); usage or input
/// error. An interrupted image write exits 128 + the signal.
pub(crate) const EXIT_COMPLETE: u8 = 0;
pub(crate) const EXIT_INCOMPLETE: u8 = 1;
pub(crate) const EXIT_ERROR: u8 = 2;
/// `--require`: the audit found a rule broken.
pub(crate) const EXIT_POLICY: u8 = 4;
/// `--audit --diff`: something got worse since the old audit.
pub(crate) const EXIT_REGRESSED: u8 = 5;

/// The process's entry, in place of std's start-up (`lang_start`). That start-up finds the
/// main thread's stack guard by reading and parsing /proc/self/maps (`pthread_getattr_np`):
/// 8% of one program's instructions, and four system calls, one of which has the kernel
/// write out every mapping (docs/benchmarks.md). What else it does that depclose relies on
/// is done here: a closed standard descriptor is opened on /dev/null, SIGPIPE is ignored (a
/// closed pipe is an `EPIPE` error: exit 0), a panic exits 101, stdout is flushed at exit.
/// A stack overflow in the main thread is a plain SIGSEGV, without std's message.
#[cfg(not(test))]
#[unsafe(no_mangle)]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    standard_streams();
    // SAFETY: no other thread exists yet; SIG_IGN is a valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    let code = std::panic::catch_unwind(depclose).unwrap_or(101);
    let _ = std::io::stdout().flush();
    code.into()
}

/// As std's start-up does: a standard descriptor the caller left closed is opened on
/// /dev/null, so that no file depclose opens takes its number and receives its output.
#[cfg(not(test))]
fn standard_streams() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: `fds` is an array of three `pollfd`, valid for the call.
    if unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } < 0 {
        return;
    }
    for fd in fds.iter().filter(|p| p.revents & libc::POLLNVAL != 0) {
        // SAFETY: a NUL-terminated path; the descriptor returned is the lowest free one,
        // which is `fd` itself since the lower ones are open.
        let opened = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        if opened != fd.fd {
            // What std does: no safe way to go on with a standard stream missing.
            std::process::abort();
        }
    }
}

#[cfg_attr(test, allow(dead_code))]
fn depclose() -> u8 {
    // glibc grows a thread's heap by what each allocation lacks plus 128 KiB, and gives
    // memory back at 128 KiB free: a closure at a time, the worker threads' heaps grew and
    // shrank 1,000 times over /usr/bin (one `mprotect` each). 4 MiB steps cost no resident
    // memory (untouched pages are not resident) and make it ten.
    // SAFETY: `mallopt` only sets a parameter; no other thread exists yet.
    unsafe {
        libc::mallopt(libc::M_TOP_PAD, 4 << 20);
    }
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() {
                EXIT_ERROR
            } else {
                EXIT_COMPLETE
            };
            let _ = e.print();
            return code;
        }
    };
    if args.completions.is_some() || args.man {
        return match describe_self(&args) {
            Ok(()) => EXIT_COMPLETE,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => EXIT_COMPLETE,
            Err(e) => {
                eprintln!("depclose: error: writing output: {e}");
                EXIT_ERROR
            }
        };
    }
    let result = Config::new(args, Environment::read()).and_then(|config| run(&config));
    // Interrupted while writing: the writers have removed their files; exit as the signal.
    if let Some(code) = interrupt::exit_code() {
        return code;
    }
    match result {
        Ok(code) => code,
        Err(e) if e.is_broken_pipe() => EXIT_COMPLETE,
        Err(e) => {
            eprintln!("depclose: error: {}", e.chain());
            e.exit_code()
        }
    }
}

/// `--completions SHELL` and `--man`: the command's own description, from its flags.
fn describe_self(args: &Args) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut command = <Args as clap::CommandFactory>::command();
    match args.completions {
        Some(shell) => clap_complete::generate(shell, &mut command, "depclose", &mut out),
        None => clap_mangen::Man::new(command).render(&mut out)?,
    }
    out.flush()
}

fn run(config: &Config) -> Result<u8, Error> {
    let root = Root::new(&config.root)?;
    let host = root.is_host();
    let resolver = Resolver::new(root, config.resolve_options(host));
    let root = resolver.root();
    let image = config.image();
    // The dpkg database (~120k listed paths) that an image's scanner metadata and SBOM need
    // is read on a thread of its own while the closures and the recipes are worked out.
    let packages = image
        .filter(|spec| spec.package_metadata || spec.sbom.is_some())
        .map(|_| {
            let root = Root::new(&config.root)?;
            Ok::<_, Error>(std::thread::spawn(move || {
                depclose_audit::Packages::read(&root)
            }))
        })
        .transpose()?;
    let additions: Vec<Addition> = image
        .map(|spec| {
            spec.additions
                .iter()
                .map(|a| Addition::locate(root, &config.host_cwd, a))
                .collect()
        })
        .unwrap_or_default();
    let overlay = additions::overlay(root, &additions);
    // The accounts are checked before the work: an added passwd file speaks for itself,
    // otherwise the `--user` must exist in the root.
    let accounts = match image {
        Some(spec) if spec.defaults => {
            let added = overlay.adds(Path::new("/etc/passwd"));
            let user = spec.user.as_deref().filter(|_| !added);
            Some(image::accounts(root, user)?)
        }
        _ => None,
    };

    // A trace's program is the first target, and its only one.
    let trace = config
        .trace
        .as_ref()
        .map(|spec| trace::obtain(&resolver, config, spec))
        .transpose()?;
    let traced = trace.as_ref().map(trace::recipe);
    // A trace holds real (UTF-8) names, never escapes.
    let mut targets: Vec<PathBuf> = trace.iter().map(|t| PathBuf::from(&t.program)).collect();
    // Targets found by scanning a directory; a bad one is skipped, a named one is an error.
    let mut scanned = HashSet::new();
    let mut scanned_dirs = Vec::new();
    for word in &config.targets {
        let found = targets::expand(&resolver, word, &config.host_cwd, config.command_path(host))?;
        if let Some(dir) = found.dir {
            scanned.extend(found.paths.iter().cloned());
            scanned_dirs.push(root.host_path(&dir));
        }
        if found.paths.is_empty() {
            return Err(Error::NoElfFiles {
                word: PathBuf::from(word),
            });
        }
        targets.extend(found.paths);
    }
    if let Some(spec) = image {
        let mut inputs: Vec<PathBuf> = targets.iter().map(|t| root.host_path(t)).collect();
        inputs.extend(additions.iter().map(|a| root.host_path(&a.src)));
        inputs.extend(scanned_dirs);
        if !host {
            inputs.push(root.dir().to_path_buf());
        }
        spec.check_outputs_are_not_inputs(&inputs)?;
    }
    let mut moved = HashMap::new();
    for (src, dest) in additions::elf_files(&resolver, &additions)? {
        if src != dest {
            moved.insert(src.clone(), dest);
        }
        targets.push(src);
    }
    // A `#!/usr/bin/env NAME` script runs NAME, which env finds in PATH (the image's own,
    // for an image): it joins as a program of its own.
    let path_var = match image {
        Some(_) => depclose_resolve::DEFAULT_PATH,
        None => config.command_path(host),
    };
    let produce = Producer {
        resolver: &resolver,
        targets: &targets,
        skippable: &|t: &Path| scanned.contains(t) && image.is_none(),
        path_var,
    };
    // A listing of the loader's closures alone is printed from what each closure lists, so
    // that a scan of a whole tree holds a few strings per target, not its closures.
    if matches!(config.action, Action::Print(Format::List)) && !config.runtime && trace.is_none() {
        let mut listing = text::Listing::new(false);
        let mut problems = text::Problems::new(config.allow_missing);
        produce.each(|c| {
            problems.report(&c);
            listing.add(&c);
        })?;
        print_text(|out| listing.write(out))?;
        return Ok(if problems.accepted() {
            EXIT_COMPLETE
        } else {
            EXIT_INCOMPLETE
        });
    }
    let mut closures = Vec::new();
    produce.each(|c| closures.push(c))?;
    // `--dlopen` loads from the first target.
    let mut recipes = config.recipes.clone();
    recipes.dlopen_target = closures.first().map(|c| c.target.clone());
    let recipes = &recipes;
    // The recipes (with --runtime or an image) and the trace's.
    let mut list: Vec<&dyn Recipe> = Vec::new();
    if config.runtime {
        list.extend(depclose_runtime::RECIPES);
    }
    if let Some(t) = &traced {
        list.push(t);
    }
    // What the recipes added to each closure (nothing without them).
    let mut added: Vec<Vec<Added>> = vec![Vec::new(); closures.len()];
    // Kept for the check of a staged image, whose files are the same inodes.
    let reads = std::sync::Arc::new(depclose_runtime::Reads::default());
    if !list.is_empty() {
        let cx = match image {
            Some(spec) => Context::image(&resolver, &overlay, &spec.cmd, recipes),
            None => Context::root(&resolver, recipes),
        }
        .sharing(reads.clone());
        (closures, added) = apply_recipes(&cx, closures, &list)?;
    }
    match &config.action {
        Action::Emit(spec) => {
            if !accepted(&closures, config.allow_missing) {
                eprintln!(
                    "depclose: error: the closure is incomplete; no image written (--allow-missing writes it anyway)"
                );
                return Ok(EXIT_INCOMPLETE);
            }
            for note in recipe_notes(&added) {
                eprintln!("depclose: note: {note}");
            }
            let staged = Staged {
                closures: &closures,
                added: &added,
                additions: &additions,
                moved: &moved,
                accounts: accounts.as_ref(),
            };
            let (code, metadata) = emit(
                spec,
                (recipes, &list, reads),
                config.allow_missing,
                &resolver,
                staged,
                packages,
            )?;
            if code == EXIT_COMPLETE {
                if let Some(format) = spec.report {
                    let user: Vec<UserAddition> = additions
                        .iter()
                        .map(|a| UserAddition {
                            source: a.src.clone(),
                            destination: a.image_path(root),
                        })
                        .collect();
                    let extras = json::Extras {
                        image: Some(&user),
                        metadata: &metadata,
                        trace: trace.as_ref(),
                        ..json::Extras::default()
                    };
                    report(format, root, &closures, &added, &extras)?;
                }
            }
            Ok(code)
        }
        Action::Why(name) => {
            let found = print_text(|out| text::why(out, &closures, &added, name))?;
            if !found {
                return Err(Error::NotInClosure { name: name.clone() });
            }
            Ok(exit_code(&closures, config.allow_missing))
        }
        Action::Print(format) => {
            let extras = json::Extras {
                trace: trace.as_ref(),
                ..json::Extras::default()
            };
            report(*format, root, &closures, &added, &extras)?;
            Ok(exit_code(&closures, config.allow_missing))
        }
        // No target of its own: each image's program, inside the image.
        Action::DiffImages { old, new, format } => diff_images::run(config, old, new, *format),
        Action::Audit(format, old) => {
            let audits = audit_closures(root, &closures)?;
            let mut extras = json::Extras {
                trace: trace.as_ref(),
                audits: Some(&audits),
                ..json::Extras::default()
            };
            let diff = match old {
                Some(old) => {
                    let digests = json::digests(root, &closures)?;
                    let new = json::snapshot(root, &closures, &added, &extras, &digests)
                        .map_err(Error::OwnReport)?;
                    Some(depclose_audit::diff::diff(&old.snapshot, &new))
                }
                None => None,
            };
            extras.diff = diff.as_ref();
            match (format, &diff, &old) {
                (Format::Json, ..) => {
                    report(Format::Json, root, &closures, &added, &extras)?;
                }
                (_, Some(d), Some(old)) => print_text(|out| audit::diff_text(out, &old.path, d))?,
                (Format::Dot, ..) => {
                    print(|out| dot::write(out, &closures, &added, Some(&audits)))?
                }
                _ => print_text(|out| audit::text(out, &closures, &audits))?,
            }
            let mut broken = 0;
            for (c, a) in closures.iter().zip(&audits) {
                let paths: Vec<&str> = c.objects.iter().map(|o| o.path.as_str()).collect();
                let target = depclose_elf::name::from_path(&c.target);
                for v in depclose_audit::policy::check(&config.require, &target, &paths, a) {
                    eprintln!("depclose: policy: {}: {}: {}", v.object, v.rule, v.message);
                    broken += 1;
                }
            }
            if broken > 0 {
                eprintln!("depclose: error: {broken} policy violations (--require)");
                return Ok(EXIT_POLICY);
            }
            if let Some(n) = diff.as_ref().map(|d| d.regressions()).filter(|n| *n > 0) {
                eprintln!("depclose: error: {n} regressions since the old audit (--diff)");
                return Ok(EXIT_REGRESSED);
            }
            Ok(exit_code(&closures, config.allow_missing))
        }
    }
}

/// The closures with what `list`'s recipes add at run time, and what each added (a
/// program a recipe names joins as a closure of its own).
pub(crate) fn apply_recipes(
    cx: &Context<'_>,
    closures: Vec<Closure>,
    list: &[&dyn Recipe],
) -> Result<(Vec<Closure>, Vec<Vec<Added>>), Error> {
    let applied = depclose_runtime::apply_all(cx, closures, list)?;
    for (reason, e) in &applied.skipped {
        eprintln!("depclose: warning: {reason}: not analysed: {e}");
    }
    Ok((applied.closures, applied.added))
}

/// The audit of each closure, reading the root's package database once.
pub(crate) fn audit_closures(
    root: &Root,
    closures: &[Closure],
) -> Result<Vec<depclose_audit::TargetAudit>, Error> {
    let auditor = depclose_audit::Auditor::new(root)?;
    // A thread pool costs more than one closure's audit takes.
    Ok(if closures.len() > 1 {
        closures.par_iter().map(|c| auditor.audit(c)).collect()
    } else {
        closures.iter().map(|c| auditor.audit(c)).collect()
    })
}

/// The closures of the targets, a chunk at a time, each handed on in target order; then
/// those of the programs scripts name through `env`.
struct Producer<'a> {
    resolver: &'a Resolver,
    targets: &'a [PathBuf],
    /// A target that may be skipped with a warning when it cannot be read (one a directory
    /// scan found); any other is an input error.
    skippable: &'a (dyn Fn(&Path) -> bool + Sync),
    /// Where `env` looks for a program.
    path_var: &'a str,
}

/// A target, whether it may be skipped, and its closure.
type Analysed = (bool, Result<Closure, depclose_resolve::Error>);

impl Producer<'_> {
    /// Closures computed at once: enough to keep both cores busy, few enough to hold (two
    /// chunks are: one taken while the next is computed), and small enough that little of
    /// the taking is left after the last is computed (64 was ~5% faster than 256 over
    /// /usr/bin and /usr/sbin).
    const CHUNK: usize = 64;

    fn each(&self, mut take: impl FnMut(Closure)) -> Result<(), Error> {
        let analyse = |t: &PathBuf| ((self.skippable)(t), self.resolver.closure(t));
        let compute = |chunk: &[PathBuf]| -> Vec<Analysed> {
            // A thread pool costs more than one program's closure takes.
            if chunk.len() > 1 {
                chunk.par_iter().map(analyse).collect()
            } else {
                chunk.iter().map(analyse).collect()
            }
        };
        let mut through_env = Vec::new();
        let mut consume = |results: Vec<Analysed>| -> Result<(), Error> {
            for (skippable, r) in results {
                match r {
                    Ok(c) => {
                        through_env.extend(self.env_program(&c)?);
                        take(c);
                    }
                    Err(e) if skippable => eprintln!("depclose: warning: skipped: {e}"),
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(())
        };
        let mut chunks = self.targets.chunks(Self::CHUNK);
        let mut ready = chunks.next().map(compute);
        while let Some(results) = ready.take() {
            match chunks.next() {
                // The pool computes the next chunk while this thread takes the last one
                // (printing, and dropping, is a third of the work over /usr/bin).
                Some(next) => {
                    let mut computed = None;
                    rayon::in_place_scope(|s| {
                        s.spawn(|_| computed = Some(compute(next)));
                        consume(results)
                    })?;
                    ready = computed;
                }
                None => consume(results)?,
            }
        }
        through_env.into_iter().for_each(take);
        Ok(())
    }

    /// The closure of the program `c`'s script runs through `env`, if it names one.
    fn env_program(&self, c: &Closure) -> Result<Option<Closure>, Error> {
        let Some(name) = env_program(c) else {
            return Ok(None);
        };
        match self.resolver.find_command(name, self.path_var) {
            Ok(program) => {
                eprintln!(
                    "depclose: note: {} runs {name} through env: added {}",
                    c.scripts[0].path.display(),
                    program.display()
                );
                Ok(Some(self.resolver.closure(&program)?))
            }
            Err(e) => {
                eprintln!(
                    "depclose: warning: {} runs {name} through env, which will not find it: {e}",
                    c.scripts[0].path.display()
                );
                Ok(None)
            }
        }
    }
}

/// The program a script names through `env` (`#!/usr/bin/env python3`, or
/// `#!/usr/bin/env -S python3 -u`): the first word of the `#!` argument that is no option
/// and no variable assignment.
fn env_program(c: &Closure) -> Option<&str> {
    let last = c.scripts.last()?;
    if depclose_elf::name::to_path(&last.interpreter).file_name()? != "env" {
        return None;
    }
    last.argument
        .as_deref()?
        .split_whitespace()
        .find(|w| !w.starts_with('-') && !w.contains('='))
}

/// Print the closures in `format`; with an image, also what the user added to it.
fn report(
    format: Format,
    root: &Root,
    closures: &[Closure],
    added: &[Vec<Added>],
    extras: &json::Extras<'_>,
) -> Result<(), Error> {
    let user = extras.image.unwrap_or_default();
    let metadata = extras.metadata;
    match format {
        // Run-time objects are listed whenever the recipes ran (an image, or --runtime).
        Format::List => {
            let runtime = added.iter().any(|a| !a.is_empty());
            print_text(|out| text::list(out, closures, added, (user, metadata), runtime))
        }
        Format::Tree => print_text(|out| text::tree(out, closures, added, (user, metadata))),
        Format::Dot => print(|out| dot::write(out, closures, added, extras.audits)),
        Format::Json => {
            let digests = json::digests(root, closures)?;
            print(|out| json::write(out, root, closures, added, extras, &digests))
        }
    }
}

type Stdout = std::io::BufWriter<std::io::StdoutLock<'static>>;

/// Write to stdout through a buffer.
fn print<T>(f: impl FnOnce(&mut Stdout) -> std::io::Result<T>) -> Result<T, Error> {
    print_to(std::io::BufWriter::new(std::io::stdout().lock()), f)
}

/// [`print()`] for the text formats: a name that is not UTF-8 goes out as its bytes.
fn print_text<T>(
    f: impl FnOnce(&mut text::Decoded<Stdout>) -> std::io::Result<T>,
) -> Result<T, Error> {
    print_to(
        text::Decoded::new(std::io::BufWriter::new(std::io::stdout().lock())),
        f,
    )
}

fn print_to<W: Write, T>(
    mut out: W,
    f: impl FnOnce(&mut W) -> std::io::Result<T>,
) -> Result<T, Error> {
    let value = f(&mut out)?;
    out.flush()?;
    Ok(value)
}

/// Write `bytes` to `path` atomically, with `mode` ([`depclose_pack::AtomicFile`]; `kind`
/// names a fallback temporary file): an error, an interrupt or a kill leaves no partial file.
pub(crate) fn write_atomically(
    path: &Path,
    kind: &str,
    bytes: &[u8],
    mode: u32,
) -> Result<(), Error> {
    let mut out = depclose_pack::AtomicFile::create(path, kind)?;
    out.file_mut()
        .write_all(bytes)
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(out.commit(mode)?)
}

/// Report what is missing on stderr; whether the run counts as complete. `--allow-missing`
/// accepts missing names, not a loader that would stop with an error.
fn accepted(closures: &[Closure], allow_missing: bool) -> bool {
    let mut problems = text::Problems::new(allow_missing);
    closures.iter().for_each(|c| problems.report(c));
    problems.accepted()
}

fn exit_code(closures: &[Closure], allow_missing: bool) -> u8 {
    if accepted(closures, allow_missing) {
        EXIT_COMPLETE
    } else {
        EXIT_INCOMPLETE
    }
}

/// What the recipes added to an image: a line per recipe naming the first few additions,
/// each with its evidence, and how many more (`--runtime -f tree` or `-f json` lists each);
/// then what they name but do not add.
fn recipe_notes(added: &[Vec<Added>]) -> Vec<String> {
    /// Additions named on a recipe's line before the rest is counted.
    const SHOWN: usize = 3;
    let mut lines: Vec<(&str, Vec<String>)> = Vec::new();
    let mut mentions = Vec::new();
    for a in added.iter().flatten() {
        let what = match &a.want {
            // Not found: reported as missing, not as added.
            Want::Load { .. } if a.object.is_none() => continue,
            Want::Load { name, .. } => name.clone(),
            Want::File(p) | Want::Tree { path: p, .. } | Want::Dir { path: p, .. } => {
                p.display().to_string()
            }
            Want::Env { key, value } => format!("Env {key}={value}"),
            Want::User(u) => format!("user {u}"),
            Want::Group(g) => format!("group {g}"),
            Want::Cmd(c) => format!("Cmd {}", c.join(" ")),
            Want::Program(p) => format!("program {}", p.display()),
            Want::Mention { name, path } => {
                let at = path.as_deref().unwrap_or("not found");
                mentions.push(format!(
                    "may load at run time: {name} => {at} ({})",
                    a.reason.evidence
                ));
                continue;
            }
        };
        let item = format!("{what} ({})", a.reason.evidence);
        match lines.iter_mut().find(|(r, _)| *r == a.reason.recipe) {
            Some((_, items)) if !items.contains(&item) => items.push(item),
            Some(_) => {}
            None => lines.push((a.reason.recipe, vec![item])),
        }
    }
    lines
        .into_iter()
        .map(|(recipe, items)| {
            let named = items[..items.len().min(SHOWN)].join("; ");
            match items.len().saturating_sub(SHOWN) {
                0 => format!("recipe {recipe} added {named}"),
                n => format!("recipe {recipe} added {named}; and {n} more"),
            }
        })
        .chain(mentions)
        .collect()
}

/// What goes into an image besides its options.
pub(crate) struct Staged<'a> {
    pub(crate) closures: &'a [Closure],
    /// What the recipes added to each closure.
    pub(crate) added: &'a [Vec<Added>],
    pub(crate) additions: &'a [Addition],
    /// Added ELF files that move (`--add SRC:DEST`): root path to image path.
    pub(crate) moved: &'a HashMap<PathBuf, PathBuf>,
    pub(crate) accounts: Option<&'a image::Accounts>,
}

/// Stage, verify inside the staged tree, then write the image and/or the rootfs.
/// The dpkg database being read (see [`run`]).
type PackagesRead = std::thread::JoinHandle<
    Result<Option<depclose_audit::Packages>, depclose_audit::packages::Error>,
>;

fn emit(
    spec: &ImageSpec,
    (recipes, list, reads): (
        &depclose_runtime::Options,
        &[&dyn Recipe],
        std::sync::Arc<depclose_runtime::Reads>,
    ),
    allow_missing: bool,
    resolver: &Resolver,
    staged: Staged<'_>,
    packages: Option<PackagesRead>,
) -> Result<(u8, Vec<scan::Metadata>), Error> {
    let mut dirs = vec![std::env::temp_dir()];
    dirs.extend(spec.output_dirs());
    // Where this run puts its temporaries (beside the outputs; in $TMPDIR without one, or
    // the image a push sends when no file holds it), and so where a killed one left them;
    // no other directory is listed.
    let pushes_a_temporary =
        spec.push.is_some() && !matches!(spec.image, Some(config::ImageOutput::File(_)));
    let temp_homes = if dirs.len() > 1 && !pushes_a_temporary {
        &dirs[1..]
    } else {
        &dirs[..]
    };
    for dir in temp_homes {
        for swept in depclose_pack::sweep(dir) {
            eprintln!(
                "depclose: note: removed {}, left by depclose process {} (killed before it could)",
                swept.path.display(),
                swept.pid
            );
        }
    }
    interrupt::clean_up_on_signal(dirs);
    let staged_tree = image::stage(resolver, &staged)?;
    let root = resolver.root();
    let config = image::config(staged.closures, staged.added, spec, resolver.options())?;
    config.check()?;
    let progress = image::progress;
    // The check runs on a skeleton of the tree (files hard-linked), so it sees exactly the
    // paths, symlinks and files the image will hold for the loader and the recipes (the
    // scanners' metadata aside, below).
    let scratch_parent = spec.scratch_dir().unwrap_or_else(std::env::temp_dir);
    let scratch =
        depclose_pack::TempDir::new_in(&scratch_parent, "verify").map_err(|source| Error::Io {
            path: scratch_parent.clone(),
            source,
        })?;
    interrupt::check()?;
    let staged_tree = &staged_tree;
    // The check starts at once, on the tree the closures and the recipes made, and runs beside
    // the scanners' metadata and the writing, which its verdict gates: nothing reaches a
    // destination (the image's first byte, the rootfs's rename, a push) before it passed. What
    // the metadata adds (dpkg's status, md5 sums and copyright files, os-release, their
    // directories) neither the loader nor a recipe reads, and making its ~800 inodes was most of
    // the skeleton's cost (ffmpeg: 196 packages).
    let (verdict, metadata, written) = std::thread::scope(|s| {
        let check = s.spawn(|| {
            let skeleton = scratch.path().join("rootfs");
            staged_tree.write_skeleton(&skeleton)?;
            let verdict = image::verify(
                &skeleton,
                &staged,
                resolver.options(),
                (recipes, list, reads),
                &spec.cmd,
                allow_missing,
            );
            // Removed on a thread of its own, beside the writing (6 ms for Apache's 630
            // files): the gate waits for the verdict, not for this.
            s.spawn(move || drop(scratch));
            verdict
        });
        let check = RefCell::new(Some(check));
        let verdict: RefCell<Option<Result<Vec<String>, Error>>> = RefCell::new(None);
        let gate = || {
            let mut verdict = verdict.borrow_mut();
            if let Some(check) = check.borrow_mut().take() {
                let v = check
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p));
                *verdict = Some(v);
            }
            match &*verdict {
                Some(Ok(problems)) if problems.is_empty() => Ok(()),
                _ => Err(depclose_pack::Error::Withheld),
            }
        };
        // Meanwhile the scanners' metadata joins the tree, from the dpkg database read since
        // the start.
        let prepared = (|| -> Result<_, Error> {
            let packages = match packages {
                Some(read) => read
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))?,
                None => None,
            };
            let mut tree = Cow::Borrowed(staged_tree);
            let metadata = if spec.package_metadata {
                let cwd = &resolver.options().cwd;
                scan::stage_metadata(root, cwd, tree.to_mut(), packages.as_ref())?
            } else {
                Vec::new()
            };
            if let Some(note) = scan_note(&metadata) {
                eprintln!("depclose: note: {note}");
            }
            Ok((tree, packages, metadata))
        })();
        let write = |tree: &depclose_pack::Tree,
                     packages: Option<&depclose_audit::Packages>|
         -> Result<(), Error> {
            let mut options = image::write_options(spec, &progress, &interrupt::INTERRUPTED);
            options.gate = Some(&gate);
            let sbom = match &spec.sbom {
                Some(s) => Some((
                    s,
                    scan::sbom_facts(root, tree, packages, staged.closures, staged.moved)?,
                )),
                None => None,
            };
            // The document names the image by its manifest digest: it is made once that is known,
            // goes into the tar beside the image, and is kept for `--sbom`.
            let document = RefCell::new(None);
            let referrers = |image: &ImageSummary| -> Result<Vec<Artifact>, ArtifactError> {
                let Some((s, facts)) = &sbom else {
                    return Ok(Vec::new());
                };
                let doc = facts.document(
                    s.format,
                    &config.tag,
                    &config.architecture,
                    &image.manifest_digest,
                    spec.epoch,
                )?;
                *document.borrow_mut() = Some(doc.clone());
                Ok(vec![Artifact {
                    media_type: s.format.media_type().to_owned(),
                    data: doc,
                }])
            };
            options.referrers = Some(&referrers);
            let warn_setuid = |dropped: &[PathBuf]| {
                let mut dropped = dropped.to_vec();
                dropped.dedup();
                for p in &dropped {
                    eprintln!(
                        "depclose: warning: {}: setuid/setgid bits dropped (--keep-setuid keeps them)",
                        p.display()
                    );
                }
            };
            if let Some(dir) = &spec.rootfs {
                let s = tree.write_rootfs(dir, &options)?;
                warn_setuid(&s.dropped_setuid);
                eprintln!(
                    "depclose: wrote {}: {} files, {} bytes",
                    dir.display(),
                    s.files,
                    s.content_bytes
                );
            }
            if let Some(dest) = &spec.image {
                let (summary, shown) = match dest {
                    ImageOutput::Stdout => {
                        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                        let s = tree.write_image_to(
                            &config,
                            &mut out,
                            &std::env::temp_dir(),
                            &options,
                        )?;
                        out.flush()?;
                        (s, PathBuf::from("-"))
                    }
                    ImageOutput::File(path) => {
                        (tree.write_image(&config, path, &options)?, path.clone())
                    }
                };
                if spec.rootfs.is_none() {
                    warn_setuid(&summary.layer.contents.dropped_setuid);
                }
                eprintln!(
                    "depclose: wrote {} ({}): {} {}, {} files, {} bytes",
                    shown.display(),
                    config.tag,
                    summary.manifest_digest,
                    config.architecture,
                    summary.layer.contents.files,
                    summary.layer.contents.content_bytes
                );
                if let (Some((s, facts)), Some(doc)) = (&sbom, document.take()) {
                    let shown = match &s.output {
                        ImageOutput::Stdout => {
                            print(|out| out.write_all(&doc))?;
                            PathBuf::from("-")
                        }
                        ImageOutput::File(path) => {
                            write_atomically(path, "sbom", &doc, 0o644)?;
                            path.clone()
                        }
                    };
                    let (packages, files) = facts.counts();
                    eprintln!(
                        "depclose: wrote {} ({}): {packages} packages, {files} files; in the image as {}",
                        shown.display(),
                        s.format.media_type(),
                        summary.referrers.join(", ")
                    );
                }
            }
            if let Some(push) = &spec.push {
                gate()?;
                let written = match &spec.image {
                    Some(ImageOutput::File(path)) => Some(path.as_path()),
                    _ => None,
                };
                push::run(push, written, tree, &config, &options)?;
            }
            Ok(())
        };
        let written = match &prepared {
            Ok((tree, packages, _)) => write(tree, packages.as_ref()),
            Err(_) => Ok(()),
        };
        // Settled, whatever the writing did.
        let _ = gate();
        (verdict.into_inner(), prepared.map(|(_, _, m)| m), written)
    });
    let metadata = metadata?;
    let problems = verdict.unwrap_or_else(|| Ok(Vec::new()))?;
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("depclose: error: {p}");
        }
        eprintln!("depclose: error: the staged image does not resolve on its own; nothing written");
        return Ok((EXIT_INCOMPLETE, metadata));
    }
    written?;
    Ok((EXIT_COMPLETE, metadata))
}

/// What the image holds for scanners, on one line.
fn scan_note(metadata: &[scan::Metadata]) -> Option<String> {
    if metadata.is_empty() {
        return None;
    }
    let count = |kind| metadata.iter().filter(|m| m.kind == kind).count();
    let os_release = count(scan::Kind::OsRelease);
    Some(format!(
        "for scanners: the dpkg status of {} packages in {} ({} with md5 sums), {} copyright files{}",
        count(scan::Kind::Status),
        depclose_audit::packages::STATUS_D,
        count(scan::Kind::Md5sums),
        count(scan::Kind::Copyright),
        if os_release > 0 { ", os-release" } else { "" },
    ))
}
