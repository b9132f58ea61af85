//! Hostile roots: symlinks, `..`, loops, includes and cache entries that point out of
//! `--root`, files swapped while depclose works, and files that would leave a mark if they
//! ran. Each case builds its root here and runs depclose on it.
//!
//! Where the machine allows (root, `unshare`, `/mnt`), depclose runs in a private mount
//! namespace in which the host paths the root points at hold marker files (a tmpfs on
//! `/mnt`, and marker files bound over `/etc/passwd`, `/etc/ld.so.conf.d`, `/etc/apache2`...):
//! the marker must appear in none of its output (streams, image tar, rootfs), and, under
//! `strace`, every path it names in a system call must be in the test's dir, one of its own
//! files, or a few kernel and loader paths.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::util::{self, DEPCLOSE, Run, TestEnv, command};

/// In every marker file and every name only the marker world holds: output that contains
/// it came from outside the root.
const MARK: &str = "depclosemarker";

/// The host's multiarch library directory, as the roots here lay it out too.
const LIBDIR: &str = "usr/lib/x86_64-linux-gnu";

// ---------------------------------------------------------------------------------------
// Roots

/// A test's setup: `cc` and `tools` present (else it skips), a fresh environment, its
/// containment check, and the base root in it.
fn hostile_root(test: &str, tools: &[&str]) -> Option<(TestEnv, Contained, PathBuf)> {
    let mut needed = vec!["cc"];
    needed.extend(tools);
    if !util::have(test, &needed) {
        return None;
    }
    let env = TestEnv::new();
    let h = Contained::new(test);
    let root = base_root(&env);
    Some((env, h, root))
}

/// A root with glibc's loader and libc (copied from the host), `/lib` → `usr/lib` and the
/// interpreter's `/lib64` link, and `/etc/passwd` and `/etc/group` (root and nobody).
fn base_root(env: &TestEnv) -> PathBuf {
    let root = env.join("root");
    for d in [LIBDIR, "usr/bin", "usr/sbin", "lib64", "etc"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    symlink("usr/lib", root.join("lib")).unwrap();
    for lib in ["libc.so.6", "ld-linux-x86-64.so.2"] {
        fs::copy(
            Path::new("/lib/x86_64-linux-gnu").join(lib),
            root.join(LIBDIR).join(lib),
        )
        .unwrap();
    }
    symlink(
        "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        root.join("lib64/ld-linux-x86-64.so.2"),
    )
    .unwrap();
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/nonexistent:/bin/sh\n",
    )
    .unwrap();
    fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
    root
}

/// Build a shared library `soname` (C `body`) into `dir` (absolute, created).
fn lib(dir: &Path, soname: &str, body: &str) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let out = dir.join(soname);
    util::cc(
        body,
        &out,
        &["-shared", "-fPIC", &format!("-Wl,-soname,{soname}")],
    );
    fs::remove_file(out.with_extension("c")).unwrap();
    out
}

/// Build a program into `out` that needs `libs` (paths; each linked by its soname).
fn program(out: &Path, source: &str, libs: &[&Path]) -> PathBuf {
    program_with(out, source, libs, &[])
}

/// [`program`] with more linker `flags`.
fn program_with(out: &Path, source: &str, libs: &[&Path], flags: &[&str]) -> PathBuf {
    let mut flags: Vec<String> = flags.iter().map(|f| (*f).to_owned()).collect();
    flags.push("-Wl,--no-as-needed".into());
    flags.extend(libs.iter().map(|l| l.display().to_string()));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    util::cc(source, out, &flags);
    fs::remove_file(out.with_extension("c")).unwrap();
    out.to_path_buf()
}

