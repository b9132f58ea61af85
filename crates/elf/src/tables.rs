//! What the loader does not read: the dynamic symbol table (what an object imports and
//! exports) and notes. Read only when asked (the run-time recipes ask which objects import
//! `iconv_open`, and for `.note.dlopen`); the loader's view in [`crate::read_file`] never
//! touches them. Both read the headers they need and the one table with `pread`, not a
//! mapping (a recipe asks this of every object of a closure, and each `munmap` stopped the
//! process's other threads for a TLB flush).

use std::path::Path;

use goblin::container::{Container, Ctx, Endian};
use goblin::elf::Elf;
use goblin::elf::header::Header;
use goblin::elf::program_header::{PT_NOTE, ProgramHeader};
use goblin::elf::section_header::{
    SHF_ALLOC, SHF_EXECINSTR, SHN_UNDEF, SHT_DYNSYM, SHT_NOBITS, SHT_PROGBITS, SectionHeader,
};
use goblin::elf::sym::Symtab;

use crate::Error;
use crate::read::{FileSource, Source, open_regular, read_upto};

/// The names in an object's `.dynsym`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DynamicSymbols {
    /// Undefined symbols: what it needs from other objects.
    pub imports: Names,
    /// Defined symbols: what it provides.
    pub exports: Names,
}

impl DynamicSymbols {
    pub fn imports(&self, name: &str) -> bool {
        self.imports.contains(name)
    }
}

/// Symbol names, in table order, kept in one string: an image's libraries hold ~100k,
/// and a `String` each took three times their bytes.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Names {
    /// Each name followed by a NUL (a string table's names hold none).
    text: String,
    len: usize,
}

impl Names {
    fn push(&mut self, name: &str) {
        self.text.push_str(name);
        self.text.push('\0');
        self.len += 1;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.text.split_terminator('\0')
    }

    pub fn contains(&self, name: &str) -> bool {
        // `name` whole: at the start or after a NUL, and followed by one.
        let hay = self.text.as_bytes();
        memchr::memmem::find_iter(hay, name.as_bytes())
            .any(|at| (at == 0 || hay[at - 1] == 0) && hay.get(at + name.len()) == Some(&0))
    }
}

impl std::fmt::Debug for Names {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The error for `path` that `reason` says is wrong with it.
fn malformed(path: &Path) -> impl Fn(String) -> Error + Copy + '_ {
    move |reason| Error::Malformed {
        path: path.to_path_buf(),
        reason,
        identity: None,
    }
}

/// The ELF header of `bytes` and the parsing context it gives.
fn header(path: &Path, bytes: &[u8]) -> Result<(Header, Ctx), Error> {
    header_ctx(bytes).map_err(malformed(path))
}

/// [`header`], with the reason alone for callers that add the path once.
pub(crate) fn header_ctx(bytes: &[u8]) -> Result<(Header, Ctx), String> {
    let header = Elf::parse_header(bytes).map_err(|e| e.to_string())?;
    let container = header.container().map_err(|e| e.to_string())?;
    let endian = header.endianness().map_err(|e| e.to_string())?;
    Ok((header, Ctx::new(container, endian)))
}

/// The bytes of the section named `name` (`.rodata`) of an ELF file's bytes; `None` when
/// it has no section headers, no such section, or one that is not in the file.
pub fn section_bytes<'a>(bytes: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let (header, ctx) = header_ctx(bytes).ok()?;
    let sections = section_headers(bytes, &header, ctx);
    let names = sections.get(usize::from(header.e_shstrndx))?;
    let in_file = |s: &SectionHeader| {
        let start = usize::try_from(s.sh_offset).ok()?;
        let len = usize::try_from(s.sh_size).ok()?;
        (s.sh_type != SHT_NOBITS)
            .then(|| bytes.get(start..start.checked_add(len)?))
            .flatten()
    };
    let names = in_file(names)?;
    sections
        .iter()
        .find(|s| name_at(names, s.sh_name) == Some(name))
        .and_then(in_file)
}

