//! What every test needs: its own temp dir, `depclose` run with a scrubbed environment,
//! the real loaders (the oracles) run and parsed one way, and the checks that decide whether
//! this machine can give a test what it relies on (else the test says `SKIPPED` and why).

pub(crate) mod engine;
pub(crate) mod image;
pub(crate) mod report;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The binary under test, built by Cargo for this test target.
pub(crate) const DEPCLOSE: &str = env!("CARGO_BIN_EXE_depclose");

/// The only variable the children see. Fixed (not inherited) so that command lookups give
/// the same answer on every machine and in every shell.
pub(crate) const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// glibc's loader, run directly: with `LD_TRACE_LOADED_OBJECTS` it prints what `ldd` prints,
/// without `ldd`'s bash wrapper (several times faster).
pub(crate) const LDSO: &str = "/lib64/ld-linux-x86-64.so.2";

/// musl's loader; `--list` is musl's ldd.
pub(crate) const LD_MUSL: &str = "/lib/ld-musl-x86_64.so.1";

/// A temp dir owned by one test, removed when the test ends.
pub(crate) struct TestEnv {
    dir: tempfile::TempDir,
    /// The dir with symlinks resolved: the loader prints paths built from what it is given,
    /// so tests pass it paths that are already canonical.
    root: PathBuf,
}

impl TestEnv {
    pub(crate) fn new() -> TestEnv {
        let dir = tempfile::Builder::new()
            .prefix("depclose-test")
            .tempdir()
            .unwrap();
        let root = dir.path().canonicalize().unwrap();
        TestEnv { dir, root }
    }

    pub(crate) fn path(&self) -> &Path {
        debug_assert!(self.dir.path().exists());
        &self.root
    }

    pub(crate) fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root.join(rel)
    }

    /// Write a file (and its parent directories) and return its path.
    pub(crate) fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, contents).unwrap();
        p
    }

    /// Run depclose in this test's dir.
    pub(crate) fn depclose<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.depclose_in(self.path(), args)
    }

    /// Run depclose with `cwd` as its working directory.
    pub(crate) fn depclose_in<I, S>(&self, cwd: &Path, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = command(DEPCLOSE);
        cmd.args(args).current_dir(cwd);
        run(&mut cmd)
    }
}

/// A command with an empty environment but `PATH`: nothing from the developer's shell
/// (`LD_LIBRARY_PATH`, `LD_PRELOAD`, locale) reaches depclose or the loader.
pub(crate) fn command(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear().env("PATH", PATH).stdin(Stdio::null());
    cmd
}

/// What a finished process left.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub(crate) what: String,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    /// None when killed by a signal.
    pub(crate) code: Option<i32>,
}

impl Run {
    pub(crate) fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    pub(crate) fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }

    /// Panics with the whole run in the message unless the exit code is `code`.
    #[track_caller]
    pub(crate) fn assert_code(&self, code: i32) -> &Run {
        assert_eq!(self.code, Some(code), "unexpected exit code\n{self}");
        assert!(
            !self.stderr.contains("panicked"),
            "depclose panicked\n{self}"
        );
        self
    }

    /// The command, exit code and stderr, without stdout (for a JSON report, which the
    /// message describes instead).
    pub(crate) fn brief(&self) -> String {
        format!(
            "$ {}\nexit: {:?}\n--- stderr\n{}",
            self.what,
            self.code,
            truncate(&self.stderr)
        )
    }

    /// The JSON report on stdout, parsed into the pinned schema.
    #[track_caller]
    pub(crate) fn report(&self) -> report::Report {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not a schema-4 report: {e}\n{self}"))
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ {}", self.what)?;
        writeln!(f, "exit: {:?}", self.code)?;
        writeln!(f, "--- stdout\n{}", truncate(&self.stdout))?;
        write!(f, "--- stderr\n{}", truncate(&self.stderr))
    }
}

