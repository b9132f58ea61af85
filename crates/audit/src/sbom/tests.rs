#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use super::*;

fn package(name: &str, version: &str, source: &str, maintainer: &str) -> Package {
    let mut p = Package::named(name.into(), version.into(), "amd64".into());
    p.source = source.into();
    p.source_version = version.into();
    let stanza = format!("Package: {name}\nMaintainer: {maintainer}\n");
    p.stanza = crate::packages::deb822::paragraphs(&stanza)
        .unwrap()
        .remove(0);
    p
}

fn file(path: &str, package: Option<usize>) -> File {
    File {
        path: path.into(),
        sha256: format!("{:0>64}", path.len()),
        sha1: format!("{:0>40}", path.len()),
        package,
    }
}

fn with<T>(f: impl FnOnce(&Input<'_>) -> T) -> T {
    let libc = package(
        "libc6",
        "2.36-9+deb12u14",
        "glibc",
        "GNU Libc Maintainers <debian-glibc@lists.debian.org>",
    );
    let curl = package(
        "curl",
        "7.88.1-10",
        "curl",
        "Alessandro Ghedini <ghedo@debian.org>",
    );
    let input = Input {
        image: Image {
            name: "curl".into(),
            tag: "latest".into(),
            manifest_digest: format!("sha256:{}", "ab".repeat(32)),
            architecture: "amd64".into(),
        },
        distro: Distro::from_os_release(
            "NAME=\"Debian GNU/Linux\"\nID=debian\nVERSION_ID=\"12\"\n",
        ),
        created: "2023-11-14T22:13:20Z".into(),
        tool: ("depclose", "0.1.0"),
        packages: vec![
            PackageEntry {
                package: &curl,
                license: Some("curl"),
            },
            PackageEntry {
                package: &libc,
                license: Some("GPL-2.0-only AND LicenseRef-Foo"),
            },
        ],
        files: vec![
            file("/etc/passwd", None),
            file("/usr/bin/curl", Some(0)),
            file("/usr/lib/x86_64-linux-gnu/libc.so.6", Some(1)),
        ],
        links: vec![(1, 2)],
    };
    f(&input)
}

fn parse(input: &Input<'_>, format: Format) -> Value {
    serde_json::from_slice(&document(input, format).unwrap()).unwrap()
}

#[test]
fn os_release_values_are_unquoted() {
    let d = Distro::from_os_release("ID='debian'\nVERSION_ID=\"12\"\nX=\"a\\\"b\"\n").unwrap();
    assert_eq!(d.qualifier(), "debian-12");
    let sid = Distro::from_os_release("ID=debian\nPRETTY_NAME=\"Debian sid\"\n").unwrap();
    assert_eq!(sid.qualifier(), "debian");
    assert_eq!(Distro::from_os_release("NAME=x\n"), None);
    assert_eq!(unquote(r#""a\"b""#), "a\"b");
}

#[test]
fn the_same_input_gives_the_same_bytes() {
    for format in [Format::Spdx, Format::CycloneDx] {
        let a = with(|i| document(i, format).unwrap());
        let b = with(|i| document(i, format).unwrap());
        assert_eq!(a, b);
        assert!(a.ends_with(b"}\n"));
    }
}

#[test]
fn spdx_packages_files_and_relationships() {
    let doc = with(|i| parse(i, Format::Spdx));
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    assert_eq!(doc["creationInfo"]["created"], "2023-11-14T22:13:20Z");
    let packages = doc["packages"].as_array().unwrap();
    assert_eq!(packages[0]["SPDXID"], "SPDXRef-Image");
    assert_eq!(packages[0]["primaryPackagePurpose"], "CONTAINER");
    assert_eq!(
        packages[0]["externalRefs"][0]["referenceLocator"],
        format!(
            "pkg:oci/curl@sha256%3A{}?arch=amd64&tag=latest",
            "ab".repeat(32)
        )
    );
    let libc = &packages[2];
    assert_eq!(libc["name"], "libc6");
    assert_eq!(
        libc["supplier"],
        "Person: GNU Libc Maintainers (debian-glibc@lists.debian.org)"
    );
    assert_eq!(libc["licenseDeclared"], "GPL-2.0-only AND LicenseRef-Foo");
    assert_eq!(
        libc["externalRefs"][0]["referenceLocator"],
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u14?arch=amd64&distro=debian-12&upstream=glibc"
    );
    assert_eq!(
        doc["hasExtractedLicensingInfos"],
        json!([{
            "licenseId": "LicenseRef-Foo",
            "extractedText": "A licence the SPDX list does not name, given in full in /usr/share/doc/libc6/copyright",
        }])
    );
    let files = doc["files"].as_array().unwrap();
    assert_eq!(files.len(), 3);
    assert_eq!(files[1]["fileName"], "./usr/bin/curl");
    assert_eq!(files[1]["checksums"][0]["algorithm"], "SHA1");
    assert_eq!(files[1]["checksums"][1]["algorithm"], "SHA256");
    assert!(files[0]["comment"].is_string());
    assert!(files[1].get("comment").is_none());
    // Every id is unique and of SPDX's alphabet.
    let mut ids: Vec<&str> = packages
        .iter()
        .chain(files)
        .map(|x| x["SPDXID"].as_str().unwrap())
        .collect();
    assert!(ids.iter().all(|id| {
        id.strip_prefix("SPDXRef-")
            .unwrap()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    }));
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 6);
    let id = |path: &str| spdx::file_id(path);
    let relations: Vec<(String, String, String)> = doc["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap().to_owned();
            (
                s("spdxElementId"),
                s("relationshipType"),
                s("relatedSpdxElement"),
            )
        })
        .collect();
    let curl_id = packages[1]["SPDXID"].as_str().unwrap().to_owned();
    let libc_id = libc["SPDXID"].as_str().unwrap().to_owned();
    let r = |a: &str, k: &str, b: &str| (a.to_owned(), k.to_owned(), b.to_owned());
    assert_eq!(
        relations,
        [
            r("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Image"),
            r("SPDXRef-Image", "CONTAINS", &curl_id),
            r("SPDXRef-Image", "CONTAINS", &libc_id),
            r("SPDXRef-Image", "CONTAINS", &id("/etc/passwd")),
            r(&curl_id, "CONTAINS", &id("/usr/bin/curl")),
            r(
                &libc_id,
                "CONTAINS",
                &id("/usr/lib/x86_64-linux-gnu/libc.so.6")
            ),
            r(
                &id("/usr/bin/curl"),
                "DYNAMIC_LINK",
                &id("/usr/lib/x86_64-linux-gnu/libc.so.6")
            ),
        ]
    );
}

#[test]
fn ids_keep_paths_that_sanitise_alike_apart() {
    assert_ne!(spdx::file_id("/a+b"), spdx::file_id("/a_b"));
    assert!(
        spdx::file_id("/usr/lib/libstdc++.so.6")
            .starts_with("SPDXRef-File-usr-lib-libstdc--.so.6-")
    );
}

#[test]
fn cyclonedx_nests_files_in_their_packages() {
    let bom = with(|i| parse(i, Format::CycloneDx));
    assert_eq!(bom["specVersion"], "1.6");
    assert_eq!(
        bom["serialNumber"],
        "urn:uuid:abababab-abab-8bab-abab-abababababab"
    );
    assert_eq!(bom["metadata"]["component"]["type"], "container");
    let components = bom["components"].as_array().unwrap();
    assert_eq!(components.len(), 3);
    assert_eq!(components[1]["name"], "libc6");
    assert_eq!(
        components[1]["supplier"],
        json!({"name": "GNU Libc Maintainers", "contact": [{"email": "debian-glibc@lists.debian.org"}]})
    );
    assert_eq!(
        components[1]["licenses"],
        json!([{"expression": "GPL-2.0-only AND LicenseRef-Foo"}])
    );
    assert_eq!(
        components[1]["components"][0]["name"],
        "/usr/lib/x86_64-linux-gnu/libc.so.6"
    );
    assert_eq!(components[2]["type"], "file");
    assert_eq!(components[2]["name"], "/etc/passwd");
    assert_eq!(
        bom["dependencies"],
        json!([{"ref": "file:/usr/bin/curl", "dependsOn": ["file:/usr/lib/x86_64-linux-gnu/libc.so.6"]}])
    );
}