/// The name at `offset` of a string table's bytes: up to its NUL (or the table's end); `None`
/// past the end or when it is not UTF-8. Looked up where needed: goblin's `Strtab::parse`
/// splits the whole table first (libc's: 3,000 names), which was most of reading a table.
fn name_at(table: &[u8], offset: usize) -> Option<&str> {
    std::str::from_utf8(crate::name::until_nul(table.get(offset..)?)).ok()
}

/// The `(offset, length)` file ranges of an ELF file's data: its `SHT_PROGBITS` sections
/// that are mapped (`SHF_ALLOC`) and not code (`SHF_EXECINSTR`), in file order, adjacent
/// and overlapping ones joined. A library's values (its directories, the names it loads)
/// are there (`.rodata`, `.data`); its code, most of its bytes, its symbol and relocation
/// tables and its debug information hold none a program uses. `None` when the file is not
/// ELF or has no section headers: then every byte is data.
pub fn data_ranges(file: &std::fs::File) -> Option<Vec<(u64, u64)>> {
    let head = read_upto(file, 0, 64).ok()?;
    let (header, ctx) = header_ctx(&head).ok()?;
    let count = usize::from(header.e_shnum);
    // The class's entry size, which also bounds the read (at most 4 MiB).
    let entry = SectionHeader::size(ctx);
    if header.e_shoff == 0 || count == 0 || usize::from(header.e_shentsize) != entry {
        return None;
    }
    let table = read_upto(file, header.e_shoff, count * entry).ok()?;
    let sections = SectionHeader::parse_from(&table, 0, count, ctx).ok()?;
    let mut ranges: Vec<(u64, u64)> = sections
        .iter()
        .filter(|s| {
            s.sh_type == SHT_PROGBITS
                && s.sh_flags & u64::from(SHF_ALLOC) != 0
                && s.sh_flags & u64::from(SHF_EXECINSTR) == 0
                && s.sh_size > 0
        })
        .map(|s| (s.sh_offset, s.sh_offset.saturating_add(s.sh_size)))
        .collect();
    ranges.sort_unstable();
    let mut joined: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match joined.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => joined.push((start, end)),
        }
    }
    Some(
        joined
            .into_iter()
            .map(|(start, end)| (start, end - start))
            .collect(),
    )
}

/// The section headers, or none when the file has none (or they are not in it).
fn section_headers(bytes: &[u8], header: &Header, ctx: Ctx) -> Vec<SectionHeader> {
    usize::try_from(header.e_shoff)
        .ok()
        .filter(|&off| off != 0)
        .and_then(|off| SectionHeader::parse(bytes, off, usize::from(header.e_shnum), ctx).ok())
        .unwrap_or_default()
}

/// Where `.dynsym`'s entries and its string table are in the file.
struct DynsymLayout {
    /// The table's offset and its number of entries.
    symbols: (u64, u64),
    /// The string table's offset and size.
    strings: (u64, u64),
}

/// The [`DynsymLayout`] the section headers give; `None` without a `SHT_DYNSYM` section.
fn dynsym_layout(sections: &[SectionHeader], ctx: Ctx) -> Result<Option<DynsymLayout>, String> {
    let Some(dynsym) = sections.iter().find(|s| s.sh_type == SHT_DYNSYM) else {
        return Ok(None);
    };
    let strings = sections
        .get(dynsym.sh_link as usize)
        .ok_or_else(|| ".dynsym links to no string table".to_owned())?;
    // An entry's size is the section's `sh_entsize`, or the class's symbol size.
    let entsize = match dynsym.sh_entsize {
        0 => sym_size(ctx),
        n => n,
    };
    Ok(Some(DynsymLayout {
        symbols: (dynsym.sh_offset, dynsym.sh_size / entsize),
        strings: (strings.sh_offset, strings.sh_size),
    }))
}

/// The size of a symbol table entry of the class.
fn sym_size(ctx: Ctx) -> u64 {
    match ctx.container {
        Container::Big => goblin::elf::sym::sym64::SIZEOF_SYM as u64,
        Container::Little => goblin::elf::sym::sym32::SIZEOF_SYM as u64,
    }
}

