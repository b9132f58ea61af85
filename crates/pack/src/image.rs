//! The image tar, in the shape `docker save` writes since Docker 25 (moby
//! `image/tarexport/save.go`).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use oci_spec::image::{
    ANNOTATION_REF_NAME, Arch, ConfigBuilder, Descriptor, DescriptorBuilder, Digest,
    HistoryBuilder, ImageConfigurationBuilder, ImageIndexBuilder, ImageManifestBuilder, MediaType,
    OciLayoutBuilder, Os, PlatformBuilder, RootFsBuilder, SCHEMA_VERSION,
};
use serde::Serialize;
use serde_json::Value;

use crate::archive::{self, Counter, Kind, Member};
use crate::reference::Reference;
use crate::referrer;
use crate::{AtomicFile, Error, ImageSummary, LayerSummary, Tree, WriteOptions, WriteSummary};

/// containerd's annotation for the full image name, which Docker 25+ also writes.
const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";

/// The image configuration: what the container runs and on which platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageConfig {
    /// GOARCH-style architecture: `amd64`, `arm64`, `386`, `ppc64le`, ...
    pub architecture: String,
    /// CPU variant (`v8` for arm64, `v7` for arm), if any.
    pub variant: Option<String>,
    /// GOOS-style operating system: `linux`.
    pub os: String,
    /// `Entrypoint`: the program and its leading arguments.
    pub entrypoint: Vec<String>,
    /// `Cmd`: default arguments after the entrypoint.
    pub cmd: Option<Vec<String>>,
    /// `Env`, each `KEY=VALUE`.
    pub env: Vec<String>,
    /// `WorkingDir`.
    pub working_dir: Option<String>,
    /// `User`: `user`, `uid`, `user:group`, ...
    pub user: Option<String>,
    /// `Labels`.
    pub labels: BTreeMap<String, String>,
    /// The history entry's `created_by`: what made the layer.
    pub created_by: String,
    /// `name[:tag]` (`latest` when no tag), e.g. `apache2:latest` or
    /// `registry.example/team/app:1.0`.
    pub tag: String,
}

impl ImageConfig {
    /// A Linux image running `entrypoint`, tagged `tag`; other fields empty.
    pub fn new(architecture: &str, entrypoint: Vec<String>, tag: &str) -> ImageConfig {
        ImageConfig {
            architecture: architecture.to_owned(),
            variant: None,
            os: "linux".to_owned(),
            entrypoint,
            cmd: None,
            env: Vec::new(),
            working_dir: None,
            user: None,
            labels: BTreeMap::new(),
            created_by: "depclose".to_owned(),
            tag: tag.to_owned(),
        }
    }

    /// Check the configuration (Env entries, architecture, the tag as a reference) before
    /// anything is written; the writers check it again.
    pub fn check(&self) -> Result<(), Error> {
        self.validate().map(drop)
    }

    fn validate(&self) -> Result<Reference, Error> {
        if let Some(bad) = self.env.iter().find(|e| !e.contains('=')) {
            return Err(Error::InvalidConfig(format!(
                "Env entry {bad:?} is not KEY=VALUE"
            )));
        }
        for (what, value) in [("architecture", &self.architecture), ("os", &self.os)] {
            if value.is_empty() {
                return Err(Error::InvalidConfig(format!("empty {what}")));
            }
        }
        Reference::parse(&self.tag)
    }
}

/// The JSON documents of an image whose layer has been written.
struct Metadata {
    config: Vec<u8>,
    config_digest: String,
    manifest: Vec<u8>,
    manifest_digest: String,
    index: Vec<u8>,
    layout: Vec<u8>,
    docker_manifest: Vec<u8>,
    repositories: Vec<u8>,
}

