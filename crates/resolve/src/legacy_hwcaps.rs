//! The legacy hwcaps subdirectories glibc before 2.37 searches in every directory after the
//! glibc-hwcaps ones (`elf/dl-hwcaps.c` `_dl_important_hwcaps`, removed in 2.37).
//!
//! The parts are the names of the set bits of `dl_hwcap & hwcap_mask` (lowest bit first),
//! then `$PLATFORM`, then `tls`. Every subset of them is a subdirectory, its parts joined
//! from the last to the first; subsets are taken from the full set down to the empty one
//! (the directory itself), in binary counting order ("entry #0: 0, 1, 2, 3 binary: 1111").
//! Equal strings are not merged.

use depclose_elf::machine::EM_X86_64;

/// The first glibc release without the legacy hwcaps subdirectories and cache entries.
const REMOVED_IN_GLIBC: (u32, u32) = (2, 37);

/// glibc's names for the x86-64 hwcap bits (`_dl_x86_hwcap_flags`): sse2, x86_64, avx512_1.
const X86_HWCAP_NAMES: [&str; 3] = ["sse2", "x86_64", "avx512_1"];
/// `HWCAP_X86_64` and `HWCAP_X86_AVX512_1` (`sysdeps/x86/dl-hwcap.h`).
const HWCAP_X86_64: u64 = 1 << 1;
const HWCAP_X86_AVX512_1: u64 = 1 << 2;
/// `HWCAP_IMPORTANT` on x86-64, the default `glibc.cpu.hwcap_mask`.
const X86_HWCAP_IMPORTANT: u64 = HWCAP_X86_64 | HWCAP_X86_AVX512_1;
/// `_DL_FIRST_PLATFORM` on x86: the bit of the first platform name in a legacy hwcap.
const X86_FIRST_PLATFORM: u32 = 48;

/// Whether a glibc of this version (if known) still has the legacy hwcaps: a loader whose
/// version cannot be read is taken to be current.
pub(crate) fn in_glibc(version: Option<(u32, u32)>) -> bool {
    version.is_some_and(|v| v < REMOVED_IN_GLIBC)
}

/// The legacy subdirectories (each ending in `/`), best first, without the final "".
/// `cpu` says whether this CPU's own hwcap bits apply (only when the root is the host's
/// architecture and the host's hwcaps were asked for); without it only the bits every CPU
/// of the architecture has are used, so the list holds on any machine that runs the files.
pub(crate) fn subdirs(platform: Option<&str>, machine: u16, cpu: bool) -> Vec<String> {
    let mut parts: Vec<&str> = Vec::new();
    if machine == EM_X86_64 {
        let hwcap = masked_hwcap(machine, cpu);
        for (bit, name) in X86_HWCAP_NAMES.iter().enumerate() {
            if hwcap & (1 << bit) != 0 {
                parts.push(name);
            }
        }
    }
    if let Some(p) = platform {
        parts.push(p);
    }
    parts.push("tls");
    combinations(&parts)
}

/// `dl_hwcap & hwcap_mask` with the default mask: the bits legacy cache entries may use.
/// Off x86-64 the bits come from the kernel's AT_HWCAP, which a file cannot tell: none.
pub(crate) fn masked_hwcap(machine: u16, cpu: bool) -> u64 {
    if machine == EM_X86_64 {
        x86_hwcap(cpu) & X86_HWCAP_IMPORTANT
    } else {
        0
    }
}

/// `_dl_string_platform`: the bit of a platform name among x86's known platforms
/// (`sysdeps/x86/dl-procinfo.h`, from `_DL_FIRST_PLATFORM` = 48).
pub(crate) fn platform_bit(machine: u16, platform: Option<&str>) -> Option<u32> {
    const X86_PLATFORMS: [&str; 4] = ["i586", "i686", "haswell", "xeon_phi"];
    if machine != EM_X86_64 {
        return None;
    }
    let i = X86_PLATFORMS.iter().position(|p| Some(*p) == platform)?;
    Some(X86_FIRST_PLATFORM + i as u32)
}

/// The platform bits of an x86 cache entry's legacy hwcap (`_DL_HWCAP_PLATFORM`).
pub(crate) const X86_PLATFORM_MASK: u64 = 0xf << X86_FIRST_PLATFORM;

/// On x86-64 glibc sets `dl_hwcap` itself: `HWCAP_X86_64` on every CPU, plus
/// `HWCAP_X86_AVX512_1` on Intel CPUs with usable AVX-512 CD, BW, DQ and VL but no ER
/// (`cpu-features.c`).
fn x86_hwcap(cpu: bool) -> u64 {
    let mut hwcap = HWCAP_X86_64;
    if cpu && crate::cpu::x86_avx512_1() {
        hwcap |= HWCAP_X86_AVX512_1;
    }
    hwcap
}

fn combinations(parts: &[&str]) -> Vec<String> {
    let n = parts.len();
    let all = (1usize << n) - 1;
    (0..all)
        .map(|j| {
            let mask = all - j;
            (0..n)
                .rev()
                .filter(|k| mask & (1 << k) != 0)
                .map(|k| format!("{}/", parts[k]))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The order `LD_DEBUG=libs` shows on an x86-64 machine with glibc 2.36 and no
    /// avx512_1: 8 entries, the last being the directory itself (not listed here).
    #[test]
    fn order_matches_the_loader() {
        assert_eq!(
            combinations(&["x86_64", "x86_64", "tls"]),
            [
                "tls/x86_64/x86_64/",
                "tls/x86_64/",
                "tls/x86_64/",
                "tls/",
                "x86_64/x86_64/",
                "x86_64/",
                "x86_64/",
            ]
        );
    }
}