fn truncate(s: &str) -> &str {
    const MAX: usize = 4000;
    if s.len() <= MAX {
        return s;
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Run to completion, capturing both streams.
pub(crate) fn run(cmd: &mut Command) -> Run {
    let what = describe(cmd);
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    Run {
        what,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code(),
    }
}

/// Run to completion; panics with the whole run unless it exits 0.
#[track_caller]
pub(crate) fn run_ok(cmd: &mut Command) -> Run {
    let r = run(cmd);
    assert_eq!(r.code, Some(0), "{r}");
    r
}

/// The command as a shell line, so that a failure message can be replayed.
fn describe(cmd: &Command) -> String {
    // The variables set beyond PATH, and where it ran, so a failure message can be replayed.
    let vars: String = cmd
        .get_envs()
        .filter(|(k, _)| *k != "PATH")
        .filter_map(|(k, v)| Some(format!("{}={} ", k.to_string_lossy(), v?.to_string_lossy())))
        .collect();
    let dir = cmd
        .get_current_dir()
        .map(|d| format!("cd {} && ", d.display()))
        .unwrap_or_default();
    format!(
        "{dir}{vars}{} {}",
        cmd.get_program().to_string_lossy(),
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    )
}

/// One line of the loader's trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Traced {
    /// An object, as the path the loader built and opened.
    Path(String),
    /// `name => not found`.
    NotFound(String),
}

/// The loader's trace of one program.
#[derive(Debug, Clone)]
pub(crate) struct Trace {
    pub(crate) run: Run,
    pub(crate) entries: Vec<Traced>,
    /// The loader said `statically linked` (it traced nothing).
    pub(crate) statically_linked: bool,
}

impl Trace {
    pub(crate) fn paths(&self) -> Vec<&str> {
        self.entries
            .iter()
            .filter_map(|e| match e {
                Traced::Path(p) => Some(p.as_str()),
                Traced::NotFound(_) => None,
            })
            .collect()
    }

    /// The paths as a list of distinct objects: musl's `--list` prints its loader first and
    /// again for each reserved name it answers (`libc.so => /lib/ld-musl-x86_64.so.1`);
    /// glibc's trace never repeats a path, so this changes nothing there.
    pub(crate) fn objects(&self) -> Vec<&str> {
        let mut seen = std::collections::HashSet::new();
        self.paths()
            .into_iter()
            .filter(|p| seen.insert(*p))
            .collect()
    }

    pub(crate) fn not_found(&self) -> Vec<&str> {
        self.entries
            .iter()
            .filter_map(|e| match e {
                Traced::NotFound(n) => Some(n.as_str()),
                Traced::Path(_) => None,
            })
            .collect()
    }

    /// The loader's own error (`PROG: error while loading shared libraries: PATH: REASON`),
    /// split into the path it stopped at and the reason.
    pub(crate) fn loader_error(&self) -> Option<(String, String)> {
        const MARK: &str = "error while loading shared libraries: ";
        let line = self.run.stderr.lines().find(|l| l.contains(MARK))?;
        let rest = &line[line.find(MARK)? + MARK.len()..];
        let (path, reason) = rest.rsplit_once(": ")?;
        Some((path.to_owned(), reason.to_owned()))
    }
}

/// Parse trace output (`ld.so` in trace mode, or musl's `--list`). Lines are
/// `name => path (0x…)`, `path (0x…)`, `name => not found`, or `statically linked`;
/// the vDSO is no file and is skipped. Any other line is an error: an oracle that says
/// something unforeseen must not be read as agreeing.
fn parse_trace(stdout: &str) -> Result<(Vec<Traced>, bool), String> {
    let mut entries = Vec::new();
    let mut statically_linked = false;
    for line in stdout.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line == "statically linked" {
            statically_linked = true;
            continue;
        }
        if let Some(name) = line.strip_suffix(" => not found") {
            entries.push(Traced::NotFound(name.to_owned()));
            continue;
        }
        // Drop the load address; what is left is `name => path` or `path`.
        let body = line
            .strip_suffix(')')
            .and_then(|l| l.rsplit_once(" (0x"))
            .filter(|(_, hex)| !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(|(body, _)| body)
            .ok_or_else(|| format!("unexpected loader trace line: {line:?}"))?;
        let path = match body.split_once(" => ") {
            Some((_, p)) => p,
            None => body,
        };
        if path.starts_with("linux-vdso.so") || path.starts_with("linux-gate.so") {
            continue;
        }
        entries.push(Traced::Path(path.to_owned()));
    }
    Ok((entries, statically_linked))
}

/// A finished trace run, parsed.
pub(crate) fn trace_of(run: Run) -> Trace {
    let (entries, statically_linked) =
        parse_trace(&run.stdout).unwrap_or_else(|e| panic!("{e}\n{run}"));
    Trace {
        run,
        entries,
        statically_linked,
    }
}

/// The oracles' parser on every kind of line the loaders print.
#[test]
fn trace_lines_parse() {
    let (entries, statically_linked) = parse_trace(
        "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibz.so.1 => /lib/x/libz.so.1 (0x00007f00)\n\
         \tlibq.so.2 => not found\n\tlibe2.so.1 (0x00007f02)\n\
         \t/lib64/ld-linux-x86-64.so.2 (0x00007f01)\n",
    )
    .unwrap();
    assert_eq!(
        entries,
        [
            Traced::Path("/lib/x/libz.so.1".into()),
            Traced::NotFound("libq.so.2".into()),
            // A name found through an empty RPATH element prints bare: a file all the same.
            Traced::Path("libe2.so.1".into()),
            Traced::Path("/lib64/ld-linux-x86-64.so.2".into()),
        ]
    );
    assert!(!statically_linked);
    assert_eq!(parse_trace("\tstatically linked\n"), Ok((vec![], true)));
    for odd in [
        "odd line",
        "libz.so.1 => /lib/libz.so.1 (0xzz)",
        "libz.so.1 => /lib/libz.so.1",
    ] {
        assert!(parse_trace(odd).is_err(), "{odd:?} read as a trace line");
    }
}

fn trace_with(mut cmd: Command, cwd: &Path, library_path: Option<&str>) -> Trace {
    cmd.current_dir(cwd);
    if let Some(lp) = library_path {
        cmd.env("LD_LIBRARY_PATH", lp);
    }
    trace_of(run(&mut cmd))
}

/// `LD_TRACE_LOADED_OBJECTS=1 LD_WARN=yes ld.so TARGET`: unlike `ld.so --list`, trace mode
/// goes on after a missing library and prints `name => not found`.
pub(crate) fn ldso_trace(target: &Path, cwd: &Path, library_path: Option<&str>) -> Trace {
    let mut cmd = command(LDSO);
    cmd.env("LD_TRACE_LOADED_OBJECTS", "1")
        .env("LD_WARN", "yes")
        .arg(target);
    trace_with(cmd, cwd, library_path)
}

/// A real exec of TARGET with tracing on: the kernel handles `#!` and sets `$ORIGIN` from the
/// real file, and a glibc loader traces instead of running the program. Only for files
/// that are safe to run (a static program runs for real).
pub(crate) fn exec_trace(target: &Path, cwd: &Path, library_path: Option<&str>) -> Trace {
    let mut cmd = command(target);
    cmd.env("LD_TRACE_LOADED_OBJECTS", "1")
        .env("LD_WARN", "yes");
    trace_with(cmd, cwd, library_path)
}

/// `ld-musl --list TARGET`.
pub(crate) fn musl_trace(target: &Path, cwd: &Path, library_path: Option<&str>) -> Trace {
    let mut cmd = command(LD_MUSL);
    cmd.arg("--list").arg(target);
    trace_with(cmd, cwd, library_path)
}

/// A root's own loader in trace mode, run inside the root:
/// `chroot ROOT env -i PATH=… LD_TRACE_LOADED_OBJECTS=1 LD_WARN=yes LOADER ARGS… FILE`.
/// The variables are set inside: set outside, they would trace the host's `chroot` binary.
/// The root needs `/usr/bin/env`.
pub(crate) fn chroot_trace(root: &Path, loader: &str, ld_args: &[&str], file: &str) -> Trace {
    trace_of(run(command("chroot")
        .arg(root)
        .args(["/usr/bin/env", "-i", "PATH=/usr/bin:/bin"])
        .args(["LD_TRACE_LOADED_OBJECTS=1", "LD_WARN=yes", loader])
        .args(ld_args)
        .arg(file)))
}

/// depclose's list (without the program) equals the loader's trace, string for string.
pub(crate) fn agree(env: &TestEnv, program: &Path, cwd: &Path, extra: &[&str]) {
    let trace = ldso_trace(program, cwd, None);
    assert_eq!(trace.run.code, Some(0), "{}", trace.run);
    let mut args: Vec<&std::ffi::OsStr> = extra.iter().map(|a| a.as_ref()).collect();
    args.push(program.as_os_str());
    let run = env.depclose_in(cwd, args);
    run.assert_code(0);
    let got: Vec<&str> = run.lines().into_iter().skip(1).collect();
    assert_eq!(got, trace.objects(), "{run}\n{}", trace.run);
}

/// The little of an ELF header the tests need to pick targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ElfSniff {
    /// `e_type`: 2 executable, 3 shared object (or PIE).
    pub(crate) e_type: u16,
    /// `PT_INTERP`, if any.
    pub(crate) interp: Option<String>,
}

