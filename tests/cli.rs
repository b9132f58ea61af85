//! The command line: formats, `--why`, targets that are scripts, directories and command
//! names, `--root`, and the promise never to run what it analyses. Expected load lists come
//! from the real loader, not from depclose's own output.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::util::report::{How, Linkage};
use crate::util::{self, TestEnv};

const TRUE: &str = "/usr/bin/true";
const APACHE: &str = "/usr/sbin/apache2";

/// `list` for one program: the program, then what `ld.so` prints, in its order.
fn expected_list(program: &Path, env: &TestEnv) -> Vec<String> {
    let trace = util::ldso_trace(program, env.path(), None);
    assert_eq!(trace.run.code, Some(0), "{}", trace.run);
    assert!(!trace.entries.is_empty(), "{}", trace.run);
    let mut want = vec![program.to_string_lossy().into_owned()];
    want.extend(trace.objects().iter().map(|s| (*s).to_owned()));
    want
}

#[test]
fn list_equals_the_loaders_order() {
    if !util::have("list_equals_the_loaders_order", &[APACHE]) {
        return;
    }
    let env = TestEnv::new();
    for program in [TRUE, APACHE] {
        let run = env.depclose([program]);
        run.assert_code(0);
        assert!(run.stderr.is_empty(), "{run}");
        assert_eq!(
            run.lines(),
            expected_list(Path::new(program), &env),
            "{run}"
        );
    }
}

/// A command name is looked up in PATH (the test's fixed PATH finds /usr/bin first).
#[test]
fn command_name_target() {
    let env = TestEnv::new();
    let run = env.depclose(["true"]);
    run.assert_code(0);
    assert_eq!(run.lines(), expected_list(Path::new(TRUE), &env), "{run}");
}

/// `httpd` is Apache's name elsewhere; on Debian the error says what it is called here.
#[test]
fn httpd_is_apache2_on_debian() {
    let env = TestEnv::new();
    let run = env.depclose(["httpd"]);
    run.assert_code(2);
    assert_eq!(run.stderr_lines().len(), 1, "{run}");
    assert!(run.stderr.contains("apache2"), "{run}");
}

#[test]
fn tree_of_true_is_pinned() {
    let env = TestEnv::new();
    let run = env.depclose(["--format", "tree", TRUE]);
    run.assert_code(0);
    // libc comes from Debian's ld.so.cache; the interpreter is libc's own NEEDED, shown
    // once without a subtree because the kernel, not libc, mapped it.
    assert_eq!(
        run.stdout,
        "/usr/bin/true [interpreter /lib64/ld-linux-x86-64.so.2]\n\
         └── libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 [ld.so.cache]\n    \
         └── ld-linux-x86-64.so.2 => /lib64/ld-linux-x86-64.so.2\n",
        "{run}"
    );
}

/// Every object of Apache's closure appears in its tree, once with how it was found.
#[test]
fn tree_of_apache_names_every_object() {
    if !util::have("tree_of_apache_names_every_object", &[APACHE]) {
        return;
    }
    let env = TestEnv::new();
    let run = env.depclose(["--format", "tree", APACHE]);
    run.assert_code(0);
    let list = expected_list(Path::new(APACHE), &env);
    assert!(
        run.stdout.starts_with(&format!("{APACHE} [interpreter ")),
        "{run}"
    );
    for path in &list[1..] {
        // The interpreter is shown without a "how" (the kernel maps it).
        let with_how = format!("=> {path} [");
        let plain = format!("=> {path}\n");
        let n = run.stdout.matches(&with_how).count();
        assert!(
            n == 1 || (n == 0 && run.stdout.contains(&plain)),
            "{path} shown {n} times with its origin\n{run}"
        );
    }
}

fn sha256sum(path: &str) -> String {
    let r = util::run(util::command("sha256sum").arg(path));
    assert_eq!(r.code, Some(0), "{r}");
    r.stdout.split_whitespace().next().unwrap().to_owned()
}

/// The loader's version as `ld.so --version` prints it ("... release version 2.36.").
fn glibc_version() -> String {
    let r = util::run(util::command(util::LDSO).arg("--version"));
    let first = r.stdout.lines().next().unwrap_or_default();
    first
        .rsplit("version ")
        .next()
        .unwrap()
        .trim_end_matches('.')
        .to_owned()
}

