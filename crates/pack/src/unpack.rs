//! An image's filesystem, read back: its layers applied in order into a directory (whiteouts
//! honoured), and every path listed with its kind, mode, owner, size and digest — what two
//! images are compared by. Nothing needs root: owners are listed, not applied, and device
//! nodes and FIFOs are listed, not made.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::Error;
use crate::read::{ArchiveImage, ImageArchive, Layer};

/// One path of an image's filesystem, as its layers leave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageFile {
    /// `file`, `dir`, `symlink`, `char`, `block` or `fifo` (a hard link is a `file`, with
    /// `link` naming the path it shares its data with).
    pub kind: &'static str,
    /// The permission bits, setuid, setgid and sticky included (in JSON an octal string,
    /// `"0755"`).
    #[serde(serialize_with = "octal")]
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Bytes of a regular file; 0 for anything else.
    pub size: u64,
    /// Hex sha256 of a regular file's contents.
    pub sha256: Option<String>,
    /// A symlink's target, or the path a hard link was made to.
    pub link: Option<String>,
}

fn octal<S: serde::Serializer>(mode: &u32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{mode:04o}"))
}

/// Every path of an image's filesystem (absolute, `/` first), in order.
pub type ImageFiles = BTreeMap<String, ImageFile>;

/// Whiteout prefix: `.wh.NAME` deletes NAME of the layers below.
const WHITEOUT: &str = ".wh.";
/// In a directory, deletes everything the layers below put in it.
const OPAQUE: &str = ".wh..wh..opq";

impl ArchiveImage {
    /// Apply the layers, bottom first, into `dir` (which must exist and be empty) and list
    /// what they leave. Member names that leave the image (`..`), or that would write
    /// through a symlink an earlier member made, are refused; a hard link must name a file
    /// already there.
    pub fn unpack(&self, archive: &ImageArchive, dir: &Path) -> Result<ImageFiles, Error> {
        if fs::read_dir(dir).map_err(Error::io(dir))?.next().is_some() {
            return Err(Error::DestinationNotEmpty {
                path: dir.to_path_buf(),
            });
        }
        let mut files = ImageFiles::new();
        files.insert("/".into(), dir_entry(0o755));
        for layer in &self.layers {
            let reader = self.layer_reader(archive, layer)?;
            let mut unpacker = Unpacker {
                archive,
                layer,
                dir,
                files: &mut files,
            };
            unpacker.layer(reader)?;
        }
        Ok(files)
    }
}

fn dir_entry(mode: u32) -> ImageFile {
    ImageFile {
        kind: "dir",
        mode,
        uid: 0,
        gid: 0,
        size: 0,
        sha256: None,
        link: None,
    }
}

struct Unpacker<'a> {
    archive: &'a ImageArchive,
    layer: &'a Layer,
    dir: &'a Path,
    files: &'a mut ImageFiles,
}