fn patchelf(args: &[&str], file: &Path) {
    util::run_ok(command("patchelf").args(args).arg(file));
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

// ---------------------------------------------------------------------------------------
// The marker world and the contained run

/// What the host looks like to a contained run: files copied onto a tmpfs on `/mnt`, and
/// marker files or directories bound over host paths (skipped where the host has none).
struct Markers {
    /// Kept until the test ends; outside the test's dir, which the allowlist holds.
    dir: TestEnv,
}

/// Host paths a hostile root names, each given marker contents in the namespace.
const BOUND: &[(&str, &str)] = &[
    ("/etc/passwd", "depclosemarker:x:0:0::/:/bin/sh\n"),
    ("/etc/group", "depclosemarker:x:0:\n"),
    (
        "/etc/nsswitch.conf",
        "passwd: depclosemarker\nhosts: depclosemarker\n",
    ),
    ("/etc/ld.so.conf", "/depclosemarker/lib\n"),
    // Not a cache: depclose's own loader ignores it (and so must depclose).
    ("/etc/ld.so.cache", "depclosemarker\n"),
];

/// Host directories a hostile root includes, replaced by a directory of marker files.
const BOUND_DIRS: &[(&str, &str, &str)] = &[
    ("/etc/ld.so.conf.d", "x.conf", "/depclosemarker/conf\n"),
    (
        "/etc/apache2",
        "apache2.conf",
        "LoadModule depclosemarker_module /depclosemarker/mod.so\nInclude /etc/apache2/*.load\n",
    ),
    (
        "/etc/nginx",
        "nginx.conf",
        "load_module /depclosemarker/ngx.so;\ninclude /etc/nginx/*.conf;\n",
    ),
];

impl Markers {
    /// The marker world: `mnt/lib/libfoo.so.1`, `mnt/lib/libbar.so.1`, `mnt/abs/libabs.so.1`
    /// and `mnt/evil/libevil.so` (libraries that need `libdepclosemarker.so.1` and hold the
    /// marker), `mnt/etc/hostname`, and the bound files.
    fn new() -> Markers {
        let dir = TestEnv::new();
        let stage = dir.join("stage");
        let mark = lib(&stage, "libdepclosemarker.so.1", "int depclosemarker;");
        let body = "const char *depclosemarker_s = \"depclosemarker\";";
        for (d, name) in [
            ("mnt/lib", "libfoo.so.1"),
            ("mnt/lib", "libbar.so.1"),
            ("mnt/abs", "libabs.so.1"),
            ("mnt/rp", "librp.so.1"),
            ("mnt/evil", "libevil.so"),
        ] {
            let out = dir.join(d).join(name);
            fs::create_dir_all(out.parent().unwrap()).unwrap();
            util::cc(
                body,
                &out,
                &[
                    "-shared",
                    "-fPIC",
                    &format!("-Wl,-soname,{name}"),
                    "-Wl,--no-as-needed",
                    &mark.display().to_string(),
                ],
            );
            fs::remove_file(out.with_extension("c")).unwrap();
        }
        dir.write("mnt/etc/hostname", MARK);
        for (path, contents) in BOUND {
            dir.write(&format!("bound{path}"), contents);
        }
        for (path, name, contents) in BOUND_DIRS {
            dir.write(&format!("bound{path}/{name}"), contents);
        }
        Markers { dir }
    }

    /// The shell script that builds the marker world in the namespace, then execs its
    /// arguments.
    fn script(&self) -> String {
        let d = self.dir.path().display();
        let mut s =
            format!("set -e\nmount -t tmpfs depclose-hostile /mnt\ncp -a '{d}/mnt/.' /mnt/\n");
        for (path, _) in BOUND {
            s.push_str(&format!(
                "if [ -f {path} ]; then mount --bind '{d}/bound{path}' {path}; fi\n"
            ));
        }
        for (path, _, _) in BOUND_DIRS {
            s.push_str(&format!(
                "if [ -d {path} ]; then mount --bind '{d}/bound{path}' {path}; fi\n"
            ));
        }
        s.push_str("exec \"$@\"\n");
        s
    }
}

/// Whether a private mount namespace with a tmpfs on `/mnt` can be made here; if not, the
/// containment half of `test` is skipped, saying why.
fn namespace_works(test: &str) -> bool {
    static PROBE: OnceLock<Result<(), String>> = OnceLock::new();
    if !util::is_root() {
        util::skip(test, "containment check: needs root (unshare, mount)");
        return false;
    }
    util::probed(test, &PROBE, || {
        if !Path::new("/mnt").is_dir() {
            return Err("containment check: no /mnt to mount the marker tmpfs on".into());
        }
        let r = util::run(command("unshare").args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            "mount -t tmpfs probe /mnt && touch /mnt/x",
        ]));
        if r.code == Some(0) {
            Ok(())
        } else {
            Err(format!(
                "containment check: unshare --mount does not work here: {}",
                r.stderr
            ))
        }
    })
}

/// How a test runs depclose: inside the marker world where [`namespace_works`], and traced
/// where strace is installed too; else plainly (the test's own checks still hold).
struct Contained {
    markers: Option<Markers>,
    strace: bool,
}

impl Contained {
    /// The marker world for `test` (built once for all its runs), saying what is skipped.
    fn new(test: &str) -> Contained {
        let markers = namespace_works(test).then(Markers::new);
        let strace = markers.is_some() && util::have(test, &["strace"]);
        Contained { markers, strace }
    }

    /// Run depclose in `env`'s dir with `args`, killed after 60 s (a hang fails). Contained,
    /// the marker must be in no output (streams, files under `env`'s dir, where outputs
    /// go) and, traced, every path depclose named must be allowed ([`outside_paths`]).
    fn run(&self, env: &TestEnv, args: &[OsString]) -> Run {
        let mut cmd = command("timeout");
        cmd.args(["-s", "KILL", "60"]).current_dir(env.path());
        let Some(markers) = &self.markers else {
            return finished(util::run(cmd.arg(DEPCLOSE).args(args)));
        };
        let log = markers.dir.join("strace.log");
        cmd.args(["unshare", "--mount", "--propagation", "private", "sh", "-c"])
            .arg(markers.script())
            .arg("sh");
        if self.strace {
            cmd.args([
                "strace",
                "-f",
                "-qq",
                "-y",
                "-s",
                "4096",
                "-e",
                "trace=%file",
                "-o",
            ])
            .arg(&log);
        }
        let run = finished(util::run(cmd.arg(DEPCLOSE).args(args)));
        let mut leaks = Vec::new();
        if run.stdout.contains(MARK) || run.stderr.contains(MARK) {
            leaks.push("its stdout or stderr".to_owned());
        }
        leaks.extend(marked_files(env.path()));
        assert!(leaks.is_empty(), "the marker is in {leaks:?}\n{run}");
        if self.strace {
            let outside = outside_paths(&fs::read_to_string(&log).unwrap(), env.path());
            assert!(
                outside.is_empty(),
                "depclose named paths outside the root and its own files: {outside:#?}\n{run}"
            );
        }
        run
    }
}

