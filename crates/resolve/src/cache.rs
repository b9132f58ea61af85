//! Read, search and write glibc's `/etc/ld.so.cache`, exactly as glibc 2.36 and current
//! upstream do.
//!
//! Sources (read, not copied): `sysdeps/generic/dl-cache.h` (layout, extension sections),
//! `elf/dl-cache.c` (`_dl_load_cache_lookup`, `search_cache`, `_dl_cache_libcmp`),
//! `sysdeps/unix/sysv/linux/*/dl-cache.h` and `sysdeps/x86_64/dl-cache.h` (accepted flags per
//! architecture), `sysdeps/x86/dl-isa-level.h` (ISA level check), `elf/dl-hwcaps.c`
//! (glibc-hwcaps priorities), and the writer in ldconfig, `elf/cache.c` (`compare`,
//! `save_cache`) with `elf/stringtable.c` (`stringtable_finalize`).
//!
//! Keys and values are `String`s: the rest of depclose handles sonames and paths as UTF-8
//! (`depclose-elf` returns `String`s), and a cache holding a non-UTF-8 string is reported as
//! [`CacheError::NotUtf8`] rather than silently altered.

use std::cmp::Ordering;
use std::collections::BTreeSet;

/// `CACHEMAGIC` in `sysdeps/generic/dl-cache.h`: the libc5 / glibc 2.0 format.
const OLD_MAGIC: &[u8] = b"ld.so-1.7.0";
/// `CACHEMAGIC_VERSION_NEW`: `"glibc-ld.so.cache"` followed by `CACHE_VERSION` `"1.1"`.
const NEW_MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
/// `sizeof (struct cache_file)`: the 11-byte magic, padding, `nlibs`.
const OLD_HEADER_SIZE: usize = 16;
/// `sizeof (struct file_entry)`: `flags`, `key`, `value`.
const OLD_ENTRY_SIZE: usize = 12;
/// `sizeof (struct cache_file_new)`, checked by a `_Static_assert` in `dl-cache.h`.
const NEW_HEADER_SIZE: usize = 48;
/// `sizeof (struct file_entry_new)`: `flags`, `key`, `value`, `osversion_unused`, `hwcap`.
const NEW_ENTRY_SIZE: usize = 24;
/// `__alignof__ (struct cache_file_new)` on 64-bit targets (it holds a `uint64_t`), used by
/// `ALIGN_CACHE` to find the new header inside an old-format file. ldconfig rounds the old
/// entry count up to even in that layout, so 32-bit loaders find it at the same place.
const NEW_HEADER_ALIGN: usize = 8;
/// `cache_extension_magic`, "randomly chosen" as `(uint32_t) -358342284`.
const EXTENSION_MAGIC: u32 = 0xEAA4_2174;
/// `cache_extension_tag_generator`: bytes naming the program that wrote the cache.
const TAG_GENERATOR: u32 = 0;
/// `cache_extension_tag_glibc_hwcaps`: `uint32_t` string offsets of the subdirectory names.
const TAG_GLIBC_HWCAPS: u32 = 1;
/// `cache_file_new_flags_endian_*` in the new header's `flags` byte.
const ENDIAN_INVALID: u8 = 1;
const ENDIAN_LITTLE: u8 = 2;
const ENDIAN_BIG: u8 = 3;
const ENDIAN_MASK: u8 = 3;

/// `DL_CACHE_HWCAP_EXTENSION`: "the lower 32 bits contain an index into the
/// cache_extension_tag_glibc_hwcaps section".
pub const HWCAP_EXTENSION: u64 = 1 << 62;
/// `DL_CACHE_HWCAP_ISA_LEVEL_MASK`: the ISA level is stored in bits 32..42 of `hwcap`.
const ISA_LEVEL_MASK: u64 = (1 << 10) - 1;
/// `_DL_HWCAP_TLS_MASK` in glibc 2.36 `search_cache`: never excluded by the legacy filter.
const HWCAP_TLS_MASK: u64 = 1 << 63;

/// `FLAG_ELF_LIBC6` in `sysdeps/generic/ldconfig.h`: the type byte of every glibc library.
const FLAG_ELF_LIBC6: i32 = 0x0003;
/// `FLAG_ELF`: generic ELF, accepted by the generic `_dl_cache_check_flags`.
const FLAG_ELF: i32 = 0x0001;

/// `EM_*` machine numbers from `elf.h`.
const EM_MIPS: u16 = 8;
const EM_PPC64: u16 = 21;
const EM_S390: u16 = 22;
const EM_ARM: u16 = 40;
const EM_SPARCV9: u16 = 43;
const EM_IA_64: u16 = 50;
const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;
const EM_RISCV: u16 = 243;
const EM_LOONGARCH: u16 = 258;

/// `e_flags` bits from `elf.h` that select an ABI, hence a loader and its cache flags.
const EF_ARM_ABI_FLOAT_HARD: u32 = 0x400;
const EF_MIPS_ABI2: u32 = 0x20;
const EF_MIPS_NAN2008: u32 = 0x400;
const EF_RISCV_FLOAT_ABI: u32 = 0x6;
const EF_RISCV_FLOAT_ABI_DOUBLE: u32 = 0x4;
const EF_LARCH_ABI_MODIFIER_MASK: u32 = 0x7;
const EF_LARCH_ABI_DOUBLE_FLOAT: u32 = 0x3;

/// Why a cache could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// Neither `"ld.so-1.7.0"` nor `"glibc-ld.so.cache1.1"` at the start of the file.
    #[error("not an ld.so.cache: no \"ld.so-1.7.0\" or \"glibc-ld.so.cache1.1\" magic")]
    BadMagic,
    /// A structure extends past the end of the file.
    #[error("truncated ld.so.cache: {what} needs {needed} bytes, the file has {len}")]
    Truncated {
        what: &'static str,
        needed: u64,
        len: usize,
    },
    /// The new header's endianness is "invalid" (1), which glibc's
    /// `cache_file_new_matches_endian` rejects.
    #[error("ld.so.cache header marks the cache as invalid (endianness flag 1)")]
    InvalidEndian,
    /// A string offset points outside the file, or the string has no terminating NUL.
    #[error("ld.so.cache string at offset {offset} is outside the file or not NUL-terminated")]
    BadString { offset: u64 },
    /// A string is not UTF-8 (see the module documentation).
    #[error("ld.so.cache string at offset {offset} is not UTF-8")]
    NotUtf8 { offset: u64 },
    /// The extension directory fails a check of `cache_extension_load`.
    #[error("ld.so.cache extension directory at offset {offset}: {reason}")]
    BadExtension { offset: u32, reason: &'static str },
    /// [`write()`]: a key, value or subdirectory name contains a NUL byte.
    #[error("cannot write {0:?} into an ld.so.cache: it contains a NUL byte")]
    NulInString(String),
    /// [`write()`]: the cache would not fit the format's 32-bit offsets and counts.
    #[error("ld.so.cache would exceed the format's 32-bit offsets")]
    TooLarge,
}

/// The byte order of a cache (`cache_file_new_flags_endian_little` / `_big`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    Little,
    Big,
}

impl ByteOrder {
    /// The order of the machine running depclose. glibc reads a cache whose header does not
    /// say (old format, or `cache_file_new_flags_endian_unset`) in the loader's own order.
    fn host() -> ByteOrder {
        if cfg!(target_endian = "big") {
            ByteOrder::Big
        } else {
            ByteOrder::Little
        }
    }

    fn other(self) -> ByteOrder {
        match self {
            ByteOrder::Little => ByteOrder::Big,
            ByteOrder::Big => ByteOrder::Little,
        }
    }
}

/// Which of the three layouts `_dl_load_cache_lookup` accepts a file has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheFormat {
    /// Only the libc5 / glibc 2.0 `"ld.so-1.7.0"` table (12-byte entries, no hwcap).
    Old,
    /// Only the `"glibc-ld.so.cache1.1"` table (ldconfig's default since glibc 2.32).
    New,
    /// The old table with the new one hidden in its string area; glibc uses the new one.
    OldWithNew,
}

/// One `struct file_entry_new` (or `struct file_entry`) of the cache.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheEntry {
    /// The soname the loader looks up.
    pub key: String,
    /// The path the loader opens.
    pub value: String,
    /// Low byte: library type (`FLAG_ELF_LIBC6` = 3); high byte: ABI (`FLAG_X8664_LIB64`
    /// = 0x300, ...), `sysdeps/generic/ldconfig.h`.
    pub flags: i32,
    /// Bit 62 (`DL_CACHE_HWCAP_EXTENSION`) with ISA level in bits 32..42 and a glibc-hwcaps
    /// section index in the low 32 bits; else legacy hwcap bits (glibc ≤ 2.36 ldconfig).
    /// Always 0 in the old format.
    pub hwcap: u64,
    /// The glibc-hwcaps subdirectory name (`"x86-64-v3"`) of an extension entry, as
    /// ldconfig's `glibc_hwcaps_string` finds it; `None` for other entries.
    pub hwcaps_subdir: Option<String>,
}

impl CacheEntry {
    /// `dl_cache_hwcap_extension`: only bit 62 is set in the upper half, "ignoring the lower
    /// 32 bits as well as the ISA level bits".
    fn is_hwcaps_extension(&self) -> bool {
        (self.hwcap >> 32) & !ISA_LEVEL_MASK == HWCAP_EXTENSION >> 32
    }
}

/// Which cache entry flags a loader accepts: `_dl_cache_check_flags` and
/// `_DL_CACHE_DEFAULT_ID` from the architecture's `dl-cache.h`.
///
/// An entry is usable if its flags equal `default_id` or `alternative`. Only an entry equal to
/// `default_id` ends the scan of equal keys in `search_cache` ("if the flags match, no better
/// entry will be found").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AcceptFlags {
    /// `_DL_CACHE_DEFAULT_ID`.
    pub default_id: i32,
    /// The second value the check admits, if any: `1` (`FLAG_ELF`) in the generic
    /// `sysdeps/generic/dl-cache.h`, `FLAG_ARM_LIBHF|FLAG_ELF_LIBC6` or
    /// `FLAG_ARM_LIBSF|FLAG_ELF_LIBC6` on ARM, whose default id stays the generic 3.
    pub alternative: Option<i32>,
}

impl AcceptFlags {
    /// `sysdeps/generic/dl-cache.h`: `(flags) == 1 || (flags) == _DL_CACHE_DEFAULT_ID` with
    /// default id 3. Used by i386, 32-bit powerpc/s390/sparc, MIPS o32 with legacy NaN, every
    /// port without its own `dl-cache.h`, and LoongArch before glibc 2.38.
    pub const GENERIC: AcceptFlags = AcceptFlags {
        default_id: FLAG_ELF_LIBC6,
        alternative: Some(FLAG_ELF),
    };

