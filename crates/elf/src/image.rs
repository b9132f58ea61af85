//! An ELF file as the loader lays it out in memory: virtual addresses mapped to the file's
//! bytes, pointers read as relocation leaves them, strings at addresses, symbols by name.
//! For reading data structures a program keeps in its own image (httpd's table of built-in
//! modules), never for running anything.

use std::collections::HashMap;

use goblin::elf::Elf;
use goblin::elf::program_header::PT_LOAD;

/// The loaded view of an ELF file's bytes.
#[derive(Debug)]
pub struct LoadedImage<'a> {
    bytes: &'a [u8],
    /// `(vaddr, file offset, file size)` of each `PT_LOAD`.
    loads: Vec<(u64, u64, u64)>,
    /// Relocation offset → addend, for relocations with an addend (`RELA`).
    addends: HashMap<u64, i64>,
    /// Defined symbols (dynamic and static tables) → value.
    symbols: HashMap<String, u64>,
    pointer_size: u64,
    little: bool,
}

/// The most bytes [`LoadedImage::string`] reads for one string.
const MAX_STRING: u64 = 4096;

impl<'a> LoadedImage<'a> {
    /// `None` when the bytes are not an ELF file goblin can parse.
    pub fn parse(bytes: &'a [u8]) -> Option<LoadedImage<'a>> {
        let elf = Elf::parse(bytes).ok()?;
        let mut symbols = HashMap::new();
        for (sym, strtab) in elf
            .dynsyms
            .iter()
            .map(|s| (s, &elf.dynstrtab))
            .chain(elf.syms.iter().map(|s| (s, &elf.strtab)))
        {
            if sym.st_value == 0 {
                continue;
            }
            if let Some(name) = strtab.get_at(sym.st_name).filter(|n| !n.is_empty()) {
                symbols.entry(name.to_owned()).or_insert(sym.st_value);
            }
        }
        Some(LoadedImage {
            bytes,
            loads: elf
                .program_headers
                .iter()
                .filter(|p| p.p_type == PT_LOAD)
                .map(|p| (p.p_vaddr, p.p_offset, p.p_filesz))
                .collect(),
            addends: elf
                .dynrelas
                .iter()
                .filter_map(|r| Some((r.r_offset, r.r_addend?)))
                .collect(),
            symbols,
            pointer_size: if elf.is_64 { 8 } else { 4 },
            little: elf.little_endian,
        })
    }

    /// The address of a defined symbol.
    pub fn symbol(&self, name: &str) -> Option<u64> {
        self.symbols.get(name).copied()
    }

    /// 8 for a 64-bit file, 4 for a 32-bit one.
    pub fn pointer_size(&self) -> u64 {
        self.pointer_size
    }

    /// The file bytes at a virtual address, at most `len` of them (fewer at the end of a
    /// segment).
    fn at(&self, vaddr: u64, len: u64) -> Option<&'a [u8]> {
        let &(base, off, size) = self
            .loads
            .iter()
            .find(|&&(base, _, size)| vaddr >= base && vaddr - base < size)?;
        let start = usize::try_from(off.checked_add(vaddr - base)?).ok()?;
        let len = usize::try_from(len.min(size - (vaddr - base))).ok()?;
        self.bytes.get(start..start.checked_add(len)?)
    }

    /// The pointer stored at `vaddr` once relocated (for a relative relocation the addend is
    /// the target; otherwise the file's value).
    pub fn pointer(&self, vaddr: u64) -> Option<u64> {
        if let Some(&a) = self.addends.get(&vaddr) {
            return u64::try_from(a).ok();
        }
        let raw = self.at(vaddr, self.pointer_size)?;
        let mut v = 0u64;
        for (i, &b) in raw.iter().enumerate() {
            let shift = if self.little { i } else { raw.len() - 1 - i };
            v |= u64::from(b) << (8 * shift);
        }
        (raw.len() as u64 == self.pointer_size).then_some(v)
    }

    /// The NUL-terminated string at `vaddr`.
    pub fn string(&self, vaddr: u64) -> Option<String> {
        let rest = self.at(vaddr, MAX_STRING)?;
        let end = rest.iter().position(|&b| b == 0)?;
        Some(String::from_utf8_lossy(&rest[..end]).into_owned())
    }
}
