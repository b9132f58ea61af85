//! Images as their consumers see them: the bytes of the tar, the layer read back member by
//! member, real clients (skopeo, umoci, docker, podman), and running what the image holds in
//! a `chroot` with nothing else present (design.md, "Image contract"; verify.md, "Images").
//!
//! Clients that are not installed skip their test with a `skipped:` line, unless `CI` is
//! set: then a missing client is a failure. Servers (Apache, dockerd) keep their state in the
//! test's temp dir and are stopped by pid from a guard, even when the test fails.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::util::{self, DEPCLOSE, Run, TestEnv, command};

// ---------------------------------------------------------------------------------------
// Running depclose and reading its images

/// Run depclose in the test's dir with `SOURCE_DATE_EPOCH` set.
fn depclose<S: AsRef<std::ffi::OsStr>>(env: &TestEnv, epoch: u64, args: &[S]) -> Run {
    let mut cmd = command(DEPCLOSE);
    cmd.env("SOURCE_DATE_EPOCH", epoch.to_string())
        .args(args)
        .current_dir(env.path());
    util::run(&mut cmd)
}

/// An epoch that differs from run to run (so that a fixed time cannot hide a leak), printed
/// in every failure message that depends on it.
fn random_epoch() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    // Between 2001 and 2096: RFC 3339 strings of one length, tar's octal mtime field.
    1_000_000_000 + u64::try_from(nanos % 3_000_000_000).unwrap()
}

/// One member of a tar, with everything the contract fixes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Member {
    /// As stored, without a trailing `/`.
    name: String,
    kind: tar::EntryType,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    link: Option<String>,
    data: Vec<u8>,
}

