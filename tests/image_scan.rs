//! Scanners see the image's packages, and the SBOM says what the image holds: syft finds in
//! the image exactly the Debian packages `dpkg -S` says own its files; pyspdxtools and the
//! CycloneDX 1.6 schema accept the documents, which list those packages and every file of
//! the layer with its digest; the same input gives the same bytes; `--no-package-metadata`
//! leaves it all out.
//!
//! syft, pyspdxtools and cyclonedx-python-lib live in a Python virtual environment:
//! `$DEPCLOSE_VENV`, else `/opt/depclose-venv` (what `.ci/run` installs).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::util::image::{Image, Member, blob_name, depclose, random_epoch};
use crate::util::{self, TestEnv, command, run_ok};

/// The virtual environment holding the Python tools.
fn venv() -> PathBuf {
    std::env::var_os("DEPCLOSE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/depclose-venv"))
}

fn tool(name: &str) -> String {
    venv().join("bin").join(name).display().to_string()
}

/// `(name, version)` of a package.
type Pkg = (String, String);

/// The Debian packages syft finds in `source` (`oci-archive:IMG.tar`, `dir:ROOTFS`), each
/// with its purl.
fn syft_debs(env: &TestEnv, source: &str) -> BTreeMap<Pkg, String> {
    let r = run_ok(
        command(tool("syft"))
            .current_dir(env.path())
            // No look-up of a newer syft: the test must not depend on the network.
            .env("SYFT_CHECK_FOR_APP_UPDATE", "false")
            .args(["scan", source, "-o", "json", "-q"]),
    );
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    doc["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["type"] == "deb")
        .map(|a| {
            let s = |k: &str| a[k].as_str().unwrap().to_owned();
            ((s("name"), s("version")), s("purl"))
        })
        .collect()
}

/// The layer's regular files (a hard link as the file it links to) with their sha256, and
/// every other non-directory entry, by absolute path.
fn layer_files(layer: &[Member]) -> (BTreeMap<String, String>, Vec<&Member>) {
    let mut files = BTreeMap::new();
    let mut others = Vec::new();
    for m in layer {
        match m.kind {
            tar::EntryType::Regular => {
                files.insert(
                    format!("/{}", m.name),
                    format!("{:x}", Sha256::digest(&m.data)),
                );
            }
            tar::EntryType::Link => {
                let target = format!("/{}", m.link.as_deref().unwrap());
                let sum = files[&target].clone();
                files.insert(format!("/{}", m.name), sum);
            }
            tar::EntryType::Directory => {}
            _ => others.push(m),
        }
    }
    (files, others)
}

/// What `dpkg -S` says of each path, in one call: path → the packages that own it (names
/// without `:arch`); a path it does not know is left out. Diversion lines say where a file
/// went, not who owns it.
fn dpkg_owners(paths: &[String]) -> BTreeMap<String, Vec<String>> {
    if paths.is_empty() {
        return BTreeMap::new();
    }
    // Exit 1 when some path is unknown; those are simply not in stdout.
    let r = util::run(command("dpkg").arg("-S").args(paths));
    let mut out = BTreeMap::new();
    for line in r.stdout.lines().filter(|l| !l.starts_with("diversion ")) {
        let (packages, path) = line.split_once(": ").unwrap();
        let names = packages
            .split(", ")
            .map(|p| p.split(':').next().unwrap().to_owned())
            .collect();
        out.insert(path.to_owned(), names);
    }
    out
}

/// The packages that own the image's entries according to `dpkg -S`, with their installed
/// versions: each regular file and symlink (a symlink to a directory, merged-/usr's `/lib`,
/// is a directory to dpkg) by its path in the image, else, under merged-/usr, by the path
/// dpkg recorded (`/lib/...` for `/usr/lib/...`).
fn dpkg_expected(layer: &[Member]) -> BTreeSet<Pkg> {
    let paths: Vec<String> = layer
        .iter()
        .filter(|m| m.kind != tar::EntryType::Directory)
        .map(|m| format!("/{}", m.name))
        .filter(|p| {
            let host = Path::new(p);
            !(host.is_symlink() && host.is_dir())
        })
        .collect();
    let first = dpkg_owners(&paths);
    let unknown: Vec<String> = paths
        .iter()
        .filter(|p| !first.contains_key(*p))
        .filter_map(|p| p.strip_prefix("/usr").map(str::to_owned))
        .collect();
    let second = dpkg_owners(&unknown);
    let names: BTreeSet<String> = first
        .into_values()
        .chain(second.into_values())
        .flatten()
        .collect();
    names
        .into_iter()
        .map(|name| {
            let r = run_ok(command("dpkg-query").args(["-W", "-f=${Version}", &name]));
            (name, r.stdout)
        })
        .collect()
}

/// The distribution qualifier scanners write: `ID-VERSION_ID` of the host's os-release.
fn distro() -> String {
    let text = fs::read_to_string("/etc/os-release").unwrap();
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or("")
            .trim_matches('"')
            .to_owned()
    };
    format!("{}-{}", value("ID"), value("VERSION_ID"))
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

/// The packages an SPDX document lists (all but the image), with their purls.
fn spdx_packages(doc: &Value) -> BTreeMap<Pkg, String> {
    doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["SPDXID"] != "SPDXRef-Image")
        .map(|p| {
            let s = |k: &str| p[k].as_str().unwrap().to_owned();
            (
                (s("name"), s("versionInfo")),
                p["externalRefs"][0]["referenceLocator"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect()
}

/// The files an SPDX document lists, with their sha256.
fn spdx_files(doc: &Value) -> BTreeMap<String, String> {
    doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let name = f["fileName"].as_str().unwrap();
            let sha256 = f["checksums"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["algorithm"] == "SHA256")
                .unwrap()["checksumValue"]
                .as_str()
                .unwrap();
            (
                name.strip_prefix('.').unwrap().to_owned(),
                sha256.to_owned(),
            )
        })
        .collect()
}

/// The library and file components of a CycloneDX document, nested ones included.
fn cyclonedx_components(doc: &Value) -> (BTreeMap<Pkg, String>, BTreeMap<String, String>) {
    fn walk(
        list: &Value,
        packages: &mut BTreeMap<Pkg, String>,
        files: &mut BTreeMap<String, String>,
    ) {
        for c in list.as_array().into_iter().flatten() {
            let s = |k: &str| c[k].as_str().unwrap().to_owned();
            match c["type"].as_str().unwrap() {
                "library" => {
                    packages.insert((s("name"), s("version")), s("purl"));
                }
                "file" => {
                    let hash = c["hashes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|h| h["alg"] == "SHA-256")
                        .unwrap()["content"]
                        .as_str()
                        .unwrap()
                        .to_owned();
                    files.insert(s("name"), hash);
                }
                other => panic!("unexpected component type {other}"),
            }
            walk(&c["components"], packages, files);
        }
    }
    let (mut packages, mut files) = (BTreeMap::new(), BTreeMap::new());
    walk(&doc["components"], &mut packages, &mut files);
    (packages, files)
}

/// The SBOM artifact in the image tar: the manifest whose `subject` is the image's, and its
/// one layer's bytes.
fn artifact<'a>(image: &'a Image, index_entry: &Value) -> (Value, &'a [u8]) {
    let manifests: Vec<Value> = image
        .members
        .iter()
        .filter(|m| m.name.starts_with("blobs/sha256/"))
        .filter_map(|m| serde_json::from_slice::<Value>(&m.data).ok())
        .filter(|v| v.get("subject").is_some())
        .collect();
    let [manifest] = manifests.as_slice() else {
        panic!("{} artifact manifests, expected one", manifests.len());
    };
    let subject = &manifest["subject"];
    assert_eq!(subject["digest"], index_entry["digest"]);
    assert_eq!(subject["size"], index_entry["size"]);
    assert_eq!(subject["mediaType"], index_entry["mediaType"]);
    let layer = &image
        .member(&blob_name(&manifest["layers"][0]["digest"]))
        .data;
    (manifest.clone(), layer.as_slice())
}

fn index_entry(image: &Image) -> Value {
    let index: Value = serde_json::from_slice(&image.member("index.json").data).unwrap();
    index["manifests"][0].clone()
}

/// For the curl, python3 and Apache images: syft finds exactly the packages `dpkg -S` says
/// own the image's files, with their versions, each with a `pkg:deb` purl naming the
/// distribution, the same purl the SBOM gives; and in the rootfs written beside it too.
#[test]
fn syft_finds_the_packages_dpkg_says_own_the_image() {
    const TEST: &str = "syft_finds_the_packages_dpkg_says_own_the_image";
    if !util::have(
        TEST,
        &[
            &tool("syft"),
            "dpkg",
            "dpkg-query",
            "curl",
            "python3",
            "apache2",
        ],
    ) {
        return;
    }
    let env = TestEnv::new();
    let distro = format!("distro={}", distro());
    for program in ["curl", "python3", "apache2"] {
        let tar = format!("{program}.tar");
        let sbom = format!("{program}.spdx.json");
        let rootfs = format!("{program}-rootfs");
        depclose(
            &env,
            random_epoch(),
            &[
                program,
                "--emit",
                &tar,
                "--sbom",
                &sbom,
                "--emit-rootfs",
                &rootfs,
            ],
        )
        .assert_code(0);
        let image = Image::read(&env.join(&tar));
        let want = dpkg_expected(&image.layer);
        let found = syft_debs(&env, &format!("oci-archive:{tar}"));
        let got: BTreeSet<Pkg> = found.keys().cloned().collect();
        assert_eq!(
            got, want,
            "{program}: syft's packages (left) and dpkg -S's (right)"
        );
        for (p, purl) in &found {
            assert!(
                purl.starts_with("pkg:deb/debian/") && purl.contains(&distro),
                "{program}: {p:?}: {purl}"
            );
        }
        assert_eq!(
            spdx_packages(&json(&env.join(&sbom))),
            found,
            "{program}: the SBOM's packages and purls (left), syft's (right)"
        );
        let in_dir = syft_debs(&env, &format!("dir:{rootfs}"));
        assert_eq!(
            in_dir, found,
            "{program}: syft on the rootfs and on the image"
        );
        println!(
            "{TEST}: {program}: syft and dpkg -S: {} packages",
            got.len()
        );
    }
}

/// The SPDX document passes pyspdxtools, the CycloneDX one the 1.6 schema; both list the
/// packages syft finds and every file of the layer with its sha256, say which file links
/// which as the loader's listing does, and are in the image tar as an artifact referring to
/// the image.
#[test]
fn sbom_documents_validate_and_list_the_layer() {
    const TEST: &str = "sbom_documents_validate_and_list_the_layer";
    let python = tool("python3");
    if !util::have(
        TEST,
        &[
            &tool("syft"),
            &tool("pyspdxtools"),
            &python,
            "curl",
            "readelf",
        ],
    ) {
        return;
    }
    let env = TestEnv::new();
    let epoch = random_epoch();
    for (format, media_type) in [
        ("spdx", "application/spdx+json"),
        ("cyclonedx", "application/vnd.cyclonedx+json"),
    ] {
        let tar = format!("curl-{format}.tar");
        let sbom = format!("curl.{format}.json");
        let run = depclose(
            &env,
            epoch,
            &[
                "curl",
                "--emit",
                &tar,
                "--sbom",
                &sbom,
                "--sbom-format",
                format,
            ],
        );
        run.assert_code(0);
        let path = env.join(&sbom);
        let doc = json(&path);
        match format {
            "spdx" => {
                run_ok(command(tool("pyspdxtools")).arg("-i").arg(&path));
            }
            _ => {
                let check = "import sys\n\
                    from cyclonedx.schema import SchemaVersion\n\
                    from cyclonedx.validation.json import JsonStrictValidator\n\
                    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read())\n\
                    sys.exit(f'invalid: {errors}' if errors else 0)\n";
                run_ok(command(&python).args(["-c", check]).arg(&path));
            }
        }
        let image = Image::read(&env.join(&tar));
        let (files, _) = layer_files(&image.layer);
        let syft: BTreeMap<Pkg, String> = syft_debs(&env, &format!("oci-archive:{tar}"));
        let (packages, listed) = match format {
            "spdx" => (spdx_packages(&doc), spdx_files(&doc)),
            _ => cyclonedx_components(&doc),
        };
        assert_eq!(
            packages, syft,
            "{format}: the SBOM's packages (left), syft's (right)"
        );
        assert_eq!(
            listed, files,
            "{format}: the SBOM's files (left), the layer's (right)"
        );

        // The same bytes are in the tar, as an artifact whose subject is the image.
        let entry = index_entry(&image);
        let (manifest, bytes) = artifact(&image, &entry);
        assert_eq!(manifest["artifactType"], media_type);
        assert_eq!(
            manifest["config"]["mediaType"],
            "application/vnd.oci.empty.v1+json"
        );
        assert_eq!(bytes, fs::read(&path).unwrap().as_slice(), "{format}");
        // It names the image by its manifest digest, and was created when the image was.
        let digest = entry["digest"].as_str().unwrap();
        let purl = format!("pkg:oci/curl@{}", digest.replace(':', "%3A"));
        let (image_purl, created) = match format {
            "spdx" => (
                doc["packages"][0]["externalRefs"][0]["referenceLocator"].clone(),
                doc["creationInfo"]["created"].clone(),
            ),
            _ => (
                doc["metadata"]["component"]["purl"].clone(),
                doc["metadata"]["timestamp"].clone(),
            ),
        };
        assert!(
            image_purl.as_str().unwrap().starts_with(&purl),
            "{image_purl}"
        );
        assert_eq!(created, image.config["created"]);
    }

    // What curl links, by the loader's own listing: each DT_NEEDED name to its real file.
    let needed = run_ok(command("readelf").args(["-d", "/usr/bin/curl"]));
    let listing = run_ok(command(util::LDSO).args(["--list", "/usr/bin/curl"]));
    let want: BTreeSet<String> = needed
        .stdout
        .lines()
        .filter_map(|l| l.split("Shared library: [").nth(1)?.strip_suffix(']'))
        .map(|name| {
            let line = listing
                .stdout
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{name} => ")))
                .unwrap_or_else(|| panic!("{name} not in\n{}", listing.stdout));
            let path = line
                .split(" => ")
                .nth(1)
                .unwrap()
                .split(" (")
                .next()
                .unwrap();
            fs::canonicalize(path).unwrap().display().to_string()
        })
        .collect();
    let doc = json(&env.join("curl.spdx.json"));
    let id_of: BTreeMap<&str, &str> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["SPDXID"].as_str().unwrap(),
                f["fileName"].as_str().unwrap().strip_prefix('.').unwrap(),
            )
        })
        .collect();
    let got: BTreeSet<String> = doc["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["relationshipType"] == "DYNAMIC_LINK")
        .filter(|r| id_of.get(r["spdxElementId"].as_str().unwrap()) == Some(&"/usr/bin/curl"))
        .map(|r| id_of[r["relatedSpdxElement"].as_str().unwrap()].to_owned())
        .collect();
    assert_eq!(
        got, want,
        "DYNAMIC_LINK from /usr/bin/curl (left), its DT_NEEDED (right)"
    );
    // A file no package ships is there as such.
    let passwd = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["fileName"] == "./etc/passwd")
        .unwrap();
    assert!(
        passwd["comment"].as_str().unwrap().contains("no package"),
        "{passwd}"
    );
    assert!(
        !doc["relationships"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["relatedSpdxElement"] == passwd["SPDXID"]
                && r["spdxElementId"] != "SPDXRef-Image"),
        "a package contains /etc/passwd"
    );
}

