//! Every fixture ELF file and a few host files, damaged in many ways, fed to both readers
//! (the loader's view, `parse_bytes`, and what an audit reads, `audit_facts` and the
//! tables) and to the section lookup the resolver reads a loader's facts through:
//! truncated at many offsets, bytes flipped by a fixed-seed generator, and header, program
//! header, dynamic and section fields set to absurd counts and offsets. Each must give a
//! value or an error — no panic — quickly, and within a bounded address space: the
//! mutations run in a child process (this test binary again) under `RLIMIT_AS`, so that
//! an allocation sized by a damaged count fails the test instead of the machine.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use depclose_elf::{audit_facts_of_bytes, parse_bytes, section_bytes, tables_of_bytes};

/// Set in the child that runs the mutations.
const CHILD: &str = "DEPCLOSE_ELF_MUTATIONS_CHILD";

/// The child's address space: its binary, the inputs and the test harness fit many times
/// over; a count taken at its word (a `Vec` of 2^32 symbols) does not.
const ADDRESS_SPACE: u64 = 1 << 30;

/// One damaged input, through every reader. Generous for unoptimised code; the readers
/// take microseconds to a few milliseconds on these files.
const BOUND: Duration = Duration::from_millis(200);

const HOST_FILES: &[&str] = &[
    "/usr/bin/true",
    "/usr/bin/env",
    "/lib/x86_64-linux-gnu/libz.so.1",
    // The resolver reads its facts from the loader's `.rodata`.
    "/lib64/ld-linux-x86-64.so.2",
];

#[test]
fn damaged_elf_files_are_errors_within_bounds() {
    if std::env::var_os(CHILD).is_none() {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "damaged_elf_files_are_errors_within_bounds",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the mutations failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // The child ran the mutations, not nothing.
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("mutated inputs"), "{stdout}");
        return;
    }
    let limit = libc::rlimit {
        rlim_cur: ADDRESS_SPACE,
        rlim_max: ADDRESS_SPACE,
    };
    // SAFETY: setrlimit reads the struct it is given; nothing else is shared.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) }, 0);
    let files = files();
    assert!(
        files.len() > 50,
        "fixtures/scenarios holds {} ELF files",
        files.len()
    );
    let mut inputs = 0;
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        for damaged in mutations(&bytes) {
            inputs += 1;
            let start = Instant::now();
            let _ = parse_bytes(file, &damaged);
            let _ = audit_facts_of_bytes(file, &damaged);
            let _ = tables_of_bytes(file, &damaged);
            let _ = section_bytes(&damaged, ".rodata");
            let took = start.elapsed();
            assert!(took < BOUND, "{}: a mutation took {took:?}", file.display());
        }
    }
    println!("{inputs} mutated inputs of {} files", files.len());
}

/// The ELF files of fixtures/scenarios and the host files this machine has.
fn files() -> Vec<PathBuf> {
    let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/scenarios");
    let mut out = Vec::new();
    let mut pending = vec![scenarios];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let ft = entry.file_type().unwrap();
            if ft.is_dir() {
                pending.push(entry.path());
            } else if ft.is_file() && std::fs::read(entry.path()).unwrap().starts_with(b"\x7fELF") {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    out.extend(HOST_FILES.iter().map(PathBuf::from).filter(|p| p.is_file()));
    out
}

/// xorshift64*: a fixed sequence, the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Values a damaged count or offset takes: the largest of each width, just past the file,
/// and large enough to overflow a multiplication by an entry size.
fn absurd(len: usize) -> [u64; 6] {
    [
        u64::MAX,
        u64::from(u32::MAX),
        0x8000_0000,
        len as u64,
        len as u64 + 1,
        1 << 40,
    ]
}

/// The ways `bytes` is damaged.
fn mutations(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    // Truncations: every length through the headers, then steps through the rest.
    let mut cuts: Vec<usize> = (0..bytes.len().min(256)).step_by(3).collect();
    cuts.extend((256..bytes.len()).step_by((bytes.len() / 64).max(1)));
    out.extend(cuts.into_iter().map(|n| bytes[..n].to_vec()));
    // Byte flips, a few at a time, most of them in the first 4 KiB (headers and tables).
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ bytes.len() as u64);
    for _ in 0..64 {
        let mut b = bytes.to_vec();
        for _ in 0..1 + rng.below(4) {
            let span = if rng.below(4) == 0 {
                b.len()
            } else {
                b.len().min(4096)
            };
            let at = rng.below(span);
            b[at] ^= 1 << rng.below(8);
        }
        out.push(b);
    }
    if let Some(elf) = Layout::of(bytes) {
        for field in elf.fields(bytes) {
            for value in absurd(bytes.len()) {
                let mut b = bytes.to_vec();
                elf.put(&mut b, field, value);
                out.push(b);
            }
        }
    }
    out
}

/// Where the fields are, in the file's class and byte order.
struct Layout {
    elf64: bool,
    little: bool,
}

/// A field: its offset and width in bytes.
type Field = (usize, usize);

