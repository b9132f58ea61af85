//! The facts of one loader that decide a search: its system directories, `$LIB`,
//! `$PLATFORM`, the glibc-hwcaps subdirectories it tries, its cache — or, for musl, its
//! path file.
//!
//! They are read from the root's own loader binary where it spells them out (glibc keeps
//! `SYSTEM_DIRS` with a table of their lengths, and `DL_DST_LIB` next to the DST names, as
//! plain data in `ld.so`), and otherwise taken from a per-architecture table. Nothing is
//! executed, so a foreign-architecture sysroot resolves by its own facts.

use std::path::Path;

use depclose_elf::{Class, Data, machine::*, name};

use crate::legacy_hwcaps;
use crate::root::Root;

/// Larger than any dynamic loader (glibc's is about 200 KiB).
const MAX_LOADER_SIZE: u64 = 64 << 20;

/// Which loader implementation's rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Glibc,
    Musl,
}

/// Which glibc-hwcaps subdirectories the search tries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum HwcapsChoice {
    /// What this machine's CPU supports (only when the root's architecture is the host's).
    #[default]
    Host,
    /// None: the baseline only, as on the oldest CPU of the architecture.
    None,
    /// These subdirectory names, in priority order.
    Names(Vec<String>),
}

/// Where the facts came from, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactsSource {
    /// Read from the root's loader binary.
    LoaderBinary,
    /// The loader binary was absent or did not spell them out: the built-in table.
    Table,
}

/// Everything about one loader that a search needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoaderFacts {
    pub flavor: Flavor,
    pub machine: u16,
    pub class: Class,
    pub data: Data,
    /// `e_flags` of the program: the float ABI picks the cache entries ARM, RISC-V and
    /// LoongArch loaders accept.
    pub e_flags: u32,
    /// The interpreter path (the program's `PT_INTERP`, or the architecture's default).
    pub interpreter: String,
    /// The built-in search directories (`SYSTEM_DIRS`), each ending in `/`.
    pub system_dirs: Vec<String>,
    /// `$LIB`.
    pub lib: String,
    /// `$PLATFORM`, if known.
    pub platform: Option<String>,
    /// Active glibc-hwcaps subdirectory names, in priority order.
    pub hwcaps: Vec<String>,
    /// Legacy hwcaps subdirectories (glibc before 2.37), each ending in `/`, in priority order.
    pub legacy_subdirs: Vec<String>,
    /// `dl_hwcap & hwcap_mask` for glibc 2.36's legacy cache entries.
    pub legacy_hwcap: u64,
    /// The subdirectories tried in each search directory before the directory itself:
    /// `glibc-hwcaps/NAME/` for `hwcaps`, then `legacy_subdirs` (computed once, used for every
    /// candidate).
    pub(crate) subdirs: Vec<String>,
    /// The soname of the kernel's vDSO for this architecture, which glibc has loaded from the
    /// start (`linux-vdso.so.1`, `linux-gate.so.1`, `linux-vdso64.so.1`).
    pub vdso: Option<&'static str>,
    /// glibc's version as (major, minor), when the loader says it.
    pub glibc_version: Option<(u32, u32)>,
    pub source: FactsSource,
    /// musl: the directories of `<prefix>/etc/ld-musl-<arch>.path` (or its default).
    pub musl_path: Vec<String>,
}

/// Inputs that are the user's to choose.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FactsOptions {
    pub hwcaps: HwcapsChoice,
    pub platform: Option<String>,
}

/// One architecture's fixed facts.
struct Arch {
    machine: u16,
    class64: bool,
    triplet: &'static str,
    interpreter: &'static str,
    /// `SYSTEM_DIRS` upstream (non-multiarch) for this ABI.
    slibdir: &'static str,
    platform: &'static str,
    /// glibc-hwcaps subdirectory names the loader knows, best first.
    hwcaps: &'static [&'static str],
}