/// Two runs with one `SOURCE_DATE_EPOCH` write the same image and the same SBOM, byte for
/// byte; another epoch changes the SBOM's time.
#[test]
fn image_and_sbom_are_byte_identical_across_runs() {
    const TEST: &str = "image_and_sbom_are_byte_identical_across_runs";
    if !util::have(TEST, &["curl"]) {
        return;
    }
    let env = TestEnv::new();
    let epoch = random_epoch();
    for format in ["spdx", "cyclonedx"] {
        let emit = |n: &str, epoch: u64| {
            let (tar, sbom) = (format!("{n}.tar"), format!("{n}.json"));
            depclose(
                &env,
                epoch,
                &[
                    "curl",
                    "--emit",
                    &tar,
                    "--sbom",
                    &sbom,
                    "--sbom-format",
                    format,
                ],
            )
            .assert_code(0);
            (
                fs::read(env.join(tar)).unwrap(),
                fs::read(env.join(sbom)).unwrap(),
            )
        };
        let (a, b, c) = (emit("a", epoch), emit("b", epoch), emit("c", epoch + 1));
        assert!(
            a.0 == b.0,
            "SOURCE_DATE_EPOCH={epoch} {format}: two images differ"
        );
        assert!(
            a.1 == b.1,
            "SOURCE_DATE_EPOCH={epoch} {format}: two SBOMs differ"
        );
        assert!(
            a.1 != c.1,
            "SOURCE_DATE_EPOCH={epoch} {format}: the epoch changed nothing"
        );
    }
}

