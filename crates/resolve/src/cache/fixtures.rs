//! Cache entries and queries shared by the cache's tests.

use super::flags::AcceptFlags;
use super::format::HWCAP_EXTENSION;
use super::{CacheEntry, CacheQuery, LegacyHwcaps};

pub(crate) const X86_64: AcceptFlags = AcceptFlags::only(0x303);

pub(crate) fn entry(key: &str, value: &str, flags: i32) -> CacheEntry {
    CacheEntry {
        key: key.to_owned(),
        value: value.to_owned(),
        flags,
        hwcap: 0,
        hwcaps_subdir: None,
    }
}

pub(crate) fn hwcaps_entry(
    key: &str,
    value: &str,
    subdir: &str,
    index: u64,
    isa: u64,
) -> CacheEntry {
    CacheEntry {
        hwcap: HWCAP_EXTENSION | isa << 32 | index,
        hwcaps_subdir: Some(subdir.to_owned()),
        ..entry(key, value, 0x303)
    }
}

pub(crate) fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

pub(crate) fn query(accept: AcceptFlags, hwcaps: &[String]) -> CacheQuery<'_> {
    CacheQuery {
        accept,
        hwcaps,
        x86_isa_1: None,
        legacy_hwcaps: LegacyHwcaps::Removed,
    }
}

pub(crate) fn sample() -> Vec<CacheEntry> {
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
