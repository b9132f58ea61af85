//! Loader-rule scenarios (`fixtures/scenarios/<name>/scenario.env`, see fixtures/README.md),
//! one test each, named after its directory: `cargo test --test integration -- --exact
//! scenarios::runpath_disables_rpath` runs that one (without `--exact` the name also picks
//! the names it is a prefix of, here `runpath_disables_rpath_missing`).
//!
//! Each tree is copied to a temp dir, traced by the real loader exactly as
//! `fixtures/trace.sh` does, and analysed by depclose with the same library path and
//! working directory. The loader's answer must be the one pinned in `scenario.env`, and
//! depclose's must be the loader's, string for string and in order; depclose's exit code
//! must say what the scenario expects. The rules are described in `docs/loader-rules.md`,
//! the accepted differences from `ld.so FILE` in `docs/divergences.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::util::report::{Report, Target};
use crate::util::{self, TestEnv, Trace};

/// The keys fixtures/README.md defines, then the pinned answer of the oracle (`ld.so TARGET`,
/// or the real exec where `DIVERGES` says so), in `fixtures/trace.sh`'s notation: `$S` is
/// the scenario's copy, `$PLATFORM` the host's `AT_PLATFORM` (the one path that depends on
/// the CPU). Another key is a rule this harness does not know how to apply, so it fails
/// rather than being ignored.
const KEYS: [&str; 8] = [
    "TARGET",
    "LIBRARY_PATH",
    "CWD",
    "EXPECT",
    "RULE",
    "LOADER",
    "DIVERGES",
    "NOTE",
];

/// One line per object the oracle lists, in load order; one empty `LOADS=` for none.
const LOADS: &str = "LOADS";
/// One line per name the oracle prints as `not found`, in its order.
const NOT_FOUND: &str = "NOT_FOUND";
/// `PATH: REASON` where the oracle stops with an error (and then lists nothing).
const STOPS: &str = "STOPS";

macro_rules! scenarios {
    ($($name:ident)*) => {
        /// Every scenario with a test, for the check that none is left out.
        const LISTED: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                run_scenario(dir_name(stringify!($name)));
            }
        )*
    };
}

scenarios! {
    auxiliary_missing
    bfs_first_loader
    bfs_needed_order
    cycle
    dst_lib_platform
    empty_and_relative_elements
    filter_auxiliary
    filter_missing
    hwcaps
    ld_library_path_vs_runpath
    legacy_hwcaps_subdirs
    missing
    musl_ld_library_path_first
    musl_runpath_inherited
    needed_with_origin
    needed_with_slash_absolute
    needed_with_slash_relative
    nodeflib
    nodeflib_already_loaded
    non_elf_shadowing
    origin_symlinked_exe
    origin_symlinked_exe_diverges
    origin_symlinked_lib
    origin_symlinked_libdir
    rpath_and_runpath_same_object
    rpath_beats_ld_library_path
    rpath_chain
    runpath_disables_rpath
    runpath_disables_rpath_missing
    runpath_not_inherited
    same_inode_two_paths
    script
    script_relative_interpreter
    soname_dedupe
    r#static
    static_pie
    wrong_class_and_machine
    wrong_class_only
}

/// The directory a test is named after: `static` is a keyword, so its test is `r#static`.
fn dir_name(ident: &str) -> &str {
    ident.strip_prefix("r#").unwrap_or(ident)
}

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/scenarios")
}

/// A directory without a test would never be checked, and a test without a directory
/// checks nothing.
#[test]
fn every_scenario_directory_has_a_test() {
    let base = scenarios_dir();
    let dirs: BTreeSet<String> = std::fs::read_dir(&base)
        .unwrap_or_else(|e| panic!("{}: {e}", base.display()))
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let listed: BTreeSet<String> = LISTED.iter().map(|s| dir_name(s).to_owned()).collect();
    assert_eq!(LISTED.len(), listed.len(), "a scenario is listed twice");
    let untested: Vec<&String> = dirs.difference(&listed).collect();
    let dirless: Vec<&String> = listed.difference(&dirs).collect();
    assert!(
        untested.is_empty() && dirless.is_empty(),
        "directories without a test in scenarios! {{}}: {untested:?}; tests without a directory: {dirless:?}"
    );
}