pub(crate) const ET_DYN: u16 = 3;

/// Read the header and program headers of a 64-bit little-endian x86-64 ELF file; None for
/// anything else (other files, other architectures: the host's loader would refuse them).
pub(crate) fn sniff_elf(path: &Path) -> Option<ElfSniff> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let mut h = [0u8; 64];
    f.read_exact(&mut h).ok()?;
    // ELFCLASS64, ELFDATA2LSB, EM_X86_64.
    if &h[..4] != b"\x7fELF" || h[4] != 2 || h[5] != 1 || le16(&h, 18) != 62 {
        return None;
    }
    let e_type = le16(&h, 16);
    let phoff = le64(&h, 32);
    let phentsize = u64::from(le16(&h, 54));
    let phnum = u64::from(le16(&h, 56));
    if phentsize < 56 || phnum > 4096 {
        return None;
    }
    let mut interp = None;
    for i in 0..phnum {
        let mut ph = [0u8; 56];
        f.seek(SeekFrom::Start(phoff.checked_add(i * phentsize)?))
            .ok()?;
        f.read_exact(&mut ph).ok()?;
        // PT_INTERP
        if le32(&ph, 0) == 3 {
            let (off, size) = (le64(&ph, 8), le64(&ph, 32));
            if size > 4096 {
                return None;
            }
            let mut s = vec![0u8; usize::try_from(size).ok()?];
            f.seek(SeekFrom::Start(off)).ok()?;
            f.read_exact(&mut s).ok()?;
            let s = s.split(|&b| b == 0).next().unwrap_or_default();
            interp = Some(String::from_utf8_lossy(s).into_owned());
        }
    }
    Some(ElfSniff { e_type, interp })
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Copy a tree as `cp -a` does (symlinks stay symlinks, modes kept): the fixtures' symlinks
/// are what the scenarios test.
pub(crate) fn cp_a(from: &Path, to: &Path) {
    let r = run(Command::new("cp").arg("-a").arg(from).arg(to));
    assert_eq!(r.code, Some(0), "{r}");
}