impl Unpacker<'_> {
    fn bad(&self, member: &str, reason: impl Into<String>) -> Error {
        Error::BadLayer {
            path: self.archive.path().to_path_buf(),
            layer: self.layer.digest.clone(),
            member: member.to_owned(),
            reason: reason.into(),
        }
    }

    fn layer(&mut self, reader: Box<dyn Read + '_>) -> Result<(), Error> {
        let archive_path = self.archive.path().to_path_buf();
        let broken = |e: io::Error| Error::BadLayer {
            path: archive_path.clone(),
            layer: self.layer.digest.clone(),
            member: String::new(),
            reason: e.to_string(),
        };
        let mut tar = tar::Archive::new(reader);
        for entry in tar.entries().map_err(&broken)? {
            let mut entry = entry.map_err(&broken)?;
            let raw = entry.path_bytes().into_owned();
            let name = String::from_utf8_lossy(&raw).into_owned();
            let Some(path) = image_path(&raw) else {
                return Err(self.bad(&name, "the name leaves the image or is not UTF-8"));
            };
            if path == "/" {
                continue;
            }
            let (parent, base) = path.rsplit_once('/').unwrap_or(("", &path));
            if base == OPAQUE {
                self.opaque(if parent.is_empty() { "/" } else { parent })?;
                continue;
            }
            if let Some(hidden) = base.strip_prefix(WHITEOUT) {
                self.remove(&format!("{parent}/{hidden}"))?;
                continue;
            }
            self.entry(&path, &mut entry)?;
        }
        Ok(())
    }

    /// The host path of an image path, after checking that no directory on the way is a
    /// symlink (a layer could otherwise write outside `dir` through one it made).
    fn host(&mut self, path: &str) -> Result<PathBuf, Error> {
        let mut host = self.dir.to_path_buf();
        let mut image = String::new();
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        for (i, part) in parts.iter().enumerate() {
            image.push('/');
            image.push_str(part);
            host.push(part);
            if i + 1 == parts.len() {
                break;
            }
            match fs::symlink_metadata(&host) {
                Ok(m) if m.is_dir() => {}
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(self.bad(path, format!("{image} is a symlink")));
                }
                Ok(_) => return Err(self.bad(path, format!("{image} is not a directory"))),
                // A directory the layer did not list: made as tar makes it.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::create_dir(&host).map_err(Error::io(&host))?;
                    self.files.insert(image.clone(), dir_entry(0o755));
                }
                Err(e) => return Err(Error::io(&host)(e)),
            }
        }
        Ok(host)
    }

    /// Whatever is at `path` goes (a whiteout, or a member that replaces it).
    fn remove(&mut self, path: &str) -> Result<(), Error> {
        let host = self.host(path)?;
        match fs::symlink_metadata(&host) {
            Ok(m) if m.is_dir() => {
                make_writable(&host)?;
                fs::remove_dir_all(&host).map_err(Error::io(&host))?
            }
            Ok(_) => fs::remove_file(&host).map_err(Error::io(&host))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&host)(e)),
        }
        let below = format!("{path}/");
        self.files
            .retain(|p, _| p != path && !p.starts_with(&below));
        Ok(())
    }

    /// Everything below `dir` goes; `dir` stays.
    fn opaque(&mut self, dir: &str) -> Result<(), Error> {
        let below = if dir == "/" {
            "/".to_owned()
        } else {
            format!("{dir}/")
        };
        let doomed: Vec<String> = self
            .files
            .keys()
            .filter(|p| p.starts_with(&below) && p[below.len()..].split('/').count() == 1)
            .filter(|p| !p[below.len()..].is_empty())
            .cloned()
            .collect();
        for p in doomed {
            self.remove(&p)?;
        }
        Ok(())
    }

    fn entry<R: Read>(&mut self, path: &str, entry: &mut tar::Entry<'_, R>) -> Result<(), Error> {
        let header = entry.header();
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        let uid = header.uid().unwrap_or(0);
        let gid = header.gid().unwrap_or(0);
        let kind = header.entry_type();
        let link = entry
            .link_name_bytes()
            .map(|l| String::from_utf8_lossy(&l).into_owned());
        let host = self.host(path)?;
        let existing = fs::symlink_metadata(&host).ok();
        // A directory over a directory keeps what is in it; anything else replaces.
        if !(kind.is_dir() && existing.as_ref().is_some_and(|m| m.is_dir())) {
            self.remove(path)?;
        }
        let mut file = ImageFile {
            kind: "file",
            mode,
            uid,
            gid,
            size: 0,
            sha256: None,
            link: None,
        };
        if kind.is_dir() {
            file.kind = "dir";
            if existing.is_none_or(|m| !m.is_dir()) {
                fs::create_dir(&host).map_err(Error::io(&host))?;
            }
            // Owner-writable and searchable, so the rest of the layers and the clean-up can
            // go in; the listing keeps the real mode.
            set_mode(&host, mode | 0o700)?;
        } else if kind.is_symlink() {
            let Some(target) = link else {
                return Err(self.bad(path, "a symlink without a target"));
            };
            std::os::unix::fs::symlink(&target, &host).map_err(Error::io(&host))?;
            file.kind = "symlink";
            file.link = Some(target);
        } else if kind.is_hard_link() {
            let Some(target) = link.as_deref().and_then(|l| image_path(l.as_bytes())) else {
                return Err(self.bad(path, "a hard link without a usable target"));
            };
            let Some(shared) = self
                .files
                .get(&target)
                .filter(|f| f.kind == "file")
                .cloned()
            else {
                return Err(self.bad(path, format!("a hard link to {target}, which is no file")));
            };
            let from = self.host(&target)?;
            fs::hard_link(&from, &host).map_err(Error::io(&host))?;
            file = ImageFile {
                link: Some(target),
                ..shared
            };
        } else if kind.is_file() || kind == tar::EntryType::Continuous {
            let (size, sha256) = write_new(&host, entry)?;
            // Owner-readable, so the image's programs can be analysed; the listing keeps
            // the real mode, and setuid stays for secure mode.
            set_mode(&host, mode | 0o400)?;
            file.size = size;
            file.sha256 = Some(sha256);
        } else if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
            file.kind = if kind.is_fifo() {
                "fifo"
            } else if kind.is_block_special() {
                "block"
            } else {
                "char"
            };
        } else {
            // PAX and GNU long-name headers are consumed by the tar crate; anything else
            // has no place in a filesystem.
            return Err(self.bad(path, format!("an entry of tar type {:?}", kind)));
        }
        self.files.insert(path.to_owned(), file);
        Ok(())
    }
}