/// The image says why each file for scanners is there (the JSON report, the tree), and
/// `--no-package-metadata` leaves them all out: syft then finds no Debian package.
#[test]
fn no_package_metadata_leaves_it_all_out() {
    const TEST: &str = "no_package_metadata_leaves_it_all_out";
    if !util::have(TEST, &[&tool("syft"), "curl"]) {
        return;
    }
    let env = TestEnv::new();
    let epoch = random_epoch();
    let with = depclose(&env, epoch, &["curl", "--emit", "with.tar", "-f", "json"]);
    with.assert_code(0);
    let report = with.report();
    let metadata = &report.image.as_ref().unwrap().metadata;
    let image = Image::read(&env.join("with.tar"));
    let held: BTreeSet<String> = image.layer.iter().map(|m| format!("/{}", m.name)).collect();
    for m in metadata {
        assert!(held.contains(&m.path), "{} is said but not held", m.path);
        assert!(!m.why.is_empty());
    }
    let kinds = |kind: &str| metadata.iter().filter(|m| m.kind == kind).count();
    assert_eq!(
        kinds("dpkg_status"),
        syft_debs(&env, "oci-archive:with.tar").len()
    );
    assert!(kinds("dpkg_md5sums") > 0 && kinds("copyright") > 0 && kinds("os_release") > 0);
    let libc = metadata
        .iter()
        .find(|m| m.kind == "dpkg_status" && m.package.as_deref() == Some("libc6"))
        .unwrap();
    assert_eq!(libc.path, "/var/lib/dpkg/status.d/libc6");
    // The stanza is dpkg's own, field for field.
    let stanza = &image
        .layer
        .iter()
        .find(|m| m.name == "var/lib/dpkg/status.d/libc6")
        .unwrap()
        .data;
    let status = run_ok(command("dpkg-query").args(["-s", "libc6"]));
    assert_eq!(String::from_utf8_lossy(stanza), status.stdout);
    // Every md5sums line is the file's md5, by its path in the image.
    let sums = &image
        .layer
        .iter()
        .find(|m| m.name == "var/lib/dpkg/status.d/libc6.md5sums")
        .unwrap()
        .data;
    let rootfs = env.join("rootfs");
    depclose(&env, epoch, &["curl", "--emit-rootfs", "rootfs"]).assert_code(0);
    fs::write(env.join("libc6.md5sums"), sums).unwrap();
    let check = run_ok(
        command("md5sum")
            .args(["-c", "--quiet"])
            .arg(env.join("libc6.md5sums"))
            .current_dir(&rootfs),
    );
    assert!(check.stdout.is_empty(), "{check}");
    let tree = depclose(&env, epoch, &["curl", "--emit", "tree.tar", "-f", "tree"]);
    tree.assert_code(0);
    assert!(
        tree.stdout.contains("added for scanners:\n")
            && tree
                .stdout
                .contains("  /var/lib/dpkg/status.d/libc6 [dpkg status of libc6"),
        "{tree}"
    );

    depclose(
        &env,
        epoch,
        &["curl", "--emit", "without.tar", "--no-package-metadata"],
    )
    .assert_code(0);
    let without = Image::read(&env.join("without.tar"));
    let left: Vec<&str> = without
        .layer
        .iter()
        .map(|m| m.name.as_str())
        .filter(|n| {
            n.starts_with("var/lib/dpkg")
                || n.starts_with("usr/share/doc")
                || n.ends_with("os-release")
        })
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(syft_debs(&env, "oci-archive:without.tar").is_empty());
}