impl Tree {
    /// Writes the image tar to `dest` atomically ([`AtomicFile`]): into an unnamed file beside
    /// it, linked or renamed over `dest` at the end. On error, an interrupt or a SIGKILL
    /// nothing is left behind. The image file gets mode 0644.
    ///
    /// The tar is what `docker save` writes since Docker 25: an OCI image layout plus
    /// Docker's `manifest.json` and `repositories`, so `docker load`, `podman load`, skopeo
    /// (`docker-archive:` and `oci-archive:`) and umoci all read it. Members, in order:
    /// `oci-layout`, `index.json`, `manifest.json`, `repositories`, `blobs/`,
    /// `blobs/sha256/`, the config, the manifest, the layer, then the blobs of the artifacts
    /// referring to the image ([`WriteOptions::referrers`]; `index.json` does not list
    /// them). The documents come first, so a reader of the stream knows what it holds
    /// before the big layer arrives (syft's `oci-archive:` reader needs that).
    ///
    /// The layer is written once, hashed on the way, straight to its place in the file:
    /// its offset is fixed before its digest and size are known, by sizing the documents
    /// for the largest possible layer size (everything else of the layer they hold, its
    /// digest, has a fixed width), and the layer's header gets a PAX header whose
    /// `comment` fills whatever room the real documents leave. The documents are written
    /// last, at the start of the file.
    ///
    /// The layer blob is the uncompressed layer (`application/vnd.oci.image.layer.v1.tar`),
    /// so its digest is its diff_id. Members are 0644 (directories 0755), owner 0:0, mtime
    /// `epoch`; the config's `created` is `epoch` too. `index.json` gives the manifest's
    /// platform and names it as Docker does:
    /// `io.containerd.image.name` = `docker.io/library/name:tag`,
    /// `org.opencontainers.image.ref.name` = `tag`; `manifest.json`'s `RepoTags` has the
    /// familiar `name:tag`. JSON is compact with object keys sorted (oci-spec keeps labels
    /// and annotations in `HashMap`s, whose order would otherwise change the digests).
    pub fn write_image(
        &self,
        config: &ImageConfig,
        dest: &Path,
        options: &WriteOptions<'_>,
    ) -> Result<ImageSummary, Error> {
        let start = Start::new(config, options)?;
        let mut out = AtomicFile::create(dest, "image")?;
        let summary = self
            .write_in_place(&start, out.file_mut(), options)
            .map_err(|e| e.on_sink(dest))?;
        out.commit(0o644)?;
        Ok(summary)
    }

    fn write_in_place(
        &self,
        start: &Start<'_>,
        file: &mut File,
        options: &WriteOptions<'_>,
    ) -> Result<ImageSummary, Error> {
        file.seek(SeekFrom::Start(start.layer_offset))
            .map_err(Error::write)?;
        let layer = self.write_layer(&mut *file, options)?;
        options.pass_gate()?;
        let frame = start.frame(layer, options)?;
        // The file is at the layer's end.
        file.write_all(&frame.tail).map_err(Error::write)?;
        file.write_all_at(&frame.head, 0).map_err(Error::write)?;
        Ok(frame.summary)
    }

    /// Writes the same tar as [`Tree::write_image`] to `out` (e.g. stdout). The layer is
    /// first written to an unnamed temporary file in `temp_dir`, because the documents
    /// before it need its digest.
    pub fn write_image_to<W: Write>(
        &self,
        config: &ImageConfig,
        out: W,
        temp_dir: &Path,
        options: &WriteOptions<'_>,
    ) -> Result<ImageSummary, Error> {
        let start = Start::new(config, options)?;
        let mut layer_file = tempfile::tempfile_in(temp_dir).map_err(Error::io(temp_dir))?;
        let layer = self
            .write_layer(&mut layer_file, options)
            .map_err(|e| e.on_sink(temp_dir))?;
        layer_file
            .seek(SeekFrom::Start(0))
            .map_err(Error::io(temp_dir))?;
        options.pass_gate()?;
        let size = layer.size;
        let frame = start.frame(layer, options)?;
        let mut out = BufWriter::with_capacity(128 * 1024, out);
        out.write_all(&frame.head).map_err(Error::write)?;
        archive::copy_exact(
            &mut layer_file,
            temp_dir,
            &mut out,
            size,
            // Progress was reported while the layer was written; cancellation still applies.
            &mut Counter::new(
                WriteOptions {
                    progress: None,
                    ..*options
                },
                0,
            ),
        )?;
        out.write_all(&frame.tail).map_err(Error::write)?;
        out.into_inner().map_err(|e| Error::write(e.into_error()))?;
        Ok(frame.summary)
    }
}

