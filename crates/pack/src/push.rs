//! Pushing an image tar to a registry over the OCI distribution API
//! (distribution-spec `spec.md`): blobs, then manifests children first, then the tag, and
//! referrers through the referrers tag schema where the registry has no referrers API.

use std::collections::HashSet;
use std::io::{self, Read};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use oci_spec::image::{Descriptor, MediaType};
use serde_json::{Value, json};
use ureq::http::{self, Response};
use ureq::tls::{RootCerts, TlsConfig};
use ureq::{Agent, SendBody};

use crate::read::{ImageArchive, ManifestKind};
use crate::reference::Reference;
use crate::{Error, Progress};

/// What answers for `docker.io`, and the key its credentials have in the Docker config.
const DOCKER_HUB_API: &str = "registry-1.docker.io";
const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";
/// The largest JSON answer read (an error document, a token, a referrers index).
const MAX_ANSWER: u64 = 4 << 20;
const INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// How to push ([`push`]).
#[derive(Clone, Copy, Default)]
pub struct PushOptions<'a> {
    /// Speak plain HTTP instead of HTTPS. Allowed only to a loopback registry
    /// (`127.0.0.0/8`, `::1`, `localhost`); any other host is refused.
    pub insecure: bool,
    /// The Docker client's `config.json`, whose `auths` give credentials when the registry
    /// asks for them; `None`, or a file that does not exist, pushes anonymously.
    /// Credential helpers (`credHelpers`, `credsStore`) are refused with an error: running
    /// them would execute a program.
    pub docker_config: Option<&'a Path>,
    /// Blob bytes sent of those to send.
    pub progress: Option<&'a dyn Progress>,
    /// Set from elsewhere (a signal handler) to stop: the push returns
    /// [`Error::Cancelled`] at the next request or chunk.
    pub cancel: Option<&'a AtomicBool>,
}

impl std::fmt::Debug for PushOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushOptions")
            .field("insecure", &self.insecure)
            .field("docker_config", &self.docker_config)
            .field("progress", &self.progress.is_some())
            .field("cancel", &self.cancel)
            .finish()
    }
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSummary {
    /// The registry, as the reference names it (`127.0.0.1:5000`, `docker.io`).
    pub registry: String,
    /// The repository (`team/app`, `library/busybox`).
    pub repository: String,
    /// The tag the top manifest was pushed under.
    pub tag: String,
    /// `sha256:…` of the manifest pushed under the tag.
    pub manifest_digest: String,
    /// Blobs sent, and their bytes.
    pub blobs_uploaded: usize,
    /// Bytes of the blobs sent.
    pub bytes_uploaded: u64,
    /// Blobs the registry had already, and their bytes.
    pub blobs_skipped: usize,
    /// Bytes of the blobs not sent.
    pub bytes_skipped: u64,
    /// Manifests pushed, the tagged one included.
    pub manifests: usize,
    /// Manifests with a `subject` (SBOMs, signatures), in push order.
    pub referrers: Vec<PushedReferrer>,
}

/// A referrer artifact pushed ([`PushSummary::referrers`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedReferrer {
    /// The artifact manifest's digest.
    pub digest: String,
    /// The digest of the manifest it refers to.
    pub subject: String,
    /// Its `artifactType` (else its config's media type).
    pub artifact_type: String,
    /// How the registry learnt that it refers to its subject.
    pub via: ReferrersVia,
}

/// How a referrer was made findable from its subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReferrersVia {
    /// The registry has the referrers API: it answered the manifest's PUT with
    /// `OCI-Subject`.
    Api,
    /// It has not: the artifact was added to the index under this tag
    /// (`sha256-<subject hex>`, the referrers tag schema).
    FallbackTag(String),
}