/// `run`, which `timeout -s KILL` must not have had to stop (it exits 137 then).
#[track_caller]
fn finished(run: Run) -> Run {
    assert!(run.code != Some(137), "depclose hung\n{run}");
    run
}

/// Files under `dir` (not following symlinks) whose name, contents or link target hold the
/// marker.
fn marked_files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let meta = fs::symlink_metadata(&p).unwrap();
            let marked = p.to_string_lossy().contains(MARK)
                || if meta.is_symlink() {
                    fs::read_link(&p).unwrap().to_string_lossy().contains(MARK)
                } else if meta.is_file() {
                    let bytes = fs::read(&p).unwrap_or_default();
                    bytes.windows(MARK.len()).any(|w| w == MARK.as_bytes())
                } else {
                    false
                };
            if marked {
                found.push(p.display().to_string());
            }
            if meta.is_dir() {
                stack.push(p);
            }
        }
    }
    found
}

/// The paths in an `strace -y -e trace=%file` log that are neither under `dir` nor allowed
/// for depclose's own sake: its executable and the libraries its own loader searches for,
/// `/proc` and `/sys` (the CPU count, its own fds), `/dev/null`. Relative paths are joined
/// to the directory strace printed for their descriptor.
fn outside_paths(log: &str, dir: &Path) -> BTreeSet<String> {
    let own = own_libraries();
    let mut outside = BTreeSet::new();
    let mut execs = 0;
    for line in log.lines() {
        // `PID syscall(ARGS) = RESULT`; a call split by another process's is joined by strace
        // (`<unfinished ...>` / `resumed>`) and its path is on the first half.
        let Some(call) = line.split_once(' ').map(|(_, c)| c.trim_start()) else {
            continue;
        };
        let Some((name, args)) = call.split_once('(') else {
            continue;
        };
        if name == "execve" {
            execs += 1;
        }
        // `symlink(TARGET, LINK)`: the target is text, not a path depclose looks up.
        let args = match name {
            "symlink" | "symlinkat" => args.split_once("\", ").map_or(args, |(_, l)| l),
            _ => args,
        };
        let Some(path) = first_string(args) else {
            continue;
        };
        let full = if path.starts_with('/') {
            PathBuf::from(&path)
        } else {
            // `AT_FDCWD</cwd>` or `3</dir>` before the string.
            let Some(base) = args.split_once('<').and_then(|(_, r)| r.split_once('>')) else {
                continue;
            };
            // An empty path (`AT_EMPTY_PATH`) is the descriptor's file itself.
            Path::new(base.0).join(&path)
        };
        let allowed = full.starts_with(dir)
            // Canonicalizing a path in the dir looks at its ancestors (never lists them).
            || (dir.starts_with(&full) && !name.starts_with("open"))
            || full == Path::new(DEPCLOSE)
            || full.starts_with("/proc")
            || full.starts_with("/sys")
            || full == Path::new("/dev/null")
            || full == Path::new("/etc/ld.so.cache")
            || full == Path::new("/etc/ld.so.preload")
            || own.iter().any(|lib| own_library_search(lib, &full));
        if !allowed {
            outside.insert(line.to_owned());
        }
    }
    assert_eq!(execs, 1, "depclose executed something:\n{log}");
    outside
}

/// The first double-quoted string of a system call's arguments, unescaped as far as paths
/// need (strace prints `\"` and `\\`).
fn first_string(args: &str) -> Option<String> {
    let start = args.find('"')? + 1;
    let mut out = String::new();
    let mut chars = args[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => out.push(chars.next()?),
            c => out.push(c),
        }
    }
    None
}

/// The libraries depclose itself loads (its loader finds them before `main`).
fn own_libraries() -> &'static [PathBuf] {
    static OWN: OnceLock<Vec<PathBuf>> = OnceLock::new();
    OWN.get_or_init(|| {
        util::ldso_trace(Path::new(DEPCLOSE), Path::new("/"), None)
            .paths()
            .iter()
            // The name it was found under, and the file (an fd's path is the real one).
            .flat_map(|p| [PathBuf::from(p), fs::canonicalize(p).unwrap()])
            .collect()
    })
}

