//! What an audit judges of one object beyond what the loader reads: checksec-style
//! hardening (PIE, RELRO, immediate binding, the stack's and the segments' permissions, the
//! CET and BTI/PAC properties, a symbol table left in) and the dynamic symbols with their
//! bindings and versions, what the object needs of each library and which versions it
//! defines. The loader's view in [`crate::read_file`] stays as it is: this is a second,
//! wider reading of one mapping of the file, asked for by audits only.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use goblin::container::{Ctx, Endian};
use goblin::elf::dynamic::{
    DT_BIND_NOW, DT_DEBUG, DT_FLAGS, DT_FLAGS_1, DT_GNU_HASH, DT_HASH, DT_JMPREL, DT_PLTREL,
    DT_PLTRELSZ, DT_REL, DT_RELA, DT_RELASZ, DT_RELSZ, DT_STRSZ, DT_STRTAB, DT_SYMENT, DT_SYMTAB,
    DT_TEXTREL, DT_VERDEF, DT_VERDEFNUM, DT_VERNEED, DT_VERNEEDNUM, DT_VERSYM, Dyn, Dynamic,
};
use goblin::elf::header::{ET_CORE, ET_DYN, ET_EXEC, ET_REL};
use goblin::elf::note::NT_GNU_PROPERTY_TYPE_0;
use goblin::elf::program_header::{
    PT_GNU_PROPERTY, PT_GNU_RELRO, PT_GNU_STACK, PT_INTERP, PT_LOAD, PT_NOTE, ProgramHeader,
};
use goblin::elf::reloc::RelocSection;
use goblin::elf::section_header::{
    SHN_UNDEF, SHT_DYNSYM, SHT_GNU_VERDEF, SHT_GNU_VERNEED, SHT_GNU_VERSYM, SHT_NOTE, SHT_STRTAB,
    SHT_SYMTAB, SectionHeader,
};
use goblin::elf::sym::{STB_GLOBAL, STB_GNU_UNIQUE, STB_LOCAL, STB_WEAK, Sym, Symtab};
use goblin::elf::symver::{
    VER_FLG_BASE, VER_FLG_WEAK, VER_NDX_GLOBAL, VERSYM_HIDDEN, VERSYM_VERSION, VerdefSection,
    VerneedSection, VersymSection,
};

use crate::machine::{EM_386, EM_AARCH64, EM_MIPS, EM_S390, EM_X86_64};
use crate::read::map_file;
use crate::tables::{header_ctx, note_entries, u32_at};
use crate::{Error, ObjectType, name};

/// `GNU_PROPERTY_X86_FEATURE_1_AND`: bit 0 IBT, bit 1 SHSTK. Processor-specific, so read
/// only from x86 files (on AArch64 the same range means other properties).
const GNU_PROPERTY_X86_FEATURE_1_AND: u32 = 0xc000_0002;
/// `GNU_PROPERTY_AARCH64_FEATURE_1_AND`: bit 0 BTI, bit 1 PAC.
const GNU_PROPERTY_AARCH64_FEATURE_1_AND: u32 = 0xc000_0000;
/// `DT_MIPS_SYMTABNO`: the number of dynamic symbols, on MIPS.
const DT_MIPS_SYMTABNO: u64 = 0x7000_0011;
/// binutils' `EM_ALPHA`: with s390, the machines whose 64-bit `DT_HASH` entries are 8 bytes.
const EM_ALPHA: u16 = 0x9026;

/// What an audit needs of one ELF file to judge its hardening, symbol binding and versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFacts {
    /// `e_type`: a PIE is a [`ObjectType::SharedObject`] with `DF_1_PIE`.
    pub object_type: ObjectType,
    /// `e_machine`.
    pub machine: u16,
    /// A `PT_INTERP` segment: the kernel starts the loader for it.
    pub interpreter: bool,
    /// `DT_FLAGS` (0 if absent): `DF_BIND_NOW`, `DF_TEXTREL`, `DF_STATIC_TLS`, ...
    pub flags: u64,
    /// `DT_FLAGS_1` (0 if absent): `DF_1_NOW`, `DF_1_PIE`, ...
    pub flags_1: u64,
    /// A `DT_BIND_NOW` entry (old-style; new linkers say it in `flags` and `flags_1`).
    pub bind_now: bool,
    /// A `DT_TEXTREL` entry: relocations write to read-only segments.
    pub textrel: bool,
    /// A `DT_DEBUG` entry, which the linker gives executables (PIE ones too) for debuggers
    /// and shared libraries not: checksec tells a PIE from a DSO by it.
    pub debug: bool,
    /// A `PT_GNU_RELRO` segment: the loader makes it read-only after relocating.
    pub relro: bool,
    /// `p_flags` of `PT_GNU_STACK` (`PF_X` set: an executable stack); `None` without one,
    /// which the kernel takes as an executable stack on most machines.
    pub gnu_stack: Option<u32>,
    /// `p_flags` of each `PT_LOAD`, in program-header order (a `PF_W | PF_X` segment is
    /// writable and executable).
    pub load_flags: Vec<u32>,
    /// An `SHT_SYMTAB` section: the static symbol table was not stripped.
    pub symtab: bool,
    /// The `GNU_PROPERTY_X86_FEATURE_1_AND` value of the `NT_GNU_PROPERTY_TYPE_0` notes of
    /// an x86 file (bit 0 IBT, bit 1 SHSTK); `None` when no note has it, as a linker leaves
    /// it when one input lacks the feature.
    pub x86_feature_1_and: Option<u32>,
    /// The `GNU_PROPERTY_AARCH64_FEATURE_1_AND` value of an AArch64 file (bit 0 BTI, bit 1
    /// PAC); `None` when no note has it.
    pub aarch64_feature_1_and: Option<u32>,
    /// The dynamic symbol table without its null entry 0, in table order.
    pub symbols: Vec<Symbol>,
    /// The symbols the program's `R_*_COPY` relocations copy from a library: defined in
    /// the program, yet looked up by the loader in the other objects.
    pub copied: Vec<String>,
    /// `.gnu.version_r` (`DT_VERNEED`): the versions needed of each library, in table order.
    pub needed_versions: Vec<VersionNeed>,
    /// `.gnu.version_d` (`DT_VERDEF`) names in table order, without the `VER_FLG_BASE`
    /// entry (the file's own name).
    pub defined_versions: Vec<String>,
}

