use std::borrow::Cow;
use std::fs::File;
use std::path::Path;

use goblin::container::{Container, Ctx, Endian};
use goblin::elf::dynamic::{DT_NEEDED, DT_RPATH, DT_RUNPATH, DT_SONAME, Dynamic};
use goblin::elf::header::{
    EI_ABIVERSION, EI_CLASS, EI_DATA, EI_OSABI, EI_VERSION, ELFCLASS32, ELFCLASS64, ELFDATA2LSB,
    ELFDATA2MSB, ELFMAG, ET_CORE, ET_DYN, ET_EXEC, ET_REL, Header, SIZEOF_IDENT, header32,
    header64,
};
use goblin::elf::program_header::{PT_DYNAMIC, PT_INTERP, ProgramHeader};
use memmap2::MmapOptions;

use crate::{DF_1_PIE, Error, name};

/// The Linux kernel reads at most this many bytes of a `#!` line (`BINPRM_BUF_SIZE`).
const SHEBANG_MAX: usize = 256;
/// `EI_PAD`: the first of the `e_ident` bytes that must be zero.
const EI_PAD: usize = EI_ABIVERSION + 1;
/// The offset of `e_machine`, after `e_ident` and the 2-byte `e_type` in both classes.
const E_MACHINE: usize = SIZEOF_IDENT + 2;
/// Not in goblin: the filter tags from the System V gABI (`elf.h`).
const DT_AUXILIARY: u64 = 0x7fff_fffd;
const DT_FILTER: u64 = 0x7fff_ffff;

/// What a file is, to the kernel and the loader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileKind {
    /// An ELF file (any type; the caller decides what it may be used as).
    Elf(ElfInfo),
    /// A `#!` script.
    Script(Script),
    /// Neither ELF nor a script (for the loader: "invalid ELF header").
    Other,
}

/// A `#!` line as the kernel splits it: the interpreter and at most one argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// [`name`]-encoded, as the argument.
    pub interpreter: String,
    pub argument: Option<String>,
}

/// `EI_CLASS`. An unknown value is kept: the loader treats it like "the other class".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    Elf32,
    Elf64,
    Invalid(u8),
}

impl Class {
    fn from_ident(byte: u8) -> Class {
        match byte {
            ELFCLASS32 => Class::Elf32,
            ELFCLASS64 => Class::Elf64,
            other => Class::Invalid(other),
        }
    }
}

/// `EI_DATA`. An unknown value is kept: the loader rejects it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Data {
    Little,
    Big,
    Invalid(u8),
}

impl Data {
    fn from_ident(byte: u8) -> Data {
        match byte {
            ELFDATA2LSB => Data::Little,
            ELFDATA2MSB => Data::Big,
            other => Data::Invalid(other),
        }
    }
}

/// The class, byte order and machine of an ELF file, read from its header alone: what the
/// loader's `open_verify` checks (and may skip a candidate for) before anything else of the
/// file is read. [`Error::Malformed`] carries it for an ELF file that fails to parse further.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Identity {
    pub class: Class,
    pub data: Data,
    /// `e_machine`; 0 when the byte order is unknown.
    pub machine: u16,
}

impl Identity {
    /// The identity of `bytes` when they start with a whole ELF header of their class
    /// (`open_verify` reads a full header first: a shorter file is "file too short"). An
    /// unknown class needs the larger, 64-bit header.
    fn of(bytes: &[u8]) -> Option<Identity> {
        if !bytes.starts_with(ELFMAG) {
            return None;
        }
        let class = Class::from_ident(*bytes.get(EI_CLASS)?);
        let header_size = match class {
            Class::Elf32 => header32::SIZEOF_EHDR,
            Class::Elf64 | Class::Invalid(_) => header64::SIZEOF_EHDR,
        };
        if bytes.len() < header_size {
            return None;
        }
        let data = Data::from_ident(bytes[EI_DATA]);
        let raw = [bytes[E_MACHINE], bytes[E_MACHINE + 1]];
        let machine = match data {
            Data::Little => u16::from_le_bytes(raw),
            Data::Big => u16::from_be_bytes(raw),
            Data::Invalid(_) => 0,
        };
        Some(Identity {
            class,
            data,
            machine,
        })
    }
}

/// `e_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectType {
    Relocatable,
    Executable,
    SharedObject,
    Core,
    Other(u16),
}

/// How a program gets its libraries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linkage {
    /// Has a `PT_INTERP`, or is a shared object with a dynamic section.
    Dynamic,
    /// `ET_EXEC` without `PT_INTERP`: the kernel runs it directly.
    Static,
    /// `ET_DYN` with `DF_1_PIE` and no `PT_INTERP`: relocates itself.
    StaticPie,
}

