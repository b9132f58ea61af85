//! `--push`: images pushed to Debian's `docker-registry` (the CNCF distribution registry,
//! started in the test's temp dir on a free loopback port and stopped by its pid), then
//! read back by skopeo and pulled and run by a private Docker engine; a referrer artifact
//! through the referrers tag schema (this registry has no referrers API); htpasswd auth with
//! a Docker config; and the refusals.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use depclose_pack::{ImageArchive, PushOptions, PushedReferrer, ReferrersVia};

use crate::util::engine::Docker;
use crate::util::image::{Server, depclose, http_get, random_epoch, read_tar};
use crate::util::{self, DEPCLOSE, Run, TestEnv, command, run_ok};

const REGISTRY: &str = "/usr/bin/docker-registry";

/// A registry serving plain HTTP on 127.0.0.1, its storage and logs in the test's dir.
struct Registry {
    server: Server,
    port: u16,
    storage: PathBuf,
    log: PathBuf,
}

impl Registry {
    /// Starts one with `storage_extra` YAML in its `storage` section and `extra` (top-level
    /// sections) in its configuration; `None` (the test skipped) without the registry
    /// installed.
    fn start(
        env: &TestEnv,
        test: &str,
        name: &str,
        storage_extra: &str,
        extra: &str,
    ) -> Option<Registry> {
        if !util::have(test, &[REGISTRY]) {
            return None;
        }
        let dir = env.join(name);
        fs::create_dir(&dir).unwrap();
        let storage = dir.join("storage");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let config = env.write(
            &format!("{name}/config.yml"),
            format!(
                "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n{storage_extra}http:\n  addr: 127.0.0.1:{port}\n{extra}",
                storage.display()
            ),
        );
        let log = dir.join("log");
        let mut cmd = command(REGISTRY);
        cmd.arg("serve").arg(&config);
        let mut server = Server::spawn(&mut cmd, "docker-registry", &log, Duration::from_secs(10));
        let deadline = Instant::now() + Duration::from_secs(20);
        while http_get(port, "/v2/", "").is_err() {
            assert!(
                server.running() && Instant::now() < deadline,
                "docker-registry did not start\n{}",
                server.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(Registry {
            server,
            port,
            storage,
            log,
        })
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Upload sessions the registry's access log shows started (`POST …/blobs/uploads/`).
    fn uploads(&self) -> usize {
        fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .filter(|l| l.contains("\"POST /v2/") && l.contains("/blobs/uploads/"))
            .count()
    }

    /// Every blob in the registry's storage, with its modification time.
    fn blobs(&self) -> Vec<(PathBuf, SystemTime)> {
        let mut out = Vec::new();
        let root = self.storage.join("docker/registry/v2/blobs");
        for file in walk(&root) {
            if file.file_name().is_some_and(|n| n == "data") {
                let mtime = fs::metadata(&file).unwrap().modified().unwrap();
                out.push((file, mtime));
            }
        }
        out.sort();
        out
    }

    /// A manifest as the registry serves it, asked for as `accept`.
    fn manifest(&self, repo: &str, reference: &str, accept: &str) -> (String, Value) {
        let (head, body) = http_get(
            self.port,
            &format!("/v2/{repo}/manifests/{reference}"),
            &format!("Accept: {accept}\r\n"),
        )
        .unwrap();
        let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        (head, value)
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

/// depclose's `pushed REF: DIGEST (N blobs uploaded, M already there)` line, parsed.
fn pushed(run: &Run, reference: &str) -> (String, usize, usize) {
    let prefix = format!("depclose: pushed {reference}: ");
    let line = run
        .stderr_lines()
        .into_iter()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no pushed line\n{run}"))
        .to_owned();
    let (digest, counts) = line.split_once(" (").unwrap();
    let numbers: Vec<usize> = counts
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().unwrap())
        .collect();
    assert_eq!(
        counts,
        format!(
            "{} blobs uploaded, {} already there)",
            numbers[0], numbers[1]
        ),
        "{run}"
    );
    (digest.to_owned(), numbers[0], numbers[1])
}

fn skopeo_digest(reference: &str) -> String {
    let r = run_ok(command("skopeo").args([
        "inspect",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]));
    let info: Value = serde_json::from_str(&r.stdout).unwrap();
    info["Digest"].as_str().unwrap().to_owned()
}

#[test]
fn push_then_push_again_uploads_nothing() {
    const TEST: &str = "push_then_push_again_uploads_nothing";
    let env = TestEnv::new();
    if !util::have(TEST, &["skopeo"]) {
        return;
    }
    let Some(registry) = Registry::start(&env, TEST, "registry", "", "") else {
        return;
    };
    let reference = format!("{}/depclose/true:1", registry.host());
    let epoch = random_epoch();
    let args = [
        "/usr/bin/true",
        "--push",
        &reference,
        "--insecure-registry",
        "--emit",
        "true.tar",
    ];
    let first = depclose(&env, epoch, &args);
    first.assert_code(0);
    let (digest, uploaded, there) = pushed(&first, &reference);
    // The config and the one layer.
    assert_eq!((uploaded, there), (2, 0), "{first}");
    assert!(
        first
            .stderr
            .contains(&format!("wrote true.tar ({reference}): {digest} ")),
        "the image is tagged as pushed, and the file written is the one pushed\n{first}"
    );
    assert_eq!(skopeo_digest(&reference), digest);
    assert_eq!(registry.uploads(), 2, "{}", registry.server.logs());
    let blobs = registry.blobs();
    // Config, layer, manifest.
    assert_eq!(blobs.len(), 3, "{blobs:?}");

    // Without --emit: the image goes through a temporary file, which is gone afterwards.
    let tmp = env.join("tmp");
    fs::create_dir(&tmp).unwrap();
    let again = util::run(
        command(DEPCLOSE)
            .env("SOURCE_DATE_EPOCH", epoch.to_string())
            .env("TMPDIR", &tmp)
            .current_dir(env.path())
            .args(&args[..4]),
    );
    again.assert_code(0);
    assert_eq!(
        pushed(&again, &reference),
        (digest.clone(), 0, 2),
        "{again}"
    );
    assert_eq!(registry.uploads(), 2, "{}", registry.server.logs());
    assert_eq!(registry.blobs(), blobs, "the storage is untouched");
    assert_eq!(util::image::listing(&tmp), Vec::<String>::new());
    assert_eq!(skopeo_digest(&reference), digest);
}

#[test]
fn docker_pulls_and_runs_a_pushed_image() {
    const TEST: &str = "docker_pulls_and_runs_a_pushed_image";
    let env = TestEnv::new();
    let Some(registry) = Registry::start(&env, TEST, "registry", "", "") else {
        return;
    };
    let reference = format!("{}/depclose/bash:1", registry.host());
    let r = depclose(
        &env,
        random_epoch(),
        &[
            "bash",
            "--cmd",
            "-c",
            "--cmd",
            "echo ok",
            "--push",
            &reference,
            "--insecure-registry",
        ],
    );
    r.assert_code(0);
    let (digest, _, _) = pushed(&r, &reference);
    let Some(docker) = Docker::start(
        &env,
        TEST,
        &["--insecure-registry".to_owned(), registry.host()],
    ) else {
        return;
    };
    let pull = docker.run(&["pull", &reference]);
    assert_eq!(pull.code, Some(0), "{pull}\n{}", docker.daemon.logs());
    assert!(pull.stdout.contains(&digest), "{pull}");
    let ran = docker.run(&["run", "--rm", "--network", "none", &reference]);
    assert_eq!(
        (ran.code, ran.stdout.as_str()),
        (Some(0), "ok\n"),
        "{ran}\n{}",
        docker.daemon.logs()
    );
    docker.stop();
}

/// `depclose /usr/bin/true --emit NAME-plain.tar`, rewritten as `NAME.tar` with `edit`
/// applied to its `index.json` and the blobs `edit` returns added.
fn rewritten(env: &TestEnv, name: &str, edit: impl FnOnce(&mut Value) -> Vec<Vec<u8>>) -> PathBuf {
    let plain = format!("{name}-plain.tar");
    depclose(env, random_epoch(), &["/usr/bin/true", "--emit", &plain]).assert_code(0);
    let members = read_tar(&fs::read(env.join(&plain)).unwrap());
    let index = members.iter().find(|m| m.name == "index.json").unwrap();
    let mut index: Value = serde_json::from_slice(&index.data).unwrap();
    let blobs = edit(&mut index);
    let index = serde_json::to_vec(&index).unwrap();
    let path = env.join(format!("{name}.tar"));
    let mut b = tar::Builder::new(fs::File::create(&path).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data).unwrap();
    };
    for m in members.iter().filter(|m| m.kind == tar::EntryType::Regular) {
        add(
            &m.name,
            if m.name == "index.json" {
                &index
            } else {
                &m.data
            },
        );
    }
    for blob in &blobs {
        add(&format!("blobs/sha256/{}", &digest_of(blob)[7..]), blob);
    }
    b.into_inner().unwrap();
    path
}

fn digest_of(data: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(data))
}

/// A referrer artifact with `subject`, as an SBOM is attached to an image: an empty
/// config, one JSON layer, `artifactType`, annotations; listed in `index.json` beside the
/// image. Returns the tar and the artifact's and the image's manifest digests.
fn image_with_referrer(env: &TestEnv, name: &str, sbom: &[u8]) -> (PathBuf, String, String) {
    let (mut artifact, mut image) = (String::new(), String::new());
    let path = rewritten(env, name, |index| {
        let empty = b"{}".to_vec();
        let desc = index["manifests"][0].clone();
        image = desc["digest"].as_str().unwrap().to_owned();
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/spdx+json",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": digest_of(&empty), "size": 2},
            "layers": [{"mediaType": "application/spdx+json", "digest": digest_of(sbom), "size": sbom.len()}],
            "subject": {"mediaType": desc["mediaType"], "digest": desc["digest"], "size": desc["size"]},
            "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
        }))
        .unwrap();
        artifact = digest_of(&manifest);
        index["manifests"].as_array_mut().unwrap().push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/spdx+json",
            "digest": artifact,
            "size": manifest.len(),
        }));
        vec![empty, sbom.to_vec(), manifest]
    });
    (path, artifact, image)
}

