//! Loader-rule scenarios (`fixtures/scenarios/<name>/scenario.env`, see fixtures/README.md):
//! each tree is copied to a temp dir, traced by the real loader exactly as
//! `fixtures/trace.sh` does, and analysed by depclose with the same library path and
//! working directory. The load lists must be equal string for string, in order, and
//! depclose's exit code must say what the scenario expects.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::util::{self, TestEnv, Trace};

/// The keys fixtures/README.md defines. Another key is a rule this harness does not know
/// how to apply, so it fails rather than being ignored.
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

struct Scenario {
    name: String,
    dir: PathBuf,
    env: BTreeMap<String, String>,
}

impl Scenario {
    fn get(&self, key: &str) -> Option<&str> {
        self.env.get(key).map(String::as_str)
    }
}

fn scenarios() -> Vec<Scenario> {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/scenarios");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&base)
        .unwrap_or_else(|e| panic!("{}: {e}", base.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("scenario.env").is_file())
        .collect();
    dirs.sort();
    dirs.into_iter()
        .map(|dir| {
            // KEY=VALUE a line, values literal (they hold `$` and spaces: never sourced).
            let text = std::fs::read_to_string(dir.join("scenario.env")).unwrap();
            let env = text
                .lines()
                .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
                .map(|l| {
                    let (k, v) = l
                        .split_once('=')
                        .unwrap_or_else(|| panic!("{}: bad line {l:?}", dir.display()));
                    (k.to_owned(), v.to_owned())
                })
                .collect();
            Scenario {
                name: dir.file_name().unwrap().to_string_lossy().into_owned(),
                dir,
                env,
            }
        })
        .collect()
}

#[test]
fn fixture_scenarios_agree_with_the_loader() {
    let all = scenarios();
    assert!(
        !all.is_empty(),
        "no fixtures/scenarios/*/scenario.env: the fixtures are missing"
    );
    let mut failures = Vec::new();
    for s in &all {
        if let Err(e) = check(s) {
            failures.push(format!("{}: {e}", s.name));
        }
    }
    // Past libtest's capture, like the conformance numbers, so CI logs carry them.
    let _ = writeln!(
        std::io::stderr(),
        "scenarios: agree {}/{}",
        all.len() - failures.len(),
        all.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} scenarios disagree:\n\n{}",
        failures.len(),
        all.len(),
        failures.join("\n\n")
    );
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
    if let Some(k) = s.env.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!("unknown key {k} in scenario.env"));
    }
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
    let report: crate::report::Report =
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

fn compare(t: &crate::report::Target, oracle: &Trace) -> Option<String> {
    util::diff_seq("paths", &t.loaded_paths(), &oracle.objects())
        .or_else(|| util::diff_seq("missing names", &t.missing_names(), &oracle.not_found()))
}

/// Whether some ELF file in the scenario tree names `name` as `DT_AUXILIARY`.
fn auxiliary_anywhere(root: &Path, name: &str) -> bool {
    let mut files = Vec::new();
    crate::conformance::walk(root, false, &mut files);
    let want = "(AUXILIARY)";
    let lib = format!("[{name}]");
    files.iter().any(|f| {
        let r = util::run(util::command("readelf").arg("-dW").arg(f));
        r.stdout
            .lines()
            .any(|l| l.contains(want) && l.trim_end().ends_with(&lib))
    })
}