/// What the loader reads from one ELF file. Strings are the raw dynamic-section strings:
/// no `$ORIGIN` expansion, no splitting of path lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfInfo {
    pub class: Class,
    pub data: Data,
    /// `EI_VERSION`, `EI_OSABI`, `EI_ABIVERSION`: `open_verify` checks all three.
    pub ident_version: u8,
    pub osabi: u8,
    pub abi_version: u8,
    /// `e_ident[9..16]` are all zero, as `open_verify` requires.
    pub ident_padding_zero: bool,
    pub object_type: ObjectType,
    pub machine: u16,
    /// `e_flags`: the float ABI on ARM and MIPS, which picks the accepted ld.so.cache flags.
    pub flags: u32,
    pub version: u32,
    pub linkage: Linkage,
    /// `PT_INTERP`. This and every other string of the file are [`name`]-encoded.
    pub interpreter: Option<String>,
    /// `DT_NEEDED`, `DT_FILTER` and `DT_AUXILIARY` entries in dynamic-section order: the
    /// loader's `_dl_map_object_deps` walks them in that order.
    pub dependencies: Vec<Dependency>,
    pub soname: Option<String>,
    pub rpath: Option<String>,
    pub runpath: Option<String>,
    pub flags_1: u64,
}

/// One name the loader maps for an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub kind: DependencyKind,
    pub name: String,
}

/// Which dynamic tag asked for a [`Dependency`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DependencyKind {
    /// `DT_NEEDED`: missing is fatal.
    Needed,
    /// `DT_FILTER`: the filtee must exist.
    Filter,
    /// `DT_AUXILIARY`: the filtee is optional.
    Auxiliary,
}

impl ElfInfo {
    /// The `DT_NEEDED` names, in order.
    pub fn needed(&self) -> impl Iterator<Item = &str> {
        self.dependencies
            .iter()
            .filter(|d| d.kind == DependencyKind::Needed)
            .map(|d| d.name.as_str())
    }

    /// True when the `DT_FLAGS_1` bit is set.
    pub fn has_flag_1(&self, flag: u64) -> bool {
        self.flags_1 & flag != 0
    }
}

/// Read `path` (following symlinks) and tell what the loader would see in it.
///
/// Special files are refused before they are opened: opening a FIFO would block.
pub fn read_file(path: &Path) -> Result<FileKind, Error> {
    read_file_with_metadata(path).map(|(kind, _)| kind)
}

/// [`read_file`], also returning the file's metadata (one `stat` for both: callers compare
/// (device, inode) as the loader does).
pub fn read_file_with_metadata(path: &Path) -> Result<(FileKind, std::fs::Metadata), Error> {
    let (file, meta) = open_regular(path)?;
    read_opened(path, file, meta)
}

/// [`read_file_with_metadata`] for a path an `lstat` has just shown to be a regular file:
/// that was the check before the open, so there is no `stat`; the `fstat` after it checks
/// the file opened, as always.
pub fn read_regular_file(path: &Path) -> Result<(FileKind, std::fs::Metadata), Error> {
    let file = open_nonblocking(path)?;
    let meta = file.metadata().map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    check_regular(path, &meta)?;
    read_opened(path, file, meta)
}

fn read_opened(
    path: &Path,
    file: File,
    meta: std::fs::Metadata,
) -> Result<(FileKind, std::fs::Metadata), Error> {
    let source = FileSource::new(file, meta.len()).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &source).map(|kind| (kind, meta))
}

/// [`read_file_with_metadata`] for a file a directory listing has just shown to be a
/// regular file (not a symlink). That listing is the check before the open, so there is no
/// `stat`; and a file whose first bytes are neither ELF nor `#!` is [`FileKind::Other`]
/// without an `fstat` either (no metadata: `None`). Anything else is checked by the `fstat`
/// after the open, as always. A scan of /usr opens 100,000 files, nearly all of them
/// neither.
pub fn read_listed_file(path: &Path) -> Result<(FileKind, Option<std::fs::Metadata>), Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = open_nonblocking(path)?;
    let head = read_upto(&file, 0, HEAD as usize).map_err(io)?;
    let n = head.len();
    if !(head.starts_with(ELFMAG) || head.starts_with(b"#!")) {
        return Ok((FileKind::Other, None));
    }
    let meta = file.metadata().map_err(io)?;
    check_regular(path, &meta)?;
    let source = if n as u64 == meta.len().min(HEAD) {
        FileSource::with_head(file, meta.len(), head)
    } else {
        // It changed size since it was read: read it again as it is now.
        FileSource::new(file, meta.len()).map_err(io)?
    };
    parse(path, &source).map(|kind| (kind, Some(meta)))
}

/// Open `path` for reading, refused unless it is a non-empty regular file, with the opened
/// file's metadata. Special files are refused before they are opened (opening a FIFO would
/// block, a device may act); one swapped in between the `stat` and the `open` is opened
/// without blocking ([`open_nonblocking`]) and refused by the `fstat` after it.
pub(crate) fn open_regular(path: &Path) -> Result<(File, std::fs::Metadata), Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    check_regular(path, &meta)?;
    let file = open_nonblocking(path)?;
    let meta = file.metadata().map_err(io)?;
    check_regular(path, &meta)?;
    Ok((file, meta))
}

/// Open `path` read-only so that a FIFO or terminal swapped in for it cannot block or become
/// the controlling terminal (`O_NONBLOCK`, `O_NOCTTY`).
fn open_nonblocking(path: &Path) -> Result<File, Error> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
}

