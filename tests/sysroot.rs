//! `depclose --root` against the real loader run inside a sysroot (`chroot`).
//!
//! - `tiny_sysroot_*` (always on, needs `chroot`): a root assembled from the host's
//!   `/usr/bin/ls`, its libraries and loader, merged-usr links, and one library placed only
//!   in a directory of the root's `/etc/ld.so.conf` — with and without an `ld.so.cache`
//!   written by `ldconfig -r`.
//! - `debootstrap_*` (only with `DEPCLOSE_SYSROOT_TESTS=1`, root, network to a Debian
//!   mirror, `debootstrap`, and for arm64 `qemu-user-static`): bookworm minbase trees for
//!   amd64 and arm64, built once into `DEPCLOSE_SYSROOT_CACHE` (default
//!   `target/sysroots/`) and reused. Every dynamic ELF file under `/usr/bin`, `/usr/sbin`
//!   and `/usr/lib/<triplet>` is traced by the root's own loader (arm64 under qemu) and must
//!   list exactly what `depclose --root` lists, in the same order — with the root's cache
//!   and again with none (`--cache none` against `ld.so --inhibit-cache`). The loader facts
//!   depclose reads from the root's `ld.so` must equal its `--list-diagnostics`.
//!
//! Where one of these is missing (root, chroot, a reachable mirror for a tree not built yet,
//! binfmt_misc for arm64), the test prints a `SKIPPED` line saying which.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use depclose_elf::{FileKind, Linkage, ObjectType};

use crate::util::report::{FactsFrom, How, Loader, Report, Target};
use crate::util::{self, DEPCLOSE, Trace, command, run_ok};

const ENABLE: &str = "DEPCLOSE_SYSROOT_TESTS";
const SUITE: &str = "bookworm";
/// Packages beyond minbase with interesting closures: libcurl (gnutls, krb5, ldap, ssh2,
/// nghttp2, …), OpenSSL (with its engine and provider modules), Python.
const PACKAGES: &str = "curl,openssl,python3-minimal";

/// What a comparison looks at: the objects in load order, and the missing names sorted (the
/// loader prints a `not found` line where its search failed; depclose reports the name with
/// the object that needs it, so the two orders differ).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Listing {
    objects: Vec<String>,
    missing: Vec<String>,
}

impl Listing {
    fn of_trace(t: &Trace) -> Listing {
        let mut missing: Vec<String> = t.not_found().into_iter().map(str::to_owned).collect();
        missing.sort();
        Listing {
            objects: t.paths().into_iter().map(str::to_owned).collect(),
            missing,
        }
    }

    /// depclose's answer: what it loads besides the target, and the names it cannot do
    /// without (the loader ignores a missing `DT_AUXILIARY` filtee when the program runs).
    fn of_target(t: &Target) -> Listing {
        let mut missing: Vec<String> = t
            .missing
            .iter()
            .filter(|m| m.required)
            .map(|m| m.name.clone())
            .collect();
        missing.sort();
        Listing {
            objects: t.objects.iter().skip(1).map(|o| o.path.clone()).collect(),
            missing,
        }
    }
}

/// How depclose says it found `path`.
fn found_how(t: &Target, path: &str) -> Option<How> {
    t.objects
        .iter()
        .find(|o| o.path == path)
        .map(|o| o.found.how)
}

/// `depclose --root DIR --format json ARGS... TARGETS...`: (report, exit code, stderr).
fn depclose_json(root: &Path, args: &[&str], targets: &[String]) -> (Report, i32, String) {
    let run = util::run(
        command(DEPCLOSE)
            .arg("--root")
            .arg(root)
            .args(["--format", "json"])
            .args(args)
            .args(targets),
    );
    (run.report(), run.code.unwrap_or(-1), run.stderr)
}

/// The report's target named `target`.
fn target<'r>(report: &'r Report, target: &str) -> &'r Target {
    report
        .targets
        .iter()
        .find(|t| t.target == target)
        .unwrap_or_else(|| panic!("no {target} in the report"))
}

