//! The `ld_so_cache` target: [`depclose_fuzz::ld_so_cache`] on each input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    depclose_fuzz::ld_so_cache(data);
});
