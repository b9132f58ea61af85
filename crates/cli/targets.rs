//! Turning the words on the command line into in-root paths of programs.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use depclose_elf::name;
use depclose_resolve::Resolver;
use rayon::prelude::*;

use crate::error::Error;

/// The programs one word on the command line names.
pub(crate) struct Found {
    /// Absolute in-root paths.
    pub(crate) paths: Vec<PathBuf>,
    /// The directory the word named (in-root, real), whose ELF files these are.
    pub(crate) dir: Option<PathBuf>,
}

/// A target as the user named it, made an absolute path inside the root; for a directory,
/// every ELF file in it.
pub(crate) fn expand(
    resolver: &Resolver,
    word: &OsStr,
    cwd: &Path,
    path_var: &str,
) -> Result<Found, Error> {
    let root = resolver.root();
    if !word.as_bytes().contains(&b'/') {
        let command = name::from_os(word);
        let path = resolver.find_command(&command, path_var).map_err(|e| {
            let hint = if root.is_host() && cwd.join(word).is_file() {
                Some(format!(
                    "to analyse the file in this directory, write ./{command}"
                ))
            } else if word == "httpd" {
                Some("Debian and Ubuntu name Apache's program apache2".to_owned())
            } else {
                None
            };
            match hint {
                Some(hint) => Error::CommandNotFound { source: e, hint },
                None => e.into(),
            }
        })?;
        return Ok(Found {
            paths: vec![path],
            dir: None,
        });
    }
    // `./prog` names the same path as `prog` in the cwd; drop the `.` components.
    let p: PathBuf = Path::new(word)
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect();
    let path = if root.is_host() {
        cwd.join(&p)
    } else if let Some(inside) = root.in_root(&p) {
        inside
    } else {
        Path::new("/").join(&p)
    };
    let (resolved, meta) = root.metadata(&path)?;
    if !meta.is_dir() {
        return Ok(Found {
            paths: vec![path],
            dir: None,
        });
    }
    let host = root.host_path(&resolved.real);
    // Only ELF programs and shared objects are targets. Reading the files is most of the
    // work, so it runs in parallel, a batch at a time: a tree such as /usr holds hundreds
    // of thousands of other files, whose names need not all be held at once.
    const BATCH: usize = 4096;
    let elf_objects = |batch: &mut Vec<PathBuf>| -> Vec<PathBuf> {
        std::mem::take(batch)
            .into_par_iter()
            .filter(|rel| resolver.is_listed_elf_object(&resolved.real.join(rel)))
            .map(|rel| path.join(rel))
            .collect()
    };
    let mut found = Vec::new();
    let mut batch = Vec::with_capacity(BATCH);
    for entry in walkdir::WalkDir::new(&host).sort_by_file_name() {
        let entry = entry.map_err(|source| Error::Walk {
            path: host.clone(),
            source,
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(&host).unwrap_or(entry.path());
        batch.push(rel.to_path_buf());
        if batch.len() == BATCH {
            found.extend(elf_objects(&mut batch));
        }
    }
    found.extend(elf_objects(&mut batch));
    Ok(Found {
        paths: found,
        dir: Some(resolved.real),
    })
}
