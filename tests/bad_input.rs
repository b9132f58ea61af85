//! Bad input: every case ends with the documented exit code (2 for input errors, 1 for an
//! incomplete closure) and one line on stderr that names the file and the reason, never
//! with a panic or a hang.

use std::os::unix::fs::PermissionsExt;

use crate::util::{self, Run, TestEnv};

/// Exit 2 and exactly one `depclose: error:` line that contains every `needles` item.
#[track_caller]
fn assert_input_error(run: &Run, needles: &[&str]) {
    run.assert_code(2);
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 1, "expected one line on stderr\n{run}");
    assert!(lines[0].starts_with("depclose: error: "), "{run}");
    for n in needles {
        assert!(lines[0].contains(n), "stderr does not mention {n:?}\n{run}");
    }
    assert!(
        run.stdout.is_empty(),
        "nothing on stdout after an error\n{run}"
    );
}

fn copy_true(env: &TestEnv, name: &str) -> std::path::PathBuf {
    let p = env.join(name);
    std::fs::copy("/usr/bin/true", &p).unwrap();
    p
}

#[test]
fn truncated_elf() {
    let env = TestEnv::new();
    let bytes = std::fs::read("/usr/bin/true").unwrap();
    // The ELF header is whole (64 bytes) but the program headers it promises are not there.
    let p = env.write("truncated", &bytes[..100]);
    let run = env.depclose([&p]);
    assert_input_error(&run, &[&p.to_string_lossy(), "malformed ELF"]);
}

#[test]
fn corrupted_program_header_offset() {
    let env = TestEnv::new();
    let mut bytes = std::fs::read("/usr/bin/true").unwrap();
    // e_phoff (offset 0x20 in ELF64) far past the end of the file.
    bytes[0x20..0x28].copy_from_slice(&0x7fff_ffff_ffff_fff0u64.to_le_bytes());
    let p = env.write("bad-phoff", &bytes);
    let run = env.depclose([&p]);
    assert_input_error(&run, &[&p.to_string_lossy(), "malformed ELF"]);
}

#[test]
fn empty_file() {
    let env = TestEnv::new();
    let p = env.write("empty", "");
    let run = env.depclose([&p]);
    assert_input_error(&run, &[&p.to_string_lossy(), "empty"]);
}

#[test]
fn not_elf_nor_script() {
    let env = TestEnv::new();
    let p = env.write("notes.txt", "just text\n");
    let run = env.depclose([&p]);
    assert_input_error(&run, &[&p.to_string_lossy(), "not an ELF file"]);
}

/// A directory target means every ELF file in it; with none there is nothing to analyse,
/// which must be said rather than printing an empty list.
#[test]
fn directory_without_elf_files() {
    let env = TestEnv::new();
    let empty = env.join("empty");
    std::fs::create_dir(&empty).unwrap();
    let run = env.depclose([&empty]);
    assert_input_error(&run, &[&empty.to_string_lossy(), "no ELF files"]);

    let text = env.join("text");
    std::fs::create_dir(&text).unwrap();
    env.write("text/README", "no programs here\n");
    env.write("text/run.sh", "#!/bin/sh\nexit 0\n");
    let run = env.depclose([&text]);
    assert_input_error(&run, &[&text.to_string_lossy(), "no ELF files"]);
}

/// `--root` needs a directory.
#[test]
fn root_that_is_a_file() {
    let env = TestEnv::new();
    let f = env.write("file", "x");
    let run = env.depclose(["--root".as_ref(), f.as_os_str(), "/usr/bin/true".as_ref()]);
    assert_input_error(&run, &[&f.to_string_lossy(), "not a directory"]);
}

/// Opening a FIFO for reading blocks until a writer comes: depclose must look before it
/// opens. `timeout` turns a hang into exit 124, a failure here.
#[test]
fn fifo() {
    let env = TestEnv::new();
    let p = env.join("fifo");
    let r = util::run(util::command("mkfifo").arg(&p));
    assert_eq!(r.code, Some(0), "{r}");
    let run = util::run(
        util::command("timeout")
            .arg("30")
            .arg(util::DEPCLOSE)
            .arg(&p)
            .current_dir(env.path()),
    );
    assert_input_error(&run, &[&p.to_string_lossy(), "FIFO"]);
}

#[test]
fn symlink_loop() {
    let env = TestEnv::new();
    let a = env.join("a");
    std::os::unix::fs::symlink("b", &a).unwrap();
    std::os::unix::fs::symlink("a", env.join("b")).unwrap();
    let run = env.depclose([&a]);
    assert_input_error(&run, &[&a.to_string_lossy(), "symbolic links"]);
}

#[test]
fn missing_file() {
    let env = TestEnv::new();
    let p = env.join("no-such-file");
    let run = env.depclose([&p]);
    assert_input_error(&run, &[&p.to_string_lossy(), "no such file"]);
}

