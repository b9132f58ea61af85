//! The ptrace loop: start the command stopped, follow every task it creates, and read the
//! calls that name files.
//!
//! Every call stops the task twice (entry and exit); `PTRACE_GET_SYSCALL_INFO` gives the
//! number, arguments and result on any architecture. Paths are read from the task's memory
//! at the exit (the call succeeded, and nothing has changed the memory yet), except for
//! `execve`, whose memory is gone by then and is read at the entry.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::io::IsTerminal;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::ptrace::{self, Options};
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::uio::{RemoteIoVec, process_vm_readv};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::calls::{Call, classify};
use crate::settle::{Raw, settle};
use crate::{Command, Error, Exit, Kind, Trace};

/// The longest path the kernel takes (`PATH_MAX`).
const PATH_MAX: usize = 4096;

/// Run `cmd` to its end (or its timeout) and return what it did.
pub fn run(cmd: &Command) -> Result<Trace, Error> {
    if let Some(root) = &cmd.root {
        if !nix::unistd::geteuid().is_root() {
            return Err(Error::NeedsRoot { root: root.clone() });
        }
    }
    run_with(cmd, &crate::calls::filter(cmd.files))
}

/// [`run`] with a seccomp filter of the caller's (none: stop at every call).
fn run_with(cmd: &Command, filter: &[libc::sock_filter]) -> Result<Trace, Error> {
    let start = crate::settle::now();
    let child = crate::spawn::spawn(cmd, filter)?;
    let main = child.pid;
    let mut tracer = Tracer::new(cmd, main);
    let terminal = Terminal::give(main);
    let watchdog = Watchdog::start(cmd.timeout);
    let result = tracer.follow(&watchdog.fired);
    drop(watchdog);
    if let Some(t) = terminal {
        t.restore();
    }
    let exit = match result? {
        Some(exit) => exit,
        None => return Err(child.failure(&cmd.program)),
    };
    let root = cmd.root.as_deref();
    let (events, left_out) = settle(tracer.raw, root, start);
    Ok(Trace {
        format: crate::FORMAT,
        command: cmd
            .args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        program: cmd.program.to_string_lossy().into_owned(),
        cwd: tracer.cwd.to_string_lossy().into_owned(),
        files: cmd.files,
        exit,
        processes: tracer.processes,
        events,
        left_out,
    })
}

/// What the tracer knows of one task (a process or a thread).
#[derive(Debug, Clone, Default)]
struct Task {
    /// The program it runs (in-root path as executed).
    program: PathBuf,
    /// Descriptors it opened, by number: the path as named and the file the kernel says it
    /// is (checked again at each use: the number may have been closed and reused since).
    fds: HashMap<i32, (PathBuf, PathBuf)>,
    /// The call it is in, if the trace reads it.
    entry: Option<Entry>,
    /// Created by a fork or clone event whose first `SIGSTOP` is still to come.
    fresh: bool,
}

#[derive(Debug, Clone)]
struct Entry {
    call: Call,
    args: [u64; 6],
    /// For `execve`: the program it names, read at the entry.
    exec: Option<PathBuf>,
}

struct Tracer<'a> {
    cmd: &'a Command,
    main: Pid,
    tasks: HashMap<Pid, Task>,
    /// Tasks that stopped before their parent's fork event said whose they are.
    early: HashSet<Pid>,
    raw: Raw,
    processes: u32,
    exit: Option<Exit>,
    killed: bool,
    /// Where the command started (in-root).
    cwd: PathBuf,
    /// A seccomp filter stops the tasks at the calls of interest only.
    seccomp: bool,
    /// The command's process executed the program.
    executed: bool,
}

