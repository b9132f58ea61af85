//! depclose's integration tests: one binary, one module per concern (style.md, "Tests").

// A test that cannot unwrap should fail loudly, which is what unwrap does.
#![allow(clippy::unwrap_used)]

mod bad_input;
mod cli;
mod conformance;
mod corners;
mod image;
mod report;
mod scenarios;
mod sysroot;
mod util;