/// A word without `/` is a command looked up in PATH; the error names where it looked.
#[test]
fn command_not_in_path() {
    let env = TestEnv::new();
    let run = env.depclose(["depclose-no-such-command"]);
    let mut needles = vec!["depclose-no-such-command", "not found"];
    needles.extend(util::PATH.split(':'));
    assert_input_error(&run, &needles);
}

/// As root, mode 000 does not stop a read, so the test runs depclose as `nobody` through
/// `setpriv` when it is root; without a way to drop privileges it says why it skips.
#[test]
fn unreadable_file() {
    let env = TestEnv::new();
    let p = copy_true(&env, "unreadable");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
    let run = if util::is_root() {
        if !util::have("unreadable_file", &["setpriv"]) {
            return;
        }
        // nobody must reach the file (the temp dir is 0700) and the binary.
        std::fs::set_permissions(env.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let probe = util::run(util::command("setpriv").args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            util::DEPCLOSE,
            "--version",
        ]));
        if probe.code != Some(0) {
            util::skip(
                "unreadable_file",
                format!("cannot run depclose as uid 65534: {}", probe.stderr),
            );
            return;
        }
        util::run(
            util::command("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(util::DEPCLOSE)
                .arg(&p)
                .current_dir(env.path()),
        )
    } else {
        env.depclose([&p])
    };
    assert_input_error(&run, &[&p.to_string_lossy(), "ermission denied"]);
}

/// A program that needs a library found nowhere: exit 1, one line naming the library, the
/// object that needs it and every path tried; `--allow-missing` exits 0, still says it,
/// and still lists the rest of the closure.
#[test]
fn missing_library() {
    if !util::have("missing_library", &["patchelf"]) {
        return;
    }
    let env = TestEnv::new();
    let p = copy_true(&env, "needs-gone");
    let gone = "libdepclose-test-gone.so.1";
    let r = util::run(
        util::command("patchelf")
            .args(["--add-needed", gone])
            .arg(&p),
    );
    assert_eq!(r.code, Some(0), "{r}");
    // The oracle agrees that it is missing and that the rest resolves.
    let trace = util::ldso_trace(&p, env.path(), None);
    assert_eq!(trace.not_found(), [gone], "{}", trace.run);

    let run = env.depclose([&p]);
    run.assert_code(1);
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 1, "{run}");
    for needle in [
        gone,
        &*p.to_string_lossy(),
        "not found",
        // The system directories are among the paths tried.
        &format!("/lib/x86_64-linux-gnu/{gone}"),
        &format!("/usr/lib/x86_64-linux-gnu/{gone}"),
    ] {
        assert!(lines[0].contains(needle), "no {needle:?}\n{run}");
    }
    let mut want = vec![p.to_string_lossy().into_owned()];
    want.extend(trace.objects().iter().map(|s| (*s).to_owned()));
    assert_eq!(run.lines(), want, "{run}");

    // The report says the same: who needs it, that it is required, every path tried.
    let json = env.depclose(["--format".as_ref(), "json".as_ref(), p.as_os_str()]);
    json.assert_code(1);
    let report = json.report();
    let t = &report.targets[0];
    assert!(!t.complete);
    let [m] = t.missing.as_slice() else {
        panic!("one missing name expected\n{json}")
    };
    assert_eq!(m.name, gone);
    assert_eq!(m.needed_by, p.to_string_lossy());
    assert_eq!(m.kind, crate::util::report::MissingKind::Needed);
    assert!(m.required && m.reason.is_none());
    assert!(
        m.tried.iter().all(|a| a.outcome == "absent"),
        "{:?}",
        m.tried
    );
    assert!(m.tried.iter().all(|a| lines[0].contains(&a.path)), "{run}");

    let allowed = env.depclose(["--allow-missing".as_ref(), p.as_os_str()]);
    allowed.assert_code(0);
    assert_eq!(allowed.lines(), want, "{allowed}");
    assert_eq!(allowed.stderr_lines().len(), 1, "{allowed}");
    assert!(allowed.stderr.contains(gone), "{allowed}");
}

/// Of several named targets, a bad one is an input error (exit 2, one line naming it), as
/// when it is named alone; a directory target analyses only its ELF files and passes over the
/// rest.
#[test]
fn one_bad_target_among_several() {
    let env = TestEnv::new();
    let good = copy_true(&env, "good");
    let bad = env.write("bad", "not a program\n");
    let run = env.depclose([&good, &bad]);
    assert_input_error(&run, &[&bad.to_string_lossy(), "not an ELF file"]);

    let scanned = env.depclose([env.path()]);
    scanned.assert_code(0);
    assert_eq!(
        scanned.lines().first(),
        Some(&&*good.to_string_lossy()),
        "{scanned}"
    );
    assert!(
        !scanned.stdout.contains(&*bad.to_string_lossy()),
        "{scanned}"
    );
    assert!(scanned.stderr.is_empty(), "{scanned}");
}