/// Refuse what is not a non-empty regular file.
fn check_regular(path: &Path, meta: &std::fs::Metadata) -> Result<(), Error> {
    if let Some(kind) = NonRegular::of(&meta.file_type()) {
        return Err(Error::NotRegular {
            path: path.to_path_buf(),
            kind,
        });
    }
    if meta.len() == 0 {
        return Err(Error::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// The file at `path` mapped read-only, with its metadata (one `stat`): refused unless it is
/// a non-empty regular file. For reading much of a large file without copying it.
pub fn map_file(path: &Path) -> Result<(memmap2::Mmap, std::fs::Metadata), Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let (file, meta) = open_regular(path)?;
    // SAFETY: the map is read-only and private to this call. If another process truncates
    // the file while it is mapped, reads past the new end fault (SIGBUS); depclose reads
    // installed files, which package managers replace by rename, not in place.
    // The length is known: no second `stat` inside the mapping call.
    let len = usize::try_from(meta.len()).map_err(|_| Error::Malformed {
        path: path.to_path_buf(),
        reason: "file too large".to_owned(),
        identity: None,
    })?;
    let map = unsafe { MmapOptions::new().len(len).map(&file) }.map_err(io)?;
    Ok((map, meta))
}

/// The bytes of a file as parsing asks for them: all in memory, or read from the file on
/// demand ([`FileSource`]), so that the loader's view of a 2 MB library costs a few small
/// reads instead of a mapping and its page faults.
pub(crate) trait Source {
    /// The file's length.
    fn len(&self) -> u64;
    /// `len` bytes at `offset`; `None` when they are not all inside the file.
    fn get(&self, offset: u64, len: u64) -> Result<Option<Cow<'_, [u8]>>, String>;
    /// A hint that strings will be read from `offset` to `offset + len`.
    fn prefetch(&self, _offset: u64, _len: u64) {}
}

impl Source for [u8] {
    fn len(&self) -> u64 {
        self.len() as u64
    }

    fn get(&self, offset: u64, len: u64) -> Result<Option<Cow<'_, [u8]>>, String> {
        let start = usize::try_from(offset).ok();
        let end = start.and_then(|s| s.checked_add(usize::try_from(len).ok()?));
        Ok(start
            .zip(end)
            .and_then(|(s, e)| <[u8]>::get(self, s..e))
            .map(Cow::Borrowed))
    }
}

/// How much of a file is read first: the ELF header, the program headers and `PT_INTERP`
/// of every file here fit, and a `#!` line too.
const HEAD: u64 = 4096;
/// The largest span of strings read in one piece.
const WINDOW_MAX: u64 = 1 << 20;

/// A file read with `pread`: its head at once, then what is asked for.
pub(crate) struct FileSource {
    file: File,
    len: u64,
    head: Vec<u8>,
    /// The strings' span ([`Source::prefetch`]): its offset and bytes.
    window: std::cell::RefCell<Option<(u64, Vec<u8>)>>,
}

impl FileSource {
    pub(crate) fn new(file: File, len: u64) -> std::io::Result<FileSource> {
        let head = read_at(&file, 0, len.min(HEAD))?;
        Ok(FileSource::with_head(file, len, head))
    }

    /// `head`: the file's first `len.min(HEAD)` bytes, already read.
    fn with_head(file: File, len: u64, head: Vec<u8>) -> FileSource {
        FileSource {
            file,
            len,
            head,
            window: std::cell::RefCell::new(None),
        }
    }
}

/// `len` bytes at `offset` (the caller checked that they are inside the file).
fn read_at(file: &File, offset: u64, len: u64) -> std::io::Result<Vec<u8>> {
    let len = usize::try_from(len)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "read too large"))?;
    let buf = read_upto(file, offset, len)?;
    if buf.len() < len {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(buf)
}

/// Up to `len` bytes of `file` from `offset`, fewer at its end, read into memory that is not
/// zeroed first (zeroing the buffers was 3.5% of the instructions of a run over /usr/bin).
pub(crate) fn read_upto(file: &File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(len);
    while buf.len() < len {
        let at = offset.saturating_add(buf.len() as u64);
        match rustix::io::pread(file, rustix::buffer::spare_capacity(&mut buf), at) {
            Ok(0) => break,
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // The allocation may hold more than asked for, and a read fill it.
    buf.truncate(len);
    Ok(buf)
}

impl Source for FileSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn get(&self, offset: u64, len: u64) -> Result<Option<Cow<'_, [u8]>>, String> {
        let Some(end) = offset.checked_add(len).filter(|&e| e <= self.len) else {
            return Ok(None);
        };
        if end <= self.head.len() as u64 {
            return Ok(Some(Cow::Borrowed(
                &self.head[offset as usize..end as usize],
            )));
        }
        if let Some((at, bytes)) = &*self.window.borrow() {
            if offset >= *at && end <= at + bytes.len() as u64 {
                let from = (offset - at) as usize;
                return Ok(Some(Cow::Owned(bytes[from..from + len as usize].to_vec())));
            }
        }
        read_at(&self.file, offset, len)
            .map(|b| Some(Cow::Owned(b)))
            .map_err(|e| format!("reading {len} bytes at {offset:#x}: {e}"))
    }

    fn prefetch(&self, offset: u64, len: u64) {
        let len = len.min(WINDOW_MAX).min(self.len.saturating_sub(offset));
        if len == 0 || offset + len <= self.head.len() as u64 {
            return;
        }
        // A failed read here fails again, with its error, when the strings are read.
        if let Ok(bytes) = read_at(&self.file, offset, len) {
            *self.window.borrow_mut() = Some((offset, bytes));
        }
    }
}

