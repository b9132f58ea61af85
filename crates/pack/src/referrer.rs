//! Documents about an image (an SBOM, say) written beside it in the image tar as OCI
//! artifacts: each an image manifest with `artifactType`, the empty config and the document
//! as its one layer, and `subject` the image's manifest, so that a registry with the
//! referrers API keeps them with the image (image-spec `manifest.md`, "Guidelines for
//! Artifact Usage").
//!
//! `index.json` does not list them: skopeo's `oci-archive:` without an image name, and
//! syft's, read only a layout whose index holds exactly one manifest. Their blobs are in
//! `blobs/sha256/`, where a copy of the layout finds them by their `subject`.

use std::collections::HashMap;

use oci_spec::image::{ImageManifestBuilder, MediaType, SCHEMA_VERSION};

use crate::image::{canonical_json, descriptor, spec};
use crate::{Error, ImageSummary, archive};

/// One document about an image, for [`Referrers`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// The document's media type (`application/spdx+json`), which is also the artifact
    /// manifest's `artifactType`.
    pub media_type: String,
    /// The document.
    pub data: Vec<u8>,
}

/// Makes the artifacts that refer to an image, once its manifest digest is known
/// ([`WriteOptions::referrers`](crate::WriteOptions::referrers)).
///
/// Any `Fn(&ImageSummary) -> Result<Vec<Artifact>, _>` closure is a `Referrers`.
pub trait Referrers {
    /// The artifacts for `image` (its `referrers` still empty).
    fn artifacts(&self, image: &ImageSummary) -> Result<Vec<Artifact>, ArtifactError>;
}

/// Why a [`Referrers`] could not make its artifacts.
pub type ArtifactError = Box<dyn std::error::Error + Send + Sync>;

impl<F: Fn(&ImageSummary) -> Result<Vec<Artifact>, ArtifactError>> Referrers for F {
    fn artifacts(&self, image: &ImageSummary) -> Result<Vec<Artifact>, ArtifactError> {
        self(image)
    }
}

/// The OCI empty descriptor's content (image-spec `manifest.md`, "Guidance for an Empty
/// Descriptor").
const EMPTY: &[u8] = b"{}";

/// The blobs of the artifacts referring to an image, in the order to write them: each
/// document, the empty config once, then each artifact manifest.
#[derive(Debug, Default)]
pub(crate) struct Blobs {
    /// Digest and bytes of each blob.
    pub(crate) blobs: Vec<(String, Vec<u8>)>,
    /// The artifact manifests' digests, in the artifacts' order.
    pub(crate) manifests: Vec<String>,
}

/// The [`Blobs`] of `artifacts` referring to the image whose manifest is `subject` (digest,
/// bytes).
pub(crate) fn blobs(
    artifacts: Vec<Artifact>,
    subject: (&str, &[u8]),
    created: &str,
) -> Result<Blobs, Error> {
    if artifacts.is_empty() {
        return Ok(Blobs::default());
    }
    let (subject_digest, subject_bytes) = subject;
    let empty_digest = archive::sha256_of(EMPTY);
    let mut documents = Vec::new();
    let mut manifests = Vec::new();
    let mut digests = Vec::new();
    for artifact in artifacts {
        let media_type = MediaType::from(artifact.media_type.as_str());
        let digest = archive::sha256_of(&artifact.data);
        let mut config = descriptor(MediaType::EmptyJSON, &empty_digest, EMPTY.len() as u64)?;
        // "e30=" is `{}`: readers need not fetch the empty config.
        config.set_data(Some("e30=".to_owned()));
        let manifest = ImageManifestBuilder::default()
            .schema_version(SCHEMA_VERSION)
            .media_type(MediaType::ImageManifest)
            .artifact_type(media_type.clone())
            .config(config)
            .layers(vec![descriptor(
                media_type,
                &digest,
                artifact.data.len() as u64,
            )?])
            .subject(descriptor(
                MediaType::ImageManifest,
                subject_digest,
                subject_bytes.len() as u64,
            )?)
            .annotations(HashMap::from([(
                oci_spec::image::ANNOTATION_CREATED.to_owned(),
                created.to_owned(),
            )]))
            .build()
            .map_err(spec)?;
        let json = canonical_json(&manifest)?;
        let manifest_digest = archive::sha256_of(&json);
        digests.push(manifest_digest.clone());
        documents.push((digest, artifact.data));
        manifests.push((manifest_digest, json));
    }
    let mut out = documents;
    out.push((empty_digest, EMPTY.to_vec()));
    out.extend(manifests);
    // A blob is stored once, whichever documents share it.
    let mut seen = std::collections::HashSet::new();
    out.retain(|(digest, _)| seen.insert(digest.clone()));
    Ok(Blobs {
        blobs: out,
        manifests: digests,
    })
}
