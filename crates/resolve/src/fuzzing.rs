//! Entry points for the fuzz targets (`fuzz/`) and their replay in the test suite: the
//! readers of `ld.so.cache` and `ld.so.conf`, which are private to the crate, driven the way
//! the resolver drives them. Not a stable interface.

use std::path::Path;

use depclose_elf::machine::EM_X86_64;

use crate::cache::{CacheError, CacheQuery, LdCache, LegacyHwcaps, accept_flags_for};
use crate::{Error, Root, ld_so_conf};

/// Parse `bytes` as an `ld.so.cache`, then look up the first entries' keys (and a name it
/// lacks) as an x86-64 loader of each glibc generation would; returns how many lookups
/// found an entry.
pub fn ld_so_cache(bytes: &[u8]) -> Result<usize, CacheError> {
    let cache = LdCache::parse(bytes)?;
    let hwcaps = ["x86-64-v3".to_owned(), "x86-64-v2".to_owned()];
    let legacy = [
        LegacyHwcaps::Removed,
        LegacyHwcaps::Glibc236 {
            hwcap: 0,
            platform_mask: 0xf << 48,
            platform: Some(0),
        },
    ];
    let accept = accept_flags_for(EM_X86_64, true, 0).expect("x86-64 has its cache flags");
    // A bounded number of keys: each lookup is a binary search plus a scan of equal keys.
    let entries = cache.entries();
    let mut names: Vec<&str> = entries.iter().take(64).map(|e| e.key.as_str()).collect();
    names.push("libnot-in-the-cache.so.1");
    let mut found = 0;
    for legacy_hwcaps in legacy {
        let query = CacheQuery {
            accept,
            hwcaps: &hwcaps,
            x86_isa_1: Some(7),
            legacy_hwcaps,
        };
        found += names
            .iter()
            .filter(|n| cache.lookup(n, &query).is_some())
            .count();
    }
    Ok(found)
}

/// The directories of the `etc/ld.so.conf` under `root` (a directory standing for a root,
/// its includes read inside it), in `ldconfig`'s order.
pub fn ld_so_conf(root: &Path) -> Result<Vec<String>, Error> {
    Ok(ld_so_conf::directories(&Root::new(root)?))
}