struct Scenario {
    dir: PathBuf,
    env: BTreeMap<String, Vec<String>>,
}

impl Scenario {
    /// `KEY=VALUE` a line, values literal (they hold `$` and spaces: never sourced).
    fn read(name: &str) -> Result<Scenario, String> {
        let dir = scenarios_dir().join(name);
        let file = dir.join("scenario.env");
        let text =
            std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let mut env: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for l in text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            let (k, v) = l
                .split_once('=')
                .ok_or_else(|| format!("{}: bad line {l:?}", file.display()))?;
            if !KEYS.contains(&k) && ![LOADS, NOT_FOUND, STOPS].contains(&k) {
                return Err(format!("unknown key {k} in scenario.env"));
            }
            let values = env.entry(k.to_owned()).or_default();
            if !values.is_empty() && ![LOADS, NOT_FOUND].contains(&k) {
                return Err(format!("{k} twice in scenario.env"));
            }
            values.push(v.to_owned());
        }
        Ok(Scenario { dir, env })
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.env
            .get(key)
            .and_then(|v| v.first())
            .map(String::as_str)
    }

    /// A list key's values (an empty `LOADS=` stands for the empty list).
    fn list(&self, key: &str) -> Vec<&str> {
        self.env
            .get(key)
            .into_iter()
            .flatten()
            .map(String::as_str)
            .filter(|v| !v.is_empty())
            .collect()
    }
}

fn run_scenario(name: &str) {
    let s = Scenario::read(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    if s.get("LOADER") == Some("musl") && !util::have(name, &[util::LD_MUSL]) {
        return;
    }
    // Which missing names are DT_AUXILIARY is read with readelf.
    if s.get("EXPECT") == Some("missing") && !util::have(name, &["readelf"]) {
        return;
    }
    if let Err(e) = check(&s) {
        panic!("{name}: {e}");
    }
}

/// The host's `AT_PLATFORM`, as its loader reports it (`ld.so --list-diagnostics`).
fn platform() -> &'static str {
    static PLATFORM: OnceLock<String> = OnceLock::new();
    PLATFORM.get_or_init(|| {
        let r = util::run_ok(util::command(util::LDSO).arg("--list-diagnostics"));
        r.stdout
            .lines()
            .find_map(|l| l.strip_prefix("dl_platform=\""))
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or_else(|| panic!("no dl_platform in\n{r}"))
            .to_owned()
    })
}

/// Pinned values with the copy's path and the host's platform filled in.
fn expand(values: Vec<&str>, root: &Path) -> Vec<String> {
    let root = root.to_string_lossy();
    values
        .into_iter()
        .map(|v| {
            let v = v.replace("$PLATFORM", platform());
            match v.strip_prefix("$S/") {
                Some(rest) => format!("{root}/{rest}"),
                None => v,
            }
        })
        .collect()
}

/// The oracle's answer against the one pinned in scenario.env.
fn check_pinned(s: &Scenario, root: &Path, oracle: &Trace) -> Result<(), String> {
    // A difference is shown in scenario.env's notation, ready to be compared or pasted.
    let root_str = root.to_string_lossy();
    let pinned_form = |p: &str| match p.strip_prefix(&*root_str) {
        Some(rest) if rest.starts_with('/') => format!("$S{rest}"),
        _ => p.to_owned(),
    };
    let stale = |key: &str, traced: Vec<String>| {
        format!(
            "scenario.env pins {key}={:?}, the loader shows {traced:?}: the fixture or the \
             loader changed (fixtures/trace.sh shows the loader's answer)\n{}",
            s.list(key),
            oracle.run
        )
    };
    if let Some((path, reason)) = oracle.loader_error() {
        let traced = format!("{path}: {reason}");
        if expand(s.list(STOPS), root) != [traced.as_str()] {
            return Err(stale(STOPS, vec![pinned_form(&traced)]));
        }
        return Ok(());
    }
    if !s.env.contains_key(LOADS) {
        return Err(format!("no {LOADS} in scenario.env\n{}", oracle.run));
    }
    let objects = oracle.objects();
    if expand(s.list(LOADS), root) != objects {
        return Err(stale(LOADS, objects.into_iter().map(pinned_form).collect()));
    }
    let not_found = oracle.not_found();
    if expand(s.list(NOT_FOUND), root) != not_found {
        return Err(stale(
            NOT_FOUND,
            not_found.into_iter().map(str::to_owned).collect(),
        ));
    }
    Ok(())
}

