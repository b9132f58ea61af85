//! The lookup: `_dl_load_cache_lookup` and `search_cache` in `elf/dl-cache.c`, with the
//! ISA level check of `sysdeps/x86/dl-isa-level.h` and the glibc-hwcaps priorities of
//! `elf/dl-hwcaps.c`.

use std::cmp::Ordering;

use depclose_elf::name;

use super::flags::AcceptFlags;
use super::format::{CacheEntry, CacheFormat, LdCache, RawEntry, is_hwcaps_extension, isa_level};

/// `_DL_HWCAP_TLS_MASK` in glibc 2.36 `search_cache`: never excluded by the legacy filter.
const HWCAP_TLS_MASK: u64 = 1 << 63;

/// How `search_cache` treats entries with a non-zero hwcap that is not a glibc-hwcaps
/// extension (written by ldconfig ≤ 2.36 for `tls/`, AT_PLATFORM and legacy hwcap
/// subdirectories).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum LegacyHwcaps {
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
pub(crate) struct CacheQuery<'a> {
    /// The accepted flags, usually from [`accept_flags_for`](super::accept_flags_for).
    pub(crate) accept: AcceptFlags,
    /// The active glibc-hwcaps subdirectories, best first, as `_dl_important_hwcaps` builds
    /// them: `--glibc-hwcaps-prepend` names, then the port's `_dl_hwcaps_subdirs` that the CPU
    /// supports and `--glibc-hwcaps-mask` keeps (x86_64: `x86-64-v4`, `x86-64-v3`,
    /// `x86-64-v2`). Empty: no extension entry is used.
    pub(crate) hwcaps: &'a [String],
    /// x86 only: the CPU's `cpu_features->isa_1` (`GNU_PROPERTY_X86_ISA_1_BASELINE` = 1, V2
    /// = 2, V3 = 4, V4 = 8; `x86.cpu_features.isa_1` in `ld.so --list-diagnostics`). An
    /// extension entry whose ISA level the CPU lacks is skipped (`sysdeps/x86/dl-isa-level.h`).
    /// `None` on other ports, whose `dl_cache_hwcap_isa_level_compatible` is always true.
    pub(crate) x86_isa_1: Option<u32>,
    /// The treatment of legacy hwcap entries, which differs between glibc 2.36 and later.
    pub(crate) legacy_hwcaps: LegacyHwcaps,
}

impl LdCache {
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
    pub(crate) fn lookup(&self, name: &str, query: &CacheQuery<'_>) -> Option<CacheEntry> {
        self.search(name, query).map(|e| self.entry(e))
    }

    /// The path of the entry [`LdCache::lookup`] returns, [`name`]-encoded: all the
    /// loader takes from it.
    pub(crate) fn lookup_path(&self, name: &str, query: &CacheQuery<'_>) -> Option<String> {
        self.search(name, query)
            .map(|e| name::encode(self.value(e)).into_owned())
    }

    fn search(&self, name: &str, query: &CacheQuery<'_>) -> Option<&RawEntry> {
        let name = name::decode(name);
        let entries = &self.entries;
        let key_cmp = |i: usize| libcmp(&name, self.key(&entries[i]));
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
                        match self.step(entry.hwcap, best.map(|(_, p)| p), query, &mut priority_of)
                        {
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
        hwcap: u64,
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
        let named = is_hwcaps_extension(hwcap);
        if named && !isa_level_compatible(isa_level(hwcap), query.x86_isa_1) {
            return Step::Skip;
        }
        // "The entries with named/extension hwcaps have been exhausted (they are listed
        // before all other entries)."
        if !named && best.is_some() {
            return Step::Stop;
        }
        if legacy_hwcap_rejects(hwcap, named, query.legacy_hwcaps) {
            return Step::Skip;
        }
        if !named {
            return Step::Take { named, priority: 0 };
        }
        // Lower values are preferred; 0 means "do not use". The low 32 bits index the
        // hwcaps section (glibc truncates the u64 to uint32_t).
        let priority = priority_of(hwcap as u32);
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
fn isa_level_compatible(level: u32, x86_isa_1: Option<u32>) -> bool {
    match x86_isa_1 {
        None => true,
        Some(isa_1) => {
            let needed = 1u32.wrapping_shl(level);
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
pub(super) fn libcmp(p1: &[u8], p2: &[u8]) -> Ordering {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::cache::fixtures::*;
    use crate::cache::{ByteOrder, write};

    #[test]
    fn cache_lookup_follows_search_cache() {
        let cache = LdCache::parse(&write(&sample(), ByteOrder::Little, None).unwrap()).unwrap();
        // Leaked, to compare with literals: a test's few strings.
        let value = |q: &CacheQuery<'_>| -> Option<&str> {
            cache.lookup("libhw.so.2", q).map(|e| &*e.value.leak())
        };
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
}
