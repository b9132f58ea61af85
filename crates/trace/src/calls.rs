//! The system calls the trace reads, by number, for the host's architecture and (on x86-64)
//! for 32-bit x86 programs, whose numbers differ; and the seccomp filter that stops a task
//! only at those calls, so that the others cost nothing.

/// A call whose arguments or result the trace reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Call {
    /// `open(path, flags)`.
    Open,
    /// `openat(dirfd, path, flags)`.
    OpenAt,
    /// `openat2(dirfd, path, &open_how)`: the flags are the first field of `open_how`.
    OpenAt2,
    /// `execve(path, ...)`.
    Execve,
    /// `execveat(dirfd, path, argv, envp, flags)`.
    ExecveAt,
    /// `mmap(addr, len, prot, flags, fd, offset)` (`mmap2` on 32-bit x86).
    Mmap,
    /// `getdents64(fd, ...)` or `getdents(fd, ...)`.
    Getdents,
    /// `stat`, `lstat`, `access` (and their 64-bit x86 forms): `(path, ...)`.
    Stat,
    /// `newfstatat`, `statx`, `faccessat`, `faccessat2`: `(dirfd, path, ...)`.
    StatAt,
}

impl Call {
    /// Whether only a trace of files needs it (listings and look-ups).
    fn files_only(self) -> bool {
        matches!(self, Call::Getdents | Call::Stat | Call::StatAt)
    }
}

/// The host's own numbers.
const NATIVE: &[(i64, Call)] = &[
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_open, Call::Open),
    (libc::SYS_openat, Call::OpenAt),
    (libc::SYS_openat2, Call::OpenAt2),
    (libc::SYS_execve, Call::Execve),
    (libc::SYS_execveat, Call::ExecveAt),
    (libc::SYS_mmap, Call::Mmap),
    (libc::SYS_getdents64, Call::Getdents),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_getdents, Call::Getdents),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_stat, Call::Stat),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_lstat, Call::Stat),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_access, Call::Stat),
    (libc::SYS_newfstatat, Call::StatAt),
    (libc::SYS_statx, Call::StatAt),
    (libc::SYS_faccessat, Call::StatAt),
    (libc::SYS_faccessat2, Call::StatAt),
];

/// 32-bit x86 numbers (the kernel's `arch/x86/entry/syscalls/syscall_32.tbl`).
#[cfg(target_arch = "x86_64")]
const I386: &[(i64, Call)] = &[
    (5, Call::Open),
    (11, Call::Execve),
    (33, Call::Stat),      // access
    (106, Call::Stat),     // stat
    (107, Call::Stat),     // lstat
    (141, Call::Getdents), // getdents
    (192, Call::Mmap),     // mmap2
    (195, Call::Stat),     // stat64
    (196, Call::Stat),     // lstat64
    (220, Call::Getdents), // getdents64
    (295, Call::OpenAt),   // openat
    (300, Call::StatAt),   // fstatat64
    (307, Call::StatAt),   // faccessat
    (358, Call::ExecveAt), // execveat
    (383, Call::StatAt),   // statx
    (437, Call::OpenAt2),  // openat2
    (439, Call::StatAt),   // faccessat2
];
#[cfg(not(target_arch = "x86_64"))]
const I386: &[(i64, Call)] = &[];

/// `AUDIT_ARCH_*` (`<linux/audit.h>`): the `arch` of a call, as seccomp and
/// `PTRACE_GET_SYSCALL_INFO` give it.
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH_NATIVE: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH_NATIVE: u32 = 0xC000_00B7;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("depclose-trace knows the system calls of x86-64 and AArch64 hosts only");
const AUDIT_ARCH_I386: u32 = 0x4000_0003;

/// The numbers of a process of audit architecture `arch`.
fn table(arch: u32) -> &'static [(i64, Call)] {
    if arch == AUDIT_ARCH_I386 {
        I386
    } else {
        NATIVE
    }
}

/// The call `nr` made by a process of audit architecture `arch`, if the trace reads it.
pub(crate) fn classify(arch: u32, nr: u64) -> Option<Call> {
    let nr = i64::try_from(nr).ok()?;
    table(arch).iter().find(|(n, _)| *n == nr).map(|(_, c)| *c)
}

