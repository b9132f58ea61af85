//! Temporary files and directories beside an output, and the removal of those a killed run
//! left behind.
//!
//! Each is named `.depclose-KIND-PID-…` ([`temp_prefix`]) and locked (`flock`) by the process
//! that made it for as long as it lives. A SIGKILL leaves it in place, unlocked; the next run
//! that writes there removes it ([`sweep`]) once both the pid in its name is gone and no one
//! holds its lock. The pid alone could be reused, or belong to another pid namespace sharing
//! the directory; the lock alone has a moment between creating and locking.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, Mode, OFlags};
use rustix::io::Errno;
use rustix::process::Pid;

const TEMP_START: &str = ".depclose-";

/// The name prefix of every temporary file or directory this process creates beside an
/// output (`.depclose-KIND-PID-`): a signal handler can find and remove exactly its own.
pub fn temp_prefix(kind: &str) -> String {
    format!("{TEMP_START}{kind}-{}-", std::process::id())
}

/// Whether a file name is one of this process's temporary files ([`temp_prefix`]).
pub fn is_own_temp(name: &str) -> bool {
    owner(name) == Some(std::process::id())
}

/// The pid in a temporary file's name.
fn owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(TEMP_START)?;
    let (_kind, rest) = rest.split_once('-')?;
    let (pid, _) = rest.split_once('-')?;
    pid.parse().ok()
}

/// A temporary directory named by [`temp_prefix`] in `parent`, locked while it lives and
/// removed when dropped.
#[derive(Debug)]
pub struct TempDir {
    dir: tempfile::TempDir,
    _lock: File,
}

impl TempDir {
    pub fn new_in(parent: &Path, kind: &str) -> io::Result<TempDir> {
        let dir = tempfile::Builder::new()
            .prefix(&temp_prefix(kind))
            .tempdir_in(parent)?;
        let lock = File::open(dir.path())?;
        lock_exclusive(&lock)?;
        Ok(TempDir { dir, _lock: lock })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Leaves the directory in place when dropped (it was renamed into place).
    pub fn disable_cleanup(&mut self) {
        self.dir.disable_cleanup(true);
    }
}

/// A temporary file named by [`temp_prefix`] in `parent`, locked while it is open and
/// removed when dropped.
pub fn temp_file_in(parent: &Path, kind: &str) -> io::Result<tempfile::NamedTempFile> {
    let file = tempfile::Builder::new()
        .prefix(&temp_prefix(kind))
        .tempfile_in(parent)?;
    lock_exclusive(file.as_file())?;
    Ok(file)
}

/// Locks `file` for this process: a lock of the open file, which every link to the inode
/// shares, released when the last descriptor of it closes.
pub(crate) fn lock_exclusive(file: &impl AsFd) -> io::Result<()> {
    rustix::fs::flock(file, FlockOperation::LockExclusive).map_err(io::Error::from)
}

/// A temporary file or directory [`sweep`] removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swept {
    pub path: PathBuf,
    /// The process that made it.
    pub pid: u32,
}

/// Removes from `dir` the temporary files and directories of depclose processes that ended
/// without removing them (a SIGKILL): those whose pid is gone and whose lock no one holds.
/// Anything else, and whatever cannot be checked, is left alone.
pub fn sweep(dir: &Path) -> Vec<Swept> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut swept = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(owner) else {
            continue;
        };
        if pid == std::process::id() || alive(pid) {
            continue;
        }
        let path = entry.path();
        // Never through a symlink: depclose makes none by such a name.
        let Ok(fd) = rustix::fs::open(
            &path,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        ) else {
            continue;
        };
        if rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive).is_err() {
            continue;
        }
        let removed = match entry.file_type() {
            Ok(t) if t.is_dir() => std::fs::remove_dir_all(&path),
            Ok(t) if t.is_file() => std::fs::remove_file(&path),
            _ => continue,
        };
        if removed.is_ok() {
            swept.push(Swept { path, pid });
        }
    }
    swept.sort_by(|a, b| a.path.cmp(&b.path));
    swept
}

/// Whether a process `pid` exists here (one of another user's counts).
fn alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return false;
    };
    !matches!(rustix::process::test_kill_process(pid), Err(Errno::SRCH))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A pid no process has: past the kernel's `pid_max`.
    const GONE: u32 = 99_999_999;

    #[test]
    fn names_carry_their_owner() {
        assert_eq!(owner(".depclose-rootfs-123-abc"), Some(123));
        assert_eq!(owner(".depclose-image-77-0"), Some(77));
        assert_eq!(owner(".depclose-rootfs-x-abc"), None);
        assert_eq!(owner("depclose-rootfs-1-abc"), None);
        assert!(is_own_temp(&format!("{}xyz", temp_prefix("verify"))));
        assert!(!is_own_temp(&format!(".depclose-verify-{GONE}-xyz")));
    }

    /// What a killed run left is removed; what a live or locked one holds, and what is not
    /// depclose's, is kept.
    #[test]
    fn sweep_removes_only_what_dead_runs_left() {
        let dir = tempfile::tempdir().unwrap();
        let at = |n: &str| dir.path().join(n);
        let dead_dir = at(&format!(".depclose-rootfs-{GONE}-a"));
        std::fs::create_dir(&dead_dir).unwrap();
        std::fs::write(dead_dir.join("f"), "x").unwrap();
        let dead_file = at(&format!(".depclose-image-{GONE}-0"));
        std::fs::write(&dead_file, "x").unwrap();
        // A dead pid, but locked: a process of another pid namespace.
        let locked = at(&format!(".depclose-verify-{GONE}-b"));
        std::fs::create_dir(&locked).unwrap();
        let lock = File::open(&locked).unwrap();
        lock_exclusive(&lock).unwrap();
        // Alive (pid 1), unlocked.
        let live = at(".depclose-push-1-c");
        std::fs::write(&live, "x").unwrap();
        let mine = TempDir::new_in(dir.path(), "diff").unwrap();
        let link = at(&format!(".depclose-image-{GONE}-1"));
        std::os::unix::fs::symlink(&live, &link).unwrap();
        let other = at(&format!("depclose-image-{GONE}-0"));
        std::fs::write(&other, "x").unwrap();

        let swept = sweep(dir.path());
        let want = vec![
            Swept {
                path: dead_file.clone(),
                pid: GONE,
            },
            Swept {
                path: dead_dir.clone(),
                pid: GONE,
            },
        ];
        assert_eq!(swept, want);
        assert!(!dead_dir.exists() && !dead_file.exists());
        for kept in [&locked, &live, &link, &other, &mine.path().to_path_buf()] {
            assert!(kept.symlink_metadata().is_ok(), "{kept:?}");
        }
        drop(lock);
        assert_eq!(sweep(dir.path()).len(), 1);
        assert!(!locked.exists());
    }
}