/// A member name as an absolute image path (`./usr/bin` → `/usr/bin`), or `None` when it
/// climbs out with `..` or is not UTF-8.
fn image_path(raw: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(raw).ok()?;
    let mut out = String::new();
    for c in Path::new(s).components() {
        match c {
            Component::Normal(p) => {
                out.push('/');
                out.push_str(p.to_str()?);
            }
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(if out.is_empty() { "/".to_owned() } else { out })
}

/// Write `data` to a new file at `path` (never through whatever was there), and hash it.
fn write_new(path: &Path, data: &mut impl Read) -> Result<(u64, String), Error> {
    let mut out = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(Error::io(path))?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0;
    loop {
        let n = data.read(&mut buf).map_err(Error::io(path))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(Error::io(path))?;
        size += n as u64;
    }
    Ok((size, format!("{:x}", hash.finalize())))
}

fn set_mode(path: &Path, mode: u32) -> Result<(), Error> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(Error::io(path))
}

/// Every directory below `dir` made owner-writable, so that it can be removed.
fn make_writable(dir: &Path) -> Result<(), Error> {
    set_mode(dir, 0o700)?;
    for entry in fs::read_dir(dir).map_err(Error::io(dir))? {
        let entry = entry.map_err(Error::io(dir))?;
        if entry.file_type().map_err(Error::io(dir))?.is_dir() {
            make_writable(&entry.path())?;
        }
    }
    Ok(())
}

/// What differs between two images' filesystems.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FilesDiff {
    /// Paths only the new image has, and only the old one.
    pub added: Vec<PathEntry>,
    pub removed: Vec<PathEntry>,
    /// Paths both have whose kind, mode, owner, contents or target differ.
    pub changed: Vec<PathChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathEntry {
    pub path: String,
    #[serde(flatten)]
    pub file: ImageFile,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathChange {
    pub path: String,
    pub old: ImageFile,
    pub new: ImageFile,
}

/// Compare two listings path by path. A hard link and a file with the same contents are
/// the same: where the data is shared is not what an image holds.
pub fn diff_files(old: &ImageFiles, new: &ImageFiles) -> FilesDiff {
    let entry = |(path, file): (&String, &ImageFile)| PathEntry {
        path: path.clone(),
        file: file.clone(),
    };
    let same = |a: &ImageFile, b: &ImageFile| {
        let unlinked = |f: &ImageFile| match f.kind {
            "file" => ImageFile {
                link: None,
                ..f.clone()
            },
            _ => f.clone(),
        };
        unlinked(a) == unlinked(b)
    };
    FilesDiff {
        added: new
            .iter()
            .filter(|(p, _)| !old.contains_key(*p))
            .map(entry)
            .collect(),
        removed: old
            .iter()
            .filter(|(p, _)| !new.contains_key(*p))
            .map(entry)
            .collect(),
        changed: new
            .iter()
            .filter_map(|(p, n)| {
                let o = old.get(p)?;
                (!same(o, n)).then(|| PathChange {
                    path: p.clone(),
                    old: o.clone(),
                    new: n.clone(),
                })
            })
            .collect(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn image_paths_stay_inside() {
        assert_eq!(image_path(b"./usr/bin/x").as_deref(), Some("/usr/bin/x"));
        assert_eq!(image_path(b"usr//lib/").as_deref(), Some("/usr/lib"));
        assert_eq!(image_path(b"./").as_deref(), Some("/"));
        assert_eq!(image_path(b"/etc/passwd").as_deref(), Some("/etc/passwd"));
        assert_eq!(image_path(b"usr/../../etc"), None);
        assert_eq!(image_path(b"\xff"), None);
    }

    /// One tar member: name (written raw, so hostile names get through), type, mode, data,
    /// link target.
    type Member<'a> = (&'a str, tar::EntryType, u32, &'a [u8], Option<&'a str>);

    fn layer(members: &[Member]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, mode, data, link) in members {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(*mode);
            h.set_uid(1000);
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            if let Some(l) = link {
                h.as_old_mut().linkname[..l.len()].copy_from_slice(l.as_bytes());
            }
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    /// A docker-archive (`manifest.json`, a config, the layers) of `layers`, bottom first.
    fn archive(dir: &Path, layers: &[Vec<u8>]) -> ImageArchive {
        let names: Vec<String> = (0..layers.len())
            .map(|i| format!("l{i}/layer.tar"))
            .collect();
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| crate::archive::sha256_of(l)).collect::<Vec<_>>()},
        }))
        .unwrap();
        let manifest =
            serde_json::json!([{"Config": "config.json", "RepoTags": ["t:1"], "Layers": names}]);
        let path = dir.join("image.tar");
        let mut b = tar::Builder::new(fs::File::create(&path).unwrap());
        let mut add = |name: &str, data: &[u8]| {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, name, data).unwrap();
        };
        for (name, data) in names.iter().zip(layers) {
            add(name, data);
        }
        add("config.json", &config);
        add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
        b.finish().unwrap();
        drop(b);
        ImageArchive::open(&path).unwrap()
    }

    fn unpacked(layers: &[Vec<u8>]) -> (tempfile::TempDir, Result<ImageFiles, Error>) {
        let t = tempfile::tempdir().unwrap();
        let archive = archive(t.path(), layers);
        let root = t.path().join("root");
        fs::create_dir(&root).unwrap();
        let files = archive.image().unwrap().unpack(&archive, &root);
        (t, files)
    }

    use tar::EntryType::{Directory as D, Fifo, Link, Regular as F, Symlink as L};

    #[test]
    fn layers_apply_in_order_with_whiteouts() {
        let bottom = layer(&[
            ("etc/", D, 0o755, b"", None),
            ("etc/su", F, 0o4755, b"setuid", None),
            ("usr/lib/x", F, 0o644, b"one", None),
            ("usr/lib/y", Link, 0o644, b"", Some("usr/lib/x")),
            ("lib", L, 0o777, b"", Some("usr/lib")),
            ("opt/old", F, 0o600, b"old", None),
            ("dev/p", Fifo, 0o644, b"", None),
        ]);
        let top = layer(&[
            ("etc/.wh.su", F, 0o644, b"", None),
            ("opt/.wh..wh..opq", F, 0o644, b"", None),
            ("opt/new", F, 0o644, b"new", None),
            ("usr/lib/x", F, 0o644, b"two", None),
        ]);
        let (t, files) = unpacked(&[bottom, top]);
        let files = files.unwrap();
        let root = t.path().join("root");
        let paths: Vec<&str> = files.keys().map(String::as_str).collect();
        assert_eq!(
            paths,
            [
                "/",
                "/dev",
                "/dev/p",
                "/etc",
                "/lib",
                "/opt",
                "/opt/new",
                "/usr",
                "/usr/lib",
                "/usr/lib/x",
                "/usr/lib/y"
            ]
        );
        assert_eq!(fs::read(root.join("usr/lib/x")).unwrap(), b"two");
        // The hard link was made to the bottom layer's file, which the top one replaced.
        assert_eq!(fs::read(root.join("usr/lib/y")).unwrap(), b"one");
        assert_eq!(files["/usr/lib/y"].link.as_deref(), Some("/usr/lib/x"));
        let sha = |data: &[u8]| Some(format!("{:x}", Sha256::digest(data)));
        assert_eq!(files["/usr/lib/y"].sha256, sha(b"one"));
        assert_eq!(files["/usr/lib/x"].sha256, sha(b"two"));
        assert_eq!(files["/etc"].mode, 0o755);
        assert_eq!(files["/lib"].kind, "symlink");
        assert_eq!(
            fs::read_link(root.join("lib")).unwrap(),
            Path::new("usr/lib")
        );
        assert_eq!(files["/dev/p"].kind, "fifo");
        assert!(!root.join("dev/p").exists());
        assert!(!root.join("etc/su").exists() && !root.join("opt/old").exists());
        assert_eq!((files["/opt/new"].uid, files["/opt/new"].size), (1000, 3));
    }

    #[test]
    fn hostile_layers_are_refused() {
        for (members, says) in [
            (
                vec![
                    ("lib", L, 0o777, &b""[..], Some("/tmp")),
                    ("lib/evil", F, 0o644, b"x", None),
                ],
                "/lib is a symlink",
            ),
            (vec![("../evil", F, 0o644, b"x", None)], "leaves the image"),
            (
                vec![("a", Link, 0o644, b"", Some("nothing"))],
                "which is no file",
            ),
        ] {
            let (_t, files) = unpacked(&[layer(&members)]);
            let e = files.unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        }
    }

    #[test]
    fn diffs_name_what_changed() {
        let old = layer(&[
            ("a", F, 0o644, b"same", None),
            ("b", F, 0o644, b"before", None),
            ("c", F, 0o755, b"mode", None),
            ("gone", F, 0o644, b"", None),
        ]);
        let new = layer(&[
            ("a", F, 0o644, b"same", None),
            ("b", F, 0o644, b"after", None),
            ("c", F, 0o4755, b"mode", None),
            ("came", L, 0o777, b"", Some("a")),
        ]);
        let (_t1, old) = unpacked(&[old]);
        let (_t2, new) = unpacked(&[new]);
        let d = diff_files(&old.unwrap(), &new.unwrap());
        let names = |v: &[PathEntry]| v.iter().map(|e| e.path.clone()).collect::<Vec<_>>();
        assert_eq!(names(&d.added), ["/came"]);
        assert_eq!(names(&d.removed), ["/gone"]);
        let changed: Vec<&str> = d.changed.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(changed, ["/b", "/c"]);
        assert_eq!(d.changed[1].new.mode, 0o4755);
    }
}
