//! Tar headers written field by field (never tar-rs' `HeaderMode`, which rewrites modes),
//! so that nothing of the host leaks in. POSIX pax format; see [`Tree::write_layer`] for
//! why PAX.
//!
//! [`Tree::write_layer`]: crate::Tree::write_layer

use std::borrow::Cow;
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};
use std::thread::{Scope, ScopedJoinHandle};

use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

use crate::{Error, WriteOptions};

pub(crate) const BLOCK: u64 = 512;
const NAME_FIELD: usize = 100;
/// Largest value of an 11-digit octal field (size, mtime).
const OCTAL_MAX: u64 = 0o77_777_777_777;
const COPY_BUFFER: usize = 128 * 1024;

/// Chunks queued for the hashing thread: with the one being filled and the one being
/// hashed, a layer's write holds at most three chunks (384 KiB; the ffmpeg image's run
/// peaks at 31.6 MiB, and four queued took it past 32 MiB for no measurable gain).
const CHUNKS_QUEUED: usize = 1;

/// A writer that hashes and counts what goes through it, so a layer's digest costs no
/// second pass; and costs the writing no time, being hashed on a thread of its own: what
/// goes through is written to `inner` in chunks of [`COPY_BUFFER`] bytes (it buffers, as a
/// `BufWriter` would), and each written chunk goes to the hashing thread (sha256 was a
/// third of a layer's write).
pub(crate) struct HashWriter<'scope, W> {
    inner: W,
    chunk: Vec<u8>,
    /// To the hashing thread, in order.
    full: SyncSender<Vec<u8>>,
    /// Hashed chunks, back for reuse.
    free: Receiver<Vec<u8>>,
    hasher: ScopedJoinHandle<'scope, Sha256>,
    written: u64,
}

impl<'scope, W: Write> HashWriter<'scope, W> {
    pub(crate) fn new<'env>(scope: &'scope Scope<'scope, 'env>, inner: W) -> Self {
        let (full, queued) = sync_channel::<Vec<u8>>(CHUNKS_QUEUED);
        let (hashed, free) = channel();
        let hasher = scope.spawn(move || {
            let mut hasher = Sha256::new();
            for chunk in queued {
                hasher.update(&chunk);
                // The writer may be gone (it failed); the chunk is then dropped here.
                let _ = hashed.send(chunk);
            }
            hasher
        });
        HashWriter {
            inner,
            chunk: Vec::with_capacity(COPY_BUFFER),
            full,
            free,
            hasher,
            written: 0,
        }
    }

    /// Write the chunk and hand it to the hashing thread.
    fn pass_on(&mut self) -> io::Result<()> {
        self.inner.write_all(&self.chunk)?;
        let next = self
            .free
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(COPY_BUFFER));
        let chunk = std::mem::replace(&mut self.chunk, next);
        self.chunk.clear();
        self.full
            .send(chunk)
            .map_err(|_| io::Error::other("the hashing thread stopped"))
    }

    /// Writes what is buffered and returns `sha256:<hex>`, the byte count and the inner
    /// writer.
    pub(crate) fn finish(mut self) -> io::Result<(String, u64, W)> {
        self.flush()?;
        let HashWriter {
            inner,
            full,
            hasher,
            written,
            ..
        } = self;
        drop(full);
        let hasher = hasher
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        Ok((sha256_string(hasher), written, inner))
    }
}

impl<W: Write> Write for HashWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(COPY_BUFFER - self.chunk.len());
        self.chunk.extend_from_slice(&buf[..n]);
        if self.chunk.len() == COPY_BUFFER {
            self.pass_on()?;
        }
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.chunk.is_empty() {
            self.pass_on()?;
        }
        self.inner.flush()
    }
}

pub(crate) fn sha256_string(hasher: Sha256) -> String {
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in hasher.finalize() {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    out
}

pub(crate) fn sha256_of(data: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(data);
    sha256_string(hasher)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    HardLink,
    Symlink,
    Dir,
}

/// One member's metadata; owner is always 0:0 with empty user and group names.
pub(crate) struct Member<'a> {
    /// Relative name, without the trailing `/` that directories get.
    pub(crate) name: &'a [u8],
    pub(crate) kind: Kind,
    pub(crate) mode: u32,
    pub(crate) size: u64,
    pub(crate) mtime: u64,
    pub(crate) link: Option<&'a [u8]>,
    pub(crate) capability: Option<&'a [u8]>,
}