/// What the loader says a scenario does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Complete,
    Missing,
    Error,
}

impl Expect {
    fn parse(s: &str) -> Result<Expect, String> {
        match s {
            "complete" => Ok(Expect::Complete),
            "missing" => Ok(Expect::Missing),
            "error" => Ok(Expect::Error),
            other => Err(format!("EXPECT={other} is not complete, missing or error")),
        }
    }

    /// What a trace shows.
    fn of(trace: &Trace) -> Result<Expect, String> {
        match (trace.run.code, trace.loader_error()) {
            (Some(0), None) if trace.not_found().is_empty() => Ok(Expect::Complete),
            (Some(0), None) => Ok(Expect::Missing),
            (Some(c), Some(_)) if c != 0 => Ok(Expect::Error),
            _ => Err(format!(
                "the loader's result fits no EXPECT value\n{}",
                trace.run
            )),
        }
    }

    /// depclose's exit code for it: 1 for a missing library and for a loader that stops.
    fn exit_code(self) -> i32 {
        match self {
            Expect::Complete => 0,
            Expect::Missing | Expect::Error => 1,
        }
    }
}

fn check(s: &Scenario) -> Result<(), String> {
    let target_rel = s.get("TARGET").ok_or("no TARGET")?;
    let expect = Expect::parse(s.get("EXPECT").ok_or("no EXPECT")?)?;
    let musl = match s.get("LOADER") {
        None => false,
        Some("musl") => true,
        Some(other) => return Err(format!("LOADER={other} is not musl")),
    };
    let diverges = s.get("DIVERGES");

    // A fresh copy per scenario, symlinks kept, so nothing depends on where the fixtures
    // live and nothing the loader or depclose does can touch them.
    let env = TestEnv::new();
    let root = env.join("s");
    util::cp_a(&s.dir, &root);
    let library_path = s.get("LIBRARY_PATH").map(|lp| {
        lp.split(':')
            .map(|p| root.join(p).to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(":")
    });
    let cwd = root
        .join(s.get("CWD").unwrap_or("."))
        .canonicalize()
        .map_err(|e| format!("CWD: {e}"))?;
    // Absolute, as trace.sh passes it: under `ld.so TARGET` the main program's `$ORIGIN` is
    // the directory of the path as given.
    let target = root.join(target_rel);
    let lp = library_path.as_deref();

    let mut args: Vec<std::ffi::OsString> = vec!["--format".into(), "json".into()];
    args.extend(["--cwd".into(), cwd.clone().into_os_string()]);
    if let Some(lp) = lp {
        args.extend(["--library-path".into(), lp.into()]);
    }
    args.push(target.clone().into_os_string());
    let run = env.depclose_in(&cwd, &args);
    let show = |msg: String| format!("{msg}\n{}", run.brief());

    // The oracle. `ld.so TARGET` is a real exec's stand-in except where the scenario says
    // it is not (DIVERGES: a #! script, a static program, `$ORIGIN` of a symlinked
    // program). There the README documents the real exec's trace as the truth (trace.sh
    // --exec), and that is what depclose answers, so it is compared with that; EXPECT then
    // describes ld.so, and depclose's exit code follows the exec instead.
    let (oracle, want) = if diverges.is_some() {
        if musl {
            return Err("DIVERGES with LOADER=musl: no exec oracle for musl".into());
        }
        let t = util::exec_trace(&target, &cwd, lp);
        let e = Expect::of(&t)?;
        (t, e)
    } else {
        let t = trace(musl, &target, &cwd, lp);
        let got = Expect::of(&t)?;
        if got != expect {
            return Err(format!(
                "the fixture is stale: EXPECT={expect:?} but the loader shows {got:?}\n{}",
                t.run
            ));
        }
        (t, expect)
    };
    check_pinned(s, &root, &oracle)?;

    // A missing DT_AUXILIARY filtee is traced as `not found`, but the loader ignores it when
    // the program runs (dl-deps.c): depclose reports it as optional and exits 0. Which
    // names are auxiliary is read with readelf, not taken from depclose.
    let optional_only = want == Expect::Missing
        && oracle
            .not_found()
            .iter()
            .all(|name| auxiliary_anywhere(&root, name));
    let exit = if optional_only { 0 } else { want.exit_code() };
    if run.code != Some(exit) || run.stderr.contains("panicked") {
        return Err(show(format!(
            "depclose exits {:?}, expected {exit} ({want:?}{}); the loader says:\n{}",
            run.code,
            if optional_only {
                ", optional names only"
            } else {
                ""
            },
            oracle.run
        )));
    }
    let report: Report =
        serde_json::from_str(&run.stdout).map_err(|e| show(format!("bad JSON: {e}")))?;
    let [t] = report.targets.as_slice() else {
        return Err(show("expected exactly one target in the report".into()));
    };
    if std::fs::read(&target).is_ok_and(|b| b.starts_with(b"#!"))
        && t.scripts.first().map(|sc| sc.path.as_str()) != Some(&*target.to_string_lossy())
    {
        return Err(show("a #! target is not listed as the first script".into()));
    }

    if let Some(m) = t.missing.iter().find(|m| m.required == optional_only) {
        return Err(show(format!(
            "{} is reported with required: {}",
            m.name, m.required
        )));
    }
    if want == Expect::Error {
        // The loader prints no list when it stops; compare where and why it stops.
        let (path, reason) = oracle.loader_error().unwrap_or_default();
        return match &t.fatal {
            Some(f) if f.path == path && f.reason == reason => Ok(()),
            other => Err(show(format!(
                "the loader stops at {path}: {reason}; depclose's fatal: {other:?}"
            ))),
        };
    }
    let Some(diff) = compare(t, &oracle) else {
        return Ok(());
    };
    // symlinked-program-origin (docs/divergences.md): a target named through a symlinked
    // directory gets `$ORIGIN` from the real file on exec; the loader run on the real path
    // must then agree.
    if diverges.is_none() {
        if let Ok(real) = target.canonicalize() {
            if real != target && compare(t, &trace(musl, &real, &cwd, lp)).is_none() {
                return Ok(());
            }
        }
    }
    Err(show(format!("{diff}\nthe loader says:\n{}", oracle.run)))
}

fn trace(musl: bool, target: &Path, cwd: &Path, lp: Option<&str>) -> Trace {
    if musl {
        util::musl_trace(target, cwd, lp)
    } else {
        util::ldso_trace(target, cwd, lp)
    }
}

fn compare(t: &Target, oracle: &Trace) -> Option<String> {
    util::diff_seq("paths", &t.loaded_paths(), &oracle.objects())
        .or_else(|| util::diff_seq("missing names", &t.missing_names(), &oracle.not_found()))
}

/// Whether some ELF file in the scenario tree names `name` as `DT_AUXILIARY`.
fn auxiliary_anywhere(root: &Path, name: &str) -> bool {
    let mut files = Vec::new();
    util::walk(root, false, &mut files);
    let want = "(AUXILIARY)";
    let lib = format!("[{name}]");
    files.iter().any(|f| {
        let r = util::run(util::command("readelf").arg("-dW").arg(f));
        r.stdout
            .lines()
            .any(|l| l.contains(want) && l.trim_end().ends_with(&lib))
    })
}
