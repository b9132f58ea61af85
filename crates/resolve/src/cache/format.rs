//! The on-disk format (`sysdeps/generic/dl-cache.h`) and its reader: which of the three
//! layouts `_dl_load_cache_lookup` accepts a file has, its entries, and the extension
//! sections (`cache_extension_load`, `cache_extension_verify`).

use depclose_elf::name;

/// `CACHEMAGIC` in `sysdeps/generic/dl-cache.h`: the libc5 / glibc 2.0 format.
const OLD_MAGIC: &[u8] = b"ld.so-1.7.0";
/// `CACHEMAGIC_VERSION_NEW`: `"glibc-ld.so.cache"` followed by `CACHE_VERSION` `"1.1"`.
pub(super) const NEW_MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
/// `sizeof (struct cache_file)`: the 11-byte magic, padding, `nlibs`.
const OLD_HEADER_SIZE: usize = 16;
/// `sizeof (struct file_entry)`: `flags`, `key`, `value`.
const OLD_ENTRY_SIZE: usize = 12;
/// `sizeof (struct cache_file_new)`, checked by a `_Static_assert` in `dl-cache.h`.
pub(super) const NEW_HEADER_SIZE: usize = 48;
/// `sizeof (struct file_entry_new)`: `flags`, `key`, `value`, `osversion_unused`, `hwcap`.
pub(super) const NEW_ENTRY_SIZE: usize = 24;
/// Fields of `struct cache_file_new` after the magic: `nlibs`, `len_strings`, `flags`, three
/// bytes of padding, `extension_offset`, unused words to the header's end.
const NEW_NLIBS_AT: usize = NEW_MAGIC.len();
const NEW_FLAGS_AT: usize = NEW_NLIBS_AT + 8;
const NEW_EXTENSION_OFFSET_AT: usize = NEW_FLAGS_AT + 4;
/// `__alignof__ (struct cache_file_new)` on 64-bit targets (it holds a `uint64_t`), used by
/// `ALIGN_CACHE` to find the new header inside an old-format file. ldconfig rounds the old
/// entry count up to even in that layout, so 32-bit loaders find it at the same place.
const NEW_HEADER_ALIGN: usize = 8;
/// `cache_extension_magic`, "randomly chosen" as `(uint32_t) -358342284`.
pub(super) const EXTENSION_MAGIC: u32 = 0xEAA4_2174;
/// `sizeof (struct cache_extension)`: `magic`, `count`, then the sections.
pub(super) const EXTENSION_HEADER_SIZE: usize = 8;
/// `sizeof (struct cache_extension_section)`: `tag`, `flags`, `offset`, `size`.
pub(super) const EXTENSION_SECTION_SIZE: usize = 16;
/// `cache_extension_tag_generator`: bytes naming the program that wrote the cache.
pub(super) const TAG_GENERATOR: u32 = 0;
/// `cache_extension_tag_glibc_hwcaps`: `uint32_t` string offsets of the subdirectory names.
pub(super) const TAG_GLIBC_HWCAPS: u32 = 1;
/// `cache_file_new_flags_endian_*` in the new header's `flags` byte.
const ENDIAN_INVALID: u8 = 1;
pub(super) const ENDIAN_LITTLE: u8 = 2;
pub(super) const ENDIAN_BIG: u8 = 3;
const ENDIAN_MASK: u8 = 3;

/// `DL_CACHE_HWCAP_EXTENSION`: "the lower 32 bits contain an index into the
/// cache_extension_tag_glibc_hwcaps section".
pub(crate) const HWCAP_EXTENSION: u64 = 1 << 62;
/// `DL_CACHE_HWCAP_ISA_LEVEL_MASK`: the ISA level is stored in bits 32..42 of `hwcap`.
const ISA_LEVEL_MASK: u64 = (1 << 10) - 1;

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
    /// The extension directory fails a check of `cache_extension_load`.
    #[error("ld.so.cache extension directory at offset {offset}: {reason}")]
    BadExtension { offset: u32, reason: &'static str },
    /// The writer: a key, value or subdirectory name contains a NUL byte.
    #[error("cannot write {0:?} into an ld.so.cache: it contains a NUL byte")]
    NulInString(String),
    /// The writer: the cache would not fit the format's 32-bit offsets and counts.
    #[error("ld.so.cache would exceed the format's 32-bit offsets")]
    TooLarge,
}

/// The byte order of a cache (`cache_file_new_flags_endian_little` / `_big`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ByteOrder {
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
pub(crate) enum CacheFormat {
    /// Only the libc5 / glibc 2.0 `"ld.so-1.7.0"` table (12-byte entries, no hwcap).
    Old,
    /// Only the `"glibc-ld.so.cache1.1"` table (ldconfig's default since glibc 2.32).
    New,
    /// The old table with the new one hidden in its string area; glibc uses the new one.
    OldWithNew,
}