/// What a path that is not a regular file is (opening a FIFO would block; the others hold
/// no file data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NonRegular {
    Directory,
    Fifo,
    Socket,
    BlockDevice,
    CharDevice,
    Other,
}

impl NonRegular {
    /// `None` for a regular file.
    fn of(ft: &std::fs::FileType) -> Option<NonRegular> {
        use std::os::unix::fs::FileTypeExt;
        Some(if ft.is_file() {
            return None;
        } else if ft.is_dir() {
            NonRegular::Directory
        } else if ft.is_fifo() {
            NonRegular::Fifo
        } else if ft.is_socket() {
            NonRegular::Socket
        } else if ft.is_block_device() {
            NonRegular::BlockDevice
        } else if ft.is_char_device() {
            NonRegular::CharDevice
        } else {
            NonRegular::Other
        })
    }
}

impl std::fmt::Display for NonRegular {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NonRegular::Directory => "directory",
            NonRegular::Fifo => "FIFO",
            NonRegular::Socket => "socket",
            NonRegular::BlockDevice => "block device",
            NonRegular::CharDevice => "character device",
            NonRegular::Other => "special file",
        })
    }
}

/// Tell what `bytes` (the contents of `path`, used in errors only) hold.
pub fn parse_bytes(path: &Path, bytes: &[u8]) -> Result<FileKind, Error> {
    parse(path, bytes)
}

/// Tell what the file in `src` holds.
fn parse(path: &Path, src: &(impl Source + ?Sized)) -> Result<FileKind, Error> {
    let malformed = |reason: String, identity| Error::Malformed {
        path: path.to_path_buf(),
        reason,
        identity,
    };
    let head = src
        .get(0, src.len().min(HEAD))
        .map_err(|reason| malformed(reason, None))?
        .unwrap_or_default();
    if head.starts_with(ELFMAG) {
        parse_elf(src, &head)
            .map(FileKind::Elf)
            .map_err(|reason| malformed(reason, Identity::of(&head)))
    } else if head.starts_with(b"#!") {
        parse_shebang(&head, src.len())
            .map(FileKind::Script)
            .map_err(|reason| malformed(reason.to_owned(), None))
    } else {
        Ok(FileKind::Other)
    }
}

/// The `#!` line at the start of `bytes`, the first bytes of a file of `len` bytes.
fn parse_shebang(bytes: &[u8], len: u64) -> Result<Script, &'static str> {
    let head = &bytes[2..bytes.len().min(SHEBANG_MAX)];
    let line = match head.iter().position(|&b| b == b'\n') {
        Some(end) => &head[..end],
        None if len <= SHEBANG_MAX as u64 => head,
        None => return Err("#! line longer than 256 bytes"),
    };
    // The kernel takes the line as bytes; escapes are never blanks, so the split is the same.
    let line = name::encode(line);
    // The kernel splits on the first blank and passes the rest, trimmed, as one argument.
    let line = line.trim_matches([' ', '\t', '\r']);
    let (interpreter, rest) = match line.find([' ', '\t']) {
        Some(i) => (&line[..i], line[i..].trim_matches([' ', '\t', '\r'])),
        None => (line, ""),
    };
    if interpreter.is_empty() {
        return Err("#! line names no interpreter");
    }
    Ok(Script {
        interpreter: interpreter.to_owned(),
        argument: (!rest.is_empty()).then(|| rest.to_owned()),
    })
}

