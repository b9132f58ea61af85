//! The `elf_headers` target: [`depclose_fuzz::elf_headers`] on each input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    depclose_fuzz::elf_headers(data);
});