/// Debian's multiarch triplets and glibc's interpreters (`sysdeps/unix/sysv/linux/*/ldconfig.h`,
/// `*/dl-hwcaps-subdirs.c`). ARM and MIPS pick by float ABI and word size below.
const ARCHES: &[Arch] = &[
    Arch {
        machine: EM_X86_64,
        class64: true,
        triplet: "x86_64-linux-gnu",
        interpreter: "/lib64/ld-linux-x86-64.so.2",
        slibdir: "/lib64",
        platform: "x86_64",
        hwcaps: &["x86-64-v4", "x86-64-v3", "x86-64-v2"],
    },
    Arch {
        machine: EM_X86_64,
        class64: false,
        triplet: "x86_64-linux-gnux32",
        interpreter: "/libx32/ld-linux-x32.so.2",
        slibdir: "/libx32",
        platform: "x86_64",
        hwcaps: &["x86-64-v4", "x86-64-v3", "x86-64-v2"],
    },
    Arch {
        machine: EM_386,
        class64: false,
        triplet: "i386-linux-gnu",
        interpreter: "/lib/ld-linux.so.2",
        slibdir: "/lib",
        platform: "i686",
        hwcaps: &[],
    },
    Arch {
        machine: EM_AARCH64,
        class64: true,
        triplet: "aarch64-linux-gnu",
        interpreter: "/lib/ld-linux-aarch64.so.1",
        slibdir: "/lib64",
        platform: "aarch64",
        hwcaps: &[],
    },
    Arch {
        machine: EM_ARM,
        class64: false,
        triplet: "arm-linux-gnueabihf",
        interpreter: "/lib/ld-linux-armhf.so.3",
        slibdir: "/lib",
        platform: "v7l",
        hwcaps: &[],
    },
    Arch {
        machine: EM_PPC64,
        class64: true,
        triplet: "powerpc64le-linux-gnu",
        interpreter: "/lib64/ld64.so.2",
        slibdir: "/lib64",
        platform: "power8",
        hwcaps: &["power10", "power9"],
    },
    Arch {
        machine: EM_PPC,
        class64: false,
        triplet: "powerpc-linux-gnu",
        interpreter: "/lib/ld.so.1",
        slibdir: "/lib",
        platform: "ppc",
        hwcaps: &[],
    },
    Arch {
        machine: EM_S390,
        class64: true,
        triplet: "s390x-linux-gnu",
        interpreter: "/lib/ld64.so.1",
        slibdir: "/lib64",
        platform: "z13",
        hwcaps: &["z17", "z16", "z15", "z14", "z13"],
    },
    Arch {
        machine: EM_RISCV,
        class64: true,
        triplet: "riscv64-linux-gnu",
        interpreter: "/lib/ld-linux-riscv64-lp64d.so.1",
        slibdir: "/lib64/lp64d",
        platform: "riscv64",
        hwcaps: &[],
    },
    Arch {
        machine: EM_MIPS,
        class64: true,
        triplet: "mips64el-linux-gnuabi64",
        interpreter: "/lib64/ld.so.1",
        slibdir: "/lib64",
        platform: "mips64",
        hwcaps: &[],
    },
    Arch {
        machine: EM_MIPS,
        class64: false,
        triplet: "mipsel-linux-gnu",
        interpreter: "/lib/ld.so.1",
        slibdir: "/lib",
        platform: "mips",
        hwcaps: &[],
    },
    Arch {
        machine: EM_LOONGARCH,
        class64: true,
        triplet: "loongarch64-linux-gnu",
        interpreter: "/lib64/ld-linux-loongarch-lp64d.so.1",
        slibdir: "/lib64",
        platform: "loongarch64",
        hwcaps: &[],
    },
    Arch {
        machine: EM_SPARCV9,
        class64: true,
        triplet: "sparc64-linux-gnu",
        interpreter: "/lib64/ld-linux.so.2",
        slibdir: "/lib64",
        platform: "sparcv9",
        hwcaps: &[],
    },
];