/// The ELF file in `src` (whose first bytes are `bytes`), or why it is malformed.
fn parse_elf(src: &(impl Source + ?Sized), bytes: &[u8]) -> Result<ElfInfo, String> {
    let bad = |e: goblin::error::Error| e.to_string();
    if bytes.len() < SIZEOF_IDENT {
        return Err("file too short for e_ident".to_owned());
    }
    let class = Class::from_ident(bytes[EI_CLASS]);
    let data = Data::from_ident(bytes[EI_DATA]);
    let mut info = ElfInfo {
        class,
        data,
        ident_version: bytes[EI_VERSION],
        osabi: bytes[EI_OSABI],
        abi_version: bytes[EI_ABIVERSION],
        ident_padding_zero: bytes[EI_PAD..SIZEOF_IDENT].iter().all(|&b| b == 0),
        object_type: ObjectType::Other(0),
        machine: 0,
        flags: 0,
        version: 0,
        linkage: Linkage::Static,
        interpreter: None,
        dependencies: Vec::new(),
        soname: None,
        rpath: None,
        runpath: None,
        flags_1: 0,
    };
    let (container, endian) = match (class, data) {
        (Class::Elf32, Data::Little) => (Container::Little, Endian::Little),
        (Class::Elf32, Data::Big) => (Container::Little, Endian::Big),
        (Class::Elf64, Data::Little) => (Container::Big, Endian::Little),
        (Class::Elf64, Data::Big) => (Container::Big, Endian::Big),
        // The loader stops at the identity bytes for these; so do we.
        _ => return Ok(info),
    };
    let ctx = Ctx::new(container, endian);
    let header: Header = goblin::elf::Elf::parse_header(bytes).map_err(bad)?;
    info.object_type = match header.e_type {
        ET_REL => ObjectType::Relocatable,
        ET_EXEC => ObjectType::Executable,
        ET_DYN => ObjectType::SharedObject,
        ET_CORE => ObjectType::Core,
        other => ObjectType::Other(other),
    };
    info.machine = header.e_machine;
    info.flags = header.e_flags;
    info.version = header.e_version;
    if header.e_phnum > 0 && usize::from(header.e_phentsize) != ProgramHeader::size(ctx) {
        return Err("e_phentsize does not match the ELF class".to_owned());
    }
    let phnum = usize::from(header.e_phnum);
    let table = src
        .get(header.e_phoff, (phnum * ProgramHeader::size(ctx)) as u64)?
        .ok_or_else(|| {
            // As goblin says it of a table that runs past the end.
            bad(goblin::error::Error::Malformed(format!(
                "program headers at {:#x} run past the end of the file",
                header.e_phoff
            )))
        })?;
    let phdrs = ProgramHeader::parse(&table, 0, phnum, ctx).map_err(bad)?;

    let has_interp = if let Some(ph) = phdrs.iter().find(|ph| ph.p_type == PT_INTERP) {
        let s = src
            .get(ph.p_offset, ph.p_filesz)?
            .ok_or("PT_INTERP outside the file")?;
        info.interpreter = Some(c_string(&s, 0, "PT_INTERP")?);
        true
    } else {
        false
    };
    let has_dynamic = phdrs.iter().any(|ph| ph.p_type == PT_DYNAMIC);
    if has_dynamic {
        read_dynamic(src, &phdrs, ctx, &mut info)?;
    }
    info.linkage = if has_interp {
        Linkage::Dynamic
    } else if info.object_type == ObjectType::Executable {
        Linkage::Static
    } else if info.object_type == ObjectType::SharedObject
        && info.has_flag_1(DF_1_PIE)
        && info.dependencies.is_empty()
    {
        Linkage::StaticPie
    } else {
        Linkage::Dynamic
    };
    Ok(info)
}

fn read_dynamic(
    src: &(impl Source + ?Sized),
    phdrs: &[ProgramHeader],
    ctx: Ctx,
    info: &mut ElfInfo,
) -> Result<(), String> {
    // goblin parses the first PT_DYNAMIC from the bytes it is given: give it that segment
    // alone, at offset 0; the PT_LOADs still map addresses to file offsets.
    let Some(first) = phdrs.iter().position(|ph| ph.p_type == PT_DYNAMIC) else {
        return Ok(());
    };
    let ph = &phdrs[first];
    let segment = src.get(ph.p_offset, ph.p_filesz)?.ok_or_else(|| {
        format!(
            "dynamic section: {}",
            goblin::error::Error::Malformed(format!(
                "Invalid PT_DYNAMIC size (offset {:#x}, filesz {:#x})",
                ph.p_offset, ph.p_filesz
            ))
        )
    })?;
    let mut moved = phdrs.to_vec();
    moved[first].p_offset = 0;
    let dynamic =
        Dynamic::parse(&segment, &moved, ctx).map_err(|e| format!("dynamic section: {e}"))?;
    let Some(dynamic) = dynamic else {
        return Ok(());
    };
    let strings = |d: &&goblin::elf::dynamic::Dyn| {
        matches!(
            d.d_tag,
            DT_NEEDED | DT_RPATH | DT_RUNPATH | DT_FILTER | DT_AUXILIARY | DT_SONAME
        )
    };
    info.flags_1 = dynamic.info.flags_1;
    let (Some(low), Some(high)) = (
        dynamic.dyns.iter().filter(strings).map(|d| d.d_val).min(),
        dynamic.dyns.iter().filter(strings).map(|d| d.d_val).max(),
    ) else {
        return Ok(());
    };
    // `DynamicInfo` maps DT_STRTAB's address to a file offset through PT_LOAD, as the
    // loader finds it in memory; 0 means no PT_LOAD covers it.
    let strtab = dynamic.info.strtab as u64;
    if strtab == 0 {
        return Err("DT_STRTAB is not inside a loaded segment".to_owned());
    }
    if strtab > src.len() {
        return Err("DT_STRTAB lies past the end of the file".to_owned());
    }
    // The strings are read in one piece: from the first to past the last (names are short).
    src.prefetch(strtab.saturating_add(low), (high - low).saturating_add(512));
    for d in &dynamic.dyns {
        let tag = d.d_tag;
        let what = match tag {
            DT_NEEDED => "DT_NEEDED",
            DT_RPATH => "DT_RPATH",
            DT_RUNPATH => "DT_RUNPATH",
            DT_FILTER => "DT_FILTER",
            DT_AUXILIARY => "DT_AUXILIARY",
            DT_SONAME => "DT_SONAME",
            _ => continue,
        };
        let s = string_at(src, strtab, d.d_val, what)?;
        match tag {
            DT_NEEDED => info.dependencies.push(Dependency {
                kind: DependencyKind::Needed,
                name: s,
            }),
            // Like `get-dynamic-info.h`, a repeated tag keeps the last entry.
            DT_RPATH => info.rpath = Some(s),
            DT_RUNPATH => info.runpath = Some(s),
            DT_FILTER => info.dependencies.push(Dependency {
                kind: DependencyKind::Filter,
                name: s,
            }),
            DT_AUXILIARY => info.dependencies.push(Dependency {
                kind: DependencyKind::Auxiliary,
                name: s,
            }),
            _ => info.soname = Some(s),
        }
    }
    Ok(())
}