// ---------------------------------------------------------------------------------------
// The tiny sysroot, from host files.

/// The paths the host loader lists for a host program.
fn host_closure(program: &str) -> Vec<String> {
    let t = util::ldso_trace(Path::new(program), Path::new("/"), None);
    assert_eq!(t.run.code, Some(0), "{}", t.run);
    assert_eq!(t.not_found(), Vec::<&str>::new(), "{}", t.run);
    t.paths().into_iter().map(str::to_owned).collect()
}

fn copy_file(from: &Path, to: &Path) {
    fs::create_dir_all(to.parent().unwrap()).unwrap();
    // Follows symlinks: the root gets the real contents under the name the loader opens.
    fs::copy(from, to).unwrap_or_else(|e| panic!("copy {} {}: {e}", from.display(), to.display()));
}

struct Tiny {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    extra_name: String,
    extra_path: String,
}

/// `usr/{bin,lib/<triplet>,lib64}` with `lib`, `lib64`, `bin` links to them; `ls` and its
/// libraries as the host loader lists them, the interpreter as `/lib64/…` → an absolute
/// link to the triplet directory; one of ls's libraries (libpcre2-8, needed by libselinux,
/// not by ls) only in `/opt/extra/lib`, which only `/etc/ld.so.conf` names. `env` (libc
/// only) is there for the oracle: trace mode must be switched on inside the chroot.
fn tiny_sysroot() -> Tiny {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    for d in ["usr/bin", "usr/lib64", "etc/ld.so.conf.d", "opt/extra/lib"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    symlink("usr/lib", root.join("lib")).unwrap();
    symlink("usr/lib64", root.join("lib64")).unwrap();
    symlink("usr/bin", root.join("bin")).unwrap();
    let interp = "/lib64/ld-linux-x86-64.so.2";
    let libs: Vec<String> = host_closure("/usr/bin/ls")
        .into_iter()
        .chain(host_closure("/usr/bin/env"))
        .filter(|p| p != interp)
        .collect();
    let libc = libs
        .iter()
        .find(|p| p.ends_with("/libc.so.6"))
        .expect("host ls needs libc.so.6");
    let libdir = Path::new(libc).parent().unwrap().to_path_buf();
    let ls_libs = host_closure("/usr/bin/ls");
    let extra = ls_libs
        .iter()
        .find(|p| p.contains("libpcre2-8"))
        .or_else(|| {
            ls_libs
                .iter()
                .rev()
                .find(|p| *p != interp && !p.ends_with("/libc.so.6"))
        })
        .expect("host ls needs a library besides libc (Debian's needs libselinux, libpcre2-8)")
        .clone();
    let extra_name = Path::new(&extra)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    for lib in &libs {
        let name = Path::new(lib).file_name().unwrap();
        let dest = if *lib == extra {
            root.join("opt/extra/lib").join(name)
        } else {
            root.join("usr/lib")
                .join(libdir.file_name().unwrap())
                .join(name)
        };
        copy_file(Path::new(lib), &dest);
    }
    let interp_real = Path::new("/usr/lib")
        .join(libdir.file_name().unwrap())
        .join("ld-linux-x86-64.so.2");
    copy_file(
        Path::new(interp),
        &root.join(interp_real.strip_prefix("/").unwrap()),
    );
    symlink(
        Path::new("/lib")
            .join(libdir.file_name().unwrap())
            .join("ld-linux-x86-64.so.2"),
        root.join("usr/lib64/ld-linux-x86-64.so.2"),
    )
    .unwrap();
    copy_file(Path::new("/usr/bin/ls"), &root.join("usr/bin/ls"));
    copy_file(Path::new("/usr/bin/env"), &root.join("usr/bin/env"));
    fs::write(
        root.join("etc/ld.so.conf"),
        "include /etc/ld.so.conf.d/*.conf\n/opt/extra/lib\n",
    )
    .unwrap();
    fs::write(root.join("etc/ld.so.conf.d/libc.conf"), "/usr/local/lib\n").unwrap();
    Tiny {
        _tmp: tmp,
        root,
        extra_path: format!("/opt/extra/lib/{extra_name}"),
        extra_name,
    }
}

/// `chroot ROOT LOADER --list PROGRAM`, which stops at a missing library (exit 127).
fn chroot_list(root: &Path, loader: &str, program: &str) -> Trace {
    util::trace_of(util::run(
        command("chroot")
            .arg(root)
            .args([loader, "--list", program]),
    ))
}

#[test]
fn tiny_sysroot_with_and_without_ld_so_cache() {
    const TEST: &str = "tiny_sysroot_with_and_without_ld_so_cache";
    if !util::chroot_works(TEST) || !util::have(TEST, &[util::LDSO, "ldconfig"]) {
        return;
    }
    let t = tiny_sysroot();
    let root = &t.root;
    let loader = util::LDSO;
    let ls = "/usr/bin/ls";
    let targets = vec![ls.to_owned()];

    // With a cache: ldconfig put the extra directory's library in it; the loader and
    // depclose (reading the cache) agree on every path.
    run_ok(command("ldconfig").arg("-r").arg(root));
    assert!(root.join("etc/ld.so.cache").is_file());
    let real = chroot_list(root, loader, ls);
    assert_eq!(
        real.run.code,
        Some(0),
        "ld.so --list in {}\n{}",
        root.display(),
        real.run
    );
    let real = Listing::of_trace(&real);
    assert!(real.objects.contains(&t.extra_path), "{real:?}");
    let (report, code, err) = depclose_json(root, &[], &targets);
    assert_eq!(code, 0, "{err}");
    let a = target(&report, ls);
    assert_eq!(Listing::of_target(a), real, "with ld.so.cache");
    assert_eq!(found_how(a, &t.extra_path), Some(How::LdSoCache));
    assert!(!err.contains("note: no /etc/ld.so.cache"), "{err}");
    let with_cache = Listing::of_target(a);

    // Without a cache the real loader does not look at ld.so.conf: --list stops, and the
    // trace form names the library as not found.
    fs::remove_file(root.join("etc/ld.so.cache")).unwrap();
    let stopped = chroot_list(root, loader, ls);
    assert_eq!(
        stopped.run.code,
        Some(127),
        "ld.so --list without a cache\n{}",
        stopped.run
    );
    assert!(
        stopped
            .run
            .stderr
            .contains(&format!("{}: cannot open shared object file", t.extra_name)),
        "{}",
        stopped.run
    );
    let traced = util::chroot_trace(root, loader, &[], ls);
    assert_eq!(
        traced.not_found(),
        [t.extra_name.as_str()],
        "{}",
        traced.run
    );
    let traced = Listing::of_trace(&traced);

    // depclose's default (CacheMode::Auto) lets the ld.so.conf directories stand in for
    // the missing cache — the documented divergence: it answers as the loader would once
    // `ldconfig` has run, and says so on stderr.
    let (report, code, err) = depclose_json(root, &[], &targets);
    assert_eq!(code, 0, "{err}");
    let a = target(&report, ls);
    assert_eq!(
        Listing::of_target(a),
        with_cache,
        "Auto without a cache uses ld.so.conf"
    );
    assert_eq!(found_how(a, &t.extra_path), Some(How::LdSoConf));
    assert!(
        err.contains(
            "depclose: note: no /etc/ld.so.cache in the root: its ld.so.conf directories stand in for it"
        ),
        "{err}"
    );

    // `--cache none` is the real loader without a cache: the same objects, the same name
    // missing, and an incomplete closure (exit 1; 0 with --allow-missing).
    let (report, code, err) = depclose_json(root, &["--cache", "none"], &targets);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("depclose: error: {}: not found", t.extra_name)),
        "{err}"
    );
    assert_eq!(
        Listing::of_target(target(&report, ls)),
        traced,
        "--cache none against the loader without a cache"
    );
    let (_, code, err) = depclose_json(root, &["--cache", "none", "--allow-missing"], &targets);
    assert_eq!(code, 0, "{err}");
}