/// `d_tag`s whose values are damaged: `DT_NEEDED`, `DT_STRTAB`, `DT_STRSZ`, `DT_SYMTAB`,
/// `DT_VERNEED`, `DT_VERNEEDNUM`, `DT_VERSYM`, `DT_GNU_HASH`, `DT_HASH`.
const DAMAGED_TAGS: &[u64] = &[
    1,
    5,
    10,
    6,
    0x6fff_fffe,
    0x6fff_ffff,
    0x6fff_fff0,
    0x6fff_fef5,
    4,
];
/// `sh_type`s whose size and offset are damaged: `SHT_DYNSYM`, `SHT_GNU_verneed`,
/// `SHT_GNU_verdef`, `SHT_GNU_versym`, `SHT_STRTAB`, `SHT_NOTE`.
const DAMAGED_SECTIONS: &[u64] = &[11, 0x6fff_fffe, 0x6fff_fffd, 0x6fff_ffff, 3, 7];
const PT_DYNAMIC: u64 = 2;

impl Layout {
    fn of(bytes: &[u8]) -> Option<Layout> {
        let elf64 = match bytes.get(4)? {
            1 => false,
            2 => true,
            _ => return None,
        };
        let little = *bytes.get(5)? == 1;
        Some(Layout { elf64, little })
    }

    /// The width of an address or offset.
    fn word(&self) -> usize {
        if self.elf64 { 8 } else { 4 }
    }

    fn get(&self, bytes: &[u8], (at, width): Field) -> Option<u64> {
        let mut v = [0u8; 8];
        let src = bytes.get(at..at.checked_add(width)?)?;
        if self.little {
            v[..width].copy_from_slice(src);
            Some(u64::from_le_bytes(v))
        } else {
            v[8 - width..].copy_from_slice(src);
            Some(u64::from_be_bytes(v))
        }
    }

    /// Write `value`, cut to the field's width; a field past the end is left alone.
    fn put(&self, bytes: &mut [u8], (at, width): Field, value: u64) {
        let Some(dst) = bytes.get_mut(at..at + width) else {
            return;
        };
        if self.little {
            dst.copy_from_slice(&value.to_le_bytes()[..width]);
        } else {
            dst.copy_from_slice(&value.to_be_bytes()[8 - width..]);
        }
    }

    /// The fields to damage: `e_phoff`, `e_shoff`, `e_phnum`, `e_shnum`; each program
    /// header's `p_offset` and `p_filesz`; the values of [`DAMAGED_TAGS`] in the dynamic
    /// segment; `sh_offset` and `sh_size` of the sections of [`DAMAGED_SECTIONS`].
    fn fields(&self, bytes: &[u8]) -> Vec<Field> {
        let w = self.word();
        // (e_phoff, e_shoff, e_phnum, e_shnum) and the entry layouts of each class.
        let (phoff, shoff, phnum, shnum) = if self.elf64 {
            (0x20, 0x28, 0x38, 0x3c)
        } else {
            (0x1c, 0x20, 0x2c, 0x30)
        };
        let mut out = vec![(phoff, w), (shoff, w), (phnum, 2), (shnum, 2)];
        let (ph_size, p_offset, p_filesz) = if self.elf64 { (56, 8, 32) } else { (32, 4, 16) };
        let (sh_size_of, sh_offset, sh_size) = if self.elf64 {
            (64, 24, 32)
        } else {
            (40, 16, 20)
        };
        let count = |f: Field| self.get(bytes, f).and_then(|n| usize::try_from(n).ok());
        let ph_start = count((phoff, w)).unwrap_or(usize::MAX);
        for i in 0..count((phnum, 2)).unwrap_or(0) {
            let Some(ph) = ph_start.checked_add(i * ph_size) else {
                break;
            };
            out.push((ph + p_offset, w));
            out.push((ph + p_filesz, w));
            if self.get(bytes, (ph, 4)) == Some(PT_DYNAMIC) {
                out.extend(self.dynamic_values(bytes, ph, p_offset, p_filesz));
            }
        }
        let sh_start = count((shoff, w)).unwrap_or(usize::MAX);
        for i in 0..count((shnum, 2)).unwrap_or(0) {
            let Some(sh) = sh_start.checked_add(i * sh_size_of) else {
                break;
            };
            if self
                .get(bytes, (sh + 4, 4))
                .is_some_and(|t| DAMAGED_SECTIONS.contains(&t))
            {
                out.push((sh + sh_offset, w));
                out.push((sh + sh_size, w));
            }
        }
        out
    }

    /// The `d_val` fields of [`DAMAGED_TAGS`] in the dynamic segment whose program header is
    /// at `ph`.
    fn dynamic_values(
        &self,
        bytes: &[u8],
        ph: usize,
        p_offset: usize,
        p_filesz: usize,
    ) -> Vec<Field> {
        let w = self.word();
        let (Some(start), Some(size)) = (
            self.get(bytes, (ph + p_offset, w)),
            self.get(bytes, (ph + p_filesz, w)),
        ) else {
            return Vec::new();
        };
        let (start, size) = (start as usize, size as usize);
        (start..start.saturating_add(size))
            .step_by(2 * w)
            .filter(|&at| {
                self.get(bytes, (at, w))
                    .is_some_and(|t| DAMAGED_TAGS.contains(&t))
            })
            .map(|at| (at + w, w))
            .collect()
    }
}
