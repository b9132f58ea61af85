//! Host conformance: for every dynamic program and every shared library on this machine,
//! depclose's load list must equal the real loader's trace, path string for path string and
//! in the same order, and its missing names must equal the loader's `not found` lines.
//! The only accepted differences are the classes in `docs/divergences.md`, each recognised
//! here by a mechanical check, never by a list of file names.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::util::report::{How, Target};
use crate::util::{self, ElfSniff, TestEnv, Trace};

const PROGRAM_DIRS: [&str; 3] = ["/usr/bin", "/usr/sbin", "/usr/libexec"];
const LIBRARY_DIR: &str = "/usr/lib/x86_64-linux-gnu";

/// Fewer comparisons than this means file discovery broke, not that all is well.
const MIN_COMPARED: usize = 50;

/// The divergence classes, by the id `docs/divergences.md` gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Divergence {
    /// The program was named through a symlink and its RPATH/RUNPATH uses `$ORIGIN`:
    /// `ld.so FILE` takes `$ORIGIN` from the path as given, a real exec (and depclose) from
    /// the real file.
    SymlinkedProgramOrigin,
    /// No object names the interpreter in `DT_NEEDED`: `ld.so FILE` does not list it, the
    /// kernel maps it anyway, and depclose lists it last.
    UnnamedInterpreter,
}

impl Divergence {
    const ALL: [Divergence; 2] = [
        Divergence::SymlinkedProgramOrigin,
        Divergence::UnnamedInterpreter,
    ];

    fn id(self) -> &'static str {
        match self {
            Divergence::SymlinkedProgramOrigin => "symlinked-program-origin",
            Divergence::UnnamedInterpreter => "unnamed-interpreter",
        }
    }
}

/// What came of one file.
enum Verdict {
    Agree,
    Known(Divergence),
    Skipped(String),
    Disagree(String),
}

#[test]
fn divergences_are_documented() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/divergences.md"))
            .unwrap();
    for d in Divergence::ALL {
        // A table row starts with the class id in backquotes.
        let row = format!("| `{}` |", d.id());
        assert!(
            doc.contains(&row),
            "docs/divergences.md has no row for {}",
            d.id()
        );
    }
}

#[test]
fn programs_agree_with_the_loader() {
    let mut files = Vec::new();
    for dir in PROGRAM_DIRS {
        util::walk(Path::new(dir), true, &mut files);
    }
    // A dynamic program is one with PT_INTERP (a static-pie is ET_DYN without one).
    let cases: Vec<(PathBuf, ElfSniff)> = files
        .into_iter()
        .filter_map(|p| util::sniff_elf(&p).map(|s| (p, s)))
        .filter(|(_, s)| s.interp.is_some())
        .collect();
    check("programs", cases);
}

#[test]
fn libraries_agree_with_the_loader() {
    let mut files = Vec::new();
    // Recursive: plugin directories (gconv, sasl2, gdk-pixbuf loaders) hold shared objects
    // with their own RUNPATHs, which are worth comparing too.
    util::walk(Path::new(LIBRARY_DIR), false, &mut files);
    let cases: Vec<(PathBuf, ElfSniff)> = files
        .into_iter()
        .filter_map(|p| util::sniff_elf(&p).map(|s| (p, s)))
        .filter(|(_, s)| s.e_type == util::ET_DYN)
        .collect();
    check("libraries", cases);
}

