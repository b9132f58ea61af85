//! Images as their consumers see them, for the `image_*` test modules: running depclose
//! with a fixed `SOURCE_DATE_EPOCH`, reading an image tar back member by member (both
//! indexes, every digest), comparing trees, and servers that are stopped by their pid.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::util::{self, DEPCLOSE, Run, TestEnv, command, run_ok};

// ---------------------------------------------------------------------------------------
// Running depclose and reading its images

/// Run depclose in the test's dir with `SOURCE_DATE_EPOCH` set.
pub(crate) fn depclose<S: AsRef<std::ffi::OsStr>>(env: &TestEnv, epoch: u64, args: &[S]) -> Run {
    let mut cmd = command(DEPCLOSE);
    cmd.env("SOURCE_DATE_EPOCH", epoch.to_string())
        .args(args)
        .current_dir(env.path());
    util::run(&mut cmd)
}

/// An epoch that differs from run to run (so that a fixed time cannot hide a leak), printed
/// in every failure message that depends on it.
pub(crate) fn random_epoch() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    // Between 2001 and 2096: RFC 3339 strings of one length, tar's octal mtime field.
    1_000_000_000 + u64::try_from(nanos % 3_000_000_000).unwrap()
}

/// One member of a tar, with everything the contract fixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    /// As stored, without a trailing `/`.
    pub(crate) name: String,
    pub(crate) kind: tar::EntryType,
    pub(crate) mode: u32,
    pub(crate) uid: u64,
    pub(crate) gid: u64,
    pub(crate) mtime: u64,
    pub(crate) link: Option<String>,
    pub(crate) data: Vec<u8>,
}

pub(crate) fn read_tar(bytes: &[u8]) -> Vec<Member> {
    let mut archive = tar::Archive::new(bytes);
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        // Lossy: a test that adds a name that is not UTF-8 reads its bytes from the tar.
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let link = entry
            .link_name_bytes()
            .map(|l| String::from_utf8_lossy(&l).into_owned());
        let h = entry.header();
        let (kind, mode, uid, gid, mtime) = (
            h.entry_type(),
            h.mode().unwrap(),
            h.uid().unwrap(),
            h.gid().unwrap(),
            h.mtime().unwrap(),
        );
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.push(Member {
            name: name.trim_end_matches('/').to_owned(),
            kind,
            mode,
            uid,
            gid,
            mtime,
            link,
            data,
        });
    }
    out
}

/// An image tar, its blobs located through both indexes (Docker's `manifest.json` and the
/// OCI `index.json`), which must agree.
pub(crate) struct Image {
    pub(crate) members: Vec<Member>,
    pub(crate) config: Value,
    pub(crate) config_name: String,
    pub(crate) manifest_name: String,
    pub(crate) layer_name: String,
    pub(crate) layer: Vec<Member>,
}

impl Image {
    pub(crate) fn read(path: &Path) -> Image {
        let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let members = read_tar(&bytes);
        let get = |name: &str| -> &Member {
            members
                .iter()
                .find(|m| m.name == name)
                .unwrap_or_else(|| panic!("{}: no member {name}", path.display()))
        };
        let json = |name: &str| -> Value { serde_json::from_slice(&get(name).data).unwrap() };
        // Every blob is named by the digest of its contents.
        for m in members
            .iter()
            .filter(|m| m.name.starts_with("blobs/sha256/"))
        {
            let hex = format!("{:x}", Sha256::digest(&m.data));
            assert_eq!(m.name.rsplit('/').next(), Some(hex.as_str()), "blob digest");
        }
        let docker = json("manifest.json");
        let docker = docker.as_array().unwrap();
        assert_eq!(docker.len(), 1, "one image in manifest.json");
        let config_name = docker[0]["Config"].as_str().unwrap().to_owned();
        let layers = docker[0]["Layers"].as_array().unwrap();
        assert_eq!(layers.len(), 1, "one layer in manifest.json");
        let layer_name = layers[0].as_str().unwrap().to_owned();

        let index = json("index.json");
        let manifests = index["manifests"].as_array().unwrap();
        assert_eq!(manifests.len(), 1, "one manifest in index.json");
        let manifest_name = blob_name(&manifests[0]["digest"]);
        let manifest = json(&manifest_name);
        assert_eq!(blob_name(&manifest["config"]["digest"]), config_name);
        let oci_layers = manifest["layers"].as_array().unwrap();
        assert_eq!(oci_layers.len(), 1, "one layer in the OCI manifest");
        assert_eq!(blob_name(&oci_layers[0]["digest"]), layer_name);

        let config = json(&config_name);
        let layer = read_tar(&get(&layer_name).data);
        // An uncompressed layer: its diff_id is its digest.
        assert_eq!(
            config["rootfs"]["diff_ids"],
            serde_json::json!([format!("sha256:{}", &layer_name["blobs/sha256/".len()..])])
        );
        Image {
            members,
            config,
            config_name,
            manifest_name,
            layer_name,
            layer,
        }
    }