/// Every file under `dir`, recursively, in sorted order. Symlinked directories are not
/// entered (no loops, no double counting); symlinks to files are kept when
/// `keep_symlinks`, because a program reached through a symlink is a case of its own.
pub(crate) fn walk(dir: &Path, keep_symlinks: bool, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(std::fs::DirEntry::path);
    for e in entries {
        let Ok(ft) = e.file_type() else { continue };
        let path = e.path();
        if ft.is_dir() {
            walk(&path, keep_symlinks, out);
        } else if ft.is_file() || (keep_symlinks && ft.is_symlink() && path.is_file()) {
            out.push(path);
        }
    }
}

/// Resolve PATH on the host as the kernel does, recording every symlink on the way (as
/// image-relative name → target) and the file it ends at.
pub(crate) fn walk_host(
    path: &str,
    links: &mut BTreeMap<String, String>,
    files: &mut BTreeSet<String>,
) {
    let rel = |p: &Path| p.strip_prefix("/").unwrap().to_string_lossy().into_owned();
    // Components still to walk, the next one last.
    let mut rest: Vec<PathBuf> = Path::new(path)
        .components()
        .rev()
        .map(|c| PathBuf::from(c.as_os_str()))
        .collect();
    let mut cur = PathBuf::from("/");
    let mut hops = 0;
    while let Some(c) = rest.pop() {
        let c = c.as_path();
        if c == Path::new("/") || c == Path::new(".") {
            continue;
        }
        if c == Path::new("..") {
            cur.pop();
            continue;
        }
        let next = cur.join(c);
        let meta =
            std::fs::symlink_metadata(&next).unwrap_or_else(|e| panic!("{}: {e}", next.display()));
        if meta.is_symlink() {
            hops += 1;
            assert!(hops < 40, "{path}: too many symlinks");
            let target = std::fs::read_link(&next).unwrap();
            links.insert(rel(&next), target.to_string_lossy().into_owned());
            if target.is_absolute() {
                cur = PathBuf::from("/");
            }
            rest.extend(
                target
                    .components()
                    .rev()
                    .map(|c| PathBuf::from(c.as_os_str())),
            );
        } else {
            cur = next;
        }
    }
    files.insert(rel(&cur));
}

