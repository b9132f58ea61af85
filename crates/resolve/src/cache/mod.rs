//! Read, search and write glibc's `/etc/ld.so.cache`, exactly as glibc 2.36 and current
//! upstream do: the on-disk format and its reader ([`mod@format`]), the flags each port's
//! loader accepts ([`flags`]), the lookup ([`lookup`]), and ldconfig's writer
//! ([`mod@write`]).
//!
//! Sources (read, not copied): `sysdeps/generic/dl-cache.h` (layout, extension sections),
//! `elf/dl-cache.c` (`_dl_load_cache_lookup`, `search_cache`, `_dl_cache_libcmp`),
//! `sysdeps/unix/sysv/linux/*/dl-cache.h` and `sysdeps/x86_64/dl-cache.h` (accepted flags per
//! architecture), `sysdeps/x86/dl-isa-level.h` (ISA level check), `elf/dl-hwcaps.c`
//! (glibc-hwcaps priorities), and the writer in ldconfig, `elf/cache.c` (`compare`,
//! `save_cache`) with `elf/stringtable.c` (`stringtable_finalize`).
//!
//! Keys and values are `String`s, as depclose holds every soname and path: bytes that are
//! not UTF-8 are kept by [`depclose_elf::name`]. Keys are compared, and strings written, as
//! the bytes they stand for, so such an entry sorts and is found where ldconfig put it.
//!
//! The module depends on nothing else in the crate: `crates/resolve/tests/ld_so_cache.rs`
//! compiles it on its own to compare it with the host's cache, `ldconfig` and loader.

mod flags;
mod format;
mod lookup;
mod write;

#[cfg(test)]
pub(crate) mod fixtures;

pub(crate) use flags::accept_flags_for;
pub use format::CacheError;
pub(crate) use format::{ByteOrder, CacheEntry, LdCache};
pub(crate) use lookup::{CacheQuery, LegacyHwcaps};
pub(crate) use write::write;
#[cfg(test)]
#[allow(unused_imports, reason = "used by tests/ld_so_cache.rs")]
pub(crate) use {format::CacheFormat, write::ldconfig_compare};