/// A seccomp filter (classic BPF) that returns `SECCOMP_RET_TRACE` for the calls the trace
/// reads (without `files`, not the listings and look-ups) and lets every other call through.
/// Processes of an architecture it does not know are stopped at every call.
pub(crate) fn filter(files: bool) -> Vec<libc::sock_filter> {
    const LD_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    // `struct seccomp_data`: the call number, then the audit architecture.
    const NR: u32 = 0;
    const ARCH: u32 = 4;
    let op = |code, k| libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let numbers = |t: &[(i64, Call)]| -> Vec<u32> {
        t.iter()
            .filter(|(_, c)| files || !c.files_only())
            .filter_map(|(n, _)| u32::try_from(*n).ok())
            .collect()
    };
    let blocks = [
        (AUDIT_ARCH_NATIVE, numbers(NATIVE)),
        (AUDIT_ARCH_I386, numbers(I386)),
    ];
    // Each block: load the number, compare with each (a match jumps to the last
    // instruction, TRACE), allow. The architecture checks come first.
    let mut body: Vec<Vec<libc::sock_filter>> = Vec::new();
    for (_, nrs) in &blocks {
        let mut b = vec![op(LD_ABS, NR)];
        b.extend(nrs.iter().map(|n| op(JEQ, *n)));
        b.push(op(RET, libc::SECCOMP_RET_ALLOW));
        body.push(b);
    }
    let mut prog = vec![op(LD_ABS, ARCH)];
    for (arch, _) in &blocks {
        prog.push(op(JEQ, *arch));
    }
    // An unknown architecture: every call stops.
    prog.push(op(RET, libc::SECCOMP_RET_TRACE));
    let checks = prog.len();
    // Resolve the architecture jumps: check i (at 1 + i) jumps to block i.
    let mut start = checks;
    for (i, b) in body.iter().enumerate() {
        let at = 1 + i;
        prog[at].jt = u8::try_from(start - at - 1).unwrap_or(u8::MAX);
        start += b.len();
    }
    let trace_at = start;
    for b in body {
        for mut ins in b {
            if ins.code == JEQ {
                ins.jt = u8::try_from(trace_at - prog.len() - 1).unwrap_or(u8::MAX);
            }
            prog.push(ins);
        }
    }
    prog.push(op(RET, libc::SECCOMP_RET_TRACE));
    prog
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn native_numbers_are_the_host_libc_s() {
        let nr = |n: i64| u64::try_from(n).unwrap();
        let native = AUDIT_ARCH_NATIVE;
        assert_eq!(classify(native, nr(libc::SYS_openat)), Some(Call::OpenAt));
        assert_eq!(classify(native, nr(libc::SYS_execve)), Some(Call::Execve));
        assert_eq!(
            classify(native, nr(libc::SYS_getdents64)),
            Some(Call::Getdents)
        );
        assert_eq!(classify(native, nr(libc::SYS_write)), None);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn thirty_two_bit_numbers_differ() {
        // 5 is open for i386 and fstat for x86-64; 9 is mmap for x86-64 only.
        let native = AUDIT_ARCH_NATIVE;
        assert_eq!(classify(AUDIT_ARCH_I386, 5), Some(Call::Open));
        assert_eq!(classify(native, 5), None);
        assert_eq!(classify(native, 9), Some(Call::Mmap));
        assert_eq!(classify(AUDIT_ARCH_I386, 9), None);
        assert_eq!(classify(AUDIT_ARCH_I386, 192), Some(Call::Mmap));
    }

    /// Run the filter as the kernel would, on one call.
    fn verdict(prog: &[libc::sock_filter], arch: u32, nr: u32) -> u32 {
        let mut acc = 0u32;
        let mut pc = 0usize;
        loop {
            let ins = prog[pc];
            match ins.code {
                0x20 => acc = if ins.k == 0 { nr } else { arch },
                0x15 => {
                    pc += usize::from(if acc == ins.k { ins.jt } else { ins.jf });
                }
                0x06 => return ins.k,
                other => panic!("unexpected instruction {other:#x}"),
            }
            pc += 1;
        }
    }

    #[test]
    fn the_filter_stops_only_at_the_calls_read() {
        let n = |x: i64| u32::try_from(x).unwrap();
        let all = filter(true);
        let no_files = filter(false);
        let (trace, allow) = (libc::SECCOMP_RET_TRACE, libc::SECCOMP_RET_ALLOW);
        let native = AUDIT_ARCH_NATIVE;
        assert_eq!(verdict(&all, native, n(libc::SYS_openat)), trace);
        assert_eq!(verdict(&all, native, n(libc::SYS_write)), allow);
        assert_eq!(verdict(&all, native, n(libc::SYS_newfstatat)), trace);
        assert_eq!(verdict(&no_files, native, n(libc::SYS_newfstatat)), allow);
        assert_eq!(verdict(&no_files, native, n(libc::SYS_mmap)), trace);
        // Every number of the tables, and nothing else below 500.
        for (arch, table) in [(native, NATIVE), (AUDIT_ARCH_I386, I386)] {
            for nr in 0..500 {
                let read = table.iter().any(|(t, _)| *t == i64::from(nr));
                let want = if read { trace } else { allow };
                assert_eq!(verdict(&all, arch, nr), want, "arch {arch:#x} nr {nr}");
            }
        }
        // An architecture it does not know stops at everything.
        assert_eq!(verdict(&all, 0x1234, n(libc::SYS_write)), trace);
    }
}
