//! depclose-elf against this machine's own programs and libraries, and `readelf`. Each test
//! first checks for what it needs; where the machine lacks it, the test prints one line
//! `SKIPPED <test>: <reason>` and passes.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;
use std::process::Command;

use depclose_elf::machine::EM_X86_64;
use depclose_elf::{
    Class, Data, ElfInfo, Error, FileKind, Linkage, ObjectType, parse_bytes, read_file,
};

/// Debian x86-64 files the tests read.
const TRUE: &str = "/usr/bin/true";
const LIBZ: &str = "/lib/x86_64-linux-gnu/libz.so.1";

/// True (after printing `SKIPPED <test>: <reason>`) when the machine lacks one of `files`
/// or, with `readelf`, the `readelf` program. The line goes straight to stdout: the test
/// harness would swallow a `println!` of a passing test.
fn skipped(test: &str, files: &[&str], readelf: bool) -> bool {
    let lacking = if !cfg!(target_arch = "x86_64") {
        Some("not an x86-64 machine".to_owned())
    } else if let Some(f) = files.iter().find(|f| !Path::new(f).is_file()) {
        Some(format!("no {f}"))
    } else if readelf
        && !Command::new("readelf")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    {
        Some("no readelf".to_owned())
    } else {
        None
    };
    let Some(reason) = lacking else {
        return false;
    };
    let _ = writeln!(std::io::stdout(), "SKIPPED {test}: {reason}");
    true
}

fn elf(path: &str) -> ElfInfo {
    match read_file(Path::new(path)).unwrap() {
        FileKind::Elf(e) => e,
        other => panic!("{path}: {other:?}"),
    }
}

/// The dynamic entries `readelf -d` prints for `path`, as (tag, value) pairs.
fn readelf_dynamic(path: &str) -> Vec<(String, String)> {
    let out = Command::new("readelf")
        .args(["-dW", path])
        .output()
        .unwrap();
    assert!(out.status.success(), "readelf failed on {path}");
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .filter_map(|l| {
            let tag = l.split('(').nth(1)?.split(')').next()?;
            let v = &l[l.find('[')? + 1..l.rfind(']')?];
            Some((tag.to_owned(), v.to_owned()))
        })
        .collect()
}

#[test]
fn agrees_with_readelf_on_host_files() {
    let files = [
        TRUE,
        "/usr/bin/expr",
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/lib64/ld-linux-x86-64.so.2",
    ];
    if skipped("agrees_with_readelf_on_host_files", &files, true) {
        return;
    }
    for f in files {
        let e = elf(f);
        let d = readelf_dynamic(f);
        let of = |tag: &str| -> Vec<String> {
            d.iter()
                .filter(|(t, _)| t == tag)
                .map(|(_, v)| v.clone())
                .collect()
        };
        assert_eq!(e.needed().collect::<Vec<_>>(), of("NEEDED"), "{f}");
        assert_eq!(
            e.soname.into_iter().collect::<Vec<_>>(),
            of("SONAME"),
            "{f}"
        );
        assert_eq!(
            e.runpath.into_iter().collect::<Vec<_>>(),
            of("RUNPATH"),
            "{f}"
        );
        assert_eq!(e.rpath.into_iter().collect::<Vec<_>>(), of("RPATH"), "{f}");
        assert_eq!(e.class, Class::Elf64);
        assert_eq!(e.data, Data::Little);
        assert_eq!(e.machine, EM_X86_64);
    }
}

#[test]
fn program_has_interpreter_library_does_not_need_one() {
    if skipped(
        "program_has_interpreter_library_does_not_need_one",
        &[TRUE, LIBZ],
        false,
    ) {
        return;
    }
    let t = elf(TRUE);
    assert_eq!(
        t.interpreter.as_deref(),
        Some("/lib64/ld-linux-x86-64.so.2")
    );
    assert_eq!(t.linkage, Linkage::Dynamic);
    let z = elf(LIBZ);
    assert_eq!(z.interpreter, None);
    assert_eq!(z.linkage, Linkage::Dynamic);
    assert_eq!(z.object_type, ObjectType::SharedObject);
}

#[test]
fn truncated_and_corrupted_files_are_errors_not_panics() {
    if skipped(
        "truncated_and_corrupted_files_are_errors_not_panics",
        &[TRUE],
        false,
    ) {
        return;
    }
    let bytes = std::fs::read(TRUE).unwrap();
    let p = Path::new("t");
    // Every prefix of the headers, then coarser steps through the rest.
    let mut cuts: Vec<usize> = (0..4096.min(bytes.len())).collect();
    cuts.extend((4096..bytes.len()).step_by(509));
    for n in cuts {
        let _ = parse_bytes(p, &bytes[..n]);
    }
    // Flip each byte of the ELF header and program headers in turn.
    for i in 0..1024.min(bytes.len()) {
        let mut b = bytes.clone();
        b[i] ^= 0xff;
        let _ = parse_bytes(p, &b);
    }
    assert!(matches!(
        parse_bytes(p, &bytes[..40]),
        Err(Error::Malformed { .. })
    ));
}

/// `read_file` reads what it needs with `pread`; `parse_bytes` has the whole file. Both must
/// say the same of every file, well-formed or cut short.
fn same_both_ways(path: &Path) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let whole = format!("{:?}", parse_bytes(path, &bytes).map_err(|e| e.to_string()));
    let read = format!("{:?}", read_file(path).map_err(|e| e.to_string()));
    if whole == read {
        Ok(())
    } else {
        Err(format!(
            "{}:\n  bytes: {whole}\n  read:  {read}",
            path.display()
        ))
    }
}

#[test]
fn reading_a_file_says_what_parsing_its_bytes_says() {
    const TEST: &str = "reading_a_file_says_what_parsing_its_bytes_says";
    if skipped(TEST, &[TRUE, LIBZ], false) {
        return;
    }
    let mut compared = 0;
    let mut differ = Vec::new();
    for dir in ["/usr/bin", "/usr/sbin", "/usr/lib/x86_64-linux-gnu"] {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if !entry.file_type().is_ok_and(|t| t.is_file())
                || !path.metadata().is_ok_and(|m| m.len() > 0)
            {
                continue;
            }
            compared += 1;
            if let Err(e) = same_both_ways(&path) {
                differ.push(e);
            }
        }
    }
    // Cut short at many offsets: the string window, the dynamic segment and the head each
    // end somewhere in there.
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut");
    for source in [TRUE, LIBZ] {
        let bytes = std::fs::read(source).unwrap();
        for n in (1..bytes.len()).step_by(211).chain([4095, 4096, 4097]) {
            std::fs::write(&cut, &bytes[..n.min(bytes.len())]).unwrap();
            compared += 1;
            if let Err(e) = same_both_ways(&cut) {
                differ.push(format!("{source} cut at {n}: {e}"));
            }
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    assert!(compared > 1000, "{compared}");
}
