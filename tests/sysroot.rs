//! `depclose --root` against the real loader run inside a sysroot (`chroot`).
//!
//! - `tiny_sysroot_*` (always on, needs root for `chroot`): a root assembled from the host's
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
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use depclose_elf::{FileKind, Linkage, ObjectType};
use serde_json::Value;

const ENABLE: &str = "DEPCLOSE_SYSROOT_TESTS";
const SUITE: &str = "bookworm";
/// Packages beyond minbase with interesting closures: libcurl (gnutls, krb5, ldap, ssh2,
/// nghttp2, …), OpenSSL (with its engine and provider modules), Python.
const PACKAGES: &str = "curl,openssl,python3-minimal";
/// The only variable the host's `chroot` and the root's loader get.
const SCRUBBED_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

fn depclose() -> Command {
    Command::new(env!("CARGO_BIN_EXE_depclose"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

/// What a loader listed in trace mode.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Listing {
    /// Paths in load order (the program itself and the vDSO are not listed).
    objects: Vec<String>,
    /// Names printed as `name => not found`, sorted.
    missing: Vec<String>,
}

/// Parse `ldd`-style lines: `name => path (0x…)`, `path (0x…)`, `name => not found`;
/// the vDSO (no `/` in its name) and "statically linked" list nothing. Any other line is
/// kept with a `??` mark so that it cannot compare equal by accident.
fn parse_trace(stdout: &str) -> Listing {
    let mut l = Listing::default();
    for line in stdout.lines().map(str::trim).filter(|s| !s.is_empty()) {
        if line == "statically linked" {
            continue;
        }
        if let Some(name) = line.strip_suffix(" => not found") {
            l.missing.push(name.to_owned());
            continue;
        }
        let addressed = line
            .strip_suffix(')')
            .and_then(|s| s.rsplit_once(" (0x"))
            .filter(|(_, hex)| hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(|(s, _)| s);
        let Some(s) = addressed else {
            l.objects.push(format!("??{line}"));
            continue;
        };
        let path = s.split_once(" => ").map_or(s, |(_, p)| p);
        if path.contains('/') {
            l.objects.push(path.to_owned());
        }
    }
    l.missing.sort();
    l
}

/// depclose's answer for one target, from its JSON report.
#[derive(Debug, Clone)]
struct Answer {
    listing: Listing,
    fatal: Option<String>,
    loader: Value,
    found: BTreeMap<String, String>,
}

fn answers(report: &Value) -> BTreeMap<String, Answer> {
    let mut out = BTreeMap::new();
    for t in report["targets"].as_array().unwrap() {
        let objects = t["objects"].as_array().unwrap();
        let mut missing: Vec<String> = t["missing"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["required"] == Value::Bool(true))
            .map(|m| m["name"].as_str().unwrap().to_owned())
            .collect();
        missing.sort();
        out.insert(
            t["target"].as_str().unwrap().to_owned(),
            Answer {
                listing: Listing {
                    objects: objects
                        .iter()
                        .skip(1)
                        .map(|o| o["path"].as_str().unwrap().to_owned())
                        .collect(),
                    missing,
                },
                fatal: (!t["fatal"].is_null()).then(|| t["fatal"].to_string()),
                loader: t["loader"].clone(),
                found: objects
                    .iter()
                    .map(|o| {
                        (
                            o["path"].as_str().unwrap().to_owned(),
                            o["found"]["how"].as_str().unwrap().to_owned(),
                        )
                    })
                    .collect(),
            },
        );
    }
    out
}

/// `depclose --root DIR --format json ARGS... TARGETS...`: (report, exit code, stderr).
fn depclose_json(root: &Path, args: &[&str], targets: &[String]) -> (Value, i32, String) {
    let out = depclose()
        .arg("--root")
        .arg(root)
        .args(["--format", "json"])
        .args(args)
        .args(targets)
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "depclose --root {}: no JSON ({e}): {stderr}",
            root.display()
        )
    });
    (report, out.status.code().unwrap_or(-1), stderr)
}

// ---------------------------------------------------------------------------------------
// The tiny sysroot, from host files.