/// Writes the member's header (preceded by a PAX header when needed). The caller then
/// writes exactly `size` bytes and [`pad`]s.
pub(crate) fn write_header(out: &mut impl Write, m: &Member<'_>) -> io::Result<()> {
    let (name, records) = pax_records(m);
    if !records.is_empty() {
        write_pax(out, &name, &records, m.mtime)?;
    }
    write_ustar(out, &name, m)
}

/// Writes the member's header preceded by a PAX header, the two exactly `len` bytes long
/// (a multiple of [`BLOCK`], at least three blocks): a `comment` record, which readers
/// ignore, fills the room. So a member's data can be written at an offset fixed before its
/// header is known (the image's layer: see `Tree::write_image`).
pub(crate) fn write_header_exact(out: &mut impl Write, m: &Member<'_>, len: u64) -> io::Result<()> {
    let (name, mut records) = pax_records(m);
    let too_small = || io::Error::new(io::ErrorKind::InvalidInput, "no room for the tar header");
    let data_len = len
        .checked_sub(2 * BLOCK)
        .filter(|d| *d >= BLOCK && d % BLOCK == 0)
        .and_then(|d| usize::try_from(d).ok())
        .ok_or_else(too_small)?;
    let room = data_len
        .checked_sub(pax_data(&records).len())
        .ok_or_else(too_small)?;
    // No record is exactly a power of ten long (its length counts its own digits): then two.
    let comments = match comment(room) {
        Some(c) => vec![c],
        None => vec![
            comment(room.checked_sub(SHORT_COMMENT).ok_or_else(too_small)?)
                .ok_or_else(too_small)?,
            comment(SHORT_COMMENT).ok_or_else(too_small)?,
        ],
    };
    records.extend(comments);
    records.sort_by(|a, b| a.0.cmp(b.0));
    write_pax(out, &name, &records, m.mtime)?;
    write_ustar(out, &name, m)
}

/// A PAX record: keyword and value.
type Record<'a> = (&'static str, Cow<'a, [u8]>);

const SHORT_COMMENT: usize = 12;

/// A `comment` record exactly `len` bytes long, if one is.
fn comment(len: usize) -> Option<Record<'static>> {
    let value_len = len.checked_sub(3 + "comment".len() + len.to_string().len())?;
    let mut value = b"depclose: room for the next header".to_vec();
    value.resize(value_len, b' ');
    let record = ("comment", Cow::Owned(value));
    (pax_data(std::slice::from_ref(&record)).len() == len).then_some(record)
}

/// The member's name as stored (directories get a trailing `/`) and the PAX records it
/// needs: names and links that do not fit ustar's fields, sizes and times past its octal
/// fields, a file capability.
fn pax_records<'a>(m: &Member<'a>) -> (Cow<'a, [u8]>, Vec<Record<'a>>) {
    let mut name = Cow::Borrowed(m.name);
    if m.kind == Kind::Dir {
        // The tar convention (GNU tar, Go, Docker) for directories.
        name.to_mut().push(b'/');
    }
    let mut records: Vec<Record<'_>> = Vec::new();
    let mut binary = false;
    if !fits_field(&name) {
        binary |= std::str::from_utf8(&name).is_err();
        records.push(("path", name.clone()));
    }
    if let Some(link) = m.link.filter(|l| !fits_field(l)) {
        binary |= std::str::from_utf8(link).is_err();
        records.push(("linkpath", Cow::Borrowed(link)));
    }
    if binary {
        records.push(("hdrcharset", Cow::Borrowed(b"BINARY")));
    }
    if m.size > OCTAL_MAX {
        records.push(("size", Cow::Owned(m.size.to_string().into_bytes())));
    }
    if m.mtime > OCTAL_MAX {
        records.push(("mtime", Cow::Owned(m.mtime.to_string().into_bytes())));
    }
    if let Some(cap) = m.capability {
        records.push(("SCHILY.xattr.security.capability", Cow::Borrowed(cap)));
    }
    records.sort_by(|a, b| a.0.cmp(b.0));
    (name, records)
}

