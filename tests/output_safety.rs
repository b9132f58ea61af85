//! What an output path may ever hold: nothing or the whole output, whatever kills the run or
//! changes the inputs under it; never a name that climbs out of the image, never one of the
//! run's own inputs, never a write through a symlink out of `--emit-rootfs`.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Component, Path};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::util::image::{Image, assert_same_tree, depclose, listing};
use crate::util::{self, DEPCLOSE, TestEnv, command};

/// The layer of an image of a real program never has an absolute, `..` or repeated member
/// name, and hard links only to earlier members: extracting it cannot write outside its
/// directory.
#[test]
fn layer_member_names_stay_inside_and_are_unique() {
    const TEST: &str = "layer_member_names_stay_inside_and_are_unique";
    if !util::have(TEST, &["/usr/bin/python3", "apache2"]) {
        return;
    }
    let env = TestEnv::new();
    let images: [&[&str]; 2] = [
        &["/usr/bin/python3", "--runtime"],
        &["apache2", "--add", "/usr/lib/apache2/modules"],
    ];
    for (i, args) in images.into_iter().enumerate() {
        let tar = env.join(format!("{i}.tar"));
        let mut all: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
        all.extend(["--emit".as_ref(), tar.as_os_str()]);
        depclose(&env, 0, &all).assert_code(0);
        let image = Image::read(&tar);
        let mut archive = tar::Archive::new(image.layer_bytes());
        let mut seen = HashSet::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let name = entry.path().unwrap().into_owned();
            assert!(
                name.components().all(|c| matches!(c, Component::Normal(_))),
                "{args:?}: {} leaves the image root",
                name.display()
            );
            if entry.header().entry_type() == tar::EntryType::Link {
                // An earlier member, so inside too.
                let to = entry.link_name().unwrap().unwrap().into_owned();
                assert!(
                    seen.contains(&to),
                    "{args:?}: {} links to {}, not an earlier member",
                    name.display(),
                    to.display()
                );
            }
            assert!(
                seen.insert(name.clone()),
                "{args:?}: {} twice",
                name.display()
            );
        }
        assert!(seen.len() > 100, "{args:?}: only {} members", seen.len());
    }
}

