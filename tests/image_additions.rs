//! What `--add` and the image options put in an image beyond the closure: an added program
//! at its destination with its libraries, NSS modules an added `nsswitch.conf` names, the
//! the modules Apache's configuration loads, symlinks on the way to an addition, tags and
//! `--library-path`.

use std::fs;

use crate::util::image::{Image, Member, depclose, read_tar, rootfs_with_addition};
use crate::util::{self, TestEnv, command, run_ok};

/// the image holds it at DEST only; it runs from there with nothing else present.
#[test]
fn an_added_program_moves_to_its_destination() {
    let env = TestEnv::new();
    let (run, rootfs) = rootfs_with_addition(&env, "/usr/bin/true", "/usr/bin/env:/app/env");
    run.assert_code(0);
    assert!(rootfs.join("app/env").is_file(), "{run}");
    assert!(!rootfs.join("usr/bin/env").exists(), "{run}");
    if !util::chroot_works("an_added_program_moves_to_its_destination") {
        return;
    }
    run_ok(
        command("chroot")
            .arg(&rootfs)
            .args(["/app/env", "/usr/bin/true"]),
    );
}

/// An image whose `/etc/nsswitch.conf` (added) names the `systemd` service gets
/// `libnss_systemd.so.2` and that module's own libraries (as `ldd` lists them), which glibc
/// `dlopen`s at run time; `files` is built into glibc 2.34+ and adds nothing. The program
/// still runs from the image alone.
#[test]
fn nsswitch_services_bring_their_modules() {
    const TEST: &str = "nsswitch_services_bring_their_modules";
    let module = "/lib/x86_64-linux-gnu/libnss_systemd.so.2";
    if !util::have(TEST, &[module]) {
        return;
    }
    let env = TestEnv::new();
    let conf = env.write(
        "nsswitch.conf",
        "passwd: files systemd\ngroup: files systemd\n",
    );
    let add = format!("{}:/etc/nsswitch.conf", conf.display());
    let (run, rootfs) = rootfs_with_addition(&env, "getent", &add);
    run.assert_code(0);
    assert!(run.stderr.contains("added libnss_systemd.so.2"), "{run}");
    let ldd = run_ok(command("ldd").arg(module));
    for line in ldd.stdout.lines() {
        // Every library the module needs (`name => path (addr)`) is in the image.
        if let Some(path) = line.split("=> ").nth(1).and_then(|r| r.split(' ').next()) {
            let inside = rootfs.join(path.trim_start_matches('/'));
            assert!(inside.exists(), "{path} missing from the image\n{run}");
        }
    }
    assert!(
        rootfs.join(module.trim_start_matches('/')).exists(),
        "{run}"
    );
    if !util::chroot_works(TEST) {
        return;
    }
    let r = run_ok(
        command("chroot")
            .arg(&rootfs)
            .args(["/usr/bin/getent", "passwd", "root"]),
    );
    assert!(r.stdout.starts_with("root:"), "{r}");
}

/// An image of apache2 holds the modules its own configuration loads — the real server's
/// list of shared modules (`apache2ctl -M`, which reads the same configuration) — and no
/// other.
#[test]
fn apache_image_holds_the_modules_its_configuration_loads() {
    const TEST: &str = "apache_image_holds_the_modules_its_configuration_loads";
    if !util::have(TEST, &["apache2", "apache2ctl"]) {
        return;
    }
    let env = TestEnv::new();
    let run = depclose(&env, 0, &["apache2", "--emit", "a.tar"]);
    run.assert_code(0);
    let oracle = util::run_ok(command("apache2ctl").arg("-M"));
    let mut want: Vec<String> = oracle
        .stdout
        .lines()
        .filter_map(|l| l.trim().strip_suffix(" (shared)"))
        .map(|m| format!("mod_{}.so", m.trim_end_matches("_module")))
        .collect();
    want.sort();
    assert!(!want.is_empty(), "{oracle}");
    let image = Image::read(&env.join("a.tar"));
    let mut got: Vec<String> = read_tar(image.layer_bytes())
        .into_iter()
        .filter_map(|m| {
            m.name
                .strip_prefix("usr/lib/apache2/modules/")
                .map(str::to_owned)
        })
        .collect();
    got.sort();
    assert_eq!(got, want, "{run}");
    assert!(!run.stderr.contains("no ELF header names"), "{run}");
}

