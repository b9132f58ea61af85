//! The `nsswitch` target: [`depclose_fuzz::nsswitch`] on each input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    depclose_fuzz::nsswitch(data);
});