/// `EF_ARM_ABI_FLOAT_SOFT`: an ARM object built for the soft-float ABI.
const EF_ARM_ABI_FLOAT_SOFT: u32 = 0x200;

fn arch(
    machine: u16,
    class: Class,
    data: Data,
    flags: u32,
) -> Option<(&'static Arch, &'static str)> {
    let class64 = class == Class::Elf64;
    let a = ARCHES
        .iter()
        .find(|a| a.machine == machine && a.class64 == class64)?;
    // The few ABIs whose triplet depends on byte order or float ABI.
    let triplet = match (machine, data) {
        (EM_PPC64, Data::Big) => "powerpc64-linux-gnu",
        (EM_MIPS, Data::Big) if class64 => "mips64-linux-gnuabi64",
        (EM_MIPS, Data::Big) => "mips-linux-gnu",
        (EM_ARM, _) if flags & EF_ARM_ABI_FLOAT_SOFT != 0 => "arm-linux-gnueabi",
        _ => a.triplet,
    };
    Some((a, triplet))
}

/// The interpreter an architecture's programs name, for targets that name none
/// (shared objects analysed as main programs, like `ld.so --list libfoo.so`).
pub(crate) fn default_interpreter(machine: u16, class: Class) -> Option<&'static str> {
    arch(machine, class, Data::Little, 0).map(|(a, _)| a.interpreter)
}

/// Whether programs of `machine` run on the machine depclose runs on (32-bit x86 ones do
/// on x86-64).
pub fn runs_here(machine: u16) -> bool {
    host_machine() == Some(machine)
        || (host_machine() == Some(EM_X86_64) && machine == depclose_elf::machine::EM_386)
}

/// The machine depclose itself runs on, to decide whether "host" hwcaps apply.
fn host_machine() -> Option<u16> {
    match std::env::consts::ARCH {
        "x86_64" => Some(EM_X86_64),
        "aarch64" => Some(EM_AARCH64),
        "powerpc64" => Some(EM_PPC64),
        "s390x" => Some(EM_S390),
        _ => None,
    }
}