/// Whether `path` is one the loader tries for depclose's own library `lib` (without a
/// usable cache, as in the namespace): in `lib`'s directory, its hwcaps and legacy
/// subdirectories (glibc < 2.37: `tls`, the platform — `haswell` or `xeon_phi` on some
/// CPUs — and the hwcaps `x86_64` and, with AVX-512, `avx512_1`), then the file's name.
fn own_library_search(lib: &Path, path: &Path) -> bool {
    const SUBDIRS: &[&str] = &[
        "glibc-hwcaps",
        "x86-64-v2",
        "x86-64-v3",
        "x86-64-v4",
        "tls",
        "x86_64",
        "haswell",
        "xeon_phi",
        "avx512_1",
    ];
    let (Some(dir), Some(name)) = (lib.parent(), lib.file_name()) else {
        return false;
    };
    let Ok(rest) = path.strip_prefix(dir) else {
        return false;
    };
    let mut parts: Vec<&OsStr> = rest.iter().collect();
    if parts.last() == Some(&name) {
        parts.pop();
    }
    parts
        .iter()
        .all(|p| SUBDIRS.iter().any(|s| OsStr::new(s) == *p))
}

// ---------------------------------------------------------------------------------------
// The cases

/// Absolute and relative symlinks that leave the root resolve inside it, as after `chroot`:
/// `libfoo.so.1 → /mnt/lib/libfoo.so.1` is `ROOT/mnt/lib/libfoo.so.1`, and
/// `../../../../../../../../mnt/lib/libbar.so.1` stops at the root. The image holds the
/// root's files, and the symlinks of an `--add`ed directory as symlinks.
#[test]
fn symlinks_out_of_the_root_resolve_inside_it() {
    const TEST: &str = "symlinks_out_of_the_root_resolve_inside_it";
    let Some((env, h, root)) = hostile_root(TEST, &[]) else {
        return;
    };
    let foo = lib(&root.join("mnt/lib"), "libfoo.so.1", "void foo(void){}");
    let bar = lib(&root.join("mnt/lib"), "libbar.so.1", "void bar(void){}");
    let lib_dir = root.join(LIBDIR);
    symlink("/mnt/lib/libfoo.so.1", lib_dir.join("libfoo.so.1")).unwrap();
    symlink(
        "../../../../../../../../mnt/lib/libbar.so.1",
        lib_dir.join("libbar.so.1"),
    )
    .unwrap();
    program(
        &root.join("usr/bin/app"),
        "void foo(void); void bar(void); int main(void){foo();bar();return 0;}",
        &[&foo, &bar],
    );
    fs::create_dir(root.join("etc/cfg")).unwrap();
    symlink("/mnt/etc/hostname", root.join("etc/cfg/abs")).unwrap();
    symlink(
        "../../../../../../mnt/etc/hostname",
        root.join("etc/cfg/rel"),
    )
    .unwrap();
    env.write("root/mnt/etc/hostname", "the root's\n");

    let r = h.run(&env, &os(&["--root", "root", "-f", "json", "/usr/bin/app"]));
    r.assert_code(0);
    let report = r.report();
    let reals: Vec<&str> = report.targets[0]
        .objects
        .iter()
        .map(|o| o.real_path.as_str())
        .collect();
    for want in ["/mnt/lib/libfoo.so.1", "/mnt/lib/libbar.so.1"] {
        assert!(reals.contains(&want), "{want} not in {reals:?}\n{r}");
    }

    let r = h.run(
        &env,
        &os(&[
            "--root",
            "root",
            "/usr/bin/app",
            "--add",
            "/etc/cfg",
            "--add",
            "/etc/cfg/rel:/hostname",
            "--emit",
            "app.tar",
            "--emit-rootfs",
            "rootfs",
        ]),
    );
    r.assert_code(0);
    let rootfs = env.join("rootfs");
    assert_eq!(
        fs::read(rootfs.join("mnt/lib/libfoo.so.1")).unwrap(),
        fs::read(&foo).unwrap(),
        "{r}"
    );
    assert_eq!(
        fs::read_link(rootfs.join("etc/cfg/abs")).unwrap(),
        Path::new("/mnt/etc/hostname")
    );
    assert_eq!(
        fs::read_to_string(rootfs.join("hostname")).unwrap(),
        "the root's\n",
        "{r}"
    );
}

