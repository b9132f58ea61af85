//! Reading image tars back: the OCI image layout this crate writes (and `docker save`
//! writes since Docker 25), and the docker-archive of older `docker save`, which has only
//! `manifest.json`.
//!
//! The tar is read once, for its member table (name, data offset, size); members are then
//! read from the file by seeking, so a layer of gigabytes is streamed, never held.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use oci_spec::image::{
    Descriptor, ImageConfiguration, ImageIndex, ImageManifest, ImageManifestBuilder, MediaType,
    PlatformBuilder, SCHEMA_VERSION,
};
use serde::Deserialize;
use sha2::{Digest as _, Sha256, Sha512};

use crate::Error;
use crate::archive::sha256_string;

/// The largest JSON member or blob read into memory (manifests, configs, indexes).
const MAX_DOCUMENT: u64 = 16 << 20;
/// How deep indexes may nest, and how many links a member name may go through.
const MAX_DEPTH: usize = 16;

/// An image tar opened for reading: an OCI image layout (`index.json`, `blobs/`), or a
/// docker-archive with only `manifest.json` (`docker save` before Docker 25).
///
/// Opening reads the tar's member table once and refuses hostile member names (absolute,
/// with `..`, not UTF-8, a link leaving the archive) and members that run past the end of
/// the file. Members are read later by seeking in the file, which must not change meanwhile.
#[derive(Debug)]
pub struct ImageArchive {
    path: PathBuf,
    /// Regular members (links resolved to what they point at), by normalised name.
    members: BTreeMap<String, Span>,
    /// For a docker-archive without `index.json`: its images as OCI documents, made on
    /// first use because the layers' digests have to be computed.
    docker: OnceLock<DockerView>,
}

/// Where a member's data lies in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    offset: u64,
    size: u64,
}

/// What a manifest reachable from `index.json` is, parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum ManifestKind {
    /// An image manifest (OCI, or Docker's schema 2), including artifact manifests.
    Image(Box<ImageManifest>),
    /// An image index (OCI, or Docker's manifest list).
    Index(Box<ImageIndex>),
}

impl ManifestKind {
    /// The manifest's `subject`: set for a referrer (an SBOM, a signature) of another
    /// manifest.
    pub fn subject(&self) -> Option<&Descriptor> {
        match self {
            ManifestKind::Image(m) => m.subject().as_ref(),
            ManifestKind::Index(i) => i.subject().as_ref(),
        }
    }
}

/// The one image of an archive ([`ImageArchive::image`]): its manifest, config and layers.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveImage {
    /// `sha256:…` of the manifest.
    pub manifest_digest: String,
    /// The image manifest.
    pub manifest: ImageManifest,
    /// The image configuration.
    pub config: ImageConfiguration,
    /// The layers, bottom first.
    pub layers: Vec<Layer>,
}

/// One layer of an [`ArchiveImage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// The blob's digest, `sha256:…`.
    pub digest: String,
    /// The blob's media type, e.g. `application/vnd.oci.image.layer.v1.tar+gzip`.
    pub media_type: String,
    /// The blob's size in bytes.
    pub size: u64,
    /// The digest of the uncompressed layer, from the config's `rootfs.diff_ids`, when the
    /// config lists one per layer.
    pub diff_id: Option<String>,
}

/// A docker-archive's images, made into OCI documents.
#[derive(Debug, Default)]
struct DockerView {
    /// The synthesized manifests, in `manifest.json`'s order.
    images: Vec<DockerImage>,
    /// Config and layer blobs: digest to member name.
    blobs: HashMap<String, String>,
}

/// One image of a docker-archive as an OCI manifest.
#[derive(Debug)]
struct DockerImage {
    desc: Descriptor,
    manifest: ImageManifest,
    /// The manifest's JSON, whose digest `desc` has.
    bytes: Vec<u8>,
    /// `RepoTags`, to name the image in errors.
    tags: Vec<String>,
}

/// One entry of Docker's `manifest.json`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

impl ImageArchive {
    /// Opens `path` and reads its member table.
    pub fn open(path: &Path) -> Result<ImageArchive, Error> {
        let bad = |reason: String| Error::BadArchive {
            path: path.to_path_buf(),
            reason,
        };
        let file = File::open(path).map_err(Error::io(path))?;
        let len = file.metadata().map_err(Error::io(path))?.len();
        let mut tar = tar::Archive::new(BufReader::new(file));
        let mut members = BTreeMap::new();
        let mut links = Vec::new();
        let entries = tar
            .entries_with_seek()
            .map_err(|e| bad(format!("not a tar archive: {e}")))?;
        for entry in entries {
            let entry = entry.map_err(|e| bad(format!("not a readable tar archive: {e}")))?;
            let raw = entry.path_bytes();
            let Some(name) = member_name(&raw)
                .map_err(|why| bad(format!("member {:?}: {why}", String::from_utf8_lossy(&raw))))?
            else {
                continue;
            };
            let kind = entry.header().entry_type();
            let span = Span {
                offset: entry.raw_file_position(),
                size: entry.size(),
            };
            if kind.is_file() || kind.is_contiguous() {
                if span
                    .offset
                    .checked_add(span.size)
                    .is_none_or(|end| end > len)
                {
                    return Err(bad(format!(
                        "truncated: member {name} runs past the end of the file"
                    )));
                }
                if members.insert(name.clone(), span).is_some() {
                    return Err(bad(format!("member {name} appears twice")));
                }
            } else if kind.is_symlink() || kind.is_hard_link() {
                let target = entry.link_name_bytes().unwrap_or_default();
                let target = link_target(&name, &target, kind.is_symlink())
                    .map_err(|why| bad(format!("link {name}: {why}")))?;
                links.push((name, target));
            } else if kind.is_gnu_sparse() {
                return Err(bad(format!("member {name} is a sparse file")));
            }
            // Directories and special files name nothing an image reader uses.
        }
        resolve_links(&mut members, &links).map_err(bad)?;
        if !members.contains_key("index.json") && !members.contains_key("manifest.json") {
            return Err(bad(
                "neither index.json nor manifest.json: not an image archive".to_owned(),
            ));
        }
        Ok(ImageArchive {
            path: path.to_path_buf(),
            members,
            docker: OnceLock::new(),
        })
    }