/// The paths the host loader lists for a host program (`ld.so --list`).
fn host_closure(program: &str) -> Vec<String> {
    let out = run_ok(Command::new("/lib64/ld-linux-x86-64.so.2").args(["--list", program]));
    parse_trace(&text(&out.stdout)).objects
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

/// `chroot ROOT LOADER --list PROGRAM`: (listing, exit code, stderr).
fn chroot_list(root: &Path, loader: &str, program: &str) -> (Listing, i32, String) {
    let out = Command::new("chroot")
        .env_clear()
        .env("PATH", SCRUBBED_PATH)
        .arg(root)
        .args([loader, "--list", program])
        .output()
        .unwrap();
    (
        parse_trace(&text(&out.stdout)),
        out.status.code().unwrap_or(-1),
        text(&out.stderr),
    )
}

/// The trace-mode form, which goes on past a missing library: (listing, exit code, stderr).
fn chroot_trace(root: &Path, loader: &str, ld_args: &[&str], file: &str) -> (Listing, i32, String) {
    let out = Command::new("chroot")
        .env_clear()
        .env("PATH", SCRUBBED_PATH)
        .arg(root)
        .args(["/usr/bin/env", "-i", "PATH=/usr/bin:/bin"])
        .args(["LD_TRACE_LOADED_OBJECTS=1", "LD_WARN=yes", loader])
        .args(ld_args)
        .arg(file)
        .output()
        .unwrap();
    (
        parse_trace(&text(&out.stdout)),
        out.status.code().unwrap_or(-1),
        text(&out.stderr),
    )
}

#[test]
fn tiny_sysroot_with_and_without_ld_so_cache() {
    if !is_root() {
        println!("skipped: chroot needs root");
        return;
    }
    if !Path::new("/lib64/ld-linux-x86-64.so.2").exists() {
        println!("skipped: not an x86-64 glibc host");
        return;
    }
    let t = tiny_sysroot();
    let root = &t.root;
    let loader = "/lib64/ld-linux-x86-64.so.2";
    let target = vec!["/usr/bin/ls".to_owned()];

    // With a cache: ldconfig put the extra directory's library in it; the loader and
    // depclose (reading the cache) agree on every path.
    run_ok(Command::new("ldconfig").arg("-r").arg(root));
    assert!(root.join("etc/ld.so.cache").is_file());
    let (real, code, err) = chroot_list(root, loader, "/usr/bin/ls");
    assert_eq!(code, 0, "ld.so --list in {}: {err}", root.display());
    assert!(real.objects.contains(&t.extra_path), "{real:?}");
    let (report, code, err) = depclose_json(root, &[], &target);
    assert_eq!(code, 0, "{err}");
    let a = &answers(&report)["/usr/bin/ls"];
    assert_eq!(a.listing, real, "with ld.so.cache");
    assert_eq!(a.found[&t.extra_path], "ld.so.cache");
    assert!(!err.contains("note: no /etc/ld.so.cache"), "{err}");
    let with_cache = a.listing.clone();

    // Without a cache the real loader does not look at ld.so.conf: --list stops, and the
    // trace form names the library as not found.
    fs::remove_file(root.join("etc/ld.so.cache")).unwrap();
    let (_, code, err) = chroot_list(root, loader, "/usr/bin/ls");
    assert_eq!(code, 127, "ld.so --list without a cache: {err}");
    assert!(
        err.contains(&format!("{}: cannot open shared object file", t.extra_name)),
        "{err}"
    );
    let (traced, _, err) = chroot_trace(root, loader, &[], "/usr/bin/ls");
    assert_eq!(
        traced.missing,
        vec![t.extra_name.clone()],
        "{traced:?} {err}"
    );

    // depclose's default (CacheMode::Auto) lets the ld.so.conf directories stand in for
    // the missing cache — the documented divergence: it answers as the loader would once
    // `ldconfig` has run, and says so on stderr.
    let (report, code, err) = depclose_json(root, &[], &target);
    assert_eq!(code, 0, "{err}");
    let a = &answers(&report)["/usr/bin/ls"];
    assert_eq!(
        a.listing, with_cache,
        "Auto without a cache uses ld.so.conf"
    );
    assert_eq!(a.found[&t.extra_path], "ld.so.conf");
    assert!(
        err.contains(
            "depclose: note: no /etc/ld.so.cache in the root: its ld.so.conf directories stand in for it"
        ),
        "{err}"
    );

    // `--cache none` is the real loader without a cache: the same objects, the same name
    // missing, and an incomplete closure (exit 1; 0 with --allow-missing).
    let (report, code, err) = depclose_json(root, &["--cache", "none"], &target);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("depclose: error: {}: not found", t.extra_name)),
        "{err}"
    );
    let a = &answers(&report)["/usr/bin/ls"];
    assert_eq!(
        a.listing, traced,
        "--cache none against the loader without a cache"
    );
    let (_, code, err) = depclose_json(root, &["--cache", "none", "--allow-missing"], &target);
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

