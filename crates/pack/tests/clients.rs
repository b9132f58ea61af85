//! Real clients read what depclose-pack writes: skopeo (both transports, which verify every
//! digest), umoci (unpacks to the same tree as the rootfs writer), and the unpacked image
//! runs `/usr/bin/true` under chroot when we are root.
//!
//! Without skopeo or umoci the test prints one `SKIPPED <test>: <reason>` line (shown by
//! `cargo test -- --show-output`) and passes, unless `CI` is set: there it fails.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use depclose_pack::{ImageConfig, Tree, WriteOptions};

const TEST: &str = "skopeo_and_umoci_accept_the_image";

/// The line the workspace's tests print for a check they could not make here.
fn skip(reason: &str) {
    println!("SKIPPED {TEST}: {reason}");
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn is_root() -> bool {
    run(Command::new("id").arg("-u")).trim() == "0"
}

/// `a/b/../c` → `a/c`: safe here because every prefix was checked not to be a symlink.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// Adds a host path the way the loader reaches it: every symlink on the way as a symlink,
/// the final file as a file (what the CLI's glue does for a closure).
fn add_host_path(tree: &mut Tree, path: &Path) {
    let parts: Vec<Component<'_>> = path.components().skip(1).collect();
    let mut cur = PathBuf::from("/");
    for (i, part) in parts.iter().enumerate() {
        let next = cur.join(part);
        if fs::symlink_metadata(&next)
            .unwrap()
            .file_type()
            .is_symlink()
        {
            let target = fs::read_link(&next).unwrap();
            tree.add_symlink(&next, &target).unwrap();
            let rest: PathBuf = parts[i + 1..].iter().collect();
            return add_host_path(tree, &lexical(&cur.join(target).join(rest)));
        }
        cur = next;
    }
    tree.add_file(&cur, &cur).unwrap();
}

/// The loader's view of a program on this host: `ldd`'s paths, interpreter included.
fn ldd_paths(program: &str) -> Vec<PathBuf> {
    run(Command::new("ldd").arg(program))
        .lines()
        .filter_map(|line| {
            let path = match line.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next()?,
                None => line.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

#[derive(Debug, PartialEq, Eq)]
enum Node {
    Dir {
        mode: u32,
        mtime: i64,
    },
    File {
        mode: u32,
        mtime: i64,
        data: Vec<u8>,
    },
    Symlink {
        target: PathBuf,
    },
}

fn walk(root: &Path) -> BTreeMap<PathBuf, Node> {
    fn visit(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Node>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let (mode, mtime) = (meta.mode() & 0o7777, meta.mtime());
            let node = if meta.file_type().is_symlink() {
                Node::Symlink {
                    target: fs::read_link(&path).unwrap(),
                }
            } else if meta.is_dir() {
                visit(root, &path, out);
                Node::Dir { mode, mtime }
            } else {
                Node::File {
                    mode,
                    mtime,
                    data: fs::read(&path).unwrap(),
                }
            };
            out.insert(rel, node);
        }
    }
    let mut out = BTreeMap::new();
    visit(root, root, &mut out);
    out
}

fn oci_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

#[test]
fn skopeo_and_umoci_accept_the_image() {
    for tool in ["skopeo", "umoci"] {
        if !have(tool) {
            assert!(
                std::env::var_os("CI").is_none(),
                "{tool} is required when CI is set"
            );
            skip(&format!("not installed: {tool}"));
            return;
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let host = tmp.path().join("host");
    fs::create_dir(&host).unwrap();

    let mut tree = Tree::new();
    add_host_path(&mut tree, Path::new("/usr/bin/true"));
    for lib in ldd_paths("/usr/bin/true") {
        add_host_path(&mut tree, &lib);
    }
    // Beyond a closure: a sticky directory, hard links, setuid, long and non-UTF-8 names,
    // generated files.
    fs::create_dir(host.join("tmp")).unwrap();
    fs::set_permissions(host.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    tree.add_dir("/tmp", Some(&host.join("tmp"))).unwrap();
    fs::write(host.join("data"), "shared inode\n").unwrap();
    fs::hard_link(host.join("data"), host.join("data2")).unwrap();
    tree.add_file("/srv/a", host.join("data")).unwrap();
    tree.add_file("/srv/b", host.join("data2")).unwrap();
    fs::write(host.join("su"), "setuid\n").unwrap();
    fs::set_permissions(host.join("su"), fs::Permissions::from_mode(0o4755)).unwrap();
    tree.add_file("/usr/bin/su", host.join("su")).unwrap();
    let long = format!("/srv/{}/file", "x".repeat(120));
    tree.add_bytes(&long, "long\n", 0o600).unwrap();
    tree.add_bytes(
        Path::new(OsStr::from_bytes(b"/srv/caf\xe9")),
        "latin-1\n",
        0o644,
    )
    .unwrap();
    tree.add_symlink("/srv/far", &long).unwrap();
    tree.add_bytes("/etc/passwd", "root:x:0:0:root:/:/usr/bin/true\n", 0o644)
        .unwrap();

    let mut config = ImageConfig::new(oci_arch(), vec!["/usr/bin/true".into()], "depclose-test:1");
    config.env = vec!["PATH=/usr/bin".into()];
    let options = WriteOptions {
        epoch: 1_700_000_000,
        ..WriteOptions::default()
    };
    let image = tmp.path().join("image.tar");
    let summary = tree.write_image(&config, &image, &options).unwrap();
    assert_eq!(
        summary.layer.contents.dropped_setuid,
        [PathBuf::from("/usr/bin/su")]
    );
    let rootfs = tmp.path().join("rootfs");
    tree.write_rootfs(&rootfs, &options).unwrap();

    let skopeo = |args: &[&str]| {
        run(Command::new("skopeo")
            .arg("--insecure-policy")
            .args(args)
            .env("TMPDIR", tmp.path()))
    };
    let img = image.to_str().unwrap();
    let (dir1, dir2) = (tmp.path().join("oci1"), tmp.path().join("oci2"));
    skopeo(&[
        "copy",
        &format!("docker-archive:{img}"),
        &format!("oci:{}:t", dir1.display()),
    ]);
    skopeo(&[
        "copy",
        &format!("oci-archive:{img}"),
        &format!("oci:{}:t", dir2.display()),
    ]);
    for transport in ["docker-archive", "oci-archive"] {
        let info: serde_json::Value =
            serde_json::from_str(&skopeo(&["inspect", &format!("{transport}:{img}")])).unwrap();
        assert_eq!(info["Architecture"], oci_arch(), "{transport}");
        assert_eq!(info["Os"], "linux");
        assert_eq!(info["Layers"].as_array().unwrap().len(), 1, "{transport}");
        assert_eq!(info["Layers"][0], summary.layer.digest);
        assert_eq!(info["Created"], "2023-11-14T22:13:20Z");
        let config: serde_json::Value = serde_json::from_str(&skopeo(&[
            "inspect",
            "--config",
            &format!("{transport}:{img}"),
        ]))
        .unwrap();
        assert_eq!(
            config["config"]["Entrypoint"],
            serde_json::json!(["/usr/bin/true"])
        );
        assert_eq!(
            config["config"]["Env"],
            serde_json::json!(["PATH=/usr/bin"])
        );
    }

    let bundle = tmp.path().join("bundle");
    let mut umoci = Command::new("umoci");
    umoci.arg("unpack");
    if !is_root() {
        umoci.arg("--rootless");
    }
    run(umoci
        .arg("--image")
        .arg(format!("{}:t", dir1.display()))
        .arg(&bundle));
    let unpacked = bundle.join("rootfs");

    let (ours, theirs) = (walk(&rootfs), walk(&unpacked));
    let paths = |t: &BTreeMap<PathBuf, Node>| t.keys().cloned().collect::<Vec<_>>();
    assert_eq!(paths(&ours), paths(&theirs));
    for (path, node) in &ours {
        assert_eq!(Some(node), theirs.get(path), "{}", path.display());
    }
    for root in [&rootfs, &unpacked] {
        let ino = |p: &str| fs::metadata(root.join(p)).unwrap().ino();
        assert_eq!(ino("srv/a"), ino("srv/b"), "{}", root.display());
    }

    // Running the trees needs chroot(2): root, in a container that allows it (probed on /).
    if !is_root() {
        skip("running the unpacked image: needs root (chroot)");
    } else if !Command::new("chroot")
        .args(["/", "/usr/bin/true"])
        .status()
        .is_ok_and(|s| s.success())
    {
        skip("running the unpacked image: chroot is not allowed here");
    } else {
        run(Command::new("chroot").arg(&unpacked).arg("/usr/bin/true"));
        run(Command::new("chroot").arg(&rootfs).arg("/usr/bin/true"));
    }
}