/// Whether the tests run as root (then file modes do not stop reads).
pub(crate) fn is_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| run(command("id").arg("-u")).stdout.trim() == "0")
}

/// Compare two sequences and describe the first difference, with both in full.
pub(crate) fn diff_seq(what: &str, got: &[&str], want: &[&str]) -> Option<String> {
    if got == want {
        return None;
    }
    let at = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    Some(format!(
        "{what} differ at index {at}:\n  depclose: {got:?}\n  loader:   {want:?}"
    ))
}

/// `f` over `items` on a few threads (each call typically runs the real loader), results in
/// input order.
pub(crate) fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let workers = std::thread::available_parallelism()
        .map_or(2, usize::from)
        .clamp(2, 4);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    results.lock().unwrap()[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(Option::unwrap)
        .collect()
}

// ---------------------------------------------------------------------------------------
// What this machine gives a test. A test checks what it relies on before it relies on it;
// where that is missing it says so in one line and returns: it neither fails (the machine,
// not depclose, is at fault) nor passes having checked nothing.

/// Report that `test` did not run, and why, as one line: `SKIPPED <test>: <reason>`.
/// libtest shows it for a passing test under `--show-output` (the README's test command).
pub(crate) fn skip(test: &str, reason: impl fmt::Display) {
    let reason = reason.to_string();
    let reason: Vec<&str> = reason
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    println!("SKIPPED {test}: {}", reason.join(" | "));
}

/// Whether `tools` are installed (a name: found in `PATH`; an absolute path: a file there);
/// a missing one skips `test`. With `CI` set it fails instead: `.ci/run` installs every
/// tool a test uses, so there a missing one is a broken setup, not a different machine.
pub(crate) fn have(test: &str, tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| {
            if t.starts_with('/') {
                !Path::new(t).is_file()
            } else {
                which(t).is_none()
            }
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: not installed: {} (CI is set, so this fails instead of skipping)",
        missing.join(", ")
    );
    skip(test, format!("not installed: {}", missing.join(", ")));
    false
}

