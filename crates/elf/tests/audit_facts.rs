//! `audit_facts` against `readelf` (binutils) on this machine's own files: the versions
//! every program of /usr/bin needs, the versions libc defines, and the dynamic symbols with
//! their versions of a dozen libraries, of this machine's kind and, when Debian's cross libc
//! packages are installed, big-endian and 32-bit ones. Each test first checks for what it
//! needs; where the machine lacks it, it prints `SKIPPED <test>: <reason>` and passes.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use depclose_elf::{AuditFacts, Symbol, audit_facts};

/// `STT_SECTION`.
const STT_SECTION: u8 = 3;
const LIBC: &str = "/usr/lib/x86_64-linux-gnu/libc.so.6";

/// Print `SKIPPED <test>: <reason>` past the harness's capture of `println!`.
fn skip(test: &str, reason: &str) {
    let _ = writeln!(std::io::stdout(), "SKIPPED {test}: {reason}");
}

/// Print one line of what a test checked, past the harness's capture.
fn report(line: &str) {
    let _ = writeln!(std::io::stdout(), "{line}");
}

fn have_readelf(test: &str) -> bool {
    let ok = Command::new("readelf")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        skip(test, "no readelf");
    }
    ok
}

/// `readelf ARGS --wide path`, or `None` when readelf fails on the file.
fn readelf(args: &[&str], path: &Path) -> Option<String> {
    let out = Command::new("readelf")
        .args(args)
        .arg("--wide")
        .arg(path)
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The value after `key` on a `readelf -V` line, up to the next blank.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let rest = &line[line.find(key)? + key.len()..];
    rest.split_whitespace().next()
}

/// The (file, version, weak) of `readelf -V`'s "Version needs" section, in table order.
fn readelf_needs(text: &str) -> Vec<(String, String, bool)> {
    let mut file = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(f) = field(line, "File: ") {
            file = f.to_owned();
        } else if line.contains("Flags: ") && !line.contains("Rev: ") {
            if let Some(name) = field(line, "Name: ") {
                let weak = field(line, "Flags: ").is_some_and(|f| f.contains("WEAK"));
                out.push((file.clone(), name.to_owned(), weak));
            }
        }
    }
    out
}

/// The names of `readelf -V`'s "Version definition" entries but the base one.
fn readelf_definitions(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.contains("Rev: ") && !l.contains("Flags: BASE"))
        .filter_map(|l| field(l, "Name: ").map(str::to_owned))
        .collect()
}

/// The names of `readelf --dyn-syms`' entries but the null one, as it prints them:
/// `name@@V` for a default version, `name@V` for a hidden or needed one (the `(index)` after
/// a needed one left out).
fn readelf_symbols(text: &str) -> Vec<String> {
    text.lines()
        .skip_while(|l| !l.contains("Num:"))
        .skip(2)
        .map(|l| l.split_whitespace().nth(7).unwrap_or("").to_owned())
        .collect()
}

fn needs_of(facts: &AuditFacts) -> Vec<(String, String, bool)> {
    facts
        .needed_versions
        .iter()
        .flat_map(|n| {
            n.versions
                .iter()
                .map(|v| (n.file.clone(), v.name.clone(), v.weak))
        })
        .collect()
}

/// A symbol as readelf prints it: with its version, but for the symbol that names a version
/// itself (`GLIBC_2.10`, absolute), whose version readelf leaves out.
fn printed(s: &Symbol) -> String {
    match &s.version {
        None => s.name.clone(),
        Some(v) if v.name == s.name => s.name.clone(),
        Some(v) if s.defined && !v.hidden => format!("{}@@{}", s.name, v.name),
        Some(v) => format!("{}@{}", s.name, v.name),
    }
}

/// The regular files (not symlinks) of `dir` that start with the ELF magic, sorted.
fn elf_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| {
            let mut magic = [0u8; 4];
            std::fs::File::open(p)
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
                .is_ok()
                && magic == *b"\x7fELF"
        })
        .collect();
    out.sort();
    out
}

#[test]
fn needed_versions_agree_with_readelf_for_usr_bin() {
    const TEST: &str = "needed_versions_agree_with_readelf_for_usr_bin";
    if !have_readelf(TEST) {
        return;
    }
    let files = elf_files(Path::new("/usr/bin"));
    if files.is_empty() {
        skip(TEST, "no ELF files in /usr/bin");
        return;
    }
    let (mut checked, mut pairs) = (0, 0);
    for f in &files {
        let Some(text) = readelf(&["-V"], f) else {
            continue;
        };
        let facts = audit_facts(f).unwrap_or_else(|e| panic!("{e}"));
        let want = readelf_needs(&text);
        assert_eq!(needs_of(&facts), want, "{}", f.display());
        checked += 1;
        pairs += want.len();
    }
    assert!(checked > 0);
    report(&format!(
        "{TEST}: {checked} of {} ELF files in /usr/bin, {pairs} (file, version) pairs",
        files.len()
    ));
}

