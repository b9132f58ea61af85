//! What makes an image's packages visible to scanners, and its SBOM (docs/sbom.md): the
//! glue from the staged tree and the root's dpkg database to `depclose-audit`'s status.d
//! stanzas and SBOM documents.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use md5::Md5;
use rayon::prelude::*;
use sha1::Sha1;
use sha2::Sha256;
use sha2::digest::{Digest, DynDigest};

use depclose_audit::packages::{Md5sums, Package, Packages, STATUS_D, md5sums_file};
use depclose_audit::sbom;
use depclose_elf::name;
use depclose_pack::{Entry, Tree};
use depclose_resolve::{Closure, EdgeTarget, Root};

use crate::error::Error;
use crate::image;
use crate::json::{hash_file, hex};

/// The os-release files scanners read to name the distribution, in the order they look.
const OS_RELEASE: [&str; 2] = ["/etc/os-release", "/usr/lib/os-release"];

/// A file added for scanners, and why.
#[derive(Debug, Clone)]
pub(crate) struct Metadata {
    pub(crate) path: PathBuf,
    pub(crate) kind: Kind,
    /// The package it speaks for (`None` for os-release).
    pub(crate) package: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Status,
    Md5sums,
    Copyright,
    OsRelease,
}

impl Kind {
    /// The name the JSON report gives it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Status => "dpkg_status",
            Kind::Md5sums => "dpkg_md5sums",
            Kind::Copyright => "copyright",
            Kind::OsRelease => "os_release",
        }
    }
}

impl Metadata {
    /// Why it is in the image, in words.
    pub(crate) fn reason(&self) -> String {
        let package = self.package.as_deref().unwrap_or("");
        match self.kind {
            Kind::Status => format!("dpkg status of {package}, for scanners"),
            Kind::Md5sums => format!("md5 sums of the files of {package} in the image"),
            Kind::Copyright => format!("licence of {package}, which ships files of the image"),
            Kind::OsRelease => "the distribution, for scanners".to_owned(),
        }
    }
}

/// An entry of the tree that a package of the root ships.
struct Owned<'p> {
    /// In the image.
    path: PathBuf,
    /// In the root.
    in_root: PathBuf,
    /// For a regular file: its host path.
    file: Option<PathBuf>,
    package: &'p Package,
}

/// Which package ships each file and symlink of the tree, as `dpkg -S` answers for its path
/// in the root. A file is the root's when its source is inside the root; a symlink when the
/// root has the same link at the same path, to a file. Generated files are nobody's.
/// Only the paths not in `asked` are looked up, and they join it: a tree that grows asks
/// about its new entries alone.
fn owned<'p>(
    root: &Root,
    packages: &'p Packages,
    tree: &Tree,
    asked: &mut HashSet<PathBuf>,
) -> Vec<Owned<'p>> {
    tree.entries()
        .filter(|(path, _)| asked.insert(path.clone()))
        .filter_map(|(path, entry)| {
            let (in_root, file) = match entry {
                Entry::File { source } => (root.in_root(source)?, Some(source.to_path_buf())),
                // A link to a directory (merged-/usr's `/lib`) is a directory to dpkg, which
                // lists it for every package with files below it.
                Entry::Symlink { .. } if root.is_dir(&path) => return None,
                Entry::Symlink { target } => {
                    let there = std::fs::read_link(root.host_path(&path)).ok()?;
                    (there.as_os_str() == target).then(|| (path.clone(), None))?
                }
                Entry::Dir | Entry::Bytes { .. } => return None,
            };
            let package = packages.owner(root, &in_root)?;
            Some(Owned {
                path,
                in_root,
                file,
                package,
            })
        })
        .collect()
}

/// A package's identity, for sets and ordering.
fn key(p: &Package) -> (&str, &str) {
    (&p.name, &p.architecture)
}

/// The packages that ship entries of the tree, by name and architecture.
fn owners<'p>(owned: &[Owned<'p>]) -> BTreeMap<(&'p str, &'p str), &'p Package> {
    owned.iter().map(|o| (key(o.package), o.package)).collect()
}