    /// The archive's path, as given to [`ImageArchive::open`].
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The bytes of a small member (a JSON document), by name (`index.json`,
    /// `blobs/sha256/…`). Members over 16 MiB are refused.
    pub fn read_member(&self, name: &str) -> Result<Vec<u8>, Error> {
        let span = self.span(name).ok_or_else(|| Error::MissingMember {
            path: self.path.clone(),
            name: name.to_owned(),
        })?;
        if span.size > MAX_DOCUMENT {
            return Err(Error::BadArchive {
                path: self.path.clone(),
                reason: format!(
                    "member {name} is {} bytes, too large for a document",
                    span.size
                ),
            });
        }
        let mut data = Vec::new();
        self.reader(span)?
            .read_to_end(&mut data)
            .map_err(Error::io(&self.path))?;
        if data.len() as u64 != span.size {
            return Err(self.truncated(name));
        }
        Ok(data)
    }

    /// A blob's contents, streamed from the file. `digest` is `sha256:…` (or `sha512:…`);
    /// for a docker-archive, the digests of its config and layers are computed first.
    pub fn blob_reader(&self, digest: &str) -> Result<impl Read + '_, Error> {
        let span = self.blob_span(digest)?;
        self.reader(span)
    }

    /// A blob's size, or `None` when the archive has no such blob (or, for a
    /// docker-archive, when its `manifest.json` cannot be read: [`ImageArchive::image`] says
    /// why).
    pub fn blob_size(&self, digest: &str) -> Option<u64> {
        self.blob_span(digest).ok().map(|s| s.size)
    }

    /// A small blob's bytes (a manifest, a config), checked against its digest; for a
    /// docker-archive also the manifests made from its `manifest.json`.
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>, Error> {
        let name = blob_name(digest).ok_or_else(|| self.bad_digest(digest))?;
        let data = if self.members.contains_key(&name) {
            self.read_member(&name)?
        } else if let Some(bytes) = self.docker_manifest_bytes(digest)? {
            return Ok(bytes);
        } else {
            let member = self.docker_blob_member(digest)?;
            self.read_member(&member)?
        };
        let actual = digest_of(digest, &data);
        if actual != digest {
            return Err(Error::BlobDigest {
                path: self.path.clone(),
                digest: digest.to_owned(),
                actual,
            });
        }
        Ok(data)
    }

    /// Every manifest reachable from `index.json`, each once, nested indexes followed:
    /// depth first in `index.json`'s order, an index after the manifests it lists (the order
    /// a registry needs them pushed in). For a docker-archive without `index.json`, the
    /// image manifests made from its `manifest.json`.
    pub fn manifests(&self) -> Result<Vec<(Descriptor, ManifestKind)>, Error> {
        let Some(index) = self.index()? else {
            let view = self.docker_view()?;
            return Ok(view
                .images
                .iter()
                .map(|i| {
                    (
                        i.desc.clone(),
                        ManifestKind::Image(Box::new(i.manifest.clone())),
                    )
                })
                .collect());
        };
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for desc in index.manifests() {
            self.walk(desc, 0, &mut seen, &mut out)?;
        }
        out.extend(self.detached_referrers(&seen)?);
        Ok(out)
    }

    /// Referrers kept as blobs only, which `index.json` does not list (so that clients that
    /// take one image per layout still read it; depclose's own SBOM artifacts are stored
    /// so): image manifests whose `subject` is one of `listed`, by digest. Only blobs of a
    /// manifest's size are looked at.
    fn detached_referrers(
        &self,
        listed: &HashSet<String>,
    ) -> Result<Vec<(Descriptor, ManifestKind)>, Error> {
        /// The distribution spec's limit on a manifest's size.
        const MANIFEST_MAX: u64 = 4 << 20;
        let mut out = Vec::new();
        for (name, span) in &self.members {
            let Some(hex) = name.strip_prefix("blobs/sha256/") else {
                continue;
            };
            let digest = format!("sha256:{hex}");
            if span.size > MANIFEST_MAX || listed.contains(&digest) {
                continue;
            }
            let bytes = self.read_blob(&digest)?;
            #[derive(Deserialize)]
            struct Shape {
                #[serde(rename = "mediaType")]
                media_type: Option<String>,
                subject: Option<serde_json::Value>,
            }
            let Ok(shape) = serde_json::from_slice::<Shape>(&bytes) else {
                continue;
            };
            let refers = shape.subject.as_ref().and_then(|s| s["digest"].as_str());
            if shape.media_type.as_deref() != Some(MANIFEST)
                || !refers.is_some_and(|d| listed.contains(d))
            {
                continue;
            }
            let desc = Descriptor::new(MediaType::ImageManifest, span.size, parse_digest(&digest)?);
            let kind = self.kind(&desc)?;
            out.push((desc, kind));
        }
        Ok(out)
    }