/// The executable `tool` in `PATH`, as `command` would find it.
fn which(tool: &str) -> Option<PathBuf> {
    PATH.split(':').map(|d| Path::new(d).join(tool)).find(|p| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// Whether files can be created unnamed (`O_TMPFILE`) in `dir`; if not, `test` is skipped.
pub(crate) fn has_o_tmpfile(test: &str, dir: &Path) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    // O_TMPFILE on x86-64 (with O_DIRECTORY, as the kernel defines it).
    const O_TMPFILE: i32 = 0o20_200_000;
    match std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(O_TMPFILE)
        .open(dir)
    {
        Ok(_) => true,
        Err(e) => {
            skip(test, format!("no O_TMPFILE in {}: {e}", dir.display()));
            false
        }
    }
}

/// Whether the tests run as root; if not, `test` is skipped, saying what needs root.
pub(crate) fn need_root(test: &str, what: &str) -> bool {
    if is_root() {
        return true;
    }
    skip(test, format!("needs root ({what})"));
    false
}

/// Compile C `source` into `out` (beside it as `out.c`, in `out`'s directory), with `flags`
/// after the source: libraries must follow what uses them.
pub(crate) fn cc(source: &str, out: &Path, flags: &[&str]) {
    let c = out.with_extension("c");
    std::fs::write(&c, source).unwrap();
    run_ok(
        command("cc")
            .arg("-o")
            .arg(out)
            .arg(&c)
            .args(flags)
            .current_dir(out.parent().unwrap()),
    );
}

/// Build a static program that exits 0 into `dir/probe`: it needs no library, so any
/// directory holding it is a root it can run in. It probes what a test relies on (chroot,
/// a container runtime) without involving anything depclose wrote.
pub(crate) fn static_probe(dir: &Path) -> PathBuf {
    let out = dir.join("probe");
    cc("int main(void) { return 0; }\n", &out, &["-static"]);
    // Only the program: the directory is a root as it stands.
    std::fs::remove_file(out.with_extension("c")).unwrap();
    out
}

/// Whether bubblewrap runs a program in a directory as its root, with a minimal `/dev` and
/// `/proc` as a container runtime gives it (user namespaces, mounts); if not, `test` is
/// skipped with the reason. Probed once, with a static program.
pub(crate) fn bwrap_works(test: &str) -> bool {
    static PROBE: OnceLock<Result<(), String>> = OnceLock::new();
    have(test, &["bwrap", "cc"]) && root_runs(test, &PROBE, "bwrap", bwrap)
}

/// bubblewrap with `root` as `/`, a minimal `/dev` and a `/proc`, as a container runtime
/// starts a program; the program and its arguments follow.
pub(crate) fn bwrap(root: &Path) -> Command {
    let mut cmd = command("bwrap");
    cmd.arg("--bind")
        .arg(root)
        .args(["/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid"])
        .args(["--die-with-parent", "--chdir", "/"]);
    cmd
}

/// Whether depclose can trace a command here (ptrace, which a container's seccomp profile or
/// Yama's `ptrace_scope` 3 forbid); if not, `test` is skipped with the reason. Probed once,
/// with `/bin/true`.
pub(crate) fn trace_works(test: &str) -> bool {
    static PROBE: OnceLock<Result<(), String>> = OnceLock::new();
    probed(test, &PROBE, || {
        let r = run(command(DEPCLOSE).args(["--trace", "--", "/bin/true"]));
        if r.code == Some(0) {
            Ok(())
        } else {
            Err(format!("depclose cannot trace here: {}", r.stderr))
        }
    })
}

/// The answer of `check`, made once and kept in `probe`; a "no" skips `test` with its reason.
pub(crate) fn probed(
    test: &str,
    probe: &OnceLock<Result<(), String>>,
    check: impl FnOnce() -> Result<(), String>,
) -> bool {
    match probe.get_or_init(check) {
        Ok(()) => true,
        Err(why) => {
            skip(test, why);
            false
        }
    }
}

/// Whether `chroot` works here (root, and a kernel or container that allows chroot(2));
/// if not, `test` is skipped with the reason. Probed once, with a static program.
pub(crate) fn chroot_works(test: &str) -> bool {
    static PROBE: OnceLock<Result<(), String>> = OnceLock::new();
    need_root(test, "chroot")
        && have(test, &["chroot", "cc"])
        && root_runs(test, &PROBE, "chroot", |root| {
            let mut cmd = command("chroot");
            cmd.arg(root);
            cmd
        })
}

/// Whether `runner` (a command that takes a root, then the program) runs a static program
/// in a directory that holds only it; the answer is kept in `probe`, and a "no" skips `test`.
fn root_runs(
    test: &str,
    probe: &OnceLock<Result<(), String>>,
    what: &str,
    runner: impl Fn(&Path) -> Command,
) -> bool {
    probed(test, probe, || {
        let env = TestEnv::new();
        static_probe(env.path());
        let r = run(runner(env.path()).arg("/probe"));
        if r.code == Some(0) {
            Ok(())
        } else {
            Err(format!(
                "{what} does not run a static program here: {}",
                r.stderr
            ))
        }
    })
}
