//! `--audit` against independent tools on real files: checksec for hardening, the loader
//! itself (`ldd -u`, `ldd -r`) for symbol binding, readelf for versions, dpkg for packages.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::{Value, json};

use crate::util::report::{Hardening, Object, Report};
use crate::util::{self, TestEnv};

/// `depclose --audit -f json` of `targets` (directories too), with every library optional:
/// a directory holds libraries that need another program's.
fn audit(env: &TestEnv, targets: &[&Path]) -> Report {
    let mut args: Vec<&std::ffi::OsStr> = vec!["--audit".as_ref(), "-f".as_ref(), "json".as_ref()];
    args.push("--allow-missing".as_ref());
    args.extend(targets.iter().map(|t| t.as_os_str()));
    let run = env.depclose(args);
    run.assert_code(0);
    run.report()
}

/// Each target's own object (a file analysed as a target is its closure's first object).
fn first_objects(report: &Report) -> Vec<(&str, &Object)> {
    report
        .targets
        .iter()
        .map(|t| (t.target.as_str(), &t.objects[0]))
        .collect()
}

/// checksec's answer for one file: field name to value.
fn checksec(file: &str) -> Option<HashMap<String, String>> {
    let run =
        util::run(util::command("checksec").args(["--output=json", &format!("--file={file}")]));
    let json: serde_json::Value = serde_json::from_str(&run.stdout).ok()?;
    let fields = json.get(file)?.as_object()?;
    Some(
        fields
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect(),
    )
}

/// Our answer in checksec's words.
fn in_checksec_terms(h: &Hardening) -> Vec<(&'static str, String)> {
    let yes = |b: bool| if b { "yes" } else { "no" }.to_owned();
    vec![
        (
            "relro",
            if h.relro == "none" {
                "no".into()
            } else {
                h.relro.clone()
            },
        ),
        ("canary", yes(h.canary)),
        ("nx", yes(h.nx)),
        ("pie", h.pie.clone()),
        ("fortified", h.fortified.to_string()),
        ("fortify-able", h.fortifiable.to_string()),
    ]
}