    pub(crate) fn layer_bytes(&self) -> &[u8] {
        &self.member(&self.layer_name).data
    }

    pub(crate) fn member(&self, name: &str) -> &Member {
        self.members.iter().find(|m| m.name == name).unwrap()
    }

    /// What the image runs: Entrypoint then Cmd.
    pub(crate) fn argv(&self) -> Vec<String> {
        let c = &self.config["config"];
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| a.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
                .unwrap_or_default()
        };
        let mut argv = strings(&c["Entrypoint"]);
        argv.extend(strings(&c["Cmd"]));
        argv
    }

    /// The member's role in place of its digest, so two images can be compared.
    pub(crate) fn role(&self, name: &str) -> String {
        match name {
            n if n == self.config_name => "<config>".into(),
            n if n == self.manifest_name => "<manifest>".into(),
            n if n == self.layer_name => "<layer>".into(),
            n => n.into(),
        }
    }
}

pub(crate) fn blob_name(digest: &Value) -> String {
    let d = digest.as_str().unwrap();
    format!("blobs/sha256/{}", d.strip_prefix("sha256:").unwrap())
}

/// A small tree to `--add`: modes, a nested directory, relative and absolute symlinks.
pub(crate) fn extra_tree(env: &TestEnv) -> PathBuf {
    let root = env.join("extra");
    env.write("extra/readme.txt", "hello\n");
    let script = env.write("extra/bin/run.sh", "#!/bin/sh\necho run\n");
    fs::set_permissions(&script, fs::Permissions::from_mode(0o750)).unwrap();
    let private = env.write("extra/conf/private.conf", "secret=1\n");
    fs::set_permissions(&private, fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink("../readme.txt", root.join("conf/readme")).unwrap();
    std::os::unix::fs::symlink("/opt/extra/bin/run.sh", root.join("run")).unwrap();
    root
}

/// Change what must not reach an image: mtimes, and owners when we may.
pub(crate) fn disturb(tree: &Path, when: u64) {
    let r = util::run(
        command("find")
            .arg(tree)
            .args(["-exec", "touch", "-h", "-d"])
            .arg(format!("@{when}"))
            .args(["{}", "+"]),
    );
    assert_eq!(r.code, Some(0), "{r}");
    if util::is_root() {
        let r = util::run(command("chown").args(["-hR", "1234:4321"]).arg(tree));
        assert_eq!(r.code, Some(0), "{r}");
    }
}

/// Every entry below ROOT (not ROOT itself): type, permission bits, symlink target, and a
/// digest of the contents.
pub(crate) fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).min_depth(1).sort_by_file_name() {
        let e = e.unwrap();
        let meta = e.path().symlink_metadata().unwrap();
        let mode = meta.permissions().mode() & 0o7777;
        let desc = if meta.is_symlink() {
            format!("symlink -> {}", fs::read_link(e.path()).unwrap().display())
        } else if meta.is_dir() {
            format!("dir {mode:o}")
        } else if meta.is_file() {
            let digest = Sha256::digest(fs::read(e.path()).unwrap());
            format!("file {mode:o} {} {digest:x}", meta.len())
        } else {
            format!("other {:?}", meta.file_type())
        };
        out.insert(e.path().strip_prefix(root).unwrap().to_path_buf(), desc);
    }
    out
}