    /// A loader whose check is `(flags) == _DL_CACHE_DEFAULT_ID`.
    const fn only(default_id: i32) -> AcceptFlags {
        AcceptFlags {
            default_id,
            alternative: None,
        }
    }

    /// `_dl_cache_check_flags (flags)`.
    pub fn accepts(&self, flags: i32) -> bool {
        flags == self.default_id || self.alternative == Some(flags)
    }
}

/// The cache flags accepted by the glibc loader that runs a program with this ELF header
/// (`e_machine`, `EI_CLASS == ELFCLASS64`, `e_flags`), per the `dl-cache.h` of that port.
///
/// The float ABI in `e_flags` picks the loader on ARM (`EF_ARM_ABI_FLOAT_HARD` → the
/// `__ARM_PCS_VFP` build), MIPS (`EF_MIPS_ABI2` → n32, `EF_MIPS_NAN2008`), RISC-V and
/// LoongArch (double float → the double-float build, anything else → the soft-float id, as
/// the `#else` branches of their headers do). LoongArch returns the glibc ≥ 2.38 ids; glibc
/// 2.36 and 2.37 had no LoongArch `dl-cache.h` and use [`AcceptFlags::GENERIC`]. IA-64
/// (`0x203`) was removed in glibc 2.38. Returns `None` for 32-bit AArch64 (ILP32), which has
/// no glibc loader. Machines without their own header get the generic rule.
pub fn accept_flags_for(machine: u16, class64: bool, e_flags: u32) -> Option<AcceptFlags> {
    // The ABI byte (`FLAG_*` in sysdeps/generic/ldconfig.h) or'ed with FLAG_ELF_LIBC6.
    let abi = |flag: i32| Some(AcceptFlags::only(flag | FLAG_ELF_LIBC6));
    match (machine, class64) {
        (EM_X86_64, true) => abi(0x0300),  // FLAG_X8664_LIB64
        (EM_X86_64, false) => abi(0x0800), // FLAG_X8664_LIBX32
        (EM_AARCH64, true) => abi(0x0a00), // FLAG_AARCH64_LIB64
        (EM_AARCH64, false) => None,
        (EM_PPC64, true) => abi(0x0500), // FLAG_POWERPC_LIB64, both byte orders
        (EM_S390, true) => abi(0x0400),  // FLAG_S390_LIB64
        (EM_SPARCV9, true) => abi(0x0100), // FLAG_SPARC_LIB64
        (EM_IA_64, true) => abi(0x0200), // FLAG_IA64_LIB64
        (EM_ARM, false) => Some(AcceptFlags {
            default_id: FLAG_ELF_LIBC6,
            alternative: Some(
                if e_flags & EF_ARM_ABI_FLOAT_HARD != 0 {
                    0x0900 // FLAG_ARM_LIBHF
                } else {
                    0x0b00 // FLAG_ARM_LIBSF
                } | FLAG_ELF_LIBC6,
            ),
        }),
        (EM_MIPS, _) => {
            let nan2008 = e_flags & EF_MIPS_NAN2008 != 0;
            match (class64, e_flags & EF_MIPS_ABI2 != 0, nan2008) {
                (true, _, false) => abi(0x0700),     // FLAG_MIPS64_LIBN64
                (true, _, true) => abi(0x0e00),      // FLAG_MIPS64_LIBN64_NAN2008
                (false, true, false) => abi(0x0600), // FLAG_MIPS64_LIBN32
                (false, true, true) => abi(0x0d00),  // FLAG_MIPS64_LIBN32_NAN2008
                (false, false, true) => abi(0x0c00), // FLAG_MIPS_LIB32_NAN2008
                (false, false, false) => Some(AcceptFlags::GENERIC),
            }
        }
        (EM_RISCV, _) => {
            if e_flags & EF_RISCV_FLOAT_ABI == EF_RISCV_FLOAT_ABI_DOUBLE {
                abi(0x1000) // FLAG_RISCV_FLOAT_ABI_DOUBLE
            } else {
                abi(0x0f00) // FLAG_RISCV_FLOAT_ABI_SOFT
            }
        }
        (EM_LOONGARCH, _) => {
            if e_flags & EF_LARCH_ABI_MODIFIER_MASK == EF_LARCH_ABI_DOUBLE_FLOAT {
                abi(0x1200) // FLAG_LARCH_FLOAT_ABI_DOUBLE
            } else {
                abi(0x1100) // FLAG_LARCH_FLOAT_ABI_SOFT
            }
        }
        // i386, 32-bit powerpc, s390 and sparc, and every other port.
        _ => Some(AcceptFlags::GENERIC),
    }
}

/// How `search_cache` treats entries with a non-zero hwcap that is not a glibc-hwcaps
/// extension (written by ldconfig ≤ 2.36 for `tls/`, AT_PLATFORM and legacy hwcap
/// subdirectories).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LegacyHwcaps {
    /// glibc ≥ 2.37: "Skip entries with the legacy hwcap/platform mechanism which was
    /// removed with glibc 2.37."
    Removed,
    /// glibc 2.36 `search_cache`: skip an entry if its hwcap has a bit outside
    /// `hwcap | platform_mask | 1 << 63`; then skip any entry (extension entries too) whose
    /// platform bits are non-zero and differ from `1 << platform` (all ones if `None`).
    Glibc236 {
        /// `GLRO(dl_hwcap) & GET_HWCAP_MASK()` (`ld.so --list-diagnostics` prints
        /// `dl_hwcap` and `dl_hwcap_important`; x86_64 computes `dl_hwcap` itself).
        hwcap: u64,
        /// `_DL_HWCAP_PLATFORM` of the port; 0 where `_DL_PLATFORMS_COUNT` is 0 (generic,
        /// arm, aarch64, sparc); `0xf << 48` on x86_64.
        platform_mask: u64,
        /// `_dl_string_platform (GLRO (dl_platform))` when it is not -1: the bit number of
        /// AT_PLATFORM among the port's known platforms.
        platform: Option<u32>,
    },
}

/// What the requesting loader is: its accepted flags and its glibc-hwcaps state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheQuery<'a> {
    /// The accepted flags, usually from [`accept_flags_for`].
    pub accept: AcceptFlags,
    /// The active glibc-hwcaps subdirectories, best first, as `_dl_important_hwcaps` builds
    /// them: `--glibc-hwcaps-prepend` names, then the port's `_dl_hwcaps_subdirs` that the CPU
    /// supports and `--glibc-hwcaps-mask` keeps (x86_64: `x86-64-v4`, `x86-64-v3`,
    /// `x86-64-v2`). Empty: no extension entry is used.
    pub hwcaps: &'a [String],
    /// x86 only: the CPU's `cpu_features->isa_1` (`GNU_PROPERTY_X86_ISA_1_BASELINE` = 1, V2
    /// = 2, V3 = 4, V4 = 8; `x86.cpu_features.isa_1` in `ld.so --list-diagnostics`). An
    /// extension entry whose ISA level the CPU lacks is skipped (`sysdeps/x86/dl-isa-level.h`).
    /// `None` on other ports, whose `dl_cache_hwcap_isa_level_compatible` is always true.
    pub x86_isa_1: Option<u32>,
    /// The treatment of legacy hwcap entries, which differs between glibc 2.36 and later.
    pub legacy_hwcaps: LegacyHwcaps,
}

/// A parsed `ld.so.cache`: the table glibc would search, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdCache {
    format: CacheFormat,
    byte_order: ByteOrder,
    entries: Vec<CacheEntry>,
    /// The `cache_extension_tag_glibc_hwcaps` section, resolved to names, in file order
    /// (ldconfig sorts it by `strcmp`); empty if absent or dropped by
    /// `cache_extension_verify`.
    hwcaps_section: Vec<String>,
    generator: Option<String>,
}

impl LdCache {
    /// Parse a cache file the way `_dl_load_cache_lookup` accepts it: new format at offset
    /// 0, else old format with the new one at the `ALIGN_CACHE`d end of the old entries
    /// (preferred when present), else old format alone.
    ///
    /// glibc checks lazily and ignores what it never reads; this parser checks every entry,
    /// string and extension section up front and returns an error for anything the loader
    /// or `ldconfig -p` would reject or read out of bounds. The byte order comes from the new
    /// header's flags; where the file does not say (old format, flags 0), the host order is
    /// tried first as glibc does, then the other one, so a foreign cache still parses.
    pub fn parse(bytes: &[u8]) -> Result<LdCache, CacheError> {
        if bytes.starts_with(NEW_MAGIC) {
            return parse_new(bytes, 0, CacheFormat::New);
        }
        if !bytes.starts_with(OLD_MAGIC) {
            return Err(CacheError::BadMagic);
        }
        let mut last_err = None;
        for order in [ByteOrder::host(), ByteOrder::host().other()] {
            let nlibs = Reader { bytes, order }.u32(OLD_MAGIC.len() + 1, "old header")?;
            let entries_end = (nlibs as u64) * OLD_ENTRY_SIZE as u64 + OLD_HEADER_SIZE as u64;
            if entries_end > bytes.len() as u64 {
                last_err = Some(CacheError::Truncated {
                    what: "old-format entries",
                    needed: entries_end,
                    len: bytes.len(),
                });
                continue;
            }
            let entries_end = entries_end as usize;
            let new_at = entries_end.next_multiple_of(NEW_HEADER_ALIGN);
            if bytes.len() >= new_at + NEW_HEADER_SIZE && bytes[new_at..].starts_with(NEW_MAGIC) {
                return parse_new(bytes, new_at, CacheFormat::OldWithNew);
            }
            return parse_old(bytes, order, nlibs as usize, entries_end);
        }
        Err(last_err.unwrap_or(CacheError::BadMagic))
    }

    /// The entries in file order (`ldconfig -p` order: descending by `_dl_cache_libcmp`).
    pub fn entries(&self) -> &[CacheEntry] {
        &self.entries
    }

    /// The layout the entries were read from.
    pub fn format(&self) -> CacheFormat {
        self.format
    }

    /// The byte order of the cache (the host order for old-only caches that fit it).
    pub fn byte_order(&self) -> ByteOrder {
        self.byte_order
    }

    /// The `cache_extension_tag_generator` text, e.g. `ldconfig (GNU libc) stable release
    /// version 2.36` (non-UTF-8 bytes replaced: it is informational only).
    pub fn generator(&self) -> Option<&str> {
        self.generator.as_deref()
    }