/// One entry of the dynamic symbol table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    /// The name, without a version.
    pub name: String,
    /// `st_shndx != SHN_UNDEF`: the object provides it (else it imports it).
    pub defined: bool,
    /// `STB_*` of `st_info`.
    pub binding: Binding,
    /// `st_type`: `STT_OBJECT` 1, `STT_FUNC` 2, `STT_TLS` 6, `STT_GNU_IFUNC` 10, ...
    pub kind: u8,
    /// `st_other & 3`: `STV_DEFAULT` 0, `STV_INTERNAL` 1, `STV_HIDDEN` 2, `STV_PROTECTED` 3.
    pub visibility: u8,
    /// From `.gnu.version`: `None` for `VER_NDX_LOCAL` and `VER_NDX_GLOBAL`, or without one.
    pub version: Option<SymbolVersion>,
}

/// A symbol's binding (`STB_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Binding {
    /// `STB_LOCAL`.
    Local,
    /// `STB_GLOBAL`.
    Global,
    /// `STB_WEAK`: an undefined weak symbol may stay unresolved.
    Weak,
    /// `STB_GNU_UNIQUE`: one definition process-wide, and the object can never be unloaded.
    Unique,
}

/// The version a symbol is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolVersion {
    /// The version's name, e.g. `GLIBC_2.34`.
    pub name: String,
    /// The `0x8000` bit of the `.gnu.version` entry: not the default version (`name@V`
    /// rather than `name@@V`) for a definition.
    pub hidden: bool,
    /// For a version the object needs (an undefined symbol's): the library it needs it of.
    pub file: Option<String>,
}

/// One entry of `.gnu.version_r`: what the object needs of one library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionNeed {
    /// The library, as its `DT_NEEDED` names it (`libc.so.6`).
    pub file: String,
    /// The versions needed of it, in table order.
    pub versions: Vec<NeededVersion>,
}

/// One version needed of a library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeededVersion {
    /// The version's name.
    pub name: String,
    /// `VER_FLG_WEAK`: the loader only warns when the library lacks it.
    pub weak: bool,
}

/// The audit facts of the ELF file at `path`, from one mapping of the file.
pub fn audit_facts(path: &Path) -> Result<AuditFacts, Error> {
    let (map, _) = map_file(path)?;
    audit_facts_of_bytes(path, &map)
}

/// [`audit_facts`] of a file's bytes already in memory, with `path` for the error: the
/// entry point of the fuzz targets and mutation tests.
#[doc(hidden)]
pub fn audit_facts_of_bytes(path: &Path, bytes: &[u8]) -> Result<AuditFacts, Error> {
    facts_of(bytes).map_err(|reason| Error::Malformed {
        path: path.to_path_buf(),
        reason,
        identity: None,
    })
}

fn facts_of(bytes: &[u8]) -> Result<AuditFacts, String> {
    let (header, ctx) = header_ctx(bytes)?;
    if header.e_phnum > 0 && usize::from(header.e_phentsize) != ProgramHeader::size(ctx) {
        return Err("e_phentsize does not match the ELF class".to_owned());
    }
    let phoff = usize::try_from(header.e_phoff).map_err(|_| "e_phoff out of range")?;
    let segments = ProgramHeader::parse(bytes, phoff, usize::from(header.e_phnum), ctx)
        .map_err(|e| format!("program headers: {e}"))?;
    if header.e_shnum > 0 && usize::from(header.e_shentsize) != SectionHeader::size(ctx) {
        return Err("e_shentsize does not match the ELF class".to_owned());
    }
    let shoff = usize::try_from(header.e_shoff).map_err(|_| "e_shoff out of range")?;
    // An offset of 0 is a file without section headers (stripped of them, as `sstrip` does).
    let sections = SectionHeader::parse(bytes, shoff, usize::from(header.e_shnum), ctx)
        .map_err(|e| format!("section headers: {e}"))?;
    let dyns = Dynamic::parse(bytes, &segments, ctx)
        .map_err(|e| format!("dynamic section: {e}"))?
        .map(|d| d.dyns)
        .unwrap_or_default();
    let tags = Tags {
        dyns: &dyns,
        segments: &segments,
    };
    let value = |tag| tags.value(tag);
    let has_segment = |p_type: u32| segments.iter().any(|p| p.p_type == p_type);
    let feature = |pr_type| feature_1_and(bytes, &segments, &sections, ctx, pr_type);
    let (x86_feature_1_and, aarch64_feature_1_and) = match header.e_machine {
        EM_386 | EM_X86_64 => (feature(GNU_PROPERTY_X86_FEATURE_1_AND)?, None),
        EM_AARCH64 => (None, feature(GNU_PROPERTY_AARCH64_FEATURE_1_AND)?),
        _ => (None, None),
    };
    // The section headers as the linker wrote them give each table's exact size (and are
    // what readelf reads); without them, the tables are where the dynamic section puts them.
    let tables = if sections.iter().any(|s| s.sh_type == SHT_DYNSYM) {
        Cow::Borrowed(sections.as_slice())
    } else {
        Cow::Owned(tables_from_dynamic(bytes, &tags, header.e_machine, ctx)?)
    };
    let mut version_names = HashMap::new();
    let needed_versions = needed_versions(bytes, &tables, ctx, &mut version_names)?;
    let defined_versions = defined_versions(bytes, &tables, ctx, &mut version_names)?;
    let symbols = symbols(bytes, &tables, ctx, &version_names)?;
    let copy = copy_relocation(header.e_machine);
    let mut copied: Vec<String> = dynamic_relocations(bytes, &tags, ctx)?
        .iter()
        .filter(|(plt, r)| !plt && Some(r.r_type) == copy)
        // Index 0 (the null symbol) is not in `symbols`.
        .filter_map(|(_, r)| symbols.get(r.r_sym.checked_sub(1)?))
        .map(|s| s.name.clone())
        .collect();
    copied.sort();
    copied.dedup();
    Ok(AuditFacts {
        object_type: object_type(header.e_type),
        machine: header.e_machine,
        interpreter: has_segment(PT_INTERP),
        flags: value(DT_FLAGS).unwrap_or(0),
        flags_1: value(DT_FLAGS_1).unwrap_or(0),
        bind_now: value(DT_BIND_NOW).is_some(),
        textrel: value(DT_TEXTREL).is_some(),
        debug: value(DT_DEBUG).is_some(),
        relro: has_segment(PT_GNU_RELRO),
        gnu_stack: segments
            .iter()
            .find(|p| p.p_type == PT_GNU_STACK)
            .map(|p| p.p_flags),
        load_flags: segments
            .iter()
            .filter(|p| p.p_type == PT_LOAD)
            .map(|p| p.p_flags)
            .collect(),
        symtab: sections.iter().any(|s| s.sh_type == SHT_SYMTAB),
        x86_feature_1_and,
        aarch64_feature_1_and,
        symbols,
        copied,
        needed_versions,
        defined_versions,
    })
}