/// `--add` of a path reached through symlinks (`/lib -> usr/lib`, a soname link) reproduces
/// the symlinks and puts the file at its real path; an invalid tag is refused before anything
/// is written; `--library-path` becomes the image's `LD_LIBRARY_PATH`.
#[test]
fn additions_through_symlinks_tags_and_library_path() {
    let env = TestEnv::new();
    let (run, rootfs) =
        rootfs_with_addition(&env, "/usr/bin/true", "/lib/x86_64-linux-gnu/libz.so.1");
    run.assert_code(0);
    let link = rootfs.join("usr/lib/x86_64-linux-gnu/libz.so.1");
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "{run}"
    );
    assert!(fs::metadata(&link).unwrap().is_file(), "{run}");

    let bad = env.join("bad");
    let run = depclose(
        &env,
        0,
        &[
            "/usr/bin/true".as_ref(),
            "--tag".as_ref(),
            "BAD TAG!!".as_ref(),
            "--emit-rootfs".as_ref(),
            bad.as_os_str(),
        ],
    );
    run.assert_code(2);
    assert!(!bad.exists(), "{run}");

    let tar = env.join("llp.tar");
    let run = depclose(
        &env,
        0,
        &[
            "--library-path".as_ref(),
            "/opt/depclose-test/lib".as_ref(),
            "/usr/bin/true".as_ref(),
            "--emit".as_ref(),
            tar.as_os_str(),
        ],
    );
    run.assert_code(0);
    let members = read_tar(&fs::read(&tar).unwrap());
    let configs: Vec<&Member> = members
        .iter()
        .filter(|m| String::from_utf8_lossy(&m.data).contains("\"Env\""))
        .collect();
    assert_eq!(configs.len(), 1, "{run}");
    assert!(
        String::from_utf8_lossy(&configs[0].data)
            .contains("LD_LIBRARY_PATH=/opt/depclose-test/lib"),
        "{run}"
    );
}

/// `--add` of a library the closure has already placed, named through other paths (`/lib`
/// is a symlink to `usr/lib` on a merged-/usr root, and `libtinfo.so.6` to
/// `libtinfo.so.6.4`): the addition merges with what is there instead of conflicting; the
/// image keeps the soname's symlink and holds the file once.
#[test]
fn an_addition_of_a_file_the_closure_placed_merges() {
    const TEST: &str = "an_addition_of_a_file_the_closure_placed_merges";
    let (via_lib, usr) = (
        "/lib/x86_64-linux-gnu/libtinfo.so.6",
        "/usr/lib/x86_64-linux-gnu/libtinfo.so.6",
    );
    if !util::have(TEST, &["bash", via_lib]) {
        return;
    }
    let Ok(target) = fs::read_link(usr) else {
        return util::skip(TEST, format!("{usr} is not a symlink"));
    };
    let env = TestEnv::new();
    let (run, rootfs) = rootfs_with_addition(&env, "bash", &format!("{via_lib}:{usr}"));
    run.assert_code(0);
    let link = rootfs.join(usr.trim_start_matches('/'));
    assert_eq!(fs::read_link(&link).ok(), Some(target.clone()), "{run}");
    let real = link.with_file_name(&target);
    assert_eq!(
        fs::read(&real).unwrap(),
        fs::read(fs::canonicalize(usr).unwrap()).unwrap(),
        "{run}"
    );
    // The file once: no other regular file in the image is a libtinfo.
    let copies: Vec<_> = walkdir::WalkDir::new(&rootfs)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("libtinfo.so"))
        })
        .collect();
    assert_eq!(copies, [real], "{run}");
}
