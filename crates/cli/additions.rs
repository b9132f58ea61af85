//! `--add SRC[:DEST]`: files and directories the user adds to an image, located in the root
//! once and walked when they are analysed and staged.

use std::path::{Path, PathBuf};

use depclose_resolve::{Resolver, Root};
use depclose_runtime::Overlay;

use crate::config::AddSpec;
use crate::error::Error;

/// One `--add`, located in the root.
#[derive(Debug, Clone)]
pub(crate) struct Addition {
    /// Where it is, in the root.
    pub(crate) src: PathBuf,
    /// Where it goes; by default the real path of SRC, with the symlinks on the way to it
    /// reproduced (as for every path the loader opens).
    pub(crate) dest: Option<PathBuf>,
    /// Subtrees of SRC left out (in-root paths).
    pub(crate) except: Vec<PathBuf>,
}

/// One thing an addition holds.
pub(crate) enum Entry {
    Dir,
    File,
    Symlink(PathBuf),
}

impl Addition {
    /// SRC is relative to depclose's working directory on the host root, and to the root
    /// itself in a sysroot (where an absolute host path into the sysroot is accepted too).
    pub(crate) fn locate(root: &Root, cwd: &Path, spec: &AddSpec) -> Addition {
        let src = if root.is_host() {
            cwd.join(&spec.src)
        } else {
            Path::new("/").join(&spec.src)
        };
        let src = root
            .in_root(&src)
            .filter(|_| !root.is_host())
            .unwrap_or(src);
        Addition {
            src,
            dest: spec.dest.clone(),
            except: Vec::new(),
        }
    }

    /// Where the addition's top lands in the image.
    pub(crate) fn image_path(&self, root: &Root) -> PathBuf {
        match &self.dest {
            Some(d) => d.clone(),
            None => root
                .resolve(&self.src)
                .map(|r| r.real)
                .unwrap_or_else(|_| self.src.clone()),
        }
    }

    /// Walk the addition: the source itself (symlinks on the way to it are resolved), and
    /// for a directory everything below it, symlinks kept as symlinks. `f` gets the in-root
    /// source, the image path and what it is.
    pub(crate) fn for_each_entry(
        &self,
        root: &Root,
        f: &mut dyn FnMut(&Path, &Path, Entry) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let (resolved, meta) = root.metadata(&self.src).map_err(Error::Addition)?;
        let base = self.dest.clone().unwrap_or_else(|| resolved.real.clone());
        if !meta.is_dir() {
            return f(&resolved.real, &base, Entry::File);
        }
        let host = root.host_path(&resolved.real);
        let except: Vec<PathBuf> = self
            .except
            .iter()
            .filter_map(|e| e.strip_prefix(&self.src).ok())
            .map(|rel| host.join(rel))
            .collect();
        let walk = walkdir::WalkDir::new(&host)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| !except.iter().any(|x| e.path().starts_with(x)));
        for entry in walk {
            let entry = entry.map_err(|source| Error::Walk {
                path: self.src.clone(),
                source,
            })?;
            let rel = entry.path().strip_prefix(&host).unwrap_or(entry.path());
            let src = resolved.real.join(rel);
            let dest = if rel.as_os_str().is_empty() {
                base.clone()
            } else {
                base.join(rel)
            };
            let ft = entry.file_type();
            let kind = if ft.is_symlink() {
                Entry::Symlink(
                    std::fs::read_link(entry.path()).map_err(|source| Error::Io {
                        path: src.clone(),
                        source,
                    })?,
                )
            } else if ft.is_dir() {
                Entry::Dir
            } else {
                Entry::File
            };
            f(&src, &dest, kind)?;
        }
        Ok(())
    }
}

/// The ELF files among the additions, to analyse; the files themselves are staged later.
/// Each is (where it is in the root, where it goes in the image).
pub(crate) fn elf_files(
    resolver: &Resolver,
    additions: &[Addition],
) -> Result<Vec<(PathBuf, PathBuf)>, Error> {
    let mut out = Vec::new();
    for add in additions {
        add.for_each_entry(resolver.root(), &mut |src, dest, kind| {
            if matches!(kind, Entry::File) && resolver.is_elf_object(src) {
                out.push((src.to_path_buf(), dest.to_path_buf()));
            }
            Ok(())
        })?;
    }
    Ok(out)
}

/// The image's own files over the root's, as the recipes and the program will see them:
/// each addition's image path shows its source (a later addition wins).
pub(crate) fn overlay<'r>(root: &'r Root, additions: &[Addition]) -> Overlay<&'r Root> {
    let map = additions
        .iter()
        .map(|add| (add.image_path(root), add.src.clone()))
        .collect();
    Overlay::new(root, map)
}