// ---------------------------------------------------------------------------------------
// debootstrap sysroots.

struct Arch {
    name: &'static str,
    triplet: &'static str,
    loader: &'static str,
    /// The qemu binfmt registration a foreign architecture needs.
    binfmt: Option<&'static str>,
}

const AMD64: Arch = Arch {
    name: "amd64",
    triplet: "x86_64-linux-gnu",
    loader: "/lib64/ld-linux-x86-64.so.2",
    binfmt: None,
};

const ARM64: Arch = Arch {
    name: "arm64",
    triplet: "aarch64-linux-gnu",
    loader: "/lib/ld-linux-aarch64.so.1",
    binfmt: Some("qemu-aarch64"),
};

/// Whether the debootstrap tests are asked for and can run here; if not, `test` says why.
fn enabled(test: &str) -> bool {
    if std::env::var(ENABLE).as_deref() != Ok("1") {
        util::skip(
            test,
            format!("set {ENABLE}=1 to debootstrap and compare a Debian tree (a few minutes)"),
        );
        return false;
    }
    util::chroot_works(test) && util::have(test, &["debootstrap", "curl", "mount", "umount"])
}

fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("DEPCLOSE_SYSROOT_CACHE") {
        return PathBuf::from(d);
    }
    // target/<profile>/depclose → target/sysroots
    Path::new(env!("CARGO_BIN_EXE_depclose"))
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("sysroots")
}