    /// The entry `_dl_load_cache_lookup (name)` returns, following `search_cache`
    /// (glibc 2.36 and upstream) step by step: binary search by `_dl_cache_libcmp` from
    /// `(left + right) / 2`, back up to the first equal key, then scan the equal keys:
    /// skip flags the loader does not accept; for the new format, skip extension entries
    /// whose ISA level the CPU lacks, stop at the first non-extension entry once an entry
    /// was found, skip legacy hwcap entries per [`LegacyHwcaps`], let extension entries
    /// compete by the position of their subdirectory in `query.hwcaps` (merged with the
    /// sorted hwcaps section as `glibc_hwcaps_priorities_init` does), and stop at a
    /// non-extension entry whose flags equal the default id. In the old format, a later
    /// accepted entry replaces an earlier one until an entry with the default id.
    ///
    /// The caller applies `DF_1_NODEFLIB` and opens the returned `value`.
    pub fn lookup(&self, name: &str, query: &CacheQuery<'_>) -> Option<&CacheEntry> {
        let name = name.as_bytes();
        let entries = &self.entries;
        let key_cmp = |i: usize| libcmp(name, entries[i].key.as_bytes());
        // glibc computes the priorities once, on the first extension entry it meets.
        let mut priorities: Option<Vec<u32>> = None;
        let mut priority_of = |index: u32| {
            priorities
                .get_or_insert_with(|| hwcaps_priorities(&self.hwcaps_section, query.hwcaps))
                .get(index as usize)
                .copied()
                .unwrap_or(0)
        };

        // `int left, right, middle` as in search_cache; i64 cannot overflow for u32 counts.
        let mut left: i64 = 0;
        let mut right: i64 = entries.len() as i64 - 1;
        while left <= right {
            let mut middle = (left + right) / 2;
            let cmp = key_cmp(middle as usize);
            if cmp == Ordering::Equal {
                // "LEFT now marks the last entry for which we know the name is correct."
                left = middle;
                while middle > 0 && key_cmp(middle as usize - 1) == Ordering::Equal {
                    middle -= 1;
                }
                let mut best: Option<(usize, u32)> = None;
                loop {
                    let i = middle as usize;
                    if middle > left && key_cmp(i) != Ordering::Equal {
                        break;
                    }
                    let entry = &entries[i];
                    if query.accept.accepts(entry.flags) {
                        match self.step(entry, best.map(|(_, p)| p), query, &mut priority_of) {
                            Step::Skip => {}
                            Step::Stop => break,
                            Step::Take { named, priority } => {
                                best = Some((i, priority));
                                if !named && entry.flags == query.accept.default_id {
                                    break;
                                }
                            }
                        }
                    }
                    middle += 1;
                    if middle > right {
                        break;
                    }
                }
                return best.map(|(i, _)| &entries[i]);
            }
            // The table is sorted descending, so a name below the middle key lies right.
            if cmp == Ordering::Less {
                left = middle + 1;
            } else {
                right = middle - 1;
            }
        }
        None
    }

    /// The body of `search_cache`'s scan for one entry whose flags are accepted. `best` is
    /// the priority of the entry found so far (0 for a non-extension one).
    fn step(
        &self,
        entry: &CacheEntry,
        best: Option<u32>,
        query: &CacheQuery<'_>,
        priority_of: &mut impl FnMut(u32) -> u32,
    ) -> Step {
        // Old-format entries have no hwcap field, so none of the checks below apply.
        if self.format == CacheFormat::Old {
            return Step::Take {
                named: false,
                priority: 0,
            };
        }
        let named = entry.is_hwcaps_extension();
        if named && !isa_level_compatible(entry.hwcap, query.x86_isa_1) {
            return Step::Skip;
        }
        // "The entries with named/extension hwcaps have been exhausted (they are listed
        // before all other entries)."
        if !named && best.is_some() {
            return Step::Stop;
        }
        if legacy_hwcap_rejects(entry.hwcap, named, query.legacy_hwcaps) {
            return Step::Skip;
        }
        if !named {
            return Step::Take { named, priority: 0 };
        }
        // Lower values are preferred; 0 means "do not use". The low 32 bits index the
        // hwcaps section (glibc truncates the u64 to uint32_t).
        let priority = priority_of(entry.hwcap as u32);
        match best {
            _ if priority == 0 => Step::Skip,
            Some(best) if priority >= best => Step::Skip,
            _ => Step::Take { named, priority },
        }
    }
}

/// What `search_cache` does with one accepted entry.
enum Step {
    /// `continue`: look at the next equal key.
    Skip,
    /// `break`: return the best entry found so far.
    Stop,
    /// Remember this entry (and its priority, for extension entries).
    Take { named: bool, priority: u32 },
}

/// `dl_cache_hwcap_isa_level_compatible` (`sysdeps/x86/dl-isa-level.h`): the entry needs
/// `1 << level` in the CPU's `isa_1`. The shift is on a 32-bit `unsigned int`; like the x86
/// `shl` it wraps the count (levels above 31 never occur: ldconfig stores `bsr` of a 32-bit
/// `GNU_PROPERTY_X86_ISA_1_NEEDED`).
fn isa_level_compatible(hwcap: u64, x86_isa_1: Option<u32>) -> bool {
    match x86_isa_1 {
        None => true,
        Some(isa_1) => {
            let needed = 1u32.wrapping_shl(((hwcap >> 32) & ISA_LEVEL_MASK) as u32);
            needed & isa_1 == needed
        }
    }
}

/// The two legacy hwcap tests of `search_cache` (see [`LegacyHwcaps`]).
fn legacy_hwcap_rejects(hwcap: u64, named: bool, legacy: LegacyHwcaps) -> bool {
    match legacy {
        LegacyHwcaps::Removed => !named && hwcap != 0,
        LegacyHwcaps::Glibc236 {
            hwcap: usable,
            platform_mask,
            platform,
        } => {
            let exclude = !(usable | platform_mask | HWCAP_TLS_MASK);
            if hwcap & exclude != 0 && !named {
                return true;
            }
            // `(uint64_t) -1` when the platform is unknown, so any platform bit mismatches.
            let platform = platform.map_or(u64::MAX, |bit| 1u64.wrapping_shl(bit));
            let platform_bits = hwcap & platform_mask;
            platform_bits != 0 && platform_bits != platform
        }
    }
}

/// `glibc_hwcaps_priorities_init`: merge the hwcaps section (sorted by ldconfig) with the
/// active names sorted by name (`sort_priorities_by_name`, a stable insertion sort, so the
/// first of duplicate names keeps the better priority). Priority `i + 1` for the `i`-th
/// active name; 0 for section names not active. Names compare like `glibc_hwcaps_compare`:
/// common prefix by `memcmp`, then the shorter first, which is byte-wise order.
fn hwcaps_priorities(section: &[String], active: &[String]) -> Vec<u32> {
    let mut right: Vec<(&[u8], u32)> = active
        .iter()
        .zip(1u32..)
        .map(|(name, priority)| (name.as_bytes(), priority))
        .collect();
    right.sort_by(|a, b| a.0.cmp(b.0));
    let mut result = vec![0; section.len()];
    let (mut l, mut r) = (0, 0);
    while l < section.len() && r < right.len() {
        match section[l].as_bytes().cmp(right[r].0) {
            Ordering::Equal => {
                result[l] = right[r].1;
                l += 1;
                r += 1;
            }
            Ordering::Less => l += 1,
            Ordering::Greater => r += 1,
        }
    }
    result
}

/// `_dl_cache_libcmp`: compare two sonames, reading runs of digits as numbers, so that
/// `libfoo.so.10` sorts above `libfoo.so.9`. Mirrors the C exactly: bytes are `char`, which
/// is signed on x86 (so bytes ≥ 0x80 sort below ASCII; ports with unsigned `char` such as
/// aarch64, arm, powerpc, s390 and riscv order those differently), numbers accumulate in a
/// wrapping 32-bit `int`, and the result is the sign of `val1 - val2` or `*p1 - *p2`. A NUL
/// byte ends a string.
fn libcmp(p1: &[u8], p2: &[u8]) -> Ordering {
    let at = |s: &[u8], i: usize| s.get(i).map_or(0, |&b| i32::from(b as i8));
    let is_digit = |c: i32| (i32::from(b'0')..=i32::from(b'9')).contains(&c);
    let number = |s: &[u8], i: &mut usize| {
        let mut value = 0i32;
        while is_digit(at(s, *i)) {
            value = value
                .wrapping_mul(10)
                .wrapping_add(at(s, *i) - i32::from(b'0'));
            *i += 1;
        }
        value
    };
    let (mut i, mut j) = (0, 0);
    while at(p1, i) != 0 {
        let (c1, c2) = (at(p1, i), at(p2, j));
        if is_digit(c1) {
            if !is_digit(c2) {
                return Ordering::Greater;
            }
            let val1 = number(p1, &mut i);
            let val2 = number(p2, &mut j);
            if val1 != val2 {
                return val1.wrapping_sub(val2).cmp(&0);
            }
        } else if is_digit(c2) {
            return Ordering::Less;
        } else if c1 != c2 {
            return (c1 - c2).cmp(&0);
        } else {
            i += 1;
            j += 1;
        }
    }
    (-at(p2, j)).cmp(&0)
}

/// Bounds-checked integer reads in the cache's byte order.
#[derive(Clone, Copy)]
struct Reader<'a> {
    bytes: &'a [u8],
    order: ByteOrder,
}

impl Reader<'_> {
    fn array<const N: usize>(&self, at: usize, what: &'static str) -> Result<[u8; N], CacheError> {
        at.checked_add(N)
            .and_then(|end| self.bytes.get(at..end))
            .and_then(|s| s.try_into().ok())
            .ok_or(CacheError::Truncated {
                what,
                needed: at as u64 + N as u64,
                len: self.bytes.len(),
            })
    }

    fn u32(&self, at: usize, what: &'static str) -> Result<u32, CacheError> {
        let raw = self.array(at, what)?;
        Ok(match self.order {
            ByteOrder::Little => u32::from_le_bytes(raw),
            ByteOrder::Big => u32::from_be_bytes(raw),
        })
    }

    fn u64(&self, at: usize, what: &'static str) -> Result<u64, CacheError> {
        let raw = self.array(at, what)?;
        Ok(match self.order {
            ByteOrder::Little => u64::from_le_bytes(raw),
            ByteOrder::Big => u64::from_be_bytes(raw),
        })
    }

    /// The NUL-terminated UTF-8 string at `base + offset`.
    fn string(&self, base: usize, offset: u32) -> Result<String, CacheError> {
        let at = base as u64 + u64::from(offset);
        let bad = CacheError::BadString { offset: at };
        let tail = usize::try_from(at)
            .ok()
            .and_then(|at| self.bytes.get(at..))
            .ok_or(bad.clone())?;
        let len = tail.iter().position(|&b| b == 0).ok_or(bad)?;
        String::from_utf8(tail[..len].to_vec()).map_err(|_| CacheError::NotUtf8 { offset: at })
    }
}