/// The dynamic symbols of a file read in pieces (its header, its section headers, the
/// table and its strings: a few reads, where mapping the file cost a `munmap`, which stops
/// every other thread of the process for a TLB flush); `None` unless all are where the
/// headers say, inside the file, for the whole file to be parsed as [`symbols_of`] does.
fn symbols_in_pieces<S: Source + ?Sized>(src: &S) -> Result<Option<DynamicSymbols>, String> {
    let Some(head) = src.get(0, src.len().min(64))? else {
        return Ok(None);
    };
    let Ok((header, ctx)) = header_ctx(&head) else {
        return Ok(None);
    };
    if header.e_shoff == 0 {
        return Ok(None);
    }
    let entry = SectionHeader::size(ctx) as u64;
    let count = match header.e_shnum {
        // As goblin reads them: no count means the first header's `sh_size` holds it.
        0 => {
            let Some(first) = src.get(header.e_shoff, entry)? else {
                return Ok(None);
            };
            match SectionHeader::parse_from(&first, 0, 1, ctx) {
                Ok(first) => first.first().map_or(0, |s| s.sh_size),
                Err(_) => return Ok(None),
            }
        }
        n => u64::from(n),
    };
    let Some(table) = count
        .checked_mul(entry)
        .filter(|&len| count > 0 && len <= src.len())
        .map(|len| src.get(header.e_shoff, len))
        .transpose()?
        .flatten()
    else {
        return Ok(None);
    };
    let Ok(sections) = SectionHeader::parse_from(&table, 0, count as usize, ctx) else {
        return Ok(None);
    };
    let Ok(Some(DynsymLayout {
        symbols: (offset, count),
        strings: (strings, size),
    })) = dynsym_layout(&sections, ctx)
    else {
        return Ok(None);
    };
    let Some(symbols) = count
        .checked_mul(sym_size(ctx))
        .filter(|_| count > 0)
        .map(|len| src.get(offset, len))
        .transpose()?
        .flatten()
    else {
        return Ok(None);
    };
    let Some(strtab) = src.get(strings, size)? else {
        return Ok(None);
    };
    let Ok(symtab) = Symtab::parse(&symbols, 0, count as usize, ctx) else {
        return Ok(None);
    };
    Ok(Some(collect(symtab.iter(), |at| name_at(&strtab, at))))
}

/// Read the dynamic symbols of the ELF file at `path` (versions are not part of the names):
/// the `SHT_DYNSYM` section and its string table; a file without section headers is parsed
/// whole (goblin then finds the table through the dynamic section).
pub fn dynamic_symbols(path: &Path) -> Result<DynamicSymbols, Error> {
    symbols_of_file(path, &file_source(path)?)
}

/// [`symbols_of`] of a file, read in pieces where it can be.
fn symbols_of_file(path: &Path, src: &FileSource) -> Result<DynamicSymbols, Error> {
    let reading = malformed(path);
    match symbols_in_pieces(src).map_err(reading)? {
        Some(symbols) => Ok(symbols),
        None => {
            let whole = src.get(0, src.len()).map_err(reading)?.unwrap_or_default();
            symbols_of(path, &whole)
        }
    }
}

fn symbols_of(path: &Path, bytes: &[u8]) -> Result<DynamicSymbols, Error> {
    let (header, ctx) = header(path, bytes)?;
    let malformed = malformed(path);
    let sections = section_headers(bytes, &header, ctx);
    let Some(DynsymLayout {
        symbols: (offset, count),
        strings: (start, size),
    }) = dynsym_layout(&sections, ctx).map_err(malformed)?
    else {
        let elf = Elf::parse(bytes).map_err(|e| malformed(e.to_string()))?;
        return Ok(collect(elf.dynsyms.iter(), |at| elf.dynstrtab.get_at(at)));
    };
    let to_usize =
        |v: u64| usize::try_from(v).map_err(|_| malformed("offset too large".to_owned()));
    let symtab = Symtab::parse(bytes, to_usize(offset)?, to_usize(count)?, ctx)
        .map_err(|e| malformed(e.to_string()))?;
    let start = to_usize(start)?;
    let strtab = start
        .checked_add(to_usize(size)?)
        .and_then(|end| bytes.get(start..end))
        .ok_or_else(|| malformed("the dynamic string table is not in the file".to_owned()))?;
    Ok(collect(symtab.iter(), |at| name_at(strtab, at)))
}

