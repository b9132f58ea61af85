//! The cache entry flags each glibc port's loader accepts (`_dl_cache_check_flags` and
//! `_DL_CACHE_DEFAULT_ID` in `sysdeps/unix/sysv/linux/*/dl-cache.h`,
//! `sysdeps/x86_64/dl-cache.h`, `sysdeps/generic/dl-cache.h`).

use depclose_elf::machine::{
    EM_AARCH64, EM_ARM, EM_IA_64, EM_LOONGARCH, EM_MIPS, EM_PPC64, EM_RISCV, EM_S390, EM_SPARCV9,
    EM_X86_64,
};

/// `FLAG_ELF_LIBC6` in `sysdeps/generic/ldconfig.h`: the type byte of every glibc library.
const FLAG_ELF_LIBC6: i32 = 0x0003;
/// `FLAG_ELF`: generic ELF, accepted by the generic `_dl_cache_check_flags`.
const FLAG_ELF: i32 = 0x0001;
/// The ABI byte of an entry (`FLAG_*` in `sysdeps/generic/ldconfig.h`), or'ed with
/// `FLAG_ELF_LIBC6` in the flags a loader accepts.
const FLAG_SPARC_LIB64: i32 = 0x0100;
const FLAG_IA64_LIB64: i32 = 0x0200;
const FLAG_X8664_LIB64: i32 = 0x0300;
const FLAG_S390_LIB64: i32 = 0x0400;
const FLAG_POWERPC_LIB64: i32 = 0x0500;
const FLAG_MIPS64_LIBN32: i32 = 0x0600;
const FLAG_MIPS64_LIBN64: i32 = 0x0700;
const FLAG_X8664_LIBX32: i32 = 0x0800;
const FLAG_ARM_LIBHF: i32 = 0x0900;
const FLAG_AARCH64_LIB64: i32 = 0x0a00;
const FLAG_ARM_LIBSF: i32 = 0x0b00;
const FLAG_MIPS_LIB32_NAN2008: i32 = 0x0c00;
const FLAG_MIPS64_LIBN32_NAN2008: i32 = 0x0d00;
const FLAG_MIPS64_LIBN64_NAN2008: i32 = 0x0e00;
const FLAG_RISCV_FLOAT_ABI_SOFT: i32 = 0x0f00;
const FLAG_RISCV_FLOAT_ABI_DOUBLE: i32 = 0x1000;
const FLAG_LARCH_FLOAT_ABI_SOFT: i32 = 0x1100;
const FLAG_LARCH_FLOAT_ABI_DOUBLE: i32 = 0x1200;

/// `e_flags` bits from `elf.h` that select an ABI, hence a loader and its cache flags.
const EF_ARM_ABI_FLOAT_HARD: u32 = 0x400;
const EF_MIPS_ABI2: u32 = 0x20;
const EF_MIPS_NAN2008: u32 = 0x400;
const EF_RISCV_FLOAT_ABI: u32 = 0x6;
const EF_RISCV_FLOAT_ABI_DOUBLE: u32 = 0x4;
const EF_LARCH_ABI_MODIFIER_MASK: u32 = 0x7;
const EF_LARCH_ABI_DOUBLE_FLOAT: u32 = 0x3;

/// Which cache entry flags a loader accepts: `_dl_cache_check_flags` and
/// `_DL_CACHE_DEFAULT_ID` from the architecture's `dl-cache.h`.
///
/// An entry is usable if its flags equal `default_id` or `alternative`. Only an entry equal to
/// `default_id` ends the scan of equal keys in `search_cache` ("if the flags match, no better
/// entry will be found").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct AcceptFlags {
    /// `_DL_CACHE_DEFAULT_ID`.
    pub(crate) default_id: i32,
    /// The second value the check admits, if any: `1` (`FLAG_ELF`) in the generic
    /// `sysdeps/generic/dl-cache.h`, `FLAG_ARM_LIBHF|FLAG_ELF_LIBC6` or
    /// `FLAG_ARM_LIBSF|FLAG_ELF_LIBC6` on ARM, whose default id stays the generic 3.
    pub(crate) alternative: Option<i32>,
}