fn enabled() -> bool {
    if std::env::var(ENABLE).as_deref() == Ok("1") {
        assert!(is_root(), "{ENABLE}=1: debootstrap and chroot need root");
        true
    } else {
        println!("skipped: set {ENABLE}=1");
        false
    }
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

/// Register qemu for the architecture with binfmt_misc, as verify.md says (only if it is
/// not registered yet).
fn ensure_binfmt(name: &str) {
    let misc = Path::new("/proc/sys/fs/binfmt_misc");
    if !misc.join("register").exists() {
        run_ok(
            Command::new("mount")
                .args(["-t", "binfmt_misc", "binfmt_misc"])
                .arg(misc),
        );
    }
    if misc.join(name).exists() {
        return;
    }
    let conf = Path::new("/usr/lib/binfmt.d").join(format!("{name}.conf"));
    let line = fs::read(&conf)
        .unwrap_or_else(|e| panic!("{}: {e} (apt-get install qemu-user-static)", conf.display()));
    if let Err(e) = fs::write(misc.join("register"), line) {
        // Another test may have registered it in the meantime.
        assert!(misc.join(name).exists(), "registering {name}: {e}");
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
        let _ = Command::new("umount").arg("-l").arg(&m).status();
    }
    assert!(
        mounts_under(dir).is_empty(),
        "{}: still has mounts",
        dir.display()
    );
    run_ok(
        Command::new("rm")
            .args(["-rf", "--one-file-system"])
            .arg(dir),
    );
}

/// The sysroot for `arch`, built by debootstrap unless the cache holds a complete one.
/// Returns it and the time debootstrap took (`None`: reused).
fn sysroot(arch: &Arch) -> (PathBuf, Option<Duration>) {
    let cache = cache_dir();
    fs::create_dir_all(&cache).unwrap();
    let dir = cache.join(format!("{SUITE}-{}", arch.name));
    let stamp = cache.join(format!("{SUITE}-{}.stamp", arch.name));
    let want = format!("{SUITE} {} minbase {PACKAGES}\n", arch.name);
    if let Some(b) = arch.binfmt {
        ensure_binfmt(b);
    }
    if dir.join("usr/bin").is_dir() && fs::read_to_string(&stamp).ok().as_deref() == Some(&*want) {
        return (dir, None);
    }
    let _ = fs::remove_file(&stamp);
    remove_tree(&dir);
    let building = cache.join(format!("{SUITE}-{}.building", arch.name));
    remove_tree(&building);
    let log = cache.join(format!("{SUITE}-{}.log", arch.name));
    let start = Instant::now();
    let out = Command::new("debootstrap")
        .args(["--variant=minbase", &format!("--arch={}", arch.name)])
        .arg(format!("--include={PACKAGES}"))
        .arg(SUITE)
        .arg(&building)
        .arg(mirror())
        .output()
        .unwrap_or_else(|e| panic!("debootstrap: {e} (apt-get install debootstrap)"));
    let took = start.elapsed();
    fs::write(
        &log,
        [out.stdout.as_slice(), out.stderr.as_slice()].concat(),
    )
    .unwrap();
    if !out.status.success() {
        let tail: String = text(&out.stderr)
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
    (dir, Some(took))
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
fn trace_all(
    root: &Path,
    loader: &str,
    ld_args: &[&str],
    files: &[String],
) -> Vec<(Listing, i32, String)> {
    crate::util::par_map(files, |f| chroot_trace(root, loader, ld_args, f))
}

/// The loader's own facts (`ld.so --list-diagnostics` and `--help`, run in the root)
/// against what depclose read from the binary.
fn check_facts(root: &Path, arch: &Arch, loader_json: &Value, problems: &mut Vec<String>) {
    let out = run_ok(
        Command::new("chroot")
            .env_clear()
            .env("PATH", SCRUBBED_PATH)
            .arg(root)
            .args([arch.loader, "--list-diagnostics"]),
    );
    let diag = text(&out.stdout);
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
    let help = text(
        &run_ok(
            Command::new("chroot")
                .env_clear()
                .env("PATH", SCRUBBED_PATH)
                .arg(root)
                .args([arch.loader, "--help"]),
        )
        .stdout,
    );
    let hwcaps: Vec<String> = help
        .lines()
        .skip_while(|l| !l.starts_with("Subdirectories of glibc-hwcaps"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter(|l| l.contains("(supported, searched)"))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let checks = [
        (
            "system_dirs",
            format!("{:?}", strings(&loader_json["system_dirs"])),
            format!("{dirs:?}"),
        ),
        (
            "lib",
            format!("{:?}", loader_json["lib"].as_str()),
            format!("{:?}", field("dl_dst_lib").as_deref()),
        ),
        (
            "platform",
            format!("{:?}", loader_json["platform"].as_str()),
            format!("{:?}", field("dl_platform").as_deref()),
        ),
        (
            "glibc_version",
            format!("{:?}", loader_json["glibc_version"].as_str()),
            format!("{:?}", field("version.version").as_deref()),
        ),
        (
            "hwcaps",
            format!("{:?}", strings(&loader_json["hwcaps"])),
            format!("{hwcaps:?}"),
        ),
        (
            "facts_from",
            format!("{:?}", loader_json["facts_from"].as_str()),
            format!("{:?}", Some("loader_binary")),
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
    let got = answers(&report);
    let real = trace_all(root, arch.loader, ld_args, files);
    let mut agree = 0;
    for (file, (want, code, err)) in files.iter().zip(real) {
        let Some(a) = got.get(file) else {
            problems.push(format!(
                "{}: {file}: no answer from depclose {args:?}",
                arch.name
            ));
            continue;
        };
        // A loader that stops (exit != 0) must be a depclose fatal, and the other way round.
        let stops_alike = (code != 0) == a.fatal.is_some();
        if a.listing == want && stops_alike {
            agree += 1;
        } else {
            problems.push(format!(
                "{}: {file} (depclose {dc_args:?}, ld.so {ld_args:?}):\n  loader (exit {code}): {want:?} {}\n  depclose: {:?} fatal {:?}",
                arch.name,
                err.trim(),
                a.listing,
                a.fatal
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
    let mut loaders: Vec<&Value> = Vec::new();
    for l in got.values().map(|a| &a.loader).filter(|l| !l.is_null()) {
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

fn debootstrap_sysroot_agrees(arch: &Arch) {
    if !enabled() {
        return;
    }
    let start = Instant::now();
    let (root, built) = sysroot(arch);
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
    debootstrap_sysroot_agrees(&AMD64);
}

#[test]
fn debootstrap_arm64_agrees_with_its_loader() {
    debootstrap_sysroot_agrees(&ARM64);
}

#[test]
fn trace_lines_parse() {
    let l = parse_trace(
        "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibz.so.1 => /lib/x/libz.so.1 (0x00007f00)\n\
         \tlibq.so.2 => not found\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f01)\n",
    );
    assert_eq!(
        l.objects,
        ["/lib/x/libz.so.1", "/lib64/ld-linux-x86-64.so.2"]
    );
    assert_eq!(l.missing, ["libq.so.2"]);
    assert_eq!(parse_trace("\tstatically linked\n"), Listing::default());
    assert_eq!(parse_trace("odd line\n").objects, ["??odd line"]);
}

/// An image of a program whose library the root's loader finds only through its
/// `ld.so.cache` (an `ld.so.conf` directory, `/opt/extra/lib`): the image's loader would not
/// search that directory, so depclose writes an `/etc/ld.so.cache` into the image — which
/// the real `ldconfig -p -C` reads — and the program runs from the image with nothing else.
/// Without a cache in the root the same holds through the `ld.so.conf` stand-in.
#[test]
fn image_gets_its_own_ld_so_cache_for_conf_directories() {
    if !is_root() {
        println!("skipped: chroot needs root");
        return;
    }
    for with_root_cache in [true, false] {
        let t = tiny_sysroot();
        if with_root_cache {
            run_ok(Command::new("ldconfig").arg("-r").arg(&t.root));
        }
        let image = t
            .root
            .parent()
            .unwrap()
            .join(format!("image-{with_root_cache}"));
        let out = run_ok(
            depclose()
                .arg("--root")
                .arg(&t.root)
                .arg("/usr/bin/ls")
                .arg("--emit-rootfs")
                .arg(&image),
        );
        let stderr = text(&out.stderr);
        let cache = image.join("etc/ld.so.cache");
        assert!(cache.is_file(), "no ld.so.cache in the image\n{stderr}");
        assert!(
            image.join(t.extra_path.trim_start_matches('/')).is_file(),
            "{stderr}"
        );
        // glibc's own tool reads the cache depclose wrote, and finds the library in it.
        let listed = run_ok(Command::new("ldconfig").arg("-p").arg("-C").arg(&cache));
        let listed = text(&listed.stdout);
        assert!(
            listed.contains(&t.extra_name) && listed.contains(&t.extra_path),
            "{listed}"
        );
        // The image on its own: the loader inside finds everything and ls runs.
        let (listing, code, err) =
            chroot_list(&image, "/lib64/ld-linux-x86-64.so.2", "/usr/bin/ls");
        assert_eq!(code, 0, "{err}");
        assert!(
            listing.objects.iter().any(|p| p == &t.extra_path),
            "{:?}",
            listing.objects
        );
        run_ok(
            Command::new("chroot")
                .arg(&image)
                .args(["/usr/bin/ls", "/"]),
        );
    }
}