fn collect<'a>(
    symbols: impl Iterator<Item = goblin::elf::Sym>,
    name_at: impl Fn(usize) -> Option<&'a str>,
) -> DynamicSymbols {
    let mut out = DynamicSymbols::default();
    for sym in symbols {
        let Some(name) = name_at(sym.st_name).filter(|n| !n.is_empty()) else {
            continue;
        };
        if sym.st_shndx == SHN_UNDEF as usize {
            out.imports.push(name);
        } else {
            out.exports.push(name);
        }
    }
    // Kept for the run: without the slack of growing (the ffmpeg image's names were 3.5 MB
    // of its peak memory, up to half of it slack).
    out.imports.text.shrink_to_fit();
    out.exports.text.shrink_to_fit();
    out
}

/// The descriptors of the notes of owner `owner` and type `n_type` in the `PT_NOTE`
/// segments (what the loader maps, and what a stripped file keeps).
pub fn notes(path: &Path, owner: &str, n_type: u32) -> Result<Vec<Vec<u8>>, Error> {
    Ok(notes_of(path, &file_source(path)?)?
        .into_iter()
        .filter(|n| n.owner == owner && n.n_type == n_type)
        .map(|n| n.desc)
        .collect())
}

/// One note of a `PT_NOTE` segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub owner: String,
    pub n_type: u32,
    pub desc: Vec<u8>,
}

/// What the loader does not read, of one object, from one mapping of the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tables {
    pub symbols: DynamicSymbols,
    /// Every note of its `PT_NOTE` segments.
    pub notes: Vec<Note>,
}

/// The dynamic symbols and the notes of the ELF file at `path`, reading the file once.
pub fn tables(path: &Path) -> Result<Tables, Error> {
    let src = file_source(path)?;
    Ok(Tables {
        symbols: symbols_of_file(path, &src)?,
        notes: notes_of(path, &src)?,
    })
}

