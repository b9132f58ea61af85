//! The `gconv_modules` target: [`depclose_fuzz::gconv_modules`] on each input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    depclose_fuzz::gconv_modules(data);
});