    /// The manifest `index.json` names that is not a referrer (its `subject` unset), or
    /// the one image of a docker-archive: what a push tags.
    pub fn root(&self) -> Result<Descriptor, Error> {
        let Some(index) = self.index()? else {
            let images = &self.docker_view()?.images;
            return match images.as_slice() {
                [one] => Ok(one.desc.clone()),
                many => Err(Error::ManyImages {
                    path: self.path.clone(),
                    images: many
                        .iter()
                        .map(|i| match i.tags.as_slice() {
                            [] => i.desc.digest().to_string(),
                            tags => tags.join(" "),
                        })
                        .collect(),
                }),
            };
        };
        let mut candidates = Vec::new();
        for desc in index.manifests() {
            if self.kind(desc)?.subject().is_none() {
                candidates.push(desc.clone());
            }
        }
        self.only(candidates)
    }

    /// The one descriptor of `candidates`, or an error naming them all.
    fn only(&self, candidates: Vec<Descriptor>) -> Result<Descriptor, Error> {
        match <[Descriptor; 1]>::try_from(candidates) {
            Ok([one]) => Ok(one),
            Err(many) => Err(Error::ManyImages {
                path: self.path.clone(),
                images: many.iter().map(|d| self.describe(d)).collect(),
            }),
        }
    }

    /// The one image: the image manifest [`ImageArchive::root`] names, or, when that is an
    /// index, the one manifest in it for a real platform (manifests with a `subject` and
    /// `unknown/unknown` attestation manifests are skipped). Several platforms are an error
    /// naming them.
    pub fn image(&self) -> Result<ArchiveImage, Error> {
        let mut desc = self.root()?;
        for _ in 0..MAX_DEPTH {
            let manifest = match self.kind(&desc)? {
                ManifestKind::Image(manifest) => return self.image_of(&desc, *manifest),
                ManifestKind::Index(index) => index,
            };
            let mut images = Vec::new();
            for child in manifest.manifests() {
                let attestation = child.platform().as_ref().is_some_and(|p| {
                    p.os().to_string() == "unknown" && p.architecture().to_string() == "unknown"
                });
                if !attestation && self.kind(child)?.subject().is_none() {
                    images.push(child.clone());
                }
            }
            desc = self.only(images)?;
        }
        Err(self.too_deep())
    }

    fn image_of(&self, desc: &Descriptor, manifest: ImageManifest) -> Result<ArchiveImage, Error> {
        let digest = desc.digest().to_string();
        let config_digest = manifest.config().digest().to_string();
        let config_bytes = self.read_blob(&config_digest)?;
        let config = ImageConfiguration::from_reader(config_bytes.as_slice())
            .map_err(|e| self.bad_document(&config_digest, e))?;
        let diff_ids = config.rootfs().diff_ids();
        let per_layer = diff_ids.len() == manifest.layers().len();
        let layers = manifest
            .layers()
            .iter()
            .enumerate()
            .map(|(i, l)| Layer {
                digest: l.digest().to_string(),
                media_type: l.media_type().to_string(),
                size: l.size(),
                diff_id: per_layer.then(|| diff_ids[i].clone()),
            })
            .collect();
        Ok(ArchiveImage {
            manifest_digest: digest,
            manifest,
            config,
            layers,
        })
    }

    /// `index.json`, or `None` for a docker-archive without one.
    fn index(&self) -> Result<Option<ImageIndex>, Error> {
        if !self.members.contains_key("index.json") {
            return Ok(None);
        }
        let bytes = self.read_member("index.json")?;
        ImageIndex::from_reader(bytes.as_slice())
            .map(Some)
            .map_err(|e| self.bad_document("index.json", e))
    }

    fn walk(
        &self,
        desc: &Descriptor,
        depth: usize,
        seen: &mut HashSet<String>,
        out: &mut Vec<(Descriptor, ManifestKind)>,
    ) -> Result<(), Error> {
        if depth >= MAX_DEPTH {
            return Err(self.too_deep());
        }
        if !seen.insert(desc.digest().to_string()) {
            return Ok(());
        }
        let kind = self.kind(desc)?;
        if let ManifestKind::Index(index) = &kind {
            for child in index.manifests() {
                self.walk(child, depth + 1, seen, out)?;
            }
        }
        out.push((desc.clone(), kind));
        Ok(())
    }