/// The NUL-terminated string at `offset` in the table at `table`. The loader reads each
/// string up to its NUL and never consults DT_STRSZ, so neither do we: the table runs to
/// the end of the file.
fn string_at(
    src: &(impl Source + ?Sized),
    table: u64,
    offset: u64,
    what: &str,
) -> Result<String, String> {
    let mut at = table
        .checked_add(offset)
        .filter(|&at| at <= src.len())
        .ok_or_else(|| format!("{what} string offset {offset} past the string table"))?;
    let mut bytes = Vec::new();
    let mut chunk = 256;
    loop {
        let n = chunk.min(src.len() - at);
        if n == 0 {
            return Err(format!("{what} string is not NUL-terminated"));
        }
        let piece = src.get(at, n)?.unwrap_or_default();
        if let Some(end) = piece.iter().position(|&b| b == 0) {
            bytes.extend_from_slice(&piece[..end]);
            return Ok(name::encode_vec(bytes));
        }
        bytes.extend_from_slice(&piece);
        at += n;
        chunk = (chunk * 2).min(1 << 16);
    }
}

/// The NUL-terminated string at `offset` in `table`.
fn c_string(table: &[u8], offset: usize, what: &str) -> Result<String, String> {
    let rest = table
        .get(offset..)
        .ok_or_else(|| format!("{what} string offset {offset} past the string table"))?;
    let len = rest
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| format!("{what} string is not NUL-terminated"))?;
    Ok(name::encode(&rest[..len]).into_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::process::Command;

    fn mkfifo(path: &Path) {
        let made = Command::new("mkfifo").arg(path).status().unwrap();
        assert!(made.success(), "mkfifo {}", path.display());
    }

    /// A regular file and a FIFO renamed in turn over one path: every read ends (with the
    /// file's kind or a refusal of the FIFO), none blocks in `open` on the FIFO it met
    /// after the `stat`.
    #[test]
    fn a_fifo_swapped_in_after_the_stat_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        let (path, file, fifo) = (
            dir.path().join("x"),
            dir.path().join("file"),
            dir.path().join("fifo"),
        );
        std::fs::write(&file, "#!/bin/sh\n").unwrap();
        mkfifo(&fifo);
        std::fs::hard_link(&file, &path).unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::fs::rename(&fifo, &path).unwrap();
                    std::fs::hard_link(&path, &fifo).unwrap();
                    std::fs::rename(&file, &path).unwrap();
                    std::fs::hard_link(&path, &file).unwrap();
                }
            });
            let (tx, rx) = std::sync::mpsc::channel();
            let reader = std::thread::spawn({
                let path = path.clone();
                move || {
                    for i in 0..20_000 {
                        // A listed file has no stat before its open: only O_NONBLOCK.
                        let _ = if i % 2 == 0 {
                            read_file(&path).map(drop)
                        } else {
                            read_listed_file(&path).map(drop)
                        };
                    }
                    tx.send(()).unwrap();
                }
            });
            let done = rx.recv_timeout(std::time::Duration::from_secs(20));
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            if done.is_err() {
                // Unblock the reader's `open` (a writer arrives), then fail.
                let _ = std::fs::OpenOptions::new().write(true).open(&fifo);
                let _ = std::fs::OpenOptions::new().write(true).open(&path);
                panic!("read_file blocked on a FIFO");
            }
            reader.join().unwrap();
        });
    }

    /// A listed file reads as [`read_file_with_metadata`] reads it; one that is neither
    /// ELF nor a script (an empty one too) is `Other` without metadata; a FIFO or a
    /// directory in its place is an error, not a block.
    #[test]
    fn listed_files_read_alike() {
        let dir = tempfile::tempdir().unwrap();
        for path in ["/usr/bin/true", "/usr/bin/ldd"] {
            let (kind, meta) = read_listed_file(Path::new(path)).unwrap();
            let (want, want_meta) = read_file_with_metadata(Path::new(path)).unwrap();
            assert_eq!(format!("{kind:?}"), format!("{want:?}"));
            assert_eq!(meta.map(|m| m.len()), Some(want_meta.len()));
        }
        for (name, bytes) in [("text", b"plain text\n".as_slice()), ("empty", b"")] {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let (kind, meta) = read_listed_file(&path).unwrap();
            assert!(matches!(kind, FileKind::Other) && meta.is_none(), "{name}");
        }
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        assert!(read_listed_file(&fifo).is_err());
        assert!(read_listed_file(dir.path()).is_err());
    }

    #[test]
    fn special_files_and_empty_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            read_file(dir.path()),
            Err(Error::NotRegular {
                kind: NonRegular::Directory,
                ..
            })
        ));
        let empty = dir.path().join("empty");
        std::fs::write(&empty, b"").unwrap();
        assert!(matches!(read_file(&empty), Err(Error::Empty { .. })));
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        assert!(matches!(
            read_file(&fifo),
            Err(Error::NotRegular {
                kind: NonRegular::Fifo,
                ..
            })
        ));
        let missing = dir.path().join("missing");
        assert!(matches!(read_file(&missing), Err(Error::Io { .. })));
    }

    #[test]
    fn shebang_lines_split_like_the_kernel() {
        let p = Path::new("s");
        let s = |b: &[u8]| match parse_bytes(p, b).unwrap() {
            FileKind::Script(s) => s,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            s(b"#!/bin/sh\necho"),
            Script {
                interpreter: "/bin/sh".into(),
                argument: None
            }
        );
        assert_eq!(
            s(b"#! /usr/bin/env  python3 -u \n"),
            Script {
                interpreter: "/usr/bin/env".into(),
                argument: Some("python3 -u".into())
            }
        );
        assert_eq!(s(b"#!/bin/bash\r\n").interpreter, "/bin/bash");
        assert_eq!(
            s(b"#!/opt/\xffsh \xfe\n"),
            Script {
                interpreter: "/opt/\u{10ffff}sh".into(),
                argument: Some("\u{10fffe}".into())
            }
        );
        assert!(parse_bytes(p, b"#!\n").is_err());
        assert!(parse_bytes(p, &[b"#!/bin/".as_slice(), &[b'x'; 300]].concat()).is_err());
        assert_eq!(parse_bytes(p, b"hello").unwrap(), FileKind::Other);
    }

    #[test]
    fn unknown_class_is_kept_for_the_loader_to_judge() {
        let mut bytes = synthetic(true, false, 62);
        bytes[EI_CLASS] = 7;
        let FileKind::Elf(e) = parse_bytes(Path::new("x"), &bytes).unwrap() else {
            panic!("not ELF")
        };
        assert_eq!(e.class, Class::Invalid(7));
        assert!(e.dependencies.is_empty());
    }

    /// A minimal dynamic ELF file, as a linker lays it out: the header, a PT_LOAD covering
    /// the whole file at address `base`, PT_INTERP and PT_DYNAMIC, the dynamic entries and a
    /// string table (found through DT_STRTAB's address).
    fn synthetic(class64: bool, big: bool, machine: u16) -> Vec<u8> {
        let (ehsize, phsize, word) = if class64 { (64, 56, 8) } else { (52, 32, 4) };
        let base: u64 = 0x10000;
        let strings = b"\0libfoo.so.1\0libbar.so.2\0libself.so.1\0$ORIGIN/../lib\0/lib/ld.so.1\0";
        let (needed1, needed2, soname, runpath, interp) = (1u64, 13, 25, 38, 53);
        let ph_off = ehsize;
        let dyn_off = ph_off + 3 * phsize;
        let dyns: [(u64, u64); 6] = [
            (1, needed1),
            (1, needed2),
            (14, soname),
            (29, runpath),
            (5, 0),
            (10, strings.len() as u64),
        ];
        let str_off = dyn_off + (dyns.len() + 1) * 2 * word;
        let total = str_off + strings.len();
        let mut b = vec![0u8; total];
        let put = |b: &mut Vec<u8>, at: usize, v: u64, n: usize| {
            let bytes = if big {
                v.to_be_bytes()[8 - n..].to_vec()
            } else {
                v.to_le_bytes()[..n].to_vec()
            };
            b[at..at + n].copy_from_slice(&bytes);
        };
        b[..4].copy_from_slice(b"\x7fELF");
        b[EI_CLASS] = if class64 { 2 } else { 1 };
        b[EI_DATA] = if big { 2 } else { 1 };
        b[EI_VERSION] = 1;
        put(&mut b, 16, 3, 2); // ET_DYN
        put(&mut b, 18, u64::from(machine), 2);
        put(&mut b, 20, 1, 4); // e_version
        let (phoff_at, ehsize_at) = if class64 { (32, 52) } else { (28, 40) };
        put(&mut b, phoff_at, ph_off as u64, word);
        put(&mut b, ehsize_at, ehsize as u64, 2);
        put(&mut b, ehsize_at + 2, phsize as u64, 2);
        put(&mut b, ehsize_at + 4, 3, 2); // e_phnum
        let interp_at = str_off + interp as usize;
        let interp_len = b"/lib/ld.so.1\0".len() as u64;
        let phdrs: [(u32, u64, u64); 3] = [
            (1, 0, total as u64),              // PT_LOAD, the whole file
            (3, interp_at as u64, interp_len), // PT_INTERP
            (2, dyn_off as u64, ((dyns.len() + 1) * 2 * word) as u64), // PT_DYNAMIC
        ];
        for (i, (ty, off, size)) in phdrs.iter().enumerate() {
            let at = ph_off + i * phsize;
            put(&mut b, at, u64::from(*ty), 4);
            // p_offset, p_vaddr, p_filesz, p_memsz sit differently in the two classes.
            let (o, v, f, m) = if class64 {
                (at + 8, at + 16, at + 32, at + 40)
            } else {
                (at + 4, at + 8, at + 16, at + 20)
            };
            put(&mut b, o, *off, word);
            put(&mut b, v, base + off, word);
            put(&mut b, f, *size, word);
            put(&mut b, m, *size, word);
        }
        for (i, (tag, val)) in dyns.iter().enumerate() {
            let at = dyn_off + i * 2 * word;
            let val = if *tag == 5 {
                base + str_off as u64
            } else {
                *val
            };
            put(&mut b, at, *tag, word);
            put(&mut b, at + word, val, word);
        }
        b[str_off..].copy_from_slice(strings);
        b
    }

    /// The loader takes its strings as bytes: one that is not UTF-8 comes back encoded
    /// (`name`), and a NUL still ends it.
    #[test]
    fn strings_that_are_not_utf8_are_encoded() {
        let mut bytes = synthetic(true, false, 62);
        let at = |b: &[u8], s: &[u8]| b.windows(s.len()).position(|w| w == s).unwrap();
        let foo = at(&bytes, b"libfoo.so.1");
        bytes[foo + 3] = 0xFF;
        let origin = at(&bytes, b"$ORIGIN/../lib");
        bytes[origin + 13] = 0xFE;
        let interp = at(&bytes, b"/lib/ld.so.1");
        bytes[interp + 5] = 0x80;
        let FileKind::Elf(e) = parse_bytes(Path::new("s"), &bytes).unwrap() else {
            panic!("not ELF")
        };
        assert_eq!(
            e.needed().collect::<Vec<_>>(),
            ["lib\u{10ffff}oo.so.1", "libbar.so.2"]
        );
        assert_eq!(e.runpath.as_deref(), Some("$ORIGIN/../li\u{10fffe}"));
        assert_eq!(e.interpreter.as_deref(), Some("/lib/\u{10ff80}d.so.1"));
        let needed: Vec<_> = e.needed().map(|n| name::decode(n).into_owned()).collect();
        assert_eq!(needed[0], b"lib\xffoo.so.1");
    }

    #[test]
    fn a_malformed_file_with_a_whole_header_keeps_its_identity() {
        let bytes = synthetic(false, true, 20);
        let identity = |n: usize| match parse_bytes(Path::new("s"), &bytes[..n]) {
            Err(Error::Malformed { identity, .. }) => identity,
            other => panic!("{n} bytes: {other:?}"),
        };
        // The program headers are cut off: the 52-byte header alone still says what it is.
        assert_eq!(
            identity(header32::SIZEOF_EHDR),
            Some(Identity {
                class: Class::Elf32,
                data: Data::Big,
                machine: 20
            })
        );
        assert_eq!(identity(header32::SIZEOF_EHDR - 1), None);
    }

    #[test]
    fn both_classes_and_byte_orders_read_alike() {
        for (class64, big, machine) in [
            (true, false, 62),
            (false, false, 3),
            (true, true, 22),
            (false, true, 20),
        ] {
            let bytes = synthetic(class64, big, machine);
            let FileKind::Elf(e) = parse_bytes(Path::new("s"), &bytes).unwrap() else {
                panic!("not ELF")
            };
            let what = format!("class64={class64} big={big}");
            assert_eq!(
                e.class,
                if class64 { Class::Elf64 } else { Class::Elf32 },
                "{what}"
            );
            assert_eq!(e.data, if big { Data::Big } else { Data::Little }, "{what}");
            assert_eq!(e.machine, machine, "{what}");
            assert_eq!(
                e.needed().collect::<Vec<_>>(),
                ["libfoo.so.1", "libbar.so.2"],
                "{what}"
            );
            assert_eq!(e.soname.as_deref(), Some("libself.so.1"), "{what}");
            assert_eq!(e.runpath.as_deref(), Some("$ORIGIN/../lib"), "{what}");
            assert_eq!(e.rpath, None, "{what}");
            assert_eq!(e.interpreter.as_deref(), Some("/lib/ld.so.1"), "{what}");
            assert_eq!(e.linkage, Linkage::Dynamic, "{what}");
        }
    }
}