/// The report parses into the pinned schema (deny_unknown_fields) and says what the loader
/// and the file system say.
#[test]
fn json_report() {
    if !util::have("json_report", &[APACHE]) {
        return;
    }
    let env = TestEnv::new();
    for program in [TRUE, APACHE] {
        let run = env.depclose(["--format", "json", program]);
        run.assert_code(0);
        let report = run.report();
        assert_eq!(report.schema_version, 5);
        assert_eq!(report.root, "/");
        let [t] = report.targets.as_slice() else {
            panic!("one target expected\n{run}");
        };
        assert_eq!(t.target, program);
        assert!(t.scripts.is_empty());
        assert_eq!(t.linkage, Linkage::Dynamic);
        assert!(
            t.complete && t.missing.is_empty() && t.fatal.is_none(),
            "{run}"
        );
        let loader = t.loader.as_ref().unwrap();
        assert_eq!(loader.interpreter, util::LDSO);
        assert_eq!(
            loader.glibc_version.as_deref(),
            Some(glibc_version().as_str())
        );
        let mut paths = vec![t.objects[0].path.clone()];
        paths.extend(t.loaded_paths().iter().map(|s| (*s).to_owned()));
        assert_eq!(paths, expected_list(Path::new(program), &env));

        assert_eq!(t.objects[0].found.how, How::Target);
        assert!(t.objects[0].loader.is_none() && t.objects[0].needed_by.is_empty());
        for o in &t.objects {
            let real = std::fs::canonicalize(&o.path).unwrap();
            assert_eq!(o.real_path, real.to_string_lossy(), "{}", o.path);
            assert_eq!(
                o.size,
                std::fs::metadata(&real).unwrap().len(),
                "{}",
                o.path
            );
            assert_eq!(o.sha256, sha256sum(&o.real_path), "{}", o.path);
            assert!(!o.runtime, "{}: runtime without --runtime", o.path);
            assert!(o.tried.iter().all(|a| a.is_known()), "{:?}", o.tried);
            // Whoever loaded it needs it, and is in the closure.
            if let Some(l) = &o.loader {
                assert!(
                    o.needed_by.contains(l),
                    "{}: loader {l} not a needer",
                    o.path
                );
            }
            for n in &o.needed_by {
                assert!(paths.contains(n), "{}: needed by unknown {n}", o.path);
            }
        }
        let libc = t
            .objects
            .iter()
            .find(|o| o.soname.as_deref() == Some("libc.so.6"))
            .unwrap();
        assert_eq!(libc.path, "/lib/x86_64-linux-gnu/libc.so.6");
        assert_eq!(libc.found.how, How::LdSoCache);
        assert!(
            libc.tried
                .last()
                .is_some_and(|a| a.outcome == "chosen" && a.via == Some(How::LdSoCache)),
            "{:?}",
            libc.tried
        );
        let interp = t.objects.last().unwrap();
        assert_eq!(
            (interp.path.as_str(), interp.found.how),
            (util::LDSO, How::Interpreter)
        );
    }
}

#[test]
fn why_libc() {
    if !util::have("why_libc", &[APACHE]) {
        return;
    }
    let env = TestEnv::new();
    let run = env.depclose(["--why", "libc.so.6", TRUE]);
    run.assert_code(0);
    assert_eq!(
        run.stdout,
        "/usr/bin/true:\n\
         /usr/bin/true [target]\n  \
         /lib/x86_64-linux-gnu/libc.so.6 [ld.so.cache]\n  \
         the search (as LD_DEBUG=libs shows it):\n    \
         search ld.so.cache\n      \
         trying file=/lib/x86_64-linux-gnu/libc.so.6  (chosen)\n",
        "{run}"
    );
    // Deeper: Apache reaches libuuid through libapr.
    let run = env.depclose(["--why", "libuuid.so.1", APACHE]);
    run.assert_code(0);
    let lines = run.lines();
    assert_eq!(lines[0], "/usr/sbin/apache2:", "{run}");
    assert!(
        lines[2]
            .trim_start()
            .starts_with("/lib/x86_64-linux-gnu/libapr-1.so.0 "),
        "{run}"
    );
    assert!(
        lines[3]
            .trim_start()
            .starts_with("/lib/x86_64-linux-gnu/libuuid.so.1 "),
        "{run}"
    );

    let run = env.depclose(["--why", "libdepclose-nothing.so.1", TRUE]);
    run.assert_code(2);
    assert_eq!(run.stderr_lines().len(), 1, "{run}");
    assert!(run.stderr.contains("libdepclose-nothing.so.1"), "{run}");
}