/// Pushes every manifest reachable from `archive`'s `index.json` (for a docker-archive, its
/// image) to the repository `reference` names (`registry[:port]/repo[:tag]`, Docker's
/// normalisation: `app` is `docker.io/library/app:latest`).
///
/// In order: every blob (config and layers) the registry lacks, after a `HEAD` for each
/// (already there: skipped), by a monolithic upload; then each manifest by digest, an index
/// after the manifests it lists, the one [`ImageArchive::root`] names under the tag. A
/// manifest with a `subject` is pushed by digest; a registry that does not answer with
/// `OCI-Subject` gets it added to the index tagged `sha256-<subject hex>`.
///
/// The archive is checked first (every blob present with its size, every manifest read),
/// so a broken archive sends nothing. Credentials come from
/// [`PushOptions::docker_config`], used when the registry asks (Basic, or a Bearer token
/// from its realm). A registry that fails part-way is an [`Error::Registry`] with the
/// HTTP status and the registry's own error codes and messages; what was sent before stays
/// in the registry, untagged.
pub fn push(
    archive: &ImageArchive,
    reference: &str,
    options: &PushOptions<'_>,
) -> Result<PushSummary, Error> {
    let target = Reference::parse(reference)?;
    let root = archive.root()?;
    let manifests = archive.manifests()?;
    let plan = Plan::new(archive, &manifests)?;

    let mut registry = Registry::connect(&target, options)?;
    let mut summary = PushSummary {
        registry: target.domain().to_owned(),
        repository: target.path().to_owned(),
        tag: target.tag.clone(),
        manifest_digest: root.digest().to_string(),
        blobs_uploaded: 0,
        bytes_uploaded: 0,
        blobs_skipped: 0,
        bytes_skipped: 0,
        manifests: 0,
        referrers: Vec::new(),
    };
    let mut missing = Vec::new();
    for (digest, size) in &plan.blobs {
        check_cancel(options)?;
        if registry.has_blob(digest)? {
            summary.blobs_skipped += 1;
            summary.bytes_skipped += size;
        } else {
            missing.push((digest, *size));
        }
    }
    let total: u64 = missing.iter().map(|(_, size)| size).sum();
    let mut sent = 0;
    for (digest, size) in missing {
        registry.upload(archive, digest, size, sent, total)?;
        sent += size;
        summary.blobs_uploaded += 1;
        summary.bytes_uploaded += size;
    }
    for (manifest, bytes) in manifests.iter().zip(&plan.documents) {
        check_cancel(options)?;
        let (desc, kind) = manifest;
        let digest = desc.digest().to_string();
        let media_type = media_type(desc, bytes);
        let reference = if digest == summary.manifest_digest {
            &target.tag
        } else {
            &digest
        };
        let answer = registry.put_manifest(reference, &media_type, bytes, &digest)?;
        summary.manifests += 1;
        if let Some(subject) = kind.subject() {
            let artifact_type = artifact_type(kind);
            let via = if answer.headers().contains_key("OCI-Subject") {
                ReferrersVia::Api
            } else {
                let entry = referrer_descriptor(desc, &media_type, &artifact_type, kind);
                ReferrersVia::FallbackTag(registry.add_referrer(subject, entry, &digest)?)
            };
            summary.referrers.push(PushedReferrer {
                digest,
                subject: subject.digest().to_string(),
                artifact_type,
                via,
            });
        }
    }
    Ok(summary)
}

/// Checks, before any work, that `reference` names a repository to push to and that
/// `insecure` (plain HTTP) is asked only for a loopback registry.
pub fn check_push(reference: &str, insecure: bool) -> Result<(), Error> {
    origin(&Reference::parse(reference)?, insecure).map(drop)
}

/// `https://host[:port]`, or `http://` for a loopback registry with `insecure`.
fn origin(target: &Reference, insecure: bool) -> Result<String, Error> {
    let domain = target.domain();
    let api = if domain == crate::reference::DEFAULT_DOMAIN {
        DOCKER_HUB_API
    } else {
        domain
    };
    if !insecure {
        return Ok(format!("https://{api}"));
    }
    if !is_loopback(api) {
        return Err(Error::Refused {
            registry: domain.to_owned(),
            reason: "--insecure-registry allows plain HTTP only to a loopback registry (127.0.0.0/8, ::1, localhost)".to_owned(),
        });
    }
    Ok(format!("http://{api}"))
}

/// What a push sends, read from the archive before anything is sent.
struct Plan {
    /// Every blob the image manifests name, each once, with its size in the archive.
    blobs: Vec<(String, u64)>,
    /// Each manifest's bytes, in [`ImageArchive::manifests`]'s order.
    documents: Vec<Vec<u8>>,
}

impl Plan {
    fn new(
        archive: &ImageArchive,
        manifests: &[(Descriptor, ManifestKind)],
    ) -> Result<Plan, Error> {
        let mut seen = HashSet::new();
        let mut blobs = Vec::new();
        let mut documents = Vec::new();
        for (desc, kind) in manifests {
            documents.push(archive.read_blob(desc.digest().as_ref())?);
            let ManifestKind::Image(manifest) = kind else {
                continue;
            };
            for blob in std::iter::once(manifest.config()).chain(manifest.layers()) {
                let digest = blob.digest().to_string();
                if !seen.insert(digest.clone()) {
                    continue;
                }
                let size = archive
                    .blob_size(&digest)
                    .ok_or_else(|| Error::MissingBlob {
                        path: archive.path().to_path_buf(),
                        digest: digest.clone(),
                    })?;
                if size != blob.size() {
                    return Err(Error::BadDocument {
                        path: archive.path().to_path_buf(),
                        name: desc.digest().to_string(),
                        reason: format!(
                            "blob {digest} has size {} there and {size} in the archive",
                            blob.size()
                        ),
                    });
                }
                blobs.push((digest, size));
            }
        }
        Ok(Plan { blobs, documents })
    }
}

