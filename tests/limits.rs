//! Sizes no fixture reaches: dependency chains thousands deep and closures thousands wide
//! (no recursion limit, the loader's order), ten thousand targets in one run, names that are
//! not UTF-8 (resolved, listed, reported and packed as the bytes they are), and an 8 GiB file
//! streamed into an image in bounded memory.

use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use depclose_elf::name;

use crate::util::image::{Image, depclose, extract_layer};
use crate::util::{self, DEPCLOSE, TestEnv, agree, command};

/// How many libraries deep and wide the closures go.
const MANY: usize = 2000;

/// A tiny library built once with `cc`, then cloned by rewriting its fixed-width names
/// (`libq0000.so`) in place: thousands of libraries in a second, not thousands of links.
struct Template {
    bytes: Vec<u8>,
    /// Where each name to rewrite starts, by the name it holds.
    at: Vec<(usize, &'static str)>,
}

impl Template {
    /// Build from C `source` with `flags`; `names` are rewritten in every clone.
    fn build(dir: &Path, file: &str, flags: &[&str], names: &[&'static str]) -> Template {
        let out = dir.join(file);
        let mut all = vec!["-shared", "-fPIC", "-Wl,--no-as-needed"];
        all.extend(flags);
        util::cc("void f(void){}\n", &out, &all);
        let bytes = fs::read(&out).unwrap();
        let at = names
            .iter()
            .map(|name| {
                let found: Vec<usize> = bytes
                    .windows(name.len())
                    .enumerate()
                    .filter(|(_, w)| *w == name.as_bytes())
                    .map(|(i, _)| i)
                    .collect();
                assert_eq!(found.len(), 1, "{name} in {file}: {found:?}");
                (found[0], *name)
            })
            .collect();
        Template { bytes, at }
    }

    /// A clone with each name replaced (same length) by `to`'s.
    fn clone_to(&self, path: &Path, to: &[String]) {
        let mut bytes = self.bytes.clone();
        for ((at, from), to) in self.at.iter().zip(to) {
            assert_eq!(from.len(), to.len());
            bytes[*at..at + to.len()].copy_from_slice(to.as_bytes());
        }
        fs::write(path, bytes).unwrap();
    }
}

fn lib(prefix: char, i: usize) -> String {
    format!("lib{prefix}{i:04}.so")
}

/// Library 0 needs 1, which needs 2, … down to 1999 (each finds the next by RUNPATH
/// `$ORIGIN`); and a library needing 2000 others directly. depclose lists both exactly as
/// the loader does, in its order, well within the time a test has.
#[test]
fn deep_chains_and_wide_closures_in_the_loaders_order() {
    if !util::have(
        "deep_chains_and_wide_closures_in_the_loaders_order",
        &["cc"],
    ) {
        return;
    }
    let env = TestEnv::new();
    let dir = env.path();
    let start = Instant::now();
    let leaf = Template::build(
        dir,
        "leaf.so",
        &["-Wl,-soname,libq0000.so"],
        &["libq0000.so"],
    );
    leaf.clone_to(&dir.join("libq0001.so"), &[lib('q', 1)]);
    let node = Template::build(
        dir,
        "node.so",
        &[
            "-Wl,-soname,libq0000.so",
            "libq0001.so",
            "-Wl,--enable-new-dtags,-rpath,$ORIGIN",
        ],
        &["libq0000.so", "libq0001.so"],
    );
    for i in 0..MANY - 1 {
        node.clone_to(&dir.join(lib('q', i)), &[lib('q', i), lib('q', i + 1)]);
    }
    leaf.clone_to(&dir.join(lib('q', MANY - 1)), &[lib('q', MANY - 1)]);
    for i in 0..MANY {
        leaf.clone_to(&dir.join(lib('w', i)), &[lib('w', i)]);
    }
    let mut flags = vec![
        "-Wl,-soname,libwide.so".to_owned(),
        "-Wl,--enable-new-dtags,-rpath,$ORIGIN".to_owned(),
    ];
    flags.extend((0..MANY).map(|i| lib('w', i)));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    util::cc("void g(void){}\n", &dir.join("libwide.so"), &{
        let mut all = vec!["-shared", "-fPIC", "-Wl,--no-as-needed"];
        all.extend(&flags);
        all
    });
    let built = start.elapsed();
    for target in [lib('q', 0), "libwide.so".to_owned()] {
        let start = Instant::now();
        agree(&env, &dir.join(&target), dir, &[]);
        let took = start.elapsed();
        // The loader's own run is part of it; a quadratic walk of 2000 would not fit.
        assert!(took < Duration::from_secs(30), "{target}: {took:?}");
    }
    assert!(built < Duration::from_secs(30), "building took {built:?}");
}

/// Ten thousand targets on one command line (symlinks to one program): the run succeeds,
/// names every one, and its peak memory stays bounded (no per-target closure kept).
#[test]
fn ten_thousand_targets_in_one_run() {
    const TEST: &str = "ten_thousand_targets_in_one_run";
    if !util::have(TEST, &["/usr/bin/time"]) {
        return;
    }
    let env = TestEnv::new();
    fs::create_dir(env.join("t")).unwrap();
    let names: Vec<String> = (0..10_000).map(|i| format!("t/{i:05}")).collect();
    for n in &names {
        std::os::unix::fs::symlink("/usr/bin/true", env.join(n)).unwrap();
    }
    let run = util::run(
        command("/usr/bin/time")
            .arg("-v")
            .arg(DEPCLOSE)
            .args(&names)
            .current_dir(env.path()),
    );
    assert_eq!(run.code, Some(0), "{}", run.brief());
    let peak = peak_rss(&run.stderr);
    let listed: std::collections::HashSet<&str> = run.stdout.lines().collect();
    for n in &names {
        let path = env.join(n);
        assert!(listed.contains(&*path.to_string_lossy()), "{n} not listed");
    }
    assert!(peak < 512 << 20, "peak RSS {peak} bytes");
}

/// The peak RSS in bytes that `/usr/bin/time -v` reports in `stderr`.
fn peak_rss(stderr: &str) -> u64 {
    let kb: u64 = stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in\n{stderr}"));
    kb << 10
}

/// Names with bytes that are not UTF-8 work end to end, without loss
/// (docs/json.md#non-utf8). A file below an `--add` directory (`d\xfe/lib\xff.so`) is
/// stored byte for byte (a PAX `path` record), GNU tar extracts that exact name, and
/// `--emit-rootfs` creates it. A library `lib\xff.so` that a program needs (`DT_NEEDED`,
/// through its `$ORIGIN` RUNPATH) is found where the loader finds it: the listing prints
/// the bytes `ld.so --list` prints, the JSON report holds the name's escape, and the image
/// holds the file under its exact name and the program runs from it. A target whose own
/// name is not UTF-8 and an `--add SRC:DEST` whose source and destination are not are taken
/// as they are.
#[test]
fn names_that_are_not_utf8() {
    const TEST: &str = "names_that_are_not_utf8";
    let env = TestEnv::new();
    let top = env.join("top");
    let dir = top.join(OsStr::from_bytes(b"d\xfe"));
    fs::create_dir_all(&dir).unwrap();
    let name = dir.join(OsStr::from_bytes(b"lib\xff.so"));
    fs::write(&name, "not an ELF file\n").unwrap();
    let tar = env.join("x.tar");
    let run = depclose(
        &env,
        0,
        &[
            "/usr/bin/true".as_ref(),
            "--add".as_ref(),
            top.as_os_str(),
            "--emit".as_ref(),
            tar.as_os_str(),
            "--emit-rootfs".as_ref(),
            env.join("rootfs").as_os_str(),
        ],
    );
    run.assert_code(0);
    let rel = name.strip_prefix("/").unwrap();
    let image = Image::read(&tar);
    assert!(layer_holds(&image, rel), "{rel:?} not in the layer");
    let extracted = extract_layer(&image, &env, "extracted");
    assert_eq!(fs::read(extracted.join(rel)).unwrap(), b"not an ELF file\n");
    assert_eq!(
        fs::read(env.join("rootfs").join(rel)).unwrap(),
        b"not an ELF file\n"
    );

    if !util::have(TEST, &["cc"]) {
        return;
    }
    let lib = env.join(OsStr::from_bytes(b"lib\xff.so"));
    let program = env.join("prog");
    fs::write(env.join("lib.c"), "int f(void){return 0;}\n").unwrap();
    let mut link = command("cc");
    link.args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(env.join("lib.c"))
        .arg(OsStr::from_bytes(b"-Wl,-soname,lib\xff.so"));
    util::run_ok(&mut link);
    fs::write(
        env.join("main.c"),
        "int f(void); int main(void){return f();}\n",
    )
    .unwrap();
    util::run_ok(
        command("cc")
            .arg("-o")
            .arg(&program)
            .arg(env.join("main.c"))
            .arg(&lib)
            .arg("-Wl,--enable-new-dtags,-rpath,$ORIGIN"),
    );

    // The listing holds the library's path as the loader prints it, byte for byte.
    let loader = stdout_bytes(command(util::LDSO).arg("--list").arg(&program));
    let by_loader = loader
        .split(|&b| b == b'\n')
        .find_map(|l| l.strip_prefix(b"\tlib\xff.so => ".as_slice()))
        .and_then(|l| l.split(|&b| b == b' ').next())
        .unwrap_or_else(|| panic!("no lib\\xff.so in {}", String::from_utf8_lossy(&loader)));
    assert_eq!(by_loader, lib.as_os_str().as_bytes());
    let listing = stdout_bytes(command(DEPCLOSE).arg(&program));
    assert!(
        listing.split(|&b| b == b'\n').any(|l| l == by_loader),
        "{}",
        String::from_utf8_lossy(&listing)
    );

    // JSON has no escape for bytes: the report holds the name's own.
    let run = env.depclose(["-f".as_ref(), "json".as_ref(), program.as_os_str()]);
    run.assert_code(0);
    let escaped = name::encode(lib.as_os_str().as_bytes());
    assert!(escaped.contains('\u{10ffff}'), "{escaped}");
    let report = run.report();
    let object = report.targets[0]
        .objects
        .iter()
        .find(|o| o.path == escaped)
        .unwrap_or_else(|| panic!("no object {escaped:?}\n{run}"));
    assert_eq!(object.real_path, escaped);
    assert!(
        object
            .names
            .iter()
            .any(|n| *n == name::encode(b"lib\xff.so"))
    );

    // The image holds it by its bytes, and the program runs from it.
    let run = depclose(
        &env,
        0,
        &[
            program.as_os_str(),
            "--emit".as_ref(),
            env.join("p.tar").as_os_str(),
            "--emit-rootfs".as_ref(),
            env.join("prootfs").as_os_str(),
        ],
    );
    run.assert_code(0);
    let lib_rel = lib.strip_prefix("/").unwrap();
    assert!(layer_holds(&Image::read(&env.join("p.tar")), lib_rel));
    assert!(env.join("prootfs").join(lib_rel).is_file());
    if util::bwrap_works(TEST) {
        util::run_ok(util::bwrap(&env.join("prootfs")).arg(&program));
    }

    // A target named with such bytes, and an addition from and to such names.
    let odd_program = env.join(OsStr::from_bytes(b"prog\xfd"));
    fs::copy(&program, &odd_program).unwrap();
    let extra = env.write("extra", "extra\n");
    let odd_extra = env.join(OsStr::from_bytes(b"extra\xfc"));
    fs::rename(&extra, &odd_extra).unwrap();
    let listing = stdout_bytes(command(DEPCLOSE).arg(&odd_program));
    assert_eq!(
        listing.split(|&b| b == b'\n').next(),
        Some(odd_program.as_os_str().as_bytes())
    );
    let run = depclose(
        &env,
        0,
        &[
            OsStr::from_bytes(b"./prog\xfd"),
            "--add".as_ref(),
            OsStr::from_bytes(b"extra\xfc:/opt/x\xfb"),
            "--emit".as_ref(),
            env.join("q.tar").as_os_str(),
            "--emit-rootfs".as_ref(),
            env.join("qrootfs").as_os_str(),
        ],
    );
    run.assert_code(0);
    // The Entrypoint, a JSON string, can only hold the escape: said, not hidden.
    assert!(run.stderr.contains("Entrypoint holds the escape"), "{run}");
    let image = Image::read(&env.join("q.tar"));
    let odd_rel = odd_program.strip_prefix("/").unwrap();
    assert!(layer_holds(&image, odd_rel), "{odd_rel:?} not in the layer");
    assert!(layer_holds(
        &image,
        Path::new(OsStr::from_bytes(b"opt/x\xfb"))
    ));
    assert!(layer_holds(&image, lib_rel));
    let qrootfs = env.join("qrootfs");
    assert_eq!(
        fs::read(qrootfs.join(OsStr::from_bytes(b"opt/x\xfb"))).unwrap(),
        b"extra\n"
    );
    if util::bwrap_works(TEST) {
        util::run_ok(util::bwrap(&qrootfs).arg(&odd_program));
    }
}

/// Whether the image's layer has a member named exactly `rel`'s bytes.
fn layer_holds(image: &Image, rel: &Path) -> bool {
    let mut archive = tar::Archive::new(image.layer_bytes());
    archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path_bytes().into_owned())
        .any(|p| p == rel.as_os_str().as_bytes())
}

/// The stdout of a command that must succeed, as bytes (a `Run` holds text).
#[track_caller]
fn stdout_bytes(cmd: &mut std::process::Command) -> Vec<u8> {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// An 8 GiB file of holes in `--add` is streamed: the image on stdout holds it as one
/// member of exactly that size (past tar's octal field, so a PAX `size` record), and
/// depclose's peak memory grows by far less than the file.
#[test]
fn an_8_gib_sparse_file_is_streamed() {
    const TEST: &str = "an_8_gib_sparse_file_is_streamed";
    const SIZE: u64 = 8 << 30;
    if !util::have(TEST, &["/usr/bin/time", "df"]) {
        return;
    }
    let env = TestEnv::new();
    // The layer goes to an unnamed file in the temp directory first (its digest heads the
    // image): 8 GiB of real blocks there.
    let tmp = std::env::temp_dir();
    let free = util::run_ok(command("df").args(["--output=avail", "-B1"]).arg(&tmp));
    let free: u64 = free.stdout.lines().nth(1).unwrap().trim().parse().unwrap();
    if free < SIZE + (1 << 30) {
        util::skip(
            TEST,
            format!("{} has {free} bytes free, not 9 GiB", tmp.display()),
        );
        return;
    }
    let small = env.write("small", "x");
    let big = env.join("big");
    fs::File::create(&big).unwrap().set_len(SIZE).unwrap();
    let emit = |add: &Path| -> (u64, u64) {
        let mut child = command("/usr/bin/time")
            .arg("-v")
            .arg(DEPCLOSE)
            .arg("/usr/bin/true")
            .arg("--add")
            .arg(add)
            .args(["--emit", "-"])
            .current_dir(env.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let want = add.strip_prefix("/").unwrap().to_path_buf();
        let member = member_size(stdout, &want);
        let mut err = String::new();
        stderr.read_to_string(&mut err).unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "{err}");
        let size = member.unwrap_or_else(|| panic!("{want:?} not in the layer\n{err}"));
        (size, peak_rss(&err))
    };
    let (_, baseline) = emit(&small);
    let (size, peak) = emit(&big);
    assert_eq!(size, SIZE);
    assert!(
        peak < baseline + (64 << 20),
        "peak RSS {peak}, {baseline} for a 1-byte file"
    );
}

/// Read an image tar stream to its end; the size (and every byte) of member `want` of its
/// layer.
fn member_size(image: impl Read, want: &PathBuf) -> Option<u64> {
    let mut found = None;
    let mut outer = tar::Archive::new(image);
    for entry in outer.entries().unwrap() {
        let entry = entry.unwrap();
        let name = entry.path().unwrap().into_owned();
        let is_layer = name.starts_with("blobs/sha256") && entry.size() > 1 << 20;
        if !is_layer {
            continue;
        }
        let mut layer = tar::Archive::new(entry);
        for member in layer.entries().unwrap() {
            let mut member = member.unwrap();
            // Big reads: 8 GiB in 8 KiB calls of a debug build would take minutes.
            let mut buf = vec![0u8; 1 << 20];
            let mut n = 0u64;
            loop {
                match member.read(&mut buf).unwrap() {
                    0 => break,
                    got => n += got as u64,
                }
            }
            if member.path().unwrap() == *want {
                assert_eq!(n, member.size());
                found = Some(n);
            }
        }
    }
    found
}