#[test]
fn hardening_agrees_with_checksec() {
    const TEST: &str = "hardening_agrees_with_checksec";
    if !util::have(TEST, &["checksec"]) {
        return;
    }
    let env = TestEnv::new();
    let dirs = [
        Path::new("/usr/bin"),
        Path::new("/usr/sbin"),
        Path::new("/usr/lib/x86_64-linux-gnu"),
    ];
    let report = audit(&env, &dirs);
    let ours = first_objects(&report);
    let answers = util::par_map(&ours, |(file, _)| checksec(file));
    let mut agree: BTreeMap<&str, usize> = BTreeMap::new();
    let mut wrong = Vec::new();
    for ((file, o), theirs) in ours.iter().zip(&answers) {
        let h = o.audit.as_ref().and_then(|a| a.hardening.as_ref());
        let (Some(h), Some(theirs)) = (h, theirs) else {
            wrong.push(format!(
                "{file}: no answer (ours {}, checksec {})",
                h.is_some(),
                theirs.is_some()
            ));
            continue;
        };
        for (field, value) in in_checksec_terms(h) {
            let their = theirs.get(field).cloned().unwrap_or_default();
            if their == value {
                *agree.entry(field).or_default() += 1;
            } else {
                wrong.push(format!("{file} {field}: ours {value}, checksec {their}"));
            }
        }
    }
    println!(
        "{TEST}: {} files; agreement per field: {agree:?}",
        ours.len()
    );
    assert!(ours.len() > 500, "only {} files", ours.len());
    assert!(
        wrong.is_empty(),
        "{} unexplained:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// The regular dynamic ELF programs of /usr/bin and /usr/sbin (what `ldd` can list).
fn programs() -> Vec<String> {
    let mut out = Vec::new();
    for dir in ["/usr/bin", "/usr/sbin"] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let regular = std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_file());
            if regular && util::sniff_elf(&p).is_some_and(|s| s.interp.is_some()) {
                out.push(p.display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// What `ldd -r` (every relocation processed) says is undefined: (object, symbol).
fn ldd_undefined(program: &str) -> Vec<(String, String)> {
    let run = util::run(util::command("ldd").args(["-r", program]));
    let mut out: Vec<(String, String)> = run
        .stdout
        .lines()
        .chain(run.stderr.lines())
        .filter_map(|l| l.strip_prefix("undefined symbol: "))
        .filter_map(|l| {
            let (sym, file) = l.rsplit_once('\t')?;
            let file = file.trim_start_matches('(').trim_end_matches(')');
            Some((file.to_owned(), sym.to_owned()))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// What `ldd -u` says with every relocation processed (`LD_BIND_NOW`: without it the loader
/// resolves no function call up front and calls a library used only for calls unused).
fn ldd_unused(program: &str) -> Vec<String> {
    let run = util::run(
        util::command("ldd")
            .env("LD_BIND_NOW", "1")
            .args(["-u", program]),
    );
    let mut out: Vec<String> = run
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Unused direct dependencies"))
        .skip(1)
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    out.sort();
    out
}

fn audit_of(o: &Object) -> &crate::util::report::ObjectAudit {
    o.audit.as_ref().unwrap()
}

/// Ours, in the loader's words: unused direct dependencies of the program by the path they
/// were loaded from, and every undefined symbol of the closure with the object that needs it.
fn ours_binding(report: &Report, target: usize) -> (Vec<String>, Vec<(String, String)>) {
    let t = &report.targets[target];
    let program = &t.objects[0];
    let mut unused: Vec<String> = audit_of(program)
        .unused_needed
        .iter()
        .filter_map(|name| {
            t.objects
                .iter()
                .find(|o| o.names.contains(name))
                .map(|o| o.path.clone())
        })
        .collect();
    unused.sort();
    let mut undefined: Vec<(String, String)> = t
        .objects
        .iter()
        .filter(|o| !o.runtime)
        .flat_map(|o| {
            audit_of(o)
                .unresolved
                .iter()
                .filter(|u| u.kind == "symbol")
                .map(|u| (o.path.clone(), u.name.clone()))
        })
        .collect();
    undefined.sort();
    undefined.dedup();
    (unused, undefined)
}

#[test]
fn unused_and_unresolved_agree_with_the_loader_on_fixtures() {
    const TEST: &str = "unused_and_unresolved_agree_with_the_loader_on_fixtures";
    if !util::have(TEST, &["cc", "ldd"]) {
        return;
    }
    let env = TestEnv::new();
    let lib = |name: &str, src: &str| {
        util::cc(
            src,
            &env.join(name),
            &["-shared", "-fPIC", &format!("-Wl,-soname,{name}")],
        );
    };
    lib(
        "libfoo.so",
        "int f(void) { return 1; }\nint g(void) { return 2; }\n",
    );
    lib("libunused.so", "int never(void) { return 3; }\n");
    let app = env.join("app");
    util::cc(
        "int f(void); int g(void);\nint main(void) { return f() + g() - 3; }\n",
        &app,
        &[
            "-L.",
            "-Wl,--no-as-needed",
            "-lfoo",
            "-lunused",
            &format!("-Wl,-rpath,{}", env.path().display()),
        ],
    );
    // libfoo rebuilt without g: the program still names it, nothing defines it.
    lib("libfoo.so", "int f(void) { return 1; }\n");
    let report = audit(&env, &[&app]);
    let (unused, undefined) = ours_binding(&report, 0);
    let program = app.display().to_string();
    assert_eq!(unused, [env.join("libunused.so").display().to_string()]);
    assert_eq!(undefined, [(program.clone(), "g".to_owned())]);
    assert_eq!(unused, ldd_unused(&program));
    assert_eq!(undefined, ldd_undefined(&program));
    let findings = &report.targets[0].audit.as_ref().unwrap().findings;
    assert_eq!(findings[0].code, "unresolved", "{findings:?}");
}

#[test]
fn unused_and_unresolved_agree_with_the_loader_on_this_machine_s_programs() {
    const TEST: &str = "unused_and_unresolved_agree_with_the_loader_on_this_machine_s_programs";
    if !util::have(TEST, &["ldd"]) {
        return;
    }
    let env = TestEnv::new();
    let programs = programs();
    let paths: Vec<&Path> = programs.iter().map(Path::new).collect();
    let report = audit(&env, &paths);
    let theirs = util::par_map(&programs, |p| (ldd_unused(p), ldd_undefined(p)));
    let mut wrong = Vec::new();
    let (mut unused_seen, mut undefined_seen) = (0, 0);
    for (i, (p, (unused, undefined))) in programs.iter().zip(&theirs).enumerate() {
        assert_eq!(report.targets[i].target, *p);
        let (our_unused, our_undefined) = ours_binding(&report, i);
        unused_seen += unused.len();
        undefined_seen += undefined.len();
        if our_unused != *unused {
            wrong.push(format!(
                "{p}: unused: ours {our_unused:?}, ldd -u {unused:?}"
            ));
        }
        if our_undefined != *undefined {
            wrong.push(format!(
                "{p}: undefined: ours {our_undefined:?}, ldd -r {undefined:?}"
            ));
        }
    }
    println!(
        "{TEST}: {} programs; ldd -u named {unused_seen} unused, ldd -r {undefined_seen} undefined",
        programs.len()
    );
    assert!(programs.len() > 200, "only {} programs", programs.len());
    assert!(
        wrong.is_empty(),
        "{} disagreements:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// `readelf -V --wide`'s "Version needs" of a file: (file, version) pairs.
fn readelf_needs(file: &str) -> Vec<String> {
    let run = util::run(util::command("readelf").args(["-V", "--wide", file]));
    let section = run
        .stdout
        .split("Version needs section")
        .nth(1)
        .unwrap_or_default()
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .to_owned();
    section
        .lines()
        .filter_map(|l| l.split("Name: ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn versions_and_min_glibc_agree_with_readelf() {
    const TEST: &str = "versions_and_min_glibc_agree_with_readelf";
    if !util::have(TEST, &["readelf"]) {
        return;
    }
    let env = TestEnv::new();
    let programs = programs();
    let paths: Vec<&Path> = programs.iter().map(Path::new).collect();
    let report = audit(&env, &paths);
    let mut files: Vec<String> = report
        .targets
        .iter()
        .flat_map(|t| t.objects.iter().map(|o| o.real_path.clone()))
        .collect();
    files.sort();
    files.dedup();
    let needs: HashMap<&String, Vec<String>> = files
        .iter()
        .zip(util::par_map(&files, |f| readelf_needs(f)))
        .collect();
    // The newest of each prefix, as dotted numbers compare.
    let newest = |versions: &[String]| -> BTreeMap<String, String> {
        let mut out: BTreeMap<String, (Vec<u64>, String)> = BTreeMap::new();
        for v in versions {
            // `NAME_1.2.3` (or OpenSSL 1.1's `NAME_1_1_0`): the first `_` before a digit.
            let at = v
                .as_bytes()
                .windows(2)
                .position(|w| w[0] == b'_' && w[1].is_ascii_digit());
            let Some(at) = at.filter(|&i| i > 0) else {
                continue;
            };
            let (prefix, number) = (&v[..at], v[at + 1..].replace('_', "."));
            let Ok(parts) = number
                .split('.')
                .map(str::parse)
                .collect::<Result<Vec<u64>, _>>()
            else {
                continue;
            };
            if out.get(prefix).is_none_or(|(have, _)| *have < parts) {
                out.insert(prefix.to_owned(), (parts, number));
            }
        }
        out.into_iter().map(|(k, (_, v))| (k, v)).collect()
    };
    let mut wrong = Vec::new();
    let mut compared = 0;
    for t in &report.targets {
        let mut min_glibc: Option<(Vec<u64>, String)> = None;
        for o in &t.objects {
            let want = newest(&needs[&o.real_path]);
            let got = &o.audit.as_ref().unwrap().versions_needed;
            compared += 1;
            if *got != want {
                wrong.push(format!("{}: ours {got:?}, readelf {want:?}", o.real_path));
            }
            // glibc's own objects and programs: those of its source package.
            let own = o
                .audit
                .as_ref()
                .and_then(|a| a.package.as_ref())
                .is_some_and(|p| p.source == "glibc");
            if let (false, Some(v)) = (own, want.get("GLIBC")) {
                let parts: Vec<u64> = v.split('.').filter_map(|p| p.parse().ok()).collect();
                if min_glibc.as_ref().is_none_or(|(have, _)| *have < parts) {
                    min_glibc = Some((parts, v.clone()));
                }
            }
        }
        let got = t.audit.as_ref().unwrap().min_glibc.clone();
        if got != min_glibc.as_ref().map(|(_, v)| v.clone()) {
            wrong.push(format!(
                "{}: min_glibc ours {got:?}, readelf {min_glibc:?}",
                t.target
            ));
        }
    }
    println!(
        "{TEST}: {} programs, {compared} objects",
        report.targets.len()
    );
    assert!(
        wrong.is_empty(),
        "{} disagreements:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn packages_agree_with_dpkg() {
    const TEST: &str = "packages_agree_with_dpkg";
    if !util::have(TEST, &["dpkg", "/usr/bin/python3", "/usr/sbin/apache2"]) {
        return;
    }
    let env = TestEnv::new();
    let targets = [
        Path::new("/usr/bin/ls"),
        Path::new("/usr/bin/python3"),
        Path::new("/usr/sbin/apache2"),
    ];
    let report = audit(&env, &targets);
    let mut compared = 0;
    for t in &report.targets {
        for o in &t.objects {
            let run = util::run(util::command("dpkg").args(["-S", &o.path]));
            let theirs = run
                .stdout
                .lines()
                .next()
                .and_then(|l| l.split_once(": "))
                .map(|(p, _)| p.split(':').next().unwrap_or(p).to_owned());
            let ours = o
                .audit
                .as_ref()
                .unwrap()
                .package
                .as_ref()
                .map(|p| p.name.clone());
            // dpkg knows a file by the path its package lists; ours answers for both.
            if theirs.is_some() {
                compared += 1;
                assert_eq!(ours, theirs, "{}\n{run}", o.path);
            }
        }
    }
    println!("{TEST}: {compared} objects");
    assert!(compared > 10);
}

#[test]
fn cet_and_an_executable_stack_are_closure_wide() {
    const TEST: &str = "cet_and_an_executable_stack_are_closure_wide";
    if !util::have(TEST, &["cc"]) {
        return;
    }
    let env = TestEnv::new();
    // Without start files, which on this toolchain carry no CET marking.
    let lib = |name: &str, src: &str, flags: &[&str]| {
        let mut all = vec!["-shared", "-fPIC", "-nostartfiles"];
        all.extend_from_slice(flags);
        let soname = format!("-Wl,-soname,{name}");
        all.push(&soname);
        util::cc(src, &env.join(name), &all);
    };
    lib(
        "libplain.so",
        "int plain(void) { return 1; }\n",
        &["-fcf-protection=none"],
    );
    lib(
        "libstack.so",
        "int stack(void) { return 2; }\n",
        &["-fcf-protection=full", "-Wl,-z,execstack"],
    );
    let rpath = format!("-Wl,-rpath,{}", env.path().display());
    lib(
        "libcet.so",
        "int plain(void); int stack(void);\nint cet(void) { return plain() + stack(); }\n",
        &["-fcf-protection=full", "-L.", "-lplain", "-lstack", &rpath],
    );
    let report = audit(&env, &[&env.join("libcet.so")]);
    let t = &report.targets[0];
    let h = |name: &str| {
        t.objects
            .iter()
            .find(|o| o.path.ends_with(name))
            .and_then(|o| o.audit.as_ref()?.hardening.as_ref())
            .unwrap()
    };
    assert_eq!(
        (h("libcet.so").ibt, h("libcet.so").shstk),
        (Some(true), Some(true))
    );
    assert_eq!(h("libplain.so").ibt, Some(false));
    assert!(h("libstack.so").exec_stack);
    let c = &t.audit.as_ref().unwrap().consequences;
    let plain = env.join("libplain.so").display().to_string();
    assert!(
        c.contains(&format!("CET IBT is off for the process: {plain} lacks it")),
        "{c:?}"
    );
    assert!(
        c.contains(&format!(
            "CET SHSTK is off for the process: {plain} lacks it"
        )),
        "{c:?}"
    );
    let stack = env.join("libstack.so").display().to_string();
    assert!(
        c.contains(&format!(
            "the process gets an executable stack: {stack} asks for one"
        )),
        "{c:?}"
    );
}

#[test]
fn a_broken_policy_rule_is_named_and_exits_4() {
    const TEST: &str = "a_broken_policy_rule_is_named_and_exits_4";
    if !util::have(TEST, &["cc"]) {
        return;
    }
    let env = TestEnv::new();
    let lazy = env.join("lazy");
    util::cc(
        "int main(void) { return 0; }\n",
        &lazy,
        &["-no-pie", "-Wl,-z,lazy", "-Wl,-z,norelro"],
    );
    let now = env.join("now");
    util::cc("int main(void) { return 0; }\n", &now, &["-pie", "-fPIE"]);
    let args = |program: &Path, rules: &str| -> Vec<std::ffi::OsString> {
        vec![
            "--audit".into(),
            "--require".into(),
            rules.into(),
            program.into(),
        ]
    };
    let broken = env.depclose(args(&lazy, "pie,relro,max-glibc=2.0"));
    broken.assert_code(4);
    let program = lazy.display().to_string();
    for line in [
        format!("depclose: policy: {program}: pie: not a PIE"),
        format!("depclose: policy: {program}: relro: no RELRO"),
        format!("depclose: policy: {program}: max-glibc=2.0: needs glibc 2.34, newer than 2.0"),
    ] {
        assert!(
            broken.stderr_lines().contains(&line.as_str()),
            "{line}\n{broken}"
        );
    }
    // The report is still printed.
    assert!(
        broken.stdout.starts_with(&format!("{program}: ")),
        "{broken}"
    );
    env.depclose(args(&now, "pie,nx,no-unresolved"))
        .assert_code(0);
    let usage = env.depclose(["--require".as_ref(), "pie".as_ref(), now.as_os_str()]);
    usage.assert_code(2);
    assert!(usage.stderr.contains("add --audit"), "{usage}");
    let unknown = env.depclose(args(&now, "pie,pies"));
    unknown.assert_code(2);
    assert!(
        unknown
            .stderr
            .contains("--require pies: pies: no such rule"),
        "{unknown}"
    );
}

#[test]
fn the_dot_graph_renders_with_graphviz() {
    const TEST: &str = "the_dot_graph_renders_with_graphviz";
    if !util::have(TEST, &["dot", "/usr/sbin/nginx"]) {
        return;
    }
    let env = TestEnv::new();
    let report = audit(&env, &[Path::new("/usr/sbin/nginx")]);
    let objects = &report.targets[0].objects;
    for args in [&["-f", "dot"][..], &["--audit", "-f", "dot"][..]] {
        let run = env.depclose(args.iter().copied().chain(["/usr/sbin/nginx"]));
        run.assert_code(0);
        assert!(run.stdout.starts_with("digraph depclose {"), "{run}");
        // A node per object, an edge per resolved DT_NEEDED.
        let nodes = run.lines().iter().filter(|l| l.contains("[label=")).count();
        assert_eq!(nodes, objects.len(), "{run}");
        let edges = run.lines().iter().filter(|l| l.contains(" -> ")).count();
        let needed: usize = objects.iter().map(|o| o.needed.len()).sum();
        assert_eq!(edges, needed, "{run}");
        let graph = env.write("graph.dot", &run.stdout);
        let svg = util::run_ok(util::command("dot").arg("-Tsvg").arg(&graph));
        assert!(
            svg.stdout.contains("<svg") && svg.stdout.contains("libc.so.6"),
            "{svg}"
        );
    }
    // With the audit, a node is coloured by its worst finding: nginx itself has none.
    let run = env.depclose(["--audit", "-f", "dot", "/usr/sbin/nginx"]);
    let nginx = run
        .lines()
        .into_iter()
        .find(|l| l.contains("tooltip=\"/usr/sbin/nginx\""))
        .unwrap();
    assert!(nginx.contains("fillcolor=\"palegreen\""), "{nginx}");
}

/// A root holding the host's loader and libc, `/usr/bin/app` (which needs `libfoo.so.1`),
/// the libraries given (name, C source, compiler flags) and a dpkg database that ships each
/// file of `packages` (name, source package, version, files).
fn fixture_root(
    dir: &Path,
    libs: &[(&str, &str, &[&str])],
    packages: &[(&str, &str, &str, &[&str])],
) {
    let libdir = dir.join("usr/lib/x86_64-linux-gnu");
    std::fs::create_dir_all(&libdir).unwrap();
    std::fs::create_dir_all(dir.join("lib64")).unwrap();
    std::fs::create_dir_all(dir.join("usr/bin")).unwrap();
    std::fs::create_dir_all(dir.join("var/lib/dpkg/info")).unwrap();
    std::fs::copy(
        "/lib64/ld-linux-x86-64.so.2",
        dir.join("lib64/ld-linux-x86-64.so.2"),
    )
    .unwrap();
    std::fs::copy("/lib/x86_64-linux-gnu/libc.so.6", libdir.join("libc.so.6")).unwrap();
    for (name, src, flags) in libs {
        let mut all = vec!["-shared", "-fPIC", "-L."];
        all.extend_from_slice(flags);
        let soname = format!("-Wl,-soname,{name}");
        all.push(&soname);
        let link = format!("-L{}", libdir.display());
        all.push(&link);
        util::cc(src, &libdir.join(name), &all);
    }
    util::cc(
        "int foo(void);\nint main(void) { return foo() == 42 ? 0 : 1; }\n",
        &dir.join("usr/bin/app"),
        &[
            &format!("-L{}", libdir.display()),
            &format!("-Wl,-rpath-link,{}", libdir.display()),
            "-l:libfoo.so.1",
        ],
    );
    let mut status = String::new();
    for (name, source, version, files) in packages {
        status.push_str(&format!(
            "Package: {name}\nStatus: install ok installed\nArchitecture: amd64\nSource: {source}\nVersion: {version}\nDescription: {name}\n\n"
        ));
        let list: String = files.iter().map(|f| format!("{f}\n")).collect();
        std::fs::write(dir.join(format!("var/lib/dpkg/info/{name}.list")), list).unwrap();
    }
    std::fs::write(dir.join("var/lib/dpkg/status"), status).unwrap();
}

/// The library every release of the fixture's program needs.
const FOO: &str = "/usr/lib/x86_64-linux-gnu/libfoo.so.1";

/// sha256sum's digest of a root's libfoo.
fn foo_sha256(root: &Path) -> String {
    let out = util::run_ok(util::command("sha256sum").arg(root.join(&FOO[1..])));
    out.stdout.split_whitespace().next().unwrap().to_owned()
}

/// Two releases of one program, as roots (`old`, `new`): the same program, loader and libc;
/// in the second, libfoo is rebuilt without RELRO or the stack protector, calls arc4random
/// (glibc 2.36), needs libnew instead of libbar, and its package's version moves.
fn two_releases(env: &TestEnv) -> (std::path::PathBuf, std::path::PathBuf) {
    let (old, new) = (env.join("old"), env.join("new"));
    const LIBC: &[&str] = &[
        "/lib64/ld-linux-x86-64.so.2",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
    ];
    // Release 1: libfoo is hardened, needs libbar and only old glibc functions.
    fixture_root(
        &old,
        &[
            ("libbar.so.1", "int bar(void) { return 40; }\n", &[]),
            (
                "libfoo.so.1",
                "#include <stdio.h>\nint bar(void);\nint foo(void) { char b[64]; snprintf(b, sizeof b, \"%d\", bar()); return bar() + 2; }\n",
                &[
                    "-fstack-protector-all",
                    "-Wl,-z,relro,-z,now",
                    "-l:libbar.so.1",
                ],
            ),
        ],
        &[
            ("libc6", "glibc", "2.36-9", LIBC),
            ("app", "app", "1.0-1", &["/usr/bin/app"]),
            ("libfoo1", "foo", "1.0-1", &[FOO]),
            (
                "libbar1",
                "bar",
                "1.0-1",
                &["/usr/lib/x86_64-linux-gnu/libbar.so.1"],
            ),
        ],
    );
    // Release 2: libfoo rebuilt without RELRO or the stack protector, needing libnew and
    // arc4random (glibc 2.36); libbar gone. The program and libc are the same files.
    fixture_root(
        &new,
        &[
            ("libnew.so.1", "int bar(void) { return 40; }\n", &[]),
            (
                "libfoo.so.1",
                "#include <stdio.h>\n#include <stdlib.h>\nint bar(void);\nint foo(void) { char b[64]; snprintf(b, sizeof b, \"%u\", arc4random()); return bar() + 2; }\n",
                &["-fno-stack-protector", "-Wl,-z,norelro", "-l:libnew.so.1"],
            ),
        ],
        &[
            ("libc6", "glibc", "2.36-9", LIBC),
            ("app", "app", "1.0-1", &["/usr/bin/app"]),
            ("libfoo1", "foo", "1.1-1", &[FOO]),
            (
                "libnew1",
                "new",
                "0.1-1",
                &["/usr/lib/x86_64-linux-gnu/libnew.so.1"],
            ),
        ],
    );
    std::fs::copy(old.join("usr/bin/app"), new.join("usr/bin/app")).unwrap();
    (old, new)
}

#[test]
fn a_diff_between_two_roots_lists_exactly_the_changes() {
    const TEST: &str = "a_diff_between_two_roots_lists_exactly_the_changes";
    if !util::have(TEST, &["cc"]) {
        return;
    }
    let env = TestEnv::new();
    let (old, new) = two_releases(&env);
    let root = |r: &Path| r.display().to_string();
    let before = env.depclose([
        "--audit",
        "-f",
        "json",
        "--root",
        &root(&old),
        "/usr/bin/app",
    ]);
    before.assert_code(0);
    let old_json = env.write("old.json", &before.stdout);
    let new_root = root(&new);
    let diff_args = |format: &[&str]| {
        let mut a = vec!["--audit", "--root", &new_root, "--diff"];
        a.push(old_json.to_str().unwrap());
        a.extend_from_slice(format);
        a.push("/usr/bin/app");
        a.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = env.depclose(diff_args(&["-f", "json"]));
    run.assert_code(5);
    let report = run.report();
    let d = report.diff.as_ref().unwrap();
    assert!(d.targets_added.is_empty() && d.targets_removed.is_empty());
    let t = &d.targets[0];
    let object = |p: &str, pkg: &str| crate::util::report::DiffObject {
        path: p.into(),
        package: Some(pkg.into()),
    };
    assert_eq!(
        t.objects_added,
        [object(
            "/usr/lib/x86_64-linux-gnu/libnew.so.1",
            "libnew1 0.1-1"
        )]
    );
    assert_eq!(
        t.objects_removed,
        [object(
            "/usr/lib/x86_64-linux-gnu/libbar.so.1",
            "libbar1 1.0-1"
        )]
    );
    let changed: Vec<&str> = t.objects_changed.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(changed, [FOO]);
    assert_eq!(t.objects_changed[0].old.sha256, foo_sha256(&old));
    assert_eq!(t.objects_changed[0].new.sha256, foo_sha256(&new));
    let package = |name: &str, o: Option<&str>, n: Option<&str>| crate::util::report::DiffPackage {
        name: name.into(),
        old: o.map(Into::into),
        new: n.map(Into::into),
    };
    assert_eq!(
        t.packages,
        [
            package("libbar1", Some("1.0-1"), None),
            package("libfoo1", Some("1.0-1"), Some("1.1-1")),
            package("libnew1", None, Some("0.1-1")),
        ]
    );
    let glibc = t.min_glibc.as_ref().unwrap();
    assert_eq!((glibc.new.as_deref(), glibc.raised), (Some("2.36"), true));
    let hardening: Vec<(&str, &str, &str, bool)> = t
        .hardening
        .iter()
        .map(|h| {
            assert_eq!(h.object, FOO);
            (
                h.field.as_str(),
                h.old.as_str(),
                h.new.as_str(),
                h.regression,
            )
        })
        .collect();
    assert_eq!(
        hardening,
        [
            ("relro", "full", "none", true),
            ("canary", "yes", "no", true)
        ]
    );
    let new_codes: Vec<(&str, &str)> = t
        .findings_new
        .iter()
        .map(|f| (f.object.as_str(), f.code.as_str()))
        .collect();
    // libnew's finding is new with it; libbar's (the same) went with libbar.
    let libnew = "/usr/lib/x86_64-linux-gnu/libnew.so.1";
    assert_eq!(
        new_codes,
        [
            (FOO, "no_relro"),
            (FOO, "no_canary"),
            (libnew, "partial_relro")
        ]
    );
    assert!(
        t.findings_gone.is_empty() && t.missing_new.is_empty(),
        "{t:?}"
    );
    // The text says the same.
    let text = env.depclose(diff_args(&[]));
    text.assert_code(5);
    println!("{TEST}:\n{}{}", text.stdout, text.stderr);
    for line in [
        "+ /usr/lib/x86_64-linux-gnu/libnew.so.1 (libnew1 0.1-1)",
        "- /usr/lib/x86_64-linux-gnu/libbar.so.1 (libbar1 1.0-1)",
        "package libfoo1 1.0-1 -> 1.1-1",
        &format!("WORSE {FOO}: relro full -> none"),
    ] {
        assert!(text.stdout.contains(line), "{line:?} not in\n{text}");
    }
    assert!(
        text.stderr.contains("4 regressions since the old audit"),
        "{text}"
    );
    // Against itself: nothing changed, exit 0.
    let same = env.depclose([
        "--audit",
        "--root",
        &root(&old),
        "--diff",
        old_json.to_str().unwrap(),
        "/usr/bin/app",
    ]);
    same.assert_code(0);
    assert!(same.stdout.contains("/usr/bin/app: no changes"), "{same}");
}

#[test]
fn a_diff_refuses_what_it_cannot_compare() {
    let env = TestEnv::new();
    let listing = env.depclose(["-f", "json", "/usr/bin/true"]);
    listing.assert_code(0);
    let no_audit = env.write("listing.json", &listing.stdout);
    let not_json = env.write("garbage.json", "{\"schema_version\": ");
    for (file, says) in [
        (no_audit.to_str().unwrap(), "written without --audit"),
        (not_json.to_str().unwrap(), "not a depclose JSON report"),
        ("/nonexistent/old.json", "No such file"),
    ] {
        let run = env.depclose(["--audit", "--diff", file, "/usr/bin/true"]);
        run.assert_code(2);
        assert!(run.stderr.contains(says), "{says:?}: {run}");
    }
    let run = env.depclose(["--diff", no_audit.to_str().unwrap(), "/usr/bin/true"]);
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("--diff: it is part of the audit: add --audit"),
        "{run}"
    );
}

#[test]
fn images_diff_through_their_layers() {
    const TEST: &str = "images_diff_through_their_layers";
    if !util::have(TEST, &["cc"]) {
        return;
    }
    let env = TestEnv::new();
    let (old, new) = two_releases(&env);
    let emit = |root: &Path, tar: &str| {
        let out = env.join(tar);
        let run = env.depclose([
            "--root",
            root.to_str().unwrap(),
            "/usr/bin/app",
            "--emit",
            out.to_str().unwrap(),
        ]);
        run.assert_code(0);
        out
    };
    let (old_tar, new_tar) = (emit(&old, "old.tar"), emit(&new, "new.tar"));
    let run = env.depclose([
        "--diff-images",
        old_tar.to_str().unwrap(),
        new_tar.to_str().unwrap(),
        "-f",
        "json",
    ]);
    run.assert_code(5);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let paths = |what: &str| -> Vec<String> {
        report["files"][what]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["path"].as_str().unwrap().to_owned())
            .collect()
    };
    // Each image says for scanners which packages it holds: their stanzas and md5 sums
    // come and go with the libraries.
    let status_d = "/var/lib/dpkg/status.d";
    assert_eq!(
        paths("added"),
        [
            "/usr/lib/x86_64-linux-gnu/libnew.so.1".to_owned(),
            format!("{status_d}/libnew1"),
            format!("{status_d}/libnew1.md5sums"),
        ]
    );
    assert_eq!(
        paths("removed"),
        [
            "/usr/lib/x86_64-linux-gnu/libbar.so.1".to_owned(),
            format!("{status_d}/libbar1"),
            format!("{status_d}/libbar1.md5sums"),
        ]
    );
    assert_eq!(
        paths("changed"),
        [
            FOO.to_owned(),
            format!("{status_d}/libfoo1"),
            format!("{status_d}/libfoo1.md5sums"),
        ]
    );
    assert_eq!(report["old"]["program"], "/usr/bin/app");
    let changed = &report["files"]["changed"][0];
    assert_eq!(changed["old"]["sha256"], foo_sha256(&old));
    assert_eq!(changed["new"]["sha256"], foo_sha256(&new));
    assert_eq!(changed["new"]["mode"], "0755");
    // The program's audit, from inside each image, finds what the roots' audits find.
    let t = &report["diff"]["targets"][0];
    let hardening: Vec<(&str, bool)> = t["hardening"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["field"].as_str().unwrap(),
                h["regression"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(hardening, [("relro", true), ("canary", true)]);
    assert_eq!(t["min_glibc"]["raised"], true);
    // The packages, from the images' own status.d.
    let packages: Vec<(&str, &Value, &Value)> = t["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), &p["old"], &p["new"]))
        .collect();
    assert_eq!(
        packages,
        [
            ("libbar1", &json!("1.0-1"), &Value::Null),
            ("libfoo1", &json!("1.0-1"), &json!("1.1-1")),
            ("libnew1", &Value::Null, &json!("0.1-1")),
        ]
    );
    assert!(
        run.stderr
            .contains("regressions in the new image's program"),
        "{run}"
    );
    let text = env.depclose([
        "--diff-images",
        old_tar.to_str().unwrap(),
        new_tar.to_str().unwrap(),
    ]);
    text.assert_code(5);
    println!("{TEST}:\n{}{}", text.stdout, text.stderr);
    for line in [
        "files: 3 added, 3 removed, 3 changed",
        "  + /usr/lib/x86_64-linux-gnu/libnew.so.1 (file)",
        &format!("WORSE {FOO}: relro full -> none"),
    ] {
        assert!(text.stdout.contains(line), "{line:?} not in\n{text}");
    }
    // An image against itself.
    let same = env.depclose([
        "--diff-images",
        old_tar.to_str().unwrap(),
        old_tar.to_str().unwrap(),
    ]);
    same.assert_code(0);
    assert!(
        same.stdout.contains("files: 0 added, 0 removed, 0 changed"),
        "{same}"
    );
    // What is not an image is refused, naming it.
    let junk = env.write("junk.tar", "not a tar at all");
    let bad = env.depclose([
        "--diff-images",
        junk.to_str().unwrap(),
        old_tar.to_str().unwrap(),
    ]);
    bad.assert_code(2);
    assert!(bad.stderr.contains("junk.tar"), "{bad}");
}