/// The old table alone: 12-byte entries, strings relative to the end of the entries.
fn parse_old(
    bytes: &[u8],
    order: ByteOrder,
    nlibs: usize,
    strings: usize,
) -> Result<LdCache, CacheError> {
    let r = Reader { bytes, order };
    let entries = (0..nlibs)
        .map(|i| {
            let at = OLD_HEADER_SIZE + i * OLD_ENTRY_SIZE;
            Ok(CacheEntry {
                flags: r.u32(at, "old-format entry")? as i32,
                key: r.string(strings, r.u32(at + 4, "old-format entry")?)?,
                value: r.string(strings, r.u32(at + 8, "old-format entry")?)?,
                hwcap: 0,
                hwcaps_subdir: None,
            })
        })
        .collect::<Result<_, CacheError>>()?;
    Ok(LdCache {
        format: CacheFormat::Old,
        byte_order: order,
        entries,
        hwcaps_section: Vec::new(),
        generator: None,
    })
}

/// The new table whose header starts at `base` (0, or inside an old-format file). Entry
/// strings are relative to the header; extension offsets and the hwcaps section's string
/// offsets are relative to the start of the file (`cache_extension_load` and
/// `glibc_hwcaps_compare` add them to the file base).
fn parse_new(bytes: &[u8], base: usize, format: CacheFormat) -> Result<LdCache, CacheError> {
    let flags = *bytes.get(base + 28).ok_or(CacheError::Truncated {
        what: "new-format header",
        needed: (base + NEW_HEADER_SIZE) as u64,
        len: bytes.len(),
    })?;
    let fits = |order| -> Result<u32, CacheError> {
        let nlibs = Reader { bytes, order }.u32(base + 20, "new-format header")?;
        let needed = (base + NEW_HEADER_SIZE) as u64 + u64::from(nlibs) * NEW_ENTRY_SIZE as u64;
        if needed > bytes.len() as u64 {
            return Err(CacheError::Truncated {
                what: "new-format entries",
                needed,
                len: bytes.len(),
            });
        }
        Ok(nlibs)
    };
    let (order, nlibs) = match flags & ENDIAN_MASK {
        ENDIAN_LITTLE => (ByteOrder::Little, fits(ByteOrder::Little)?),
        ENDIAN_BIG => (ByteOrder::Big, fits(ByteOrder::Big)?),
        ENDIAN_INVALID => return Err(CacheError::InvalidEndian),
        // cache_file_new_flags_endian_unset: "An old ldconfig version without endianness
        // support wrote the file."
        _ => {
            let host = ByteOrder::host();
            match fits(host) {
                Ok(n) => (host, n),
                Err(e) => (host.other(), fits(host.other()).map_err(|_| e)?),
            }
        }
    };
    let r = Reader { bytes, order };
    let extension_offset = r.u32(base + 32, "new-format header")?;
    let (hwcaps_section, generator) = parse_extensions(&r, extension_offset)?;

    let entries = (0..nlibs as usize)
        .map(|i| {
            let at = base + NEW_HEADER_SIZE + i * NEW_ENTRY_SIZE;
            let mut entry = CacheEntry {
                flags: r.u32(at, "new-format entry")? as i32,
                key: r.string(base, r.u32(at + 4, "new-format entry")?)?,
                value: r.string(base, r.u32(at + 8, "new-format entry")?)?,
                hwcap: r.u64(at + 16, "new-format entry")?,
                hwcaps_subdir: None,
            };
            if entry.is_hwcaps_extension() {
                entry.hwcaps_subdir = hwcaps_section.get(entry.hwcap as u32 as usize).cloned();
            }
            Ok(entry)
        })
        .collect::<Result<_, CacheError>>()?;
    Ok(LdCache {
        format,
        byte_order: order,
        entries,
        hwcaps_section,
        generator,
    })
}

/// `cache_extension_load` and `cache_extension_verify`: returns the hwcaps section's names
/// and the generator string. A directory glibc would refuse is an error; an unknown tag is
/// skipped and a later section of the same tag wins, as in glibc; a hwcaps section that is
/// empty or misaligned is dropped, as `cache_extension_verify` does.
fn parse_extensions(
    r: &Reader<'_>,
    offset: u32,
) -> Result<(Vec<String>, Option<String>), CacheError> {
    if offset == 0 {
        return Ok((Vec::new(), None));
    }
    let bad = |reason| CacheError::BadExtension { offset, reason };
    if offset % 4 != 0 {
        return Err(bad("offset is not a multiple of 4"));
    }
    let dir = offset as usize;
    let (magic, count) = match (r.u32(dir, "extension"), r.u32(dir + 4, "extension")) {
        (Ok(magic), Ok(count)) => (magic, count),
        _ => return Err(bad("directory extends beyond the end of the file")),
    };
    if magic != EXTENSION_MAGIC {
        return Err(bad("bad magic"));
    }
    if dir as u64 + 8 + u64::from(count) * 16 > r.bytes.len() as u64 {
        return Err(bad("section array extends beyond the end of the file"));
    }
    let mut sections: [Option<(usize, usize)>; 2] = [None, None];
    for i in 0..count as usize {
        let at = dir + 8 + i * 16;
        let tag = r.u32(at, "extension section")?;
        let start = r.u32(at + 8, "extension section")?;
        let size = r.u32(at + 12, "extension section")?;
        if u64::from(start) + u64::from(size) > r.bytes.len() as u64 {
            return Err(bad("section data extends beyond the end of the file"));
        }
        if let Some(slot) = sections.get_mut(tag as usize) {
            *slot = Some((start as usize, size as usize));
        }
    }
    let generator = sections[TAG_GENERATOR as usize]
        .map(|(start, size)| String::from_utf8_lossy(&r.bytes[start..start + size]).into_owned());
    let hwcaps = match sections[TAG_GLIBC_HWCAPS as usize] {
        Some((start, size)) if size != 0 && start % 4 == 0 && size % 4 == 0 => (0..size / 4)
            .map(|i| r.string(0, r.u32(start + 4 * i, "glibc-hwcaps section")?))
            .collect::<Result<_, _>>()?,
        _ => Vec::new(),
    };
    Ok((hwcaps, generator))
}

/// Write a new-format-only cache (`ldconfig -c new`, the default since glibc 2.32; glibc
/// 2.32 and later loaders, 2.36 included, read it directly), as `save_cache` in
/// `elf/cache.c` lays it out: header, entries, string table (tail-merged like
/// `stringtable_finalize`), then at a 4-byte boundary the extension directory with the
/// generator section (if `generator` is given) and the glibc-hwcaps section (if any entry has
/// `hwcaps_subdir`), the hwcaps string offsets, and the generator bytes.
///
/// Entries are put in ldconfig's order (`add_to_cache`'s insertion with `compare`):
/// descending by `_dl_cache_libcmp` of the key, then descending flags, then glibc-hwcaps
/// entries before the others and among them by subdirectory name, then legacy hwcaps with
/// more bits first; equal entries keep their input order, so list directories' entries in the
/// order ldconfig scans them (the first one wins). For an entry with `hwcaps_subdir`, the
/// written hwcap is `HWCAP_EXTENSION`, the ISA level bits of `hwcap`, and the subdirectory's
/// index in the sorted section; other entries' hwcap is written as given. Given ldconfig's
/// own `generator` text, this reproduces ldconfig 2.36's file byte for byte.
pub fn write(
    entries: &[CacheEntry],
    order: ByteOrder,
    generator: Option<&str>,
) -> Result<Vec<u8>, CacheError> {
    for s in entries.iter().flat_map(|e| {
        [Some(&e.key), Some(&e.value), e.hwcaps_subdir.as_ref()]
            .into_iter()
            .flatten()
    }) {
        if s.contains('\0') {
            return Err(CacheError::NulInString(s.clone()));
        }
    }
    let sorted = ldconfig_order(entries);
    let subdirs: Vec<&str> = entries
        .iter()
        .filter_map(|e| e.hwcaps_subdir.as_deref())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();

    let too_large = |n: usize| u32::try_from(n).map_err(|_| CacheError::TooLarge);
    let str_offset = NEW_ENTRY_SIZE
        .checked_mul(sorted.len())
        .and_then(|n| n.checked_add(NEW_HEADER_SIZE))
        .ok_or(CacheError::TooLarge)?;
    let table = StringTable::new(
        sorted
            .iter()
            .flat_map(|e| [e.key.as_str(), e.value.as_str()])
            .chain(subdirs.iter().copied()),
    );
    let strings_end = str_offset
        .checked_add(table.bytes.len())
        .ok_or(CacheError::TooLarge)?;
    let ext_offset = strings_end.next_multiple_of(4);
    let sections = usize::from(generator.is_some()) + usize::from(!subdirs.is_empty());
    let hwcaps_offset = ext_offset + 8 + 16 * sections;
    let generator_offset = hwcaps_offset + 4 * subdirs.len();
    let total = generator_offset + generator.map_or(0, str::len);
    too_large(total)?;

    let mut w = Writer {
        out: Vec::with_capacity(total),
        order,
    };
    w.out.extend_from_slice(NEW_MAGIC);
    w.u32(too_large(sorted.len())?);
    w.u32(too_large(table.bytes.len())?);
    w.out.push(match order {
        ByteOrder::Little => ENDIAN_LITTLE,
        ByteOrder::Big => ENDIAN_BIG,
    });
    w.out.extend_from_slice(&[0; 3]);
    w.u32(if sections == 0 {
        0
    } else {
        too_large(ext_offset)?
    });
    w.out.extend_from_slice(&[0; 12]);
    for entry in &sorted {
        let hwcap = match &entry.hwcaps_subdir {
            Some(name) => {
                let index = subdirs.binary_search(&name.as_str()).unwrap_or_default();
                HWCAP_EXTENSION | (entry.hwcap & (ISA_LEVEL_MASK << 32)) | index as u64
            }
            None => entry.hwcap,
        };
        w.u32(entry.flags as u32);
        w.u32(too_large(str_offset + table.offset(&entry.key))?);
        w.u32(too_large(str_offset + table.offset(&entry.value))?);
        w.u32(0); // osversion_unused
        w.u64(hwcap);
    }
    w.out.extend_from_slice(&table.bytes);
    if sections == 0 {
        return Ok(w.out);
    }
    w.out.resize(ext_offset, 0);
    w.u32(EXTENSION_MAGIC);
    w.u32(sections as u32);
    if let Some(text) = generator {
        w.section(TAG_GENERATOR, generator_offset, text.len())?;
    }
    if !subdirs.is_empty() {
        w.section(TAG_GLIBC_HWCAPS, hwcaps_offset, 4 * subdirs.len())?;
    }
    for name in &subdirs {
        w.u32(too_large(str_offset + table.offset(name))?);
    }
    w.out
        .extend_from_slice(generator.unwrap_or_default().as_bytes());
    Ok(w.out)
}

