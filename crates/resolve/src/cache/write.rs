//! The writer: `save_cache` and `compare` in ldconfig's `elf/cache.c`, with
//! `stringtable_finalize` from `elf/stringtable.c`.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BTreeSet;

use depclose_elf::name;

use super::format::{
    ByteOrder, CacheEntry, CacheError, ENDIAN_BIG, ENDIAN_LITTLE, EXTENSION_HEADER_SIZE,
    EXTENSION_MAGIC, EXTENSION_SECTION_SIZE, HWCAP_EXTENSION, NEW_ENTRY_SIZE, NEW_HEADER_SIZE,
    NEW_MAGIC, TAG_GENERATOR, TAG_GLIBC_HWCAPS,
};
use super::lookup::libcmp;

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
pub(crate) fn write(
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
    let hwcaps_offset = ext_offset + EXTENSION_HEADER_SIZE + EXTENSION_SECTION_SIZE * sections;
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
                HWCAP_EXTENSION | u64::from(entry.isa_level()) << 32 | index as u64
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
pub(crate) fn ldconfig_compare(e1: &CacheEntry, e2: &CacheEntry) -> Ordering {
    let res = libcmp(&name::decode(&e2.key), &name::decode(&e1.key));
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
        (Some(a), Some(b)) if a != b => return name::decode(a).cmp(&name::decode(b)),
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
/// is a suffix of the one before it shares that one's tail. ldconfig orders and merges the
/// bytes, so the table works on the bytes each string stands for.
struct StringTable<'a> {
    bytes: Vec<u8>,
    offsets: std::collections::BTreeMap<&'a str, usize>,
}

impl<'a> StringTable<'a> {
    fn new(strings: impl Iterator<Item = &'a str>) -> StringTable<'a> {
        let mut order: Vec<(&str, Cow<'_, [u8]>)> = strings
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(|s| (s, name::decode(s)))
            .collect();
        order.sort_by(|(_, a), (_, b)| b.iter().rev().cmp(a.iter().rev()));
        let mut bytes = Vec::new();
        let mut offsets = std::collections::BTreeMap::new();
        let mut previous: Option<(&[u8], usize)> = None;
        for (s, raw) in &order {
            let offset = match previous {
                Some((p, at)) if p.ends_with(raw) => at + p.len() - raw.len(),
                _ => {
                    let at = bytes.len();
                    bytes.extend_from_slice(raw);
                    bytes.push(0);
                    at
                }
            };
            offsets.insert(*s, offset);
            previous = Some((raw, offset));
        }
        StringTable { bytes, offsets }
    }

    fn offset(&self, s: &str) -> usize {
        self.offsets.get(s).copied().unwrap_or_default()
    }
}

/// Appends integers in the cache's byte order.
pub(super) struct Writer {
    pub(super) out: Vec<u8>,
    pub(super) order: ByteOrder,
}

impl Writer {
    pub(super) fn u32(&mut self, v: u32) {
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
    use crate::cache::LdCache;
    use crate::cache::fixtures::*;

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
        let order: Vec<String> = cache.entries().into_iter().map(|e| e.value).collect();
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

    /// ldconfig sorts and stores bytes: a key that is not UTF-8 (`name`-encoded) sorts as
    /// its bytes (`\xc0` below `é`'s `\xc3\xa9`, though its escape is above), is written as
    /// them, and is found by them.
    #[test]
    fn cache_names_that_are_not_utf8_are_their_bytes() {
        let stray = "lib\u{10ffc0}.so";
        let input = vec![
            entry(stray, "/d\u{10fffe}/lib\u{10ffc0}.so", 0x303),
            entry("lib\u{e9}.so", "/a/lib\u{e9}.so", 0x303),
        ];
        let bytes = write(&input, ByteOrder::Little, None).unwrap();
        let at = |s: &[u8]| bytes.windows(s.len()).position(|w| w == s);
        assert!(at(b"\0/d\xfe/lib\xc0.so\0").is_some());
        let cache = LdCache::parse(&bytes).unwrap();
        let keys: Vec<String> = cache.entries().into_iter().map(|e| e.key).collect();
        assert_eq!(keys, ["lib\u{e9}.so", stray]);
        let found = cache.lookup(stray, &query(X86_64, &[]));
        assert_eq!(
            found.map(|e| e.value).as_deref(),
            Some(input[0].value.as_str())
        );
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
}
