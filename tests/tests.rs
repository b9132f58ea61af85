//! depclose's integration tests: one binary, one module per concern, shared helpers in
//! `util` (no module uses another's items).
//!
//! A test that needs something of the machine (root, chroot, a setuid program in secure mode,
//! a container engine, a tool, a mirror) checks for it first; without it the test prints one
//! `SKIPPED <test>: <reason>` line and passes. Run with `-- --show-output` to see those lines.

// A test that cannot unwrap should fail loudly, which is what unwrap does.
#![allow(clippy::unwrap_used)]

mod audit;
mod bad_input;
mod cli;
mod conformance;
mod corners;
mod fuzz_regressions;
mod hostile;
mod image_additions;
mod image_clients;
mod image_layout;
mod image_run;
mod image_safety;
mod image_scan;
mod limits;
mod output_safety;
mod push;
mod recipes;
mod scenarios;
mod sysroot;
mod trace;
mod util;