/// `..` in RPATH, in a DT_NEEDED with a slash and in `--add` climbs no higher than the root.
/// The root has `/mnt/rp/librp.so.1` (through RPATH `/../../../../mnt/rp`) but no
/// `/mnt/evil/libevil.so`, which the host (in the namespace) has: it is missing, by name.
#[test]
fn dotdot_in_rpath_needed_and_add_stops_at_the_root() {
    const TEST: &str = "dotdot_in_rpath_needed_and_add_stops_at_the_root";
    let Some((env, h, root)) = hostile_root(TEST, &["patchelf"]) else {
        return;
    };
    let rp = lib(&root.join("mnt/rp"), "librp.so.1", "void rp(void){}");
    let app = program(
        &root.join("usr/bin/app"),
        "void rp(void); int main(void){rp();return 0;}",
        &[&rp],
    );
    patchelf(
        &["--force-rpath", "--set-rpath", "/../../../../mnt/rp"],
        &app,
    );
    let run = h.run(&env, &os(&["--root", "root", "-f", "json", "/usr/bin/app"]));
    run.assert_code(0);
    let objects = &run.report().targets[0].objects;
    assert!(
        objects.iter().any(|o| o.real_path == "/mnt/rp/librp.so.1"),
        "{run}"
    );

    // RUNPATH too, and a DT_NEEDED path that climbs out.
    const EVIL: &str = "../../../../../../mnt/evil/libevil.so";
    patchelf(
        &["--set-rpath", "$ORIGIN/../../../../../../../mnt/rp"],
        &app,
    );
    patchelf(&["--add-needed", EVIL], &app);
    let run = h.run(&env, &os(&["--root", "root", "/usr/bin/app"]));
    run.assert_code(1);
    assert!(run.stderr.contains(&format!("{EVIL}: not found")), "{run}");
    assert!(run.stdout.contains("/mnt/rp/librp.so.1"), "{run}");

    // `--add` with `..`: the root's file, at the path it names inside the root.
    env.write("root/etc/hostname", "the root's\n");
    patchelf(&["--remove-needed", EVIL], &app);
    let run = h.run(
        &env,
        &os(&[
            "--root",
            "root",
            "/usr/bin/app",
            "--add",
            "/../../../../../etc/hostname",
            "--add",
            "/usr/../../../mnt/../etc/hostname:/h2",
            "--emit-rootfs",
            "rootfs",
        ]),
    );
    run.assert_code(0);
    for p in ["etc/hostname", "h2"] {
        assert_eq!(
            fs::read_to_string(env.join("rootfs").join(p)).unwrap(),
            "the root's\n",
            "{p}\n{run}"
        );
    }
}

/// Symlink loops and a 10,000-link chain, as a target, as a library and as an `--add`, end
/// fast with the loader's `ELOOP` (after 40 links), naming the path: exit 2 for what the
/// user named, 1 for a library (the loader stops at it; depclose tries no further file,
/// docs/divergences.md). A directory symlink to `.` inside an added directory is a symlink,
/// not a walk without end.
#[test]
fn symlink_loops_and_long_chains_end_with_eloop() {
    const TEST: &str = "symlink_loops_and_long_chains_end_with_eloop";
    let Some((env, h, root)) = hostile_root(TEST, &[]) else {
        return;
    };
    let chain = root.join("chain");
    fs::create_dir(&chain).unwrap();
    for i in 0..10_000 {
        symlink(format!("c{}", i + 1), chain.join(format!("c{i}"))).unwrap();
    }
    let foo = lib(&env.join("build"), "libfoo.so.1", "void foo(void){}");
    let app = program(
        &root.join("usr/bin/app"),
        "void foo(void); int main(void){foo();return 0;}",
        &[&foo],
    );
    fs::copy(&app, chain.join("c10000")).unwrap();
    symlink("loopb", root.join("usr/bin/loopa")).unwrap();
    symlink("loopa", root.join("usr/bin/loopb")).unwrap();
    symlink("/chain/c0", root.join(LIBDIR).join("libfoo.so.1")).unwrap();
    fs::create_dir_all(root.join("opt/d")).unwrap();
    symlink(".", root.join("opt/d/self")).unwrap();
    symlink("..", root.join("opt/d/up")).unwrap();

    for (args, code, names) in [
        (&["/chain/c0"][..], 2, "/chain/c0"),
        (&["/usr/bin/loopa"], 2, "/usr/bin/loopa"),
        (&["/usr/bin/app"], 1, "libfoo.so.1"),
        (
            &["/chain/c9990", "--add", "/usr/bin/loopb"],
            2,
            "/usr/bin/loopb",
        ),
    ] {
        let mut full = os(&["--root", "root", "--emit", "x.tar"]);
        full.extend(os(args));
        let start = Instant::now();
        let run = h.run(&env, &full);
        run.assert_code(code);
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{:?}\n{run}",
            start.elapsed()
        );
        assert!(run.stderr.contains(names), "{run}");
        if code == 2 {
            assert!(
                run.stderr.contains("too many levels of symbolic links"),
                "{run}"
            );
        }
        assert!(!env.join("x.tar").exists(), "{run}");
    }
    // The kernel's limit: 40 links are followed (c9960), 41 are too many.
    let run = h.run(&env, &os(&["--root", "root", "/chain/c9959"]));
    run.assert_code(2);
    assert!(
        run.stderr.contains("/chain/c9959: too many levels"),
        "{run}"
    );
    let run = h.run(&env, &os(&["--root", "root", "/chain/c9960"]));
    // It gets as far as its library, still the looping chain.
    run.assert_code(1);
    fs::remove_file(root.join(LIBDIR).join("libfoo.so.1")).unwrap();
    fs::copy(&foo, root.join(LIBDIR).join("libfoo.so.1")).unwrap();
    let run = h.run(
        &env,
        &os(&[
            "--root",
            "root",
            "/chain/c9960",
            "--add",
            "/opt/d",
            "--emit-rootfs",
            "rootfs",
        ]),
    );
    run.assert_code(0);
    assert_eq!(
        fs::read_link(env.join("rootfs/opt/d/self")).unwrap(),
        Path::new(".")
    );
}