impl LoaderFacts {
    /// The facts of `interpreter` (in-root path) for objects of this machine and class.
    pub fn load(
        root: &Root,
        interpreter: &str,
        machine: u16,
        class: Class,
        data: Data,
        flags: u32,
        options: &FactsOptions,
    ) -> LoaderFacts {
        let arch = arch(machine, class, data, flags);
        // Only a regular file of a sane size is read for facts (a PT_INTERP of /dev/zero or a
        // FIFO must not be read forever).
        // Mapped, not read: the scan for its tables touches a fraction of its pages.
        let binary = root
            .metadata(&name::to_path(interpreter))
            .ok()
            .filter(|(_, m)| m.is_file() && m.len() < MAX_LOADER_SIZE)
            .and_then(|(r, _)| depclose_elf::map_file(&root.host_path(&r.real)).ok())
            .map(|(map, _)| map);
        let base = name::to_path(interpreter)
            .file_name()
            .map(|n| name::from_os(n).into_owned())
            .unwrap_or_default();
        if base.starts_with("ld-musl-") {
            return musl_facts(root, interpreter, &base, machine, class, data);
        }
        // `system_dirs_len` holds `size_t`s of the loader's class.
        let ptr = if class == Class::Elf64 {
            size_of::<u64>()
        } else {
            size_of::<u32>()
        };
        let big = data == Data::Big;
        // The facts are constants of `.rodata`, a tenth of the loader: searched there first,
        // then, if they are not all there (or it has no section headers), in the whole file.
        let whole = binary.as_deref();
        let rodata = whole.and_then(|b| depclose_elf::section_bytes(b, ".rodata"));
        let from_binary = in_loader(rodata, whole, |b| system_dirs_in(b, ptr, big));
        let source = if from_binary.is_some() {
            FactsSource::LoaderBinary
        } else {
            FactsSource::Table
        };
        let system_dirs = from_binary.unwrap_or_else(|| match arch {
            // Debian's multiarch patch puts the triplet directories first.
            Some((_, triplet)) if is_multiarch(root, triplet) => vec![
                format!("/lib/{triplet}/"),
                format!("/usr/lib/{triplet}/"),
                "/lib/".to_owned(),
                "/usr/lib/".to_owned(),
            ],
            Some((a, _)) => vec![format!("{}/", a.slibdir), format!("/usr{}/", a.slibdir)],
            None => vec!["/lib/".to_owned(), "/usr/lib/".to_owned()],
        });
        let lib = in_loader(rodata, whole, dst_lib_in)
            .unwrap_or_else(|| system_dirs[0].trim_matches('/').to_owned());
        let glibc_version = in_loader(rodata, whole, glibc_version_in);
        let known_hwcaps: Vec<String> = arch
            .map(|(a, _)| a.hwcaps.iter().map(|s| (*s).to_owned()).collect())
            .unwrap_or_default();
        let on_host = host_machine() == Some(machine);
        let hwcaps = match &options.hwcaps {
            HwcapsChoice::Host if on_host => host_hwcaps(&known_hwcaps),
            HwcapsChoice::Host | HwcapsChoice::None => Vec::new(),
            HwcapsChoice::Names(n) => n.clone(),
        };
        let platform = options
            .platform
            .clone()
            .or_else(|| arch.map(|(a, _)| host_platform(a, on_host)));
        // A glibc with legacy hwcaps searches their subdirectories on every CPU; only some
        // of their parts depend on the CPU.
        let cpu = matches!(options.hwcaps, HwcapsChoice::Host) && on_host;
        let legacy_subdirs = if legacy_hwcaps::in_glibc(glibc_version) {
            legacy_hwcaps::subdirs(platform.as_deref(), machine, cpu)
        } else {
            Vec::new()
        };
        let legacy_hwcap = legacy_hwcaps::masked_hwcap(machine, cpu);
        let subdirs = hwcaps
            .iter()
            .map(|h| format!("glibc-hwcaps/{h}/"))
            .chain(legacy_subdirs.iter().cloned())
            .collect();
        LoaderFacts {
            flavor: Flavor::Glibc,
            machine,
            class,
            data,
            e_flags: flags,
            interpreter: interpreter.to_owned(),
            system_dirs,
            lib,
            platform,
            hwcaps,
            subdirs,
            legacy_subdirs,
            legacy_hwcap,
            vdso: vdso_name(machine, class),
            glibc_version,
            source,
            musl_path: Vec::new(),
        }
    }
}

impl LoaderFacts {
    /// The CPU's ISA level bits (`cpu_features->isa_1`) as far as the chosen hwcaps reach:
    /// baseline, then one bit per x86-64 level. `None` off x86-64.
    pub(crate) fn x86_isa_1(&self) -> Option<u32> {
        if self.machine != EM_X86_64 {
            return None;
        }
        // `GNU_PROPERTY_X86_ISA_1_BASELINE`, `_V2`, `_V3` and `_V4` in `elf.h`.
        const BASELINE: u32 = 1 << 0;
        const V2: u32 = 1 << 1;
        const V3: u32 = 1 << 2;
        const V4: u32 = 1 << 3;
        let level = |name: &str, bit: u32| {
            if self.hwcaps.iter().any(|h| h == name) {
                bit
            } else {
                0
            }
        };
        Some(BASELINE | level("x86-64-v2", V2) | level("x86-64-v3", V3) | level("x86-64-v4", V4))
    }

    /// How the cache treats legacy hwcap entries: glibc 2.36 still matches them against the
    /// CPU's hwcap and platform; 2.37 dropped them.
    pub(crate) fn cache_legacy_hwcaps(&self) -> crate::cache::LegacyHwcaps {
        use crate::cache::LegacyHwcaps;
        if !legacy_hwcaps::in_glibc(self.glibc_version) {
            return LegacyHwcaps::Removed;
        }
        LegacyHwcaps::Glibc236 {
            hwcap: self.legacy_hwcap,
            platform_mask: if self.machine == EM_X86_64 {
                legacy_hwcaps::X86_PLATFORM_MASK
            } else {
                0
            },
            platform: legacy_hwcaps::platform_bit(self.machine, self.platform.as_deref()),
        }
    }
}

