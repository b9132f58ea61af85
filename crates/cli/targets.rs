//! Turning the words on the command line into in-root paths of programs.

use std::path::{Path, PathBuf};

use depclose_resolve::Resolver;
use rayon::prelude::*;

/// A target as the user named it, made an absolute path inside the root; for a directory,
/// every ELF file in it (then `true`).
pub(crate) fn expand(
    resolver: &Resolver,
    word: &str,
    cwd: &Path,
    path_var: &str,
) -> Result<(Vec<PathBuf>, bool), String> {
    let root = resolver.root();
    let path = if word.contains('/') {
        // `./prog` names the same path as `prog` in the cwd; drop the `.` components.
        let p: PathBuf = Path::new(word)
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect();
        let p = p.as_path();
        if root.is_host() {
            cwd.join(p)
        } else if let Some(inside) = root.in_root(p) {
            inside
        } else {
            Path::new("/").join(p)
        }
    } else {
        return resolver
            .find_command(word, path_var)
            .map(|p| (vec![p], false))
            .map_err(|e| {
                let local = cwd.join(word);
                if root.is_host() && local.is_file() {
                    format!("{e} (to analyse the file in this directory, write ./{word})")
                } else if word == "httpd" {
                    format!("{e} (Debian and Ubuntu name Apache's program apache2)")
                } else {
                    e.to_string()
                }
            });
    };
    let (resolved, meta) = root.metadata(&path).map_err(|e| e.to_string())?;
    if !meta.is_dir() {
        return Ok((vec![path], false));
    }
    let host = root.host_path(&resolved.real);
    let mut found = Vec::new();
    for entry in walkdir::WalkDir::new(&host).sort_by_file_name() {
        let entry = entry.map_err(|e| format!("{}: {e}", host.display()))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(&host).unwrap_or(entry.path());
        found.push(rel.to_path_buf());
    }
    // Only ELF programs and shared objects are targets; reading them is most of the work, so
    // it runs in parallel (and the resolver remembers what it read).
    Ok((
        found
            .into_par_iter()
            .filter(|rel| resolver.is_elf_object(&resolved.real.join(rel)))
            .map(|rel| path.join(rel))
            .collect(),
        true,
    ))
}