/// The regular file at `path`, to be read in pieces.
fn file_source(path: &Path) -> Result<FileSource, Error> {
    let (file, meta) = open_regular(path)?;
    FileSource::new(file, meta.len()).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// [`tables`] of a file's bytes already in memory, with `path` for the error: the entry
/// point of the fuzz targets and mutation tests.
#[doc(hidden)]
pub fn tables_of_bytes(path: &Path, bytes: &[u8]) -> Result<Tables, Error> {
    Ok(Tables {
        symbols: symbols_of(path, bytes)?,
        notes: notes_of(path, bytes)?,
    })
}

fn notes_of<S: Source + ?Sized>(path: &Path, src: &S) -> Result<Vec<Note>, Error> {
    let reading = malformed(path);
    let head = src
        .get(0, src.len().min(64))
        .map_err(reading)?
        .unwrap_or_default();
    let (header, ctx) = header(path, &head)?;
    let count = usize::from(header.e_phnum);
    let table = src
        .get(header.e_phoff, (count * ProgramHeader::size(ctx)) as u64)
        .map_err(reading)?;
    let Some(Ok(segments)) = table.map(|t| ProgramHeader::parse(&t, 0, count, ctx)) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for p in segments.iter().filter(|p| p.p_type == PT_NOTE) {
        let Some(data) = src.get(p.p_offset, p.p_filesz).map_err(reading)? else {
            continue;
        };
        // Notes are 4-byte aligned, or 8 in a segment aligned so (`.note.gnu.property`).
        let align = if p.p_align == 8 { 8 } else { 4 };
        out.extend(
            note_entries(&data, ctx.le, align).map(|(name, n_type, desc)| Note {
                owner: String::from_utf8_lossy(name).into_owned(),
                n_type,
                desc: desc.to_vec(),
            }),
        );
    }
    Ok(out)
}

/// The `(name, type, descriptor)` of each note in a note segment's bytes (`elf.h` `Elf_Nhdr`:
/// `namesz`, `descsz`, `type`, then the name; the descriptor and the next note start at the
/// next multiple of `align` from the segment's start, as readelf and the kernel read them:
/// with 8, the 12-byte header and a 4-byte "GNU" name need no padding); a truncated note
/// ends the list.
pub(crate) fn note_entries(
    data: &[u8],
    endian: Endian,
    align: usize,
) -> impl Iterator<Item = (&[u8], u32, &[u8])> {
    let word = move |at: usize| u32_at(data, at, endian);
    let pad = move |n: usize| n.checked_next_multiple_of(align);
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let namesz = usize::try_from(word(at)?).ok()?;
        let descsz = usize::try_from(word(at + 4)?).ok()?;
        let n_type = word(at + 8)?;
        let name_at = at + 12;
        let name_end = name_at.checked_add(namesz)?;
        let desc_at = pad(name_end)?;
        let desc_end = desc_at.checked_add(descsz)?;
        let next = pad(desc_end)?;
        let name = data.get(name_at..name_end)?;
        let desc = data.get(desc_at..desc_end)?;
        at = next;
        // The name is NUL-terminated within namesz.
        let name = name.strip_suffix(&[0]).unwrap_or(name);
        Some((name, n_type, desc))
    })
}