/// What an image's tar is laid out by before its layer is written.
struct Start<'a> {
    config: &'a ImageConfig,
    reference: Reference,
    created: String,
    /// Where the layer's data begins.
    layer_offset: u64,
}

/// The tar around a written layer.
struct Frame {
    /// Everything before the layer's data: the documents, the layer's headers.
    head: Vec<u8>,
    /// Everything after it: its padding, the referrers' blobs, the end of the archive.
    tail: Vec<u8>,
    summary: ImageSummary,
}

impl<'a> Start<'a> {
    fn new(config: &'a ImageConfig, options: &WriteOptions<'_>) -> Result<Start<'a>, Error> {
        let reference = config.validate()?;
        options.check_cancel()?;
        let created = rfc3339(options.epoch)?;
        let largest = LayerSummary {
            digest: format!("sha256:{}", "0".repeat(64)),
            size: u64::MAX,
            contents: WriteSummary::default(),
        };
        let bound = metadata(config, &reference, &largest, &created)?;
        // Room for the layer's PAX header (a block and one of records) and its header.
        let layer_offset = documents(&bound, options.epoch)?.len() as u64 + 3 * archive::BLOCK;
        Ok(Start {
            config,
            reference,
            created,
            layer_offset,
        })
    }

    fn frame(&self, layer: LayerSummary, options: &WriteOptions<'_>) -> Result<Frame, Error> {
        let meta = metadata(self.config, &self.reference, &layer, &self.created)?;
        let mut summary = ImageSummary {
            manifest_digest: meta.manifest_digest.clone(),
            config_digest: meta.config_digest.clone(),
            layer,
            referrers: Vec::new(),
        };
        let artifacts = match options.referrers {
            Some(r) => r
                .artifacts(&summary)
                .map_err(|source| Error::Referrer { source })?,
            None => Vec::new(),
        };
        let referrers = referrer::blobs(
            artifacts,
            (&meta.manifest_digest, &meta.manifest),
            &self.created,
        )?;
        summary.referrers = referrers.manifests;
        let layer = &summary.layer;
        let mtime = options.epoch;

        let mut head = documents(&meta, mtime)?;
        let name = blob(&layer.digest);
        let member = member(name.as_bytes(), Kind::File, 0o644, layer.size, mtime);
        // The documents are never longer than those sized for the largest layer.
        let room = self.layer_offset.saturating_sub(head.len() as u64);
        archive::write_header_exact(&mut head, &member, room).map_err(Error::write)?;

        let mut tail = Vec::new();
        archive::pad(&mut tail, layer.size).map_err(Error::write)?;
        for (digest, data) in &referrers.blobs {
            write_small(&mut tail, blob(digest).as_bytes(), data, mtime)?;
        }
        archive::finish(&mut tail).map_err(Error::write)?;
        Ok(Frame {
            head,
            tail,
            summary,
        })
    }
}

/// The members before the layer, as bytes.
fn documents(meta: &Metadata, mtime: u64) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    let small: [(&str, &[u8]); 4] = [
        ("oci-layout", &meta.layout),
        ("index.json", &meta.index),
        ("manifest.json", &meta.docker_manifest),
        ("repositories", &meta.repositories),
    ];
    for (name, data) in small {
        write_small(&mut out, name.as_bytes(), data, mtime)?;
    }
    for dir in ["blobs", "blobs/sha256"] {
        let member = member(dir.as_bytes(), Kind::Dir, 0o755, 0, mtime);
        archive::write_header(&mut out, &member).map_err(Error::write)?;
    }
    write_small(
        &mut out,
        blob(&meta.config_digest).as_bytes(),
        &meta.config,
        mtime,
    )?;
    write_small(
        &mut out,
        blob(&meta.manifest_digest).as_bytes(),
        &meta.manifest,
        mtime,
    )?;
    Ok(out)
}