/// `include /etc/*` and `include /etc/ld.so.conf.d/*.conf` in the root's `ld.so.conf` mean
/// the root's `/etc` (as `ldconfig -r` reads them); a relative include and a directory with
/// `..` stay in the root too, and including itself ends at ldconfig's depth limit.
#[test]
fn ld_so_conf_includes_mean_the_roots_etc() {
    const TEST: &str = "ld_so_conf_includes_mean_the_roots_etc";
    let Some((env, h, root)) = hostile_root(TEST, &[]) else {
        return;
    };
    env.write(
        "root/etc/ld.so.conf",
        "include /etc/*\ninclude /etc/ld.so.conf.d/*.conf\n\
         include ../../../../../../etc/ld.so.conf.d/*.conf\n/../../../../conf-b\n",
    );
    env.write("root/etc/ld.so.conf.d/a.conf", "/opt/conf-a\n");
    let a = lib(&root.join("opt/conf-a"), "liba.so.1", "void a(void){}");
    let b = lib(&root.join("conf-b"), "libb.so.1", "void b(void){}");
    program(
        &root.join("usr/bin/app"),
        "void a(void); void b(void); int main(void){a();b();return 0;}",
        &[&a, &b],
    );
    let run = h.run(
        &env,
        &os(&[
            "--root",
            "root",
            "--cache",
            "conf",
            "-f",
            "json",
            "/usr/bin/app",
        ]),
    );
    run.assert_code(0);
    let reals: Vec<String> = run.report().targets[0]
        .objects
        .iter()
        .map(|o| o.real_path.clone())
        .collect();
    for want in ["/opt/conf-a/liba.so.1", "/conf-b/libb.so.1"] {
        assert!(reals.iter().any(|r| r == want), "{want}: {reals:?}\n{run}");
    }
    // The image's own cache is made from the same directories.
    let run = h.run(
        &env,
        &os(&["--root", "root", "/usr/bin/app", "--emit", "app.tar"]),
    );
    run.assert_code(0);
}

/// An `ld.so.cache` whose entries point at host paths or climb with `..` is read inside the
/// root, as the loader in a chroot would: an entry for a file the root lacks (but the host
/// has, in the namespace) is missing, and a `..` entry stops at the root. The cache is
/// `ldconfig -r`'s, with directory names patched in place (same length).
#[test]
fn ld_so_cache_entries_stay_in_the_root() {
    const TEST: &str = "ld_so_cache_entries_stay_in_the_root";
    if !util::need_root(TEST, "ldconfig -r (chroot)") {
        return;
    }
    let Some((env, h, root)) = hostile_root(TEST, &["ldconfig"]) else {
        return;
    };
    // `/../../../../okdir` in the patched cache: 18 bytes, like `/aaaaaaaaaaaaaaaaa`.
    const DOTDOT: &str = "/../../../../okdir";
    const PLAIN: &str = "/aaaaaaaaaaaaaaaaa";
    assert_eq!(DOTDOT.len(), PLAIN.len());
    let ok = lib(&root.join(&PLAIN[1..]), "libok.so.1", "void ok(void){}");
    lib(&root.join("okdir"), "libok.so.1", "void ok(void){}");
    let abs = lib(&root.join("mnt/abs"), "libabs.so.1", "void abs_(void){}");
    program(
        &root.join("usr/bin/app"),
        "void ok(void); void abs_(void); int main(void){ok();abs_();return 0;}",
        &[&ok, &abs],
    );
    env.write("root/etc/ld.so.conf", format!("{PLAIN}\n/mnt/abs\n"));
    util::run_ok(command("ldconfig").arg("-r").arg(&root));
    let cache = root.join("etc/ld.so.cache");
    let mut bytes = fs::read(&cache).unwrap();
    let mut patched = 0;
    for i in 0..bytes.len() - PLAIN.len() {
        if &bytes[i..i + PLAIN.len()] == PLAIN.as_bytes() {
            bytes[i..i + PLAIN.len()].copy_from_slice(DOTDOT.as_bytes());
            patched += 1;
        }
    }
    assert!(patched > 0, "ldconfig wrote no {PLAIN} entry");
    fs::write(&cache, bytes).unwrap();
    fs::remove_dir_all(root.join(&PLAIN[1..])).unwrap();
    fs::remove_file(root.join("mnt/abs/libabs.so.1")).unwrap();

    let run = h.run(&env, &os(&["--root", "root", "-f", "json", "/usr/bin/app"]));
    run.assert_code(1);
    let report = run.report();
    let t = &report.targets[0];
    assert!(
        t.objects.iter().any(|o| o.real_path == "/okdir/libok.so.1"),
        "{run}"
    );
    assert_eq!(
        t.missing
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>(),
        ["libabs.so.1"],
        "{run}"
    );
    let run = h.run(
        &env,
        &os(&[
            "--root",
            "root",
            "--allow-missing",
            "/usr/bin/app",
            "--emit",
            "app.tar",
        ]),
    );
    run.assert_code(0);
}