/// A PAX extended header (typeflag `x`) carrying `records` for the member `name`.
fn write_pax(
    out: &mut impl Write,
    name: &[u8],
    records: &[Record<'_>],
    mtime: u64,
) -> io::Result<()> {
    let data = pax_data(records);
    let base = name.rsplit(|&b| b == b'/').find(|s| !s.is_empty());
    let mut pax_name = b"PaxHeaders.0/".to_vec();
    pax_name.extend_from_slice(base.unwrap_or(b"entry"));
    let header = header(
        &pax_name,
        EntryType::XHeader,
        0o644,
        data.len() as u64,
        mtime,
        None,
    );
    out.write_all(header.as_bytes())?;
    out.write_all(&data)?;
    pad(out, data.len() as u64)
}

fn write_ustar(out: &mut impl Write, name: &[u8], m: &Member<'_>) -> io::Result<()> {
    let kind = match m.kind {
        Kind::File => EntryType::Regular,
        Kind::HardLink => EntryType::Link,
        Kind::Symlink => EntryType::Symlink,
        Kind::Dir => EntryType::Directory,
    };
    let header = header(name, kind, m.mode, m.size, m.mtime, m.link);
    out.write_all(header.as_bytes())
}

/// Zero-fills the last block of a member with `size` bytes of contents.
pub(crate) fn pad(out: &mut impl Write, size: u64) -> io::Result<()> {
    let rest = (BLOCK - size % BLOCK) % BLOCK;
    out.write_all(&[0; BLOCK as usize][..rest as usize])
}

/// The end-of-archive marker: two zero blocks.
pub(crate) fn finish(out: &mut impl Write) -> io::Result<()> {
    out.write_all(&[0; 2 * BLOCK as usize])
}

/// A ustar header. Fields that do not fit (see [`write_header`]) get a printable ASCII
/// stand-in or 0; the PAX record before it carries the real value.
fn header(
    name: &[u8],
    kind: EntryType,
    mode: u32,
    size: u64,
    mtime: u64,
    link: Option<&[u8]>,
) -> Header {
    let mut h = Header::new_ustar();
    let old = h.as_old_mut();
    copy_field(&mut old.name, name);
    if let Some(link) = link {
        copy_field(&mut old.linkname, link);
    }
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(if size > OCTAL_MAX { 0 } else { size });
    h.set_mtime(if mtime > OCTAL_MAX { 0 } else { mtime });
    h.set_entry_type(kind);
    if let Some(ustar) = h.as_ustar_mut() {
        // Explicit zeros (ustar numeric fields) rather than empty fields.
        ustar.set_device_major(0);
        ustar.set_device_minor(0);
    }
    h.set_cksum();
    h
}

fn fits_field(value: &[u8]) -> bool {
    value.len() <= NAME_FIELD && value.iter().all(|b| (0x20..0x7f).contains(b))
}

fn copy_field(field: &mut [u8], value: &[u8]) {
    for (slot, b) in field.iter_mut().zip(value) {
        *slot = if (0x20..0x7f).contains(b) { *b } else { b'_' };
    }
}

/// PAX records: `"<len> <key>=<value>\n"`, where `<len>` counts the whole record, itself
/// included.
fn pax_data(records: &[Record<'_>]) -> Vec<u8> {
    let mut data = Vec::new();
    for (key, value) in records {
        let rest = 3 + key.len() + value.len(); // ' ', '=', '\n'
        let mut len = rest + 1;
        while rest + len.to_string().len() != len {
            len = rest + len.to_string().len();
        }
        data.extend_from_slice(format!("{len} {key}=").as_bytes());
        data.extend_from_slice(value);
        data.push(b'\n');
    }
    data
}

/// Counts copied content bytes and reports them.
pub(crate) struct Counter<'a> {
    options: WriteOptions<'a>,
    done: u64,
    total: u64,
}

impl<'a> Counter<'a> {
    pub(crate) fn new(options: WriteOptions<'a>, total: u64) -> Self {
        Counter {
            options,
            done: 0,
            total,
        }
    }

    /// Count `n` more bytes; stop here if the write was cancelled.
    pub(crate) fn add(&mut self, n: u64) -> Result<(), Error> {
        self.done += n;
        if let Some(p) = self.options.progress {
            p.update(self.done, self.total);
        }
        self.options.check_cancel()
    }
}

/// Streams exactly `len` bytes from `src` (named `src_path` in errors) to `out`, in chunks,
/// and checks that `src` ends there: a file that shrank or grew since it was added is an
/// error, not a corrupt member.
pub(crate) fn copy_exact(
    src: &mut impl Read,
    src_path: &Path,
    out: &mut impl Write,
    len: u64,
    counter: &mut Counter<'_>,
) -> Result<(), Error> {
    let mut buf = vec![0u8; COPY_BUFFER];
    let mut left = len;
    loop {
        let want = usize::try_from(left).map_or(buf.len(), |l| l.min(buf.len()));
        // With nothing left, read one byte to see whether the file grew.
        let want = want.max(1);
        let n = match src.read(&mut buf[..want]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(src_path)(e)),
        };
        match (n, left) {
            (0, 0) => return Ok(()),
            (0, _) => {
                return Err(Error::SourceChanged {
                    path: src_path.to_path_buf(),
                    what: "it is shorter",
                });
            }
            (_, 0) => {
                return Err(Error::SourceChanged {
                    path: src_path.to_path_buf(),
                    what: "it is longer",
                });
            }
            _ => {}
        }
        out.write_all(&buf[..n]).map_err(Error::write)?;
        left -= n as u64;
        counter.add(n as u64)?;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_lengths_count_themselves() {
        for value_len in 0..2000 {
            let value = vec![b'x'; value_len];
            let data = pax_data(&[("path", Cow::Borrowed(&value))]);
            let text = String::from_utf8(data.clone()).unwrap();
            let (len, _) = text.split_once(' ').unwrap();
            assert_eq!(len.parse::<usize>().unwrap(), data.len(), "{value_len}");
        }
    }

    /// Every length from three blocks up, records of every size (a power of ten among
    /// them) and a size past the octal field: exactly `len` bytes, read back as one member
    /// with its name and size.
    #[test]
    fn exact_headers_fill_their_room() {
        let name = format!("blobs/sha256/{}", "a".repeat(64));
        // 10^14: its `size` record is 24 bytes, leaving 1,000 in four blocks.
        for size in [0, 1 << 20, OCTAL_MAX + 1, 100_000_000_000_000] {
            for len in (3..12).map(|b| b * BLOCK) {
                let m = Member {
                    name: name.as_bytes(),
                    kind: Kind::File,
                    mode: 0o644,
                    size,
                    mtime: 7,
                    link: None,
                    capability: None,
                };
                let mut out = Vec::new();
                write_header_exact(&mut out, &m, len).unwrap();
                assert_eq!(out.len() as u64, len);
                out.extend_from_slice(&[0; 2 * BLOCK as usize]);
                let mut archive = tar::Archive::new(&out[..]);
                let mut entries = archive.entries().unwrap();
                let entry = entries.next().unwrap().unwrap();
                assert_eq!(entry.path_bytes(), name.as_bytes());
                assert_eq!(entry.size(), size);
                assert_eq!(entry.header().entry_type(), EntryType::Regular);
            }
        }
        for room in [10, 100, 1000, 12, 512, 999, 1001] {
            let record = comment(room).map(|c| pax_data(&[c]).len());
            let power_of_ten = [10, 100, 1000].contains(&room);
            assert_eq!(record, (!power_of_ten).then_some(room), "{room}");
        }
        let m = Member {
            name: b"x",
            kind: Kind::File,
            mode: 0o644,
            size: 0,
            mtime: 0,
            link: None,
            capability: None,
        };
        assert!(write_header_exact(&mut Vec::new(), &m, 2 * BLOCK).is_err());
        assert!(write_header_exact(&mut Vec::new(), &m, 3 * BLOCK + 1).is_err());
    }

    #[test]
    fn copy_exact_detects_size_changes() {
        let mut counter = Counter::new(WriteOptions::default(), 0);
        let mut out = Vec::new();
        let p = Path::new("/src");
        copy_exact(&mut &b"abc"[..], p, &mut out, 3, &mut counter).unwrap();
        assert_eq!(out, b"abc");
        assert!(matches!(
            copy_exact(&mut &b"abcd"[..], p, &mut out, 3, &mut counter),
            Err(Error::SourceChanged {
                what: "it is longer",
                ..
            })
        ));
        assert!(matches!(
            copy_exact(&mut &b"ab"[..], p, &mut out, 3, &mut counter),
            Err(Error::SourceChanged {
                what: "it is shorter",
                ..
            })
        ));
    }

    #[test]
    fn huge_sizes_and_times_go_to_pax() {
        let mut out = Vec::new();
        let m = Member {
            name: b"f",
            kind: Kind::File,
            mode: 0o644,
            size: OCTAL_MAX + 1,
            mtime: OCTAL_MAX + 1,
            link: None,
            capability: None,
        };
        write_header(&mut out, &m).unwrap();
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains(&format!("size={}\n", OCTAL_MAX + 1)));
        assert!(text.contains(&format!("mtime={}\n", OCTAL_MAX + 1)));
    }
}