fn blob(digest: &str) -> String {
    format!("blobs/sha256/{}", hex(digest))
}

fn member(name: &[u8], kind: Kind, mode: u32, size: u64, mtime: u64) -> Member<'_> {
    Member {
        name,
        kind,
        mode,
        size,
        mtime,
        link: None,
        capability: None,
    }
}

fn write_small(out: &mut impl Write, name: &[u8], data: &[u8], mtime: u64) -> Result<(), Error> {
    let m = member(name, Kind::File, 0o644, data.len() as u64, mtime);
    archive::write_header(out, &m)
        .and_then(|()| out.write_all(data))
        .and_then(|()| archive::pad(out, data.len() as u64))
        .map_err(Error::write)
}

fn hex(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

fn metadata(
    config: &ImageConfig,
    reference: &Reference,
    layer: &LayerSummary,
    created: &str,
) -> Result<Metadata, Error> {
    let architecture = arch(&config.architecture);
    let os = Os::from(config.os.as_str());
    let os = if os.to_string() == config.os {
        os
    } else {
        Os::Other(config.os.clone())
    };

    let mut run = ConfigBuilder::default();
    if !config.entrypoint.is_empty() {
        run = run.entrypoint(config.entrypoint.clone());
    }
    if let Some(cmd) = &config.cmd {
        run = run.cmd(cmd.clone());
    }
    if !config.env.is_empty() {
        run = run.env(config.env.clone());
    }
    if let Some(dir) = &config.working_dir {
        run = run.working_dir(dir.clone());
    }
    if let Some(user) = &config.user {
        run = run.user(user.clone());
    }
    if !config.labels.is_empty() {
        run = run.labels(config.labels.clone().into_iter().collect::<HashMap<_, _>>());
    }
    let mut image = ImageConfigurationBuilder::default()
        .created(created.to_owned())
        .architecture(architecture.clone())
        .os(os.clone())
        .config(run.build().map_err(spec)?)
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(vec![layer.digest.clone()])
                .build()
                .map_err(spec)?,
        )
        .history(vec![
            HistoryBuilder::default()
                .created(created.to_owned())
                .created_by(config.created_by.clone())
                .build()
                .map_err(spec)?,
        ]);
    if let Some(variant) = &config.variant {
        image = image.variant(variant.clone());
    }
    let config_json = canonical_json(&image.build().map_err(spec)?)?;
    let config_digest = archive::sha256_of(&config_json);

    let manifest = ImageManifestBuilder::default()
        .schema_version(SCHEMA_VERSION)
        .media_type(MediaType::ImageManifest)
        .config(descriptor(
            MediaType::ImageConfig,
            &config_digest,
            config_json.len() as u64,
        )?)
        .layers(vec![descriptor(
            MediaType::ImageLayer,
            &layer.digest,
            layer.size,
        )?])
        .build()
        .map_err(spec)?;
    let manifest_json = canonical_json(&manifest)?;
    let manifest_digest = archive::sha256_of(&manifest_json);

    let mut platform = PlatformBuilder::default().architecture(architecture).os(os);
    if let Some(variant) = &config.variant {
        platform = platform.variant(variant.clone());
    }
    let mut manifest_desc = descriptor(
        MediaType::ImageManifest,
        &manifest_digest,
        manifest_json.len() as u64,
    )?;
    manifest_desc.set_platform(Some(platform.build().map_err(spec)?));
    // As Docker 25+ writes them: the full name for containerd, the bare tag for OCI.
    manifest_desc.set_annotations(Some(HashMap::from([
        (ANNOTATION_IMAGE_NAME.to_owned(), reference.full()),
        (ANNOTATION_REF_NAME.to_owned(), reference.tag.clone()),
    ])));
    let index = ImageIndexBuilder::default()
        .schema_version(SCHEMA_VERSION)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![manifest_desc])
        .build()
        .map_err(spec)?;

    let layout = OciLayoutBuilder::default()
        .image_layout_version("1.0.0")
        .build()
        .map_err(spec)?;

    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct DockerManifest {
        config: String,
        repo_tags: Vec<String>,
        layers: Vec<String>,
    }
    let docker_manifest = [DockerManifest {
        config: format!("blobs/sha256/{}", hex(&config_digest)),
        repo_tags: vec![reference.familiar()],
        layers: vec![format!("blobs/sha256/{}", hex(&layer.digest))],
    }];
    // Legacy `{name: {tag: top layer id}}`; Docker 25 writes the layer's diff_id there.
    let repositories = BTreeMap::from([(
        reference.familiar_name(),
        BTreeMap::from([(reference.tag.clone(), hex(&layer.digest).to_owned())]),
    )]);

    Ok(Metadata {
        config: config_json,
        config_digest,
        manifest: manifest_json,
        manifest_digest,
        index: canonical_json(&index)?,
        layout: canonical_json(&layout)?,
        docker_manifest: canonical_json(&docker_manifest)?,
        repositories: canonical_json(&repositories)?,
    })
}