/// A manifest's media type: its descriptor's, else its own `mediaType`, else OCI's by shape.
fn media_type(desc: &Descriptor, bytes: &[u8]) -> String {
    match desc.media_type() {
        MediaType::Other(t) if t.is_empty() => {}
        t => return t.to_string(),
    }
    let value: Value = serde_json::from_slice(bytes).unwrap_or_default();
    match value["mediaType"].as_str() {
        Some(t) => t.to_owned(),
        None if value.get("manifests").is_some() => INDEX.to_owned(),
        None => MediaType::ImageManifest.to_string(),
    }
}

/// The referrers API's `artifactType`: the manifest's own, else its config's media type.
fn artifact_type(kind: &ManifestKind) -> String {
    match kind {
        ManifestKind::Image(m) => m
            .artifact_type()
            .as_ref()
            .map_or_else(|| m.config().media_type().to_string(), ToString::to_string),
        ManifestKind::Index(i) => i
            .artifact_type()
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
    }
}

/// The descriptor a referrers index lists for an artifact: media type, digest, size,
/// `artifactType` and the manifest's annotations.
fn referrer_descriptor(
    desc: &Descriptor,
    media_type: &str,
    artifact_type: &str,
    kind: &ManifestKind,
) -> Value {
    let mut entry = json!({
        "mediaType": media_type,
        "digest": desc.digest().to_string(),
        "size": desc.size(),
        "artifactType": artifact_type,
    });
    let annotations = match kind {
        ManifestKind::Image(m) => m.annotations(),
        ManifestKind::Index(i) => i.annotations(),
    };
    if let Some(a) = annotations.as_ref().filter(|a| !a.is_empty()) {
        let sorted: std::collections::BTreeMap<_, _> = a.iter().collect();
        entry["annotations"] = json!(sorted);
    }
    entry
}

fn check_cancel(options: &PushOptions<'_>) -> Result<(), Error> {
    match options.cancel {
        Some(c) if c.load(Ordering::Relaxed) => Err(Error::Cancelled),
        _ => Ok(()),
    }
}

/// A request body that can be sent again after an authentication challenge.
#[derive(Clone, Copy)]
enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// A blob of the archive, streamed; the progress offset and total.
    Blob {
        archive: &'a ImageArchive,
        digest: &'a str,
        size: u64,
        done: u64,
        total: u64,
    },
}

/// One repository of one registry, with the authorisation it asked for.
struct Registry<'a> {
    agent: Agent,
    /// `https://host[:port]` (or `http://` for a loopback registry with `insecure`).
    origin: String,
    /// The registry as the reference names it, for messages and credentials.
    domain: String,
    repository: String,
    options: &'a PushOptions<'a>,
    /// The `Authorization` header the registry accepted or asked for.
    authorization: Option<String>,
}

