//! What an image write must never leave: on an input error, an incomplete closure, a full
//! disk or an interrupt, no image, no partial file and no temp file; options that would only
//! fail when the image runs are refused before any work.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::util::image::{depclose, listing, rootfs_with_addition};
use crate::util::{self, DEPCLOSE, Run, TestEnv, command};

#[test]
fn an_error_leaves_no_image_and_no_temp_files() {
    let env = TestEnv::new();
    let work = env.join("work");
    fs::create_dir(&work).unwrap();
    let run = |args: &[&str]| -> Run {
        let mut cmd = command(DEPCLOSE);
        cmd.args(args).current_dir(&work);
        util::run(&mut cmd)
    };

    let r = run(&[
        "/nonexistent",
        "--emit",
        "out.tar",
        "--emit-rootfs",
        "rootfs",
    ]);
    r.assert_code(2);
    assert!(r.stderr.contains("/nonexistent"), "{r}");
    assert_eq!(listing(&work), Vec::<String>::new(), "{r}");

    // A library is missing: the closure is incomplete.
    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/scenarios/missing/bin/app");
    let r = run(&[
        app.to_str().unwrap(),
        "--emit",
        "out.tar",
        "--emit-rootfs",
        "rootfs",
    ]);
    r.assert_code(1);
    assert!(r.stderr.contains("libnope.so.1: not found"), "{r}");
    assert!(r.stderr.contains("no image written"), "{r}");
    assert_eq!(listing(&work), Vec::<String>::new(), "{r}");

    // The program moves (`--add SRC:DEST`) away from the `$ORIGIN` its RPATH names, so the
    // staged image does not resolve on its own: the check, which runs while the outputs are
    // written, holds them all back.
    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/scenarios/rpath_chain/bin/app");
    let moved = format!("{}:/opt/app", app.display());
    for outputs in [
        &["--emit", "out.tar", "--emit-rootfs", "rootfs"][..],
        &["--emit", "-"],
    ] {
        let mut args = vec![app.to_str().unwrap(), "--add", &moved];
        args.extend(outputs);
        let r = run(&args);
        r.assert_code(1);
        assert!(
            r.stderr
                .contains("liba.so.1 would be missing inside the image"),
            "{r}"
        );
        assert!(
            r.stderr
                .contains("does not resolve on its own; nothing written"),
            "{r}"
        );
        assert!(r.stdout.is_empty(), "{r}");
        assert_eq!(listing(&work), Vec::<String>::new(), "{r}");
    }

    // The rootfs cannot be written (not empty): no image either, and the directory as it was.
    env.write("work/full/keep", "x");
    let r = run(&[
        "/usr/bin/true",
        "--emit",
        "out.tar",
        "--emit-rootfs",
        "full",
    ]);
    r.assert_code(2);
    assert_eq!(listing(&work), ["full"], "{r}");
    assert_eq!(listing(&work.join("full")), ["keep"], "{r}");

    // A directory that does not exist.
    let r = run(&["/usr/bin/true", "--emit", "nodir/out.tar"]);
    r.assert_code(2);
    assert_eq!(listing(&work), ["full"], "{r}");
}

/// A tmpfs mounted for one test, unmounted (by its path) on drop.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = command("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_leaves_no_partial_image() {
    const TEST: &str = "a_full_disk_leaves_no_partial_image";
    if !util::need_root(TEST, "mounting a small tmpfs") || !util::have(TEST, &["mount", "umount"]) {
        return;
    }
    let env = TestEnv::new();
    let r = depclose(&env, 0, &["/usr/bin/true", "--emit-rootfs", "probe"]);
    r.assert_code(0);
    // `wrote probe: N files, B bytes`: room for less than the layer.
    let bytes: u64 = r
        .stderr
        .lines()
        .find_map(|l| l.strip_suffix(" bytes")?.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no size in\n{r}"));
    let small = env.join("small");
    fs::create_dir(&small).unwrap();
    let mount = util::run(
        command("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={}k", bytes * 9 / 10 / 1024))
            .arg("tmpfs")
            .arg(&small),
    );
    if mount.code != Some(0) {
        // Not allowed in this container: the machine decides, not depclose.
        util::skip(TEST, format!("cannot mount a tmpfs here: {}", mount.stderr));
        return;
    }
    let _mounted = Mount(small.clone());
    fs::create_dir(env.join("big")).unwrap();
    // The check's skeleton goes beside the first output, the rootfs: on the disk of the host's
    // files, where it is hard-linked, so that the image's own write is what runs out of room.
    let r = depclose(
        &env,
        0,
        &[
            "/usr/bin/true",
            "--emit-rootfs",
            "big/root",
            "--emit",
            "small/out.tar",
        ],
    );
    r.assert_code(2);
    let full = r
        .stderr
        .lines()
        .find(|l| l.contains("No space left on device"))
        .unwrap_or_else(|| panic!("no ENOSPC in\n{r}"));
    assert!(
        full.contains("out.tar") && !full.contains(".depclose-verify-"),
        "{r}"
    );
    assert_eq!(listing(&small), Vec::<String>::new(), "{r}");
}