impl<'a> Tracer<'a> {
    fn new(cmd: &'a Command, main: Pid) -> Tracer<'a> {
        Tracer {
            cmd,
            main,
            tasks: HashMap::new(),
            early: HashSet::new(),
            raw: Raw::default(),
            processes: 1,
            exit: None,
            killed: false,
            cwd: PathBuf::from("/"),
            seccomp: false,
            executed: false,
        }
    }

    fn ptrace_error(&self, call: &'static str) -> impl FnOnce(Errno) -> Error + '_ {
        move |source| Error::Ptrace {
            program: self.cmd.program.clone(),
            call,
            source,
        }
    }

    /// Follow every task until none is left; how the command's own process ended, or
    /// `None` if it never executed the program (the child says why).
    fn follow(&mut self, fired: &AtomicBool) -> Result<Option<Exit>, Error> {
        let main = self.main;
        match waitpid(main, Some(WaitPidFlag::__WALL | WaitPidFlag::__WNOTHREAD)) {
            Ok(WaitStatus::Stopped(_, Signal::SIGSTOP)) => {}
            Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) => return Ok(None),
            Ok(_) => return Err(self.ptrace_error("the first stop")(Errno::EPROTO)),
            Err(e) => return Err(self.ptrace_error("waitpid")(e)),
        }
        // With the filter in place only the calls it names stop; without, every call.
        self.seccomp = seccomp_mode(main) == Some(2);
        let mut options = Options::PTRACE_O_TRACESYSGOOD
            | Options::PTRACE_O_TRACEEXEC
            | Options::PTRACE_O_TRACEFORK
            | Options::PTRACE_O_TRACEVFORK
            | Options::PTRACE_O_TRACECLONE
            | Options::PTRACE_O_EXITKILL;
        if self.seccomp {
            options |= Options::PTRACE_O_TRACESECCOMP;
        }
        ptrace::setoptions(main, options).map_err(self.ptrace_error("PTRACE_SETOPTIONS"))?;
        self.cwd = self
            .proc_path(main, "cwd")
            .unwrap_or_else(|| PathBuf::from("/"));
        self.tasks.insert(
            main,
            Task {
                program: self.cmd.program.clone(),
                ..Task::default()
            },
        );
        self.resume(main, None);
        loop {
            if fired.load(Ordering::Relaxed) && !self.killed {
                self.kill_all();
            }
            // Only this thread's children and tracees: a program that traces from several
            // threads (or runs other children) keeps its own.
            let status = match waitpid(None, Some(WaitPidFlag::__WALL | WaitPidFlag::__WNOTHREAD)) {
                Ok(s) => s,
                // The watchdog's nudge: look at the clock again.
                Err(Errno::EINTR) => continue,
                Err(Errno::ECHILD) => break,
                Err(e) => return Err(self.ptrace_error("waitpid")(e)),
            };
            match status {
                WaitStatus::Exited(pid, code) => self.gone(pid, Exit::Code(code)),
                WaitStatus::Signaled(pid, sig, _) => self.gone(pid, Exit::Signal(sig as i32)),
                WaitStatus::PtraceSyscall(pid)
                | WaitStatus::PtraceEvent(pid, _, libc::PTRACE_EVENT_SECCOMP) => {
                    self.syscall(pid);
                    self.resume(pid, None);
                }
                WaitStatus::PtraceEvent(pid, _, event) => {
                    self.event(pid, event);
                    self.resume(pid, None);
                }
                WaitStatus::Stopped(pid, sig) => self.signal(pid, sig),
                _ => {}
            }
        }
        if !self.executed {
            return Ok(None);
        }
        Ok(Some(if self.killed {
            Exit::TimedOut(self.cmd.timeout.as_secs())
        } else {
            self.exit.unwrap_or(Exit::Code(0))
        }))
    }

    /// Let `pid` run, passing `sig`: to its next call or event, or — with the filter, and
    /// no call of interest under way — to the next call the filter stops at. A task killed
    /// meanwhile is gone.
    fn resume(&self, pid: Pid, sig: Option<Signal>) {
        let in_call = self.tasks.get(&pid).is_some_and(|t| t.entry.is_some());
        let _ = if self.seccomp && !in_call {
            ptrace::cont(pid, sig)
        } else {
            ptrace::syscall(pid, sig)
        };
    }

    fn gone(&mut self, pid: Pid, how: Exit) {
        self.tasks.remove(&pid);
        self.early.remove(&pid);
        if pid == self.main {
            self.exit = Some(how);
        }
    }

    /// Kill every task by its pid, and the command's process group.
    fn kill_all(&mut self) {
        self.killed = true;
        for pid in self.tasks.keys().chain(&self.early) {
            let _ = signal::kill(*pid, Signal::SIGKILL);
        }
        let _ = signal::killpg(self.main, Signal::SIGKILL);
    }

    /// A signal stopped `pid`: pass it on, unless it is a new task's first stop or a
    /// group-stop (which `PTRACE_GETSIGINFO` tells apart by failing).
    fn signal(&mut self, pid: Pid, sig: Signal) {
        let Some(task) = self.tasks.get_mut(&pid) else {
            // A new task whose parent's event has not been seen: it waits for it.
            self.early.insert(pid);
            return;
        };
        if task.fresh && sig == Signal::SIGSTOP {
            task.fresh = false;
            self.resume(pid, None);
            return;
        }
        match ptrace::getsiginfo(pid) {
            Err(Errno::EINVAL) => self.resume(pid, None),
            _ => self.resume(pid, Some(sig)),
        }
    }

    fn event(&mut self, pid: Pid, event: i32) {
        let msg = ptrace::getevent(pid).ok();
        match event {
            libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK | libc::PTRACE_EVENT_CLONE => {
                let Some(new) = msg.and_then(|m| i32::try_from(m).ok()).map(Pid::from_raw) else {
                    return;
                };
                let parent = self.tasks.get(&pid).cloned().unwrap_or_default();
                let mut task = Task {
                    entry: None,
                    ..parent
                };
                self.processes += 1;
                if self.early.remove(&new) {
                    self.tasks.insert(new, task);
                    self.resume(new, None);
                } else {
                    task.fresh = true;
                    self.tasks.insert(new, task);
                }
            }
            libc::PTRACE_EVENT_EXEC => {
                self.executed = true;
                // A thread that executes takes over its process's pid; its own is gone.
                let former = msg
                    .and_then(|m| i32::try_from(m).ok())
                    .map(Pid::from_raw)
                    .unwrap_or(pid);
                let task = self.tasks.remove(&former).unwrap_or_default();
                if former != pid {
                    self.tasks.remove(&pid);
                }
                let named = task.entry.as_ref().and_then(|e| e.exec.clone());
                let program = named.or_else(|| self.proc_path(pid, "exe"));
                self.tasks.insert(pid, task);
                // Said of the program that executed it; then the task runs the new one.
                if let Some(program) = program {
                    self.record(pid, Kind::Exec, program.clone());
                    if let Some(task) = self.tasks.get_mut(&pid) {
                        task.program = program;
                    }
                }
            }
            _ => {}
        }
    }

    fn syscall(&mut self, pid: Pid) {
        let Ok(info) = ptrace::syscall_info(pid) else {
            return;
        };
        match info.op {
            libc::PTRACE_SYSCALL_INFO_ENTRY | libc::PTRACE_SYSCALL_INFO_SECCOMP => {
                // SAFETY: `op` says which member the kernel filled; the seccomp one starts
                // with the same number and arguments.
                let (nr, args) = if info.op == libc::PTRACE_SYSCALL_INFO_ENTRY {
                    let e = unsafe { info.u.entry };
                    (e.nr, e.args)
                } else {
                    let e = unsafe { info.u.seccomp };
                    (e.nr, e.args)
                };
                let entry = classify(info.arch, nr).map(|call| Entry {
                    call,
                    args,
                    exec: None,
                });
                let entry = entry.map(|mut entry| {
                    if matches!(entry.call, Call::Execve | Call::ExecveAt) {
                        entry.exec = self.exec_path(pid, &entry);
                    }
                    entry
                });
                if let Some(task) = self.tasks.get_mut(&pid) {
                    task.entry = entry;
                }
            }
            libc::PTRACE_SYSCALL_INFO_EXIT => {
                // SAFETY: as above, for the exit member.
                let x = unsafe { info.u.exit };
                let entry = self.tasks.get_mut(&pid).and_then(|t| t.entry.take());
                if let Some(entry) = entry.filter(|_| x.is_error == 0) {
                    self.returned(pid, &entry, x.sval);
                }
            }
            _ => {}
        }
    }

    /// A call the trace reads returned `ret` (success).
    fn returned(&mut self, pid: Pid, entry: &Entry, ret: i64) {
        let a = entry.args;
        match entry.call {
            Call::Open | Call::OpenAt | Call::OpenAt2 => {
                let (dirfd, name, flags) = match entry.call {
                    Call::Open => (libc::AT_FDCWD, a[0], a[1]),
                    Call::OpenAt => (a[0] as i32, a[1], a[2]),
                    _ => (a[0] as i32, a[1], read_u64(pid, a[2]).unwrap_or(0)),
                };
                let Some(name) = read_path(pid, name) else {
                    return;
                };
                let Some(named) = self.absolute(pid, dirfd, &name) else {
                    return;
                };
                let fd = ret as i32;
                if let Some(real) = readlink_fd(pid, fd) {
                    if let Some(task) = self.tasks.get_mut(&pid) {
                        task.fds.insert(fd, (named.clone(), real));
                    }
                }
                let flags = flags as i32;
                let read_only = flags & libc::O_ACCMODE == libc::O_RDONLY;
                if self.cmd.files && read_only && flags & libc::O_PATH == 0 {
                    self.record(pid, Kind::Open, named);
                }
            }
            Call::Mmap => {
                let fd = a[4] as i32;
                if fd >= 0 && (a[3] as i32) & libc::MAP_ANONYMOUS == 0 {
                    if let Some(path) = self.fd_path(pid, fd) {
                        self.record(pid, Kind::Map, path);
                    }
                }
            }
            Call::Getdents if self.cmd.files => {
                if let Some(path) = self.fd_path(pid, a[0] as i32) {
                    self.record(pid, Kind::List, path);
                }
            }
            Call::Stat | Call::StatAt if self.cmd.files => {
                let (dirfd, name) = match entry.call {
                    Call::Stat => (libc::AT_FDCWD, a[0]),
                    _ => (a[0] as i32, a[1]),
                };
                // An empty name (`fstat` as `AT_EMPTY_PATH`) asks about an open
                // descriptor, not whether a name is there.
                let name = read_path(pid, name).filter(|n| !n.as_os_str().is_empty());
                if let Some(path) = name.and_then(|n| self.absolute(pid, dirfd, &n)) {
                    self.record(pid, Kind::Stat, path);
                }
            }
            Call::Getdents | Call::Stat | Call::StatAt | Call::Execve | Call::ExecveAt => {}
        }
    }

    /// The program an `execve` or `execveat` names, made absolute.
    fn exec_path(&self, pid: Pid, entry: &Entry) -> Option<PathBuf> {
        let a = entry.args;
        match entry.call {
            Call::Execve => self.absolute(pid, libc::AT_FDCWD, &read_path(pid, a[0])?),
            _ => {
                let name = read_path(pid, a[1])?;
                if name.as_os_str().is_empty() && (a[4] as i32) & libc::AT_EMPTY_PATH != 0 {
                    self.fd_path(pid, a[0] as i32)
                } else {
                    self.absolute(pid, a[0] as i32, &name)
                }
            }
        }
    }

    /// `name` as the task means it: relative names against its cwd or `dirfd`. `.`
    /// components go; `..` stay (they walk through what is before them).
    fn absolute(&self, pid: Pid, dirfd: i32, name: &Path) -> Option<PathBuf> {
        let base = if name.is_absolute() {
            PathBuf::from("/")
        } else if dirfd == libc::AT_FDCWD {
            self.proc_path(pid, "cwd")?
        } else {
            self.fd_path(pid, dirfd)?
        };
        let mut out = base;
        for c in name.components() {
            match c {
                Component::Normal(n) => out.push(n),
                Component::ParentDir => out.push(".."),
                Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            }
        }
        Some(out)
    }

    /// The path of descriptor `fd` of `pid`: as it was named when opened, if it is still
    /// that file, else as the kernel names it.
    fn fd_path(&self, pid: Pid, fd: i32) -> Option<PathBuf> {
        let real = readlink_fd(pid, fd)?;
        if let Some((named, was)) = self.tasks.get(&pid).and_then(|t| t.fds.get(&fd)) {
            if *was == real {
                return Some(named.clone());
            }
        }
        self.in_root(real)
    }

    /// `/proc/PID/NAME` (`cwd`, `exe`) as an in-root path.
    fn proc_path(&self, pid: Pid, name: &str) -> Option<PathBuf> {
        let link = std::fs::read_link(format!("/proc/{pid}/{name}")).ok()?;
        self.in_root(link)
    }

    /// A path the kernel gives (the tracer's view) inside the root; none for what is not a
    /// file's path (`pipe:[12]`) or is outside the root.
    fn in_root(&self, host: PathBuf) -> Option<PathBuf> {
        if !host.is_absolute() || host.as_os_str().as_bytes().ends_with(b" (deleted)") {
            return None;
        }
        match &self.cmd.root {
            None => Some(host),
            Some(root) => host
                .strip_prefix(root)
                .ok()
                .map(|rest| Path::new("/").join(rest)),
        }
    }

    /// Note that `pid` did `kind` with `path`, once per program, kind and path.
    fn record(&mut self, pid: Pid, kind: Kind, path: PathBuf) {
        let kernel = ["/proc", "/sys", "/dev"];
        if kernel.iter().any(|k| path.starts_with(k)) {
            return;
        }
        let program = self
            .tasks
            .get(&pid)
            .map(|t| t.program.clone())
            .unwrap_or_default();
        self.raw.push(
            u32::try_from(pid.as_raw()).unwrap_or(0),
            program,
            kind,
            path,
        );
    }
}

/// The `Seccomp:` field of `/proc/PID/status` (2: a filter is installed).
fn seccomp_mode(pid: Pid) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Seccomp:"))
        .and_then(|v| v.trim().parse().ok())
}