impl<'a> Registry<'a> {
    /// Checks the transport rules and asks `/v2/` whether the registry answers, and how it
    /// wants to be authenticated.
    fn connect(target: &Reference, options: &'a PushOptions<'a>) -> Result<Registry<'a>, Error> {
        let origin = origin(target, options.insecure)?;
        let tls = TlsConfig::builder()
            .root_certs(RootCerts::PlatformVerifier)
            .build();
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .https_only(!options.insecure)
            .tls_config(tls)
            // Never from the environment: the library reads none.
            .proxy(None)
            // Redirects are not followed, so every URL passes `check_url`.
            .max_redirects(0)
            .max_redirects_will_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(300)))
            .user_agent(concat!("depclose/", env!("CARGO_PKG_VERSION")))
            .build();
        let mut registry = Registry {
            agent: config.into(),
            origin,
            domain: target.domain().to_owned(),
            repository: target.path().to_owned(),
            options,
            authorization: None,
        };
        let url = format!("{}/v2/", registry.origin);
        let answer = registry.send("GET", &url, &[], Body::Empty)?;
        if !answer.status().is_success() {
            return Err(registry.failure("GET /v2/", answer));
        }
        Ok(registry)
    }

    fn url(&self, rest: &str) -> String {
        format!("{}/v2/{}/{rest}", self.origin, self.repository)
    }

    fn has_blob(&mut self, digest: &str) -> Result<bool, Error> {
        let url = self.url(&format!("blobs/{digest}"));
        let answer = self.send("HEAD", &url, &[], Body::Empty)?;
        let status = answer.status();
        // A redirect to the storage behind the registry also says it has the blob.
        if status.is_success() || status.is_redirection() {
            Ok(true)
        } else if status == http::StatusCode::NOT_FOUND {
            Ok(false)
        } else {
            Err(self.failure(&format!("HEAD blob {digest}"), answer))
        }
    }

    /// A monolithic upload: `POST` for a session, `PUT` the blob to its `Location`.
    fn upload(
        &mut self,
        archive: &ImageArchive,
        digest: &str,
        size: u64,
        done: u64,
        total: u64,
    ) -> Result<(), Error> {
        let url = self.url("blobs/uploads/");
        let answer = self.send("POST", &url, &[], Body::Empty)?;
        if answer.status() != http::StatusCode::ACCEPTED {
            return Err(self.failure("POST blob upload", answer));
        }
        let location = answer
            .headers()
            .get("Location")
            .and_then(|l| l.to_str().ok())
            .ok_or_else(|| Error::Registry {
                registry: self.domain.clone(),
                what: "POST blob upload".to_owned(),
                status: answer.status().as_u16(),
                message: "the answer has no Location".to_owned(),
            })?;
        let location = self.resolve(&url, location)?;
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{sep}digest={}", query_escape(digest));
        let body = Body::Blob {
            archive,
            digest,
            size,
            done,
            total,
        };
        let headers = [("Content-Type", "application/octet-stream".to_owned())];
        let answer = self.send("PUT", &put, &headers, body)?;
        if answer.status() != http::StatusCode::CREATED {
            return Err(self.failure(&format!("PUT blob {digest}"), answer));
        }
        Ok(())
    }

    /// `PUT` a manifest under `reference` (a tag or its digest); the registry must store it
    /// under `digest`.
    fn put_manifest(
        &mut self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
        digest: &str,
    ) -> Result<Response<ureq::Body>, Error> {
        let url = self.url(&format!("manifests/{reference}"));
        let headers = [("Content-Type", media_type.to_owned())];
        let answer = self.send("PUT", &url, &headers, Body::Bytes(bytes))?;
        let what = format!("PUT manifest {reference}");
        if answer.status() != http::StatusCode::CREATED {
            return Err(self.failure(&what, answer));
        }
        let stored = answer
            .headers()
            .get("Docker-Content-Digest")
            .and_then(|d| d.to_str().ok());
        if let Some(stored) = stored.filter(|s| *s != digest) {
            return Err(Error::Registry {
                registry: self.domain.clone(),
                what,
                status: answer.status().as_u16(),
                message: format!("stored it as {stored}, not {digest}"),
            });
        }
        Ok(answer)
    }

    /// The referrers tag schema (distribution-spec, "Pushing Manifests with Subject"): add
    /// `entry` to the index tagged `<alg>-<subject hex>`, made when there is none.
    fn add_referrer(
        &mut self,
        subject: &Descriptor,
        entry: Value,
        digest: &str,
    ) -> Result<String, Error> {
        let tag: String = subject
            .digest()
            .to_string()
            .replace(':', "-")
            .chars()
            .take(128)
            .collect();
        let url = self.url(&format!("manifests/{tag}"));
        let accept = [("Accept", INDEX.to_owned())];
        let answer = self.send("GET", &url, &accept, Body::Empty)?;
        let what = format!("GET referrers index {tag}");
        let mut index = match answer.status() {
            http::StatusCode::NOT_FOUND => {
                json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": []})
            }
            s if s.is_success() => {
                let bytes = read_answer(answer).map_err(|e| self.transport(&what, &e))?;
                serde_json::from_slice::<Value>(&bytes)
                    .ok()
                    .filter(|v| v["manifests"].is_array())
                    .ok_or_else(|| Error::Registry {
                        registry: self.domain.clone(),
                        what: what.clone(),
                        status: s.as_u16(),
                        message: "the tag holds no image index".to_owned(),
                    })?
            }
            _ => return Err(self.failure(&what, answer)),
        };
        let mut listed = index["manifests"].as_array().cloned().unwrap_or_default();
        if listed.iter().any(|m| m["digest"] == digest) {
            return Ok(tag);
        }
        listed.push(entry);
        index["manifests"] = Value::Array(listed);
        let bytes = serde_json::to_vec(&index).map_err(|e| Error::InvalidConfig(e.to_string()))?;
        let url = self.url(&format!("manifests/{tag}"));
        let headers = [("Content-Type", INDEX.to_owned())];
        let answer = self.send("PUT", &url, &headers, Body::Bytes(&bytes))?;
        if answer.status() != http::StatusCode::CREATED {
            return Err(self.failure(&format!("PUT referrers index {tag}"), answer));
        }
        Ok(tag)
    }

    /// Sends a request; on `401` answers the challenge (once) and sends it again.
    fn send(
        &mut self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: Body<'_>,
    ) -> Result<Response<ureq::Body>, Error> {
        let mut challenged = false;
        loop {
            check_cancel(self.options)?;
            let answer = self.send_once(method, url, headers, body)?;
            if answer.status() != http::StatusCode::UNAUTHORIZED || challenged {
                if answer.status() == http::StatusCode::UNAUTHORIZED {
                    let reason = error_message(answer);
                    return Err(self.unauthorized(format!("{method} {url} was refused: {reason}")));
                }
                return Ok(answer);
            }
            challenged = true;
            let challenge = answer
                .headers()
                .get("WWW-Authenticate")
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
                .ok_or_else(|| self.unauthorized("401 without WWW-Authenticate".to_owned()))?;
            self.authenticate(&challenge)?;
        }
    }

    fn send_once(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: Body<'_>,
    ) -> Result<Response<ureq::Body>, Error> {
        let mut request = http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        // Credentials go to the registry only, never to another host it sends us to.
        if let Some(auth) = self
            .authorization
            .as_ref()
            .filter(|_| same_origin(url, &self.origin))
        {
            request = request.header("Authorization", auth);
        }
        let what = format!("{method} {url}");
        let result = match body {
            Body::Empty => {
                let request = if method == "POST" || method == "PUT" {
                    request.header("Content-Length", "0")
                } else {
                    request
                };
                let request = request.body(()).map_err(|e| self.transport(&what, &e))?;
                self.agent.run(request)
            }
            Body::Bytes(bytes) => {
                let mut reader = bytes;
                let request = request
                    .header("Content-Length", bytes.len())
                    .body(SendBody::from_reader(&mut reader))
                    .map_err(|e| self.transport(&what, &e))?;
                self.agent.run(request)
            }
            Body::Blob {
                archive,
                digest,
                size,
                done,
                total,
            } => {
                let mut reader = Counted {
                    inner: archive.blob_reader(digest)?,
                    done,
                    total,
                    options: self.options,
                };
                let request = request
                    .header("Content-Length", size)
                    .body(SendBody::from_reader(&mut reader))
                    .map_err(|e| self.transport(&what, &e))?;
                self.agent.run(request)
            }
        };
        check_cancel(self.options)?;
        result.map_err(|e| self.transport(&what, &e))
    }

    /// Answers a `WWW-Authenticate` challenge: Basic with the configured credentials, or a
    /// Bearer token from the realm (with them, if there are any).
    fn authenticate(&mut self, challenge: &str) -> Result<(), Error> {
        let (scheme, params) = parse_challenge(challenge)
            .ok_or_else(|| self.unauthorized(format!("unreadable challenge {challenge:?}")))?;
        let credentials = self.credentials()?;
        let basic = credentials
            .as_ref()
            .map(|(user, pass)| format!("Basic {}", BASE64.encode(format!("{user}:{pass}"))));
        if scheme.eq_ignore_ascii_case("basic") {
            let basic = basic.ok_or_else(|| self.no_credentials())?;
            self.authorization = Some(basic);
            return Ok(());
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(self.unauthorized(format!("unsupported authentication scheme {scheme}")));
        }
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let realm = param("realm")
            .ok_or_else(|| self.unauthorized("a Bearer challenge without realm".to_owned()))?;
        self.check_url(realm)?;
        let own_scope = format!("repository:{}:pull,push", self.repository);
        let mut url = format!("{realm}{}", if realm.contains('?') { '&' } else { '?' });
        if let Some(service) = param("service") {
            url.push_str(&format!("service={}&", query_escape(service)));
        }
        url.push_str(&format!(
            "scope={}",
            query_escape(param("scope").unwrap_or(&own_scope))
        ));
        let mut request = http::Request::builder().method("GET").uri(&url);
        if let Some(basic) = &basic {
            request = request.header("Authorization", basic);
        }
        let what = format!("GET token from {realm}");
        let request = request.body(()).map_err(|e| self.transport(&what, &e))?;
        let answer = self
            .agent
            .run(request)
            .map_err(|e| self.transport(&what, &e))?;
        if !answer.status().is_success() {
            let status = answer.status().as_u16();
            let reason = error_message(answer);
            return Err(self.unauthorized(format!("{what}: HTTP {status}: {reason}")));
        }
        let bytes = read_answer(answer).map_err(|e| self.transport(&what, &e))?;
        let token = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| {
                v["token"]
                    .as_str()
                    .or_else(|| v["access_token"].as_str())
                    .map(str::to_owned)
            })
            .filter(|t| !t.is_empty())
            .ok_or_else(|| self.unauthorized(format!("{what}: the answer holds no token")))?;
        self.authorization = Some(format!("Bearer {token}"));
        Ok(())
    }

    /// The credentials the Docker config has for this registry, if any.
    fn credentials(&self) -> Result<Option<(String, String)>, Error> {
        let Some(path) = self.options.docker_config else {
            return Ok(None);
        };
        let key = if self.domain == crate::reference::DEFAULT_DOMAIN {
            DOCKER_HUB_AUTH_KEY
        } else {
            self.domain.as_str()
        };
        docker_credentials(path, key)
    }

    /// A URL the registry sent us to: HTTPS, or plain HTTP to a loopback host with
    /// `insecure`.
    fn check_url(&self, url: &str) -> Result<(), Error> {
        let refused = |reason: &str| Error::Refused {
            registry: self.domain.clone(),
            reason: format!("{url}: {reason}"),
        };
        if url.starts_with("https://") {
            return Ok(());
        }
        let host = url
            .strip_prefix("http://")
            .ok_or_else(|| refused("not an http(s) URL"))?;
        let host = host.split(['/', '?']).next().unwrap_or_default();
        if !self.options.insecure {
            return Err(refused("plain HTTP without --insecure-registry"));
        }
        if !is_loopback(host) {
            return Err(refused("plain HTTP to a host that is not loopback"));
        }
        Ok(())
    }

    /// A `Location` as an absolute URL (it may be relative to the request's).
    fn resolve(&self, request: &str, location: &str) -> Result<String, Error> {
        let url = if location.starts_with("http://") || location.starts_with("https://") {
            location.to_owned()
        } else if location.starts_with('/') {
            format!("{}{location}", self.origin)
        } else {
            let dir = &request[..request.rfind('/').map_or(request.len(), |i| i + 1)];
            format!("{dir}{location}")
        };
        self.check_url(&url)?;
        Ok(url)
    }

    fn failure(&self, what: &str, answer: Response<ureq::Body>) -> Error {
        let status = answer.status().as_u16();
        Error::Registry {
            registry: self.domain.clone(),
            what: what.to_owned(),
            status,
            message: error_message(answer),
        }
    }

    fn transport(&self, what: &str, e: &dyn std::fmt::Display) -> Error {
        let mut reason = e.to_string();
        if !self.options.insecure && is_loopback(self.origin.trim_start_matches("https://")) {
            reason.push_str(
                " (a registry that speaks plain HTTP on a loopback address needs --insecure-registry)",
            );
        }
        Error::Transport {
            registry: self.domain.clone(),
            what: what.to_owned(),
            reason,
        }
    }

    fn unauthorized(&self, reason: String) -> Error {
        Error::Unauthorized {
            registry: self.domain.clone(),
            reason,
        }
    }

    fn no_credentials(&self) -> Error {
        let reason = match self.options.docker_config {
            Some(path) => format!(
                "it asks for credentials and {} has none for it",
                path.display()
            ),
            None => "it asks for credentials and there is no Docker config".to_owned(),
        };
        self.unauthorized(reason)
    }
}