/// A `#!` script: the script, then its interpreter's closure (`/bin/sh` is dash here, a
/// symlink the kernel opens by that name).
#[test]
fn script_target() {
    let env = TestEnv::new();
    let script = env.write("hello.sh", "#!/bin/sh\necho hello\n");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = env.depclose([&script]);
    run.assert_code(0);
    let mut want = vec![script.to_string_lossy().into_owned()];
    want.extend(expected_list(Path::new("/bin/sh"), &env));
    assert_eq!(run.lines(), want, "{run}");

    let run = env.depclose(["--format".as_ref(), "json".as_ref(), script.as_os_str()]);
    run.assert_code(0);
    let report = run.report();
    let t = &report.targets[0];
    assert_eq!(t.target, script.to_string_lossy());
    assert_eq!(t.scripts.len(), 1);
    assert_eq!(t.scripts[0].path, script.to_string_lossy());
    assert_eq!(t.scripts[0].interpreter, "/bin/sh");
    assert_eq!(t.scripts[0].argument, None);
    assert_eq!(t.objects[0].path, "/bin/sh");
}

/// A directory: every ELF file in it, recursively, sorted; other files are not targets.
#[test]
fn directory_target() {
    if !util::have("directory_target", &[APACHE]) {
        return;
    }
    let env = TestEnv::new();
    let dir = env.join("bin");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::copy(TRUE, dir.join("b-true")).unwrap();
    std::fs::copy(APACHE, dir.join("sub/a-apache2")).unwrap();
    env.write("bin/README", "not a program\n");
    env.write("bin/run.sh", "#!/bin/sh\n");
    let run = env.depclose(["--format".as_ref(), "json".as_ref(), dir.as_os_str()]);
    run.assert_code(0);
    let report = run.report();
    let targets: Vec<&str> = report.targets.iter().map(|t| t.target.as_str()).collect();
    let (b, a) = (dir.join("b-true"), dir.join("sub/a-apache2"));
    assert_eq!(targets, [b.to_string_lossy(), a.to_string_lossy()]);

    // `list`: the targets first, then every other object once, in load order.
    let run = env.depclose([&dir]);
    run.assert_code(0);
    let mut want = vec![
        b.to_string_lossy().into_owned(),
        a.to_string_lossy().into_owned(),
    ];
    for p in [&b, &a] {
        for o in expected_list(p, &env).into_iter().skip(1) {
            if !want.contains(&o) {
                want.push(o);
            }
        }
    }
    assert_eq!(run.lines(), want, "{run}");
}

/// Copy `path` into `root` as it is on the host: every symlink on the way (merged /usr's
/// `/lib64 -> usr/lib64`, the loader's own link) becomes the same symlink in `root`, and the
/// file at the end is copied.
fn replicate(path: &Path, root: &Path) {
    let mut links = BTreeMap::new();
    let mut files = BTreeSet::new();
    util::walk_host(&path.to_string_lossy(), &mut links, &mut files);
    for (link, target) in &links {
        let inside = root.join(link);
        std::fs::create_dir_all(inside.parent().unwrap()).unwrap();
        if std::fs::symlink_metadata(&inside).is_err() {
            std::os::unix::fs::symlink(target, &inside).unwrap();
        }
    }
    for file in &files {
        let inside = root.join(file);
        std::fs::create_dir_all(inside.parent().unwrap()).unwrap();
        std::fs::copy(Path::new("/").join(file), &inside).unwrap();
    }
}