#[test]
fn referrers_go_to_the_fallback_tag() {
    const TEST: &str = "referrers_go_to_the_fallback_tag";
    let env = TestEnv::new();
    if !util::have(TEST, &["skopeo"]) {
        return;
    }
    let Some(registry) = Registry::start(&env, TEST, "registry", "", "") else {
        return;
    };
    let (tar, artifact, image) = image_with_referrer(&env, "a", br#"{"spdxVersion":"SPDX-2.3"}"#);
    let archive = ImageArchive::open(&tar).unwrap();
    let options = PushOptions {
        insecure: true,
        ..PushOptions::default()
    };
    let reference = format!("{}/depclose/sbom:1", registry.host());
    let summary = depclose_pack::push(&archive, &reference, &options)
        .unwrap_or_else(|e| panic!("{e}\n{}", registry.server.logs()));
    let tag = format!("sha256-{}", &image[7..]);
    let referrer = PushedReferrer {
        digest: artifact.clone(),
        subject: image.clone(),
        artifact_type: "application/spdx+json".to_owned(),
        via: ReferrersVia::FallbackTag(tag.clone()),
    };
    assert_eq!(summary.referrers, std::slice::from_ref(&referrer));
    // The tag names the image, not the artifact; 4 blobs: config, layer, {} and the SBOM.
    assert_eq!(summary.manifest_digest, image);
    assert_eq!((summary.blobs_uploaded, summary.manifests), (4, 2));
    assert_eq!(skopeo_digest(&reference), image);

    let index_type = "application/vnd.oci.image.index.v1+json";
    let listed = |want: usize| {
        let (head, index) = registry.manifest("depclose/sbom", &tag, index_type);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert_eq!(index["mediaType"], index_type);
        let manifests = index["manifests"].as_array().unwrap().clone();
        assert_eq!(manifests.len(), want, "{index}");
        manifests
    };
    let entry = &listed(1)[0];
    assert_eq!(entry["digest"], artifact.as_str());
    assert_eq!(entry["artifactType"], "application/spdx+json");
    assert_eq!(
        entry["annotations"]["org.opencontainers.image.created"],
        "2024-01-01T00:00:00Z"
    );
    let (head, _) = registry.manifest(
        "depclose/sbom",
        &artifact,
        "application/vnd.oci.image.manifest.v1+json",
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");

    // Again: the index is not given the artifact twice.
    let again = depclose_pack::push(&archive, &reference, &options).unwrap();
    assert_eq!(again.referrers, [referrer]);
    assert_eq!(again.blobs_uploaded, 0);
    listed(1);

    // A second artifact of the same image joins the first; the image and its blobs are
    // there already (the SBOM differs, so its layer and the manifest are new).
    let (tar, second, image_b) = image_with_referrer(&env, "b", br#"{"spdxVersion":"SPDX-2.2"}"#);
    let summary = depclose_pack::push(
        &ImageArchive::open(&tar).unwrap(),
        &format!("{}/depclose/sbom:2", registry.host()),
        &options,
    )
    .unwrap();
    if image_b == image {
        let digests: Vec<Value> = listed(2).iter().map(|m| m["digest"].clone()).collect();
        assert_eq!(digests, [json!(artifact), json!(second)]);
    } else {
        // Another epoch, another image: its own referrers index.
        assert_eq!(summary.referrers.len(), 1);
        let (head, _) = registry.manifest(
            "depclose/sbom",
            &format!("sha256-{}", &image_b[7..]),
            index_type,
        );
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    }
}

/// The registry behind htpasswd (bcrypt, as the registry requires); the credentials in a
/// Docker config's `auths`.
#[test]
fn push_with_credentials_from_the_docker_config() {
    const TEST: &str = "push_with_credentials_from_the_docker_config";
    let env = TestEnv::new();
    if !util::have(TEST, &["htpasswd"]) {
        return;
    }
    let htpasswd = env.join("htpasswd");
    run_ok(
        command("htpasswd")
            .args(["-Bbc"])
            .arg(&htpasswd)
            .args(["pusher", "s3cret"]),
    );
    let auth = format!(
        "auth:\n  htpasswd:\n    realm: depclose-test\n    path: {}\n",
        htpasswd.display()
    );
    let Some(registry) = Registry::start(&env, TEST, "registry", "", &auth) else {
        return;
    };
    let reference = format!("{}/private/true:1", registry.host());
    let push_with = |config: Option<&str>| {
        let mut cmd = command(DEPCLOSE);
        cmd.current_dir(env.path()).args([
            "/usr/bin/true",
            "--push",
            &reference,
            "--insecure-registry",
        ]);
        if let Some(password) = config {
            let dir = env.join(format!("docker-config-{password}"));
            let auth =
                base64::engine::general_purpose::STANDARD.encode(format!("pusher:{password}"));
            fs::create_dir_all(&dir).unwrap();
            fs::write(
                dir.join("config.json"),
                json!({"auths": {registry.host(): {"auth": auth}}}).to_string(),
            )
            .unwrap();
            cmd.env("DOCKER_CONFIG", dir);
        }
        util::run(&mut cmd)
    };
    let r = push_with(Some("s3cret"));
    r.assert_code(0);
    let (digest, uploaded, _) = pushed(&r, &reference);
    assert_eq!(uploaded, 2, "{r}");
    assert!(digest.starts_with("sha256:"), "{r}");

    let wrong = push_with(Some("wrong"));
    wrong.assert_code(2);
    assert!(
        wrong
            .stderr
            .contains(&format!("registry {}: not authorised", registry.host()))
            && wrong.stderr.contains("UNAUTHORIZED"),
        "{wrong}"
    );
    let none = push_with(None);
    none.assert_code(2);
    assert!(
        none.stderr
            .contains("asks for credentials and there is no Docker config"),
        "{none}"
    );
    for r in [&wrong, &none] {
        assert!(!r.stderr.contains("depclose: pushed"), "{r}");
    }
}

/// A registry that refuses writes part-way (read-only maintenance mode: it answers the
/// `HEAD`s, then refuses the upload with a plain-text body): the one error line names the
/// request, the HTTP status and the registry's message, and no push is claimed.
#[test]
fn a_registry_failing_part_way_is_an_error_with_its_message() {
    const TEST: &str = "a_registry_failing_part_way_is_an_error_with_its_message";
    let env = TestEnv::new();
    let readonly = "  maintenance:\n    readonly:\n      enabled: true\n";
    let Some(registry) = Registry::start(&env, TEST, "registry", readonly, "") else {
        return;
    };
    let reference = format!("{}/app:1", registry.host());
    let r = env.depclose(["/usr/bin/true", "--push", &reference, "--insecure-registry"]);
    r.assert_code(2);
    let error = r
        .stderr_lines()
        .into_iter()
        .find(|l| l.starts_with("depclose: error: "))
        .unwrap_or_else(|| panic!("{r}"))
        .to_owned();
    assert_eq!(
        error,
        format!(
            "depclose: error: registry {}: POST blob upload: HTTP 405: Method not allowed",
            registry.host()
        ),
        "{r}\n{}",
        registry.server.logs()
    );
    assert!(!r.stderr.contains("depclose: pushed"), "{r}");
    assert_eq!(
        r.stderr_lines()
            .iter()
            .filter(|l| l.contains("error"))
            .count(),
        1,
        "{r}"
    );
}

/// A manifest the registry refuses after its blobs were uploaded (`index.json` gives it
/// Docker's media type, the document says OCI): the error has the registry's error code
/// and message from its JSON.
#[test]
fn a_refused_manifest_is_an_error_with_the_registry_s_code() {
    const TEST: &str = "a_refused_manifest_is_an_error_with_the_registry_s_code";
    let env = TestEnv::new();
    let Some(registry) = Registry::start(&env, TEST, "registry", "", "") else {
        return;
    };
    let tar = rewritten(&env, "docker-type", |index| {
        index["manifests"][0]["mediaType"] =
            json!("application/vnd.docker.distribution.manifest.v2+json");
        Vec::new()
    });
    let options = PushOptions {
        insecure: true,
        ..PushOptions::default()
    };
    let archive = ImageArchive::open(&tar).unwrap();
    let err =
        depclose_pack::push(&archive, &format!("{}/app:1", registry.host()), &options).unwrap_err();
    assert!(
        matches!(&err, depclose_pack::Error::Registry { status: 400, message, .. } if message.starts_with("MANIFEST_INVALID: ")),
        "{err}\n{}",
        registry.server.logs()
    );
    assert!(
        err.to_string().starts_with(&format!(
            "registry {}: PUT manifest 1: HTTP 400: MANIFEST_INVALID: ",
            registry.host()
        )),
        "{err}"
    );
    assert_eq!(registry.uploads(), 2, "the blobs went first");
}

#[test]
fn refusals() {
    const TEST: &str = "push_refusals";
    let env = TestEnv::new();
    // Refused before any work: plain HTTP to a host that is not loopback, a bad reference,
    // --insecure-registry without --push, --push with the image on stdout.
    let cases: [(&[&str], &str); 4] = [
        (
            &["--push", "10.1.2.3:5000/app:1", "--insecure-registry"],
            "registry 10.1.2.3:5000: refused: --insecure-registry allows plain HTTP only to a loopback registry",
        ),
        (
            &["--push", "Bad/App:1"],
            "invalid image reference \"Bad/App:1\"",
        ),
        (
            &["--insecure-registry"],
            "--insecure-registry: applies to a registry: add --push REF",
        ),
        (
            &["--push", "127.0.0.1:1/app", "--emit", "-"],
            "--push with --emit -",
        ),
    ];
    for (args, says) in cases {
        let r = env.depclose(std::iter::once("/usr/bin/true").chain(args.iter().copied()));
        r.assert_code(2);
        assert!(r.stderr.contains(says), "{args:?}\n{r}");
        assert!(
            !r.stderr.contains("note: recipe"),
            "refused after the work: {r}"
        );
    }
    // A plain-HTTP registry without the flag: TLS fails, and the error says what to do.
    let Some(registry) = Registry::start(&env, TEST, "registry", "", "") else {
        return;
    };
    let reference = format!("{}/app:1", registry.host());
    let r = env.depclose(["/usr/bin/true", "--push", &reference]);
    r.assert_code(2);
    assert!(
        r.stderr.contains(&format!(
            "depclose: error: registry {}: GET https://{}/v2/",
            registry.host(),
            registry.host()
        )) && r.stderr.contains("needs --insecure-registry"),
        "{r}"
    );
    assert_eq!(registry.uploads(), 0);
}

#[test]
fn the_sbom_is_pushed_with_the_image_and_found_by_its_subject() {
    const TEST: &str = "the_sbom_is_pushed_with_the_image_and_found_by_its_subject";
    let env = TestEnv::new();
    if !util::have(TEST, &["skopeo"]) {
        return;
    }
    let Some(registry) = Registry::start(&env, TEST, "registry", "", "") else {
        return;
    };
    let reference = format!("{}/depclose/true:sbom", registry.host());
    let (tar, sbom) = (env.join("true.tar"), env.join("true.spdx.json"));
    let run = env.depclose([
        "/usr/bin/true",
        "--emit",
        tar.to_str().unwrap(),
        "--sbom",
        sbom.to_str().unwrap(),
        "--push",
        &reference,
        "--insecure-registry",
    ]);
    run.assert_code(0);
    let (image, _, _) = pushed(&run, &reference);
    assert_eq!(skopeo_digest(&reference), image);
    // The artifact is in the tar as blobs only; the push finds it by its subject.
    let tag = format!("sha256-{}", &image[7..]);
    let (head, index) = registry.manifest(
        "depclose/true",
        &tag,
        "application/vnd.oci.image.index.v1+json",
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}\n{run}");
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{index}");
    assert_eq!(entries[0]["artifactType"], "application/spdx+json");
    let artifact = entries[0]["digest"].as_str().unwrap();
    let (head, manifest) = registry.manifest(
        "depclose/true",
        artifact,
        "application/vnd.oci.image.manifest.v1+json",
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(manifest["subject"]["digest"], image.as_str());
    // The SBOM the registry holds is the file depclose wrote.
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let (head, body) = http_get(
        registry.port,
        &format!("/v2/depclose/true/blobs/{layer}"),
        "",
    )
    .unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, fs::read(&sbom).unwrap());
    assert!(
        run.stderr.contains(artifact),
        "the referrer is not named on stderr\n{run}"
    );
}