/// A blob being sent: counts for [`PushOptions::progress`], stops on cancel.
struct Counted<'a, R> {
    inner: R,
    done: u64,
    total: u64,
    options: &'a PushOptions<'a>,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if check_cancel(self.options).is_err() {
            return Err(io::Error::other("cancelled"));
        }
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if let Some(p) = self.options.progress {
            p.update(self.done, self.total);
        }
        Ok(n)
    }
}

fn read_answer(answer: Response<ureq::Body>) -> Result<Vec<u8>, ureq::Error> {
    answer
        .into_body()
        .into_with_config()
        .limit(MAX_ANSWER)
        .read_to_vec()
}

/// The registry's error document as one line: `CODE: message; …`, else its text.
fn error_message(answer: Response<ureq::Body>) -> String {
    let Ok(bytes) = read_answer(answer) else {
        return "(no readable answer)".to_owned();
    };
    if let Ok(doc) = serde_json::from_slice::<Value>(&bytes) {
        if let Some(errors) = doc["errors"].as_array().filter(|e| !e.is_empty()) {
            return errors
                .iter()
                .map(|e| {
                    let code = e["code"].as_str().unwrap_or("UNKNOWN");
                    match e["message"].as_str() {
                        Some(m) if !m.is_empty() => format!("{code}: {m}"),
                        _ => code.to_owned(),
                    }
                })
                .collect::<Vec<_>>()
                .join("; ");
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None if line.is_empty() => "(no message)".to_owned(),
        None => line,
    }
}

/// `host[:port]` (or `[v6]:port`) names a loopback address: `127.0.0.0/8`, `::1`,
/// `localhost`.
fn is_loopback(domain: &str) -> bool {
    let host = match domain.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => domain.rsplit_once(':').map_or(domain, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<Ipv4Addr>().is_ok_and(|a| a.is_loopback())
        || host.parse::<Ipv6Addr>().is_ok_and(|a| a.is_loopback())
}

fn same_origin(url: &str, origin: &str) -> bool {
    url.strip_prefix(origin)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
}

/// Percent-encodes all but RFC 3986's unreserved characters.
fn query_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `Bearer realm="…",service="…",scope="…"`: the scheme and its parameters (RFC 7235
/// auth-params, quoted strings with `\` escapes).
fn parse_challenge(header: &str) -> Option<(String, Vec<(String, String)>)> {
    let header = header.trim();
    let (scheme, mut rest) = match header.split_once(char::is_whitespace) {
        Some((s, r)) => (s, r.trim_start()),
        None => (header, ""),
    };
    if scheme.is_empty() {
        return None;
    }
    let mut params = Vec::new();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let key = key.trim().trim_start_matches(',').trim();
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => value.push(chars.next()?.1),
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end?..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        params.push((key.to_owned(), value));
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    Some((scheme.to_owned(), params))
}

/// The `auths` entry of a Docker `config.json` for `key` (a registry host, or Docker Hub's
/// URL key): `auth` (base64 `user:pass`) or `username` and `password`. A missing file
/// means no credentials. Credential helpers are refused: running one would execute a
/// program, which depclose does only for `--trace`.
fn docker_credentials(path: &Path, key: &str) -> Result<Option<(String, String)>, Error> {
    let bad = |reason: String| Error::Credentials {
        path: path.to_path_buf(),
        reason,
    };
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path)(e)),
    };
    let config: Value = serde_json::from_slice(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let helper = |name: &Value, from: &str| {
        bad(format!(
            "{from} names the credential helper docker-credential-{}, which depclose does not run; give the registry's credentials in \"auths\"",
            name.as_str().unwrap_or("?")
        ))
    };
    if let Some(name) = config["credHelpers"].get(key) {
        return Err(helper(name, &format!("credHelpers[{key:?}]")));
    }
    let entry = config["auths"].as_object().and_then(|auths| {
        auths
            .iter()
            .find(|(k, _)| auth_key_host(k) == auth_key_host(key))
            .map(|(_, v)| v)
    });
    if let Some(entry) = entry {
        if let Some(auth) = entry["auth"].as_str().filter(|a| !a.is_empty()) {
            let decoded = BASE64
                .decode(auth.trim())
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .ok_or_else(|| {
                    bad(format!(
                        "auths[{key:?}].auth is not base64 of user:password"
                    ))
                })?;
            let (user, pass) = decoded.split_once(':').ok_or_else(|| {
                bad(format!(
                    "auths[{key:?}].auth is not base64 of user:password"
                ))
            })?;
            return Ok(Some((user.to_owned(), pass.to_owned())));
        }
        if let (Some(user), Some(pass)) = (entry["username"].as_str(), entry["password"].as_str()) {
            return Ok(Some((user.to_owned(), pass.to_owned())));
        }
        if entry.get("identitytoken").is_some() {
            return Err(bad(format!(
                "auths[{key:?}] holds an identity token (OAuth), which depclose does not use; give auth (user:password)"
            )));
        }
    }
    if let Some(name) = config.get("credsStore") {
        return Err(helper(name, "credsStore"));
    }
    Ok(None)
}

/// An `auths` key's host: `https://host/v1/` and `host` are the same registry.
fn auth_key_host(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let (scheme, params) = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(scheme, "Bearer");
        assert_eq!(
            params,
            [
                ("realm".to_owned(), "https://auth.example/token".to_owned()),
                ("service".to_owned(), "registry.example".to_owned()),
                ("scope".to_owned(), "repository:a/b:pull,push".to_owned()),
            ]
        );
        let (scheme, params) = parse_challenge(r#"Basic realm="x \"y\"", charset=UTF-8"#).unwrap();
        assert_eq!(scheme, "Basic");
        assert_eq!(params[0].1, "x \"y\"");
        assert_eq!(params[1], ("charset".to_owned(), "UTF-8".to_owned()));
        assert!(parse_challenge(r#"Bearer realm="unterminated"#).is_none());
        assert!(parse_challenge("").is_none());
    }

    #[test]
    fn loopback_hosts() {
        for yes in [
            "127.0.0.1:5000",
            "127.1.2.3",
            "localhost:80",
            "LOCALHOST",
            "[::1]:5000",
            "[::1]",
        ] {
            assert!(is_loopback(yes), "{yes}");
        }
        for no in [
            "10.0.0.1:5000",
            "registry.example",
            "128.0.0.1",
            "[::2]:5000",
            "localhost.example",
        ] {
            assert!(!is_loopback(no), "{no}");
        }
    }

    #[test]
    fn escapes_and_origins() {
        assert_eq!(query_escape("sha256:ab"), "sha256%3Aab");
        assert_eq!(
            query_escape("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
        assert!(same_origin(
            "http://127.0.0.1:5000/v2/",
            "http://127.0.0.1:5000"
        ));
        assert!(!same_origin(
            "http://127.0.0.1:50000/v2/",
            "http://127.0.0.1:5000"
        ));
        assert!(!same_origin(
            "https://storage.example/x",
            "http://127.0.0.1:5000"
        ));
    }

    #[test]
    fn credentials_from_the_docker_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        assert_eq!(docker_credentials(&path, "r.example").unwrap(), None);
        let auth = BASE64.encode("me:s3:cret");
        std::fs::write(
            &path,
            json!({"auths": {
                "https://r.example/v1/": {"auth": auth},
                "plain.example": {"username": "u", "password": "p"},
                "bad.example": {"auth": "%%%"},
                "oauth.example": {"identitytoken": "t"},
            }, "credHelpers": {"helped.example": "ecr-login"}})
            .to_string(),
        )
        .unwrap();
        assert_eq!(
            docker_credentials(&path, "r.example").unwrap(),
            Some(("me".to_owned(), "s3:cret".to_owned()))
        );
        assert_eq!(
            docker_credentials(&path, "plain.example").unwrap(),
            Some(("u".to_owned(), "p".to_owned()))
        );
        assert_eq!(docker_credentials(&path, "other.example").unwrap(), None);
        for (key, says) in [
            ("bad.example", "base64"),
            ("oauth.example", "identity token"),
            ("helped.example", "docker-credential-ecr-login"),
        ] {
            let err = docker_credentials(&path, key).unwrap_err();
            assert!(
                matches!(&err, Error::Credentials { reason, .. } if reason.contains(says)),
                "{err}"
            );
        }
        std::fs::write(&path, r#"{"credsStore": "desktop"}"#).unwrap();
        assert!(matches!(
            docker_credentials(&path, "r.example"),
            Err(Error::Credentials { .. })
        ));
        std::fs::write(&path, "{").unwrap();
        assert!(matches!(
            docker_credentials(&path, "r.example"),
            Err(Error::Credentials { .. })
        ));
    }

    /// A Bearer challenge: the token is fetched from the realm with the scope for the
    /// repository and the Basic credentials of the Docker config, then sent.
    #[test]
    fn bearer_tokens_from_the_realm() {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for _ in 0..3 {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = Vec::new();
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if line.trim().is_empty() {
                        break;
                    }
                    head.push(line.trim().to_owned());
                }
                let auth = head
                    .iter()
                    .find_map(|h| {
                        h.strip_prefix("authorization: ")
                            .or(h.strip_prefix("Authorization: "))
                    })
                    .map(str::to_owned);
                let answer = match (head[0].as_str(), auth.as_deref()) {
                    (l, Some("Bearer T0K")) if l.starts_with("GET /v2/ ") => {
                        "200 OK\r\n".to_owned()
                    }
                    (l, _) if l.starts_with("GET /v2/ ") => format!(
                        "401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"fake\"\r\n"
                    ),
                    (l, _) if l.starts_with("GET /token?") => {
                        let body = r#"{"token":"T0K"}"#;
                        format!(
                            "200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        )
                    }
                    _ => "500 Nope\r\n".to_owned(),
                };
                let answer = if answer.contains("\r\n\r\n") {
                    answer
                } else {
                    format!("{answer}Content-Length: 0\r\n\r\n")
                };
                // One connection per request: without `Connection: close` the client may
                // pool this connection and send its next request on it while it is closed.
                let answer = answer.replacen("\r\n", "\r\nConnection: close\r\n", 1);
                let mut stream = stream;
                write!(stream, "HTTP/1.1 {answer}").unwrap();
                seen.push((head[0].clone(), auth));
            }
            seen
        });
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.json");
        let host = format!("127.0.0.1:{port}");
        std::fs::write(
            &config,
            json!({"auths": {&host: {"auth": BASE64.encode("u:p")}}}).to_string(),
        )
        .unwrap();
        let options = PushOptions {
            insecure: true,
            docker_config: Some(&config),
            ..PushOptions::default()
        };
        let target = Reference::parse(&format!("{host}/team/app:1")).unwrap();
        let registry = Registry::connect(&target, &options).unwrap();
        assert_eq!(registry.authorization.as_deref(), Some("Bearer T0K"));
        let seen = server.join().unwrap();
        assert_eq!(seen[0], ("GET /v2/ HTTP/1.1".to_owned(), None));
        assert_eq!(
            seen[1],
            (
                "GET /token?service=fake&scope=repository%3Ateam%2Fapp%3Apull%2Cpush HTTP/1.1"
                    .to_owned(),
                Some(format!("Basic {}", BASE64.encode("u:p")))
            )
        );
        assert_eq!(
            seen[2],
            (
                "GET /v2/ HTTP/1.1".to_owned(),
                Some("Bearer T0K".to_owned())
            )
        );
    }

    #[test]
    fn insecure_to_a_remote_host_is_refused_before_any_request() {
        let target = Reference::parse("10.1.2.3:5000/app:1").unwrap();
        let options = PushOptions {
            insecure: true,
            ..PushOptions::default()
        };
        let err = Registry::connect(&target, &options).err().unwrap();
        assert!(
            matches!(&err, Error::Refused { reason, .. } if reason.contains("loopback")),
            "{err}"
        );
    }
}