    /// Reads and parses the manifest `desc` names, as an index or an image manifest by its
    /// media type (the descriptor's, else the document's own, else its shape).
    fn kind(&self, desc: &Descriptor) -> Result<ManifestKind, Error> {
        let digest = desc.digest().to_string();
        let bytes = self.read_blob(&digest)?;
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| self.bad_document(&digest, e))?;
        let media_type = match desc.media_type() {
            MediaType::Other(t) if t.is_empty() => None,
            t => Some(t.to_string()),
        }
        .or_else(|| value["mediaType"].as_str().map(str::to_owned));
        let is_index = match media_type.as_deref() {
            Some(INDEX | DOCKER_LIST) => true,
            Some(MANIFEST | DOCKER_MANIFEST) => false,
            Some(other) => {
                return Err(Error::Unsupported {
                    path: self.path.clone(),
                    what: format!("manifest {digest} of media type {other}"),
                });
            }
            None => value.get("manifests").is_some(),
        };
        if value["schemaVersion"] != SCHEMA_VERSION {
            return Err(Error::Unsupported {
                path: self.path.clone(),
                what: format!(
                    "manifest {digest} of schemaVersion {}",
                    value["schemaVersion"]
                ),
            });
        }
        Ok(if is_index {
            ManifestKind::Index(Box::new(
                ImageIndex::from_reader(bytes.as_slice())
                    .map_err(|e| self.bad_document(&digest, e))?,
            ))
        } else {
            ManifestKind::Image(Box::new(
                ImageManifest::from_reader(bytes.as_slice())
                    .map_err(|e| self.bad_document(&digest, e))?,
            ))
        })
    }

    /// A manifest as an error names it: its platform, or its `ref.name`, or its digest.
    fn describe(&self, desc: &Descriptor) -> String {
        if let Some(p) = desc.platform() {
            let mut s = format!("{}/{}", p.os(), p.architecture());
            if let Some(v) = p.variant() {
                s.push('/');
                s.push_str(v);
            }
            return s;
        }
        desc.annotations()
            .as_ref()
            .and_then(|a| a.get(oci_spec::image::ANNOTATION_REF_NAME))
            .cloned()
            .unwrap_or_else(|| desc.digest().to_string())
    }

    fn span(&self, name: &str) -> Option<Span> {
        self.members.get(name).copied()
    }

    fn reader(&self, span: Span) -> Result<io::Take<File>, Error> {
        let mut file = File::open(&self.path).map_err(Error::io(&self.path))?;
        file.seek(SeekFrom::Start(span.offset))
            .map_err(Error::io(&self.path))?;
        Ok(file.take(span.size))
    }

    fn blob_span(&self, digest: &str) -> Result<Span, Error> {
        let name = blob_name(digest).ok_or_else(|| self.bad_digest(digest))?;
        if let Some(span) = self.span(&name) {
            return Ok(span);
        }
        let member = self.docker_blob_member(digest)?;
        self.span(&member).ok_or_else(|| self.missing_blob(digest))
    }

    /// The member holding a docker-archive's config or layer of this digest.
    fn docker_blob_member(&self, digest: &str) -> Result<String, Error> {
        if self.members.contains_key("index.json") {
            return Err(self.missing_blob(digest));
        }
        self.docker_view()?
            .blobs
            .get(digest)
            .cloned()
            .ok_or_else(|| self.missing_blob(digest))
    }

    fn docker_manifest_bytes(&self, digest: &str) -> Result<Option<Vec<u8>>, Error> {
        if self.members.contains_key("index.json") {
            return Ok(None);
        }
        Ok(self
            .docker_view()?
            .images
            .iter()
            .find(|i| i.desc.digest().to_string() == digest)
            .map(|i| i.bytes.clone()))
    }

    fn docker_view(&self) -> Result<&DockerView, Error> {
        if let Some(view) = self.docker.get() {
            return Ok(view);
        }
        let view = self.make_docker_view()?;
        Ok(self.docker.get_or_init(|| view))
    }

    /// Makes OCI documents of `manifest.json`: the config's digest is its bytes', each
    /// layer's is computed by reading it, and its media type follows its first bytes.
    fn make_docker_view(&self) -> Result<DockerView, Error> {
        let bytes = self.read_member("manifest.json")?;
        let entries: Vec<DockerEntry> =
            serde_json::from_slice(&bytes).map_err(|e| self.bad_document("manifest.json", e))?;
        let mut view = DockerView::default();
        for entry in entries {
            let config_name = self.docker_name(&entry.config)?;
            let config_bytes = self.read_member(&config_name)?;
            let config = ImageConfiguration::from_reader(config_bytes.as_slice())
                .map_err(|e| self.bad_document(&config_name, e))?;
            let config_digest = sha256_string(Sha256::new_with_prefix(&config_bytes));
            view.blobs.insert(config_digest.clone(), config_name);
            let mut layers = Vec::new();
            for layer in &entry.layers {
                let name = self.docker_name(layer)?;
                let (digest, size, media_type) = self.hash_layer(&name)?;
                view.blobs.insert(digest.clone(), name);
                layers.push(Descriptor::new(media_type, size, parse_digest(&digest)?));
            }
            let manifest = ImageManifestBuilder::default()
                .schema_version(SCHEMA_VERSION)
                .media_type(MediaType::ImageManifest)
                .config(Descriptor::new(
                    MediaType::ImageConfig,
                    config_bytes.len() as u64,
                    parse_digest(&config_digest)?,
                ))
                .layers(layers)
                .build()
                .map_err(|e| self.bad_document("manifest.json", e))?;
            let manifest_bytes =
                serde_json::to_vec(&manifest).map_err(|e| self.bad_document("manifest.json", e))?;
            let digest = sha256_string(Sha256::new_with_prefix(&manifest_bytes));
            let mut desc = Descriptor::new(
                MediaType::ImageManifest,
                manifest_bytes.len() as u64,
                parse_digest(&digest)?,
            );
            let mut platform = PlatformBuilder::default()
                .architecture(config.architecture().clone())
                .os(config.os().clone());
            if let Some(v) = config.variant() {
                platform = platform.variant(v.clone());
            }
            desc.set_platform(platform.build().ok());
            view.images.push(DockerImage {
                desc,
                manifest,
                bytes: manifest_bytes,
                tags: entry.repo_tags.unwrap_or_default(),
            });
        }
        Ok(view)
    }

    /// A name `manifest.json` gives, as a member of this archive.
    fn docker_name(&self, raw: &str) -> Result<String, Error> {
        let name = member_name(raw.as_bytes())
            .ok()
            .flatten()
            .ok_or_else(|| Error::BadArchive {
                path: self.path.clone(),
                reason: format!("manifest.json names member {raw:?}"),
            })?;
        if self.members.contains_key(&name) {
            Ok(name)
        } else {
            Err(Error::MissingMember {
                path: self.path.clone(),
                name,
            })
        }
    }

    /// Digest, size and media type of a docker-archive's layer member.
    fn hash_layer(&self, name: &str) -> Result<(String, u64, MediaType), Error> {
        let span = self.span(name).ok_or_else(|| Error::MissingMember {
            path: self.path.clone(),
            name: name.to_owned(),
        })?;
        let mut reader = self.reader(span)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0; 128 * 1024];
        let mut magic = Vec::new();
        let mut total = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(&self.path)(e)),
            };
            if magic.len() < 4 {
                magic.extend(buf[..n].iter().take(4 - magic.len()));
            }
            hasher.update(&buf[..n]);
            total += n as u64;
        }
        if total != span.size {
            return Err(self.truncated(name));
        }
        let media_type = match magic.as_slice() {
            [0x1f, 0x8b, ..] => MediaType::ImageLayerGzip,
            [0x28, 0xb5, 0x2f, 0xfd] => MediaType::ImageLayerZstd,
            _ => MediaType::ImageLayer,
        };
        Ok((sha256_string(hasher), total, media_type))
    }

    fn missing_blob(&self, digest: &str) -> Error {
        Error::MissingBlob {
            path: self.path.clone(),
            digest: digest.to_owned(),
        }
    }

    fn bad_digest(&self, digest: &str) -> Error {
        Error::BadDocument {
            path: self.path.clone(),
            name: digest.to_owned(),
            reason: "not a sha256 or sha512 digest".to_owned(),
        }
    }

    fn bad_document(&self, name: &str, e: impl std::fmt::Display) -> Error {
        Error::BadDocument {
            path: self.path.clone(),
            name: name.to_owned(),
            reason: e.to_string(),
        }
    }

    fn truncated(&self, name: &str) -> Error {
        Error::BadArchive {
            path: self.path.clone(),
            reason: format!("truncated: member {name} is shorter than its header says"),
        }
    }

    fn too_deep(&self) -> Error {
        Error::BadArchive {
            path: self.path.clone(),
            reason: format!("indexes nest more than {MAX_DEPTH} deep"),
        }
    }
}