/// The vDSO's soname per architecture (the kernel's `arch/*/kernel/vdso*/` linker scripts).
fn vdso_name(machine: u16, class: Class) -> Option<&'static str> {
    Some(match (machine, class) {
        (EM_386, _) => "linux-gate.so.1",
        (EM_S390, Class::Elf32) | (EM_PPC, _) => "linux-vdso32.so.1",
        (EM_PPC64 | EM_S390, _) => "linux-vdso64.so.1",
        (EM_X86_64 | EM_AARCH64 | EM_RISCV | EM_LOONGARCH | EM_ARM | EM_MIPS, _) => {
            "linux-vdso.so.1"
        }
        _ => return None,
    })
}

fn is_multiarch(root: &Root, triplet: &str) -> bool {
    root.is_dir(&Path::new("/usr/lib").join(triplet))
        || root.is_dir(&Path::new("/lib").join(triplet))
}

/// `$PLATFORM` as the kernel's AT_PLATFORM gives it. glibc on x86-64 replaces it with
/// "haswell" or "xeon_phi" on some Intel CPUs only (`sysdeps/x86/cpu-features.c`).
fn host_platform(a: &Arch, on_host: bool) -> String {
    if on_host && a.machine == EM_X86_64 && a.class64 {
        if let Some(p) = crate::cpu::x86_platform_override() {
            return p.to_owned();
        }
    }
    a.platform.to_owned()
}

fn host_hwcaps(known: &[String]) -> Vec<String> {
    known
        .iter()
        .filter(|name| crate::cpu::supports_hwcaps(name))
        .cloned()
        .collect()
}

/// glibc's `SYSTEM_DIRS` as stored in `ld.so`: the strings, NUL-separated, each an absolute
/// directory ending in `/`, next to an array of their lengths (`system_dirs_len`,
/// pointer-sized words). Where the linker puts that array differs: directly before the
/// strings (x86-64), or after them at the next aligned offset past some zero padding
/// (aarch64: bookworm's `ld-linux-aarch64.so.1` pads the strings' end to 16 bytes). That
/// exact shape is found nowhere else in the binary.
fn system_dirs_in(bin: &[u8], ptr: usize, big: bool) -> Option<Vec<String>> {
    let word = |at: usize| -> Option<usize> {
        let b = bin.get(at..at + ptr)?;
        let mut v: u64 = 0;
        for i in 0..ptr {
            let byte = if big { b[i] } else { b[ptr - 1 - i] };
            v = (v << 8) | u64::from(byte);
        }
        usize::try_from(v).ok()
    };
    let mut from = 0;
    while let Some(pos) = find(&bin[from..], b"/lib").map(|p| p + from) {
        from = pos + 1;
        let mut dirs = Vec::new();
        let mut at = pos;
        while let Some(len) = bin[at..].iter().position(|&b| b == 0) {
            let s = &bin[at..at + len];
            if len < 2
                || s[0] != b'/'
                || s[len - 1] != b'/'
                || !s.iter().all(|b| b.is_ascii_graphic())
            {
                break;
            }
            dirs.push(String::from_utf8_lossy(s).into_owned());
            at += len + 1;
        }
        if dirs.len() < 2 {
            continue;
        }
        let table_at = |table: usize| {
            dirs.iter()
                .enumerate()
                .all(|(i, d)| word(table + i * ptr) == Some(d.len()))
        };
        if pos >= ptr * dirs.len() && table_at(pos - ptr * dirs.len()) {
            return Some(dirs);
        }
        // After the strings: `at` is just past the last NUL; only zero bytes may lie
        // between it and an aligned table (padding to at most 16 bytes' alignment).
        let end = at;
        let after = (end..end + 16 + ptr)
            .filter(|t| t % ptr == 0)
            .take_while(|&t| {
                bin.get(end..t)
                    .is_some_and(|pad| pad.iter().all(|&b| b == 0))
            })
            .find(|&t| table_at(t));
        if after.is_some() {
            return Some(dirs);
        }
    }
    None
}