/// `--root`: a sysroot holding only `true`, its libraries and the loader, with their
/// symlinks. The oracle is the sysroot's own loader under `chroot` (root only). The
/// sysroot has no ld.so.cache, so both search the default directories.
#[test]
fn sysroot() {
    let env = TestEnv::new();
    let root = env.join("sysroot");
    std::fs::create_dir(&root).unwrap();
    for p in expected_list(Path::new(TRUE), &env) {
        replicate(Path::new(&p), &root);
    }
    let run = env.depclose(["--root".as_ref(), root.as_os_str(), TRUE.as_ref()]);
    run.assert_code(0);
    let report_run = env.depclose([
        "--root".as_ref(),
        root.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
        TRUE.as_ref(),
    ]);
    report_run.assert_code(0);
    let report = report_run.report();
    assert_eq!(report.root, root.to_string_lossy());
    // Paths are inside the root: nothing of the host leaks into real_path.
    for o in &report.targets[0].objects {
        assert!(
            root.join(o.real_path.trim_start_matches('/')).is_file(),
            "{}",
            o.real_path
        );
    }
    // The oracle needs chroot; what depclose says was checked above either way.
    if !util::chroot_works("sysroot") {
        return;
    }
    let trace = util::trace_of(util::run(util::command("chroot").arg(&root).args([
        util::LDSO,
        "--list",
        TRUE,
    ])));
    assert_eq!(trace.run.code, Some(0), "{}", trace.run);
    assert_eq!(trace.not_found(), Vec::<&str>::new(), "{}", trace.run);
    let mut want = vec![TRUE];
    want.extend(trace.paths());
    assert_eq!(run.lines(), want, "{run}\n{}", trace.run);
}

/// depclose reads its targets and never runs them: a program whose constructor and main
/// both leave a marker file, and a script that would, are analysed in every format; no
/// marker appears. Running the program at the end proves the marker works.
#[test]
fn never_executes_its_target() {
    if !util::have("never_executes_its_target", &["cc"]) {
        return;
    }
    let env = TestEnv::new();
    let marker = env.join("ran");
    let src = format!(
        "#include <stdio.h>\n\
             static void mark(void) {{ FILE *f = fopen(\"{m}\", \"a\"); if (f) fclose(f); }}\n\
             __attribute__((constructor)) static void init(void) {{ mark(); }}\n\
             int main(void) {{ mark(); return 0; }}\n",
        m = marker.display()
    );
    let prog = env.join("marker");
    util::cc(&src, &prog, &[]);
    let script = env.write(
        "marker.sh",
        format!("#!/bin/sh\ntouch '{}'\n", marker.display()),
    );
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    for target in [&prog, &script] {
        for args in [
            &["--format", "list"][..],
            &["--format", "tree"],
            &["--format", "json"],
            &["--why", "libc.so.6"],
            &["--runtime"],
        ] {
            let mut full: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
            full.push(target.as_os_str());
            env.depclose(full).assert_code(0);
            assert!(
                !marker.exists(),
                "depclose {args:?} {} ran it",
                target.display()
            );
        }
    }
    let r = util::run(&mut util::command(&prog));
    assert_eq!(r.code, Some(0), "{r}");
    assert!(
        marker.exists(),
        "the marker program does not leave a marker"
    );
}

#[test]
fn usage_errors_exit_2() {
    let env = TestEnv::new();
    for args in [
        &["--format", "yaml", TRUE][..],
        &[],
        &["--no-such-flag", TRUE],
    ] {
        let run = env.depclose(args);
        run.assert_code(2);
        assert!(run.stdout.is_empty(), "{run}");
        assert!(!run.stderr.is_empty(), "{run}");
    }
    let run = env.depclose(["--help"]);
    run.assert_code(0);
    assert!(run.stdout.contains("--format"), "{run}");
}