impl ArchiveImage {
    /// The uncompressed contents of one of this image's layers, streamed from the archive:
    /// gzip is decompressed; zstd and unknown media types are refused.
    pub fn layer_reader<'a>(
        &self,
        archive: &'a ImageArchive,
        layer: &Layer,
    ) -> Result<Box<dyn Read + 'a>, Error> {
        let raw = archive.blob_reader(&layer.digest)?;
        let t = layer.media_type.as_str();
        if t.ends_with("+gzip") || t.ends_with(".tar.gzip") {
            Ok(Box::new(flate2::read::GzDecoder::new(BufReader::new(raw))))
        } else if t.ends_with(".tar") || t.ends_with(".v1.tar") {
            Ok(Box::new(raw))
        } else {
            Err(Error::Unsupported {
                path: archive.path.clone(),
                what: format!("layer {} of media type {t}", layer.digest),
            })
        }
    }
}

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// A member name, normalised (no `./`, no empty components), or `None` for the archive's
/// root itself; hostile names are refused.
fn member_name(raw: &[u8]) -> Result<Option<String>, &'static str> {
    let s = std::str::from_utf8(raw).map_err(|_| "the name is not UTF-8")?;
    if s.starts_with('/') {
        return Err("the name is absolute");
    }
    if s.contains('\0') {
        return Err("the name contains a NUL byte");
    }
    let mut parts = Vec::new();
    for c in s.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err("the name contains '..'"),
            c => parts.push(c),
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

/// The member a link points at: a symlink's target is relative to its directory (and may
/// use `..` inside the archive), a hard link's to the archive's root.
fn link_target(name: &str, target: &[u8], symbolic: bool) -> Result<String, &'static str> {
    let target = std::str::from_utf8(target).map_err(|_| "the target is not UTF-8")?;
    if target.starts_with('/') {
        return Err("the target is absolute");
    }
    if !symbolic {
        return member_name(target.as_bytes())?.ok_or("the target is empty");
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    parts.pop();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop().ok_or("the target leaves the archive")?;
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Err("the target is the archive's root");
    }
    Ok(parts.join("/"))
}

/// Gives each link the span of the regular member it leads to; dangling links stay out.
fn resolve_links(
    members: &mut BTreeMap<String, Span>,
    links: &[(String, String)],
) -> Result<(), String> {
    let targets: HashMap<&str, &str> = links
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    for (name, target) in links {
        let mut at = target.as_str();
        for _ in 0..MAX_DEPTH {
            match targets.get(at) {
                Some(next) => at = next,
                None => break,
            }
        }
        if targets.contains_key(at) {
            return Err(format!("link {name}: too many levels of links"));
        }
        if let Some(span) = members.get(at).copied() {
            if members.insert(name.clone(), span).is_some() {
                return Err(format!("member {name} appears twice"));
            }
        }
    }
    Ok(())
}

/// `blobs/ALG/HEX` for a well-formed `sha256:` or `sha512:` digest.
fn blob_name(digest: &str) -> Option<String> {
    let (alg, hex) = digest.split_once(':')?;
    let len = match alg {
        "sha256" => 64,
        "sha512" => 128,
        _ => return None,
    };
    (hex.len() == len && hex.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| format!("blobs/{alg}/{hex}"))
}

/// The digest of `data` with the algorithm `like` names (checked by [`blob_name`]).
fn digest_of(like: &str, data: &[u8]) -> String {
    if like.starts_with("sha512:") {
        let mut out = String::from("sha512:");
        for b in Sha512::digest(data) {
            out.push_str(&format!("{b:02x}"));
        }
        out
    } else {
        sha256_string(Sha256::new_with_prefix(data))
    }
}