/// `e_type` as an [`ObjectType`] (the loader's view in read.rs reads its own).
fn object_type(e_type: u16) -> ObjectType {
    match e_type {
        ET_REL => ObjectType::Relocatable,
        ET_EXEC => ObjectType::Executable,
        ET_DYN => ObjectType::SharedObject,
        ET_CORE => ObjectType::Core,
        other => ObjectType::Other(other),
    }
}

/// The bytes `offset..offset + size` of the file, or `None` when they lie (partly) outside it.
fn slice(bytes: &[u8], offset: u64, size: u64) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(size).ok()?)?;
    bytes.get(start..end)
}

/// The file offset of a virtual address, through the `PT_LOAD` whose file bytes hold it.
fn file_offset(segments: &[ProgramHeader], address: u64) -> Option<u64> {
    segments
        .iter()
        .filter(|p| p.p_type == PT_LOAD)
        .find(|p| address >= p.p_vaddr && address - p.p_vaddr < p.p_filesz)
        .and_then(|p| p.p_offset.checked_add(address - p.p_vaddr))
}

/// The `pr_type` property of the `NT_GNU_PROPERTY_TYPE_0` notes owned "GNU", ANDed when
/// several notes have it. The notes are read where the kernel and the loader read them
/// (`PT_GNU_PROPERTY`), else in the `PT_NOTE` segments (linkers before `PT_GNU_PROPERTY`),
/// else, in a file without segments (an object file), in its note sections.
fn feature_1_and(
    bytes: &[u8],
    segments: &[ProgramHeader],
    sections: &[SectionHeader],
    ctx: Ctx,
    pr_type: u32,
) -> Result<Option<u32>, String> {
    let of_type = |p_type: u32| {
        segments
            .iter()
            .filter(move |p| p.p_type == p_type)
            .map(|p| (p.p_offset, p.p_filesz, p.p_align))
            .collect::<Vec<_>>()
    };
    let areas = if segments.iter().any(|p| p.p_type == PT_GNU_PROPERTY) {
        of_type(PT_GNU_PROPERTY)
    } else if !segments.is_empty() {
        of_type(PT_NOTE)
    } else {
        sections
            .iter()
            .filter(|s| s.sh_type == SHT_NOTE)
            .map(|s| (s.sh_offset, s.sh_size, s.sh_addralign))
            .collect()
    };
    let mut value = None;
    for (offset, size, align) in areas {
        let data = slice(bytes, offset, size).ok_or("a note area lies outside the file")?;
        // Notes are 4-byte aligned, or 8 in an area aligned so (`.note.gnu.property`).
        let align = if align == 8 { 8 } else { 4 };
        for (owner, n_type, desc) in note_entries(data, ctx.le, align) {
            if owner != b"GNU" || n_type != NT_GNU_PROPERTY_TYPE_0 {
                continue;
            }
            for (t, data) in properties(desc, ctx) {
                if t != pr_type {
                    continue;
                }
                let bits = <[u8; 4]>::try_from(data)
                    .map_err(|_| format!("GNU property {t:#x} is not 4 bytes"))?;
                let bits = match ctx.le {
                    Endian::Little => u32::from_le_bytes(bits),
                    Endian::Big => u32::from_be_bytes(bits),
                };
                value = Some(value.map_or(bits, |v| v & bits));
            }
        }
    }
    Ok(value)
}

/// The `(pr_type, pr_data)` of each property in an `NT_GNU_PROPERTY_TYPE_0` descriptor
/// (`pr_type`, `pr_datasz`, then the data padded to 8 bytes in a 64-bit file, 4 in a
/// 32-bit one); a truncated property ends the list.
fn properties(desc: &[u8], ctx: Ctx) -> impl Iterator<Item = (u32, &[u8])> {
    let align = if ctx.container.is_big() { 8 } else { 4 };
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let pr_type = u32_at(desc, at, ctx.le)?;
        let size = usize::try_from(u32_at(desc, at.checked_add(4)?, ctx.le)?).ok()?;
        let start = at.checked_add(8)?;
        let data = desc.get(start..start.checked_add(size)?)?;
        at = start.checked_add(size.checked_next_multiple_of(align)?)?;
        Some((pr_type, data))
    })
}

/// The dynamic section's entries, read as the loader reads them.
struct Tags<'a> {
    dyns: &'a [Dyn],
    segments: &'a [ProgramHeader],
}

impl Tags<'_> {
    /// The value of `tag`; like `get-dynamic-info.h`, a repeated tag keeps the last entry.
    fn value(&self, tag: u64) -> Option<u64> {
        self.dyns.iter().rfind(|d| d.d_tag == tag).map(|d| d.d_val)
    }

    /// The file offset of the address `tag` holds.
    fn offset(&self, tag: u64, what: &str) -> Result<Option<u64>, String> {
        self.value(tag)
            .map(|address| {
                file_offset(self.segments, address)
                    .ok_or_else(|| format!("{what} is not inside a loaded segment"))
            })
            .transpose()
    }
}

/// Section headers for the dynamic symbols, their strings and versions, made from the
/// dynamic section for a file without real ones (what the loader reads). The string table
/// is entry 1, the symbols entry 2; `DT_STRSZ` bounds the strings (the loader ignores it;
/// without it they run to the end of the file), and the version tables end where their
/// counts say (their size is not recorded).
fn tables_from_dynamic(
    bytes: &[u8],
    tags: &Tags<'_>,
    machine: u16,
    ctx: Ctx,
) -> Result<Vec<SectionHeader>, String> {
    let Some(symtab) = tags.offset(DT_SYMTAB, "DT_SYMTAB")? else {
        return Ok(Vec::new());
    };
    let strtab = tags
        .offset(DT_STRTAB, "DT_STRTAB")?
        .ok_or("DT_SYMTAB without DT_STRTAB")?;
    let rest = |at: u64| (bytes.len() as u64).saturating_sub(at);
    let value = |tag| tags.value(tag);
    let count = symbol_count(bytes, tags, machine, ctx)?;
    let entsize = Sym::size(ctx.container) as u64;
    let mut tables = vec![
        SectionHeader::default(),
        SectionHeader {
            sh_type: SHT_STRTAB,
            sh_offset: strtab,
            sh_size: value(DT_STRSZ).unwrap_or_else(|| rest(strtab)),
            ..SectionHeader::default()
        },
        SectionHeader {
            sh_type: SHT_DYNSYM,
            sh_offset: symtab,
            sh_size: entsize.saturating_mul(count as u64),
            sh_link: 1,
            sh_entsize: value(DT_SYMENT).unwrap_or(entsize),
            ..SectionHeader::default()
        },
    ];
    if let Some(at) = tags.offset(DT_VERSYM, "DT_VERSYM")? {
        tables.push(SectionHeader {
            sh_type: SHT_GNU_VERSYM,
            sh_offset: at,
            // One 2-byte entry per symbol.
            sh_size: (count as u64).saturating_mul(2),
            sh_link: 2,
            ..SectionHeader::default()
        });
    }
    // Not goblin's `DynamicInfo::verdefnum`: goblin maps that count as if it were an address.
    for (tag, count_tag, sh_type, what) in [
        (DT_VERNEED, DT_VERNEEDNUM, SHT_GNU_VERNEED, "DT_VERNEED"),
        (DT_VERDEF, DT_VERDEFNUM, SHT_GNU_VERDEF, "DT_VERDEF"),
    ] {
        if let Some(at) = tags.offset(tag, what)? {
            let entries = u32::try_from(value(count_tag).unwrap_or(0))
                .map_err(|_| format!("{what} count out of range"))?;
            tables.push(SectionHeader {
                sh_type,
                sh_offset: at,
                sh_size: rest(at),
                sh_link: 1,
                sh_info: entries,
                ..SectionHeader::default()
            });
        }
    }
    Ok(tables)
}