/// One `struct file_entry_new` (or `struct file_entry`) of the cache.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CacheEntry {
    /// The soname the loader looks up.
    pub(crate) key: String,
    /// The path the loader opens.
    pub(crate) value: String,
    /// Low byte: library type (`FLAG_ELF_LIBC6` = 3); high byte: ABI (`FLAG_X8664_LIB64`
    /// = 0x300, ...), `sysdeps/generic/ldconfig.h`.
    pub(crate) flags: i32,
    /// Bit 62 (`DL_CACHE_HWCAP_EXTENSION`) with ISA level in bits 32..42 and a glibc-hwcaps
    /// section index in the low 32 bits; else legacy hwcap bits (glibc ≤ 2.36 ldconfig).
    /// Always 0 in the old format.
    pub(crate) hwcap: u64,
    /// The glibc-hwcaps subdirectory name (`"x86-64-v3"`) of an extension entry, as
    /// ldconfig's `glibc_hwcaps_string` finds it; `None` for other entries.
    pub(crate) hwcaps_subdir: Option<String>,
}

impl CacheEntry {
    /// The x86 ISA level an extension entry's library needs (`DL_CACHE_HWCAP_ISA_LEVEL_MASK`
    /// of `hwcap >> 32`): ldconfig records the level of the library, not of its directory.
    pub(crate) fn isa_level(&self) -> u32 {
        isa_level(self.hwcap)
    }
}

/// `dl_cache_hwcap_extension`: only bit 62 is set in the upper half, "ignoring the lower
/// 32 bits as well as the ISA level bits".
pub(super) fn is_hwcaps_extension(hwcap: u64) -> bool {
    (hwcap >> 32) & !ISA_LEVEL_MASK == HWCAP_EXTENSION >> 32
}

/// See [`CacheEntry::isa_level`].
pub(super) fn isa_level(hwcap: u64) -> u32 {
    ((hwcap >> 32) & ISA_LEVEL_MASK) as u32
}

/// One entry as the file holds it: its strings as offsets into the file, read only when a
/// lookup compares or returns them. A cache has thousands of entries and a run looks up a
/// few dozen names: making every string up front was a third of a one-program run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RawEntry {
    pub(super) flags: i32,
    key: usize,
    value: usize,
    pub(super) hwcap: u64,
}

/// A parsed `ld.so.cache`: the table glibc would search, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LdCache {
    pub(super) format: CacheFormat,
    byte_order: ByteOrder,
    /// The file, which the entries' strings point into.
    bytes: Vec<u8>,
    pub(super) entries: Vec<RawEntry>,
    /// The `cache_extension_tag_glibc_hwcaps` section, resolved to names, in file order
    /// (ldconfig sorts it by `strcmp`); empty if absent or dropped by
    /// `cache_extension_verify`.
    pub(super) hwcaps_section: Vec<String>,
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
    pub(crate) fn parse(bytes: &[u8]) -> Result<LdCache, CacheError> {
        LdCache::parse_owned(bytes.to_vec())
    }

    /// [`LdCache::parse`], keeping `bytes`.
    pub(crate) fn parse_owned(bytes: Vec<u8>) -> Result<LdCache, CacheError> {
        let (format, byte_order, entries, hwcaps_section, generator) = LdCache::table(&bytes)?;
        Ok(LdCache {
            format,
            byte_order,
            bytes,
            entries,
            hwcaps_section,
            generator,
        })
    }

    fn table(bytes: &[u8]) -> Result<Table, CacheError> {
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
    pub(crate) fn entries(&self) -> Vec<CacheEntry> {
        self.entries.iter().map(|e| self.entry(e)).collect()
    }

    /// The key of `e`, as bytes.
    pub(super) fn key(&self, e: &RawEntry) -> &[u8] {
        self.string_at(e.key)
    }

    /// The value of `e` (the path), as bytes.
    pub(super) fn value(&self, e: &RawEntry) -> &[u8] {
        self.string_at(e.value)
    }

    /// `e` with its strings, [`name`]-encoded.
    pub(super) fn entry(&self, e: &RawEntry) -> CacheEntry {
        CacheEntry {
            key: name::encode(self.key(e)).into_owned(),
            value: name::encode(self.value(e)).into_owned(),
            flags: e.flags,
            hwcap: e.hwcap,
            hwcaps_subdir: if is_hwcaps_extension(e.hwcap) {
                self.hwcaps_section.get(e.hwcap as u32 as usize).cloned()
            } else {
                None
            },
        }
    }

    /// The string at a checked offset (see [`Reader::offset`]).
    fn string_at(&self, at: usize) -> &[u8] {
        let tail = self.bytes.get(at..).unwrap_or_default();
        name::until_nul(tail)
    }

    /// The layout the entries were read from.
    #[cfg(test)]
    pub(crate) fn format(&self) -> CacheFormat {
        self.format
    }

    /// The byte order of the cache (the host order for old-only caches that fit it).
    #[cfg(test)]
    pub(crate) fn byte_order(&self) -> ByteOrder {
        self.byte_order
    }

    /// The `cache_extension_tag_generator` text, e.g. `ldconfig (GNU libc) stable release
    /// version 2.36` (non-UTF-8 bytes replaced: it is informational only).
    #[cfg(test)]
    pub(crate) fn generator(&self) -> Option<&str> {
        self.generator.as_deref()
    }
}

