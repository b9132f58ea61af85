//! From what the tracer saw to what the trace says: each thing once, only what the run
//! found in place (not what it wrote), each path of the kind of file its event needs.

use std::collections::HashSet;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::{Event, Kind, LeftOut, Why};

/// A file-system timestamp, to compare with change times.
pub(crate) type Stamp = (i64, i64);

/// The time as file systems stamp files: the coarse clock, which can be a tick behind the
/// fine one, so that a file the run writes at once is not stamped before the run began.
pub(crate) fn now() -> Stamp {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_REALTIME_COARSE)
        .map(|t| (t.tv_sec(), t.tv_nsec()))
        .unwrap_or((0, 0))
}

/// What the tracer saw, each (program, kind, path) once, in order.
#[derive(Debug, Default)]
pub(crate) struct Raw {
    seen: HashSet<(PathBuf, Kind, PathBuf)>,
    events: Vec<(u32, PathBuf, Kind, PathBuf)>,
}

impl Raw {
    pub(crate) fn push(&mut self, pid: u32, program: PathBuf, kind: Kind, path: PathBuf) {
        if self.seen.insert((program.clone(), kind, path.clone())) {
            self.events.push((pid, program, kind, path));
        }
    }
}

/// The events of `raw` that name what was there before the run (`start`) and still is,
/// with the right kind of file: a regular file for what was executed, mapped or opened, a
/// directory for what was listed, either for what was looked up. A file also mapped or
/// executed is not also "opened", and one used any way is not also "looked up".
/// Paths are in-root; `root` is where the root is on the host (`None`: the host).
pub(crate) fn settle(raw: Raw, root: Option<&Path>, start: Stamp) -> (Vec<Event>, Vec<LeftOut>) {
    let inside = root.map(InRoot::new);
    let metadata = |p: &Path| match (&inside, root) {
        (Some(Ok(r)), _) => r.metadata(p),
        (_, Some(r)) => std::fs::metadata(r.join(p.strip_prefix("/").unwrap_or(p))),
        (_, None) => std::fs::metadata(p),
    };
    let of = |kinds: &[Kind]| -> HashSet<&Path> {
        raw.events
            .iter()
            .filter(|e| kinds.contains(&e.2))
            .map(|e| e.3.as_path())
            .collect()
    };
    let loaded = of(&[Kind::Map, Kind::Exec]);
    let read = of(&[Kind::Map, Kind::Exec, Kind::Open, Kind::List]);
    let mut events = Vec::new();
    let mut left_out: Vec<LeftOut> = Vec::new();
    let mut said = HashSet::new();
    for (pid, program, kind, path) in &raw.events {
        // What a path was used for says more than that it was opened or looked up.
        let covered = match kind {
            Kind::Open => loaded.contains(path.as_path()),
            Kind::Stat => read.contains(path.as_path()),
            _ => false,
        };
        if covered {
            continue;
        }
        let mut leave = |why: Why| {
            if said.insert(path.clone()) {
                left_out.push(LeftOut {
                    path: path.to_string_lossy().into_owned(),
                    why,
                });
            }
        };
        let meta = match metadata(path) {
            Ok(m) => m,
            Err(_) => {
                leave(Why::Gone);
                continue;
            }
        };
        if written(&meta, start) {
            leave(Why::Written);
            continue;
        }
        let fits = match kind {
            Kind::List => meta.is_dir(),
            Kind::Exec | Kind::Map | Kind::Open => meta.is_file(),
            Kind::Stat => meta.is_file() || meta.is_dir(),
        };
        if !fits {
            continue;
        }
        let (Some(p), Some(prog)) = (path.to_str(), program.to_str()) else {
            leave(Why::NotUtf8);
            continue;
        };
        events.push(Event {
            pid: *pid,
            program: prog.to_owned(),
            kind: *kind,
            path: p.to_owned(),
        });
    }
    (events, left_out)
}

/// A root directory, for looking paths up as the programs inside it see them: an absolute
/// symlink leads to the root's own file, not the host's (`openat2` with `RESOLVE_IN_ROOT`).
struct InRoot(OwnedFd);

