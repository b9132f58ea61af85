//! Traces of real programs of this machine.

// A test that cannot unwrap should fail loudly, which is what unwrap does.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use depclose_trace::{Command, Exit, Kind, Trace};

/// The trace, or `None` (with a `SKIPPED` line) where ptrace is forbidden here (a
/// container's seccomp profile, Yama's `ptrace_scope` 3).
fn trace(test: &str, program: &str, args: &[&str], files: bool) -> Option<Trace> {
    let cmd = Command {
        program: PathBuf::from(program),
        args: args.iter().map(Into::into).collect(),
        root: None,
        cwd: None,
        timeout: Duration::from_secs(30),
        files,
        stdout_to_stderr: true,
    };
    match depclose_trace::run(&cmd) {
        Ok(t) => Some(t),
        Err(e) => {
            println!("SKIPPED {test}: cannot trace here: {e}");
            None
        }
    }
}

fn paths(t: &Trace, kind: Kind) -> Vec<&str> {
    t.of(kind).map(|e| e.path.as_str()).collect()
}

#[test]
fn shell_running_cat_is_followed_across_fork_and_exec() {
    let Some(t) = trace(
        "shell_running_cat_is_followed_across_fork_and_exec",
        "/bin/sh",
        &["sh", "-c", "cat /etc/hostname; exit 3"],
        true,
    ) else {
        return;
    };
    eprintln!("{}", t.to_json());
    assert_eq!(t.exit, Exit::Code(3));
    let execs = paths(&t, Kind::Exec);
    assert_eq!(execs[0], "/bin/sh");
    assert!(execs.iter().any(|p| p.ends_with("/cat")), "{execs:?}");
    let maps = paths(&t, Kind::Map);
    assert!(maps.iter().any(|p| p.contains("libc.so.6")), "{maps:?}");
    let cat = t
        .of(Kind::Open)
        .find(|e| e.path == "/etc/hostname")
        .unwrap();
    assert!(cat.program.ends_with("/cat"), "{cat:?}");
    assert!(t.processes >= 2);
}