/// The Debian mirror apt uses (deb822 `URIs:` of the block whose `Suites:` has bookworm),
/// unless `DEPCLOSE_SYSROOT_MIRROR` says otherwise.
fn mirror() -> String {
    if let Ok(m) = std::env::var("DEPCLOSE_SYSROOT_MIRROR") {
        return m;
    }
    let sources = fs::read_to_string("/etc/apt/sources.list.d/debian.sources").unwrap_or_default();
    for block in sources.split("\n\n") {
        let field = |k: &str| {
            block
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        };
        if field("Suites:").is_some_and(|s| s.iter().any(|s| s == SUITE)) {
            if let Some(uri) = field("URIs:").and_then(|u| u.into_iter().next()) {
                return uri;
            }
        }
    }
    "http://deb.debian.org/debian".to_owned()
}

/// Register qemu for the architecture with binfmt_misc (only if it is not registered yet);
/// Err says why a foreign program cannot run here.
fn ensure_binfmt(name: &str) -> Result<(), String> {
    let misc = Path::new("/proc/sys/fs/binfmt_misc");
    if !misc.join("register").exists() {
        let r = util::run(
            command("mount")
                .args(["-t", "binfmt_misc", "binfmt_misc"])
                .arg(misc),
        );
        if r.code != Some(0) {
            return Err(format!("cannot mount binfmt_misc: {}", r.stderr));
        }
    }
    if !misc.join(name).exists() {
        let conf = Path::new("/usr/lib/binfmt.d").join(format!("{name}.conf"));
        let line = fs::read(&conf).unwrap();
        if let Err(e) = fs::write(misc.join("register"), line) {
            // Another test may have registered it in the meantime.
            if !misc.join(name).exists() {
                return Err(format!("cannot register {name} with binfmt_misc: {e}"));
            }
        }
    }
    let state = fs::read_to_string(misc.join(name)).unwrap_or_default();
    if state.lines().next() != Some("enabled") {
        return Err(format!("binfmt_misc has {name} but not enabled"));
    }
    Ok(())
}

/// Whether the mirror serves the suite: a tree that is not cached yet needs it.
fn mirror_reachable(mirror: &str) -> Result<(), String> {
    let r = util::run(
        command("curl")
            .args(["-fsS", "--max-time", "30", "-o", "/dev/null"])
            .arg(format!("{mirror}/dists/{SUITE}/Release")),
    );
    match r.code {
        Some(0) => Ok(()),
        _ => Err(format!(
            "no Debian mirror reachable at {mirror}: {}",
            r.stderr
        )),
    }
}

