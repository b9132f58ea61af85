//! What each fuzz target does with one input, shared by the targets (`fuzz_targets/`) and
//! their replay on stable in the test suite (`tests/fuzz_regressions.rs` includes this file),
//! so that a committed regression input runs exactly what the fuzzer ran. Each returns
//! whether the reader accepted the input; a panic or a hang is the failure.
#![allow(unreachable_pub)]

use std::path::Path;

use depclose_pack::ImageArchive;

/// What a target does with one input.
pub type Target = fn(&[u8]) -> bool;

/// Every target, by name (its directory under `fuzz/regressions/`).
pub const TARGETS: &[(&str, Target)] = &[
    ("elf_headers", elf_headers),
    ("elf_audit", elf_audit),
    ("ld_so_cache", ld_so_cache),
    ("ld_so_conf", ld_so_conf),
    ("apache_config", apache_config),
    ("nginx_config", nginx_config),
    ("nsswitch", nsswitch),
    ("gconv_modules", gconv_modules),
    ("image_tar", image_tar),
];

/// The loader's view of a file (`parse_bytes`): ELF header, program headers, dynamic
/// section, or a `#!` line.
pub fn elf_headers(data: &[u8]) -> bool {
    depclose_elf::parse_bytes(Path::new("fuzz"), data).is_ok()
}

/// What `--audit` reads of a file (hardening facts, dynamic symbols with their versions,
/// version needs and definitions, relocations), and the dynamic symbols and notes the
/// run-time recipes read.
pub fn elf_audit(data: &[u8]) -> bool {
    let path = Path::new("fuzz");
    let facts = depclose_elf::audit_facts_of_bytes(path, data).is_ok();
    let tables = depclose_elf::tables_of_bytes(path, data).is_ok();
    facts && tables
}

/// `/etc/ld.so.cache`: parsed, then searched as an x86-64 loader would.
pub fn ld_so_cache(data: &[u8]) -> bool {
    depclose_resolve::fuzzing::ld_so_cache(data).is_ok()
}

/// `/etc/ld.so.conf` with its includes: the input split at NUL bytes is `etc/ld.so.conf`
/// then `etc/ld.so.conf.d/N.conf`, in a temporary root.
pub fn ld_so_conf(data: &[u8]) -> bool {
    let Ok(root) = tempfile::tempdir() else {
        return false;
    };
    let conf_d = root.path().join("etc/ld.so.conf.d");
    if std::fs::create_dir_all(&conf_d).is_err() {
        return false;
    }
    for (i, part) in data.split(|&b| b == 0).enumerate() {
        let file = if i == 0 {
            root.path().join("etc/ld.so.conf")
        } else {
            conf_d.join(format!("{i}.conf"))
        };
        if std::fs::write(file, part).is_err() {
            return false;
        }
    }
    depclose_resolve::fuzzing::ld_so_conf(root.path()).is_ok()
}

/// httpd's configuration reader (includes, sections, `<IfDefine>`, `Define`, `${VAR}`) and
/// what a configuration uses.
pub fn apache_config(data: &[u8]) -> bool {
    depclose_runtime::fuzzing::apache_config(data).is_ok()
}

/// nginx's configuration reader (words, quotes, blocks, includes) and what a
/// configuration uses.
pub fn nginx_config(data: &[u8]) -> bool {
    depclose_runtime::fuzzing::nginx_config(data).is_ok()
}

/// The services an `nsswitch.conf` names.
pub fn nsswitch(data: &[u8]) -> bool {
    !depclose_runtime::nss_services(&String::from_utf8_lossy(data)).is_empty()
}

/// `gconv-modules`: aliases and modules, and the modules a few character sets need.
pub fn gconv_modules(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(data);
    !depclose_runtime::fuzzing::gconv_modules(&text, &["UTF-8", "ISO-8859-1//", "latin1"])
        .is_empty()
}

/// An image archive read back as `--diff-images` reads it: opened, its manifests and image
/// read, and its layers unpacked into a temporary directory.
pub fn image_tar(data: &[u8]) -> bool {
    let Ok(dir) = tempfile::tempdir() else {
        return false;
    };
    let tar = dir.path().join("image.tar");
    if std::fs::write(&tar, data).is_err() {
        return false;
    }
    let Ok(archive) = ImageArchive::open(&tar) else {
        return false;
    };
    let manifests = archive.manifests().is_ok();
    let Ok(image) = archive.image() else {
        return false;
    };
    // `unpack` wants an existing, empty directory.
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir(&rootfs).is_ok() && image.unpack(&archive, &rootfs).is_ok() && manifests
}