impl InRoot {
    fn new(root: &Path) -> std::io::Result<InRoot> {
        let dir = std::fs::File::open(root)?;
        Ok(InRoot(dir.into()))
    }

    fn metadata(&self, path: &Path) -> std::io::Result<std::fs::Metadata> {
        let rel = CString::new(path.as_os_str().as_bytes())?;
        /// `struct open_how` (`<linux/openat2.h>`).
        #[repr(C)]
        struct OpenHow {
            flags: u64,
            mode: u64,
            resolve: u64,
        }
        let how = OpenHow {
            flags: (libc::O_PATH | libc::O_CLOEXEC) as u64,
            mode: 0,
            resolve: libc::RESOLVE_IN_ROOT,
        };
        // SAFETY: valid pointers to a C string and an `open_how` of the size passed.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                self.0.as_raw_fd(),
                rel.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let fd = libc::c_int::try_from(fd).map_err(|_| std::io::Error::other("bad descriptor"))?;
        // SAFETY: openat2 returned a fresh descriptor that nothing else owns.
        let file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        file.metadata()
    }
}

/// Whether the run made this: a file it created or changed, a directory it created (one it
/// only added entries to changed too, but was there before). Without birth times a
/// directory counts as found.
fn written(meta: &std::fs::Metadata, start: Stamp) -> bool {
    if !meta.is_dir() {
        return (meta.ctime(), meta.ctime_nsec()) >= start;
    }
    meta.created()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .is_some_and(|d| {
            (
                i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                i64::from(d.subsec_nanos()),
            ) >= start
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn settles_to_what_was_there_before_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("input"), "x").unwrap();
        std::fs::create_dir(d.join("listed")).unwrap();
        std::fs::write(d.join("lib.so"), "x").unwrap();
        // An absolute link inside the root: to the root's file, which the host lacks.
        std::fs::create_dir(d.join("only-in-root")).unwrap();
        std::fs::write(d.join("only-in-root/file"), "x").unwrap();
        std::os::unix::fs::symlink("/only-in-root/file", d.join("link")).unwrap();
        // A coarse tick later, so that the files above are older than the run.
        std::thread::sleep(std::time::Duration::from_millis(30));
        let start = now();
        std::fs::write(d.join("output"), "y").unwrap();
        std::fs::write(d.join("listed/new"), "y").unwrap();
        std::fs::create_dir(d.join("made")).unwrap();
        let p = |n: &str| Path::new("/").join(n);
        let prog = PathBuf::from("/bin/prog");
        let mut raw = Raw::default();
        raw.push(1, prog.clone(), Kind::Open, p("input"));
        raw.push(1, prog.clone(), Kind::Open, p("link"));
        raw.push(2, prog.clone(), Kind::Open, p("input"));
        raw.push(1, prog.clone(), Kind::Open, p("output"));
        raw.push(1, prog.clone(), Kind::Open, p("temporary"));
        raw.push(1, prog.clone(), Kind::Open, p("listed"));
        raw.push(1, prog.clone(), Kind::List, p("listed"));
        raw.push(1, prog.clone(), Kind::List, p("input"));
        raw.push(1, prog.clone(), Kind::List, p("made"));
        raw.push(1, prog.clone(), Kind::Open, p("lib.so"));
        raw.push(1, prog.clone(), Kind::Map, p("lib.so"));
        let (events, left_out) = settle(raw, Some(d), start);
        let got: Vec<(u32, Kind, &str)> = events
            .iter()
            .map(|e| (e.pid, e.kind, e.path.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (1, Kind::Open, "/input"),
                (1, Kind::Open, "/link"),
                (1, Kind::List, "/listed"),
                (1, Kind::Map, "/lib.so")
            ]
        );
        let left: Vec<(&str, Why)> = left_out.iter().map(|l| (l.path.as_str(), l.why)).collect();
        let birth_times = std::fs::metadata(d).unwrap().created().is_ok();
        let mut want = vec![("/output", Why::Written), ("/temporary", Why::Gone)];
        if birth_times {
            want.push(("/made", Why::Written));
        }
        assert_eq!(left, want);
    }
}