/// Stage what scanners read: the root's os-release files (as the root has them: on Debian
/// `/etc/os-release` is a link to `../usr/lib/os-release`), the copyright file of every
/// package that ships an entry of the image, and per package its status stanza and the md5
/// sums of its files in the image under `/var/lib/dpkg/status.d`. What the tree holds
/// already (an `--add`ed file) is left as it is.
pub(crate) fn stage_metadata(
    root: &Root,
    cwd: &Path,
    tree: &mut Tree,
    packages: Option<&Packages>,
) -> Result<Vec<Metadata>, Error> {
    let mut out = Vec::new();
    let is_file = |p: &Path| root.metadata(p).is_ok_and(|(_, m)| m.is_file());
    for p in OS_RELEASE.map(Path::new) {
        if !tree.contains(p) && is_file(p) {
            image::stage_recipe_path(tree, root, cwd, p)?;
            // The link and the file it names, each once.
            for path in [p.to_path_buf(), root.resolve(p)?.real] {
                if !out.iter().any(|m: &Metadata| m.path == path) {
                    out.push(Metadata {
                        path,
                        kind: Kind::OsRelease,
                        package: None,
                    });
                }
            }
        }
    }
    let Some(packages) = packages else {
        return Ok(out);
    };
    // Until no package joins: a doc directory may link into another package's (Debian's
    // libgcc-s1 → gcc-12-base), whose copyright file makes that package an owner too.
    let mut done: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut owned = Vec::new();
    let mut asked = HashSet::new();
    loop {
        owned.extend(self::owned(root, packages, tree, &mut asked));
        let new: Vec<&Package> = owners(&owned)
            .into_values()
            .filter(|p| !done.contains(&key(p)))
            .collect();
        if new.is_empty() {
            break;
        }
        for p in new {
            done.insert(key(p));
            let copyright = PathBuf::from(format!("/usr/share/doc/{}/copyright", p.name));
            if !tree.contains(&copyright) && is_file(&copyright) {
                image::stage_recipe_path(tree, root, cwd, &copyright)?;
                out.push(Metadata {
                    // Where the image holds it: the doc directory may be a link.
                    path: root.resolve(&copyright)?.real,
                    kind: Kind::Copyright,
                    package: Some(p.name.clone()),
                });
            }
        }
    }
    let by_package = owners(&owned);
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (name, _) in by_package.keys() {
        *names.entry(name).or_default() += 1;
    }
    for (&(name, arch), package) in &by_package {
        // Named after the package, as distroless names them; a name installed for two
        // architectures gets the architecture too.
        let file = if names[name] > 1 {
            format!("{name}:{arch}")
        } else {
            name.to_owned()
        };
        let stanza = Path::new(STATUS_D).join(&file);
        tree.add_bytes(&stanza, package.stanza(), 0o644)?;
        out.push(Metadata {
            path: stanza,
            kind: Kind::Status,
            package: Some(name.to_owned()),
        });
        let recorded = Md5sums::read(root, package)?;
        let files: Vec<(&Owned<'_>, &PathBuf)> = owned
            .iter()
            .filter(|o| key(o.package) == (name, arch))
            .filter_map(|o| o.file.as_ref().map(|f| (o, f)))
            .collect();
        let sums = files
            .par_iter()
            .map(|(o, host)| {
                let sum = match recorded.get(root, &o.in_root) {
                    Some(sum) => sum.to_owned(),
                    // Conffiles have no recorded sum.
                    None => hash_file(host, &mut [Box::new(Md5::new())])
                        .map(|[d]| d)
                        .map_err(|source| Error::Io {
                            path: host.to_path_buf(),
                            source,
                        })?,
                };
                Ok((sum, o.path.clone()))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        if !sums.is_empty() {
            let path = Path::new(STATUS_D).join(format!("{file}.md5sums"));
            tree.add_bytes(&path, md5sums_file(&sums), 0o644)?;
            out.push(Metadata {
                path,
                kind: Kind::Md5sums,
                package: Some(name.to_owned()),
            });
        }
    }
    Ok(out)
}

/// What the SBOM says, but the image's manifest digest (known once the image is written).
#[derive(Debug)]
pub(crate) struct SbomFacts<'p> {
    packages: Vec<&'p Package>,
    licenses: Vec<Option<String>>,
    files: Vec<sbom::File>,
    links: Vec<(usize, usize)>,
    distro: Option<sbom::Distro>,
}

/// Gather the SBOM's facts from the tree as it will be written: every regular file with its
/// SHA-1 and SHA-256 and the package that ships it, every package that ships an entry, and
/// which file needs which (`DT_NEEDED`, by their paths in the image).
pub(crate) fn sbom_facts<'p>(
    root: &Root,
    tree: &Tree,
    packages: Option<&'p Packages>,
    closures: &[Closure],
    moved: &HashMap<PathBuf, PathBuf>,
) -> Result<SbomFacts<'p>, Error> {
    let owned = packages
        .map(|p| owned(root, p, tree, &mut HashSet::new()))
        .unwrap_or_default();
    let by_package = owners(&owned);
    let index: HashMap<(&str, &str), usize> = by_package
        .keys()
        .enumerate()
        .map(|(i, &k)| (k, i))
        .collect();
    let owner_of: HashMap<&Path, usize> = owned
        .iter()
        .map(|o| (o.path.as_path(), index[&key(o.package)]))
        .collect();
    // The regular files, with their contents: a host file or generated bytes.
    let entries: Vec<(PathBuf, Result<&Path, &[u8]>)> = tree
        .entries()
        .filter_map(|(path, e)| match e {
            Entry::File { source } => Some((path, Ok(source))),
            Entry::Bytes { contents } => Some((path, Err(contents))),
            Entry::Dir | Entry::Symlink { .. } => None,
        })
        .collect();
    let files = entries
        .par_iter()
        .map(|(path, contents)| {
            let mut hashers: [Box<dyn DynDigest>; 2] =
                [Box::new(Sha256::new()), Box::new(Sha1::new())];
            let [sha256, sha1] = match contents {
                Ok(source) => hash_file(source, &mut hashers).map_err(|e| Error::Io {
                    path: source.to_path_buf(),
                    source: e,
                })?,
                Err(bytes) => hashers.each_mut().map(|h| {
                    h.update(bytes);
                    hex(&h.finalize_reset())
                }),
            };
            Ok(sbom::File {
                path: name::from_path(path).into_owned(),
                sha256,
                sha1,
                package: owner_of.get(path.as_path()).copied(),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let file_index: HashMap<&Path, usize> = entries
        .iter()
        .enumerate()
        .map(|(i, (p, _))| (p.as_path(), i))
        .collect();
    let mut links = Vec::new();
    for c in closures {
        // Objects are staged at their real paths; the target of `--add SRC:DEST` at DEST.
        let at = |i: usize| match moved.get(&c.target) {
            Some(dest) if i == 0 => dest.as_path(),
            _ => c.objects[i].real.as_path(),
        };
        for (i, o) in c.objects.iter().enumerate() {
            for edge in &o.deps {
                if let EdgeTarget::Object(t) = edge.target {
                    if let (Some(&a), Some(&b)) = (file_index.get(at(i)), file_index.get(at(t))) {
                        links.push((a, b));
                    }
                }
            }
        }
    }
    links.sort_unstable();
    links.dedup();
    let distro = OS_RELEASE.iter().find_map(|p| {
        let text = root.read(Path::new(p)).ok()?;
        sbom::Distro::from_os_release(&String::from_utf8_lossy(&text))
    });
    let packages: Vec<&Package> = by_package.into_values().collect();
    let licenses = packages
        .iter()
        .map(|p| depclose_audit::packages::license(root, &p.name))
        .collect();
    Ok(SbomFacts {
        packages,
        licenses,
        files,
        links,
        distro,
    })
}

impl SbomFacts<'_> {
    /// How many packages and files the SBOM lists.
    pub(crate) fn counts(&self) -> (usize, usize) {
        (self.packages.len(), self.files.len())
    }

    /// The document for the image `tag` (`name:tag`) with this manifest digest.
    pub(crate) fn document(
        &self,
        format: sbom::Format,
        tag: &str,
        architecture: &str,
        manifest_digest: &str,
        epoch: u64,
    ) -> Result<Vec<u8>, depclose_pack::ArtifactError> {
        // The tag is what follows the last `:` after the last `/` (a registry may have a
        // port); the writer checked the reference, so one is there.
        let (name, tag) = match tag.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => (n, t),
            _ => (tag, "latest"),
        };
        let input = sbom::Input {
            image: sbom::Image {
                name: name.to_owned(),
                tag: tag.to_owned(),
                manifest_digest: manifest_digest.to_owned(),
                architecture: architecture.to_owned(),
            },
            distro: self.distro.clone(),
            created: depclose_pack::rfc3339(epoch)?,
            tool: ("depclose", env!("CARGO_PKG_VERSION")),
            packages: self
                .packages
                .iter()
                .zip(&self.licenses)
                .map(|(package, license)| sbom::PackageEntry {
                    package,
                    license: license.as_deref(),
                })
                .collect(),
            files: self.files.clone(),
            links: self.links.clone(),
        };
        Ok(sbom::document(&input, format)?)
    }
}
