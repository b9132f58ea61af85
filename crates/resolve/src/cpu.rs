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
    use std::arch::x86_64::{__cpuid, __cpuid_count, _xgetbv};
    use std::sync::OnceLock;

    /// The CPUID leaves glibc's `init_cpu_features` decides these from, read once. In a VM
    /// every CPUID traps to the hypervisor (about 5 µs each on the machines of
    /// docs/benchmarks.md), so the feature bits are read by hand: std's detection would
    /// read a dozen leaves more on the first query.
    #[derive(Debug, Clone, Copy)]
    struct Cpu {
        intel: bool,
        leaf1_ecx: u32,
        leaf7_ebx: u32,
        ext1_ecx: u32,
        /// XCR0: the register state the kernel saves (0 without OSXSAVE).
        xcr0: u64,
    }

    // CPUID.1:ECX
    const SSE3: u32 = 1 << 0;
    const SSSE3: u32 = 1 << 9;
    const FMA: u32 = 1 << 12;
    const CMPXCHG16B: u32 = 1 << 13;
    const SSE4_1: u32 = 1 << 19;
    const SSE4_2: u32 = 1 << 20;
    const MOVBE: u32 = 1 << 22;
    const POPCNT: u32 = 1 << 23;
    const OSXSAVE: u32 = 1 << 27;
    const AVX: u32 = 1 << 28;
    const F16C: u32 = 1 << 29;
    // CPUID.(7,0):EBX
    const BMI1: u32 = 1 << 3;
    const AVX2: u32 = 1 << 5;
    const BMI2: u32 = 1 << 8;
    const AVX512F: u32 = 1 << 16;
    const AVX512DQ: u32 = 1 << 17;
    const AVX512PF: u32 = 1 << 26;
    const AVX512ER: u32 = 1 << 27;
    const AVX512CD: u32 = 1 << 28;
    const AVX512BW: u32 = 1 << 30;
    const AVX512VL: u32 = 1 << 31;
    const AVX512_FAMILY: u32 =
        AVX512F | AVX512DQ | AVX512PF | AVX512ER | AVX512CD | AVX512BW | AVX512VL;
    // CPUID.8000_0001:ECX
    const LAHF64_SAHF64: u32 = 1 << 0;
    const LZCNT: u32 = 1 << 5;
    // XCR0: XMM and YMM state; opmask, ZMM0-15 upper halves and ZMM16-31.
    const AVX_STATE: u64 = 0b110;
    const AVX512_STATE: u64 = 0b1110_0000;

    impl Cpu {
        fn read() -> Cpu {
            #[allow(unused_unsafe)]
            // SAFETY: CPUID exists on every x86-64 CPU; leaves 0, 1 and 0x8000_0001 are
            // implemented by all of them, leaf 7 is read only when leaf 0 reports it.
            let (l0, l1, l7, e1) = unsafe {
                let l0 = __cpuid(0);
                let l7 = (l0.eax >= 7).then(|| __cpuid_count(7, 0));
                (l0, __cpuid(1), l7, __cpuid(0x8000_0001))
            };
            let vendor = [l0.ebx, l0.edx, l0.ecx].map(u32::to_le_bytes);
            let xcr0 = if l1.ecx & OSXSAVE != 0 {
                // SAFETY: OSXSAVE says the kernel enabled XGETBV.
                unsafe { _xgetbv(0) }
            } else {
                0
            };
            Cpu {
                intel: vendor.as_flattened() == b"GenuineIntel",
                leaf1_ecx: l1.ecx,
                leaf7_ebx: l7.map_or(0, |r| r.ebx),
                ext1_ecx: e1.ecx,
                xcr0,
            }
        }

        fn get() -> Cpu {
            static CPU: OnceLock<Cpu> = OnceLock::new();
            *CPU.get_or_init(Cpu::read)
        }

        fn avx_state(self) -> bool {
            self.xcr0 & AVX_STATE == AVX_STATE
        }

        /// glibc's `CPU_FEATURE_USABLE` (`update_active`): a feature with no register
        /// state of its own is usable when CPUID reports it; the AVX family needs the YMM
        /// state saved, AVX-512 the ZMM and opmask state too.
        fn usable_1(self, bits: u32) -> bool {
            let avx_family = AVX | FMA | F16C;
            self.leaf1_ecx & bits == bits && (bits & avx_family == 0 || self.avx_state())
        }

        fn usable_7(self, bits: u32) -> bool {
            let state = if bits & AVX512_FAMILY != 0 {
                self.avx_state() && self.xcr0 & AVX512_STATE == AVX512_STATE
            } else {
                bits & AVX2 == 0 || self.avx_state()
            };
            self.leaf7_ebx & bits == bits && state
        }

        fn usable_ext1(self, bits: u32) -> bool {
            self.ext1_ecx & bits == bits
        }

        /// `sysdeps/x86/get-isa-level.h`: each level requires the previous one.
        fn level(self) -> u8 {
            let v2 = self.usable_1(CMPXCHG16B | POPCNT | SSE3 | SSE4_1 | SSE4_2 | SSSE3)
                && self.usable_ext1(LAHF64_SAHF64);
            let v3 = v2
                && self.usable_1(AVX | F16C | FMA | MOVBE)
                && self.usable_7(AVX2 | BMI1 | BMI2)
                && self.usable_ext1(LZCNT);
            let v4 = v3 && self.usable_7(AVX512F | AVX512BW | AVX512CD | AVX512DQ | AVX512VL);
            1 + u8::from(v2) + u8::from(v3) + u8::from(v4)
        }

        fn avx512_1(self) -> bool {
            self.intel
                && self.usable_7(AVX512CD | AVX512BW | AVX512DQ | AVX512VL)
                && !self.usable_7(AVX512ER)
        }

        fn platform_override(self) -> Option<&'static str> {
            if !self.intel {
                return None;
            }
            if self.usable_7(AVX512CD) && self.usable_7(AVX512ER) {
                // With AVX512ER and no AVX512PF glibc names no platform, not even haswell.
                return self.usable_7(AVX512PF).then_some("xeon_phi");
            }
            let haswell = self.usable_7(AVX2 | BMI1 | BMI2)
                && self.usable_1(FMA | MOVBE | POPCNT)
                && self.usable_ext1(LZCNT);
            haswell.then_some("haswell")
        }
    }

    pub(super) fn supports(name: &str) -> bool {
        let need = match name {
            "x86-64-v2" => 2,
            "x86-64-v3" => 3,
            "x86-64-v4" => 4,
            _ => return false,
        };
        Cpu::get().level() >= need
    }

    pub(super) fn avx512_1() -> bool {
        Cpu::get().avx512_1()
    }

    pub(super) fn platform_override() -> Option<&'static str> {
        Cpu::get().platform_override()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// The hand-read bits agree with std's detection wherever std has a name.
        #[test]
        fn the_bits_agree_with_std() {
            let cpu = Cpu::get();
            // Each feature named once: std's name (a token tree: std's macro matches the
            // name's own tokens), then the check and bit that answer it.
            macro_rules! agree {
                ($($name:tt: $check:ident($bit:ident)),* $(,)?) => {
                    $(assert_eq!(cpu.$check($bit), is_x86_feature_detected!($name), $name);)*
                };
            }
            agree!(
                "sse3": usable_1(SSE3),
                "ssse3": usable_1(SSSE3),
                "fma": usable_1(FMA),
                "cmpxchg16b": usable_1(CMPXCHG16B),
                "sse4.1": usable_1(SSE4_1),
                "sse4.2": usable_1(SSE4_2),
                "movbe": usable_1(MOVBE),
                "popcnt": usable_1(POPCNT),
                "avx": usable_1(AVX),
                "f16c": usable_1(F16C),
                "bmi1": usable_7(BMI1),
                "avx2": usable_7(AVX2),
                "bmi2": usable_7(BMI2),
                "avx512f": usable_7(AVX512F),
                "avx512dq": usable_7(AVX512DQ),
                "avx512cd": usable_7(AVX512CD),
                "avx512bw": usable_7(AVX512BW),
                "avx512vl": usable_7(AVX512VL),
                "lzcnt": usable_ext1(LZCNT),
            );
        }

        fn cpu(leaf1_ecx: u32, leaf7_ebx: u32, ext1_ecx: u32, xcr0: u64) -> Cpu {
            Cpu {
                intel: true,
                leaf1_ecx,
                leaf7_ebx,
                ext1_ecx,
                xcr0,
            }
        }

        const V2_1: u32 = CMPXCHG16B | POPCNT | SSE3 | SSE4_1 | SSE4_2 | SSSE3;
        const V3_1: u32 = V2_1 | AVX | F16C | FMA | MOVBE | OSXSAVE;
        const V3_7: u32 = AVX2 | BMI1 | BMI2;
        const V4_7: u32 = V3_7 | AVX512F | AVX512BW | AVX512CD | AVX512DQ | AVX512VL;

        #[test]
        fn levels_need_the_register_state_saved() {
            let all = AVX_STATE | AVX512_STATE;
            assert_eq!(cpu(V2_1, 0, LAHF64_SAHF64, 0).level(), 2);
            assert_eq!(cpu(V2_1, 0, 0, 0).level(), 1, "no LAHF/SAHF in 64-bit mode");
            assert_eq!(cpu(V3_1, V3_7, LAHF64_SAHF64 | LZCNT, AVX_STATE).level(), 3);
            assert_eq!(
                cpu(V3_1, V3_7, LAHF64_SAHF64 | LZCNT, 0b10).level(),
                2,
                "no YMM"
            );
            assert_eq!(cpu(V3_1, V4_7, LAHF64_SAHF64 | LZCNT, all).level(), 4);
            assert_eq!(cpu(V3_1, V4_7, LAHF64_SAHF64 | LZCNT, AVX_STATE).level(), 3);
        }

        #[test]
        fn platforms_as_glibc_names_them() {
            let ext = LAHF64_SAHF64 | LZCNT;
            let all = AVX_STATE | AVX512_STATE;
            assert_eq!(
                cpu(V3_1, V3_7, ext, AVX_STATE).platform_override(),
                Some("haswell")
            );
            let phi = V4_7 | AVX512ER | AVX512PF;
            assert_eq!(
                cpu(V3_1, phi, ext, all).platform_override(),
                Some("xeon_phi")
            );
            assert_eq!(
                cpu(V3_1, V4_7 | AVX512ER, ext, all).platform_override(),
                None
            );
            assert!(cpu(V3_1, V4_7, ext, all).avx512_1());
            assert!(!cpu(V3_1, V4_7 | AVX512ER, ext, all).avx512_1());
            let amd = Cpu {
                intel: false,
                ..cpu(V3_1, V4_7, ext, all)
            };
            assert_eq!(amd.platform_override(), None);
            assert!(!amd.avx512_1());
        }
    }
}