impl AcceptFlags {
    /// `sysdeps/generic/dl-cache.h`: `(flags) == 1 || (flags) == _DL_CACHE_DEFAULT_ID` with
    /// default id 3. Used by i386, 32-bit powerpc/s390/sparc, MIPS o32 with legacy NaN, every
    /// port without its own `dl-cache.h`, and LoongArch before glibc 2.38.
    pub(crate) const GENERIC: AcceptFlags = AcceptFlags {
        default_id: FLAG_ELF_LIBC6,
        alternative: Some(FLAG_ELF),
    };

    /// A loader whose check is `(flags) == _DL_CACHE_DEFAULT_ID`.
    pub(crate) const fn only(default_id: i32) -> AcceptFlags {
        AcceptFlags {
            default_id,
            alternative: None,
        }
    }

    /// `_dl_cache_check_flags (flags)`.
    pub(crate) fn accepts(&self, flags: i32) -> bool {
        flags == self.default_id || self.alternative == Some(flags)
    }
}

/// The cache flags accepted by the glibc loader that runs a program with this ELF header
/// (`e_machine`, `EI_CLASS == ELFCLASS64`, `e_flags`), per the `dl-cache.h` of that port.
///
/// The float ABI in `e_flags` picks the loader on ARM (`EF_ARM_ABI_FLOAT_HARD` → the
/// `__ARM_PCS_VFP` build), MIPS (`EF_MIPS_ABI2` → n32, `EF_MIPS_NAN2008`), RISC-V and
/// LoongArch (double float → the double-float build, anything else → the soft-float id, as
/// the `#else` branches of their headers do). LoongArch returns the glibc ≥ 2.38 ids; glibc
/// 2.36 and 2.37 had no LoongArch `dl-cache.h` and use [`AcceptFlags::GENERIC`]. IA-64
/// (`0x203`) was removed in glibc 2.38. Returns `None` for 32-bit AArch64 (ILP32), which has
/// no glibc loader. Machines without their own header get the generic rule.
pub(crate) fn accept_flags_for(machine: u16, class64: bool, e_flags: u32) -> Option<AcceptFlags> {
    let abi = |flag: i32| Some(AcceptFlags::only(flag | FLAG_ELF_LIBC6));
    match (machine, class64) {
        (EM_X86_64, true) => abi(FLAG_X8664_LIB64),
        (EM_X86_64, false) => abi(FLAG_X8664_LIBX32),
        (EM_AARCH64, true) => abi(FLAG_AARCH64_LIB64),
        (EM_AARCH64, false) => None,
        (EM_PPC64, true) => abi(FLAG_POWERPC_LIB64), // both byte orders
        (EM_S390, true) => abi(FLAG_S390_LIB64),
        (EM_SPARCV9, true) => abi(FLAG_SPARC_LIB64),
        (EM_IA_64, true) => abi(FLAG_IA64_LIB64),
        (EM_ARM, false) => Some(AcceptFlags {
            default_id: FLAG_ELF_LIBC6,
            alternative: Some(
                if e_flags & EF_ARM_ABI_FLOAT_HARD != 0 {
                    FLAG_ARM_LIBHF
                } else {
                    FLAG_ARM_LIBSF
                } | FLAG_ELF_LIBC6,
            ),
        }),
        (EM_MIPS, _) => {
            let nan2008 = e_flags & EF_MIPS_NAN2008 != 0;
            match (class64, e_flags & EF_MIPS_ABI2 != 0, nan2008) {
                (true, _, false) => abi(FLAG_MIPS64_LIBN64),
                (true, _, true) => abi(FLAG_MIPS64_LIBN64_NAN2008),
                (false, true, false) => abi(FLAG_MIPS64_LIBN32),
                (false, true, true) => abi(FLAG_MIPS64_LIBN32_NAN2008),
                (false, false, true) => abi(FLAG_MIPS_LIB32_NAN2008),
                (false, false, false) => Some(AcceptFlags::GENERIC),
            }
        }
        (EM_RISCV, _) => {
            if e_flags & EF_RISCV_FLOAT_ABI == EF_RISCV_FLOAT_ABI_DOUBLE {
                abi(FLAG_RISCV_FLOAT_ABI_DOUBLE)
            } else {
                abi(FLAG_RISCV_FLOAT_ABI_SOFT)
            }
        }
        (EM_LOONGARCH, _) => {
            if e_flags & EF_LARCH_ABI_MODIFIER_MASK == EF_LARCH_ABI_DOUBLE_FLOAT {
                abi(FLAG_LARCH_FLOAT_ABI_DOUBLE)
            } else {
                abi(FLAG_LARCH_FLOAT_ABI_SOFT)
            }
        }
        // i386, 32-bit powerpc, s390 and sparc, and every other port.
        _ => Some(AcceptFlags::GENERIC),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::cache::fixtures::*;
    use crate::cache::{ByteOrder, LdCache, write};

    #[test]
    fn cache_accept_flags_per_port() {
        let only = |id| Some(AcceptFlags::only(id));
        assert_eq!(accept_flags_for(EM_X86_64, true, 0), only(0x303));
        assert_eq!(accept_flags_for(EM_X86_64, false, 0), only(0x803));
        assert_eq!(accept_flags_for(3, false, 0), Some(AcceptFlags::GENERIC)); // i386
        assert_eq!(accept_flags_for(EM_AARCH64, true, 0), only(0xa03));
        assert_eq!(accept_flags_for(EM_AARCH64, false, 0), None);
        assert_eq!(accept_flags_for(EM_PPC64, true, 2), only(0x503));
        assert_eq!(accept_flags_for(20, false, 0), Some(AcceptFlags::GENERIC)); // ppc
        assert_eq!(accept_flags_for(EM_S390, true, 0), only(0x403));
        assert_eq!(accept_flags_for(EM_SPARCV9, true, 0), only(0x103));
        assert_eq!(accept_flags_for(EM_RISCV, true, 0x5), only(0x1003));
        assert_eq!(accept_flags_for(EM_RISCV, true, 0x1), only(0x0f03));
        assert_eq!(accept_flags_for(EM_LOONGARCH, true, 0x43), only(0x1203));
        assert_eq!(accept_flags_for(EM_LOONGARCH, true, 0x41), only(0x1103));
        assert_eq!(accept_flags_for(EM_MIPS, true, 0), only(0x703));
        assert_eq!(accept_flags_for(EM_MIPS, true, 0x400), only(0xe03));
        assert_eq!(accept_flags_for(EM_MIPS, false, 0x20), only(0x603));
        assert_eq!(accept_flags_for(EM_MIPS, false, 0x420), only(0xd03));
        assert_eq!(accept_flags_for(EM_MIPS, false, 0x400), only(0xc03));
        assert_eq!(
            accept_flags_for(EM_MIPS, false, 0),
            Some(AcceptFlags::GENERIC)
        );
        let hard = accept_flags_for(EM_ARM, false, 0x0500_0400).unwrap();
        let soft = accept_flags_for(EM_ARM, false, 0x0500_0200).unwrap();
        assert!(hard.accepts(0x903) && hard.accepts(3) && !hard.accepts(0xb03));
        assert!(soft.accepts(0xb03) && soft.accepts(3) && !soft.accepts(0x903));
        assert!(AcceptFlags::GENERIC.accepts(1) && !X86_64.accepts(3));

        // ARM hard-float: a 0x903 entry wins, though only 3 is the default id.
        let cache = LdCache::parse(
            &write(
                &[
                    entry("libm.so.6", "/lib/arm-linux-gnueabihf/libm.so.6", 0x903),
                    entry("libm.so.6", "/lib/arm-linux-gnueabi/libm.so.6", 0xb03),
                    entry("libm.so.6", "/lib/libm.so.6", 0x003),
                ],
                ByteOrder::Little,
                None,
            )
            .unwrap(),
        )
        .unwrap();
        let value = |a| {
            cache
                .lookup("libm.so.6", &query(a, &[]))
                .unwrap()
                .value
                .clone()
        };
        assert_eq!(value(hard), "/lib/arm-linux-gnueabihf/libm.so.6");
        assert_eq!(value(soft), "/lib/arm-linux-gnueabi/libm.so.6");
    }
}
