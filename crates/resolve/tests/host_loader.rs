//! The loader facts and the `ld.so.conf` stand-in for the cache, against this machine's own
//! loader and configuration. Each test first checks for what it needs; where the machine
//! lacks it, the test prints one line `SKIPPED <test>: <reason>` and passes.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::process::Command;

use depclose_elf::machine::EM_X86_64;
use depclose_elf::{Class, Data};
use depclose_resolve::{
    CacheMode, FactsOptions, FactsSource, How, LoaderFacts, ResolveOptions, Resolver, Root,
};

use support::{runs, skipped};

const LD_SO: &str = "/lib64/ld-linux-x86-64.so.2";

/// Why the host's x86-64 loader cannot be asked for its facts, if it cannot.
fn lacks_x86_64_loader() -> Option<&'static str> {
    // `--list-diagnostics` is glibc 2.33's.
    let ok = cfg!(target_arch = "x86_64") && runs(LD_SO, &["--list-diagnostics"]);
    (!ok).then_some("no x86-64 glibc loader with --list-diagnostics at /lib64/ld-linux-x86-64.so.2")
}

fn loader_output(arg: &str) -> String {
    let out = Command::new(LD_SO).arg(arg).output().unwrap();
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn host_loader_facts_match_its_diagnostics() {
    if skipped(
        "host_loader_facts_match_its_diagnostics",
        lacks_x86_64_loader(),
    ) {
        return;
    }
    let root = Root::new(Path::new("/")).unwrap();
    let f = LoaderFacts::load(
        &root,
        LD_SO,
        EM_X86_64,
        Class::Elf64,
        Data::Little,
        0,
        &FactsOptions::default(),
    );
    let diag = loader_output("--list-diagnostics");
    let dirs: Vec<String> = diag
        .lines()
        .filter(|l| l.starts_with("path.system_dirs["))
        .map(|l| l.split('"').nth(1).unwrap().to_owned())
        .collect();
    assert_eq!(f.system_dirs, dirs);
    assert_eq!(f.source, FactsSource::LoaderBinary);
    let field = |k: &str| {
        diag.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=\"")))
            .map(|v| v.trim_end_matches('"').to_owned())
    };
    assert_eq!(Some(f.lib.clone()), field("dl_dst_lib"));
    assert_eq!(f.platform, field("dl_platform"));
    // "ld.so (Debian GLIBC 2.36-9+deb12u13) stable release version 2.36."
    let version = loader_output("--version");
    let (major, minor) = version
        .lines()
        .next()
        .and_then(|l| l.split("release version ").nth(1))
        .and_then(|v| v.trim_end_matches('.').split_once('.'))
        .unwrap();
    assert_eq!(
        f.glibc_version,
        Some((major.parse().unwrap(), minor.parse().unwrap()))
    );
    // `ld.so --help` lists the glibc-hwcaps subdirectories it searches.
    let searched: Vec<String> = loader_output("--help")
        .lines()
        .filter(|l| l.contains("(supported, searched)") && l.trim_start().starts_with("x86-64-v"))
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect();
    assert_eq!(f.hwcaps, searched);
}

/// Debian's `/etc/ld.so.conf.d/x86_64-linux-gnu.conf` lists the multiarch directories, where
/// libc is: with the conf directories standing in for the cache, that is where it is found.
#[test]
fn host_conf_directories_stand_in_for_the_cache() {
    let conf = "/etc/ld.so.conf.d/x86_64-linux-gnu.conf";
    let lacking = lacks_x86_64_loader().or_else(|| {
        (!Path::new(conf).is_file()).then_some("no Debian multiarch ld.so.conf.d entry")
    });
    if skipped("host_conf_directories_stand_in_for_the_cache", lacking) {
        return;
    }
    let options = ResolveOptions {
        cache: CacheMode::Conf,
        ..ResolveOptions::default()
    };
    let resolver = Resolver::new(Root::new(Path::new("/")).unwrap(), options);
    let closure = resolver.closure(Path::new("/bin/true")).unwrap();
    let libc = closure
        .objects
        .iter()
        .find(|o| o.elf.soname.as_deref() == Some("libc.so.6"))
        .unwrap();
    assert_eq!(libc.found.how, How::Conf, "{:?}", libc.found);
    let listed = std::fs::read_to_string(conf).unwrap();
    let dir = libc.found.dir.as_deref().unwrap().trim_end_matches('/');
    assert!(
        listed.lines().any(|l| l.trim() == dir),
        "{dir} not in {conf}"
    );
}