/// The order `add_to_cache` builds: each entry is inserted before the first one that
/// `compare`s greater. A linear insertion (quadratic, like ldconfig's list) rather than a
/// library sort, because `_dl_cache_libcmp` overflows on very long digit runs and is then not
/// a total order, which `slice::sort_by` may panic on.
fn ldconfig_order(entries: &[CacheEntry]) -> Vec<&CacheEntry> {
    let mut sorted: Vec<&CacheEntry> = Vec::with_capacity(entries.len());
    for entry in entries {
        let at = sorted
            .iter()
            .position(|e| ldconfig_compare(e, entry) == Ordering::Greater)
            .unwrap_or(sorted.len());
        sorted.insert(at, entry);
    }
    sorted
}

/// `compare` in `elf/cache.c` (2.36; later versions only drop the legacy hwcap tie-breaks,
/// which never trigger once legacy hwcaps are 0). "We need to swap entries here to get the
/// correct sort order": keys descend.
fn ldconfig_compare(e1: &CacheEntry, e2: &CacheEntry) -> Ordering {
    let res = libcmp(e2.key.as_bytes(), e1.key.as_bytes());
    if res != Ordering::Equal {
        return res;
    }
    // Higher flags first.
    match e2.flags.cmp(&e1.flags) {
        Ordering::Equal => {}
        other => return other,
    }
    // "Keep the glibc-hwcaps extension entries before the regular entries, and sort them
    // by their names."
    match (&e1.hwcaps_subdir, &e2.hwcaps_subdir) {
        (Some(_), None) => return Ordering::Less,
        (None, Some(_)) => return Ordering::Greater,
        (Some(a), Some(b)) if a != b => return a.as_bytes().cmp(b.as_bytes()),
        _ => {}
    }
    // "Sort by most specific hwcap." ldconfig keeps hwcap 0 for glibc-hwcaps entries.
    let legacy = |e: &CacheEntry| {
        if e.hwcaps_subdir.is_some() {
            0
        } else {
            e.hwcap
        }
    };
    let (h1, h2) = (legacy(e1), legacy(e2));
    h2.count_ones()
        .cmp(&h1.count_ones())
        .then_with(|| h2.cmp(&h1))
}

/// `stringtable_finalize`: distinct strings ordered by their reversed bytes, descending
/// (`finalize_compare`, which also puts a string before its suffixes), then each string that
/// is a suffix of the one before it shares that one's tail.
struct StringTable<'a> {
    bytes: Vec<u8>,
    offsets: std::collections::BTreeMap<&'a str, usize>,
}