/// Mount points under `dir` (debootstrap mounts /proc and /sys while it works; a failed
/// run may leave them), deepest first.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut m: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect();
    m.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    m
}

/// Remove a tree we built, never crossing into a mount.
fn remove_tree(dir: &Path) {
    if !dir.exists() {
        return;
    }
    for m in mounts_under(dir) {
        let _ = command("umount").arg("-l").arg(&m).status();
    }
    assert!(
        mounts_under(dir).is_empty(),
        "{}: still has mounts",
        dir.display()
    );
    run_ok(command("rm").args(["-rf", "--one-file-system"]).arg(dir));
}

/// The sysroot for `arch`, built by debootstrap unless the cache holds a complete one.
/// Returns it and the time debootstrap took (`None`: reused); Err says what this machine
/// lacks for it (a mirror, binfmt_misc), a reason to skip.
fn sysroot(arch: &Arch) -> Result<(PathBuf, Option<Duration>), String> {
    // Two tests may want the same tree at once: one builds it, the other waits and reuses.
    static BUILDING: Mutex<BTreeMap<&str, Arc<Mutex<()>>>> = Mutex::new(BTreeMap::new());
    let lock = BUILDING
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(arch.name)
        .or_default()
        .clone();
    let _building = lock.lock().unwrap_or_else(|e| e.into_inner());
    let cache = cache_dir();
    fs::create_dir_all(&cache).unwrap();
    let dir = cache.join(format!("{SUITE}-{}", arch.name));
    let stamp = cache.join(format!("{SUITE}-{}.stamp", arch.name));
    let want = format!("{SUITE} {} minbase {PACKAGES}\n", arch.name);
    if let Some(b) = arch.binfmt {
        ensure_binfmt(b)?;
    }
    if dir.join("usr/bin").is_dir() && fs::read_to_string(&stamp).ok().as_deref() == Some(&*want) {
        return Ok((dir, None));
    }
    let mirror = mirror();
    mirror_reachable(&mirror)?;
    let _ = fs::remove_file(&stamp);
    remove_tree(&dir);
    let building = cache.join(format!("{SUITE}-{}.building", arch.name));
    remove_tree(&building);
    let log = cache.join(format!("{SUITE}-{}.log", arch.name));
    let start = Instant::now();
    let out = command("debootstrap")
        .args(["--variant=minbase", &format!("--arch={}", arch.name)])
        .arg(format!("--include={PACKAGES}"))
        .arg(SUITE)
        .arg(&building)
        .arg(&mirror)
        .output()
        .unwrap();
    let took = start.elapsed();
    fs::write(
        &log,
        [out.stdout.as_slice(), out.stderr.as_slice()].concat(),
    )
    .unwrap();
    if !out.status.success() {
        let tail: String = String::from_utf8_lossy(&out.stderr)
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .join("\n");
        panic!(
            "debootstrap {} failed ({}); log {}; last lines (reversed):\n{tail}",
            arch.name,
            out.status,
            log.display()
        );
    }
    assert!(
        mounts_under(&building).is_empty(),
        "debootstrap left mounts under {}",
        building.display()
    );
    fs::rename(&building, &dir).unwrap();
    fs::write(&stamp, want).unwrap();
    Ok((dir, Some(took)))
}

/// Every regular ELF file with a dynamic section (programs, shared objects, static-pie)
/// under usr/bin, usr/sbin and usr/lib/<triplet>, as in-root paths.
fn dynamic_elf_files(root: &Path, triplet: &str) -> Vec<String> {
    let mut files = Vec::new();
    for (dir, depth) in [
        ("usr/bin".to_owned(), 1),
        ("usr/sbin".to_owned(), 1),
        (format!("usr/lib/{triplet}"), usize::MAX),
    ] {
        for e in walkdir::WalkDir::new(root.join(&dir))
            .max_depth(depth)
            .sort_by_file_name()
        {
            let e = e.unwrap();
            if !e.file_type().is_file() {
                continue;
            }
            let dynamic = matches!(
                depclose_elf::read_file(e.path()),
                Ok(FileKind::Elf(elf))
                    if matches!(elf.object_type, ObjectType::Executable | ObjectType::SharedObject)
                        && elf.linkage != Linkage::Static
            );
            if dynamic {
                let rel = e.path().strip_prefix(root).unwrap();
                files.push(format!("/{}", rel.display()));
            }
        }
    }
    files
}