/// The number of dynamic symbols of a file without section headers: those the loader can
/// reach, through the hash table (lookups) or a relocation (an import no hash table lists:
/// with every GNU hash bucket empty, its `symoffset` need not count them); on MIPS,
/// `DT_MIPS_SYMTABNO` says it (and goblin misreads MIPS64 little-endian relocations).
fn symbol_count(bytes: &[u8], tags: &Tags<'_>, machine: u16, ctx: Ctx) -> Result<usize, String> {
    if machine == EM_MIPS {
        if let Some(n) = tags.value(DT_MIPS_SYMTABNO) {
            return usize::try_from(n).map_err(|_| "DT_MIPS_SYMTABNO out of range".to_owned());
        }
    }
    let to_usize = |v: u64| usize::try_from(v).map_err(|_| "offset out of range".to_owned());
    let hashed = if let Some(at) = tags.offset(DT_GNU_HASH, "DT_GNU_HASH")? {
        gnu_hash_count(bytes, to_usize(at)?, ctx).ok_or("DT_GNU_HASH runs past the file")?
    } else if let Some(at) = tags.offset(DT_HASH, "DT_HASH")? {
        hash_count(bytes, to_usize(at)?, machine, ctx).ok_or("DT_HASH runs past the file")?
    } else {
        0
    };
    let highest = dynamic_relocations(bytes, tags, ctx)?
        .iter()
        .map(|(_, r)| r.r_sym.saturating_add(1))
        .max()
        .unwrap_or(0);
    Ok(hashed.max(highest))
}

/// Every dynamic relocation (`DT_RELA`, `DT_REL`, then `DT_JMPREL`), each with whether it is
/// one of the PLT's.
fn dynamic_relocations(
    bytes: &[u8],
    tags: &Tags<'_>,
    ctx: Ctx,
) -> Result<Vec<(bool, goblin::elf::Reloc)>, String> {
    let to_usize = |v: u64| usize::try_from(v).map_err(|_| "offset out of range".to_owned());
    let plt_rela = tags.value(DT_PLTREL) == Some(DT_RELA);
    let mut out = Vec::new();
    for (tag, size_tag, is_rela, what) in [
        (DT_RELA, DT_RELASZ, true, "DT_RELA"),
        (DT_REL, DT_RELSZ, false, "DT_REL"),
        (DT_JMPREL, DT_PLTRELSZ, plt_rela, "DT_JMPREL"),
    ] {
        let Some(at) = tags.offset(tag, what)? else {
            continue;
        };
        let size = to_usize(tags.value(size_tag).unwrap_or(0))?;
        let relocations = RelocSection::parse(bytes, to_usize(at)?, size, is_rela, ctx)
            .map_err(|e| format!("{what}: {e}"))?;
        out.extend(relocations.iter().map(|r| (tag == DT_JMPREL, r)));
    }
    Ok(out)
}

/// `R_*_COPY` of a machine (each ABI's relocation table): the relocation that copies a
/// library's data into the program.
fn copy_relocation(machine: u16) -> Option<u32> {
    use crate::machine::*;
    Some(match machine {
        EM_X86_64 | EM_386 => 5,
        EM_AARCH64 => 1024,
        EM_ARM => 20,
        EM_PPC | EM_PPC64 => 19,
        EM_S390 => 9,
        EM_RISCV => 4,
        EM_LOONGARCH => 4,
        EM_MIPS => 126,
        EM_SPARCV9 => 19,
        _ => return None,
    })
}

/// The number of symbols a `DT_GNU_HASH` table covers, counted as readelf does: the chain
/// of the highest bucket runs to its entry with bit 0 set; with every bucket empty, there
/// are only the `symoffset` unhashed symbols before the hashed ones.
fn gnu_hash_count(bytes: &[u8], at: usize, ctx: Ctx) -> Option<usize> {
    let word = |index: usize| u32_at(bytes, at.checked_add(index.checked_mul(4)?)?, ctx.le);
    let buckets_len = usize::try_from(word(0)?).ok()?;
    let symoffset = usize::try_from(word(1)?).ok()?;
    // The bloom filter's words are the class's size: 2 or 1 of ours.
    let bloom = usize::try_from(word(2)?).ok()?;
    let buckets = bloom
        .checked_mul(if ctx.container.is_big() { 2 } else { 1 })?
        .checked_add(4)?;
    let chains = buckets.checked_add(buckets_len)?;
    let mut last = 0;
    for bucket in 0..buckets_len {
        last = last.max(word(buckets.checked_add(bucket)?)?);
    }
    let mut index = usize::try_from(last).ok()?;
    if index < symoffset {
        return Some(symoffset);
    }
    loop {
        if word(chains.checked_add(index - symoffset)?)? & 1 != 0 {
            return index.checked_add(1);
        }
        index += 1;
    }
}

/// `nchain` of a `DT_HASH` table: one chain entry per symbol. Its entries are 8 bytes on
/// 64-bit s390 and Alpha, 4 elsewhere.
fn hash_count(bytes: &[u8], at: usize, machine: u16, ctx: Ctx) -> Option<usize> {
    let word = |at: usize| u32_at(bytes, at, ctx.le).map(u64::from);
    let nchain = if ctx.container.is_big() && matches!(machine, EM_S390 | EM_ALPHA) {
        let (first, second) = (word(at.checked_add(8)?)?, word(at.checked_add(12)?)?);
        match ctx.le {
            Endian::Little => second << 32 | first,
            Endian::Big => first << 32 | second,
        }
    } else {
        word(at.checked_add(4)?)?
    };
    usize::try_from(nchain).ok()
}

