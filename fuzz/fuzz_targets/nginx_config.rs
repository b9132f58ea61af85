//! The `nginx_config` target: [`depclose_fuzz::nginx_config`] on each input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    depclose_fuzz::nginx_config(data);
});
