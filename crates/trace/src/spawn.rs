//! Starting the command traced: fork, then in the child its own process group, the root
//! (chroot), the cwd, `PTRACE_TRACEME`, the seccomp filter, a stop for the tracer to set
//! its options, and `execve`. Everything the child uses is prepared before the fork: after
//! it, the child makes system calls only (no allocation, no locks).

use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::unistd::Pid;

use crate::{Command, Error};

/// The steps the child takes, for the message when one fails.
const STEPS: &[&str] = &[
    "setpgid",
    "chroot",
    "chdir",
    "dup2",
    "PTRACE_TRACEME",
    "execve",
];

/// The command's first process, stopped by `SIGSTOP` before its `execve`.
pub(crate) struct Child {
    pub(crate) pid: Pid,
    /// The read end of a close-on-exec pipe: the failed step and errno, or nothing once
    /// `execve` succeeded.
    errors: OwnedFd,
}

impl Child {
    /// Why the child exited without executing the program (read once it has exited).
    pub(crate) fn failure(self, program: &Path) -> Error {
        let mut bytes = Vec::new();
        let _ = std::fs::File::from(self.errors).read_to_end(&mut bytes);
        let (step, errno) = match bytes.as_slice() {
            [s, e0, e1, e2, e3] => (
                STEPS.get(usize::from(*s)).copied().unwrap_or("?"),
                i32::from_ne_bytes([*e0, *e1, *e2, *e3]),
            ),
            _ => ("execve", libc::ENOEXEC),
        };
        Error::Spawn {
            program: program.to_path_buf(),
            source: std::io::Error::new(
                std::io::Error::from_raw_os_error(errno).kind(),
                format!("{step}: {}", std::io::Error::from_raw_os_error(errno)),
            ),
        }
    }
}

fn c_string(bytes: &[u8], program: &Path) -> Result<CString, Error> {
    CString::new(bytes).map_err(|e| Error::Spawn {
        program: program.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
    })
}

/// Fork the command's first process, with `filter` (the seccomp program) installed where
/// the kernel allows it; the caller waits for its `SIGSTOP`.
pub(crate) fn spawn(cmd: &Command, filter: &[libc::sock_filter]) -> Result<Child, Error> {
    let program = &cmd.program;
    let path = c_string(program.as_os_str().as_bytes(), program)?;
    let args: Vec<CString> = if cmd.args.is_empty() {
        vec![path.clone()]
    } else {
        cmd.args
            .iter()
            .map(|a| c_string(a.as_bytes(), program))
            .collect::<Result<_, _>>()?
    };
    let env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| c_string(&[k.as_bytes(), b"=", v.as_bytes()].concat(), program))
        .collect::<Result<_, _>>()?;
    let root = cmd
        .root
        .as_deref()
        .map(|r| c_string(r.as_os_str().as_bytes(), program))
        .transpose()?;
    // Inside a root the cwd must be inside it too.
    let cwd = match (&cmd.cwd, &root) {
        (Some(d), _) => Some(c_string(d.as_os_str().as_bytes(), program)?),
        (None, Some(_)) => Some(c_string(b"/", program)?),
        (None, None) => None,
    };
    let argv: Vec<*const libc::c_char> = args
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let envp: Vec<*const libc::c_char> = env
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let fprog = libc::sock_fprog {
        len: u16::try_from(filter.len()).unwrap_or(0),
        filter: filter.as_ptr().cast_mut(),
    };
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Error::Spawn {
            program: program.clone(),
            source: std::io::Error::last_os_error(),
        });
    }
    // SAFETY: pipe2 returned two fresh descriptors that nothing else owns.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: the child only makes system calls on memory prepared above, then execs or
    // exits.
    match unsafe { libc::fork() } {
        -1 => Err(Error::Spawn {
            program: program.clone(),
            source: std::io::Error::last_os_error(),
        }),
        0 => {
            // SAFETY: async-signal-safe calls on prepared memory (see above).
            unsafe {
                child(
                    write.as_raw_fd(),
                    &path,
                    &argv,
                    &envp,
                    root.as_deref(),
                    cwd.as_deref(),
                    cmd.stdout_to_stderr,
                    &fprog,
                )
            }
        }
        pid => Ok(Child {
            pid: Pid::from_raw(pid),
            errors: read,
        }),
    }
}

/// The child's side; never returns.
///
/// # Safety
/// Only between `fork` and `execve`, with every pointer valid.
#[allow(clippy::too_many_arguments)]
unsafe fn child(
    errors: libc::c_int,
    path: &std::ffi::CStr,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    root: Option<&std::ffi::CStr>,
    cwd: Option<&std::ffi::CStr>,
    stdout_to_stderr: bool,
    fprog: &libc::sock_fprog,
) -> ! {
    let fail = |step: u8| -> ! {
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        let e = errno.to_ne_bytes();
        let msg = [step, e[0], e[1], e[2], e[3]];
        // SAFETY: writing a local buffer to our pipe, then leaving without unwinding.
        unsafe {
            libc::write(errors, msg.as_ptr().cast(), msg.len());
            libc::_exit(127)
        }
    };
    // SAFETY: plain system calls; the caller guarantees the pointers.
    unsafe {
        // Its own process group, so that the timeout reaches what it starts.
        if libc::setpgid(0, 0) != 0 {
            fail(0);
        }
        if let Some(r) = root {
            if libc::chroot(r.as_ptr()) != 0 {
                fail(1);
            }
        }
        if let Some(d) = cwd {
            if libc::chdir(d.as_ptr()) != 0 {
                fail(2);
            }
        }
        if stdout_to_stderr && libc::dup2(2, 1) < 0 {
            fail(3);
        }
        let null = std::ptr::null_mut::<libc::c_void>();
        if libc::ptrace(libc::PTRACE_TRACEME, 0, null, null) != 0 {
            fail(4);
        }
        // The filter, where the kernel allows one: without CAP_SYS_ADMIN it asks for
        // no_new_privs first. Where none can be installed the tracer stops at every call.
        let install = || {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                fprog as *const libc::sock_fprog,
            )
        };
        if fprog.len > 0
            && install() != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::EACCES)
            && libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
        {
            install();
        }
        // The tracer sets its options (seccomp stops among them) before the first call
        // the filter stops at: the execve below.
        libc::raise(libc::SIGSTOP);
        libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr());
        fail(5)
    }
}