/// What a cache's parse yields besides its bytes.
type Table = (
    CacheFormat,
    ByteOrder,
    Vec<RawEntry>,
    Vec<String>,
    Option<String>,
);

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

    /// The NUL-terminated string at `base + offset`, [`name`]-encoded.
    fn string(&self, base: usize, offset: u32) -> Result<String, CacheError> {
        let at = self.offset(base, offset, self.last_nul())?;
        Ok(name::encode(name::until_nul(&self.bytes[at..])).into_owned())
    }

    /// Where the file's last NUL is: a string starting at or before it is terminated.
    fn last_nul(&self) -> Option<usize> {
        self.bytes.iter().rposition(|&b| b == 0)
    }

    /// `base + offset`, checked to start a NUL-terminated string inside the file (given
    /// [`Reader::last_nul`]) without reading it.
    fn offset(
        &self,
        base: usize,
        offset: u32,
        last_nul: Option<usize>,
    ) -> Result<usize, CacheError> {
        let at = base as u64 + u64::from(offset);
        usize::try_from(at)
            .ok()
            .filter(|at| last_nul.is_some_and(|nul| *at <= nul))
            .ok_or(CacheError::BadString { offset: at })
    }
}

/// The old table alone: 12-byte entries, strings relative to the end of the entries.
fn parse_old(
    bytes: &[u8],
    order: ByteOrder,
    nlibs: usize,
    strings: usize,
) -> Result<Table, CacheError> {
    let r = Reader { bytes, order };
    let last_nul = r.last_nul();
    let entries = (0..nlibs)
        .map(|i| {
            let at = OLD_HEADER_SIZE + i * OLD_ENTRY_SIZE;
            Ok(RawEntry {
                flags: r.u32(at, "old-format entry")? as i32,
                key: r.offset(strings, r.u32(at + 4, "old-format entry")?, last_nul)?,
                value: r.offset(strings, r.u32(at + 8, "old-format entry")?, last_nul)?,
                hwcap: 0,
            })
        })
        .collect::<Result<_, CacheError>>()?;
    Ok((CacheFormat::Old, order, entries, Vec::new(), None))
}

/// The new table whose header starts at `base` (0, or inside an old-format file). Entry
/// strings are relative to the header; extension offsets and the hwcaps section's string
/// offsets are relative to the start of the file (`cache_extension_load` and
/// `glibc_hwcaps_compare` add them to the file base).
fn parse_new(bytes: &[u8], base: usize, format: CacheFormat) -> Result<Table, CacheError> {
    let flags = *bytes
        .get(base + NEW_FLAGS_AT)
        .ok_or(CacheError::Truncated {
            what: "new-format header",
            needed: (base + NEW_HEADER_SIZE) as u64,
            len: bytes.len(),
        })?;
    let fits = |order| -> Result<u32, CacheError> {
        let nlibs = Reader { bytes, order }.u32(base + NEW_NLIBS_AT, "new-format header")?;
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
    let extension_offset = r.u32(base + NEW_EXTENSION_OFFSET_AT, "new-format header")?;
    let (hwcaps_section, generator) = parse_extensions(&r, extension_offset)?;

    let last_nul = r.last_nul();
    let entries = (0..nlibs as usize)
        .map(|i| {
            let at = base + NEW_HEADER_SIZE + i * NEW_ENTRY_SIZE;
            Ok(RawEntry {
                flags: r.u32(at, "new-format entry")? as i32,
                key: r.offset(base, r.u32(at + 4, "new-format entry")?, last_nul)?,
                value: r.offset(base, r.u32(at + 8, "new-format entry")?, last_nul)?,
                hwcap: r.u64(at + 16, "new-format entry")?,
            })
        })
        .collect::<Result<_, CacheError>>()?;
    Ok((format, order, entries, hwcaps_section, generator))
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
    let sections_end =
        (dir + EXTENSION_HEADER_SIZE) as u64 + u64::from(count) * EXTENSION_SECTION_SIZE as u64;
    if sections_end > r.bytes.len() as u64 {
        return Err(bad("section array extends beyond the end of the file"));
    }
    let mut sections: [Option<(usize, usize)>; 2] = [None, None];
    for i in 0..count as usize {
        let at = dir + EXTENSION_HEADER_SIZE + i * EXTENSION_SECTION_SIZE;
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::cache::accept_flags_for;
    use crate::cache::fixtures::*;
    use crate::cache::flags::AcceptFlags;
    use crate::cache::write::{Writer, write};
    use depclose_elf::machine::EM_S390;

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
}