/// The 4-byte word at `at` in `data`, in the file's byte order; `None` past the end.
pub(crate) fn u32_at(data: &[u8], at: usize, endian: Endian) -> Option<u32> {
    let b: [u8; 4] = data.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(match endian {
        Endian::Little => u32::from_le_bytes(b),
        Endian::Big => u32::from_be_bytes(b),
    })
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
        assert!(libc.exports.contains("iconv_open"));
        let iconv = dynamic_symbols(Path::new("/usr/bin/iconv")).unwrap();
        assert!(iconv.imports("iconv_open"), "{:?}", iconv.imports);
        assert!(!iconv.exports.iter().any(|s| s == "iconv_open"));
        assert!(!iconv.exports.contains("iconv_open"));
    }

    #[test]
    fn symbols_are_those_goblin_reads_whole() {
        // The table by its section headers and names looked up one by one, against goblin's
        // parse of the whole file through the dynamic section, on the host's libraries.
        let Some(libraries) = host_libraries("symbols_are_those_goblin_reads_whole") else {
            return;
        };
        let mut compared = 0;
        for path in libraries {
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let Ok(elf) = Elf::parse(&bytes) else {
                continue;
            };
            if elf.dynsyms.is_empty() {
                continue;
            }
            let whole = collect(elf.dynsyms.iter(), |at| elf.dynstrtab.get_at(at));
            assert_eq!(
                symbols_of(&path, &bytes).unwrap(),
                whole,
                "{}",
                path.display()
            );
            compared += 1;
        }
        assert!(compared > 10, "{compared} libraries compared");
    }

    /// The entries of the host's library directory; `None`, with the test's skip line,
    /// when it has none.
    fn host_libraries(test: &str) -> Option<impl Iterator<Item = std::path::PathBuf>> {
        let dir = Path::new("/usr/lib/x86_64-linux-gnu");
        let Ok(entries) = std::fs::read_dir(dir) else {
            println!("SKIPPED {test}: no {}", dir.display());
            return None;
        };
        Some(entries.flatten().map(|e| e.path()))
    }

    /// `tables` (read in pieces) and `tables_of_bytes` (the whole file in memory) agree on
    /// `path`: the same tables, or errors that say the same.
    fn same_in_pieces_and_whole(path: &Path) {
        let Ok(bytes) = std::fs::read(path) else {
            return;
        };
        let (pieces, whole) = (tables(path), tables_of_bytes(path, &bytes));
        match (&pieces, &whole) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{}", path.display()),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            _ => panic!("{}: {pieces:?} against {whole:?}", path.display()),
        }
    }

    #[test]
    fn tables_read_in_pieces_are_those_of_the_whole_file() {
        let Some(libraries) = host_libraries("tables_read_in_pieces_are_those_of_the_whole_file")
        else {
            return;
        };
        let mut in_pieces = 0;
        for path in libraries.filter(|p| p.is_file()) {
            same_in_pieces_and_whole(&path);
            if file_source(&path)
                .is_ok_and(|src| symbols_in_pieces(&src).is_ok_and(|s| s.is_some()))
            {
                in_pieces += 1;
            }
        }
        assert!(in_pieces > 10, "{in_pieces} libraries read in pieces");
        // Damaged files fall back to the whole file, and fail or not as it does: libc cut
        // short inside each of its headers and tables, and a few more (not to nothing: an
        // empty file is refused when it is opened).
        let libc = Path::new("/lib/x86_64-linux-gnu/libc.so.6");
        let Ok(bytes) = std::fs::read(libc) else {
            println!(
                "SKIPPED tables_read_in_pieces_are_those_of_the_whole_file (damaged files): no {}",
                libc.display()
            );
            return;
        };
        let (header, ctx) = header_ctx(&bytes).unwrap();
        let sections = section_headers(&bytes, &header, ctx);
        let mut cuts: Vec<usize> = vec![1, 16, 63, 64, 65, 4095, 4096, 4097];
        let (shoff, phoff) = (header.e_shoff as usize, header.e_phoff as usize);
        cuts.extend([phoff + 10, shoff, shoff + 70, bytes.len() - 1]);
        if let Ok(Some(DynsymLayout {
            symbols: (offset, _),
            strings: (strings, size),
        })) = dynsym_layout(&sections, ctx)
        {
            cuts.extend([offset as usize + 30, (strings + size) as usize - 1]);
        }
        let dir = tempfile::tempdir().unwrap();
        let cut = dir.path().join("libc.so.6");
        for len in cuts.into_iter().filter(|&l| l <= bytes.len()) {
            std::fs::write(&cut, &bytes[..len]).unwrap();
            same_in_pieces_and_whole(&cut);
        }
        // A section count in the first header's `sh_size` (`e_shnum` 0), as goblin reads it.
        let mut moved = bytes.clone();
        moved[60..62].copy_from_slice(&0u16.to_le_bytes());
        std::fs::write(&cut, &moved).unwrap();
        same_in_pieces_and_whole(&cut);
    }

    #[test]
    fn data_is_the_mapped_sections_that_are_not_code() {
        let path = Path::new("/lib/x86_64-linux-gnu/libc.so.6");
        let (Ok(file), Ok(bytes)) = (std::fs::File::open(path), std::fs::read(path)) else {
            println!("SKIPPED data_is_the_mapped_sections_that_are_not_code: no x86-64 libc");
            return;
        };
        let ranges = data_ranges(&file).unwrap();
        let covers = |s: &[u8]| {
            let at = (s.as_ptr() as usize - bytes.as_ptr() as usize) as u64;
            ranges
                .iter()
                .any(|&(o, l)| o <= at && at + s.len() as u64 <= o + l)
        };
        assert!(covers(section_bytes(&bytes, ".rodata").unwrap()));
        let text = section_bytes(&bytes, ".text").unwrap();
        let text_at = (text.as_ptr() as usize - bytes.as_ptr() as usize) as u64;
        assert!(
            ranges
                .iter()
                .all(|&(o, l)| o + l <= text_at || o >= text_at + text.len() as u64)
        );
        assert!(!covers(section_bytes(&bytes, ".dynstr").unwrap()));
        // In file order, apart.
        assert!(ranges.windows(2).all(|w| w[0].0 + w[0].1 < w[1].0));
        // Not ELF, or no section headers: no ranges.
        let mut plain = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut plain, b"#!/bin/sh\n").unwrap();
        assert_eq!(data_ranges(&plain), None);
    }

    #[test]
    fn sections_by_name() {
        let Ok(bytes) = std::fs::read("/lib64/ld-linux-x86-64.so.2") else {
            println!("SKIPPED sections_by_name: no x86-64 loader");
            return;
        };
        let rodata = section_bytes(&bytes, ".rodata").unwrap();
        assert!(rodata.len() < bytes.len());
        assert!(memchr::memmem::find(rodata, b"release version ").is_some());
        assert_eq!(section_bytes(&bytes, ".no-such-section"), None);
        // `.bss` takes no room in the file.
        assert_eq!(section_bytes(&bytes, ".bss"), None);
        assert_eq!(
            section_bytes(b"\x7fELF\x02\x01\x01garbage", ".rodata"),
            None
        );
        assert_eq!(section_bytes(&bytes[..64], ".rodata"), None);
    }

    #[test]
    fn names_are_found_whole() {
        let mut names = Names::default();
        for n in ["dlopen", "iconv_open", "x"] {
            names.push(n);
        }
        assert_eq!(names.len(), 3);
        assert_eq!(
            names.iter().collect::<Vec<_>>(),
            ["dlopen", "iconv_open", "x"]
        );
        for n in ["dlopen", "iconv_open", "x"] {
            assert!(names.contains(n), "{n}");
        }
        // Parts of a name are not names.
        for n in ["open", "dl", "iconv", "", "_open"] {
            assert!(!names.contains(n), "{n}");
        }
        assert!(!Names::default().contains(""));
        assert_eq!(format!("{names:?}"), r#"["dlopen", "iconv_open", "x"]"#);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        std::fs::write(&p, b"\x7fELF\x02\x01\x01garbage").unwrap();
        assert!(dynamic_symbols(&p).is_err());
        assert!(notes(&p, "FDO", 1).is_err());
    }

    #[test]
    fn notes_are_split_with_their_padding() {
        // Two notes: "GNU" type 1 with a 3-byte descriptor (padded to 4), "FDO" type 7.
        let mut data = Vec::new();
        for (name, t, desc) in [(&b"GNU\0"[..], 1u32, &b"abc"[..]), (b"FDO\0", 7, b"[1]\0")] {
            data.extend((name.len() as u32).to_le_bytes());
            data.extend((desc.len() as u32).to_le_bytes());
            data.extend(t.to_le_bytes());
            data.extend(name);
            data.extend(desc);
            data.resize(data.len().next_multiple_of(4), 0);
        }
        let got: Vec<_> = note_entries(&data, Endian::Little, 4).collect();
        assert_eq!(
            got,
            [
                (&b"GNU"[..], 1, &b"abc"[..]),
                (&b"FDO"[..], 7, &b"[1]\0"[..])
            ]
        );
        // Truncated: the second note is dropped, nothing panics.
        assert_eq!(
            note_entries(&data[..data.len() - 2], Endian::Little, 4).count(),
            1
        );
    }

    #[test]
    fn eight_byte_aligned_notes_pad_from_the_segment_start() {
        // `.note.gnu.property` of a 64-bit file: the 12-byte header and "GNU\0" end at 16,
        // where the 16-byte descriptor starts; a 5-byte note name pads to 24.
        let mut data = Vec::new();
        for (name, desc) in [(&b"GNU\0"[..], [7u8; 16]), (b"ABCD\0", [9; 16])] {
            data.extend((name.len() as u32).to_le_bytes());
            data.extend(16u32.to_le_bytes());
            data.extend(5u32.to_le_bytes());
            data.extend(name);
            data.resize(data.len().next_multiple_of(8), 0);
            data.extend(desc);
        }
        let got: Vec<_> = note_entries(&data, Endian::Little, 8).collect();
        assert_eq!(
            got,
            [(&b"GNU"[..], 5, &[7u8; 16][..]), (b"ABCD", 5, &[9; 16])]
        );
    }
}