/// With `--root`, the run-time recipes read the root's `nsswitch.conf`, Apache and nginx
/// configurations, whatever host paths they include: the host's (marker files in the
/// namespace) never join. The programs are stand-ins that carry the compiled-in defaults
/// the recipes read.
#[test]
fn runtime_configurations_are_read_inside_the_root() {
    const TEST: &str = "runtime_configurations_are_read_inside_the_root";
    let Some((env, h, root)) = hostile_root(TEST, &[]) else {
        return;
    };
    env.write(
        "root/etc/nsswitch.conf",
        "passwd: files hostile\ngroup: ../../../../../etc/nsswitch.conf\n",
    );
    lib(&root.join(LIBDIR), "libnss_hostile.so.2", "int x;");
    env.write(
        "root/etc/apache2/apache2.conf",
        "Include /etc/apache2/mods-enabled/*.load\n\
         IncludeOptional ../../../../../../etc/apache2/conf-enabled/*.conf\n",
    );
    env.write(
        "root/etc/apache2/mods-enabled/x.load",
        "LoadModule x_module /usr/lib/apache2/modules/mod_x.so\n",
    );
    lib(&root.join("usr/lib/apache2/modules"), "mod_x.so", "int x;");
    env.write(
        "root/etc/nginx/nginx.conf",
        "include /etc/nginx/modules-enabled/*.conf;\n",
    );
    env.write(
        "root/etc/nginx/modules-enabled/y.conf",
        "load_module /usr/lib/nginx/modules/ngx_y.so;\n",
    );
    lib(&root.join("usr/lib/nginx/modules"), "ngx_y.so", "int y;");
    program(
        &root.join("usr/sbin/apache2"),
        "__attribute__((used)) static const char d[] = \" -D HTTPD_ROOT=\\\"/etc/apache2\\\"\"\
         \" -D SERVER_CONFIG_FILE=\\\"apache2.conf\\\"\";\nint main(void){return d[0];}",
        &[],
    );
    program(
        &root.join("usr/sbin/nginx"),
        "__attribute__((used)) static const char d[] = \"configure arguments: \
         --prefix=/usr/share/nginx --conf-path=/etc/nginx/nginx.conf\";\n\
         int main(void){return d[0];}",
        &[],
    );
    for (prog, want) in [
        ("/usr/sbin/apache2", "/usr/lib/apache2/modules/mod_x.so"),
        ("/usr/sbin/nginx", "/usr/lib/nginx/modules/ngx_y.so"),
    ] {
        let run = h.run(
            &env,
            &os(&[
                "--root",
                "root",
                "--runtime",
                "--allow-missing",
                "-f",
                "json",
                prog,
            ]),
        );
        run.assert_code(0);
        let report = run.report();
        let reals: Vec<&str> = report.targets[0]
            .objects
            .iter()
            .map(|o| o.real_path.as_str())
            .collect();
        for w in [want, "/usr/lib/x86_64-linux-gnu/libnss_hostile.so.2"] {
            assert!(reals.contains(&w), "{w}: {reals:?}\n{run}");
        }
        let run = h.run(
            &env,
            &os(&["--root", "root", "--allow-missing", prog, "--emit", "x.tar"]),
        );
        run.assert_code(0);
        fs::remove_file(env.join("x.tar")).unwrap();
    }
}

/// A directory of the root swapped for a symlink to a host directory while depclose
/// works (a thread renames it back and forth) never brings the host's file into the
/// image: each run packs the root's file, finds nothing, or stops with an error naming the
/// path.
#[test]
fn a_directory_swapped_for_a_host_symlink_while_packing() {
    const TEST: &str = "a_directory_swapped_for_a_host_symlink_while_packing";
    if !util::have(TEST, &["cc"]) {
        return;
    }
    let env = TestEnv::new();
    let root = base_root(&env);
    let host = TestEnv::new();
    // The host's file of the same name holds the marker.
    lib(
        host.path(),
        "libswap.so.1",
        "const char *m = \"depclosemarker\";",
    );
    let ours = lib(&root.join("opt/lib"), "libswap.so.1", "int ours;");
    let ours_bytes = fs::read(&ours).unwrap();
    program_with(
        &root.join("usr/bin/app"),
        "int main(void){return 0;}",
        &[&ours],
        &["-Wl,--disable-new-dtags,-rpath,/opt/lib"],
    );
    symlink(host.path(), root.join("opt/lib.host")).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let outcomes = std::thread::scope(|s| {
        s.spawn(|| {
            let (dir, link, aside) = (
                root.join("opt/lib"),
                root.join("opt/lib.host"),
                root.join("opt/lib.aside"),
            );
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // Each state held a while: the run must meet one when it analyses and the
                // other when it packs.
                fs::rename(&dir, &aside).unwrap();
                fs::rename(&link, &dir).unwrap();
                std::thread::sleep(Duration::from_micros(700));
                fs::rename(&dir, &link).unwrap();
                fs::rename(&aside, &dir).unwrap();
                std::thread::sleep(Duration::from_micros(700));
            }
        });
        // Stops the thread however this ends: the scope waits for it, also on a panic.
        struct Stop<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let _stop = Stop(&stop);
        let mut outcomes = BTreeSet::new();
        for i in 0..100 {
            let rootfs = format!("rootfs{i}");
            let run = util::run(
                command("timeout")
                    .args([
                        "-s",
                        "KILL",
                        "60",
                        DEPCLOSE,
                        "--root",
                        "root",
                        "/usr/bin/app",
                    ])
                    .args(["--emit-rootfs", &rootfs])
                    .current_dir(env.path()),
            );
            let packed = env.join(&rootfs).join("opt/lib/libswap.so.1");
            match run.code {
                Some(0) => assert_eq!(fs::read(&packed).unwrap(), ours_bytes, "{run}"),
                Some(1) => assert!(run.stderr.contains("libswap.so.1"), "{run}"),
                Some(2) => assert!(run.stderr.contains("/opt/lib"), "{run}"),
                _ => panic!("{run}"),
            }
            assert!(!run.stderr.contains("panicked"), "{run}");
            outcomes.insert(run.code);
        }
        outcomes
    });
    assert!(marked_files(env.path()).is_empty(), "{outcomes:?}");
    println!("swap outcomes (exit codes): {outcomes:?}");
}