/// Mistakes that would only show when the image runs, refused up front with exit 2: a relative
/// `--workdir` (runtimes reject it), a `--user` name the root does not have, an image path
/// that is a directory or in one that does not exist. `--add` takes a source holding `:`.
#[test]
fn image_options_are_checked_before_the_work() {
    let env = TestEnv::new();
    let tar = env.join("x.tar");
    let cases: [(&[&str], &str); 4] = [
        (&["--workdir", "rel"], "--workdir rel"),
        (&["--user", "depclose-no-such-user"], "no such user"),
        (&["--emit", "/nonexistent-dir/x.tar"], "does not exist"),
        (&["--emit", "/tmp/"], "is a directory"),
    ];
    for (extra, needle) in cases {
        let mut args: Vec<&std::ffi::OsStr> = vec!["/usr/bin/true".as_ref()];
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        if !extra.contains(&"--emit") {
            args.extend(["--emit".as_ref(), tar.as_os_str()]);
        }
        let run = depclose(&env, 0, &args);
        run.assert_code(2);
        assert!(run.stderr.contains(needle), "{run}");
        assert!(!tar.exists(), "{run}");
    }
    let odd = env.write("a:b", "x");
    let (run, rootfs) = rootfs_with_addition(&env, "/usr/bin/true", &odd.to_string_lossy());
    run.assert_code(0);
    assert!(
        rootfs.join(odd.strip_prefix("/").unwrap()).is_file(),
        "{run}"
    );
}

/// With `--allow-missing`, an image is written even though a library is missing (exit 0),
/// and it holds the rest of the closure.
#[test]
fn allow_missing_writes_the_image() {
    let env = TestEnv::new();
    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/scenarios/missing/bin/app");
    let tar = env.join("m.tar");
    let run = depclose(
        &env,
        0,
        &[
            "--allow-missing".as_ref(),
            app.as_os_str(),
            "--emit".as_ref(),
            tar.as_os_str(),
        ],
    );
    run.assert_code(0);
    assert!(tar.is_file(), "{run}");
    assert!(run.stderr.contains("libnope.so.1"), "{run}");
}

/// SIGINT or SIGTERM while an image is written leaves nothing behind: no temporary file or
/// directory of this process beside the output or in the temp directory.
#[test]
fn an_interrupted_emit_leaves_nothing() {
    if !util::have("an_interrupted_emit_leaves_nothing", &["apache2"]) {
        return;
    }
    use std::os::unix::process::ExitStatusExt;
    let env = TestEnv::new();
    let dst = env.join("dst");
    for (i, delay) in [20u64, 60, 120, 250].into_iter().enumerate() {
        fs::create_dir(&dst).unwrap();
        let mut child = command(DEPCLOSE)
            .args(["apache2", "--add", "/usr/lib/apache2/modules", "--emit"])
            .arg(dst.join("x.tar"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let signal = if i % 2 == 0 { "-INT" } else { "-TERM" };
        let _ = command("kill")
            .arg(signal)
            .arg(child.id().to_string())
            .status();
        let status = child.wait().unwrap();
        let pid = format!("-{}-", child.id());
        let left: Vec<String> = fs::read_dir(&dst)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        // Either it finished before the signal (a whole image) or nothing is there.
        let finished = status.code() == Some(0);
        assert!(
            left.is_empty() || (finished && left == ["x.tar"]),
            "after {delay} ms: {left:?} ({status:?}, signal {:?})",
            status.signal()
        );
        let tmp: Vec<_> = fs::read_dir(std::env::temp_dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(&pid))
            .collect();
        assert!(tmp.is_empty(), "after {delay} ms: {tmp:?}");
        fs::remove_dir_all(&dst).unwrap();
    }
}
