//! An output file whose path only ever names nothing, the old file or the whole new one:
//! written unnamed (`O_TMPFILE`) in the destination's directory and linked in at the end, so
//! that even a SIGKILL leaves no partial or temporary file. Where the filesystem has no
//! `O_TMPFILE` (or `/proc` is not mounted, which linking it in needs), a named temporary
//! file beside it ([`temp_prefix`]) is renamed over the destination; a SIGKILL can leave
//! that one behind, never a partial destination, and the next run there removes it
//! ([`crate::sweep`]).

use std::fs::{File, Permissions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, CWD, Mode, OFlags};
use rustix::io::Errno;

use crate::{Error, temp_prefix};

/// A file being written for `dest`; dropped without [`AtomicFile::commit`], it is gone.
#[derive(Debug)]
pub struct AtomicFile {
    file: File,
    dir: PathBuf,
    dest: PathBuf,
    kind: String,
    /// The named fallback, when the file could not be created unnamed.
    named: Option<tempfile::TempPath>,
}

impl AtomicFile {
    /// Starts writing `dest`, in its directory (so the final step is a link or a rename,
    /// never a copy). `kind` names the fallback temporary file (`.depclose-KIND-PID-…`).
    pub fn create(dest: &Path, kind: &str) -> Result<AtomicFile, Error> {
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let unnamed = if Path::new("/proc/self/fd").is_dir() {
            rustix::fs::openat(
                CWD,
                &dir,
                OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
        } else {
            Err(Errno::NOTSUP)
        };
        let (file, named) = match unnamed {
            Ok(fd) => (File::from(fd), None),
            // The filesystem (or kernel) has no O_TMPFILE.
            Err(Errno::NOTSUP | Errno::ISDIR | Errno::INVAL) => {
                let (file, path) = tempfile::Builder::new()
                    .prefix(&temp_prefix(kind))
                    .tempfile_in(&dir)
                    .map_err(Error::io(&dir))?
                    .into_parts();
                (file, Some(path))
            }
            Err(e) => return Err(Error::io(&dir)(e.into())),
        };
        // Its names (a fallback, the moment before a rename) are not swept while it is open.
        crate::temp::lock_exclusive(&file).map_err(Error::io(&dir))?;
        Ok(AtomicFile {
            file,
            dir,
            dest: dest.to_path_buf(),
            kind: kind.to_owned(),
            named,
        })
    }

    /// The file to write the contents to.
    pub fn file_mut(&mut self) -> &mut File {
        &mut self.file
    }

    /// Gives the file `mode`, syncs it and puts it at the destination, replacing what was
    /// there in one step.
    pub fn commit(self, mode: u32) -> Result<(), Error> {
        let dest = &self.dest;
        self.file
            .set_permissions(Permissions::from_mode(mode))
            .and_then(|()| self.file.sync_all())
            .map_err(Error::io(dest))?;
        if let Some(named) = self.named {
            return named.persist(dest).map_err(|e| Error::io(dest)(e.error));
        }
        let fd = format!("/proc/self/fd/{}", self.file.as_raw_fd());
        let link = |to: &Path| rustix::fs::linkat(CWD, &fd, CWD, to, AtFlags::SYMLINK_FOLLOW);
        // No destination yet: linked straight there, never under a name of its own.
        match link(dest) {
            Ok(()) => return Ok(()),
            Err(Errno::EXIST) => {}
            Err(e) => return Err(Error::io(dest)(e.into())),
        }
        // A name of this process's (a stale one of a dead process with the same pid is
        // skipped), renamed over the old file.
        let mut attempt = 0u32;
        let tmp = loop {
            let tmp = self
                .dir
                .join(format!("{}{attempt}", temp_prefix(&self.kind)));
            match link(&tmp) {
                Ok(()) => break tmp,
                Err(Errno::EXIST) if attempt < 100 => attempt += 1,
                Err(e) => return Err(Error::io(&tmp)(e.into())),
            }
        };
        std::fs::rename(&tmp, dest).map_err(|e: io::Error| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(dest)(e)
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;

    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// While it is written the file has no name (where the filesystem allows); committed, it
    /// is the destination, new or replaced, with its mode; dropped, nothing is left.
    #[test]
    fn only_the_whole_file_ever_has_a_name() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out");
        for round in ["new", "replaced"] {
            let mut out = AtomicFile::create(&dest, "test").unwrap();
            out.file_mut().write_all(round.as_bytes()).unwrap();
            if out.named.is_none() {
                let want: &[&str] = if round == "new" { &[] } else { &["out"] };
                assert_eq!(names(dir.path()), want, "{round}");
            }
            out.commit(0o640).unwrap();
            assert_eq!(std::fs::read(&dest).unwrap(), round.as_bytes());
            assert_eq!(names(dir.path()), ["out"], "{round}");
        }
        assert_eq!(std::fs::metadata(&dest).unwrap().mode() & 0o7777, 0o640);
        let mut out = AtomicFile::create(&dest, "test").unwrap();
        out.file_mut().write_all(b"abandoned").unwrap();
        drop(out);
        assert_eq!(std::fs::read(&dest).unwrap(), b"replaced");
        assert_eq!(names(dir.path()), ["out"]);
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = AtomicFile::create(&dir.path().join("no/out"), "test").unwrap_err();
        assert!(err.to_string().contains("no"), "{err}");
        assert!(matches!(err, Error::Io { .. }), "{err:?}");
    }
}
