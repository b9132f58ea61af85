//! The `elf_audit` target: [`depclose_fuzz::elf_audit`] on each input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    depclose_fuzz::elf_audit(data);
});
