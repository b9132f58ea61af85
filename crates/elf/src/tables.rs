//! What the loader does not read: the dynamic symbol table (what an object imports and
//! exports) and notes. Read only when asked (the run-time recipes ask which objects import
//! `iconv_open`, and for `.note.dlopen`); the loader's view in [`crate::read_file`] never
//! touches them.

use std::path::Path;

use goblin::elf::Elf;
use goblin::elf::section_header::SHN_UNDEF;

use crate::Error;

/// The names in an object's `.dynsym`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DynamicSymbols {
    /// Undefined symbols: what it needs from other objects.
    pub imports: Vec<String>,
    /// Defined symbols: what it provides.
    pub exports: Vec<String>,
}

impl DynamicSymbols {
    pub fn imports(&self, name: &str) -> bool {
        self.imports.iter().any(|s| s == name)
    }
}

/// Parse the whole ELF file at `path` (section headers and tables included) for `f`.
fn with_elf<T>(path: &Path, f: impl FnOnce(&Elf<'_>, &[u8]) -> T) -> Result<T, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let elf = Elf::parse(&bytes).map_err(|e| Error::Malformed {
        path: path.to_path_buf(),
        reason: e.to_string(),
        identity: None,
    })?;
    Ok(f(&elf, &bytes))
}

/// The descriptors of the notes of owner `owner` and type `n_type`, from the `PT_NOTE`
/// segments (what a stripped file keeps), else from the note sections.
pub fn notes(path: &Path, owner: &str, n_type: u32) -> Result<Vec<Vec<u8>>, Error> {
    with_elf(path, |elf, bytes| {
        let pick = |iter: Option<goblin::elf::note::NoteIterator<'_>>| -> Vec<Vec<u8>> {
            iter.into_iter()
                .flatten()
                .flatten()
                .filter(|n| n.name == owner && n.n_type == n_type)
                .map(|n| n.desc.to_vec())
                .collect()
        };
        let found = pick(elf.iter_note_headers(bytes));
        if found.is_empty() {
            pick(elf.iter_note_sections(bytes, None))
        } else {
            found
        }
    })
}

/// Read the dynamic symbols of the ELF file at `path` (versions are not part of the names).
pub fn dynamic_symbols(path: &Path) -> Result<DynamicSymbols, Error> {
    with_elf(path, |elf, _| symbols(elf))
}

fn symbols(elf: &Elf<'_>) -> DynamicSymbols {
    let mut out = DynamicSymbols::default();
    for sym in elf.dynsyms.iter() {
        let Some(name) = elf.dynstrtab.get_at(sym.st_name).filter(|n| !n.is_empty()) else {
            continue;
        };
        if sym.st_shndx == SHN_UNDEF as usize {
            out.imports.push(name.to_owned());
        } else {
            out.exports.push(name.to_owned());
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_program_imports_from_libc_and_libc_exports_it() {
        let Ok(libc) = dynamic_symbols(Path::new("/lib/x86_64-linux-gnu/libc.so.6")) else {
            println!("SKIPPED a_program_imports_from_libc_and_libc_exports_it: no x86-64 libc");
            return;
        };
        assert!(libc.exports.iter().any(|s| s == "iconv_open"));
        let iconv = dynamic_symbols(Path::new("/usr/bin/iconv")).unwrap();
        assert!(iconv.imports("iconv_open"), "{:?}", iconv.imports);
        assert!(!iconv.exports.iter().any(|s| s == "iconv_open"));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        std::fs::write(&p, b"\x7fELF\x02\x01\x01garbage").unwrap();
        assert!(dynamic_symbols(&p).is_err());
    }
}