/// oci-spec's `Arch::from` maps a few strings to another variant (`armbe` becomes
/// `arm64be`); keep the caller's string whenever it would not survive the round trip.
fn arch(name: &str) -> Arch {
    let arch = Arch::from(name);
    if arch.to_string() == name {
        arch
    } else {
        Arch::Other(name.to_owned())
    }
}

pub(crate) fn descriptor(
    media_type: MediaType,
    digest: &str,
    size: u64,
) -> Result<Descriptor, Error> {
    let digest: Digest = digest.parse().map_err(spec)?;
    DescriptorBuilder::default()
        .media_type(media_type)
        .digest(digest)
        .size(size)
        .build()
        .map_err(spec)
}

pub(crate) fn spec(e: impl std::fmt::Display) -> Error {
    Error::InvalidConfig(e.to_string())
}

/// Compact JSON with every object's keys sorted, whatever map types the value uses.
pub(crate) fn canonical_json(value: &impl Serialize) -> Result<Vec<u8>, Error> {
    fn sorted(value: Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(String, Value)> =
                    map.into_iter().map(|(k, v)| (k, sorted(v))).collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                Value::Object(entries.into_iter().collect())
            }
            Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
            other => other,
        }
    }
    let value = serde_json::to_value(value).map_err(spec)?;
    serde_json::to_vec(&sorted(value)).map_err(spec)
}

