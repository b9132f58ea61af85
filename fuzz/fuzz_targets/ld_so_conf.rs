//! The `ld_so_conf` target: [`depclose_fuzz::ld_so_conf`] on each input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    depclose_fuzz::ld_so_conf(data);
});