#[track_caller]
pub(crate) fn assert_same_tree(got: &Path, want: &Path) {
    let (g, w) = (snapshot(got), snapshot(want));
    if g != w {
        let only_got: Vec<_> = g.iter().filter(|(k, v)| w.get(*k) != Some(v)).collect();
        let only_want: Vec<_> = w.iter().filter(|(k, v)| g.get(*k) != Some(v)).collect();
        panic!(
            "{} differs from {}\n  only in the first: {only_got:#?}\n  only in the second: {only_want:#?}",
            got.display(),
            want.display()
        );
    }
}
// ---------------------------------------------------------------------------------------
// Processes we start: stopped by pid, even when the test panics

/// A server process; on drop it gets SIGTERM, then SIGKILL if it has not exited in time.
pub(crate) struct Server {
    child: Child,
    what: String,
    grace: Duration,
    /// Log files to show when the test fails.
    pub(crate) logs: Vec<PathBuf>,
}

impl Server {
    pub(crate) fn spawn(cmd: &mut Command, what: &str, log: &Path, grace: Duration) -> Server {
        let out = fs::File::create(log).unwrap();
        let err = out.try_clone().unwrap();
        let child = cmd
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        Server {
            child,
            what: what.to_owned(),
            grace,
            logs: vec![log.to_path_buf()],
        }
    }

    pub(crate) fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM by pid, then wait; SIGKILL after the grace period.
    pub(crate) fn stop(&mut self) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        let _ = command("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + self.grace;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!(
            "{}: no exit {:?} after SIGTERM; SIGKILL",
            self.what, self.grace
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }

    /// The last non-empty line of its output: where a server that gave up says why.
    pub(crate) fn last_log_line(&self) -> String {
        let text = fs::read_to_string(&self.logs[0]).unwrap_or_default();
        text.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no output")
            .to_owned()
    }

    pub(crate) fn logs(&self) -> String {
        self.logs
            .iter()
            .map(|p| {
                let text = fs::read_to_string(p).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(40).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                format!("--- {}\n{}", p.display(), tail.join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.running() {
            self.stop();
        }
    }
}

/// The names in DIR, sorted.
pub(crate) fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `depclose PROGRAM --add ADD --emit-rootfs ENV/rootfs` (epoch 0): the run and the rootfs.
pub(crate) fn rootfs_with_addition(env: &TestEnv, program: &str, add: &str) -> (Run, PathBuf) {
    let rootfs = env.join("rootfs");
    let run = depclose(
        env,
        0,
        &[
            program.as_ref(),
            "--add".as_ref(),
            add.as_ref(),
            "--emit-rootfs".as_ref(),
            rootfs.as_os_str(),
        ],
    );
    (run, rootfs)
}

/// GET `path` on the loopback `port` until `server` answers (for at most `within`): the head
/// and body of the answer. Fails if the server exits first or never answers.
pub(crate) fn wait_for_http(
    server: &mut Server,
    port: u16,
    path: &str,
    within: Duration,
) -> (String, Vec<u8>) {
    let deadline = Instant::now() + within;
    loop {
        match http_get(port, path, "") {
            Ok(r) => return r,
            Err(e) => {
                assert!(
                    server.running(),
                    "{} exited before it served: {e}\n{}",
                    server.what,
                    server.logs()
                );
                assert!(
                    Instant::now() < deadline,
                    "{} did not answer within {within:?}: {e}\n{}",
                    server.what,
                    server.logs()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// One HTTP/1.1 GET: the head as text and the raw body.
pub(crate) fn http_get(port: u16, path: &str, extra: &str) -> std::io::Result<(String, Vec<u8>)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}Connection: close\r\n\r\n"
    )?;
    let mut all = Vec::new();
    s.read_to_end(&mut all)?;
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of headers"))?;
    let head = String::from_utf8_lossy(&all[..split]).into_owned();
    Ok((head, all[split + 4..].to_vec()))
}

/// Extract a layer with GNU tar into a new empty directory.
pub(crate) fn extract_layer(image: &Image, env: &TestEnv, name: &str) -> PathBuf {
    let blob = env.write(&format!("{name}.layer.tar"), image.layer_bytes());
    let dir = env.join(name);
    fs::create_dir(&dir).unwrap();
    run_ok(
        command("tar")
            .args(["--numeric-owner", "-xpf"])
            .arg(&blob)
            .arg("-C")
            .arg(&dir),
    );
    dir
}