/// RFC 3339 UTC time of a Unix epoch, e.g. `1970-01-01T00:00:00Z`: the image's `created`.
/// An epoch after the year 9999 is an error.
pub fn rfc3339(epoch: u64) -> Result<String, Error> {
    // 9999-12-31T23:59:59Z: RFC 3339 years have four digits.
    const MAX: u64 = 253_402_300_799;
    if epoch > MAX {
        return Err(Error::InvalidConfig(format!(
            "epoch {epoch} is after the year 9999"
        )));
    }
    let (days, secs) = (epoch / 86_400, epoch % 86_400);
    // Howard Hinnant's civil_from_days, for days since 1970-01-01 (non-negative here).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    Ok(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::testutil::{self, Member, read_tar};

    fn config() -> ImageConfig {
        let mut c = ImageConfig::new("amd64", vec!["/usr/bin/tool".into()], "tool:1.0");
        c.env = vec!["PATH=/usr/bin".into()];
        c.labels = BTreeMap::from([
            ("b".to_owned(), "2".to_owned()),
            ("a".to_owned(), "1".to_owned()),
        ]);
        c
    }

    fn names(members: &[Member]) -> Vec<String> {
        members
            .iter()
            .map(|m| String::from_utf8_lossy(&m.path).into_owned())
            .collect()
    }

    fn json(members: &[Member], name: &str) -> serde_json::Value {
        let m = members.iter().find(|m| m.path == name.as_bytes()).unwrap();
        serde_json::from_slice(&m.data).unwrap()
    }

    #[test]
    fn image_layout_and_documents() {
        let s = testutil::sample();
        let dest = s.dir.path().join("out/image.tar");
        fs::create_dir(dest.parent().unwrap()).unwrap();
        let options = WriteOptions::default();
        let summary = s.tree.write_image(&config(), &dest, &options).unwrap();
        // Nothing but the image beside it.
        let left: Vec<_> = fs::read_dir(dest.parent().unwrap()).unwrap().collect();
        assert_eq!(left.len(), 1);
        assert_eq!(
            fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
            0o644
        );

        let bytes = fs::read(&dest).unwrap();
        let members = read_tar(&bytes);
        let (c, m, l) = (
            hex(&summary.config_digest),
            hex(&summary.manifest_digest),
            hex(&summary.layer.digest),
        );
        assert_eq!(
            names(&members),
            [
                "oci-layout".to_owned(),
                "index.json".into(),
                "manifest.json".into(),
                "repositories".into(),
                "blobs".into(),
                "blobs/sha256".into(),
                format!("blobs/sha256/{c}"),
                format!("blobs/sha256/{m}"),
                format!("blobs/sha256/{l}"),
            ]
        );
        for member in &members {
            assert_eq!((member.uid, member.gid, member.mtime), (0, 0, 0));
            let want = if member.kind == tar::EntryType::Directory {
                0o755
            } else {
                0o644
            };
            assert_eq!(member.mode, want);
            if let Some(hex) = String::from_utf8_lossy(&member.path).strip_prefix("blobs/sha256/") {
                assert_eq!(archive::sha256_of(&member.data), format!("sha256:{hex}"));
            }
        }
        let layer = &members[8].data;
        assert_eq!(layer.len() as u64, summary.layer.size);
        let mut direct = Vec::new();
        s.tree.write_layer(&mut direct, &options).unwrap();
        assert_eq!(&direct, layer);

        assert_eq!(
            json(&members, "oci-layout"),
            serde_json::json!({"imageLayoutVersion": "1.0.0"})
        );
        assert_eq!(
            json(&members, "manifest.json"),
            serde_json::json!([{
                "Config": format!("blobs/sha256/{c}"),
                "RepoTags": ["tool:1.0"],
                "Layers": [format!("blobs/sha256/{l}")],
            }])
        );
        assert_eq!(
            json(&members, "repositories"),
            serde_json::json!({"tool": {"1.0": l}})
        );
        let index = json(&members, "index.json");
        assert_eq!(index["schemaVersion"], 2);
        assert_eq!(
            index["mediaType"],
            "application/vnd.oci.image.index.v1+json"
        );
        let desc = &index["manifests"][0];
        assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
        assert_eq!(desc["digest"], summary.manifest_digest);
        assert_eq!(
            desc["mediaType"],
            "application/vnd.oci.image.manifest.v1+json"
        );
        assert_eq!(
            desc["platform"],
            serde_json::json!({"architecture": "amd64", "os": "linux"})
        );
        assert_eq!(
            desc["annotations"],
            serde_json::json!({
                "io.containerd.image.name": "docker.io/library/tool:1.0",
                "org.opencontainers.image.ref.name": "1.0",
            })
        );
        let manifest = json(&members, &format!("blobs/sha256/{m}"));
        assert_eq!(manifest["config"]["digest"], summary.config_digest);
        assert_eq!(
            manifest["layers"][0]["mediaType"],
            "application/vnd.oci.image.layer.v1.tar"
        );
        assert_eq!(manifest["layers"][0]["size"], summary.layer.size);
        let config = json(&members, &format!("blobs/sha256/{c}"));
        assert_eq!(config["architecture"], "amd64");
        assert_eq!(config["os"], "linux");
        assert_eq!(config["created"], "1970-01-01T00:00:00Z");
        assert_eq!(config["rootfs"]["diff_ids"][0], summary.layer.digest);
        assert_eq!(
            config["config"]["Entrypoint"],
            serde_json::json!(["/usr/bin/tool"])
        );
        assert_eq!(
            config["config"]["Env"],
            serde_json::json!(["PATH=/usr/bin"])
        );
        assert_eq!(
            config["config"]["Labels"],
            serde_json::json!({"a": "1", "b": "2"})
        );
        assert_eq!(config["history"][0]["created_by"], "depclose");
    }

    #[test]
    fn image_is_reproducible_and_epoch_changes_digests() {
        let s = testutil::sample();
        let write = |name: &str, epoch| {
            let dest = s.dir.path().join(name);
            let options = WriteOptions {
                epoch,
                ..WriteOptions::default()
            };
            let summary = s.tree.write_image(&config(), &dest, &options).unwrap();
            (fs::read(dest).unwrap(), summary)
        };
        let (a, sa) = write("a.tar", 1_700_000_000);
        let (b, sb) = write("b.tar", 1_700_000_000);
        assert_eq!(a, b);
        assert_eq!(sa, sb);
        let (c, sc) = write("c.tar", 0);
        assert_ne!(a, c);
        assert_ne!(sa.layer.digest, sc.layer.digest);
        assert_ne!(sa.config_digest, sc.config_digest);
        let config_json = |bytes: &[u8], s: &ImageSummary| {
            json(
                &read_tar(bytes),
                &format!("blobs/sha256/{}", hex(&s.config_digest)),
            )
        };
        let (mut ca, cc) = (config_json(&a, &sa), config_json(&c, &sc));
        assert_eq!(ca["created"], "2023-11-14T22:13:20Z");
        // Only created (twice) and the diff_id differ.
        ca["created"] = cc["created"].clone();
        ca["history"][0]["created"] = cc["history"][0]["created"].clone();
        ca["rootfs"] = cc["rootfs"].clone();
        assert_eq!(ca, cc);

        // The same bytes to a writer.
        let mut out = Vec::new();
        let options = WriteOptions {
            epoch: 1_700_000_000,
            ..WriteOptions::default()
        };
        let so = s
            .tree
            .write_image_to(&config(), &mut out, s.dir.path(), &options)
            .unwrap();
        assert_eq!(out, a);
        assert_eq!(so, sa);
    }

    #[test]
    fn errors_leave_nothing_behind() {
        let s = testutil::sample();
        let out = s.dir.path().join("out");
        fs::create_dir(&out).unwrap();
        let dest = out.join("image.tar");
        let mut bad = config();
        bad.tag = "Bad:tag".into();
        assert!(matches!(
            s.tree.write_image(&bad, &dest, &WriteOptions::default()),
            Err(Error::InvalidReference { .. })
        ));
        fs::remove_file(s.host("lib/libx.so.1.2")).unwrap();
        let err = s
            .tree
            .write_image(&config(), &dest, &WriteOptions::default());
        assert!(
            matches!(&err, Err(Error::Io { path, .. }) if path == &s.host("lib/libx.so.1.2")),
            "{err:?}"
        );
        assert_eq!(fs::read_dir(&out).unwrap().count(), 0);
    }

    #[test]
    fn referrers_are_blobs_beside_the_image() {
        let s = testutil::sample();
        let dest = s.dir.path().join("image.tar");
        let seen = std::cell::RefCell::new(None);
        let referrers =
            |image: &ImageSummary| -> Result<Vec<crate::Artifact>, crate::ArtifactError> {
                *seen.borrow_mut() = Some(image.manifest_digest.clone());
                Ok(vec![crate::Artifact {
                    media_type: "application/spdx+json".into(),
                    data: format!("{{\"about\":\"{}\"}}", image.manifest_digest).into_bytes(),
                }])
            };
        let options = WriteOptions {
            epoch: 1_700_000_000,
            referrers: Some(&referrers),
            ..WriteOptions::default()
        };
        let summary = s.tree.write_image(&config(), &dest, &options).unwrap();
        assert_eq!(
            seen.borrow().as_deref(),
            Some(summary.manifest_digest.as_str())
        );
        assert_eq!(summary.referrers.len(), 1);
        let members = read_tar(&fs::read(&dest).unwrap());
        // The image alone is listed; the layer comes right after the documents, the
        // referrers' blobs after it.
        let index = json(&members, "index.json");
        assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
        assert_eq!(index["manifests"][0]["digest"], summary.manifest_digest);
        assert_eq!(
            names(&members)[8],
            format!("blobs/sha256/{}", hex(&summary.layer.digest))
        );
        assert_eq!(members.len(), 12, "{:?}", names(&members));
        // The same bytes to a writer.
        let mut out = Vec::new();
        s.tree
            .write_image_to(&config(), &mut out, s.dir.path(), &options)
            .unwrap();
        assert_eq!(out, fs::read(&dest).unwrap());
        let image_manifest = members
            .iter()
            .find(|m| {
                m.path == format!("blobs/sha256/{}", hex(&summary.manifest_digest)).as_bytes()
            })
            .unwrap();
        let artifact = json(
            &members,
            &format!("blobs/sha256/{}", hex(&summary.referrers[0])),
        );
        assert_eq!(artifact["artifactType"], "application/spdx+json");
        assert_eq!(
            artifact["subject"],
            serde_json::json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": summary.manifest_digest,
                "size": image_manifest.data.len(),
            })
        );
        assert_eq!(
            artifact["config"],
            serde_json::json!({
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": archive::sha256_of(b"{}"),
                "size": 2,
                "data": "e30=",
            })
        );
        assert_eq!(
            artifact["annotations"]["org.opencontainers.image.created"],
            "2023-11-14T22:13:20Z"
        );
        let layer = &artifact["layers"][0];
        assert_eq!(layer["mediaType"], "application/spdx+json");
        let document = json(
            &members,
            &format!("blobs/sha256/{}", hex(layer["digest"].as_str().unwrap())),
        );
        assert_eq!(document["about"], summary.manifest_digest);
        assert!(
            members.iter().any(|m| m.path
                == format!("blobs/sha256/{}", hex(&archive::sha256_of(b"{}"))).as_bytes())
        );

        // A referrer that fails stops the write, and leaves nothing.
        let failing = |_: &ImageSummary| -> Result<Vec<crate::Artifact>, crate::ArtifactError> {
            Err("no document".into())
        };
        let bad = s.dir.path().join("bad.tar");
        let options = WriteOptions {
            referrers: Some(&failing),
            ..WriteOptions::default()
        };
        let err = s.tree.write_image(&config(), &bad, &options).unwrap_err();
        assert!(matches!(err, Error::Referrer { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "the documents about the image: no document"
        );
        assert!(!bad.exists());
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400).unwrap(), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000).unwrap(), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(253_402_300_799).unwrap(), "9999-12-31T23:59:59Z");
        assert!(rfc3339(253_402_300_800).is_err());
    }

    #[test]
    fn canonical_json_sorts_nested_keys() {
        let labels: HashMap<&str, HashMap<&str, u8>> = HashMap::from([
            ("b", HashMap::from([("z", 1), ("a", 2)])),
            ("a", HashMap::new()),
        ]);
        let json = canonical_json(&labels).unwrap();
        assert_eq!(json, br#"{"a":{},"b":{"a":2,"z":1}}"#);
    }

    #[test]
    fn arch_strings_survive() {
        assert_eq!(arch("amd64"), Arch::Amd64);
        assert_eq!(arch("armbe").to_string(), "armbe");
    }
}
