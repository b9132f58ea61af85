//! What this machine's CPU makes glibc's loader search: the x86-64 ISA levels behind the
//! glibc-hwcaps subdirectories, and the `$PLATFORM` override. Only consulted when the root's
//! architecture is the host's and the user asked for the host's hwcaps.

/// True when the CPU supports the glibc-hwcaps level `name` (`sysdeps/x86/get-isa-level.h`:
/// each level requires the previous one).
pub(crate) fn supports_hwcaps(name: &str) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        x86::supports(name)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = name;
        false
    }
}

/// glibc replaces AT_PLATFORM by "haswell" or "xeon_phi" on some Intel CPUs
/// (`sysdeps/x86/cpu-features.c`, `update_active`/`init_cpu_features`).
pub(crate) fn x86_platform_override() -> Option<&'static str> {
    #[cfg(target_arch = "x86_64")]
    {
        x86::platform_override()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

/// glibc's `HWCAP_X86_AVX512_1`: Intel, AVX512CD usable without AVX512ER, and BW, DQ, VL.
pub(crate) fn x86_avx512_1() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        x86::avx512_1()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::__cpuid;

    fn v2() -> bool {
        // LAHF/SAHF in 64-bit mode: CPUID 0x8000_0001 ECX bit 0 (std has no name for it).
        #[allow(unused_unsafe)]
        // SAFETY: CPUID exists on every x86-64 CPU; the leaf is within the extended range
        // every x86-64 CPU implements.
        let lahf = unsafe { __cpuid(0x8000_0001) }.ecx & 1 != 0;
        lahf && is_x86_feature_detected!("cmpxchg16b")
            && is_x86_feature_detected!("popcnt")
            && is_x86_feature_detected!("sse3")
            && is_x86_feature_detected!("sse4.1")
            && is_x86_feature_detected!("sse4.2")
            && is_x86_feature_detected!("ssse3")
    }

    fn v3() -> bool {
        v2() && is_x86_feature_detected!("avx")
            && is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("f16c")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("lzcnt")
            && is_x86_feature_detected!("movbe")
    }

    fn v4() -> bool {
        v3() && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512cd")
            && is_x86_feature_detected!("avx512dq")
            && is_x86_feature_detected!("avx512vl")
    }

    pub(super) fn supports(name: &str) -> bool {
        match name {
            "x86-64-v2" => v2(),
            "x86-64-v3" => v3(),
            "x86-64-v4" => v4(),
            _ => false,
        }
    }

    fn is_intel() -> bool {
        #[allow(unused_unsafe)]
        // SAFETY: CPUID leaf 0 exists on every x86-64 CPU.
        let r = unsafe { __cpuid(0) };
        let mut v = Vec::with_capacity(12);
        for reg in [r.ebx, r.edx, r.ecx] {
            v.extend_from_slice(&reg.to_le_bytes());
        }
        v == b"GenuineIntel"
    }

    fn avx512er() -> bool {
        // No std name: CPUID leaf 7 EBX bit 27, usable with the AVX-512 state.
        #[allow(unused_unsafe)]
        // SAFETY: leaf 7 is within the basic range of every CPU that reports AVX-512.
        let ebx = unsafe { __cpuid(7) }.ebx;
        is_x86_feature_detected!("avx512f") && ebx & (1 << 27) != 0
    }

    pub(super) fn avx512_1() -> bool {
        is_intel()
            && is_x86_feature_detected!("avx512cd")
            && !avx512er()
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512dq")
            && is_x86_feature_detected!("avx512vl")
    }

    pub(super) fn platform_override() -> Option<&'static str> {
        if !is_intel() {
            return None;
        }
        // AVX512ER and AVX512PF (Xeon Phi) have no std names: CPUID leaf 7 EBX bits 27, 26.
        // They are usable when AVX-512 state is, which the avx512cd check covers.
        #[allow(unused_unsafe)]
        // SAFETY: leaf 7 is within the basic range of every CPU that reports AVX-512.
        let ebx = unsafe { __cpuid(7) }.ebx;
        let cd = is_x86_feature_detected!("avx512cd");
        if cd && ebx & (1 << 27) != 0 && ebx & (1 << 26) != 0 {
            return Some("xeon_phi");
        }
        let haswell = is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("bmi1")
            && is_x86_feature_detected!("bmi2")
            && is_x86_feature_detected!("lzcnt")
            && is_x86_feature_detected!("movbe")
            && is_x86_feature_detected!("popcnt");
        haswell.then_some("haswell")
    }
}
