//! The image's bytes and layout: the same input gives the same bytes and the epoch changes
//! only times; the layer holds exactly the files the loader opens, with the symlinks on the
//! way; `--emit -` writes what `--emit FILE` writes.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path};

use crate::util::image::{Image, Member, depclose, disturb, extra_tree, listing, random_epoch};
use crate::util::{self, DEPCLOSE, TestEnv, command};

/// `SECONDS` since the epoch as RFC 3339 UTC, the form of the config's `created`, from
/// GNU date: an oracle that shares no code with depclose-pack's formatter.
fn rfc3339(seconds: u64) -> String {
    let r = util::run_ok(
        command("date")
            .args(["-u", "+%Y-%m-%dT%H:%M:%SZ", "-d"])
            .arg(format!("@{seconds}")),
    );
    r.stdout.trim_end().to_owned()
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
    // The oracle itself, on known dates (one a leap day).
    assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
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

/// Where the host's cache puts a library (`ldconfig -p`), as the loader would open it.
fn cache_path(soname: &str) -> String {
    let r = util::run_ok(command("ldconfig").arg("-p"));
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
    // The loader's files alone: what goes in for scanners is image_scan's.
    depclose(
        &env,
        epoch,
        &[
            "/usr/bin/true",
            "--emit",
            "true.tar",
            "--no-package-metadata",
        ],
    )
    .assert_code(0);
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
        util::walk_host(p, &mut links, &mut files);
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