/// depclose never runs or loads what it analyses: a program and a library constructor, a
/// `#!` interpreter, a program whose `PT_INTERP` is a stand-in loader, and an NSS module
/// that the root's `nsswitch.conf` names would each leave a marker file; listing, JSON,
/// `--audit`, `--runtime` and `--emit` leave none (and, traced, execute nothing). The
/// marker programs are run once at the end to show they do leave it.
#[test]
fn never_executes_or_loads_what_it_analyses() {
    const TEST: &str = "never_executes_or_loads_what_it_analyses";
    let Some((env, h, root)) = hostile_root(TEST, &[]) else {
        return;
    };
    // Written where the file runs: the host path, or the same path inside the root.
    let marker = env.join("ran");
    let mark = format!(
        "#include <fcntl.h>\n#include <unistd.h>\n\
         static void mark(void) {{ close(open(\"{}\", O_CREAT|O_WRONLY, 0644)); }}\n\
         __attribute__((constructor)) static void init(void) {{ mark(); }}\n",
        marker.display()
    );
    lib(&root.join(LIBDIR), "libnss_mark.so.2", &mark);
    let ctor = lib(&root.join(LIBDIR), "libctor.so.1", &mark);
    env.write(
        "root/etc/nsswitch.conf",
        "passwd: files mark\nhosts: mark\n",
    );
    program(
        &root.join("usr/bin/prog"),
        &format!("{mark}int main(void){{mark();return 0;}}\n"),
        &[&ctor],
    );
    // The stand-in loader and interpreter are static: they would run anywhere.
    let fake_ld = root.join("lib64/ld-fake.so");
    util::cc(
        &format!("{mark}int main(void){{mark();return 0;}}\n"),
        &fake_ld,
        &["-static"],
    );
    fs::copy(&fake_ld, root.join("usr/bin/interp")).unwrap();
    let interp = env.join("build/prog-fake-interp");
    fs::create_dir_all(interp.parent().unwrap()).unwrap();
    util::cc(
        &format!("{mark}int main(void){{mark();return 0;}}\n"),
        &interp,
        &["-Wl,--dynamic-linker=/lib64/ld-fake.so"],
    );
    fs::copy(&interp, root.join("usr/bin/fakeinterp")).unwrap();
    let script = env.write("root/usr/bin/script", "#!/usr/bin/interp -x\nexit 0\n");
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();

    for target in ["/usr/bin/prog", "/usr/bin/script", "/usr/bin/fakeinterp"] {
        for args in [
            &["-f", "list"][..],
            &["-f", "json"],
            &["--audit"],
            &["--runtime"],
            &["--emit", "x.tar"],
        ] {
            let mut full = os(&["--root", "root", "--allow-missing"]);
            full.extend(os(args));
            full.push(target.into());
            let run = h.run(&env, &full);
            assert!(matches!(run.code, Some(0 | 1)), "{run}");
            assert!(!run.stderr.contains("panicked"), "{run}");
            for m in [&marker, &root.join(marker.strip_prefix("/").unwrap())] {
                assert!(!m.exists(), "depclose {full:?} ran or loaded a file\n{run}");
            }
            let _ = fs::remove_file(env.join("x.tar"));
        }
    }
    // The markers work: each would have left one.
    for p in [fake_ld, root.join("usr/bin/interp")] {
        let _ = util::run(&mut command(&p));
        assert!(marker.exists(), "{} leaves no marker", p.display());
        fs::remove_file(&marker).unwrap();
    }
    let r = util::run(command(root.join("usr/bin/prog")).env("LD_LIBRARY_PATH", root.join(LIBDIR)));
    assert!(marker.exists(), "the program leaves no marker\n{r}");
}