/// The flags are checked before any work: the SBOM needs an image file, stdout cannot carry
/// two things, and `--sbom -` writes the document to stdout.
#[test]
fn sbom_flags_are_checked() {
    let env = TestEnv::new();
    let refused = [
        (vec!["/usr/bin/true", "--sbom", "x.json"], "--sbom"),
        (
            vec!["/usr/bin/true", "--emit-rootfs", "r", "--sbom", "x.json"],
            "add --emit FILE",
        ),
        (
            vec!["/usr/bin/true", "--emit", "-", "--sbom", "-"],
            "--sbom - with --emit -",
        ),
        (
            vec![
                "/usr/bin/true",
                "--emit",
                "t.tar",
                "--sbom",
                "-",
                "-f",
                "json",
            ],
            "--sbom - with --format",
        ),
        (
            vec!["/usr/bin/true", "--emit", "t.tar", "--sbom", "t.tar"],
            "is the image file too",
        ),
        (
            vec![
                "/usr/bin/true",
                "--emit",
                "t.tar",
                "--sbom",
                "no/such/x.json",
            ],
            "does not exist",
        ),
        (
            vec!["/usr/bin/true", "--emit", "t.tar", "--sbom-format", "spdx"],
            "--sbom-format: needs --sbom FILE",
        ),
        (
            vec!["/usr/bin/true", "--no-package-metadata"],
            "--no-package-metadata",
        ),
    ];
    for (args, says) in refused {
        let run = env.depclose(&args);
        run.assert_code(2);
        assert!(run.stderr.contains(says), "{args:?}: {run}");
        assert!(
            !env.join("t.tar").exists() && !env.join("x.json").exists(),
            "{args:?}"
        );
    }
    let run = depclose(
        &env,
        0,
        &["/usr/bin/true", "--emit", "t.tar", "--sbom", "-"],
    );
    run.assert_code(0);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    let image = Image::read(&env.join("t.tar"));
    let (_, bytes) = artifact(&image, &index_entry(&image));
    assert_eq!(bytes, run.stdout.as_bytes());
}