/// What descriptor `fd` of `pid` is, as the kernel names it.
fn readlink_fd(pid: Pid, fd: i32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()
}

/// Read `len` bytes at `addr` of `pid`'s memory, as far as they can be read.
fn read_memory(pid: Pid, addr: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    let remote = [RemoteIoVec {
        base: usize::try_from(addr).unwrap_or(0),
        len,
    }];
    let n = process_vm_readv(pid, &mut [std::io::IoSliceMut::new(&mut buf)], &remote).unwrap_or(0);
    buf.truncate(n);
    buf
}

fn read_u64(pid: Pid, addr: u64) -> Option<u64> {
    let bytes: [u8; 8] = read_memory(pid, addr, 8).try_into().ok()?;
    Some(u64::from_ne_bytes(bytes))
}

/// The NUL-terminated path at `addr`, read a page at a time (a read may not cross into
/// an unmapped page).
fn read_path(pid: Pid, addr: u64) -> Option<PathBuf> {
    const PAGE: u64 = 4096;
    if addr == 0 {
        return None;
    }
    let mut out = Vec::new();
    let mut at = addr;
    while out.len() <= PATH_MAX {
        let chunk = usize::try_from(PAGE - at % PAGE).unwrap_or(1);
        let bytes = read_memory(pid, at, chunk);
        if let Some(nul) = bytes.iter().position(|b| *b == 0) {
            out.extend_from_slice(&bytes[..nul]);
            return Some(PathBuf::from(OsString::from_vec(out)));
        }
        if bytes.len() < chunk {
            return None;
        }
        out.extend_from_slice(&bytes);
        at += chunk as u64;
    }
    None
}