/// The string table `table` links to (`sh_link`), as bytes.
fn linked_strings<'a>(
    bytes: &'a [u8],
    tables: &[SectionHeader],
    table: &SectionHeader,
    what: &str,
) -> Result<&'a [u8], String> {
    tables
        .get(table.sh_link as usize)
        .and_then(|s| slice(bytes, s.sh_offset, s.sh_size))
        .ok_or_else(|| format!("{what} link to no string table inside the file"))
}

/// The NUL-terminated string at `offset` in a string table, [`name`]-encoded as the
/// dynamic section's strings (a version need's file name is a `DT_NEEDED` name).
fn string(strings: &[u8], offset: usize, what: &str) -> Result<String, String> {
    let rest = strings
        .get(offset..)
        .ok_or_else(|| format!("{what} at {offset} past its string table"))?;
    let len = rest
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| format!("{what} at {offset} is not NUL-terminated"))?;
    Ok(name::encode(&rest[..len]).into_owned())
}

/// goblin's version iterators stop both at a zero `next` link (the end of the list, as the
/// loader and readelf take it) and at an entry they cannot read: a list shorter than its
/// count that did not end on a zero link is cut short.
fn complete(read: usize, count: usize, last_next: Option<u32>, what: &str) -> Result<(), String> {
    if read < count && last_next != Some(0) {
        return Err(format!(
            "{what}: {read} of {count} entries lie inside the table"
        ));
    }
    Ok(())
}

/// A `.gnu.version` index's version name, and the library it is needed of.
type VersionNames = HashMap<u16, (String, Option<String>)>;

/// The `SHT_GNU_verneed` table; each needed version's index goes into `names`.
fn needed_versions(
    bytes: &[u8],
    tables: &[SectionHeader],
    ctx: Ctx,
    names: &mut VersionNames,
) -> Result<Vec<VersionNeed>, String> {
    let Some(table) = tables.iter().find(|s| s.sh_type == SHT_GNU_VERNEED) else {
        return Ok(Vec::new());
    };
    let strings = linked_strings(bytes, tables, table, "the version needs")?;
    let section = VerneedSection::parse(bytes, std::slice::from_ref(table), ctx)
        .map_err(|e| format!("version needs: {e}"))?
        .ok_or("no version needs table")?;
    let mut needs = Vec::new();
    let mut last_next = None;
    for need in section.iter() {
        last_next = Some(need.vn_next);
        let file = string(strings, need.vn_file, "a version need's file name")?;
        let mut versions = Vec::new();
        let mut aux_next = None;
        for aux in need.iter() {
            aux_next = Some(aux.vna_next);
            let name = string(strings, aux.vna_name, "a needed version's name")?;
            names.insert(aux.vna_other, (name.clone(), Some(file.clone())));
            versions.push(NeededVersion {
                name,
                weak: aux.vna_flags & VER_FLG_WEAK != 0,
            });
        }
        let what = format!("the versions needed of {file}");
        complete(versions.len(), usize::from(need.vn_cnt), aux_next, &what)?;
        needs.push(VersionNeed { file, versions });
    }
    complete(
        needs.len(),
        table.sh_info as usize,
        last_next,
        "version needs",
    )?;
    Ok(needs)
}

/// The names of the `SHT_GNU_verdef` table but its base entry; each definition's index goes
/// into `names`.
fn defined_versions(
    bytes: &[u8],
    tables: &[SectionHeader],
    ctx: Ctx,
    names: &mut VersionNames,
) -> Result<Vec<String>, String> {
    let Some(table) = tables.iter().find(|s| s.sh_type == SHT_GNU_VERDEF) else {
        return Ok(Vec::new());
    };
    let strings = linked_strings(bytes, tables, table, "the version definitions")?;
    let section = VerdefSection::parse(bytes, std::slice::from_ref(table), ctx)
        .map_err(|e| format!("version definitions: {e}"))?
        .ok_or("no version definitions table")?;
    let mut defined = Vec::new();
    let mut read = 0;
    let mut last_next = None;
    for def in section.iter() {
        read += 1;
        last_next = Some(def.vd_next);
        // The first auxiliary entry names the version; the others name its parents.
        let aux = def
            .iter()
            .next()
            .ok_or_else(|| format!("version definition {} has no name", def.vd_ndx))?;
        let name = string(strings, aux.vda_name, "a defined version's name")?;
        names.insert(def.vd_ndx, (name.clone(), None));
        if def.vd_flags & VER_FLG_BASE == 0 {
            defined.push(name);
        }
    }
    complete(
        read,
        table.sh_info as usize,
        last_next,
        "version definitions",
    )?;
    Ok(defined)
}

/// The `SHT_DYNSYM` table but its null entry, with each symbol's version from
/// `SHT_GNU_versym` and `names`.
fn symbols(
    bytes: &[u8],
    tables: &[SectionHeader],
    ctx: Ctx,
    names: &VersionNames,
) -> Result<Vec<Symbol>, String> {
    let Some(table) = tables.iter().find(|s| s.sh_type == SHT_DYNSYM) else {
        return Ok(Vec::new());
    };
    let size = Sym::size(ctx.container) as u64;
    if table.sh_entsize != 0 && table.sh_entsize != size {
        return Err(format!(
            "dynamic symbols of {} bytes, not the class's {size}",
            table.sh_entsize
        ));
    }
    let count = usize::try_from(table.sh_size / size).map_err(|_| "too many symbols")?;
    if count == 0 {
        return Ok(Vec::new());
    }
    let strings = linked_strings(bytes, tables, table, "the dynamic symbols")?;
    let offset = usize::try_from(table.sh_offset).map_err(|_| "symbols out of range")?;
    let symtab =
        Symtab::parse(bytes, offset, count, ctx).map_err(|e| format!("dynamic symbols: {e}"))?;
    let versym = match tables.iter().find(|s| s.sh_type == SHT_GNU_VERSYM) {
        Some(v) => VersymSection::parse(bytes, std::slice::from_ref(v), ctx)
            .map_err(|e| format!("symbol versions: {e}"))?,
        None => None,
    };
    let mut out = Vec::with_capacity(count - 1);
    for (index, sym) in symtab.iter().enumerate().skip(1) {
        let name = string(strings, sym.st_name, "a symbol's name")?;
        let version = match &versym {
            Some(versym) => {
                let entry = versym
                    .get_at(index)
                    .ok_or_else(|| format!("symbol {name} has no version entry"))?;
                version_of(entry.vs_val, names).map_err(|e| format!("symbol {name}: {e}"))?
            }
            None => None,
        };
        out.push(Symbol {
            defined: sym.st_shndx != SHN_UNDEF as usize,
            binding: binding(sym.st_bind()).map_err(|e| format!("symbol {name}: {e}"))?,
            kind: sym.st_type(),
            visibility: sym.st_other & 3,
            version,
            name,
        });
    }
    Ok(out)
}