impl<'a> StringTable<'a> {
    fn new(strings: impl Iterator<Item = &'a str>) -> StringTable<'a> {
        let mut order: Vec<&str> = strings.collect::<BTreeSet<_>>().into_iter().collect();
        order.sort_by(|a, b| b.bytes().rev().cmp(a.bytes().rev()));
        let mut bytes = Vec::new();
        let mut offsets = std::collections::BTreeMap::new();
        let mut previous: Option<(&str, usize)> = None;
        for s in order {
            let offset = match previous {
                Some((p, at)) if p.ends_with(s) => at + p.len() - s.len(),
                _ => {
                    let at = bytes.len();
                    bytes.extend_from_slice(s.as_bytes());
                    bytes.push(0);
                    at
                }
            };
            offsets.insert(s, offset);
            previous = Some((s, offset));
        }
        StringTable { bytes, offsets }
    }

    fn offset(&self, s: &str) -> usize {
        self.offsets.get(s).copied().unwrap_or_default()
    }
}

/// Appends integers in the cache's byte order.
struct Writer {
    out: Vec<u8>,
    order: ByteOrder,
}

impl Writer {
    fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&match self.order {
            ByteOrder::Little => v.to_le_bytes(),
            ByteOrder::Big => v.to_be_bytes(),
        });
    }

    fn u64(&mut self, v: u64) {
        self.out.extend_from_slice(&match self.order {
            ByteOrder::Little => v.to_le_bytes(),
            ByteOrder::Big => v.to_be_bytes(),
        });
    }

    /// One `struct cache_extension_section` (`flags` "currently generated as zero").
    fn section(&mut self, tag: u32, offset: usize, size: usize) -> Result<(), CacheError> {
        self.u32(tag);
        self.u32(0);
        self.u32(u32::try_from(offset).map_err(|_| CacheError::TooLarge)?);
        self.u32(u32::try_from(size).map_err(|_| CacheError::TooLarge)?);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::process::Command;

    const SYSTEM_CACHE: &str = "/etc/ld.so.cache";
    const LD_SO: &str = "/lib64/ld-linux-x86-64.so.2";
    const X86_64: AcceptFlags = AcceptFlags::only(0x303);

    fn entry(key: &str, value: &str, flags: i32) -> CacheEntry {
        CacheEntry {
            key: key.to_owned(),
            value: value.to_owned(),
            flags,
            hwcap: 0,
            hwcaps_subdir: None,
        }
    }

    fn hwcaps_entry(key: &str, value: &str, subdir: &str, index: u64, isa: u64) -> CacheEntry {
        CacheEntry {
            hwcap: HWCAP_EXTENSION | isa << 32 | index,
            hwcaps_subdir: Some(subdir.to_owned()),
            ..entry(key, value, 0x303)
        }
    }

    fn strings(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn query(accept: AcceptFlags, hwcaps: &[String]) -> CacheQuery<'_> {
        CacheQuery {
            accept,
            hwcaps,
            x86_isa_1: None,
            legacy_hwcaps: LegacyHwcaps::Removed,
        }
    }

    fn run(cmd: &mut Command) -> std::process::Output {
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{cmd:?}: {out:?}");
        out
    }

    /// `print_entry` in glibc 2.36 `elf/cache.c`, the line format of `ldconfig -p`.
    fn describe(e: &CacheEntry) -> String {
        let kind = match e.flags & 0xff {
            0 => "libc4",
            1 => "ELF",
            2 => "libc5",
            3 => "libc6",
            _ => "unknown",
        };
        let abi = match e.flags & 0xff00 {
            0 => String::new(),
            0x0100 | 0x0400 | 0x0500 | 0x0700 => ",64bit".into(),
            0x0200 => ",IA-64".into(),
            0x0300 => ",x86-64".into(),
            0x0600 => ",N32".into(),
            0x0800 => ",x32".into(),
            0x0900 => ",hard-float".into(),
            0x0a00 => ",AArch64".into(),
            0x0b00 | 0x0f00 => ",soft-float".into(),
            0x0c00 => ",nan2008".into(),
            0x0d00 => ",N32,nan2008".into(),
            0x0e00 => ",64bit,nan2008".into(),
            0x1000 => ",double-float".into(),
            other => format!(",{other}"),
        };
        let hwcap = match (&e.hwcaps_subdir, e.hwcap) {
            (Some(name), _) => format!(", hwcap: \"{name}\""),
            (None, 0) => String::new(),
            (None, h) => format!(", hwcap: {h:#018x}"),
        };
        format!("\t{} ({kind}{abi}{hwcap}) => {}\n", e.key, e.value)
    }

    /// What `ldconfig -p -C path` prints for `cache`.
    fn listing(cache: &LdCache, path: &str) -> String {
        let mut out = format!("{} libs found in cache `{path}'\n", cache.entries().len());
        out.extend(cache.entries().iter().map(describe));
        if let Some(generator) = cache.generator() {
            out += &format!("Cache generated by: {generator}\n");
        }
        out
    }

    fn ldconfig_p(path: &Path) -> String {
        let out = run(Command::new("ldconfig").arg("-C").arg(path).arg("-p"));
        String::from_utf8(out.stdout).unwrap()
    }

    /// The loader's own cache-lookup state, from `ld.so --list-diagnostics` (run through
    /// `prefix`, e.g. a chroot) plus the hwcaps options, which it does not print.
    fn loader_hwcaps(
        prefix: &[&str],
        prepend: &[&str],
        mask: Option<&[&str]>,
        env: &[(&str, &str)],
    ) -> (Vec<String>, Option<u32>, LegacyHwcaps) {
        let (program, args) = prefix.split_first().unwrap();
        let out = run(Command::new(program)
            .args(args)
            .arg(LD_SO)
            .arg("--list-diagnostics")
            .envs(env.iter().copied()));
        let text = String::from_utf8(out.stdout).unwrap();
        let values: BTreeMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
        let hex = |key: &str| u64::from_str_radix(&values[key][2..], 16).unwrap();
        let subdirs = values["dl_hwcaps_subdirs"].trim_matches('"').split(':');
        let active = hex("dl_hwcaps_subdirs_active");
        // `_dl_important_hwcaps`: prepended names, then active built-in names the mask keeps.
        let hwcaps = prepend
            .iter()
            .map(|s| s.to_string())
            .chain(subdirs.enumerate().filter_map(|(i, name)| {
                let kept = mask.is_none_or(|m| m.contains(&name));
                (active & 1 << i != 0 && kept).then(|| name.to_owned())
            }))
            .collect();
        let platform = hex("dl_string_platform");
        let legacy = LegacyHwcaps::Glibc236 {
            // GET_HWCAP_MASK () defaults to HWCAP_IMPORTANT.
            hwcap: hex("dl_hwcap") & hex("dl_hwcap_important"),
            platform_mask: 0xf << 48, // sysdeps/x86/dl-procinfo.h, x86_64 platforms
            platform: (platform != u64::MAX).then_some(platform as u32),
        };
        (hwcaps, Some(hex("x86.cpu_features.isa_1") as u32), legacy)
    }

    /// Preload `names` into `/bin/true`-like `program` under `LD_DEBUG=libs` and return, per
    /// name the loader searched in the cache, the file it tried first (`None`: cache miss).
    fn loader_cache_results(
        prefix: &[&str],
        options: &[&str],
        env: &[(&str, &str)],
        names: &[&str],
        program: &str,
    ) -> BTreeMap<String, Option<String>> {
        let (cmd, args) = prefix.split_first().unwrap();
        let out = Command::new(cmd)
            .args(args)
            .arg(LD_SO)
            .args(options)
            .arg("--preload")
            .arg(names.join(":"))
            .arg("--list")
            .arg(program)
            .env("LD_DEBUG", "libs")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let text = String::from_utf8(out.stderr).unwrap();
        let mut results = BTreeMap::new();
        let mut searching: Option<String> = None;
        let mut in_cache = false;
        for line in text.lines() {
            let Some((_, msg)) = line.split_once(":\t") else {
                continue;
            };
            if let Some(rest) = msg.strip_prefix("find library=") {
                searching = rest.split(' ').next().map(str::to_owned);
                in_cache = false;
            } else if msg.starts_with(" search cache=") {
                in_cache = true;
            } else if in_cache {
                let hit = msg.strip_prefix("  trying file=").map(str::to_owned);
                if let Some(name) = searching.take() {
                    results.entry(name).or_insert(hit);
                }
                in_cache = false;
            }
        }
        results
    }

    fn system_cache() -> (Vec<u8>, LdCache) {
        let bytes = std::fs::read(SYSTEM_CACHE).unwrap();
        let cache = LdCache::parse(&bytes).unwrap();
        (bytes, cache)
    }

    #[test]
    fn cache_system_matches_ldconfig_p() {
        let (_, cache) = system_cache();
        assert_eq!(cache.format(), CacheFormat::New);
        assert_eq!(cache.byte_order(), ByteOrder::Little);
        assert!(cache.entries().len() > 10);
        let expected = ldconfig_p(Path::new(SYSTEM_CACHE));
        let ours = listing(&cache, SYSTEM_CACHE);
        for (i, (a, b)) in ours.lines().zip(expected.lines()).enumerate() {
            assert_eq!(a, b, "line {i}");
        }
        assert_eq!(ours, expected);
    }

    #[test]
    fn cache_system_lookups_match_the_loader() {
        let (_, cache) = system_cache();
        let (hwcaps, x86_isa_1, legacy_hwcaps) = loader_hwcaps(&["env"], &[], None, &[]);
        let q = CacheQuery {
            accept: accept_flags_for(EM_X86_64, true, 0).unwrap(),
            hwcaps: &hwcaps,
            x86_isa_1,
            legacy_hwcaps,
        };
        let keys: BTreeSet<&str> = cache.entries().iter().map(|e| e.key.as_str()).collect();
        let keys: Vec<&str> = keys.into_iter().collect();
        // All keys at once: most are searched; the rest were already loaded under that
        // soname through another key or as a dependency.
        let mut loader = loader_cache_results(&["env"], &[], &[], &keys, "/bin/true");
        // These on their own, so that each is surely searched (libc.so.6 by /bin/true).
        let named = [
            "libz.so.1",
            "libstdc++.so.6",
            "ld-linux.so.2",
            "libnothere.so.7",
        ];
        let alone = loader_cache_results(&["env"], &[], &[], &named, "/bin/true");
        for name in named.iter().chain(&["libc.so.6"]) {
            assert!(alone.contains_key(*name), "loader did not search {name}");
        }
        assert!(alone["libz.so.1"].is_some() && alone["libnothere.so.7"].is_none());
        assert!(
            loader.len() > keys.len() / 2,
            "{} of {}",
            loader.len(),
            keys.len()
        );
        loader.extend(alone);
        let mismatches: Vec<_> = loader
            .iter()
            .filter(|(name, hit)| cache.lookup(name, &q).map(|e| &e.value) != hit.as_ref())
            .collect();
        assert!(mismatches.is_empty(), "{mismatches:?}");
        assert!(
            loader["ld-linux.so.2"].is_none(),
            "i386 entries are not x86-64"
        );
    }

    #[test]
    fn cache_writer_reproduces_the_system_cache() {
        let (bytes, cache) = system_cache();
        // Reverse the order of runs of equal entries, keeping each run's own order (which
        // is the directory scan order ldconfig saw), so the writer has to sort.
        let mut runs: Vec<Vec<CacheEntry>> = Vec::new();
        for e in cache.entries() {
            match runs.last_mut() {
                Some(run) if ldconfig_compare(&run[0], e) == Ordering::Equal => run.push(e.clone()),
                _ => runs.push(vec![e.clone()]),
            }
        }
        let shuffled: Vec<CacheEntry> = runs.into_iter().rev().flatten().collect();
        let written = write(&shuffled, ByteOrder::Little, cache.generator()).unwrap();
        assert_eq!(written.len(), bytes.len());
        assert!(
            written == bytes,
            "written cache differs from {SYSTEM_CACHE}"
        );
    }

    #[test]
    fn cache_truncations_and_flips_never_panic() {
        let (bytes, cache) = system_cache();
        for len in 0..bytes.len() {
            // The generator string is last, so every proper prefix cuts a section short.
            assert!(LdCache::parse(&bytes[..len]).is_err(), "prefix {len}");
        }
        // Every byte of a smaller cache made of real entries plus hwcaps entries (the whole
        // system cache takes too long in a debug build).
        let mut entries = cache.entries()[..40].to_vec();
        entries.extend(sample());
        let bytes = write(&entries, ByteOrder::Little, cache.generator()).unwrap();
        let x86 = strings(&["x86-64-v3", "power10"]);
        let q = query(X86_64, &x86);
        let mut flipped = bytes.clone();
        for at in 0..bytes.len() {
            for mask in [0x01, 0x80, 0xff] {
                flipped[at] ^= mask;
                if let Ok(c) = LdCache::parse(&flipped) {
                    assert!(c.entries().len() <= entries.len());
                    for e in c.entries() {
                        c.lookup(&e.key, &q);
                    }
                }
                flipped[at] = bytes[at];
            }
        }
    }

    #[test]
    fn cache_libcmp_orders_digit_runs_numerically() {
        let cmp = |a: &str, b: &str| libcmp(a.as_bytes(), b.as_bytes());
        assert_eq!(cmp("libfoo.so.10", "libfoo.so.9"), Ordering::Greater);
        assert_eq!(cmp("libfoo.so.9", "libfoo.so.10"), Ordering::Less);
        assert_eq!(cmp("libfoo.so.1", "libfoo.so.01"), Ordering::Equal);
        assert_eq!(cmp("libfoo.so.1", "libfoo.so.1"), Ordering::Equal);
        assert_eq!(cmp("libfoo.so", "libfoo.so.1"), Ordering::Less);
        assert_eq!(cmp("libfoo.so.1.2", "libfoo.so.1"), Ordering::Greater);
        // A digit sorts above any non-digit, whatever their codes.
        assert_eq!(cmp("lib1", "libz"), Ordering::Greater);
        assert_eq!(cmp("libz", "lib1"), Ordering::Less);
        assert_eq!(cmp("libA", "liba"), Ordering::Less);
        // x86 `char` is signed: bytes >= 0x80 sort below ASCII, and below the terminator.
        assert_eq!(cmp("lib\u{e9}", "libz"), Ordering::Less);
        assert_eq!(cmp("lib", "lib\u{e9}"), Ordering::Greater);
        // Ten digits overflow the C `int` the same way glibc's does.
        assert_eq!(cmp("a4294967297", "a1"), Ordering::Equal);
        assert_eq!(cmp("a\0b", "a\0c"), Ordering::Equal);
    }

    #[test]
    fn cache_write_orders_entries_like_ldconfig() {
        let input = vec![
            entry("libfoo.so.9", "/a/libfoo.so.9", 0x303),
            entry("libbar.so.1", "/a/libbar.so.1", 0x303),
            entry("libfoo.so.10", "/a/libfoo.so.10", 0x303),
            entry("libbar.so.1", "/b/libbar.so.1", 0x303),
            entry("libbar.so.1", "/lib32/libbar.so.1", 0x003),
            entry("libbar.so.1", "/libx32/libbar.so.1", 0x803),
            hwcaps_entry(
                "libbar.so.1",
                "/a/glibc-hwcaps/x86-64-v3/libbar.so.1",
                "x86-64-v3",
                1,
                3,
            ),
            hwcaps_entry(
                "libbar.so.1",
                "/a/glibc-hwcaps/x86-64-v2/libbar.so.1",
                "x86-64-v2",
                0,
                2,
            ),
        ];
        let bytes = write(&input, ByteOrder::Little, None).unwrap();
        let cache = LdCache::parse(&bytes).unwrap();
        let order: Vec<&str> = cache.entries().iter().map(|e| e.value.as_str()).collect();
        assert_eq!(
            order,
            [
                "/a/libfoo.so.10",
                "/a/libfoo.so.9",
                "/libx32/libbar.so.1",
                "/a/glibc-hwcaps/x86-64-v2/libbar.so.1",
                "/a/glibc-hwcaps/x86-64-v3/libbar.so.1",
                "/a/libbar.so.1",
                "/b/libbar.so.1",
                "/lib32/libbar.so.1",
            ]
        );
        assert_eq!(cache.generator(), None);
    }

    fn sample() -> Vec<CacheEntry> {
        // Already in ldconfig order, with hwcaps indices of the sorted section.
        vec![
            entry("libz.so.1", "/usr/lib/libz.so.1.3", 0x303),
            hwcaps_entry(
                "libhw.so.2",
                "/opt/glibc-hwcaps/power10/libhw.so.2",
                "power10",
                0,
                0,
            ),
            hwcaps_entry(
                "libhw.so.2",
                "/opt/glibc-hwcaps/x86-64-v3/libhw.so.2",
                "x86-64-v3",
                1,
                3,
            ),
            // Legacy hwcap entries: more bits first, before hwcap 0.
            CacheEntry {
                hwcap: 0x0002_0000_0000_0001,
                ..entry("libhw.so.2", "/opt/legacy/libhw.so.2", 0x303)
            },
            entry("libhw.so.2", "/opt/libhw.so.2", 0x303),
            entry("libhw.so.2", "/lib32/libhw.so.2", 0x003),
            entry("ld-linux.so.2", "/lib/ld-linux.so.2", 0x001),
        ]
    }

    #[test]
    fn cache_round_trips_in_both_byte_orders() {
        let entries = sample();
        for order in [ByteOrder::Little, ByteOrder::Big] {
            let bytes = write(&entries, order, Some("depclose test")).unwrap();
            let cache = LdCache::parse(&bytes).unwrap();
            assert_eq!(cache.entries(), entries.as_slice());
            assert_eq!(cache.generator(), Some("depclose test"));
            assert_eq!(cache.byte_order(), order);
            assert_eq!(cache.hwcaps_section, strings(&["power10", "x86-64-v3"]));
        }
        let bare = write(&entries[..1], ByteOrder::Little, None).unwrap();
        assert_eq!(LdCache::parse(&bare).unwrap().entries(), &entries[..1]);
        assert_eq!(
            write(&[entry("a\0b", "/x", 3)], ByteOrder::Little, None),
            Err(CacheError::NulInString("a\0b".into()))
        );
    }

    #[test]
    fn cache_written_file_is_listed_by_ldconfig() {
        let dir = tempfile::tempdir().unwrap();
        let entries = sample();
        let little = dir.path().join("little.cache");
        std::fs::write(
            &little,
            write(&entries, ByteOrder::Little, Some("gen")).unwrap(),
        )
        .unwrap();
        let cache = LdCache::parse(&std::fs::read(&little).unwrap()).unwrap();
        assert_eq!(
            ldconfig_p(&little),
            listing(&cache, little.to_str().unwrap())
        );
        assert!(ldconfig_p(&little).contains("libhw.so.2 (libc6,x86-64, hwcap: \"x86-64-v3\")"));

        // ldconfig reads the endianness byte we wrote, and refuses the foreign order.
        let big = dir.path().join("big.cache");
        std::fs::write(&big, write(&entries, ByteOrder::Big, Some("gen")).unwrap()).unwrap();
        let out = Command::new("ldconfig")
            .arg("-C")
            .arg(&big)
            .arg("-p")
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("wrong endianness"));
    }

    /// A big-endian new-format cache as an s390x ldconfig writes it, built field by field.
    #[test]
    fn cache_hand_built_big_endian_parses() {
        let mut b = Vec::new();
        b.extend_from_slice(b"glibc-ld.so.cache1.1");
        b.extend_from_slice(&2u32.to_be_bytes()); // nlibs
        let strings = b"libc.so.6\0/lib/s390x-linux-gnu/libc.so.6\0libc.so.6\0/lib/libc.so.6\0";
        b.extend_from_slice(&(strings.len() as u32).to_be_bytes());
        b.extend_from_slice(&[ENDIAN_BIG, 0, 0, 0]);
        b.extend_from_slice(&[0; 16]); // extension_offset 0, unused
        let base = (NEW_HEADER_SIZE + 2 * NEW_ENTRY_SIZE) as u32;
        for (flags, key, value) in [(0x403, 0, 10), (0x003, 41, 51)] {
            b.extend_from_slice(&(flags as u32).to_be_bytes());
            b.extend_from_slice(&(base + key).to_be_bytes());
            b.extend_from_slice(&(base + value).to_be_bytes());
            b.extend_from_slice(&[0; 12]);
        }
        b.extend_from_slice(strings);
        let cache = LdCache::parse(&b).unwrap();
        assert_eq!(cache.byte_order(), ByteOrder::Big);
        assert_eq!(
            cache.entries(),
            [
                entry("libc.so.6", "/lib/s390x-linux-gnu/libc.so.6", 0x403),
                entry("libc.so.6", "/lib/libc.so.6", 0x003),
            ]
        );
        let s390x = accept_flags_for(EM_S390, true, 0).unwrap();
        let s390 = accept_flags_for(EM_S390, false, 0).unwrap();
        let hit = |a| {
            cache
                .lookup("libc.so.6", &query(a, &[]))
                .map(|e| e.value.clone())
        };
        assert_eq!(
            hit(s390x).as_deref(),
            Some("/lib/s390x-linux-gnu/libc.so.6")
        );
        assert_eq!(hit(s390).as_deref(), Some("/lib/libc.so.6"));
        // Flags 0 ("unset"): the file does not say, the counts decide.
        b[28] = 0;
        assert_eq!(LdCache::parse(&b).unwrap().byte_order(), ByteOrder::Big);
        b[28] = ENDIAN_INVALID;
        assert_eq!(LdCache::parse(&b), Err(CacheError::InvalidEndian));
    }

    /// The libc5 / glibc 2.0 table: 16-byte header, 12-byte entries, strings after them.
    fn encode_old(entries: &[(i32, u32, u32)], tail: &[u8], order: ByteOrder) -> Vec<u8> {
        let w = &mut Writer {
            out: b"ld.so-1.7.0\0".to_vec(),
            order,
        };
        w.u32(entries.len() as u32);
        for &(flags, key, value) in entries {
            w.u32(flags as u32);
            w.u32(key);
            w.u32(value);
        }
        w.out.extend_from_slice(tail);
        w.out.clone()
    }

    #[test]
    fn cache_old_format_only() {
        let strings = b"libx.so.1\0/old/a/libx.so.1\0/old/b/libx.so.1\0/old/c/libx.so.1\0";
        let bytes = encode_old(
            &[(0x303, 0, 10), (1, 0, 27), (3, 0, 44)],
            strings,
            ByteOrder::Little,
        );
        let cache = LdCache::parse(&bytes).unwrap();
        assert_eq!(cache.format(), CacheFormat::Old);
        assert_eq!(
            cache.entries()[1],
            entry("libx.so.1", "/old/b/libx.so.1", 1)
        );
        let value = |c: &LdCache, a| c.lookup("libx.so.1", &query(a, &[])).unwrap().value.clone();
        // Old format: a later accepted entry replaces an earlier one until the default id.
        assert_eq!(value(&cache, AcceptFlags::GENERIC), "/old/c/libx.so.1");
        assert_eq!(value(&cache, X86_64), "/old/a/libx.so.1");
        // The same table in the new format stops at the second accepted entry.
        let new = LdCache {
            format: CacheFormat::New,
            ..cache.clone()
        };
        assert_eq!(value(&new, AcceptFlags::GENERIC), "/old/b/libx.so.1");
        // A big-endian old table parses too.
        let big = encode_old(&[(3, 0, 10)], strings, ByteOrder::Big);
        assert_eq!(
            LdCache::parse(&big).unwrap().entries()[0].value,
            "/old/a/libx.so.1"
        );
        assert!(matches!(
            LdCache::parse(&bytes[..30]),
            Err(CacheError::Truncated { .. })
        ));
        assert_eq!(
            LdCache::parse(&encode_old(&[(3, 0, 99)], strings, ByteOrder::Little)),
            Err(CacheError::BadString { offset: 28 + 99 })
        );
    }

    #[test]
    fn cache_old_with_new_embedded_prefers_new() {
        for order in [ByteOrder::Little, ByteOrder::Big] {
            let entries = [
                entry("libx.so.1", "/new/libx.so.1", 0x303),
                entry("liba.so.1", "/new/liba.so.1", 0x303),
                entry("liba.so.1", "/new32/liba.so.1", 0x003),
            ];
            let new = write(&entries, order, None).unwrap();
            let r = Reader { bytes: &new, order };
            // ldconfig's old table points at the same strings (relative to the end of the
            // old entries, where the new header starts) and is padded to an even count.
            let mut old: Vec<(i32, u32, u32)> = (0..3)
                .map(|i| {
                    let at = NEW_HEADER_SIZE + i * NEW_ENTRY_SIZE;
                    (1, r.u32(at + 4, "").unwrap(), r.u32(at + 8, "").unwrap())
                })
                .collect();
            old.push(old[2]);
            let bytes = encode_old(&old, &new, order);
            let cache = LdCache::parse(&bytes).unwrap();
            assert_eq!(cache.format(), CacheFormat::OldWithNew);
            assert_eq!(cache.byte_order(), order);
            assert_eq!(cache.entries(), entries);
            // Without the new header the old table (flags 1, from the same strings) is used.
            let mut broken = bytes.clone();
            broken[16 + 4 * 12] ^= 0xff;
            let old_only = LdCache::parse(&broken).unwrap();
            assert_eq!(old_only.format(), CacheFormat::Old);
            assert_eq!(old_only.entries().len(), 4);
            assert!(old_only.entries().iter().all(|e| e.flags == 1));
        }
    }

    #[test]
    fn cache_lookup_follows_search_cache() {
        let cache = LdCache::parse(&write(&sample(), ByteOrder::Little, None).unwrap()).unwrap();
        let value = |q: &CacheQuery<'_>| cache.lookup("libhw.so.2", q).map(|e| e.value.as_str());
        let none = strings(&[]);
        let x86 = strings(&["x86-64-v4", "x86-64-v3", "x86-64-v2"]);
        let power = strings(&["power10", "power9"]);
        let both = strings(&["x86-64-v3", "power10"]);
        assert_eq!(value(&query(X86_64, &none)), Some("/opt/libhw.so.2"));
        assert_eq!(
            value(&query(X86_64, &x86)),
            Some("/opt/glibc-hwcaps/x86-64-v3/libhw.so.2")
        );
        assert_eq!(
            value(&query(X86_64, &power)),
            Some("/opt/glibc-hwcaps/power10/libhw.so.2")
        );
        assert_eq!(
            value(&query(X86_64, &both)),
            Some("/opt/glibc-hwcaps/x86-64-v3/libhw.so.2")
        );
        // The x86-64-v3 entry needs ISA level 3 (`1 << 3` in isa_1).
        let isa = |isa_1| CacheQuery {
            x86_isa_1: Some(isa_1),
            ..query(X86_64, &x86)
        };
        assert_eq!(value(&isa(0x7)), Some("/opt/libhw.so.2"));
        assert_eq!(
            value(&isa(0xf)),
            Some("/opt/glibc-hwcaps/x86-64-v3/libhw.so.2")
        );
        assert_eq!(
            value(&query(AcceptFlags::GENERIC, &none)),
            Some("/lib32/libhw.so.2")
        );
        assert_eq!(
            cache
                .lookup("ld-linux.so.2", &query(AcceptFlags::GENERIC, &none))
                .map(|e| e.flags),
            Some(1)
        );
        assert_eq!(cache.lookup("ld-linux.so.2", &query(X86_64, &none)), None);
        assert_eq!(cache.lookup("libnothere.so.1", &query(X86_64, &none)), None);
        assert_eq!(cache.lookup("", &query(X86_64, &none)), None);
    }

    #[test]
    fn cache_legacy_hwcaps_by_glibc_version() {
        // ldconfig 2.36 puts the entry with more hwcap bits first.
        let entries = vec![
            CacheEntry {
                hwcap: 1 << 49 | 1 << 1,
                ..entry("libl.so.1", "/p/haswell/x86_64/libl.so.1", 0x303)
            },
            CacheEntry {
                hwcap: 1 << 63,
                ..entry("libl.so.1", "/p/tls/libl.so.1", 0x303)
            },
            entry("libl.so.1", "/p/libl.so.1", 0x303),
        ];
        let bytes = write(&entries, ByteOrder::Little, None).unwrap();
        let cache = LdCache::parse(&bytes).unwrap();
        assert_eq!(cache.entries(), entries.as_slice());
        let value = |legacy_hwcaps| {
            let q = CacheQuery {
                legacy_hwcaps,
                ..query(X86_64, &[])
            };
            cache.lookup("libl.so.1", &q).map(|e| e.value.clone())
        };
        let glibc236 = |hwcap, platform| LegacyHwcaps::Glibc236 {
            hwcap,
            platform_mask: 0xf << 48,
            platform,
        };
        assert_eq!(
            value(LegacyHwcaps::Removed).as_deref(),
            Some("/p/libl.so.1")
        );
        assert_eq!(
            value(glibc236(2, Some(49))).as_deref(),
            Some("/p/haswell/x86_64/libl.so.1")
        );
        // Unknown platform: platform entries are skipped; the TLS bit is never excluded.
        assert_eq!(
            value(glibc236(2, None)).as_deref(),
            Some("/p/tls/libl.so.1")
        );
        assert_eq!(
            value(glibc236(0, Some(49))).as_deref(),
            Some("/p/tls/libl.so.1")
        );
    }

    #[test]
    fn cache_hwcaps_priorities_merge() {
        let section = strings(&["power10", "x86-64-v2", "x86-64-v3", "x86-64-v4"]);
        let active = strings(&["x86-64-v2", "x86-64-v4", "x86-64-v3", "x86-64-v2"]);
        assert_eq!(hwcaps_priorities(&section, &active), [0, 1, 3, 2]);
        assert_eq!(hwcaps_priorities(&section, &[]), [0, 0, 0, 0]);
    }

    #[test]
    fn cache_accept_flags_per_port() {
        let only = |id| Some(AcceptFlags::only(id));
        assert_eq!(accept_flags_for(EM_X86_64, true, 0), only(0x303));
        assert_eq!(accept_flags_for(EM_X86_64, false, 0), only(0x803));
        assert_eq!(accept_flags_for(3, false, 0), Some(AcceptFlags::GENERIC)); // i386
        assert_eq!(accept_flags_for(EM_AARCH64, true, 0), only(0xa03));
        assert_eq!(accept_flags_for(EM_AARCH64, false, 0), None);
        assert_eq!(accept_flags_for(EM_PPC64, true, 2), only(0x503));
        assert_eq!(accept_flags_for(20, false, 0), Some(AcceptFlags::GENERIC)); // ppc
        assert_eq!(accept_flags_for(EM_S390, true, 0), only(0x403));
        assert_eq!(accept_flags_for(EM_SPARCV9, true, 0), only(0x103));
        assert_eq!(accept_flags_for(EM_RISCV, true, 0x5), only(0x1003));
        assert_eq!(accept_flags_for(EM_RISCV, true, 0x1), only(0x0f03));
        assert_eq!(accept_flags_for(EM_LOONGARCH, true, 0x43), only(0x1203));
        assert_eq!(accept_flags_for(EM_LOONGARCH, true, 0x41), only(0x1103));
        assert_eq!(accept_flags_for(EM_MIPS, true, 0), only(0x703));
        assert_eq!(accept_flags_for(EM_MIPS, true, 0x400), only(0xe03));
        assert_eq!(accept_flags_for(EM_MIPS, false, 0x20), only(0x603));
        assert_eq!(accept_flags_for(EM_MIPS, false, 0x420), only(0xd03));
        assert_eq!(accept_flags_for(EM_MIPS, false, 0x400), only(0xc03));
        assert_eq!(
            accept_flags_for(EM_MIPS, false, 0),
            Some(AcceptFlags::GENERIC)
        );
        let hard = accept_flags_for(EM_ARM, false, 0x0500_0400).unwrap();
        let soft = accept_flags_for(EM_ARM, false, 0x0500_0200).unwrap();
        assert!(hard.accepts(0x903) && hard.accepts(3) && !hard.accepts(0xb03));
        assert!(soft.accepts(0xb03) && soft.accepts(3) && !soft.accepts(0x903));
        assert!(AcceptFlags::GENERIC.accepts(1) && !X86_64.accepts(3));

        // ARM hard-float: a 0x903 entry wins, though only 3 is the default id.
        let cache = LdCache::parse(
            &write(
                &[
                    entry("libm.so.6", "/lib/arm-linux-gnueabihf/libm.so.6", 0x903),
                    entry("libm.so.6", "/lib/arm-linux-gnueabi/libm.so.6", 0xb03),
                    entry("libm.so.6", "/lib/libm.so.6", 0x003),
                ],
                ByteOrder::Little,
                None,
            )
            .unwrap(),
        )
        .unwrap();
        let value = |a| {
            cache
                .lookup("libm.so.6", &query(a, &[]))
                .unwrap()
                .value
                .clone()
        };
        assert_eq!(value(hard), "/lib/arm-linux-gnueabihf/libm.so.6");
        assert_eq!(value(soft), "/lib/arm-linux-gnueabi/libm.so.6");
    }

    #[test]
    fn cache_rejects_corrupt_extensions() {
        let bytes = write(&sample(), ByteOrder::Little, Some("g")).unwrap();
        let ext = u32::from_le_bytes(bytes[32..36].try_into().unwrap()) as usize;
        let mut bad_magic = bytes.clone();
        bad_magic[ext] ^= 1;
        assert!(matches!(
            LdCache::parse(&bad_magic),
            Err(CacheError::BadExtension {
                reason: "bad magic",
                ..
            })
        ));
        let mut misaligned = bytes.clone();
        misaligned[32] |= 1;
        assert!(matches!(
            LdCache::parse(&misaligned),
            Err(CacheError::BadExtension { .. })
        ));
        // A hwcaps section of size 0 is dropped (cache_extension_verify): no subdirs, and
        // extension entries are unusable.
        let mut empty = bytes.clone();
        let hwcaps_size = ext + 8 + 16 + 12;
        empty[hwcaps_size..hwcaps_size + 4].copy_from_slice(&0u32.to_le_bytes());
        let cache = LdCache::parse(&empty).unwrap();
        assert!(cache.entries().iter().all(|e| e.hwcaps_subdir.is_none()));
        let x86 = strings(&["x86-64-v3"]);
        assert_eq!(
            cache
                .lookup("libhw.so.2", &query(X86_64, &x86))
                .unwrap()
                .value,
            "/opt/libhw.so.2"
        );
        assert_eq!(LdCache::parse(b"garbage"), Err(CacheError::BadMagic));
    }

    /// ldconfig builds a cache with glibc-hwcaps entries from a tree; we list it like
    /// `ldconfig -p`, rewrite it byte for byte, and the real loader, chrooted into the tree,
    /// picks the entries `lookup` picks under several hwcaps settings. Needs root, chroot
    /// and gcc; skipped (with a message) without them.
    #[test]
    fn cache_hwcaps_tree_matches_ldconfig_and_loader() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let gcc_ok = Command::new("gcc").arg("--version").output().is_ok();
        let chroot_ok = Command::new("chroot")
            .arg("/")
            .arg("true")
            .status()
            .is_ok_and(|s| s.success());
        if !gcc_ok || !chroot_ok {
            eprintln!("skipped: needs gcc and chroot (root)");
            return;
        }
        let src = root.join("lib.c");
        std::fs::write(&src, "int f(void) { return 0; }\n").unwrap();
        // (directory under /opt/lib, soname, x86 ISA level the library needs)
        let libs = [
            ("", "libhw.so.1", "baseline"),
            ("glibc-hwcaps/x86-64-v2/", "libhw.so.1", "v2"),
            ("glibc-hwcaps/x86-64-v3/", "libhw.so.1", "v3"),
            ("glibc-hwcaps/x86-64-v4/", "libhw.so.1", "v4"),
            ("", "libv4in3.so.1", "baseline"),
            ("glibc-hwcaps/x86-64-v3/", "libv4in3.so.1", "v4"),
            ("glibc-hwcaps/x86-64-v2/", "libonly.so.1", "v2"),
        ];
        for (sub, soname, isa) in libs {
            let out_dir = root.join("opt/lib").join(sub);
            std::fs::create_dir_all(&out_dir).unwrap();
            run(Command::new("gcc")
                .args(["-shared", "-fPIC", "-o"])
                .arg(out_dir.join(soname))
                .arg(format!("-Wl,-soname,{soname}"))
                // binutils 2.40 aborts on `-z x86-64-baseline`; unmarked means level 0.
                .args((isa != "baseline").then(|| format!("-Wl,-z,x86-64-{isa}")))
                .arg(&src));
        }
        let libdir = root.join("lib/x86_64-linux-gnu");
        std::fs::create_dir_all(&libdir).unwrap();
        std::fs::create_dir_all(root.join("lib64")).unwrap();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::copy(LD_SO, root.join("lib64/ld-linux-x86-64.so.2")).unwrap();
        std::fs::copy("/lib/x86_64-linux-gnu/libc.so.6", libdir.join("libc.so.6")).unwrap();
        std::fs::copy("/bin/true", root.join("true")).unwrap();
        std::fs::write(root.join("etc/ld.so.conf"), "/opt/lib\n").unwrap();
        run(Command::new("ldconfig").arg("-r").arg(root));

        let cache_path = root.join("etc/ld.so.cache");
        let bytes = std::fs::read(&cache_path).unwrap();
        let cache = LdCache::parse(&bytes).unwrap();
        let subdirs: Vec<_> = cache
            .entries()
            .iter()
            .filter_map(|e| e.hwcaps_subdir.as_deref())
            .collect();
        assert!(subdirs.contains(&"x86-64-v4"), "{:?}", cache.entries());
        assert_eq!(
            ldconfig_p(&cache_path),
            listing(&cache, cache_path.to_str().unwrap())
        );
        let written = write(cache.entries(), ByteOrder::Little, cache.generator()).unwrap();
        assert!(written == bytes, "rewritten hwcaps cache differs");

        let root_str = root.to_str().unwrap();
        // ldconfig records the ISA level the library needs, not its directory's.
        let v4in3 = cache
            .entries()
            .iter()
            .find(|e| e.value.ends_with("v3/libv4in3.so.1"));
        assert_eq!(v4in3.map(|e| (e.hwcap >> 32) & ISA_LEVEL_MASK), Some(3));
        let names = ["libhw.so.1", "libv4in3.so.1", "libonly.so.1"];
        let mut seen = BTreeSet::new();
        // (--glibc-hwcaps-prepend, --glibc-hwcaps-mask, environment)
        type Setting<'a> = (
            &'a [&'a str],
            Option<&'a [&'a str]>,
            &'a [(&'a str, &'a str)],
        );
        let settings: [Setting<'_>; 5] = [
            (&[], None, &[]),
            (&["x86-64-v2"], None, &[]),
            (&[], Some(&["x86-64-v2", "x86-64-v3"]), &[]),
            (&[], Some(&[]), &[]),
            (
                &[],
                None,
                &[("GLIBC_TUNABLES", "glibc.cpu.hwcaps=-AVX512F")],
            ),
        ];
        for (prepend, mask, env) in settings {
            let mut options = Vec::new();
            let prepend_arg = prepend.join(":");
            let mask_arg = mask.map(|m| m.join(":"));
            if !prepend.is_empty() {
                options.extend(["--glibc-hwcaps-prepend", prepend_arg.as_str()]);
            }
            if let Some(m) = &mask_arg {
                options.extend(["--glibc-hwcaps-mask", m.as_str()]);
            }
            let prefix = ["chroot", root_str];
            let (hwcaps, x86_isa_1, legacy_hwcaps) = loader_hwcaps(&prefix, prepend, mask, env);
            let q = CacheQuery {
                accept: X86_64,
                hwcaps: &hwcaps,
                x86_isa_1,
                legacy_hwcaps,
            };
            let loader = loader_cache_results(&prefix, &options, env, &names, "/true");
            seen.insert(loader["libhw.so.1"].clone());
            for name in names {
                let ours = cache.lookup(name, &q).map(|e| e.value.clone());
                assert_eq!(
                    loader.get(name),
                    Some(&ours),
                    "{name} with {options:?} {env:?}"
                );
            }
        }
        // The settings led the loader to different files (at least the v2 and base ones).
        assert!(seen.len() >= 2, "{seen:?}");
    }
}