/// Gives the terminal to the command's process group while it runs, as a shell does, so
/// that it reads the keyboard and gets the user's Ctrl-C.
struct Terminal {
    ours: Pid,
}

impl Terminal {
    fn give(group: Pid) -> Option<Terminal> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return None;
        }
        let ours = nix::unistd::getpgrp();
        if nix::unistd::tcgetpgrp(&stdin).ok()? != ours {
            return None;
        }
        nix::unistd::tcsetpgrp(&stdin, group).ok()?;
        Some(Terminal { ours })
    }

    fn restore(self) {
        // depclose is in the background now: taking the terminal back would stop it with
        // SIGTTOU unless that is blocked.
        let mut ttou = SigSet::empty();
        ttou.add(Signal::SIGTTOU);
        let mut old = SigSet::empty();
        let blocked =
            signal::pthread_sigmask(signal::SigmaskHow::SIG_BLOCK, Some(&ttou), Some(&mut old));
        let _ = nix::unistd::tcsetpgrp(std::io::stdin(), self.ours);
        if blocked.is_ok() {
            let _ = signal::pthread_sigmask(signal::SigmaskHow::SIG_SETMASK, Some(&old), None);
        }
    }
}

/// At the timeout, raises `fired` and interrupts the tracer's `waitpid` with `SIGALRM`
/// until the tracer is done (a nudge that lands outside `waitpid` is repeated).
struct Watchdog {
    fired: Arc<AtomicBool>,
    done: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    old: Option<SigAction>,
}