/// A program that reports what the loader gave it: `AT_SECURE` from its auxiliary vector and
/// the libc it mapped, from its own `/proc/self/maps` (the kernel's real path). It reads its
/// own state, so what it prints is final when it exits: nothing to race with.
const SECURE_PROBE: &str = r#"#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
int main(void) {
    static char line[4096], libc[4096] = "none";
    FILE *maps = fopen("/proc/self/maps", "r");
    while (maps && fgets(line, sizeof line, maps)) {
        char *path = strchr(line, '/');
        size_t n = path ? strcspn(path, "\n") : 0;
        if (n >= 10 && strncmp(path + n - 10, "/libc.so.6", 10) == 0) {
            path[n] = 0;
            strcpy(libc, path);
            break;
        }
    }
    printf("AT_SECURE=%lu libc=%s\n", getauxval(AT_SECURE), libc);
    return 0;
}
"#;

/// What the probe printed, run as `nobody`: (AT_SECURE, the libc it mapped); Err when it
/// cannot run as `nobody` here (setpriv refused, say in a container without CAP_SETUID).
fn secure_probe_as_nobody(prog: &Path, llp: &Path) -> Result<(bool, String), String> {
    let r = util::run(
        util::command("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(prog)
            .env("LD_LIBRARY_PATH", llp),
    );
    if r.code != Some(0) {
        return Err(format!("cannot run a program as uid 65534: {}", r.stderr));
    }
    let parsed = r
        .stdout
        .trim_end()
        .split_once(' ')
        .and_then(|(secure, libc)| {
            Some((
                secure.strip_prefix("AT_SECURE=")?.parse::<u64>().ok()? != 0,
                libc.strip_prefix("libc=")?.to_owned(),
            ))
        });
    Ok(parsed.unwrap_or_else(|| panic!("unexpected probe output\n{r}")))
}

/// A setuid program runs with the loader in secure mode, which ignores LD_LIBRARY_PATH. The
/// trace variables are ignored in secure mode too, so the oracle is a real run: a setuid-root
/// probe, started as `nobody` with LD_LIBRARY_PATH pointing at a copy of libc, reports which
/// libc it mapped. The same file without the setuid bit takes the LD_LIBRARY_PATH copy;
/// depclose must agree both times. Some kernels (or a `nosuid` mount) give a setuid program
/// no secure mode: the loader then honours LD_LIBRARY_PATH, and the test cannot judge.
#[test]
fn secure_mode_ignores_library_path() {
    const TEST: &str = "secure_mode_ignores_library_path";
    if !util::need_root(TEST, "a setuid-root program") || !util::have(TEST, &["setpriv", "cc"]) {
        return;
    }
    let env = TestEnv::new();
    // nobody must reach the probe and the libc copy (the temp dir is 0700).
    std::fs::set_permissions(env.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let llp = env.join("llp");
    std::fs::create_dir(&llp).unwrap();
    std::fs::copy("/lib/x86_64-linux-gnu/libc.so.6", llp.join("libc.so.6")).unwrap();
    let prog = env.join("secure-probe");
    util::cc(SECURE_PROBE, &prog, &[]);
    for (mode, secure) in [(0o4755, true), (0o755, false)] {
        std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(mode)).unwrap();
        let (at_secure, mapped) = match secure_probe_as_nobody(&prog, &llp) {
            Ok(seen) => seen,
            Err(why) => {
                util::skip(TEST, why);
                return;
            }
        };
        if secure && !at_secure {
            util::skip(
                TEST,
                format!(
                    "a setuid-root program run as uid 65534 gets AT_SECURE=0 here (the kernel \
                     or a nosuid mount of {}), so the loader does not ignore LD_LIBRARY_PATH",
                    env.path().display()
                ),
            );
            return;
        }
        assert_eq!(at_secure, secure, "mode {mode:o}: AT_SECURE");

        let run = env.depclose([
            "--format".as_ref(),
            "json".as_ref(),
            "--library-path".as_ref(),
            llp.as_os_str(),
            prog.as_os_str(),
        ]);
        run.assert_code(0);
        let report = run.report();
        let t = &report.targets[0];
        assert_eq!(t.secure, secure, "{run}");
        let libc = t
            .objects
            .iter()
            .find(|o| o.soname.as_deref() == Some("libc.so.6"))
            .expect("libc in the closure");
        assert_eq!(libc.real_path, mapped, "mode {mode:o}: {run}");
        let note = run.stderr.contains("ignores LD_LIBRARY_PATH (secure mode)");
        assert_eq!(note, secure, "{run}");
    }
}