#[test]
fn libc_defined_versions_agree_with_readelf() {
    const TEST: &str = "libc_defined_versions_agree_with_readelf";
    if !have_readelf(TEST) {
        return;
    }
    if !Path::new(LIBC).is_file() {
        skip(TEST, &format!("no {LIBC}"));
        return;
    }
    let text = readelf(&["-V"], Path::new(LIBC)).unwrap();
    let facts = audit_facts(Path::new(LIBC)).unwrap();
    let want = readelf_definitions(&text);
    assert!(want.iter().any(|v| v == "GLIBC_2.2.5"), "{want:?}");
    assert!(!want.iter().any(|v| v == "libc.so.6"));
    assert_eq!(facts.defined_versions, want);
    report(&format!("{TEST}: {} versions", want.len()));
}

/// Up to a dozen shared libraries of `dir`, `first` (when there) ahead of the others.
fn libraries(dir: &Path, first: &str) -> Vec<PathBuf> {
    let mut libs: Vec<PathBuf> = elf_files(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".so"))
        .collect();
    libs.sort_by_key(|p| !p.ends_with(first));
    libs.truncate(12);
    libs
}

/// Each library's dynamic symbols (count, names, versions), needed and defined versions
/// against readelf's; returns the number of libraries and of symbols compared.
fn compare_libraries(libs: &[PathBuf]) -> (usize, usize) {
    let mut symbols = 0;
    for lib in libs {
        let facts = audit_facts(lib).unwrap_or_else(|e| panic!("{e}"));
        let syms = readelf(&["--dyn-syms"], lib).unwrap();
        let count: usize = syms
            .lines()
            .find_map(|l| {
                l.split(" contains ")
                    .nth(1)?
                    .split(' ')
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap();
        assert_eq!(facts.symbols.len(), count - 1, "{}", lib.display());
        let ours: Vec<String> = facts.symbols.iter().map(printed).collect();
        let theirs = readelf_symbols(&syms);
        assert_eq!(ours.len(), theirs.len(), "{}", lib.display());
        // A section symbol has no name of its own: readelf prints its section's.
        let differs = |i: usize| facts.symbols[i].kind != STT_SECTION && ours[i] != theirs[i];
        if let Some(i) = (0..ours.len()).find(|&i| differs(i)) {
            panic!(
                "{}: symbol {}: {:?}, readelf {:?}",
                lib.display(),
                i + 1,
                ours[i],
                theirs[i]
            );
        }
        let versions = readelf(&["-V"], lib).unwrap();
        assert_eq!(
            needs_of(&facts),
            readelf_needs(&versions),
            "{}",
            lib.display()
        );
        assert_eq!(
            facts.defined_versions,
            readelf_definitions(&versions),
            "{}",
            lib.display()
        );
        symbols += facts.symbols.len();
    }
    (libs.len(), symbols)
}

#[test]
fn dynamic_symbols_agree_with_readelf_for_a_dozen_libraries() {
    const TEST: &str = "dynamic_symbols_agree_with_readelf_for_a_dozen_libraries";
    if !have_readelf(TEST) {
        return;
    }
    let libs = libraries(Path::new("/usr/lib/x86_64-linux-gnu"), "libc.so.6");
    if libs.len() < 12 {
        skip(TEST, "fewer than 12 libraries in /usr/lib/x86_64-linux-gnu");
        return;
    }
    let (n, symbols) = compare_libraries(&libs);
    report(&format!("{TEST}: {n} libraries, {symbols} symbols"));
}

/// Debian's `libc6-<arch>-cross` packages: libraries of other byte orders and classes.
#[test]
fn other_byte_orders_and_classes_agree_with_readelf() {
    const TEST: &str = "other_byte_orders_and_classes_agree_with_readelf";
    if !have_readelf(TEST) {
        return;
    }
    for (dir, what) in [
        (
            "/usr/s390x-linux-gnu/lib",
            "64-bit big-endian (libc6-s390x-cross)",
        ),
        (
            "/usr/powerpc-linux-gnu/lib",
            "32-bit big-endian (libc6-powerpc-cross)",
        ),
        ("/usr/aarch64-linux-gnu/lib", "AArch64 (libc6-arm64-cross)"),
        ("/usr/lib32", "32-bit little-endian (libc6-i386)"),
    ] {
        let libs = libraries(Path::new(dir), "libc.so.6");
        if libs.is_empty() {
            skip(TEST, &format!("no {what} libraries in {dir}"));
            continue;
        }
        let (n, symbols) = compare_libraries(&libs);
        report(&format!("{TEST}: {dir}: {n} libraries, {symbols} symbols"));
    }
}