/// `DL_DST_LIB`: glibc keeps the DST names and `$LIB`'s value side by side.
fn dst_lib_in(bin: &[u8]) -> Option<String> {
    let key = b"ORIGIN\0PLATFORM\0LIB\0";
    let at = find(bin, key)? + key.len();
    let len = bin[at..].iter().position(|&b| b == 0)?;
    let s = std::str::from_utf8(&bin[at..at + len]).ok()?;
    (s.starts_with("lib") && !s.contains(' ')).then(|| s.to_owned())
}

/// "release version 2.36" in the loader's banner.
fn glibc_version_in(bin: &[u8]) -> Option<(u32, u32)> {
    let key = b"release version ";
    let at = find(bin, key)? + key.len();
    let rest = &bin[at..bin.len().min(at + 16)];
    let s: String = rest
        .iter()
        .take_while(|b| b.is_ascii_digit() || **b == b'.')
        .map(|&b| b as char)
        .collect();
    let mut it = s.split('.');
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// A fact found by `find` in the loader's `.rodata`, else in the whole file.
fn in_loader<T>(
    rodata: Option<&[u8]>,
    whole: Option<&[u8]>,
    find: impl Fn(&[u8]) -> Option<T>,
) -> Option<T> {
    rodata.and_then(&find).or_else(|| whole.and_then(&find))
}

/// The loader's `.rodata` (24 KiB for glibc 2.36) is scanned a few times per run. Two-Way
/// is linear and needs no run-time CPU detection (see [`name::until_nul`]); a vector search
/// would save nothing at this size.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::arch::all::twoway::Finder::new(needle).find(hay, needle)
}