/// The version a `.gnu.version` entry names.
fn version_of(entry: u16, names: &VersionNames) -> Result<Option<SymbolVersion>, String> {
    let index = entry & VERSYM_VERSION;
    if index <= VER_NDX_GLOBAL {
        return Ok(None);
    }
    let (name, file) = names
        .get(&index)
        .ok_or_else(|| format!("version index {index} is neither defined nor needed"))?;
    Ok(Some(SymbolVersion {
        name: name.clone(),
        hidden: entry & VERSYM_HIDDEN != 0,
        file: file.clone(),
    }))
}

/// `STB_*` as a [`Binding`]; the other values are reserved or processor-specific, and no
/// Linux object's dynamic symbols use them.
fn binding(stb: u8) -> Result<Binding, String> {
    Ok(match stb {
        STB_LOCAL => Binding::Local,
        STB_GLOBAL => Binding::Global,
        STB_WEAK => Binding::Weak,
        STB_GNU_UNIQUE => Binding::Unique,
        other => {
            return Err(format!(
                "binding {other} is none of STB_LOCAL, STB_GLOBAL, STB_WEAK, STB_GNU_UNIQUE"
            ));
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::path::PathBuf;
    use std::process::Command;

    use goblin::elf::dynamic::{DF_1_NOW, DF_BIND_NOW};
    use goblin::elf::program_header::{PF_W, PF_X};

    use crate::DF_1_PIE;

    /// Print `SKIPPED <test>: <reason>` past the harness's capture of `println!`.
    fn skip(test: &str, reason: &str) {
        let _ = writeln!(std::io::stdout(), "SKIPPED {test}: {reason}");
    }

    /// Whether `cc` runs here (with `-m32`: whether it builds 32-bit programs); if not, the
    /// test is skipped with the reason.
    fn have_cc(test: &str, flags: &[&str]) -> bool {
        let dir = tempfile::tempdir().unwrap();
        let ok = build_status(dir.path(), "probe", "int main(void) { return 0; }\n", flags);
        if !ok {
            skip(test, &format!("cc does not build a program with {flags:?}"));
        }
        ok
    }

    fn build_status(dir: &Path, name: &str, source: &str, flags: &[&str]) -> bool {
        let c = dir.join(format!("{name}.c"));
        std::fs::write(&c, source).unwrap();
        Command::new("cc")
            .arg("-o")
            .arg(dir.join(name))
            .arg(&c)
            .args(flags)
            .current_dir(dir)
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Compile C `source` into `dir/name` with `flags` after the source.
    fn build(dir: &Path, name: &str, source: &str, flags: &[&str]) -> PathBuf {
        assert!(
            build_status(dir, name, source, flags),
            "cc {name} {flags:?}"
        );
        dir.join(name)
    }

    fn facts(path: &Path) -> AuditFacts {
        audit_facts(path).unwrap_or_else(|e| panic!("{e}"))
    }

    const MAIN: &str = "#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n";

    #[test]
    fn a_pie_is_a_shared_object_marked_pie() {
        const TEST: &str = "a_pie_is_a_shared_object_marked_pie";
        if !have_cc(TEST, &[]) {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let pie = facts(&build(dir.path(), "pie", MAIN, &["-fPIE", "-pie"]));
        assert_eq!(pie.object_type, ObjectType::SharedObject);
        assert_ne!(pie.flags_1 & DF_1_PIE, 0);
        assert!(pie.interpreter);
        let fixed = facts(&build(dir.path(), "fixed", MAIN, &["-fno-PIE", "-no-pie"]));
        assert_eq!(fixed.object_type, ObjectType::Executable);
        assert_eq!(fixed.flags_1 & DF_1_PIE, 0);
        assert!(fixed.interpreter);
        let puts = fixed.symbols.iter().find(|s| s.name == "puts").unwrap();
        assert!(!puts.defined);
        assert_eq!(
            (puts.binding, puts.kind, puts.visibility),
            (Binding::Global, 2, 0)
        );
    }

    #[test]
    fn relro_and_immediate_binding_follow_the_linker_flags() {
        const TEST: &str = "relro_and_immediate_binding_follow_the_linker_flags";
        if !have_cc(TEST, &[]) {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let link = |name: &str, flags: &[&str]| facts(&build(dir.path(), name, MAIN, flags));
        let now = link("now", &["-Wl,-z,relro,-z,now"]);
        assert!(now.relro);
        assert_ne!(now.flags & DF_BIND_NOW, 0);
        assert_ne!(now.flags_1 & DF_1_NOW, 0);
        // New linkers say it in the flags; the old-style entry only without new tags.
        assert!(!now.bind_now);
        let old = link("old", &["-Wl,-z,relro,-z,now,--disable-new-dtags"]);
        assert!(old.bind_now);
        let lazy = link("lazy", &["-Wl,-z,relro,-z,lazy"]);
        assert!(lazy.relro);
        assert_eq!(lazy.flags & DF_BIND_NOW, 0);
        assert_eq!(lazy.flags_1 & DF_1_NOW, 0);
        assert!(!lazy.bind_now);
        let norelro = link("norelro", &["-Wl,-z,norelro"]);
        assert!(!norelro.relro);
        assert!(!norelro.textrel);
    }

    #[test]
    fn an_executable_stack_is_seen_in_pt_gnu_stack() {
        const TEST: &str = "an_executable_stack_is_seen_in_pt_gnu_stack";
        if !have_cc(TEST, &[]) {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let exec = facts(&build(dir.path(), "exec", MAIN, &["-Wl,-z,execstack"]));
        assert_ne!(exec.gnu_stack.unwrap() & PF_X, 0);
        let plain = facts(&build(dir.path(), "plain", MAIN, &[]));
        assert_eq!(plain.gnu_stack.unwrap() & PF_X, 0);
        assert!(plain.load_flags.len() >= 2, "{:?}", plain.load_flags);
        assert!(plain.load_flags.iter().any(|f| f & PF_X != 0));
        assert!(
            !plain
                .load_flags
                .iter()
                .any(|f| f & PF_W != 0 && f & PF_X != 0)
        );
    }

    #[test]
    fn stripping_removes_the_symbol_table_not_the_dynamic_one() {
        const TEST: &str = "stripping_removes_the_symbol_table_not_the_dynamic_one";
        if !have_cc(TEST, &[]) {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let full = facts(&build(dir.path(), "full", MAIN, &[]));
        let stripped = facts(&build(dir.path(), "stripped", MAIN, &["-s"]));
        assert!(full.symtab);
        assert!(!stripped.symtab);
        assert_eq!(stripped.symbols, full.symbols);
        assert!(stripped.symbols.iter().any(|s| s.name == "puts"));
    }

    /// `-fcf-protection=full` marks an object IBT and SHSTK; the linker keeps the mark only
    /// when every input has it. Built without start files: Debian's crt objects are not
    /// marked, so a whole program never is.
    #[test]
    fn cet_marks_survive_only_when_every_object_has_them() {
        const TEST: &str = "cet_marks_survive_only_when_every_object_has_them";
        if !cfg!(target_arch = "x86_64") {
            skip(TEST, "not an x86-64 machine");
            return;
        }
        for class in [&[][..], &["-m32"]] {
            if !have_cc(TEST, class) {
                continue;
            }
            let dir = tempfile::tempdir().unwrap();
            let object = |name: &str, source: &str, protection: &str| {
                let mut flags = vec!["-c", "-fPIC", protection];
                flags.extend(class);
                build(dir.path(), name, source, &flags)
            };
            let marked = object(
                "marked.o",
                "int f(void) { return 1; }\n",
                "-fcf-protection=full",
            );
            let unmarked = object(
                "unmarked.o",
                "int h(void) { return 2; }\n",
                "-fcf-protection=none",
            );
            let library = |name: &str, objects: &[&Path]| {
                let out = dir.path().join(name);
                let status = Command::new("cc")
                    .args(["-shared", "-nostartfiles", "-o"])
                    .arg(&out)
                    .args(objects)
                    .args(class)
                    .status()
                    .unwrap();
                assert!(status.success());
                out
            };
            let full = library("libfull.so", &[&marked]);
            let f = facts(&full);
            assert_eq!(f.x86_feature_1_and.map(|v| v & 3), Some(3), "{class:?}");
            assert_eq!(f.aarch64_feature_1_and, None);
            let mixed = facts(&library("libmixed.so", &[&marked, &unmarked]));
            assert_eq!(mixed.x86_feature_1_and.unwrap_or(0) & 3, 0, "{class:?}");
            // The relocatable object has no segments: its note section is read.
            let o = facts(&marked);
            assert_eq!(o.object_type, ObjectType::Relocatable);
            assert_eq!(o.x86_feature_1_and.map(|v| v & 3), Some(3), "{class:?}");
            if class.is_empty() {
                as_aarch64(&std::fs::read(&full).unwrap());
            }
        }
    }

    /// The same property bits read as AArch64 ones once the machine and the property type
    /// say AArch64: the processor-specific type is read by the machine, not alone.
    fn as_aarch64(x86: &[u8]) {
        let mut bytes = x86.to_vec();
        bytes[18..20].copy_from_slice(&EM_AARCH64.to_le_bytes());
        assert_eq!(facts_of(&bytes).unwrap().x86_feature_1_and, None);
        assert_eq!(facts_of(&bytes).unwrap().aarch64_feature_1_and, None);
        // The x86 type right after the "GNU" owner of the property note becomes AArch64's.
        let note = bytes
            .windows(8)
            .position(|w| w == b"\x05\0\0\0GNU\0")
            .unwrap();
        let x86_type = GNU_PROPERTY_X86_FEATURE_1_AND.to_le_bytes();
        let at = note
            + bytes[note..]
                .windows(4)
                .position(|w| w == x86_type)
                .unwrap();
        bytes[at..at + 4].copy_from_slice(&GNU_PROPERTY_AARCH64_FEATURE_1_AND.to_le_bytes());
        let f = facts_of(&bytes).unwrap();
        assert_eq!(f.aarch64_feature_1_and.map(|v| v & 3), Some(3));
        assert_eq!(f.x86_feature_1_and, None);
    }

    const LIBRARY: &str = "int f(void) { return 1; }\nint g(void) { return 2; }\n";
    const SCRIPT: &str = "V1 { global: f; local: *; };\nV2 { global: g; } V1;\n";
    const USER: &str = "int f(void);\nint g(void);\nint main(void) { return f() + g(); }\n";

    /// `libv.so.1` with the version script, and a program linked against it, for `flags`.
    fn versioned(dir: &Path, flags: &[&str]) -> (PathBuf, PathBuf) {
        std::fs::write(dir.join("v.map"), SCRIPT).unwrap();
        let mut lib_flags = vec!["-shared", "-fPIC", "-Wl,--version-script=v.map"];
        lib_flags.extend(["-Wl,-soname,libv.so.1"]);
        lib_flags.extend(flags);
        let lib = build(dir, "libv.so.1", LIBRARY, &lib_flags);
        let mut user_flags = vec!["./libv.so.1"];
        user_flags.extend(flags);
        (lib, build(dir, "user", USER, &user_flags))
    }

    fn check_versions(lib: &AuditFacts, user: &AuditFacts) {
        assert_eq!(lib.defined_versions, ["V1", "V2"]);
        let version = |facts: &AuditFacts, name: &str| {
            let s = facts.symbols.iter().find(|s| s.name == name).unwrap();
            (s.defined, s.version.clone().unwrap())
        };
        let v = |name: &str, file: Option<&str>| SymbolVersion {
            name: name.to_owned(),
            hidden: false,
            file: file.map(str::to_owned),
        };
        assert_eq!(version(lib, "f"), (true, v("V1", None)));
        assert_eq!(version(lib, "g"), (true, v("V2", None)));
        // `local: *` leaves nothing else exported under a version.
        assert!(
            lib.symbols
                .iter()
                .all(|s| s.version.is_none() || ["f", "g", "V1", "V2"].contains(&s.name.as_str()))
        );
        let need = user
            .needed_versions
            .iter()
            .find(|n| n.file == "libv.so.1")
            .unwrap();
        let mut names: Vec<_> = need.versions.iter().map(|v| v.name.as_str()).collect();
        names.sort();
        assert_eq!(names, ["V1", "V2"]);
        assert!(need.versions.iter().all(|v| !v.weak));
        assert!(user.needed_versions.iter().any(|n| n.file == "libc.so.6"));
        assert_eq!(version(user, "f"), (false, v("V1", Some("libv.so.1"))));
        assert_eq!(version(user, "g"), (false, v("V2", Some("libv.so.1"))));
        assert!(user.defined_versions.is_empty());
    }

    #[test]
    fn a_version_script_defines_versions_a_program_then_needs() {
        const TEST: &str = "a_version_script_defines_versions_a_program_then_needs";
        for class in [&[][..], &["-m32"]] {
            if !have_cc(TEST, class) {
                continue;
            }
            let dir = tempfile::tempdir().unwrap();
            let (lib, user) = versioned(dir.path(), class);
            check_versions(&facts(&lib), &facts(&user));
        }
    }

    /// `bytes` without section headers, as `sstrip` leaves a file: no `e_shoff`, `e_shnum`,
    /// `e_shstrndx`, and nothing past the last segment's file bytes.
    fn without_section_headers(bytes: &[u8]) -> Vec<u8> {
        let (header, ctx) = header_ctx(bytes).unwrap();
        let segments = ProgramHeader::parse(
            bytes,
            header.e_phoff as usize,
            usize::from(header.e_phnum),
            ctx,
        )
        .unwrap();
        let end = segments
            .iter()
            .map(|p| p.p_offset + p.p_filesz)
            .chain([
                header.e_phoff + (usize::from(header.e_phnum) * ProgramHeader::size(ctx)) as u64
            ])
            .max()
            .unwrap();
        let mut out = bytes[..(end as usize).min(bytes.len())].to_vec();
        let (shoff, shoff_len, shnum) = if ctx.container.is_big() {
            (40, 8, 60)
        } else {
            (32, 4, 48)
        };
        out[shoff..shoff + shoff_len].fill(0);
        // e_shnum and e_shstrndx.
        out[shnum..shnum + 4].fill(0);
        out
    }

    /// The facts of a file without its section headers: the same tables, found through the
    /// dynamic section (and a hash table for their size).
    fn same_without_section_headers(path: &Path) {
        let bytes = std::fs::read(path).unwrap();
        let mut want = facts_of(&bytes).unwrap();
        let stripped = without_section_headers(&bytes);
        assert!(stripped.len() <= bytes.len());
        let got = facts_of(&stripped).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        want.symtab = false;
        assert_eq!(got, want, "{}", path.display());
    }

    #[test]
    fn files_without_section_headers_read_the_same() {
        const TEST: &str = "files_without_section_headers_read_the_same";
        if have_cc(TEST, &[]) {
            let dir = tempfile::tempdir().unwrap();
            let (lib, user) = versioned(dir.path(), &[]);
            same_without_section_headers(&lib);
            same_without_section_headers(&user);
            // A program without defined dynamic symbols: every GNU hash bucket is empty.
            let fixed = build(dir.path(), "fixed", MAIN, &["-no-pie"]);
            same_without_section_headers(&fixed);
            // Only a SysV hash table.
            let sysv = build(dir.path(), "sysv", MAIN, &["-Wl,--hash-style=sysv"]);
            same_without_section_headers(&sysv);
        }
        let mut checked = 0;
        for lib in [
            "/usr/lib/x86_64-linux-gnu/libc.so.6",
            "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
            "/usr/s390x-linux-gnu/lib/libc.so.6",
            "/usr/powerpc-linux-gnu/lib/libc.so.6",
            "/usr/aarch64-linux-gnu/lib/libc.so.6",
            "/usr/lib32/libc.so.6",
        ] {
            if Path::new(lib).is_file() {
                same_without_section_headers(Path::new(lib));
                checked += 1;
            } else {
                skip(TEST, &format!("no {lib}"));
            }
        }
        let _ = writeln!(std::io::stdout(), "{TEST}: {checked} libraries");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        std::fs::write(&p, b"\x7fELF\x02\x01\x01garbage").unwrap();
        assert!(matches!(audit_facts(&p), Err(Error::Malformed { path, .. }) if path == p));
        std::fs::write(&p, b"#!/bin/sh\n").unwrap();
        assert!(matches!(audit_facts(&p), Err(Error::Malformed { .. })));
    }

    /// Every truncation and every flipped byte of a small versioned library and program, with
    /// and without section headers: an error or some facts, never a panic.
    #[test]
    fn damaged_files_are_errors_not_panics() {
        const TEST: &str = "damaged_files_are_errors_not_panics";
        if !have_cc(TEST, &[]) {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let (lib, user) = versioned(dir.path(), &["-s"]);
        let mut errors = 0;
        for path in [lib, user] {
            let bytes = std::fs::read(&path).unwrap();
            for bytes in [without_section_headers(&bytes), bytes] {
                for n in 0..bytes.len() {
                    errors += usize::from(facts_of(&bytes[..n]).is_err());
                }
                let mut b = bytes.clone();
                for i in 0..b.len() {
                    b[i] ^= 0xff;
                    errors += usize::from(facts_of(&b).is_err());
                    b[i] ^= 0xff;
                }
            }
        }
        assert!(errors > 0);
    }

    #[test]
    fn hash_tables_count_their_symbols() {
        let ctx = Ctx::new(goblin::container::Container::Big, Endian::Little);
        let words = |w: &[u32]| w.iter().flat_map(|w| w.to_le_bytes()).collect::<Vec<_>>();
        // GNU: 2 buckets, symoffset 3, one 64-bit bloom word (2 of ours), bucket 4 and 3,
        // chains for symbols 3..=5, the last ending at 5.
        let gnu = words(&[2, 3, 1, 0, 0, 0, 4, 3, 10, 12, 15]);
        assert_eq!(gnu_hash_count(&gnu, 0, ctx), Some(6));
        // Every bucket empty: the unhashed symbols only.
        assert_eq!(
            gnu_hash_count(&words(&[1, 3, 1, 0, 0, 0, 0]), 0, ctx),
            Some(3)
        );
        // A chain without its end.
        assert_eq!(gnu_hash_count(&gnu[..gnu.len() - 4], 0, ctx), None);
        assert_eq!(hash_count(&words(&[1, 7]), 0, EM_X86_64, ctx), Some(7));
        // 64-bit s390: 8-byte nbucket and nchain.
        let big = Ctx::new(goblin::container::Container::Big, Endian::Big);
        let wide: Vec<u8> = [1u64, 9].iter().flat_map(|w| w.to_be_bytes()).collect();
        assert_eq!(hash_count(&wide, 0, EM_S390, big), Some(9));
    }

    #[test]
    fn properties_are_split_with_the_class_padding() {
        for (container, pad) in [
            (goblin::container::Container::Big, 8),
            (goblin::container::Container::Little, 4),
        ] {
            let ctx = Ctx::new(container, Endian::Big);
            let mut desc = Vec::new();
            for (t, data) in [(0xc000_0002u32, &[0, 0, 0, 3][..]), (7, &[1, 2][..])] {
                desc.extend(t.to_be_bytes());
                desc.extend((data.len() as u32).to_be_bytes());
                desc.extend(data);
                desc.resize(desc.len().next_multiple_of(pad), 0);
            }
            let got: Vec<_> = properties(&desc, ctx).collect();
            assert_eq!(got, [(0xc000_0002, &[0, 0, 0, 3][..]), (7, &[1, 2][..])]);
            assert_eq!(properties(&desc[..desc.len() - pad], ctx).count(), 1);
        }
    }
}
