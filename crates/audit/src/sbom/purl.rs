//! Package URLs (<https://github.com/package-url/purl-spec>): `pkg:deb` for Debian packages,
//! spelled as syft spells them so that both name a package alike, and `pkg:oci` for the
//! image.

use std::fmt::Write;

use super::{Distro, Image};
use crate::Package;

/// `pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=debian-12&upstream=SRC@SRCVER`. The
/// namespace is the distribution's `ID` (`debian` without one); `upstream` names the source
/// package when it differs from the name, with its version when that differs (a binNMU's
/// `Source: bash (5.2.15-2)`), as syft writes it. Qualifiers are sorted by key.
pub fn deb_purl(package: &Package, distro: Option<&Distro>) -> String {
    let namespace = distro.map_or("debian", |d| d.id.as_str());
    let mut qualifiers = vec![("arch", package.architecture.clone())];
    if let Some(d) = distro {
        qualifiers.push(("distro", d.qualifier()));
    }
    let upstream = match (
        package.source != package.name,
        package.source_version != package.version,
    ) {
        (_, true) => Some(format!("{}@{}", package.source, package.source_version)),
        (true, false) => Some(package.source.clone()),
        (false, false) => None,
    };
    if let Some(u) = upstream {
        qualifiers.push(("upstream", u));
    }
    // A Debian version's epoch colon stays, as syft (packageurl-go) leaves it.
    format!(
        "pkg:deb/{}/{}@{}{}",
        encode(namespace, b""),
        encode(&package.name, b""),
        encode(&package.version, b":"),
        query(&qualifiers)
    )
}

/// `pkg:oci/NAME@sha256%3AHEX?arch=ARCH&repository_url=REPO&tag=TAG`: the name is the
/// repository's last component, the version the manifest digest (its colon encoded, as the
/// purl spec's `oci` type writes it); `repository_url` only for a name with a registry or
/// path before it (`registry.example/team/app`).
pub fn oci_purl(image: &Image) -> String {
    let last = image.name.rsplit('/').next().unwrap_or(&image.name);
    let mut qualifiers = vec![("arch", image.architecture.clone())];
    if image.name.contains('/') {
        qualifiers.push(("repository_url", image.name.clone()));
    }
    qualifiers.push(("tag", image.tag.clone()));
    let mut out = format!(
        "pkg:oci/{}@{}",
        encode(last, b""),
        encode(&image.manifest_digest, b"")
    );
    // The repository URL keeps its slashes.
    let q: Vec<String> = qualifiers
        .iter()
        .map(|(k, v)| {
            let keep: &[u8] = if *k == "repository_url" { b"/" } else { b"" };
            format!("{k}={}", encode(v, keep))
        })
        .collect();
    out.push('?');
    out.push_str(&q.join("&"));
    out
}

fn query(qualifiers: &[(&str, String)]) -> String {
    let q: Vec<String> = qualifiers
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v, b"")))
        .collect();
    format!("?{}", q.join("&"))
}

/// Percent-encoding of every byte but the unreserved ones (RFC 3986: letters, digits,
/// `-._~`) and those in `keep`.
fn encode(text: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, version: &str, source: &str, source_version: &str) -> Package {
        let mut p = Package::named(name.into(), version.into(), "amd64".into());
        p.source = source.into();
        p.source_version = source_version.into();
        p
    }

    fn debian() -> Distro {
        Distro {
            id: "debian".into(),
            version_id: Some("12".into()),
        }
    }

    /// Each as syft 1.18 writes it for the same stanza.
    #[test]
    fn deb_purls_as_syft_writes_them() {
        let d = debian();
        assert_eq!(
            deb_purl(
                &package("libc6", "2.36-9+deb12u14", "glibc", "2.36-9+deb12u14"),
                Some(&d)
            ),
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u14?arch=amd64&distro=debian-12&upstream=glibc"
        );
        assert_eq!(
            deb_purl(
                &package("bash", "5.2.15-2+b8", "bash", "5.2.15-2"),
                Some(&d)
            ),
            "pkg:deb/debian/bash@5.2.15-2%2Bb8?arch=amd64&distro=debian-12&upstream=bash%405.2.15-2"
        );
        assert_eq!(
            deb_purl(
                &package(
                    "libstdc++6",
                    "12.2.0-14+deb12u1",
                    "gcc-12",
                    "12.2.0-14+deb12u1"
                ),
                Some(&d)
            ),
            "pkg:deb/debian/libstdc%2B%2B6@12.2.0-14%2Bdeb12u1?arch=amd64&distro=debian-12&upstream=gcc-12"
        );
        assert_eq!(
            deb_purl(
                &package("libgmp10", "2:6.2.1+dfsg1-1.1", "gmp", "2:6.2.1+dfsg1-1.1"),
                Some(&d)
            ),
            "pkg:deb/debian/libgmp10@2:6.2.1%2Bdfsg1-1.1?arch=amd64&distro=debian-12&upstream=gmp"
        );
        assert_eq!(
            deb_purl(&package("curl", "7.88.1-10", "curl", "7.88.1-10"), None),
            "pkg:deb/debian/curl@7.88.1-10?arch=amd64"
        );
    }

    #[test]
    fn oci_purls_encode_the_digest_and_keep_the_repository_path() {
        let mut image = Image {
            name: "curl".into(),
            tag: "latest".into(),
            manifest_digest: "sha256:abc".into(),
            architecture: "amd64".into(),
        };
        assert_eq!(
            oci_purl(&image),
            "pkg:oci/curl@sha256%3Aabc?arch=amd64&tag=latest"
        );
        image.name = "registry.example:5000/team/app".into();
        image.tag = "1.0+x".into();
        assert_eq!(
            oci_purl(&image),
            "pkg:oci/app@sha256%3Aabc?arch=amd64&repository_url=registry.example%3A5000/team/app&tag=1.0%2Bx"
        );
    }

    #[test]
    fn encoding_escapes_all_but_unreserved() {
        assert_eq!(
            encode("a b/c?d#e&f=g%h~i", b""),
            "a%20b%2Fc%3Fd%23e%26f%3Dg%25h~i"
        );
        assert_eq!(encode("é", b""), "%C3%A9");
    }
}
