//! An ELF file as the loader lays it out in memory: virtual addresses mapped to the file's
//! bytes, pointers read as relocation leaves them, strings at addresses, symbols by name.
//! For reading data structures a program keeps in its own image (httpd's table of built-in
//! modules), never for running anything.

use goblin::elf::Elf;
use goblin::elf::program_header::PT_LOAD;

/// The loaded view of an ELF file's bytes.
#[derive(Debug)]
pub struct LoadedImage<'a> {
    bytes: &'a [u8],
    /// `(vaddr, file offset, file size)` of each `PT_LOAD`.
    loads: Vec<(u64, u64, u64)>,
    /// `(offset, addend)` of the relocations with an addend (`RELA`), by offset: httpd has
    /// 16k, and hashing them cost more than the rest of its recipe's binary reading.
    addends: Vec<(u64, i64)>,
    /// The symbol tables, searched by name: only a few names are ever asked for.
    elf: Elf<'a>,
    pointer_size: u64,
    little: bool,
}

/// The most bytes [`LoadedImage::string`] reads for one string.
const MAX_STRING: u64 = 4096;

impl<'a> LoadedImage<'a> {
    /// `None` when the bytes are not an ELF file goblin can parse.
    pub fn parse(bytes: &'a [u8]) -> Option<LoadedImage<'a>> {
        let elf = Elf::parse(bytes).ok()?;
        let mut addends: Vec<(u64, i64)> = elf
            .dynrelas
            .iter()
            .filter_map(|r| Some((r.r_offset, r.r_addend?)))
            .collect();
        addends.sort_unstable_by_key(|&(offset, _)| offset);
        Some(LoadedImage {
            bytes,
            loads: elf
                .program_headers
                .iter()
                .filter(|p| p.p_type == PT_LOAD)
                .map(|p| (p.p_vaddr, p.p_offset, p.p_filesz))
                .collect(),
            addends,
            pointer_size: if elf.is_64 { 8 } else { 4 },
            little: elf.little_endian,
            elf,
        })
    }

    /// The address of a defined symbol: the first of that name in the dynamic table, then
    /// in the static one.
    pub fn symbol(&self, name: &str) -> Option<u64> {
        let elf = &self.elf;
        elf.dynsyms
            .iter()
            .map(|s| (s, &elf.dynstrtab))
            .chain(elf.syms.iter().map(|s| (s, &elf.strtab)))
            .find(|(sym, strtab)| sym.st_value != 0 && strtab.get_at(sym.st_name) == Some(name))
            .map(|(sym, _)| sym.st_value)
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
        if let Ok(i) = self
            .addends
            .binary_search_by_key(&vaddr, |&(offset, _)| offset)
        {
            return u64::try_from(self.addends[i].1).ok();
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