/// Trace every file with the root's loader, in parallel (each run is a chroot; under qemu
/// a few hundred ms).
fn trace_all(root: &Path, loader: &str, ld_args: &[&str], files: &[String]) -> Vec<Trace> {
    util::par_map(files, |f| util::chroot_trace(root, loader, ld_args, f))
}

/// The loader's own facts (`ld.so --list-diagnostics` and `--help`, run in the root)
/// against what depclose read from the binary.
fn check_facts(root: &Path, arch: &Arch, loader: &Loader, problems: &mut Vec<String>) {
    let in_root = |arg: &str| run_ok(command("chroot").arg(root).args([arch.loader, arg])).stdout;
    let diag = in_root("--list-diagnostics");
    let quoted = |l: &str| {
        l.split_once('"')
            .map(|(_, v)| v.trim_end_matches('"').to_owned())
    };
    let field = |k: &str| {
        diag.lines()
            .find(|l| l.starts_with(&format!("{k}=")))
            .and_then(quoted)
    };
    let dirs: Vec<String> = diag
        .lines()
        .filter(|l| l.starts_with("path.system_dirs["))
        .filter_map(quoted)
        .collect();
    let help = in_root("--help");
    let hwcaps: Vec<String> = help
        .lines()
        .skip_while(|l| !l.starts_with("Subdirectories of glibc-hwcaps"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter(|l| l.contains("(supported, searched)"))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    let checks = [
        (
            "system_dirs",
            format!("{:?}", loader.system_dirs),
            format!("{dirs:?}"),
        ),
        (
            "lib",
            format!("{:?}", Some(&loader.lib)),
            format!("{:?}", field("dl_dst_lib")),
        ),
        (
            "platform",
            format!("{:?}", loader.platform),
            format!("{:?}", field("dl_platform")),
        ),
        (
            "glibc_version",
            format!("{:?}", loader.glibc_version),
            format!("{:?}", field("version.version")),
        ),
        (
            "hwcaps",
            format!("{:?}", loader.hwcaps),
            format!("{hwcaps:?}"),
        ),
        (
            "facts_from",
            format!("{:?}", loader.facts_from),
            format!("{:?}", FactsFrom::LoaderBinary),
        ),
    ];
    for (what, got, want) in checks {
        if got != want {
            problems.push(format!(
                "{} loader facts: {what}: depclose {got}, the loader (--list-diagnostics/--help) {want}",
                arch.name
            ));
        }
    }
}

/// One pass over all files: depclose with `dc_args` against the loader with `ld_args`.
fn compare_pass(
    root: &Path,
    arch: &Arch,
    files: &[String],
    dc_args: &[&str],
    ld_args: &[&str],
    problems: &mut Vec<String>,
) -> usize {
    let mut args = vec!["--allow-missing"];
    args.extend_from_slice(dc_args);
    let (report, code, err) = depclose_json(root, &args, files);
    if code != 0 {
        problems.push(format!(
            "{} depclose {args:?} exited {code}: {err}",
            arch.name
        ));
    }
    let got: BTreeMap<&str, &Target> = report
        .targets
        .iter()
        .map(|t| (t.target.as_str(), t))
        .collect();
    let real = trace_all(root, arch.loader, ld_args, files);
    let mut agree = 0;
    for (file, trace) in files.iter().zip(real) {
        let Some(t) = got.get(file.as_str()) else {
            problems.push(format!(
                "{}: {file}: no answer from depclose {args:?}",
                arch.name
            ));
            continue;
        };
        let (want, listing) = (Listing::of_trace(&trace), Listing::of_target(t));
        // A loader that stops (exit != 0) must be a depclose fatal, and the other way round.
        let stops_alike = (trace.run.code != Some(0)) == t.fatal.is_some();
        if listing == want && stops_alike {
            agree += 1;
        } else {
            problems.push(format!(
                "{}: {file} (depclose {dc_args:?}, ld.so {ld_args:?}):\n  loader (exit {:?}): {want:?} {}\n  depclose: {listing:?} fatal {:?}",
                arch.name,
                trace.run.code,
                trace.run.stderr.trim(),
                t.fatal
            ));
        }
    }
    println!(
        "sysroot {} ({}): agree {agree}/{} (depclose --root vs chroot ld.so)",
        arch.name,
        if dc_args.is_empty() {
            "with ld.so.cache"
        } else {
            "--cache none vs --inhibit-cache"
        },
        files.len()
    );
    // The facts are the same for every program of the root.
    let mut loaders: Vec<&Loader> = Vec::new();
    for l in got.values().filter_map(|t| t.loader.as_ref()) {
        if !loaders.contains(&l) {
            loaders.push(l);
        }
    }
    if dc_args.is_empty() {
        for l in loaders {
            check_facts(root, arch, l, problems);
        }
    }
    agree
}

fn debootstrap_sysroot_agrees(test: &str, arch: &Arch) {
    if !enabled(test) || (arch.binfmt.is_some() && !util::have(test, &["qemu-aarch64-static"])) {
        return;
    }
    let start = Instant::now();
    let (root, built) = match sysroot(arch) {
        Ok(r) => r,
        Err(why) => {
            util::skip(test, why);
            return;
        }
    };
    match built {
        Some(t) => println!(
            "sysroot {}: debootstrap {:.0} s ({})",
            arch.name,
            t.as_secs_f64(),
            root.display()
        ),
        None => println!("sysroot {}: reused {}", arch.name, root.display()),
    }
    let compare = Instant::now();
    let files = dynamic_elf_files(&root, arch.triplet);
    assert!(
        files.len() > 100,
        "{}: only {} ELF files",
        root.display(),
        files.len()
    );
    let mut problems = Vec::new();
    compare_pass(&root, arch, &files, &[], &[], &mut problems);
    compare_pass(
        &root,
        arch,
        &files,
        &["--cache", "none"],
        &["--inhibit-cache"],
        &mut problems,
    );
    println!(
        "sysroot {}: comparison {:.0} s, total {:.0} s",
        arch.name,
        compare.elapsed().as_secs_f64(),
        start.elapsed().as_secs_f64()
    );
    assert!(
        problems.is_empty(),
        "{} disagreement(s) in {}:\n{}",
        problems.len(),
        root.display(),
        problems.join("\n")
    );
}

#[test]
fn debootstrap_amd64_agrees_with_its_loader() {
    debootstrap_sysroot_agrees("debootstrap_amd64_agrees_with_its_loader", &AMD64);
}

#[test]
fn debootstrap_arm64_agrees_with_its_loader() {
    debootstrap_sysroot_agrees("debootstrap_arm64_agrees_with_its_loader", &ARM64);
}

/// An image of a program whose library the root's loader finds only through its
/// `ld.so.cache` (an `ld.so.conf` directory, `/opt/extra/lib`): the image's loader would not
/// search that directory, so depclose writes an `/etc/ld.so.cache` into the image — which
/// the real `ldconfig -p -C` reads — and the program runs from the image with nothing else.
/// Without a cache in the root the same holds through the `ld.so.conf` stand-in.
#[test]
fn image_gets_its_own_ld_so_cache_for_conf_directories() {
    const TEST: &str = "image_gets_its_own_ld_so_cache_for_conf_directories";
    if !util::chroot_works(TEST) || !util::have(TEST, &[util::LDSO, "ldconfig"]) {
        return;
    }
    for with_root_cache in [true, false] {
        let t = tiny_sysroot();
        if with_root_cache {
            run_ok(command("ldconfig").arg("-r").arg(&t.root));
        }
        let image = t
            .root
            .parent()
            .unwrap()
            .join(format!("image-{with_root_cache}"));
        let out = run_ok(
            command(DEPCLOSE)
                .arg("--root")
                .arg(&t.root)
                .arg("/usr/bin/ls")
                .arg("--emit-rootfs")
                .arg(&image),
        );
        let cache = image.join("etc/ld.so.cache");
        assert!(cache.is_file(), "no ld.so.cache in the image\n{out}");
        assert!(
            image.join(t.extra_path.trim_start_matches('/')).is_file(),
            "{out}"
        );
        // glibc's own tool reads the cache depclose wrote, and finds the library in it.
        let listed = run_ok(command("ldconfig").arg("-p").arg("-C").arg(&cache));
        assert!(
            listed.stdout.contains(&t.extra_name) && listed.stdout.contains(&t.extra_path),
            "{listed}"
        );
        // The image on its own: the loader inside finds everything and ls runs.
        let listing = chroot_list(&image, util::LDSO, "/usr/bin/ls");
        assert_eq!(listing.run.code, Some(0), "{}", listing.run);
        assert!(
            listing.paths().contains(&t.extra_path.as_str()),
            "{}",
            listing.run
        );
        run_ok(command("chroot").arg(&image).args(["/usr/bin/ls", "/"]));
    }
}

/// `--trace` inside a root runs the command there with chroot: what it executes and maps
/// is named as inside the root (`env` executes `ls`, whose library is found through the
/// root's cache), and the image of the trace runs on its own.
#[test]
fn tracing_in_a_sysroot_runs_the_command_inside_it() {
    const TEST: &str = "tracing_in_a_sysroot_runs_the_command_inside_it";
    if !util::chroot_works(TEST) || !util::have(TEST, &["ldconfig"]) || !util::trace_works(TEST) {
        return;
    }
    let t = tiny_sysroot();
    run_ok(command("ldconfig").arg("-r").arg(&t.root));
    let (report, code, stderr) = depclose_json(
        &t.root,
        &["--trace", "--"],
        &["/usr/bin/env".into(), "/usr/bin/ls".into(), "/".into()],
    );
    assert_eq!(code, 0, "{stderr}");
    let trace = report.trace.as_ref().unwrap();
    assert_eq!(trace.program, "/usr/bin/env");
    assert_eq!(trace.exit.code, Some(0), "{stderr}");
    let ls = target(&report, "/usr/bin/ls");
    assert!(
        ls.objects.iter().any(|o| o.path == t.extra_path),
        "{:?}",
        ls.objects.iter().map(|o| &o.path).collect::<Vec<_>>()
    );
    let image = t.root.parent().unwrap().join("image");
    run_ok(
        command(DEPCLOSE)
            .arg("--root")
            .arg(&t.root)
            .arg("--emit-rootfs")
            .arg(&image)
            .args(["--trace", "--", "/usr/bin/env", "/usr/bin/ls", "/"]),
    );
    run_ok(
        command("chroot")
            .arg(&image)
            .args(["/usr/bin/env", "/usr/bin/ls", "/"]),
    );
}

/// A root of another architecture: its programs would not run here, so `--trace` refuses
/// before running anything.
#[test]
fn debootstrap_arm64_is_not_traced() {
    const TEST: &str = "debootstrap_arm64_is_not_traced";
    if !enabled(TEST) {
        return;
    }
    let root = match sysroot(&ARM64) {
        Ok((root, _)) => root,
        Err(why) => {
            util::skip(TEST, why);
            return;
        }
    };
    let run = util::run(command(DEPCLOSE).arg("--root").arg(&root).args([
        "--trace",
        "--",
        "/usr/bin/true",
    ]));
    assert_eq!(run.code, Some(2), "{run}");
    assert!(run.stderr.contains("does not run on this machine"), "{run}");
}
