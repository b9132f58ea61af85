//! What the host tests share: checking that the machine has what a test needs.

use std::io::Write;
use std::process::Command;

/// True (after printing `SKIPPED <test>: <reason>`) when `lacking` names what the machine
/// lacks for `test`. The line goes straight to stdout: the test harness would swallow a
/// `println!` of a passing test.
pub(crate) fn skipped(test: &str, lacking: Option<&str>) -> bool {
    let Some(reason) = lacking else {
        return false;
    };
    let _ = writeln!(std::io::stdout(), "SKIPPED {test}: {reason}");
    true
}

/// True when `program` runs with `args` and exits 0.
pub(crate) fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}
