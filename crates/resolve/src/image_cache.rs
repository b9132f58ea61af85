//! An `ld.so.cache` for an image built from closures.
//!
//! An image has no `ldconfig` run: a library that the root's loader found only through its
//! cache (an `ld.so.conf` directory, not a system directory) would not be found in the image
//! without a cache of its own.

use std::collections::BTreeMap;

use depclose_elf::{Class, Data};

use crate::Closure;
use crate::cache::{self, ByteOrder, CacheEntry};
use crate::closure::How;

/// The bytes of an `/etc/ld.so.cache` that maps every name the closures found through the
/// cache (or `ld.so.conf`) to the path it was found at, or `None` when the system
/// directories find all of them and the image needs no cache.
pub fn image_ld_so_cache(closures: &[Closure]) -> Option<Vec<u8>> {
    let mut needed = false;
    let mut entries: BTreeMap<(String, String), CacheEntry> = BTreeMap::new();
    let mut order = ByteOrder::Little;
    for c in closures {
        let Some(f) = &c.facts else { continue };
        let Some(accept) = cache::accept_flags_for(f.machine, f.class == Class::Elf64, f.e_flags)
        else {
            continue;
        };
        if f.data == Data::Big {
            order = ByteOrder::Big;
        }
        for o in &c.objects {
            if !matches!(o.found.how, How::Cache | How::Conf) {
                continue;
            }
            let dir = o
                .path
                .rsplit_once('/')
                .map(|(d, _)| format!("{d}/"))
                .unwrap_or_default();
            if !f.system_dirs.contains(&dir) {
                needed = true;
            }
            for name in o.names.iter().filter(|n| !n.contains('/')) {
                entries.insert(
                    (name.clone(), o.path.clone()),
                    CacheEntry {
                        key: name.clone(),
                        value: o.path.clone(),
                        flags: accept.default_id,
                        hwcap: 0,
                        hwcaps_subdir: None,
                    },
                );
            }
        }
    }
    if !needed {
        return None;
    }
    let list: Vec<_> = entries.into_values().collect();
    cache::write(&list, order, Some("depclose")).ok()
}