extern "C" fn nudged(_: libc::c_int) {}

impl Watchdog {
    fn start(timeout: Duration) -> Watchdog {
        // No SA_RESTART: the signal must end the wait.
        let action = SigAction::new(
            SigHandler::Handler(nudged),
            SaFlags::empty(),
            SigSet::empty(),
        );
        // SAFETY: the handler does nothing.
        let old = unsafe { signal::sigaction(Signal::SIGALRM, &action) }.ok();
        let fired = Arc::new(AtomicBool::new(false));
        let (done, wait) = mpsc::channel::<()>();
        let tracer = nix::sys::pthread::pthread_self();
        let flag = fired.clone();
        let thread = std::thread::spawn(move || {
            if wait.recv_timeout(timeout) != Err(mpsc::RecvTimeoutError::Timeout) {
                return;
            }
            flag.store(true, Ordering::Relaxed);
            loop {
                let _ = nix::sys::pthread::pthread_kill(tracer, Signal::SIGALRM);
                if wait.recv_timeout(Duration::from_millis(50))
                    != Err(mpsc::RecvTimeoutError::Timeout)
                {
                    return;
                }
            }
        });
        Watchdog {
            fired,
            done: Some(done),
            thread: Some(thread),
            old,
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.done.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(old) = &self.old {
            // SAFETY: puts back the action that was there before.
            let _ = unsafe { signal::sigaction(Signal::SIGALRM, old) };
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn command(files: bool) -> Command {
        Command {
            program: PathBuf::from("/bin/sh"),
            args: [
                "sh",
                "-c",
                "cat /etc/hostname >/dev/null; ls / >/dev/null; exit 4",
            ]
            .iter()
            .map(OsString::from)
            .collect(),
            root: None,
            cwd: None,
            timeout: Duration::from_secs(30),
            files,
            stdout_to_stderr: false,
        }
    }

    /// Without a filter every call stops; what is seen must be the same.
    #[test]
    fn the_filter_changes_the_cost_not_what_is_seen() {
        for files in [false, true] {
            let cmd = command(files);
            // Where ptrace is forbidden (a container's seccomp profile) nothing can be seen.
            let filtered = match run(&cmd) {
                Ok(t) => t,
                Err(e @ (Error::Ptrace { .. } | Error::Spawn { .. })) => {
                    println!("SKIPPED the_filter_changes_the_cost_not_what_is_seen: {e}");
                    return;
                }
                Err(e) => panic!("{e}"),
            };
            let stepped = run_with(&cmd, &[]).unwrap();
            let seen = |t: &Trace| -> Vec<(String, Kind, String)> {
                let mut v: Vec<_> = t
                    .events
                    .iter()
                    .map(|e| (e.program.clone(), e.kind, e.path.clone()))
                    .collect();
                v.sort();
                v
            };
            assert_eq!(seen(&filtered), seen(&stepped), "files: {files}");
            assert_eq!(filtered.exit, Exit::Code(4));
            assert_eq!(stepped.exit, Exit::Code(4));
            assert!(
                filtered
                    .events
                    .iter()
                    .any(|e| e.kind == Kind::Exec && e.path.ends_with("/ls"))
            );
        }
    }

    #[test]
    fn a_program_that_cannot_be_executed_is_an_error() {
        // Where ptrace is forbidden every start fails, for that reason instead.
        if let Err(e) = run(&command(false)) {
            println!("SKIPPED a_program_that_cannot_be_executed_is_an_error: {e}");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("text");
        std::fs::write(&text, "not a program\n").unwrap();
        let mut cmd = command(false);
        cmd.program = text.clone();
        let err = run(&cmd).unwrap_err().to_string();
        assert!(err.contains("execve: Permission denied"), "{err}");
        std::fs::set_permissions(&text, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let err = run(&cmd).unwrap_err().to_string();
        assert!(err.contains("execve: Exec format error"), "{err}");
        cmd.program = PathBuf::from("/no/such/program");
        let err = run(&cmd).unwrap_err().to_string();
        assert!(err.contains("No such file"), "{err}");
    }
}
