//! Traces of real programs of this machine.

// A test that cannot unwrap should fail loudly, which is what unwrap does.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use depclose_trace::{Command, Exit, Kind, Trace};

fn trace(program: &str, args: &[&str], files: bool) -> Trace {
    let cmd = Command {
        program: PathBuf::from(program),
        args: args.iter().map(Into::into).collect(),
        root: None,
        cwd: None,
        timeout: Duration::from_secs(30),
        files,
        stdout_to_stderr: true,
    };
    depclose_trace::run(&cmd).unwrap()
}

fn paths(t: &Trace, kind: Kind) -> Vec<&str> {
    t.of(kind).map(|e| e.path.as_str()).collect()
}

#[test]
fn shell_running_cat_is_followed_across_fork_and_exec() {
    let t = trace("/bin/sh", &["sh", "-c", "cat /etc/hostname; exit 3"], true);
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