fn read_tar(bytes: &[u8]) -> Vec<Member> {
    let mut archive = tar::Archive::new(bytes);
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
        let link = entry
            .link_name_bytes()
            .map(|l| String::from_utf8(l.into_owned()).unwrap());
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
struct Image {
    members: Vec<Member>,
    config: Value,
    config_name: String,
    manifest_name: String,
    layer_name: String,
    layer: Vec<Member>,
}

impl Image {
    fn read(path: &Path) -> Image {
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

    fn layer_bytes(&self) -> &[u8] {
        &self.member(&self.layer_name).data
    }

    fn member(&self, name: &str) -> &Member {
        self.members.iter().find(|m| m.name == name).unwrap()
    }

    /// What the image runs: Entrypoint then Cmd.
    fn argv(&self) -> Vec<String> {
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
    fn role(&self, name: &str) -> String {
        match name {
            n if n == self.config_name => "<config>".into(),
            n if n == self.manifest_name => "<manifest>".into(),
            n if n == self.layer_name => "<layer>".into(),
            n => n.into(),
        }
    }
}

fn blob_name(digest: &Value) -> String {
    let d = digest.as_str().unwrap();
    format!("blobs/sha256/{}", d.strip_prefix("sha256:").unwrap())
}

/// `SECONDS` since the epoch as RFC 3339 UTC, the form of the config's `created`.
fn rfc3339(seconds: u64) -> String {
    // Howard Hinnant's days_from_civil, inverted (http://howardhinnant.github.io/date_algorithms.html).
    let days = i64::try_from(seconds / 86_400).unwrap();
    let secs = seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Text with every sha256 hex digest and the given timestamp masked.
fn mask(data: &[u8], created: &str) -> String {
    let text = String::from_utf8(data.to_vec())
        .unwrap()
        .replace(created, "<created>");
    let mut out = String::new();
    let mut run = String::new();
    for c in text.chars().chain(std::iter::once('\0')) {
        if c.is_ascii_hexdigit() && !c.is_ascii_uppercase() {
            run.push(c);
            continue;
        }
        if run.len() == 64 {
            out.push_str("<digest>");
        } else {
            out.push_str(&run);
        }
        run.clear();
        if c != '\0' {
            out.push(c);
        }
    }
    out
}

/// A small tree to `--add`: modes, a nested directory, relative and absolute symlinks.
fn extra_tree(env: &TestEnv) -> PathBuf {
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
fn disturb(tree: &Path, when: u64) {
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

/// Whether the tools are installed (found in `PATH`). Missing ones skip the test with a
/// line saying so, or fail it when `CI` is set.
fn have(tools: &[&str], what: &str) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| which(t).is_none())
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{what}: not installed: {} (CI is set, so this fails instead of skipping)",
        missing.join(", ")
    );
    println!("skipped: {what}: not installed: {}", missing.join(", "));
    false
}

fn which(tool: &str) -> Option<PathBuf> {
    util::PATH
        .split(':')
        .map(|d| Path::new(d).join(tool))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// chroot, mount, the engines and Apache's user switch need root.
fn root_or_skip(what: &str) -> bool {
    if util::is_root() {
        return true;
    }
    println!("skipped: {what}: needs root");
    false
}

#[track_caller]
fn ok(cmd: &mut Command) -> Run {
    let r = util::run(cmd);
    assert_eq!(r.code, Some(0), "{r}");
    r
}

/// Every entry below ROOT (not ROOT itself): type, permission bits, symlink target, and a
/// digest of the contents.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
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
fn assert_same_tree(got: &Path, want: &Path) {
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

/// Extract a layer with GNU tar into a new empty directory.
fn extract_layer(image: &Image, env: &TestEnv, name: &str) -> PathBuf {
    let blob = env.write(&format!("{name}.layer.tar"), image.layer_bytes());
    let dir = env.join(name);
    fs::create_dir(&dir).unwrap();
    ok(command("tar")
        .args(["--numeric-owner", "-xpf"])
        .arg(&blob)
        .arg("-C")
        .arg(&dir));
    dir
}

// ---------------------------------------------------------------------------------------
// Processes we start: stopped by pid, even when the test panics

/// A server process; on drop it gets SIGTERM, then SIGKILL if it has not exited in time.
struct Server {
    child: Child,
    what: String,
    grace: Duration,
    /// Log files to show when the test fails.
    logs: Vec<PathBuf>,
}

impl Server {
    fn spawn(cmd: &mut Command, what: &str, log: &Path, grace: Duration) -> Server {
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

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM by pid, then wait; SIGKILL after the grace period.
    fn stop(&mut self) -> Option<ExitStatus> {
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

    fn logs(&self) -> String {
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

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// One HTTP/1.1 GET: the head as text and the raw body.
fn http_get(port: u16, path: &str, extra: &str) -> std::io::Result<(String, Vec<u8>)> {
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

// ---------------------------------------------------------------------------------------
// 1. Reproducible

#[test]
fn same_input_gives_the_same_bytes_and_the_epoch_changes_only_times() {
    let env = TestEnv::new();
    let extra = extra_tree(&env);
    let e1 = random_epoch();
    let e2 = e1 + 1 + (e1 % 100_000_000);
    let add = format!("{}:/opt/extra", extra.display());
    let args = |out: &str| -> Vec<String> {
        [
            "ls", "--add", &add, "--cmd", "/", "--env", "LANG=C", "--label", "a=b", "--emit", out,
        ]
        .map(str::to_owned)
        .to_vec()
    };
    depclose(&env, e1, &args("a.tar")).assert_code(0);
    disturb(&extra, e1 / 2);
    depclose(&env, e1, &args("b.tar")).assert_code(0);
    depclose(&env, e2, &args("c.tar")).assert_code(0);
    let (a, b) = (
        fs::read(env.join("a.tar")).unwrap(),
        fs::read(env.join("b.tar")).unwrap(),
    );
    assert!(
        a == b,
        "SOURCE_DATE_EPOCH={e1}: two runs differ (after changing the added files' mtimes and owners)"
    );

    let (one, two) = (
        Image::read(&env.join("a.tar")),
        Image::read(&env.join("c.tar")),
    );
    let what = format!("SOURCE_DATE_EPOCH {e1} vs {e2}");
    assert_eq!(
        rfc3339(1_700_000_000),
        "2023-11-14T22:13:20Z",
        "date -u -d @1700000000"
    );
    assert_eq!(
        rfc3339(951_782_400),
        "2000-02-29T00:00:00Z",
        "date -u -d @951782400"
    );
    for (img, epoch) in [(&one, e1), (&two, e2)] {
        assert_eq!(img.config["created"], rfc3339(epoch), "{what}");
        for m in img.members.iter().chain(&img.layer) {
            assert_eq!(m.mtime, epoch, "{what}: {} mtime", m.name);
        }
    }
    assert_ne!(one.layer_name, two.layer_name, "{what}: the layer digest");
    assert_ne!(
        one.config_name, two.config_name,
        "{what}: the config digest"
    );

    // The image tars: the same members in the same order, the same contents once digests
    // and `created` are masked.
    let roles =
        |img: &Image| -> Vec<String> { img.members.iter().map(|m| img.role(&m.name)).collect() };
    assert_eq!(roles(&one), roles(&two), "{what}: image members");
    for (m1, m2) in one.members.iter().zip(&two.members) {
        let name = one.role(&m1.name);
        assert_eq!(
            (m1.kind, m1.mode, m1.uid, m1.gid),
            (m2.kind, m2.mode, m2.uid, m2.gid),
            "{what}: {name}"
        );
        if name == "<layer>" {
            continue;
        }
        assert_eq!(
            mask(&m1.data, &rfc3339(e1)),
            mask(&m2.data, &rfc3339(e2)),
            "{what}: {name}"
        );
    }
    // The layers: everything but the mtimes.
    let strip = |layer: &[Member]| -> Vec<Member> {
        layer
            .iter()
            .map(|m| Member {
                mtime: 0,
                ..m.clone()
            })
            .collect()
    };
    assert!(
        strip(&one.layer) == strip(&two.layer),
        "{what}: layer members differ beyond their mtimes"
    );
    // The additions are there, with their modes, and not their owners.
    let find = |name: &str| one.layer.iter().find(|m| m.name == name);
    assert_eq!(find("opt/extra/bin/run.sh").map(|m| m.mode), Some(0o750));
    assert_eq!(
        find("opt/extra/conf/private.conf").map(|m| m.mode),
        Some(0o600)
    );
    assert_eq!(
        find("opt/extra/conf/readme").and_then(|m| m.link.clone()),
        Some("../readme.txt".to_owned())
    );
    assert_eq!(
        find("opt/extra/run").and_then(|m| m.link.clone()),
        Some("/opt/extra/bin/run.sh".to_owned())
    );
}

// ---------------------------------------------------------------------------------------
// 2. Layer contents

/// Resolve PATH on the host as the kernel does, recording every symlink on the way (as
/// image-relative name → target) and the file it ends at.
fn walk_host(path: &str, links: &mut BTreeMap<String, String>, files: &mut BTreeSet<String>) {
    let rel = |p: &Path| p.strip_prefix("/").unwrap().to_string_lossy().into_owned();
    // Components still to walk, the next one last.
    let mut rest: Vec<PathBuf> = Path::new(path)
        .components()
        .rev()
        .map(|c| PathBuf::from(c.as_os_str()))
        .collect();
    let mut cur = PathBuf::from("/");
    let mut hops = 0;
    while let Some(c) = rest.pop() {
        let c = c.as_path();
        if c == Path::new("/") || c == Path::new(".") {
            continue;
        }
        if c == Path::new("..") {
            cur.pop();
            continue;
        }
        let next = cur.join(c);
        let meta =
            fs::symlink_metadata(&next).unwrap_or_else(|e| panic!("{}: {e}", next.display()));
        if meta.is_symlink() {
            hops += 1;
            assert!(hops < 40, "{path}: too many symlinks");
            let target = fs::read_link(&next).unwrap();
            links.insert(rel(&next), target.to_string_lossy().into_owned());
            if target.is_absolute() {
                cur = PathBuf::from("/");
            }
            rest.extend(
                target
                    .components()
                    .rev()
                    .map(|c| PathBuf::from(c.as_os_str())),
            );
        } else {
            cur = next;
        }
    }
    files.insert(rel(&cur));
}

/// Where the host's cache puts a library (`ldconfig -p`), as the loader would open it.
fn cache_path(soname: &str) -> String {
    let r = ok(command("ldconfig").arg("-p"));
    r.lines()
        .iter()
        .filter_map(|l| l.trim().split_once(" => "))
        .find(|(k, _)| k.split_whitespace().next() == Some(soname) && k.contains("x86-64"))
        .map(|(_, v)| v.to_owned())
        .unwrap_or_else(|| panic!("{soname} not in ldconfig -p\n{r}"))
}

#[test]
fn layer_holds_exactly_the_loaders_files_with_their_symlinks() {
    let env = TestEnv::new();
    let epoch = random_epoch();
    depclose(&env, epoch, &["/usr/bin/true", "--emit", "true.tar"]).assert_code(0);
    let image = Image::read(&env.join("true.tar"));

    // What the loader opens (the oracle), and libgcc_s, which glibc dlopens at run time.
    let trace = util::ldso_trace(Path::new("/usr/bin/true"), env.path(), None);
    assert_eq!(trace.run.code, Some(0), "{}", trace.run);
    let mut opened = vec!["/usr/bin/true".to_owned()];
    opened.extend(trace.paths().into_iter().map(str::to_owned));
    opened.push(cache_path("libgcc_s.so.1"));
    assert_eq!(
        opened.len(),
        4,
        "true, libc, the loader, libgcc_s: {opened:?}"
    );

    let mut links = BTreeMap::new();
    let mut files = BTreeSet::new();
    for p in &opened {
        walk_host(p, &mut links, &mut files);
    }
    files.insert("etc/passwd".into());
    files.insert("etc/group".into());
    let mut dirs: BTreeSet<String> = BTreeSet::from(["tmp".to_owned()]);
    for name in files.iter().chain(links.keys()) {
        let mut p = Path::new(name).parent();
        while let Some(d) = p.filter(|d| !d.as_os_str().is_empty()) {
            dirs.insert(d.to_string_lossy().into_owned());
            p = d.parent();
        }
    }

    let mut want: BTreeMap<String, String> = BTreeMap::new();
    want.extend(files.iter().map(|f| (f.clone(), "file".to_owned())));
    want.extend(links.iter().map(|(l, t)| (l.clone(), format!("-> {t}"))));
    want.extend(dirs.iter().map(|d| (d.clone(), "dir".to_owned())));
    let got: BTreeMap<String, String> = image
        .layer
        .iter()
        .map(|m| {
            let kind = match m.kind {
                tar::EntryType::Regular => "file".to_owned(),
                tar::EntryType::Directory => "dir".to_owned(),
                tar::EntryType::Symlink => format!("-> {}", m.link.clone().unwrap()),
                other => format!("{other:?}"),
            };
            (m.name.clone(), kind)
        })
        .collect();
    assert_eq!(got.len(), image.layer.len(), "a member twice in the layer");
    assert_eq!(got, want, "the layer of /usr/bin/true");

    // On this merged-usr system the loader goes through both top-level links.
    if fs::symlink_metadata("/lib").unwrap().is_symlink() {
        assert_eq!(got.get("lib").map(String::as_str), Some("-> usr/lib"));
        assert_eq!(got.get("lib64").map(String::as_str), Some("-> usr/lib64"));
    }

    let mut seen: Vec<&Path> = Vec::new();
    for m in &image.layer {
        let p = Path::new(&m.name);
        assert!(
            !m.name.starts_with('/') && p.components().all(|c| matches!(c, Component::Normal(_))),
            "{}: not a plain relative name",
            m.name
        );
        assert_eq!((m.uid, m.gid), (0, 0), "{}: owner", m.name);
        assert_eq!(m.mtime, epoch, "{}: mtime", m.name);
        if let Some(last) = seen.last() {
            assert!(
                *last < p,
                "{} comes after {}: not sorted",
                m.name,
                last.display()
            );
        }
        if let Some(parent) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            assert!(
                image
                    .layer
                    .iter()
                    .take(seen.len())
                    .any(|e| Path::new(&e.name) == parent && e.kind == tar::EntryType::Directory),
                "{}: its directory does not come before it",
                m.name
            );
        }
        seen.push(p);
        match m.kind {
            tar::EntryType::Regular if !m.name.starts_with("etc/") => {
                let host = Path::new("/").join(p);
                assert!(m.data == fs::read(&host).unwrap(), "{}: contents", m.name);
                let mode = fs::metadata(&host).unwrap().permissions().mode() & 0o7777;
                assert_eq!(m.mode, mode, "{}: mode", m.name);
            }
            tar::EntryType::Directory if m.name == "tmp" => {
                assert_eq!(m.mode, 0o1777, "tmp: mode");
            }
            tar::EntryType::Directory => assert_eq!(m.mode, 0o755, "{}: mode", m.name),
            _ => {}
        }
    }
    let passwd = image.layer.iter().find(|m| m.name == "etc/passwd").unwrap();
    assert!(
        String::from_utf8_lossy(&passwd.data).starts_with("root:x:0:0:"),
        "etc/passwd: {:?}",
        String::from_utf8_lossy(&passwd.data)
    );
}

// ---------------------------------------------------------------------------------------
// 3. Clients: skopeo and umoci

#[test]
fn skopeo_and_umoci_accept_the_image() {
    if !have(&["skopeo", "umoci"], "skopeo and umoci") {
        return;
    }
    let env = TestEnv::new();
    let extra = extra_tree(&env);
    let add = format!("{}:/opt/extra", extra.display());
    depclose(
        &env,
        random_epoch(),
        &[
            "ls",
            "--add",
            &add,
            "--cmd",
            "-l",
            "--user",
            "nobody",
            "--workdir",
            "/opt",
            "--env",
            "LANG=C",
            "--label",
            "org.example.test=yes",
            "--emit",
            "ls.tar",
            "--emit-rootfs",
            "rootfs",
        ],
    )
    .assert_code(0);

    // Both transports check every digest.
    ok(command("skopeo").current_dir(env.path()).args([
        "copy",
        "docker-archive:ls.tar",
        "oci:from-docker:t",
    ]));
    ok(command("skopeo").current_dir(env.path()).args([
        "copy",
        "oci-archive:ls.tar",
        "oci:from-oci:t",
    ]));

    for dir in ["from-docker", "from-oci"] {
        let json = |args: &[&str]| -> Value {
            let r = ok(command("skopeo")
                .current_dir(env.path())
                .arg("inspect")
                .args(args)
                .arg(format!("oci:{dir}:t")));
            serde_json::from_str(&r.stdout).unwrap()
        };
        let info = json(&[]);
        assert_eq!(info["Architecture"], "amd64", "{dir}");
        assert_eq!(info["Os"], "linux", "{dir}");
        assert_eq!(
            info["Layers"].as_array().map(Vec::len),
            Some(1),
            "{dir}: {info}"
        );
        assert_eq!(info["Labels"]["org.example.test"], "yes", "{dir}");
        let config = json(&["--config"]);
        let c = &config["config"];
        assert_eq!(c["Entrypoint"], serde_json::json!(["/usr/bin/ls"]), "{dir}");
        assert_eq!(c["Cmd"], serde_json::json!(["-l"]), "{dir}");
        assert_eq!(c["User"], "nobody", "{dir}");
        assert_eq!(c["WorkingDir"], "/opt", "{dir}");
        assert_eq!(
            c["Env"],
            serde_json::json!([format!("PATH={}", util::PATH), "LANG=C"]),
            "{dir}"
        );

        let bundle = env.join(format!("bundle-{dir}"));
        let mut umoci = command("umoci");
        umoci.current_dir(env.path()).arg("unpack");
        if !util::is_root() {
            umoci.arg("--rootless");
        }
        ok(umoci.arg("--image").arg(format!("{dir}:t")).arg(&bundle));
        assert_same_tree(&bundle.join("rootfs"), &env.join("rootfs"));
    }
}

// ---------------------------------------------------------------------------------------
// 4. Run in chroot, from --emit-rootfs and from the layer

#[test]
fn images_run_in_a_chroot_with_nothing_else() {
    if !root_or_skip("running images in a chroot") {
        return;
    }
    let env = TestEnv::new();
    let cases: [(&str, &[&str], Option<&str>); 3] = [
        ("/usr/bin/true", &[], Some("")),
        ("bash", &["--cmd", "-c", "--cmd", "echo ok"], Some("ok\n")),
        // `ls /` prints the image's top level: derived from the layer below.
        ("ls", &["--cmd", "/"], None),
    ];
    for (i, (target, extra, stdout)) in cases.into_iter().enumerate() {
        let (tar, rootfs) = (format!("img{i}.tar"), format!("rootfs{i}"));
        let mut args = vec![target, "--emit", &tar, "--emit-rootfs", &rootfs];
        args.extend(extra);
        depclose(&env, random_epoch(), &args).assert_code(0);
        let image = Image::read(&env.join(&tar));
        let from_layer = extract_layer(&image, &env, &format!("layer{i}"));
        assert_same_tree(&from_layer, &env.join(&rootfs));

        let want = match stdout {
            Some(s) => s.to_owned(),
            None => {
                let top: BTreeSet<&str> = image
                    .layer
                    .iter()
                    .map(|m| m.name.split('/').next().unwrap())
                    .collect();
                top.into_iter().map(|n| format!("{n}\n")).collect()
            }
        };
        let argv = image.argv();
        for dir in [env.join(&rootfs), from_layer] {
            // The loader inside finds everything on its own...
            let list = ok(command("chroot")
                .arg(&dir)
                .args([util::LDSO, "--list", &argv[0]]));
            assert!(!list.stdout.contains("not found"), "{list}");
            // ...and the program runs.
            let r = util::run(command("chroot").arg(&dir).args(&argv));
            assert_eq!(
                (r.code, r.stdout.as_str(), r.stderr.as_str()),
                (Some(0), want.as_str(), ""),
                "{target} in {}\n{r}",
                dir.display()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// 5. Apache serves from its image

const APACHE_MODULES: &str = "/usr/lib/apache2/modules";

fn apache_config(port: u16) -> String {
    let m = APACHE_MODULES;
    format!(
        "ServerRoot /etc/apache2
ServerName localhost
Listen 127.0.0.1:{port}
LoadModule mpm_event_module {m}/mod_mpm_event.so
LoadModule authz_core_module {m}/mod_authz_core.so
LoadModule mime_module {m}/mod_mime.so
LoadModule dir_module {m}/mod_dir.so
LoadModule filter_module {m}/mod_filter.so
LoadModule deflate_module {m}/mod_deflate.so
User www-data
Group www-data
PidFile /tmp/httpd.pid
ErrorLog /tmp/error.log
Mutex file:/tmp default
TypesConfig /etc/mime.types
DocumentRoot /srv/www
DirectoryIndex index.html
AddOutputFilterByType DEFLATE text/html
<Directory /srv/www>
    Require all granted
</Directory>
"
    )
}

#[test]
fn apache_serves_a_page_from_its_image() {
    if !root_or_skip("Apache in a chroot") || !have(&["apache2"], "Apache") {
        return;
    }
    assert!(
        Path::new(APACHE_MODULES).is_dir(),
        "apache2 without {APACHE_MODULES}"
    );
    let env = TestEnv::new();
    depclose(
        &env,
        random_epoch(),
        &[
            "apache2",
            "--add",
            APACHE_MODULES,
            "--add",
            "/etc/apache2",
            "--add",
            "/etc/mime.types",
            "--user",
            "www-data",
            "--emit",
            "httpd.tar",
        ],
    )
    .assert_code(0);
    let image = Image::read(&env.join("httpd.tar"));
    assert_eq!(image.config["config"]["User"], "www-data");
    assert_eq!(image.argv(), ["/usr/sbin/apache2"]);
    let root = extract_layer(&image, &env, "httpd");

    let port = free_port();
    fs::write(root.join("etc/httpd-test.conf"), apache_config(port)).unwrap();
    // Long enough for mod_deflate to compress it (through libz, which only a module needs).
    let page = format!(
        "<h1>served by depclose's image</h1>\n{}\n",
        "<p>depclose</p>\n".repeat(100)
    );
    fs::create_dir_all(root.join("srv/www")).unwrap();
    fs::write(root.join("srv/www/index.html"), &page).unwrap();

    let mut server = Server::spawn(
        command("chroot").arg(&root).args([
            "/usr/sbin/apache2",
            "-f",
            "/etc/httpd-test.conf",
            "-DFOREGROUND",
        ]),
        "apache2",
        &env.join("apache.out"),
        Duration::from_secs(10),
    );
    server.logs.push(root.join("tmp/error.log"));
    let deadline = Instant::now() + Duration::from_secs(10);
    let (head, body) = loop {
        match http_get(port, "/", "") {
            Ok(r) => break r,
            Err(e) => {
                assert!(
                    server.running(),
                    "apache2 exited before it served: {e}\n{}",
                    server.logs()
                );
                assert!(
                    Instant::now() < deadline,
                    "apache2 did not answer within 10 s: {e}\n{}",
                    server.logs()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    assert!(
        head.starts_with("HTTP/1.1 200"),
        "{head}\n{}",
        server.logs()
    );
    assert_eq!(String::from_utf8_lossy(&body), page, "{head}");

    let (head, body) = http_get(port, "/", "Accept-Encoding: gzip\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.lines()
            .any(|l| l.eq_ignore_ascii_case("Content-Encoding: gzip")),
        "mod_deflate did not compress:\n{head}\n{}",
        server.logs()
    );
    assert_eq!(body.get(..2), Some(&[0x1f, 0x8b][..]), "not gzip data");

    let status = server.stop();
    assert!(
        status.is_some_and(|s| s.success()),
        "apache2 after SIGTERM: {status:?}\n{}",
        server.logs()
    );
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port {port} still answers after apache2 stopped"
    );
}

// ---------------------------------------------------------------------------------------
// 6. --emit - and errors

/// The names in DIR, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn emit_to_stdout_writes_the_same_bytes() {
    let env = TestEnv::new();
    let epoch = random_epoch();
    let tmp = env.join("tmpdir");
    fs::create_dir(&tmp).unwrap();
    let out = command(DEPCLOSE)
        .env("SOURCE_DATE_EPOCH", epoch.to_string())
        .env("TMPDIR", &tmp)
        .args(["bash", "--emit", "-"])
        .current_dir(env.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = depclose(&env, epoch, &["bash", "--emit", "bash.tar"]);
    r.assert_code(0);
    assert_eq!(r.stdout, "", "stdout carries data only");
    assert!(
        out.stdout == fs::read(env.join("bash.tar")).unwrap(),
        "SOURCE_DATE_EPOCH={epoch}: --emit - and --emit FILE differ"
    );
    assert_eq!(
        listing(&tmp),
        Vec::<String>::new(),
        "temp files left in TMPDIR"
    );
    assert_eq!(listing(env.path()), ["bash.tar", "tmpdir"]);
}

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
    if !root_or_skip("a full tmpfs") {
        return;
    }
    let env = TestEnv::new();
    let r = depclose(&env, 0, &["/usr/bin/true", "--emit-rootfs", "probe"]);
    r.assert_code(0);
    // `wrote probe: N files, B bytes`: room for the staged copy depclose checks, not for the
    // layer and the image beside it.
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
            .arg(format!("size={}k", bytes * 13 / 10 / 1024))
            .arg("tmpfs")
            .arg(&small),
    );
    if mount.code != Some(0) {
        // Not allowed in this container: a skip, since CI decides nothing about mounts.
        println!("skipped: a full tmpfs: cannot mount\n{mount}");
        return;
    }
    let _mounted = Mount(small.clone());
    let r = depclose(&env, 0, &["/usr/bin/true", "--emit", "small/out.tar"]);
    r.assert_code(2);
    assert!(r.stderr.contains("No space left on device"), "{r}");
    assert_eq!(listing(&small), Vec::<String>::new(), "{r}");
}

// ---------------------------------------------------------------------------------------
// 7. Container engines

/// Paths dockerd and podman write outside the state directories they are given
/// (verify.md); those that did not exist before the test are removed after it.
struct HostLeftovers(Vec<PathBuf>);

impl HostLeftovers {
    fn note(paths: &[&str]) -> HostLeftovers {
        HostLeftovers(
            paths
                .iter()
                .map(PathBuf::from)
                .filter(|p| fs::symlink_metadata(p).is_err())
                .collect(),
        )
    }
}

impl Drop for HostLeftovers {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = match fs::symlink_metadata(p) {
                Ok(m) if m.is_dir() => fs::remove_dir_all(p),
                Ok(_) => fs::remove_file(p),
                Err(_) => Ok(()),
            };
        }
    }
}

/// Two images every engine must run: `true`, and bash printing `ok`.
fn engine_images(env: &TestEnv, prefix: &str) -> [(String, &'static str); 2] {
    let epoch = random_epoch();
    let t = format!("depclose-test/{prefix}-true:1");
    let b = format!("depclose-test/{prefix}-bash:1");
    depclose(
        env,
        epoch,
        &["/usr/bin/true", "--tag", &t, "--emit", "true.tar"],
    )
    .assert_code(0);
    depclose(
        env,
        epoch,
        &[
            "bash", "--cmd", "-c", "--cmd", "echo ok", "--tag", &b, "--emit", "bash.tar",
        ],
    )
    .assert_code(0);
    [(t, ""), (b, "ok\n")]
}

#[test]
fn docker_loads_and_runs_the_image() {
    if !root_or_skip("dockerd") || !have(&["dockerd", "docker"], "the Docker engine") {
        return;
    }
    let env = TestEnv::new();
    let images = engine_images(&env, "docker");
    let d = env.join("docker");
    fs::create_dir(&d).unwrap();
    // Declared before the daemon, so dropped after it has stopped.
    let _leftovers = HostLeftovers::note(&[
        "/etc/docker/key.json",
        "/run/docker",
        "/run/containerd",
        "/opt/containerd",
    ]);
    let sock = d.join("docker.sock");
    let mut dockerd = command("dockerd");
    dockerd
        .arg("--data-root")
        .arg(d.join("root"))
        .arg("--exec-root")
        .arg(d.join("exec"))
        .arg("--pidfile")
        .arg(d.join("pid"))
        .arg("-H")
        .arg(format!("unix://{}", sock.display()))
        .args([
            "--iptables=false",
            "--ip6tables=false",
            "--bridge=none",
            "--storage-driver=vfs",
        ]);
    let mut daemon = Server::spawn(
        &mut dockerd,
        "dockerd",
        &d.join("log"),
        Duration::from_secs(30),
    );
    let docker = |args: &[&str]| -> Run {
        util::run(
            command("docker")
                .env("DOCKER_HOST", format!("unix://{}", sock.display()))
                .env("DOCKER_CONFIG", d.join("client"))
                .current_dir(env.path())
                .args(args),
        )
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = docker(&["version"]);
        if r.code == Some(0) {
            break;
        }
        assert!(daemon.running(), "dockerd exited\n{r}\n{}", daemon.logs());
        assert!(
            Instant::now() < deadline,
            "dockerd not ready in 30 s\n{r}\n{}",
            daemon.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for ((tag, want), file) in images.iter().zip(["true.tar", "bash.tar"]) {
        let r = docker(&["load", "-i", file]);
        assert_eq!(r.code, Some(0), "{r}\n{}", daemon.logs());
        assert!(r.stdout.contains(&format!("Loaded image: {tag}")), "{r}");
        let r = docker(&["run", "--rm", "--network", "none", tag]);
        assert_eq!(
            (r.code, r.stdout.as_str()),
            (Some(0), *want),
            "{r}\n{}",
            daemon.logs()
        );
    }
    let status = daemon.stop();
    assert!(
        status.is_some(),
        "dockerd ignored SIGTERM\n{}",
        daemon.logs()
    );
}

#[test]
fn podman_loads_and_runs_the_image() {
    if !root_or_skip("podman") || !have(&["podman", "runc"], "podman") {
        return;
    }
    let env = TestEnv::new();
    let images = engine_images(&env, "podman");
    let d = env.join("podman");
    fs::create_dir(&d).unwrap();
    let _leftovers = HostLeftovers::note(&["/run/runc"]);
    // verify.md: crun and the default ulimits fail here; runc with these limits works.
    let podman = |args: &[&str]| -> Run {
        util::run(
            command("podman")
                .env("HOME", &d)
                .current_dir(env.path())
                .arg("--root")
                .arg(d.join("root"))
                .arg("--runroot")
                .arg(d.join("run"))
                .arg("--tmpdir")
                .arg(d.join("tmp"))
                .args([
                    "--storage-driver",
                    "vfs",
                    "--cgroup-manager",
                    "cgroupfs",
                    "--events-backend",
                    "file",
                ])
                .args(args),
        )
    };
    for ((tag, want), file) in images.iter().zip(["true.tar", "bash.tar"]) {
        let r = podman(&["load", "-i", file]);
        assert_eq!(r.code, Some(0), "{r}");
        assert!(
            r.stdout.contains(&format!("Loaded image: docker.io/{tag}")),
            "{r}"
        );
        let r = podman(&[
            "run",
            "--rm",
            "--network=none",
            "--runtime",
            "runc",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
            tag,
        ]);
        assert_eq!((r.code, r.stdout.as_str()), (Some(0), *want), "{r}");
    }
}

/// `depclose PROGRAM --add ADD --emit-rootfs ENV/rootfs` (epoch 0): the run and the rootfs.
fn rootfs_with_addition(env: &TestEnv, program: &str, add: &str) -> (Run, PathBuf) {
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

/// `--add SRC:DEST` with an ELF program: it is analysed where it is, its libraries join, and
/// the image holds it at DEST only; it runs from there with nothing else present.
#[test]
fn an_added_program_moves_to_its_destination() {
    let env = TestEnv::new();
    let (run, rootfs) = rootfs_with_addition(&env, "/usr/bin/true", "/usr/bin/env:/app/env");
    run.assert_code(0);
    assert!(rootfs.join("app/env").is_file(), "{run}");
    assert!(!rootfs.join("usr/bin/env").exists(), "{run}");
    if !root_or_skip("an_added_program_moves_to_its_destination (chroot)") {
        return;
    }
    ok(command("chroot")
        .arg(&rootfs)
        .args(["/app/env", "/usr/bin/true"]));
}

/// An image whose `/etc/nsswitch.conf` (added) names the `systemd` service gets
/// `libnss_systemd.so.2` and that module's own libraries (as `ldd` lists them), which glibc
/// `dlopen`s at run time; `files` is built into glibc 2.34+ and adds nothing. The program
/// still runs from the image alone.
#[test]
fn nsswitch_services_bring_their_modules() {
    let env = TestEnv::new();
    let conf = env.write(
        "nsswitch.conf",
        "passwd: files systemd\ngroup: files systemd\n",
    );
    let add = format!("{}:/etc/nsswitch.conf", conf.display());
    let (run, rootfs) = rootfs_with_addition(&env, "getent", &add);
    run.assert_code(0);
    assert!(run.stderr.contains("added libnss_systemd.so.2"), "{run}");
    let module = "/lib/x86_64-linux-gnu/libnss_systemd.so.2";
    let ldd = ok(command("ldd").arg(module));
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
    if !root_or_skip("nsswitch_services_bring_their_modules (chroot)") {
        return;
    }
    let r = ok(command("chroot")
        .arg(&rootfs)
        .args(["/usr/bin/getent", "passwd", "root"]));
    assert!(r.stdout.starts_with("root:"), "{r}");
}

/// depclose names what it cannot see: Apache loads its modules at run time, so an image of
/// apache2 without them gets a note naming the directory; adding it silences the note.
#[test]
fn apache_without_its_modules_gets_a_hint() {
    let env = TestEnv::new();
    let bare = depclose(&env, 0, &["apache2", "--emit", "a.tar"]);
    bare.assert_code(0);
    let hint = "apache2 loads its modules (LoadModule) at run time, which no ELF header names: --add /usr/lib/apache2/modules";
    assert!(bare.stderr.contains(hint), "{bare}");
    let full = depclose(
        &env,
        0,
        &[
            "apache2",
            "--add",
            "/usr/lib/apache2/modules",
            "--emit",
            "b.tar",
        ],
    );
    full.assert_code(0);
    assert!(!full.stderr.contains("LoadModule"), "{full}");
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