/// musl (`ldso/dynlink.c`): the path file is `<prefix>/etc/ld-musl-<arch>.path`, where the
/// prefix is the interpreter's path minus its last two components; without it the default
/// is `/lib:/usr/local/lib:/usr/lib`. Entries are separated by `:` or newlines.
fn musl_facts(
    root: &Root,
    interpreter: &str,
    base: &str,
    machine: u16,
    class: Class,
    data: Data,
) -> LoaderFacts {
    let arch_name = base
        .trim_start_matches("ld-musl-")
        .trim_end_matches(".so.1");
    let interp = name::to_path(interpreter);
    let prefix = interp
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("/"));
    let path_file = prefix.join(format!("etc/ld-musl-{arch_name}.path"));
    let musl_path = match root.read(&path_file) {
        Ok(bytes) => name::encode(&bytes)
            .split([':', '\n'])
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Err(crate::Error::NotFound { .. }) => {
            vec![
                "/lib".to_owned(),
                "/usr/local/lib".to_owned(),
                "/usr/lib".to_owned(),
            ]
        }
        // musl: a path file that exists but cannot be read gives an empty path.
        Err(_) => Vec::new(),
    };
    LoaderFacts {
        flavor: Flavor::Musl,
        machine,
        class,
        data,
        e_flags: 0,
        interpreter: interpreter.to_owned(),
        system_dirs: Vec::new(),
        lib: String::new(),
        platform: None,
        hwcaps: Vec::new(),
        legacy_subdirs: Vec::new(),
        legacy_hwcap: 0,
        subdirs: Vec::new(),
        vdso: None,
        glibc_version: None,
        source: FactsSource::LoaderBinary,
        musl_path,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The facts read from `.rodata` are the whole file's, on every loader at hand.
    #[test]
    fn loader_facts_are_in_rodata() {
        let mut seen = 0;
        for (path, ptr, big) in [
            ("/lib64/ld-linux-x86-64.so.2", 8, false),
            ("/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1", 8, false),
            ("/usr/s390x-linux-gnu/lib/ld64.so.1", 8, true),
            ("/usr/powerpc-linux-gnu/lib/ld.so.1", 4, true),
            ("/usr/lib32/ld-linux.so.2", 4, false),
        ] {
            let Ok(whole) = std::fs::read(path) else {
                println!("SKIPPED loader_facts_are_in_rodata: no {path}");
                continue;
            };
            let rodata = depclose_elf::section_bytes(&whole, ".rodata").unwrap();
            let dirs = system_dirs_in(&whole, ptr, big);
            assert!(dirs.is_some(), "{path}");
            assert_eq!(system_dirs_in(rodata, ptr, big), dirs, "{path}");
            assert_eq!(dst_lib_in(rodata), dst_lib_in(&whole), "{path}");
            assert!(glibc_version_in(&whole).is_some(), "{path}");
            assert_eq!(glibc_version_in(rodata), glibc_version_in(&whole), "{path}");
            seen += 1;
        }
        println!("loader_facts_are_in_rodata: {seen} loaders");
    }

    #[test]
    fn system_dirs_need_their_length_table() {
        let mut bin = vec![0u8; 8];
        bin.extend_from_slice(&5u64.to_le_bytes());
        bin.extend_from_slice(&9u64.to_le_bytes());
        bin.extend_from_slice(b"/lib/\0/usr/lib/\0\0");
        assert_eq!(
            system_dirs_in(&bin, 8, false),
            Some(vec!["/lib/".to_owned(), "/usr/lib/".to_owned()])
        );
        bin[8] = 6;
        assert_eq!(system_dirs_in(&bin, 8, false), None);
    }

    /// bookworm's arm64 `ld-linux-aarch64.so.1` (glibc 2.36-9+deb12u14) keeps the lengths
    /// after the strings: these 16-aligned bytes at file offset 0x1d040, strings, 12 zero
    /// bytes, then 0x17, 0x1b, 5, 9 as 64-bit words. The loader's own
    /// `--list-diagnostics` (run under qemu) prints exactly these four `path.system_dirs`.
    #[test]
    fn system_dirs_length_table_may_follow_the_strings() {
        let dirs = [
            "/lib/aarch64-linux-gnu/",
            "/usr/lib/aarch64-linux-gnu/",
            "/lib/",
            "/usr/lib/",
        ];
        let mut bin = vec![0xd6u8; 16];
        for d in dirs {
            bin.extend_from_slice(d.as_bytes());
            bin.push(0);
        }
        while bin.len() % 16 != 0 {
            bin.push(0);
        }
        for d in dirs {
            bin.extend_from_slice(&(d.len() as u64).to_le_bytes());
        }
        bin.extend_from_slice(b"\x7fELF");
        let want: Vec<String> = dirs.iter().map(|d| (*d).to_owned()).collect();
        assert_eq!(system_dirs_in(&bin, 8, false), Some(want.clone()));
        // The same with 32-bit big-endian words right after the strings.
        let mut be = vec![0xffu8; 4];
        for d in dirs {
            be.extend_from_slice(d.as_bytes());
            be.push(0);
        }
        while be.len() % 4 != 0 {
            be.push(0);
        }
        for d in dirs {
            be.extend_from_slice(&(d.len() as u32).to_be_bytes());
        }
        assert_eq!(system_dirs_in(&be, 4, true), Some(want));
        // A wrong length, or non-zero bytes between the strings and the table: no match.
        let mut wrong = bin.clone();
        let table = wrong.len() - 4 - 4 * 8;
        wrong[table + 8] = 0x1c;
        assert_eq!(system_dirs_in(&wrong, 8, false), None);
        let mut gap = bin.clone();
        gap[table - 1] = 1;
        assert_eq!(system_dirs_in(&gap, 8, false), None);
    }
}
