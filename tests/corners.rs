//! Corners of the loader's rules that a review found depclose getting wrong, each built here
//! with `cc` and checked against the real loader (`ld.so` in trace mode) on the same files.

use std::path::Path;

use crate::util::{self, TestEnv, agree};

/// `$ORIGIN` of a library opened under a relative path (RPATH `.`) is the working directory
/// joined with that path's directory (`_dl_new_object`), so its RUNPATH `$ORIGIN/sub` gives
/// `CWD/./sub/...`.
#[test]
fn origin_of_a_library_opened_relatively() {
    if !util::have("origin_of_a_library_opened_relatively", &["cc"]) {
        return;
    }
    let env = TestEnv::new();
    std::fs::create_dir(env.join("sub")).unwrap();
    util::cc(
        "void b(void){}",
        &env.join("sub/libB.so"),
        &["-shared", "-fPIC", "-Wl,-soname,libB.so"],
    );
    util::cc(
        "void b(void); void a(void){b();}",
        &env.join("libA.so"),
        &[
            "-shared",
            "-fPIC",
            "-Wl,-soname,libA.so",
            "-Lsub",
            "-lB",
            "-Wl,--enable-new-dtags,-rpath,$ORIGIN/sub",
        ],
    );
    util::cc(
        "void a(void); int main(void){a();return 0;}",
        &env.join("main"),
        &["-L.", "-lA", "-Wl,--disable-new-dtags,-rpath,."],
    );
    agree(&env, &env.join("main"), env.path(), &[]);
}

/// A broken file of another machine earlier on the path is skipped: `open_verify` checks the
/// machine before it reads the program headers.
#[test]
fn a_broken_candidate_of_another_machine_is_skipped() {
    if !util::have("a_broken_candidate_of_another_machine_is_skipped", &["cc"]) {
        return;
    }
    let env = TestEnv::new();
    for d in ["bad", "good"] {
        std::fs::create_dir(env.join(d)).unwrap();
    }
    util::cc(
        "void b(void){}",
        &env.join("good/libB.so"),
        &["-shared", "-fPIC", "-Wl,-soname,libB.so"],
    );
    let mut bytes = std::fs::read(env.join("good/libB.so")).unwrap();
    bytes.truncate(200);
    bytes[18] = 0xb7; // e_machine = EM_AARCH64
    std::fs::write(env.join("bad/libB.so"), bytes).unwrap();
    util::cc(
        "void b(void); int main(void){b();return 0;}",
        &env.join("main"),
        &[
            "-Lgood",
            "-lB",
            "-Wl,--disable-new-dtags,-rpath,$ORIGIN/bad:$ORIGIN/good",
        ],
    );
    agree(&env, &env.join("main"), env.path(), &[]);
}

/// A preload that is no ELF file is ignored with a message ("cannot be preloaded ...:
/// ignored"); the program's closure is unchanged and complete.
#[test]
fn a_bad_preload_is_ignored() {
    let env = TestEnv::new();
    let junk = env.write("junk.so", "not ELF\n");
    let run = env.depclose([
        "--preload".as_ref(),
        junk.as_os_str(),
        "/usr/bin/true".as_ref(),
    ]);
    run.assert_code(0);
    assert!(run.stdout.contains("/libc.so.6"), "{run}");
    assert!(
        run.stderr.contains("warning") && run.stderr.contains("junk.so"),
        "{run}"
    );
}

/// A `DT_NEEDED` naming the vDSO is the kernel's, already loaded; an empty `--library-path`
/// is no library path at all (glibc ignores an empty LD_LIBRARY_PATH).
#[test]
fn vdso_name_and_empty_library_path() {
    if !util::have("vdso_name_and_empty_library_path", &["patchelf"]) {
        return;
    }
    let env = TestEnv::new();
    let p = env.join("true");
    std::fs::copy("/usr/bin/true", &p).unwrap();
    let r = util::run(
        util::command("patchelf")
            .args(["--add-needed", "linux-vdso.so.1"])
            .arg(&p),
    );
    assert_eq!(r.code, Some(0), "{r}");
    agree(&env, &p, env.path(), &[]);
    // A libc.so.6 in the cwd would be found if "" meant the current directory.
    std::fs::write(env.join("libc.so.6"), "not ELF\n").unwrap();
    agree(
        &env,
        Path::new("/usr/bin/true"),
        env.path(),
        &["--library-path", ""],
    );
}

/// An interpreter that is a FIFO is neither read for loader facts nor opened: depclose
/// reports it and exits 1 instead of blocking.
#[test]
fn a_fifo_interpreter_does_not_block() {
    if !util::have("a_fifo_interpreter_does_not_block", &["patchelf"]) {
        return;
    }
    let env = TestEnv::new();
    let fifo = env.join("fifo");
    let r = util::run(util::command("mkfifo").arg(&fifo));
    assert_eq!(r.code, Some(0), "{r}");
    let p = env.join("prog");
    std::fs::copy("/usr/bin/true", &p).unwrap();
    let r = util::run(
        util::command("patchelf")
            .arg("--set-interpreter")
            .arg(&fifo)
            .arg(&p),
    );
    assert_eq!(r.code, Some(0), "{r}");
    let run = util::run(
        util::command("timeout")
            .arg("20")
            .arg(util::DEPCLOSE)
            .arg(&p),
    );
    run.assert_code(1);
    assert!(run.stderr.contains("FIFO"), "{run}");
}
