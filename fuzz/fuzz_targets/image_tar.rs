//! The `image_tar` target: [`depclose_fuzz::image_tar`] on each input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    depclose_fuzz::image_tar(data);
});
