//! CycloneDX 1.6 as JSON (<https://cyclonedx.org/docs/1.6/json/>): the image the BOM's
//! subject (`metadata.component`, a `container`), each Debian package a `library` holding
//! its files as components of its own (CycloneDX's containment), each file no package owns a
//! top-level `file` component, and a `dependencies` entry per file that dynamically links
//! others.

use serde::Serialize;

use super::{Input, maintainer, purl};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Bom {
    bom_format: &'static str,
    spec_version: &'static str,
    serial_number: String,
    version: u32,
    metadata: Metadata,
    components: Vec<Component>,
    dependencies: Vec<Dependency>,
}

#[derive(Serialize)]
struct Metadata {
    timestamp: String,
    tools: Tools,
    component: Component,
}

#[derive(Serialize)]
struct Tools {
    components: Vec<Component>,
}

#[derive(Serialize, Default)]
struct Component {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "bom-ref", skip_serializing_if = "Option::is_none")]
    bom_ref: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    supplier: Option<Supplier>,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hashes: Vec<Hash>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    licenses: Vec<License>,
    #[serde(skip_serializing_if = "Option::is_none")]
    purl: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    properties: Vec<Property>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    components: Vec<Component>,
}

#[derive(Serialize)]
struct Supplier {
    name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    contact: Vec<Contact>,
}

#[derive(Serialize)]
struct Contact {
    email: String,
}

#[derive(Serialize)]
struct Hash {
    alg: &'static str,
    content: String,
}

#[derive(Serialize)]
struct License {
    expression: String,
}

#[derive(Serialize)]
struct Property {
    name: &'static str,
    value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Dependency {
    #[serde(rename = "ref")]
    reference: String,
    depends_on: Vec<String>,
}

const IMAGE_REF: &str = "image";

fn file_ref(path: &str) -> String {
    format!("file:{path}")
}

pub(super) fn document(input: &Input<'_>) -> Bom {
    let image = &input.image;
    let file = |f: &super::File| Component {
        kind: "file",
        bom_ref: Some(file_ref(&f.path)),
        name: f.path.clone(),
        hashes: vec![
            Hash {
                alg: "SHA-1",
                content: f.sha1.clone(),
            },
            Hash {
                alg: "SHA-256",
                content: f.sha256.clone(),
            },
        ],
        ..Component::default()
    };
    let mut components: Vec<Component> = input
        .packages
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let p = entry.package;
            let purl = purl::deb_purl(p, input.distro.as_ref());
            Component {
                kind: "library",
                bom_ref: Some(purl.clone()),
                supplier: maintainer(p).map(|(name, email)| Supplier {
                    name: name.to_owned(),
                    contact: email
                        .map(|e| Contact {
                            email: e.to_owned(),
                        })
                        .into_iter()
                        .collect(),
                }),
                name: p.name.clone(),
                version: Some(p.version.clone()),
                licenses: entry
                    .license
                    .map(|l| License {
                        expression: l.to_owned(),
                    })
                    .into_iter()
                    .collect(),
                purl: Some(purl),
                properties: vec![
                    Property {
                        name: "depclose:deb:source",
                        value: p.source.clone(),
                    },
                    Property {
                        name: "depclose:deb:source_version",
                        value: p.source_version.clone(),
                    },
                ],
                components: input
                    .files
                    .iter()
                    .filter(|f| f.package == Some(i))
                    .map(file)
                    .collect(),
                ..Component::default()
            }
        })
        .collect();
    components.extend(input.files.iter().filter(|f| f.package.is_none()).map(file));
    let mut needs: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for &(from, to) in &input.links {
        needs
            .entry(&input.files[from].path)
            .or_default()
            .push(file_ref(&input.files[to].path));
    }
    let dependencies = needs
        .into_iter()
        .map(|(from, depends_on)| Dependency {
            reference: file_ref(from),
            depends_on,
        })
        .collect();
    let hex = image
        .manifest_digest
        .strip_prefix("sha256:")
        .unwrap_or(&image.manifest_digest);
    Bom {
        bom_format: "CycloneDX",
        spec_version: "1.6",
        serial_number: serial_number(hex),
        version: 1,
        metadata: Metadata {
            timestamp: input.created.clone(),
            tools: Tools {
                components: vec![Component {
                    kind: "application",
                    name: input.tool.0.to_owned(),
                    version: Some(input.tool.1.to_owned()),
                    ..Component::default()
                }],
            },
            component: Component {
                kind: "container",
                bom_ref: Some(IMAGE_REF.to_owned()),
                name: image.name.clone(),
                version: Some(image.manifest_digest.clone()),
                purl: Some(purl::oci_purl(image)),
                ..Component::default()
            },
        },
        components,
        dependencies,
    }
}

/// A URN UUID made from the manifest digest (RFC 9562 version 8, "custom"): the same image
/// gets the same serial number, another image another.
fn serial_number(hex: &str) -> String {
    let mut digits: Vec<char> = hex.chars().chain(std::iter::repeat('0')).take(32).collect();
    digits[12] = '8';
    // The variant bits `10`.
    let v = digits[16].to_digit(16).unwrap_or(0);
    digits[16] = char::from_digit(0x8 | (v & 0x3), 16).unwrap_or('8');
    let s: String = digits.into_iter().collect();
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &s[..8],
        &s[8..12],
        &s[12..16],
        &s[16..20],
        &s[20..]
    )
}
