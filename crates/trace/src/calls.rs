//! The system calls the trace reads, by number, for the host's architecture and (on x86-64)
//! for 32-bit x86 programs, whose numbers differ.

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

/// `AUDIT_ARCH_I386` (`<linux/audit.h>`): the `arch` of a 32-bit x86 process's call.
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH_I386: u32 = 0x4000_0003;

/// The call `nr` made by a process of audit architecture `arch`, if the trace reads it.
pub(crate) fn classify(arch: u32, nr: u64) -> Option<Call> {
    #[cfg(target_arch = "x86_64")]
    if arch == AUDIT_ARCH_I386 {
        return i386(nr);
    }
    let _ = arch;
    native(i64::try_from(nr).ok()?)
}

fn native(nr: i64) -> Option<Call> {
    Some(match nr {
        #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
        libc::SYS_open => Call::Open,
        libc::SYS_openat => Call::OpenAt,
        libc::SYS_openat2 => Call::OpenAt2,
        libc::SYS_execve => Call::Execve,
        libc::SYS_execveat => Call::ExecveAt,
        #[cfg(target_pointer_width = "64")]
        libc::SYS_mmap => Call::Mmap,
        #[cfg(target_arch = "x86")]
        libc::SYS_mmap2 => Call::Mmap,
        libc::SYS_getdents64 => Call::Getdents,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_getdents => Call::Getdents,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_stat | libc::SYS_lstat | libc::SYS_access => Call::Stat,
        #[cfg(target_pointer_width = "64")]
        libc::SYS_newfstatat => Call::StatAt,
        libc::SYS_statx | libc::SYS_faccessat | libc::SYS_faccessat2 => Call::StatAt,
        _ => return None,
    })
}

/// 32-bit x86 numbers (the kernel's `arch/x86/entry/syscalls/syscall_32.tbl`).
#[cfg(target_arch = "x86_64")]
fn i386(nr: u64) -> Option<Call> {
    Some(match nr {
        5 => Call::Open,
        11 => Call::Execve,
        33 | 106 | 107 | 195 | 196 => Call::Stat,
        300 | 307 | 383 | 439 => Call::StatAt,
        141 | 220 => Call::Getdents,
        192 => Call::Mmap,
        295 => Call::OpenAt,
        358 => Call::ExecveAt,
        437 => Call::OpenAt2,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `AUDIT_ARCH_X86_64`.
    #[cfg(target_arch = "x86_64")]
    const NATIVE: u32 = 0xC000_003E;
    #[cfg(not(target_arch = "x86_64"))]
    const NATIVE: u32 = 0;

    #[test]
    fn native_numbers_are_the_host_libc_s() {
        let nr = |n: i64| u64::try_from(n).unwrap();
        assert_eq!(classify(NATIVE, nr(libc::SYS_openat)), Some(Call::OpenAt));
        assert_eq!(classify(NATIVE, nr(libc::SYS_execve)), Some(Call::Execve));
        assert_eq!(
            classify(NATIVE, nr(libc::SYS_getdents64)),
            Some(Call::Getdents)
        );
        assert_eq!(classify(NATIVE, nr(libc::SYS_write)), None);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn thirty_two_bit_numbers_differ() {
        // 5 is open for i386 and fstat for x86-64; 9 is mmap for x86-64 only.
        assert_eq!(classify(AUDIT_ARCH_I386, 5), Some(Call::Open));
        assert_eq!(classify(NATIVE, 5), None);
        assert_eq!(classify(NATIVE, 9), Some(Call::Mmap));
        assert_eq!(classify(AUDIT_ARCH_I386, 9), None);
        assert_eq!(classify(AUDIT_ARCH_I386, 192), Some(Call::Mmap));
    }
}
