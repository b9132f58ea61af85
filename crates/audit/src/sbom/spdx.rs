//! SPDX 2.3 as JSON (<https://spdx.github.io/spdx-spec/v2.3/>): the image a package of
//! purpose `CONTAINER`, each Debian package, each file with its SHA-1 (which SPDX 2.3
//! requires) and SHA-256, and the relationships: the document `DESCRIBES` the image, the image
//! `CONTAINS` each package and each file no package owns, a package `CONTAINS` its files, a
//! file `DYNAMIC_LINK`s each file it needs.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{Input, id_safe, maintainer, purl};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Document {
    spdx_version: &'static str,
    data_license: &'static str,
    #[serde(rename = "SPDXID")]
    spdx_id: &'static str,
    name: String,
    document_namespace: String,
    creation_info: CreationInfo,
    packages: Vec<Package>,
    files: Vec<File>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    has_extracted_licensing_infos: Vec<ExtractedLicense>,
    relationships: Vec<Relationship>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreationInfo {
    created: String,
    creators: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Package {
    name: String,
    #[serde(rename = "SPDXID")]
    spdx_id: String,
    version_info: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    supplier: Option<String>,
    download_location: &'static str,
    files_analyzed: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    checksums: Vec<Checksum>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_info: Option<String>,
    license_concluded: &'static str,
    license_declared: String,
    copyright_text: &'static str,
    external_refs: Vec<ExternalRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    primary_package_purpose: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalRef {
    reference_category: &'static str,
    reference_type: &'static str,
    reference_locator: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct File {
    file_name: String,
    #[serde(rename = "SPDXID")]
    spdx_id: String,
    checksums: Vec<Checksum>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Checksum {
    algorithm: &'static str,
    checksum_value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExtractedLicense {
    license_id: String,
    extracted_text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Relationship {
    spdx_element_id: String,
    relationship_type: &'static str,
    related_spdx_element: String,
}

const NOASSERTION: &str = "NOASSERTION";
const IMAGE_ID: &str = "SPDXRef-Image";

pub(super) fn package_id(p: &crate::Package) -> String {
    format!(
        "SPDXRef-Package-deb-{}",
        id_safe(&format!("{}:{}", p.name, p.architecture))
    )
}

pub(super) fn file_id(path: &str) -> String {
    format!("SPDXRef-File-{}", id_safe(path))
}

pub(super) fn document(input: &Input<'_>) -> Document {
    let image = &input.image;
    let digest_hex = image
        .manifest_digest
        .strip_prefix("sha256:")
        .unwrap_or(&image.manifest_digest);
    let mut packages = vec![Package {
        name: image.name.clone(),
        spdx_id: IMAGE_ID.to_owned(),
        version_info: image.manifest_digest.clone(),
        supplier: None,
        download_location: NOASSERTION,
        // SPDX: a package that CONTAINS files had its files analysed.
        files_analyzed: input.files.iter().any(|f| f.package.is_none()),
        checksums: vec![Checksum {
            algorithm: "SHA256",
            checksum_value: digest_hex.to_owned(),
        }],
        source_info: None,
        license_concluded: NOASSERTION,
        license_declared: NOASSERTION.to_owned(),
        copyright_text: NOASSERTION,
        external_refs: vec![purl_ref(purl::oci_purl(image))],
        primary_package_purpose: Some("CONTAINER"),
    }];
    // Every `LicenseRef-` a licence names must be defined in the document: by the copyright
    // files that name it.
    let mut refs: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for (i, entry) in input.packages.iter().enumerate() {
        let p = entry.package;
        if let Some(l) = entry.license {
            for id in l
                .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
                .filter(|w| w.starts_with("LicenseRef-"))
            {
                refs.entry(id.to_owned()).or_default().insert(&p.name);
            }
        }
        packages.push(Package {
            name: p.name.clone(),
            spdx_id: package_id(p),
            version_info: p.version.clone(),
            supplier: maintainer(p).map(|(name, email)| match email {
                Some(e) => format!("Person: {name} ({e})"),
                None => format!("Person: {name}"),
            }),
            download_location: NOASSERTION,
            files_analyzed: input.files.iter().any(|f| f.package == Some(i)),
            checksums: Vec::new(),
            source_info: Some(format!(
                "built from the Debian source package {} {}",
                p.source, p.source_version
            )),
            license_concluded: NOASSERTION,
            license_declared: entry.license.unwrap_or(NOASSERTION).to_owned(),
            copyright_text: NOASSERTION,
            external_refs: vec![purl_ref(purl::deb_purl(p, input.distro.as_ref()))],
            primary_package_purpose: None,
        });
    }
    let files = input
        .files
        .iter()
        .map(|f| File {
            file_name: format!(".{}", f.path),
            spdx_id: file_id(&f.path),
            checksums: vec![
                Checksum {
                    algorithm: "SHA1",
                    checksum_value: f.sha1.clone(),
                },
                Checksum {
                    algorithm: "SHA256",
                    checksum_value: f.sha256.clone(),
                },
            ],
            comment: f
                .package
                .is_none()
                .then_some("no package of the root's dpkg database ships this file"),
        })
        .collect();
    let relation = |from: String, kind, to: String| Relationship {
        spdx_element_id: from,
        relationship_type: kind,
        related_spdx_element: to,
    };
    let mut relationships = vec![relation(
        "SPDXRef-DOCUMENT".into(),
        "DESCRIBES",
        IMAGE_ID.into(),
    )];
    for entry in &input.packages {
        relationships.push(relation(
            IMAGE_ID.into(),
            "CONTAINS",
            package_id(entry.package),
        ));
    }
    for f in &input.files {
        let owner = match f.package {
            Some(i) => package_id(input.packages[i].package),
            None => IMAGE_ID.to_owned(),
        };
        relationships.push(relation(owner, "CONTAINS", file_id(&f.path)));
    }
    for &(from, to) in &input.links {
        relationships.push(relation(
            file_id(&input.files[from].path),
            "DYNAMIC_LINK",
            file_id(&input.files[to].path),
        ));
    }
    Document {
        spdx_version: "SPDX-2.3",
        data_license: "CC0-1.0",
        spdx_id: "SPDXRef-DOCUMENT",
        name: format!("{}:{}", image.name, image.tag),
        document_namespace: format!(
            "https://spdx.org/spdxdocs/depclose/{}-{digest_hex}",
            id_safe(&image.name)
        ),
        creation_info: CreationInfo {
            created: input.created.clone(),
            creators: vec![format!("Tool: {}-{}", input.tool.0, input.tool.1)],
        },
        packages,
        files,
        has_extracted_licensing_infos: refs
            .into_iter()
            .map(|(id, packages)| {
                let files: Vec<String> = packages
                    .iter()
                    .map(|p| format!("/usr/share/doc/{p}/copyright"))
                    .collect();
                ExtractedLicense {
                    extracted_text: format!(
                        "A licence the SPDX list does not name, given in full in {}",
                        files.join(", ")
                    ),
                    license_id: id,
                }
            })
            .collect(),
        relationships,
    }
}

fn purl_ref(locator: String) -> ExternalRef {
    ExternalRef {
        reference_category: "PACKAGE-MANAGER",
        reference_type: "purl",
        reference_locator: locator,
    }
}
