//! Read from one file what glibc's dynamic loader reads from it.
//!
//! `depclose-elf` answers "what does the loader see in this file?": the ELF identity
//! (class, byte order, machine, OSABI, type), `PT_INTERP`, and the dynamic section's
//! `DT_NEEDED`, `DT_SONAME`, `DT_RPATH`, `DT_RUNPATH`, `DT_FLAGS_1`, `DT_FILTER` and
//! `DT_AUXILIARY` — or, for a `#!` script, its interpreter line. It reads the ELF header,
//! the program headers and the dynamic section only (located through `PT_DYNAMIC` and
//! `DT_STRTAB`, as the loader does, so stripped files read the same), never section headers
//! or symbol tables. The dynamic symbols and notes are read only on request ([`dynamic_symbols`],
//! [`notes`]), and what an audit judges (hardening, symbol bindings and versions) by
//! [`audit_facts`].
//!
//! It knows nothing of search paths or `$ORIGIN`: RPATH and RUNPATH come back as the raw
//! strings, and policy lives in `depclose-resolve`. Strings that are not UTF-8 come back
//! encoded by [`name`], as every crate of depclose holds such names.
//!
//! ```no_run
//! use depclose_elf::{read_file, FileKind};
//!
//! match read_file("/usr/bin/true".as_ref())? {
//!     FileKind::Elf(elf) => println!("needs {:?}", elf.needed().collect::<Vec<_>>()),
//!     FileKind::Script(s) => println!("script run by {}", s.interpreter),
//!     FileKind::Other => println!("neither ELF nor script"),
//! }
//! # Ok::<(), depclose_elf::Error>(())
//! ```

mod error;
mod facts;
mod image;
pub mod name;
mod read;
mod tables;

pub use error::Error;
pub use facts::{
    AuditFacts, Binding, NeededVersion, Symbol, SymbolVersion, VersionNeed, audit_facts,
    audit_facts_of_bytes,
};
pub use image::LoadedImage;
pub use read::{
    Class, Data, Dependency, DependencyKind, ElfInfo, FileKind, Identity, Linkage, NonRegular,
    ObjectType, Script, map_file, parse_bytes, read_file, read_file_with_metadata,
    read_listed_file, read_regular_file,
};
pub use tables::{
    DynamicSymbols, Names, Note, Tables, data_ranges, dynamic_symbols, notes, section_bytes,
    tables, tables_of_bytes,
};

/// `EV_CURRENT`, the only ELF version (`EI_VERSION` and `e_version`).
pub const EV_CURRENT: u8 = goblin::elf::header::EV_CURRENT;
/// `ELFOSABI_SYSV` (`ELFOSABI_NONE`) in `EI_OSABI`.
pub const ELFOSABI_SYSV: u8 = goblin::elf::header::ELFOSABI_SYSV;
/// `ELFOSABI_GNU` (`ELFOSABI_LINUX`) in `EI_OSABI`: objects using GNU extensions.
pub const ELFOSABI_GNU: u8 = goblin::elf::header::ELFOSABI_GNU;

/// `DF_1_NODEFLIB` in `DT_FLAGS_1`: the loader skips the cache's system entries and the
/// default directories for this object's dependencies.
pub const DF_1_NODEFLIB: u64 = 0x800;
/// `DF_1_PIE` in `DT_FLAGS_1`: a position-independent executable.
pub const DF_1_PIE: u64 = 0x0800_0000;

/// `e_machine` values depclose names (the loader compares the raw number).
pub mod machine {
    pub const EM_386: u16 = 3;
    pub const EM_MIPS: u16 = 8;
    pub const EM_PPC: u16 = 20;
    pub const EM_PPC64: u16 = 21;
    pub const EM_S390: u16 = 22;
    pub const EM_ARM: u16 = 40;
    pub const EM_SPARCV9: u16 = 43;
    pub const EM_IA_64: u16 = 50;
    pub const EM_X86_64: u16 = 62;
    pub const EM_AARCH64: u16 = 183;
    pub const EM_RISCV: u16 = 243;
    pub const EM_LOONGARCH: u16 = 258;
}