fn check(kind: &str, cases: Vec<(PathBuf, ElfSniff)>) {
    let env = TestEnv::new();
    // One depclose run over every file: the JSON report holds each target's own closure in
    // load order (a `list` over many targets would be their union).
    let mut args: Vec<std::ffi::OsString> =
        vec!["--allow-missing".into(), "--format".into(), "json".into()];
    args.extend(cases.iter().map(|(p, _)| p.clone().into_os_string()));
    let run = env.depclose(&args);
    // 1 is allowed here: --allow-missing still exits 1 where the loader would stop with an
    // error; the per-file comparison below judges that.
    assert!(
        matches!(run.code, Some(0 | 1)) && !run.stderr.contains("panicked"),
        "{run}"
    );
    let report = run.report();
    let by_target: HashMap<&str, &Target> = report
        .targets
        .iter()
        .map(|t| (t.target.as_str(), t))
        .collect();

    let traces = traces_in_parallel(&cases, env.path());

    let mut agree = 0;
    let mut known: BTreeMap<Divergence, Vec<String>> = BTreeMap::new();
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    let mut disagree = Vec::new();
    for ((path, sniff), trace) in cases.iter().zip(&traces) {
        let name = path.to_string_lossy();
        let verdict = match (by_target.get(name.as_ref()), trace) {
            (_, Err(why)) => Verdict::Skipped(why.clone()),
            (None, Ok(_)) => Verdict::Disagree(format!(
                "depclose reported nothing for it (stderr: {})",
                run.stderr
                    .lines()
                    .find(|l| l.contains(name.as_ref()))
                    .unwrap_or("silent")
            )),
            (Some(t), Ok(trace)) => judge(path, sniff, t, trace, env.path()),
        };
        match verdict {
            Verdict::Agree => agree += 1,
            Verdict::Known(d) => known.entry(d).or_default().push(name.into_owned()),
            Verdict::Skipped(why) => *skipped.entry(why).or_default() += 1,
            Verdict::Disagree(d) => disagree.push(format!("{name}: {d}")),
        }
    }

    let compared = cases.len() - skipped.values().sum::<usize>();
    let known_summary: Vec<String> = known
        .iter()
        .map(|(d, v)| format!("{} {} (e.g. {})", v.len(), d.id(), v[0]))
        .collect();
    let skipped_summary: Vec<String> = skipped.iter().map(|(w, n)| format!("{n} {w}")).collect();
    // Written to the process's stderr directly, past libtest's capture, so every CI log
    // carries the numbers.
    let _ = writeln!(
        std::io::stderr(),
        "conformance {kind}: agree {agree}/{compared}; known divergences: {}; skipped: {}",
        if known_summary.is_empty() {
            "none".to_owned()
        } else {
            known_summary.join(", ")
        },
        if skipped_summary.is_empty() {
            "none".to_owned()
        } else {
            skipped_summary.join(", ")
        },
    );
    assert!(
        compared >= MIN_COMPARED,
        "only {compared} {kind} compared: is file discovery broken?"
    );
    assert!(
        disagree.is_empty(),
        "{} of {compared} {kind} disagree with the loader and are not in docs/divergences.md:\n{}",
        disagree.len(),
        disagree
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The oracle for a file, chosen by its interpreter: glibc's loader in trace mode, musl's
/// `--list`; Err(reason) when there is nothing to compare with.
fn oracle(path: &Path, sniff: &ElfSniff, cwd: &Path) -> Result<Trace, String> {
    let trace = match sniff.interp.as_deref() {
        Some(i) if i.contains("ld-musl") => util::musl_trace(path, cwd, None),
        None | Some(util::LDSO) => util::ldso_trace(path, cwd, None),
        Some(other) => return Err(format!("with interpreter {other}")),
    };
    if trace.statically_linked {
        return Err("statically linked".into());
    }
    match trace.run.code {
        Some(0) => Ok(trace),
        // The loader refuses some files outright (a shared object it cannot load as a
        // program): depclose is not compared on those.
        Some(c) => Err(format!("the loader exits {c}")),
        None => Err("the loader dies by a signal".into()),
    }
}

fn traces_in_parallel(cases: &[(PathBuf, ElfSniff)], cwd: &Path) -> Vec<Result<Trace, String>> {
    util::par_map(cases, |(path, sniff)| oracle(path, sniff, cwd))
}

/// Compare one file; on a difference, try each documented class.
fn judge(path: &Path, sniff: &ElfSniff, t: &Target, trace: &Trace, cwd: &Path) -> Verdict {
    let diff = |trace: &Trace, drop_unnamed_interp: bool| -> Option<String> {
        let mut got = t.loaded_paths();
        if drop_unnamed_interp {
            got.pop();
        }
        util::diff_seq("paths", &got, &trace.objects())
            .or_else(|| util::diff_seq("missing names", &t.missing_names(), &trace.not_found()))
    };
    let Some(first) = diff(trace, false) else {
        return Verdict::Agree;
    };
    // unnamed-interpreter: depclose's last object is the interpreter, the loader does not
    // list it, and without it everything agrees.
    let unnamed_interp = t.objects.len() > 1
        && t.objects.last().is_some_and(|o| {
            o.found.how == How::Interpreter && !trace.paths().contains(&o.path.as_str())
        });
    if unnamed_interp && diff(trace, true).is_none() {
        return Verdict::Known(Divergence::UnnamedInterpreter);
    }
    // symlinked-program-origin: the path given is not the file's real path, and the loader
    // run on the real path agrees. What differs is then only what the loader derives from
    // the program's path, i.e. the main program's `$ORIGIN`.
    let real = path.canonicalize().ok().filter(|r| r != path);
    if let Some(Ok(real_trace)) = real.map(|r| oracle(&r, sniff, cwd)) {
        if diff(&real_trace, false).is_none()
            || (unnamed_interp && diff(&real_trace, true).is_none())
        {
            return Verdict::Known(Divergence::SymlinkedProgramOrigin);
        }
    }
    Verdict::Disagree(first)
}

/// A program that needs one libc-free library and never names the interpreter.
const NO_LIBC_START: &str =
    "void _start(void) { __asm__ volatile(\"mov $60, %eax; xor %edi, %edi; syscall\"); }\n";

/// Run both sides on one file and judge it, as `check` does.
fn judge_one(env: &TestEnv, path: &Path) -> (Verdict, String) {
    let run = env.depclose(
        ["--allow-missing", "--format", "json"]
            .map(std::ffi::OsStr::new)
            .into_iter()
            .chain([path.as_os_str()]),
    );
    run.assert_code(0);
    let report = run.report();
    let sniff = util::sniff_elf(path).unwrap();
    let trace = util::ldso_trace(path, env.path(), None);
    let v = judge(path, &sniff, &report.targets[0], &trace, env.path());
    (v, format!("{}\n{}", run.brief(), trace.run))
}

#[test]
fn unnamed_interpreter_is_recognised() {
    if !util::have("unnamed_interpreter_is_recognised", &["cc"]) {
        return;
    }
    let env = TestEnv::new();
    util::cc(
        "int foo(void) { return 0; }\n",
        &env.join("libfoo.so"),
        &["-nostdlib", "-shared", "-fPIC"],
    );
    let prog = env.join("prog");
    util::cc(
        NO_LIBC_START,
        &prog,
        &[
            "-nostdlib",
            "-fPIE",
            "-pie",
            "-Wl,--no-as-needed",
            "-L.",
            "-lfoo",
            "-Wl,-rpath,$ORIGIN",
        ],
    );
    let (v, ctx) = judge_one(&env, &prog);
    assert!(
        matches!(v, Verdict::Known(Divergence::UnnamedInterpreter)),
        "{ctx}"
    );
}

#[test]
fn symlinked_program_origin_is_recognised() {
    if !util::have("symlinked_program_origin_is_recognised", &["cc"]) {
        return;
    }
    let env = TestEnv::new();
    std::fs::create_dir_all(env.join("real/lib")).unwrap();
    std::fs::create_dir_all(env.join("real/bin")).unwrap();
    std::fs::create_dir_all(env.join("link")).unwrap();
    util::cc(
        "int foo(void) { return 0; }\n",
        &env.join("real/lib/libfoo.so"),
        &["-shared", "-fPIC"],
    );
    let real = env.join("real/bin/prog");
    util::cc(
        "int foo(void);\nint main(void) { return foo(); }\n",
        &real,
        &["-L../lib", "-lfoo", "-Wl,-rpath,$ORIGIN/../lib"],
    );
    let link = env.join("link/prog");
    std::os::unix::fs::symlink("../real/bin/prog", &link).unwrap();
    // As java: ld.so looks in link/../lib and does not find the library.
    let trace = util::ldso_trace(&link, env.path(), None);
    assert_eq!(trace.not_found(), ["libfoo.so"], "{}", trace.run);
    let (v, ctx) = judge_one(&env, &link);
    assert!(
        matches!(v, Verdict::Known(Divergence::SymlinkedProgramOrigin)),
        "{ctx}"
    );
    // Named by its real path, it simply agrees.
    let (v, ctx) = judge_one(&env, &real);
    assert!(matches!(v, Verdict::Agree), "{ctx}");
}

/// A real difference is not excused, through a symlink or not: the classes must not
/// swallow a depclose bug. The bug is simulated by dropping one object from the report.
#[test]
fn a_real_difference_is_not_classified() {
    let env = TestEnv::new();
    let link = env.join("apache2");
    std::os::unix::fs::symlink("/usr/sbin/apache2", &link).unwrap();
    for path in [Path::new("/usr/sbin/apache2"), &link] {
        let run = env.depclose(["--format".as_ref(), "json".as_ref(), path.as_os_str()]);
        run.assert_code(0);
        let mut report = run.report();
        let t = &mut report.targets[0];
        let dropped = t.objects.remove(2);
        let trace = util::ldso_trace(path, env.path(), None);
        let sniff = util::sniff_elf(path).unwrap();
        let v = judge(path, &sniff, t, &trace, env.path());
        assert!(
            matches!(v, Verdict::Disagree(_)),
            "{}: dropping {} went unnoticed",
            path.display(),
            dropped.path
        );
    }
}