/// A file that grows, shrinks or is rewritten in place while it is packed is an error naming
/// it (exit 2), not a layer whose member is neither the old file nor the new; no output and
/// no temporary file are left.
#[test]
fn a_file_changing_while_packed_is_an_error() {
    let env = TestEnv::new();
    let big = env.join("big");
    let size: u64 = 128 << 20;
    for change in ["grow", "shrink", "rewrite"] {
        let mut f = fs::File::create(&big).unwrap();
        // Real blocks, not holes: the copy takes as long as a real file's.
        let chunk = vec![7u8; 1 << 20];
        for _ in 0..(size >> 20) {
            f.write_all(&chunk).unwrap();
        }
        drop(f);
        let out = env.join("out");
        fs::create_dir(&out).unwrap();
        let stop = AtomicBool::new(false);
        let run = std::thread::scope(|s| {
            s.spawn(|| {
                let f = fs::OpenOptions::new().write(true).open(&big).unwrap();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    match change {
                        "grow" => f.write_all_at(b"more", size + n * 4).unwrap(),
                        "shrink" => f.set_len(size - n * 4096).unwrap(),
                        _ => f.write_all_at(&[n as u8], n % size).unwrap(),
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            });
            let run = depclose(
                &env,
                0,
                &[
                    "/usr/bin/true".as_ref(),
                    "--add".as_ref(),
                    big.as_os_str(),
                    "--emit".as_ref(),
                    out.join("x.tar").as_os_str(),
                ],
            );
            stop.store(true, Ordering::Relaxed);
            run
        });
        run.assert_code(2);
        assert!(
            run.stderr.contains(&format!("{}: changed", big.display())),
            "{change}: {run}"
        );
        assert_eq!(listing(&out), Vec::<String>::new(), "{change}: {run}");
        fs::remove_dir(&out).unwrap();
    }
}

/// Which output a kill test writes.
#[derive(Clone, Copy, Debug)]
enum Output {
    Image,
    Rootfs,
    Sbom,
}

/// Killed by SIGTERM or SIGKILL at ten points across a run, `--emit`, `--emit-rootfs` and
/// `--sbom` leave either no destination or a whole one (an image that reads to its end with
/// its indexes, the rootfs of a finished run, an SBOM that parses). After SIGTERM nothing
/// else is left; after SIGKILL no file, and at most a temporary directory (the staged
/// tree's, or the rootfs being built) — never a partial destination — which the next run
/// there removes, saying so.
fn killed_at_any_point_leaves_nothing_partial(test: &str, output: Output) {
    let env = TestEnv::new();
    if !util::has_o_tmpfile(test, env.path()) {
        return;
    }
    // A big real file: the write is a good part of the run.
    let add = env.write("payload", vec![7u8; 32 << 20]);
    let run_in = |dir: &Path| {
        let mut cmd = command(DEPCLOSE);
        cmd.current_dir(dir)
            .env("SOURCE_DATE_EPOCH", "0")
            .arg("/usr/bin/true")
            .arg("--add")
            .arg(&add);
        match output {
            Output::Image => cmd.args(["--emit", "x.tar"]),
            Output::Rootfs => cmd.args(["--emit-rootfs", "x"]),
            Output::Sbom => cmd.args(["--emit", "x.tar", "--sbom", "x.json"]),
        };
        cmd
    };
    let reference = env.join("reference");
    fs::create_dir(&reference).unwrap();
    let start = Instant::now();
    util::run_ok(&mut run_in(&reference));
    let full = start.elapsed();
    for (i, signal) in ["TERM", "KILL"]
        .into_iter()
        .flat_map(|s| [s; 10])
        .enumerate()
    {
        let delay = full * (i as u32 % 10 + 1) / 11;
        let dir = env.join(format!("run{i}"));
        fs::create_dir(&dir).unwrap();
        let mut child = run_in(&dir).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(delay);
        let _ = command("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status();
        let status = child.wait().unwrap();
        let at = format!("{output:?}, SIG{signal} after {delay:?} of {full:?} ({status:?})");
        let mut left = listing(&dir);
        let dest: &[&str] = match output {
            Output::Image => &["x.tar"],
            Output::Rootfs => &["x"],
            Output::Sbom => &["x.json", "x.tar"],
        };
        for name in dest {
            if let Some(at) = left.iter().position(|l| l == name) {
                left.remove(at);
            }
            let path = dir.join(name);
            match name.rsplit('.').next() {
                _ if !path.exists() => {}
                Some("tar") => drop(Image::read(&path)),
                Some("json") => {
                    let doc: serde_json::Value =
                        serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
                    assert!(doc.is_object(), "{at}");
                }
                _ => assert_same_tree(&path, &reference.join(name)),
            }
        }
        for name in &left {
            let temp_dir = dir.join(name).symlink_metadata().unwrap().is_dir()
                && [".depclose-verify-", ".depclose-rootfs-"]
                    .iter()
                    .any(|p| name.starts_with(p));
            assert!(
                signal == "KILL" && temp_dir,
                "{at}: left {name} beside the output: {left:?}"
            );
        }
        if !left.is_empty() {
            for name in dest {
                let path = dir.join(name);
                if path.is_dir() {
                    fs::remove_dir_all(&path).unwrap();
                } else if path.exists() {
                    fs::remove_file(&path).unwrap();
                }
            }
            let again = util::run_ok(&mut run_in(&dir));
            for name in &left {
                assert!(
                    !dir.join(name).exists(),
                    "{at}: {name} still there\n{again}"
                );
                // Named as the output's directory was given (`.` here).
                let note = format!("depclose: note: removed ./{name}, left by depclose process ");
                assert!(again.stderr.contains(&note), "{at}: {again}");
            }
            assert_eq!(listing(&dir).len(), dest.len(), "{at}: {:?}", listing(&dir));
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn a_killed_emit_leaves_nothing_partial() {
    killed_at_any_point_leaves_nothing_partial(
        "a_killed_emit_leaves_nothing_partial",
        Output::Image,
    );
}

#[test]
fn a_killed_emit_rootfs_leaves_nothing_partial() {
    killed_at_any_point_leaves_nothing_partial(
        "a_killed_emit_rootfs_leaves_nothing_partial",
        Output::Rootfs,
    );
}

#[test]
fn a_killed_sbom_leaves_nothing_partial() {
    killed_at_any_point_leaves_nothing_partial(
        "a_killed_sbom_leaves_nothing_partial",
        Output::Sbom,
    );
}

/// An output that is one of the run's inputs — an `--add` file, the program, a file named
/// through a symlink or a hard link to it, the `--root`, an `--add` directory or a place
/// inside one — is refused with exit 2 before any work, naming both; the input is intact.
#[test]
fn an_output_is_never_an_input() {
    let env = TestEnv::new();
    let added = env.write("added.conf", "keep me\n");
    let program = env.join("prog");
    fs::copy("/usr/bin/true", &program).unwrap();
    fs::hard_link(&added, env.join("hard.conf")).unwrap();
    std::os::unix::fs::symlink(&added, env.join("link.conf")).unwrap();
    let dir = env.join("dir");
    fs::create_dir(&dir).unwrap();
    let empty = env.join("empty");
    fs::create_dir(&empty).unwrap();
    let root = env.join("root");
    fs::create_dir(&root).unwrap();
    // A directory target: its ELF files are the programs.
    let bins = env.join("bins");
    fs::create_dir(&bins).unwrap();
    fs::copy("/usr/bin/true", bins.join("true")).unwrap();
    let has_probe = util::have("an_output_is_never_an_input", &["cc"]);
    if has_probe {
        util::static_probe(&root);
    }
    let before = |p: &Path| {
        let m = fs::symlink_metadata(p).unwrap();
        (m.ino(), m.len(), m.mtime(), m.mtime_nsec())
    };
    let inputs = [&added, &program, &dir, &empty, &root, &bins];
    let was: Vec<_> = inputs.iter().map(|p| before(p)).collect();
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (
            vec![
                "/usr/bin/true",
                "--add",
                "added.conf",
                "--emit",
                "added.conf",
            ],
            "--emit added.conf: is the input",
            "added.conf",
        ),
        (
            vec!["./prog", "--emit", "prog"],
            "--emit prog: is the input",
            "prog",
        ),
        (
            vec![
                "/usr/bin/true",
                "--add",
                "added.conf",
                "--emit",
                "link.conf",
            ],
            "--emit link.conf: is the input",
            "added.conf",
        ),
        (
            vec![
                "/usr/bin/true",
                "--add",
                "added.conf",
                "--emit",
                "x.tar",
                "--sbom",
                "hard.conf",
            ],
            "--sbom hard.conf: is the input",
            "added.conf",
        ),
        (
            vec!["/usr/bin/true", "--add", "dir", "--emit", "dir/x.tar"],
            "--emit dir/x.tar: is inside the input directory",
            "dir",
        ),
        (
            vec!["/usr/bin/true", "--add", "empty", "--emit-rootfs", "empty"],
            "--emit-rootfs empty: is the input",
            "empty",
        ),
        (
            vec![
                "/usr/bin/true",
                "--add",
                "dir",
                "--emit-rootfs",
                "dir/../dir/sub",
            ],
            "is inside the input directory",
            "dir",
        ),
        (
            vec!["./bins", "--emit", "bins/x.tar"],
            "--emit bins/x.tar: is inside the input directory",
            "bins",
        ),
        (
            vec!["--root", "root", "/probe", "--emit-rootfs", "root/out"],
            "--emit-rootfs root/out: is inside the input directory",
            "root",
        ),
        (
            vec!["--root", "root", "/probe", "--emit-rootfs", "root"],
            "--emit-rootfs root: is the input",
            "root",
        ),
    ];
    for (args, needle, input) in cases {
        if args.contains(&"/probe") && !has_probe {
            continue;
        }
        let start = Instant::now();
        let run = env.depclose(&args);
        run.assert_code(2);
        assert!(run.stderr.contains(needle), "{run}");
        assert!(
            run.stderr.contains(&*env.join(input).to_string_lossy()),
            "{run}"
        );
        assert!(!run.stderr.contains("wrote"), "{run}");
        // Refused up front: no closure, no staging.
        assert!(start.elapsed() < Duration::from_secs(5), "{run}");
        let now: Vec<_> = inputs.iter().map(|p| before(p)).collect();
        assert_eq!(now, was, "{run}");
        assert_eq!(fs::read(&added).unwrap(), b"keep me\n");
        assert!(
            listing(&dir).is_empty() && listing(&empty).is_empty(),
            "{run}"
        );
        assert_eq!(listing(&bins), ["true"], "{run}");
        assert!(!env.join("x.tar").exists(), "{run}");
    }
    // Not an input: written.
    env.depclose(["/usr/bin/true", "--add", "added.conf", "--emit", "x.tar"])
        .assert_code(0);
}

/// `--emit-rootfs DIR` where DIR is a symlink (to an empty directory, or dangling) is an
/// error and nothing is written where it points; a tree that would put a file below one of
/// its own symlinks (`--add` a directory holding `lib -> OUTSIDE`, then another `--add` to
/// `lib/x`) is refused, and OUTSIDE stays empty.
#[test]
fn emit_rootfs_never_writes_through_a_symlink() {
    let env = TestEnv::new();
    let outside = env.join("outside");
    fs::create_dir(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, env.join("to-outside")).unwrap();
    std::os::unix::fs::symlink(env.join("nowhere"), env.join("dangling")).unwrap();
    for dest in ["to-outside", "dangling"] {
        let run = env.depclose(["/usr/bin/true", "--emit-rootfs", dest]);
        run.assert_code(2);
        assert!(run.stderr.contains(dest), "{run}");
        assert!(listing(&outside).is_empty(), "{run}");
        assert!(!env.join("nowhere").exists(), "{run}");
        assert!(env.join(dest).symlink_metadata().unwrap().is_symlink());
    }
    let tree = env.join("tree");
    fs::create_dir(&tree).unwrap();
    std::os::unix::fs::symlink(&outside, tree.join("lib")).unwrap();
    env.write("x", "x");
    let dest_below = format!("x:{}/lib/x", tree.display());
    let run = env.depclose([
        "/usr/bin/true",
        "--add",
        "tree",
        "--add",
        &dest_below,
        "--emit-rootfs",
        "rootfs",
    ]);
    run.assert_code(2);
    assert!(run.stderr.contains("lib"), "{run}");
    assert!(listing(&outside).is_empty(), "{run}");
    assert!(!env.join("rootfs").exists(), "{run}");
    // Alone, the symlink is written as a symlink, and nothing through it.
    let run = env.depclose(["/usr/bin/true", "--add", "tree", "--emit-rootfs", "rootfs"]);
    run.assert_code(0);
    let link = env
        .join("rootfs")
        .join(tree.strip_prefix("/").unwrap())
        .join("lib");
    assert_eq!(fs::read_link(&link).unwrap(), outside, "{run}");
    assert!(listing(&outside).is_empty(), "{run}");
}