fn parse_digest(digest: &str) -> Result<oci_spec::image::Digest, Error> {
    digest
        .parse()
        .map_err(|e| Error::InvalidConfig(format!("digest {digest}: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::testutil;
    use crate::{ImageConfig, WriteOptions};

    fn written() -> (testutil::Sample, PathBuf, crate::ImageSummary) {
        let s = testutil::sample();
        let dest = s.dir.path().join("image.tar");
        let config = ImageConfig::new("amd64", vec!["/usr/bin/tool".into()], "tool:1.0");
        let summary = s
            .tree
            .write_image(&config, &dest, &WriteOptions::default())
            .unwrap();
        (s, dest, summary)
    }

    /// A tar of `(name, data)` members, written by tar-rs (GNU headers, long names).
    fn tar_of(path: &Path, members: &[(&str, &[u8])]) {
        let mut b = tar::Builder::new(File::create(path).unwrap());
        for (name, data) in members {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            // set_path refuses hostile names; the raw field does not.
            let field = &mut h.as_old_mut().name;
            field[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.finish().unwrap();
    }

    #[test]
    fn round_trip_with_the_writer() {
        let (s, dest, summary) = written();
        let archive = ImageArchive::open(&dest).unwrap();
        let image = archive.image().unwrap();
        assert_eq!(image.manifest_digest, summary.manifest_digest);
        assert_eq!(image.config.architecture().to_string(), "amd64");
        assert_eq!(image.layers.len(), 1);
        let layer = &image.layers[0];
        assert_eq!(layer.digest, summary.layer.digest);
        assert_eq!(layer.size, summary.layer.size);
        assert_eq!(
            layer.diff_id.as_deref(),
            Some(summary.layer.digest.as_str())
        );
        assert_eq!(layer.media_type, "application/vnd.oci.image.layer.v1.tar");
        let mut data = Vec::new();
        image
            .layer_reader(&archive, layer)
            .unwrap()
            .read_to_end(&mut data)
            .unwrap();
        let mut direct = Vec::new();
        s.tree
            .write_layer(&mut direct, &WriteOptions::default())
            .unwrap();
        assert_eq!(data, direct);
        assert_eq!(archive.blob_size(&layer.digest), Some(summary.layer.size));

        let manifests = archive.manifests().unwrap();
        assert_eq!(manifests.len(), 1);
        assert_eq!(manifests[0].0.digest().to_string(), summary.manifest_digest);
        assert!(matches!(manifests[0].1, ManifestKind::Image(_)));
        assert_eq!(archive.root().unwrap(), manifests[0].0);
        let config = archive.read_blob(&summary.config_digest).unwrap();
        assert_eq!(crate::archive::sha256_of(&config), summary.config_digest);
        assert!(archive.read_member("manifest.json").is_ok());
    }

    /// A docker-archive as `docker save` wrote it before Docker 25: `<id>/layer.tar`
    /// members, a config `<hex>.json`, a symlinked second layer, and a gzip layer.
    #[test]
    fn docker_archive_only() {
        let dir = tempfile::tempdir().unwrap();
        let layer: &[u8] = &[7u8; 1536];
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"gzipped layer").unwrap();
        let gz = gz.finish().unwrap();
        let layer_digest = crate::archive::sha256_of(layer);
        let config = serde_json::json!({
            "architecture": "arm64", "variant": "v8", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [layer_digest.clone(), layer_digest.clone(), "sha256:".to_owned() + &"0".repeat(64)]},
        });
        let config = serde_json::to_vec(&config).unwrap();
        let config_digest = crate::archive::sha256_of(&config);
        let manifest = serde_json::json!([{
            "Config": format!("{}.json", &config_digest[7..]),
            "RepoTags": ["old:1"],
            "Layers": ["aaa/layer.tar", "./bbb/layer.tar", "ccc/layer.tar"],
        }]);
        let path = dir.path().join("old.tar");
        let mut b = tar::Builder::new(File::create(&path).unwrap());
        let mut add = |name: &str, data: &[u8]| {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, name, data).unwrap();
        };
        add("aaa/layer.tar", layer);
        add(&format!("{}.json", &config_digest[7..]), &config);
        add("ccc/layer.tar", &gz);
        add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "bbb/layer.tar", "../aaa/layer.tar")
            .unwrap();
        b.finish().unwrap();
        drop(b);

        let archive = ImageArchive::open(&path).unwrap();
        let image = archive.image().unwrap();
        assert_eq!(image.config.architecture().to_string(), "arm64");
        let digests: Vec<&str> = image.layers.iter().map(|l| l.digest.as_str()).collect();
        let gz_digest = crate::archive::sha256_of(&gz);
        assert_eq!(digests, [&layer_digest, &layer_digest, &gz_digest]);
        assert_eq!(
            image.layers[2].media_type,
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        assert_eq!(
            image.layers[0].diff_id.as_deref(),
            Some(layer_digest.as_str())
        );
        assert_eq!(image.manifest.config().digest().to_string(), config_digest);
        let mut data = Vec::new();
        image
            .layer_reader(&archive, &image.layers[2])
            .unwrap()
            .read_to_end(&mut data)
            .unwrap();
        assert_eq!(data, b"gzipped layer");
        // The synthesized manifest reads back under its digest, as push needs it.
        let bytes = archive.read_blob(&image.manifest_digest).unwrap();
        assert_eq!(crate::archive::sha256_of(&bytes), image.manifest_digest);
        let manifests = archive.manifests().unwrap();
        assert_eq!(manifests.len(), 1);
        let platform = manifests[0].0.platform().clone().unwrap();
        assert_eq!(platform.variant().as_deref(), Some("v8"));
        assert_eq!(archive.blob_size(&config_digest), Some(config.len() as u64));
    }

    #[test]
    fn hostile_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["/etc/passwd", "blobs/../../x", "../index.json"] {
            let path = dir.path().join("h.tar");
            tar_of(&path, &[("index.json", b"{}"), (name, b"x")]);
            let err = ImageArchive::open(&path).unwrap_err();
            assert!(
                matches!(&err, Error::BadArchive { reason, .. } if reason.contains(name)),
                "{name}: {err}"
            );
        }
        // A symlink out of the archive.
        let path = dir.path().join("l.tar");
        let mut b = tar::Builder::new(File::create(&path).unwrap());
        let mut h = tar::Header::new_ustar();
        h.set_size(2);
        b.append_data(&mut h, "index.json", &b"{}"[..]).unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "blobs/x", "../../etc/passwd")
            .unwrap();
        b.finish().unwrap();
        drop(b);
        let err = ImageArchive::open(&path).unwrap_err();
        assert!(
            matches!(&err, Error::BadArchive { reason, .. } if reason.contains("leaves")),
            "{err}"
        );
    }

    #[test]
    fn truncated_and_foreign_files() {
        let (s, dest, _) = written();
        let bytes = std::fs::read(&dest).unwrap();
        let cut = s.dir.path().join("cut.tar");
        // Into the layer's data: its member runs past the end.
        std::fs::write(&cut, &bytes[..bytes.len() - 4096]).unwrap();
        let err = ImageArchive::open(&cut).unwrap_err();
        assert!(
            matches!(&err, Error::BadArchive { reason, .. } if reason.contains("truncated")),
            "{err}"
        );
        // Into index.json's header (oci-layout's header and data take the first 1024 bytes).
        std::fs::write(&cut, &bytes[..1024 + 100]).unwrap();
        let err = ImageArchive::open(&cut).unwrap_err();
        assert!(
            matches!(&err, Error::BadArchive { reason, .. } if reason.contains("readable")),
            "{err}"
        );
        // At a member boundary, with oci-layout only.
        std::fs::write(&cut, &bytes[..1024]).unwrap();
        let err = ImageArchive::open(&cut).unwrap_err();
        assert!(
            matches!(&err, Error::BadArchive { reason, .. } if reason.contains("not an image archive")),
            "{err}"
        );
        std::fs::write(
            &cut,
            b"not a tar at all, but long enough to hold a header block".repeat(20),
        )
        .unwrap();
        assert!(matches!(
            ImageArchive::open(&cut),
            Err(Error::BadArchive { .. })
        ));
        std::fs::write(&cut, b"").unwrap();
        assert!(matches!(
            ImageArchive::open(&cut),
            Err(Error::BadArchive { .. })
        ));
        assert!(matches!(
            ImageArchive::open(&s.dir.path().join("absent.tar")),
            Err(Error::Io { .. })
        ));
    }

    #[test]
    fn missing_blobs_and_bad_documents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.tar");
        let digest = format!("sha256:{}", "ab".repeat(32));
        let index = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{"mediaType": MANIFEST, "digest": digest, "size": 10}],
        });
        tar_of(
            &path,
            &[("index.json", &serde_json::to_vec(&index).unwrap())],
        );
        let archive = ImageArchive::open(&path).unwrap();
        assert!(
            matches!(archive.image(), Err(Error::MissingBlob { digest: d, .. }) if d == digest)
        );
        assert!(matches!(
            archive.blob_reader(&digest),
            Err(Error::MissingBlob { .. })
        ));
        assert_eq!(archive.blob_size(&digest), None);
        assert!(matches!(
            archive.blob_reader("sha256:../../x"),
            Err(Error::BadDocument { .. })
        ));
        assert!(matches!(
            archive.read_member("nope"),
            Err(Error::MissingMember { .. })
        ));

        // A blob whose bytes are not its digest's.
        let blob = format!("blobs/sha256/{}", "ab".repeat(32));
        tar_of(
            &path,
            &[
                ("index.json", &serde_json::to_vec(&index).unwrap()),
                (&blob, b"{}"),
            ],
        );
        let archive = ImageArchive::open(&path).unwrap();
        assert!(matches!(archive.image(), Err(Error::BlobDigest { .. })));

        tar_of(&path, &[("index.json", b"[1, 2")]);
        let archive = ImageArchive::open(&path).unwrap();
        assert!(matches!(archive.image(), Err(Error::BadDocument { .. })));
        assert!(matches!(
            archive.manifests(),
            Err(Error::BadDocument { .. })
        ));
        tar_of(&path, &[("manifest.json", b"{\"x\": 1}")]);
        let archive = ImageArchive::open(&path).unwrap();
        assert!(matches!(archive.image(), Err(Error::BadDocument { .. })));
        tar_of(
            &path,
            &[("manifest.json", br#"[{"Config": "c.json", "Layers": []}]"#)],
        );
        let archive = ImageArchive::open(&path).unwrap();
        assert!(
            matches!(archive.image(), Err(Error::MissingMember { name, .. }) if name == "c.json")
        );
    }

    /// An index of two platforms plus an attestation and a referrer: `image` names the
    /// platforms; with one real platform it is chosen.
    #[test]
    fn multi_platform_index() {
        let dir = tempfile::tempdir().unwrap();
        let mut members: Vec<(String, Vec<u8>)> = Vec::new();
        let mut blob = |data: Vec<u8>| {
            let digest = crate::archive::sha256_of(&data);
            members.push((format!("blobs/sha256/{}", &digest[7..]), data.clone()));
            (digest, data.len())
        };
        let (cfg, cfg_len) = blob(
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
                .to_vec(),
        );
        let image = serde_json::json!({
            "schemaVersion": 2, "mediaType": MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg, "size": cfg_len},
            "layers": [],
        });
        let (img, img_len) = blob(serde_json::to_vec(&image).unwrap());
        let mut other = image.clone();
        other["annotations"] = serde_json::json!({"x": "arm"});
        let (arm, arm_len) = blob(serde_json::to_vec(&other).unwrap());
        let mut referrer = image.clone();
        referrer["subject"] =
            serde_json::json!({"mediaType": MANIFEST, "digest": img, "size": img_len});
        let (sbom, sbom_len) = blob(serde_json::to_vec(&referrer).unwrap());
        let platform = |os: &str, arch: &str| serde_json::json!({"os": os, "architecture": arch});
        let entry = |d: &str, len: usize, p| serde_json::json!({"mediaType": MANIFEST, "digest": d, "size": len, "platform": p});
        let make = |manifests: Vec<serde_json::Value>| {
            serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": manifests})).unwrap()
        };
        let (two, two_len) = blob(make(vec![
            entry(&img, img_len, platform("linux", "amd64")),
            entry(&arm, arm_len, platform("linux", "arm64")),
            entry(&sbom, sbom_len, platform("unknown", "unknown")),
        ]));
        let (one, one_len) = blob(make(vec![
            entry(&img, img_len, platform("linux", "amd64")),
            entry(&sbom, sbom_len, platform("unknown", "unknown")),
        ]));
        let write = |top: &str, len: usize, members: &[(String, Vec<u8>)]| {
            let path = dir.path().join("multi.tar");
            let index = make(vec![
                serde_json::json!({"mediaType": INDEX, "digest": top, "size": len}),
                serde_json::json!({"mediaType": MANIFEST, "digest": sbom, "size": sbom_len}),
            ]);
            let mut all: Vec<(&str, &[u8])> = vec![("index.json", &index)];
            all.extend(members.iter().map(|(n, d)| (n.as_str(), d.as_slice())));
            tar_of(&path, &all);
            ImageArchive::open(&path).unwrap()
        };
        let archive = write(&two, two_len, &members);
        let err = archive.image().unwrap_err();
        assert!(
            matches!(&err, Error::ManyImages { images, .. } if images == &["linux/amd64", "linux/arm64"]),
            "{err}"
        );
        // Children first, each once, the index after them; the referrer once.
        let order: Vec<String> = archive
            .manifests()
            .unwrap()
            .iter()
            .map(|(d, _)| d.digest().to_string())
            .collect();
        assert_eq!(order, [img.clone(), arm, sbom.clone(), two.clone()]);
        assert_eq!(archive.root().unwrap().digest().to_string(), two);

        let archive = write(&one, one_len, &members);
        assert_eq!(archive.image().unwrap().manifest_digest, img);
        let referrers: Vec<_> = archive
            .manifests()
            .unwrap()
            .into_iter()
            .filter(|(_, k)| k.subject().is_some())
            .collect();
        assert_eq!(referrers.len(), 1);
    }

    #[test]
    fn referrers_kept_as_blobs_are_found_by_their_subject() {
        let s = testutil::sample();
        let dest = s.dir.path().join("image.tar");
        let referrers =
            |_: &crate::ImageSummary| -> Result<Vec<crate::Artifact>, crate::ArtifactError> {
                Ok(vec![crate::Artifact {
                    media_type: "application/spdx+json".into(),
                    data: b"{}".to_vec(),
                }])
            };
        let options = WriteOptions {
            referrers: Some(&referrers),
            ..WriteOptions::default()
        };
        let config = ImageConfig::new("amd64", vec!["/usr/bin/tool".into()], "tool:1.0");
        let summary = s.tree.write_image(&config, &dest, &options).unwrap();
        let archive = ImageArchive::open(&dest).unwrap();
        let found: Vec<(String, Option<String>)> = archive
            .manifests()
            .unwrap()
            .iter()
            .map(|(d, k)| {
                (
                    d.digest().to_string(),
                    k.subject().map(|s| s.digest().to_string()),
                )
            })
            .collect();
        let image = summary.manifest_digest.clone();
        assert_eq!(
            found,
            [
                (image.clone(), None),
                (summary.referrers[0].clone(), Some(image.clone()))
            ]
        );
        assert_eq!(archive.image().unwrap().manifest_digest, image);
        assert_eq!(archive.root().unwrap().digest().to_string(), image);
    }

    #[test]
    fn zstd_layers_are_refused() {
        let (_s, dest, summary) = written();
        let archive = ImageArchive::open(&dest).unwrap();
        let image = archive.image().unwrap();
        let layer = Layer {
            media_type: "application/vnd.oci.image.layer.v1.tar+zstd".into(),
            ..image.layers[0].clone()
        };
        assert!(matches!(
            image.layer_reader(&archive, &layer),
            Err(Error::Unsupported { .. })
        ));
        assert_eq!(image.layers[0].digest, summary.layer.digest);
    }

    #[test]
    fn names_and_links() {
        assert_eq!(member_name(b"./a//b/").unwrap().as_deref(), Some("a/b"));
        assert_eq!(member_name(b"./").unwrap(), None);
        assert!(member_name(b"a/../b").is_err());
        assert_eq!(link_target("a/b/c", b"../d", true).unwrap(), "a/d");
        assert_eq!(link_target("a/b", b"x/y", false).unwrap(), "x/y");
        assert!(link_target("a", b"../x", true).is_err());
        assert!(link_target("a", b"/x", false).is_err());
        assert_eq!(
            blob_name(&format!("sha256:{}", "0".repeat(64))).unwrap(),
            format!("blobs/sha256/{}", "0".repeat(64))
        );
        assert!(blob_name("sha256:ABC").is_none());
        let mut members = BTreeMap::from([("f".to_owned(), Span { offset: 0, size: 1 })]);
        let loops = [
            ("a".to_owned(), "b".to_owned()),
            ("b".to_owned(), "a".to_owned()),
        ];
        assert!(resolve_links(&mut members, &loops).is_err());
    }
}
