//! How an object is hardened, with checksec's meanings where they overlap (docs/audit.md
//! says where and why they differ).

use std::collections::HashSet;

use depclose_elf::{AuditFacts, Binding, ObjectType};
use serde::Serialize;

/// `p_flags` bits.
const PF_X: u32 = 1;
const PF_W: u32 = 2;
const PF_R: u32 = 4;
/// `DF_BIND_NOW` (`DT_FLAGS`) and `DF_TEXTREL`.
const DF_TEXTREL: u64 = 0x4;
const DF_BIND_NOW: u64 = 0x8;
/// `DF_1_NOW` (`DT_FLAGS_1`).
const DF_1_NOW: u64 = 0x1;
/// `GNU_PROPERTY_X86_FEATURE_1_IBT` and `_SHSTK`.
const X86_IBT: u32 = 0x1;
const X86_SHSTK: u32 = 0x2;

/// The hardening of one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hardening {
    /// `yes` (a position-independent executable), `no` (`ET_EXEC`), `dso` (a shared object),
    /// `rel` (a relocatable object).
    pub pie: &'static str,
    /// `full` (`PT_GNU_RELRO` and bind-now), `partial` (`PT_GNU_RELRO`), `none`.
    pub relro: &'static str,
    /// Every symbol bound at load time (`DT_BIND_NOW`, `DF_BIND_NOW` or `DF_1_NOW`).
    pub bind_now: bool,
    /// A `PT_GNU_STACK` without execute permission.
    pub nx: bool,
    /// It uses the stack protector (`__stack_chk_fail`, `__stack_chk_guard` or
    /// `__intel_security_cookie`).
    pub canary: bool,
    /// Calls of fortified functions (`__memcpy_chk`): the `*_chk` functions of the closure's
    /// libc it names.
    pub fortified: usize,
    /// Calls that could be fortified: the fortified ones and those of the plain functions
    /// (`memcpy`) that libc has a `*_chk` variant of.
    pub fortifiable: usize,
    /// Built for Intel CET indirect-branch tracking and shadow stacks
    /// (`.note.gnu.property`); `null` on other architectures.
    pub ibt: Option<bool>,
    pub shstk: Option<bool>,
    /// Relocations in read-only segments (`DT_TEXTREL`, `DF_TEXTREL`).
    pub textrel: bool,
    /// Asks for an executable stack (`PT_GNU_STACK` with execute permission, or none).
    pub exec_stack: bool,
    /// A loadable segment both writable and executable.
    pub rwx_segment: bool,
    /// No `.symtab`.
    pub stripped: bool,
}

/// The fortified functions a libc offers: `__memcpy_chk` as `memcpy_chk`, and the plain
/// names they fortify (`memcpy`).
#[derive(Debug, Clone, Default)]
pub struct Fortifiable {
    checked: HashSet<String>,
    plain: HashSet<String>,
}

impl Fortifiable {
    /// From the libc's facts: its default-version `__*_chk` definitions.
    pub fn of_libc(libc: &AuditFacts) -> Fortifiable {
        let mut out = Fortifiable::default();
        for s in libc.symbols.iter().filter(|s| s.defined) {
            if s.version.as_ref().is_some_and(|v| v.hidden) {
                continue;
            }
            // What follows the last `__`, if it ends in `_chk`.
            let Some((_, rest)) = s.name.rsplit_once("__") else {
                continue;
            };
            if rest.ends_with("_chk") && !rest.is_empty() {
                out.plain.insert(rest.replace("_chk", ""));
                out.checked.insert(rest.to_owned());
            }
        }
        out
    }
}

/// The hardening of an object from its facts; `fortify` is what its closure's libc offers.
pub(crate) fn hardening(f: &AuditFacts, fortify: &Fortifiable) -> Hardening {
    let bind_now = f.bind_now || f.flags & DF_BIND_NOW != 0 || f.flags_1 & DF_1_NOW != 0;
    let exec_stack = f.gnu_stack.is_none_or(|flags| flags & PF_X != 0);
    let names = || {
        f.symbols
            .iter()
            .map(|s| s.name.trim_start_matches('_'))
            .filter(|n| !n.is_empty())
    };
    let fortified = names().filter(|n| fortify.checked.contains(*n)).count();
    let unchecked = names().filter(|n| fortify.plain.contains(*n)).count();
    let cet =
        f.machine == depclose_elf::machine::EM_X86_64 || f.machine == depclose_elf::machine::EM_386;
    let x86 = f.x86_feature_1_and.unwrap_or(0);
    Hardening {
        pie: match f.object_type {
            ObjectType::Executable => "no",
            ObjectType::SharedObject if f.debug => "yes",
            ObjectType::SharedObject => "dso",
            _ => "rel",
        },
        relro: match (f.relro, bind_now) {
            (true, true) => "full",
            (true, false) => "partial",
            (false, _) => "none",
        },
        bind_now,
        nx: !exec_stack,
        canary: f.symbols.iter().any(|s| {
            s.binding != Binding::Local
                && matches!(
                    s.name.as_str(),
                    "__stack_chk_fail" | "__stack_chk_guard" | "__intel_security_cookie"
                )
        }),
        fortified,
        fortifiable: fortified + unchecked,
        ibt: cet.then_some(x86 & X86_IBT != 0),
        shstk: cet.then_some(x86 & X86_SHSTK != 0),
        textrel: f.textrel || f.flags & DF_TEXTREL != 0,
        exec_stack,
        rwx_segment: f.load_flags.iter().any(|p| {
            p & (PF_R | PF_W | PF_X) == PF_R | PF_W | PF_X || p & (PF_W | PF_X) == PF_W | PF_X
        }),
        stripped: !f.symtab,
    }
}
