//! SBOM documents of an image ([`document`]): SPDX 2.3 JSON and CycloneDX 1.6 JSON
//! ([`Format`]), from what the caller gathered ([`Input`]): the image by its manifest
//! digest, the packages that own its files, every regular file of its layer with its digests
//! and owner, and which file dynamically links which.
//!
//! The documents hold nothing the input does not: identifiers come from names and paths,
//! the order is the input's, `created` is given, so the same input gives the same bytes.

mod cyclonedx;
mod purl;
mod spdx;

use crate::Package;

pub use purl::{deb_purl, oci_purl};

/// The image a document describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Its repository name as tagged: `curl`, `registry.example/team/app`.
    pub name: String,
    /// Its tag: `latest`.
    pub tag: String,
    /// `sha256:<hex>` of its manifest.
    pub manifest_digest: String,
    /// GOARCH-style: `amd64`.
    pub architecture: String,
}

/// The distribution the packages come from: `ID` and `VERSION_ID` of the root's
/// os-release (`debian`, `12`), as scanners name it in a purl (`distro=debian-12`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Distro {
    pub id: String,
    pub version_id: Option<String>,
}

impl Distro {
    /// From the text of an os-release file (`KEY=value` lines, values maybe quoted);
    /// `None` without an `ID`.
    pub fn from_os_release(text: &str) -> Option<Distro> {
        let value = |key: &str| {
            text.lines().find_map(|line| {
                let (k, v) = line.trim().split_once('=')?;
                (k == key).then(|| unquote(v.trim()))
            })
        };
        Some(Distro {
            id: value("ID").filter(|v| !v.is_empty())?,
            version_id: value("VERSION_ID").filter(|v| !v.is_empty()),
        })
    }

    /// `debian-12`, or `debian` without a version.
    pub fn qualifier(&self) -> String {
        match &self.version_id {
            Some(v) => format!("{}-{v}", self.id),
            None => self.id.clone(),
        }
    }
}

/// An os-release value: quotes removed, backslash escapes undone (os-release(5)).
fn unquote(v: &str) -> String {
    let inner = match v.as_bytes().first() {
        Some(&q @ (b'"' | b'\'')) if v.len() >= 2 && v.as_bytes()[v.len() - 1] == q => {
            &v[1..v.len() - 1]
        }
        _ => v,
    };
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

/// A package that owns files of the image.
#[derive(Debug, Clone, Copy)]
pub struct PackageEntry<'a> {
    pub package: &'a Package,
    /// Its licence (SPDX), from its copyright file ([`license`](crate::packages::license)).
    pub license: Option<&'a str>,
}

/// A regular file of the image's layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Absolute in the image: `/usr/lib/x86_64-linux-gnu/libc.so.6`.
    pub path: String,
    /// Hex digests of its contents.
    pub sha256: String,
    pub sha1: String,
    /// The index in [`Input::packages`] of the package that ships it; `None` for a file no
    /// package owns (one depclose generated, or one the root's packages do not list).
    pub package: Option<usize>,
}

/// Everything a document says.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    pub image: Image,
    pub distro: Option<Distro>,
    /// RFC 3339 UTC: the image's own `created`.
    pub created: String,
    /// The tool's name and version: `depclose`, `0.1.0`.
    pub tool: (&'a str, &'a str),
    pub packages: Vec<PackageEntry<'a>>,
    pub files: Vec<File>,
    /// `(from, to)` indexes in `files`: `from` needs `to` (`DT_NEEDED`).
    pub links: Vec<(usize, usize)>,
}

/// A document format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// SPDX 2.3, JSON.
    Spdx,
    /// CycloneDX 1.6, JSON.
    CycloneDx,
}

impl Format {
    /// The document's media type (also the OCI `artifactType` of an artifact holding it).
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Spdx => "application/spdx+json",
            Format::CycloneDx => "application/vnd.cyclonedx+json",
        }
    }
}

/// The document, pretty-printed JSON ending in a newline.
pub fn document(input: &Input<'_>, format: Format) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = match format {
        Format::Spdx => serde_json::to_vec_pretty(&spdx::document(input)),
        Format::CycloneDx => serde_json::to_vec_pretty(&cyclonedx::document(input)),
    }?;
    out.push(b'\n');
    Ok(out)
}

/// The `Maintainer` field split into a name and an email address: `Name <address>`.
fn maintainer(package: &Package) -> Option<(&str, Option<&str>)> {
    let field = package.field("Maintainer")?.trim();
    if field.is_empty() {
        return None;
    }
    Some(match field.split_once('<') {
        Some((name, rest)) => (
            name.trim(),
            rest.strip_suffix('>')
                .map(str::trim)
                .filter(|e| e.contains('@')),
        ),
        None => (field, None),
    })
}

/// An identifier made of `[A-Za-z0-9.-]` (what SPDX allows after `SPDXRef-`): each other
/// byte becomes `-`, and a digest of the whole keeps two texts that map alike apart.
fn id_safe(text: &str) -> String {
    use sha2::Digest;
    let safe: String = text
        .trim_start_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let digest = sha2::Sha256::digest(text.as_bytes());
    let short: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("{safe}-{short}")
}

#[cfg(test)]
pub(crate) mod tests;
